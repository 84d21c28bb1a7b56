"""Neural style transfer studio: the Gradio app.

Thin by design: it builds widgets, turns their values into nst_core calls, and turns nst_core's
progress events and typed errors into previews, progress bars and readable messages.
Run it with ``python app.py``; ``GRADIO_SERVER_NAME`` / ``GRADIO_SERVER_PORT`` choose where it listens.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import logging
import math
import os
import re
import signal
import sys
import threading
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import gradio as gr
import numpy as np

from figures import LossHistory, catalogue_thumbnail, loss_plot, score_table, spectrogram_pictures
from forms import mask_from_editor, option_names, option_widgets, options_from
from nst_core import InvalidInput, NSTError, cost, hub, weights
from nst_core.audio.backends import AUDIO_BACKENDS, AudioBackend, AudioBackendSpec, ShallowOptions, load_backend
from nst_core.audio.io import audio_seconds, save_wav
from nst_core.audio.optimize import AudioProgress, AudioResult, AudioSettings, iter_stylize_audio
from nst_core.budget import Budget
from nst_core.image import fast
from nst_core.image.backbones import BACKBONES
from nst_core.image.color import COLOR_MODES
from nst_core.image.io import image_size, save_png
from nst_core.image.optimize import MAX_SIZE, MAX_STEPS, ImageProgress, ImageResult, ImageSettings, iter_stylize_image
from nst_core.image.regions import OUTSIDE_CHOICES
from nst_core.options import parse_integers, real, whole
from nst_core.runtime import PreparedModels, pick_runtime
from nst_core.video import FrameStylizer, VideoProgress, VideoSettings, fit_long_side, iter_stylize_video
from nst_core.video.io import probe
from nst_core.video.stylize import output_size
from serving import (
    Audio,
    Checkbox,
    Dropdown,
    File,
    Image,
    ImageEditor,
    JobControl,
    Number,
    Radio,
    ResultStore,
    Slider,
    Video,
    jobs_of,
    own_gradio_cache,
    rejection,
    streamed,
    user_errors,
)

try:  # Present on Hugging Face Spaces only; on ZeroGPU hardware spaces.GPU borrows a GPU for each call.
    import spaces
except ImportError:
    spaces = None

log = logging.getLogger("nst_studio")
HERE = Path(__file__).resolve().parent
IMAGES = HERE / "examples" / "images"
AUDIO = HERE / "examples" / "audio"
# Every heavy endpoint shares one queue slot: two optimizations at once would only halve each one's speed.
HEAVY = "heavy"
DEFAULTS = ImageSettings()
MODEL_PANELS: list[tuple[gr.Markdown, dict[str, str]]] = []  # filled while the tabs are built
# What one request may cost here (NST_BUDGET_* environment variables lift it), and where results go.
BUDGET = Budget.from_env()
STORE = ResultStore()
ON_ZERO_GPU = spaces is not None and os.environ.get("SPACES_ZERO_GPU", "").lower() in ("1", "true")
ZERO_GPU_MAX_S = 120  # the longest GPU lease a call asks ZeroGPU for (a free visitor's daily quota is minutes)
# Owned by the app for its lifetime and shared by requests: the compiled Fast styles network (compiled at
# start-up; ZeroGPU does not support torch.compile), the networks' prepared copies and the built audio nets.
FAST_COMPILER = None if ON_ZERO_GPU else fast.Compiler()
PREPARED = PreparedModels()
_BLOCKS: list[gr.Blocks] = []  # the app being served, for the validators' queue counts


def on_gpu(duration: Callable[..., float]) -> Callable:
    """On ZeroGPU, lease a GPU for each call for ``duration(*args)`` seconds (the call's own estimate, clamped
    to the platform's limit); elsewhere the handler as it is."""
    if spaces is None:
        return lambda handler: handler

    def seconds(*args, **kwargs) -> int:
        try:
            estimate = duration(*args, **kwargs)
        except (NSTError, gr.Error, ValueError, TypeError, OSError):
            estimate = 30.0  # the handler itself will refuse the request, quickly
        return int(min(max(estimate * 1.3 + 10, 15), ZERO_GPU_MAX_S))

    return spaces.GPU(duration=seconds)


def weights_report(keys: dict[str, str]) -> str:
    """A Markdown list saying, per network, whether it is verified, downloading, refused or cannot be had."""
    states = {label: weights.status(key) for label, key in keys.items()}
    marks = {"verified": "verified", "ready": "ready", "download": "downloads on first use",
             "failed": "**failed, refused**", "unavailable": "**unavailable**"}
    lines = []
    for label, state in states.items():
        mark = (f"downloading {state.percent:.0f} %" if state.percent is not None else "downloading") \
            if state.state == "downloading" else marks[state.state]
        lines.append(f"- {label}: {mark} ({state.detail})")
    if any(state.state == "unavailable" for state in states.values()):
        lines.append(f"\nTo enable an unavailable model: {hub.FIX_HINT}")
    return "\n".join(lines)


def models_panel(keys: dict[str, str]) -> gr.Markdown:
    """A Models accordion whose report is refreshed while the start-up fetch runs (see ``build_app``)."""
    with gr.Accordion("Models", open=False):
        panel = gr.Markdown(weights_report(keys))
    MODEL_PANELS.append((panel, keys))
    return panel


def parse_schedule(text: str) -> tuple[int, ...] | None:
    """'40, 40, 30, 20, 10' -> steps per scale, coarse to fine; empty -> None (the Steps slider at every scale)."""
    if not text or not str(text).strip():
        return None
    return parse_integers(text, "schedule")


def parse_blend(text: str, count: int) -> tuple[float, ...] | None:
    """'2, 1' -> (2.0, 1.0); empty -> None (equal weights). NaN, infinity and overflow are refused."""
    if not text or not str(text).strip():
        return None
    parts = [part for part in str(text).replace(";", ",").split(",") if part.strip()]
    weights = tuple(real(part.strip(), "Each blend weight") for part in parts)
    if len(weights) != count:
        raise InvalidInput(f"Give one blend weight per style image: {count} images, {len(weights)} weights.")
    return weights


def _status(event: ImageProgress) -> str:
    terms = ", ".join(f"{name} {value:.4g}" for name, value in event.losses.items())
    width, height = event.size
    return (f"Step {event.step}/{event.total}, scale {event.scale_index + 1}/{event.num_scales} "
            f"({width}x{height}): {terms}")


def checked_picture(path: str, label: str) -> tuple[int, int]:
    """An upload's size from its header, refused before decoding when it claims more pixels than allowed."""
    width, height = image_size(path, label=label)
    BUDGET.refuse_over("decode_megapixels", round(width * height / 1e6, 1), f"The {label} ({width}x{height})",
                       " MP", "upload a smaller picture")
    return width, height


def image_request(content: str | None, styles: list[str] | None, blend: str, backbone: str, size: float,
                  steps: float, style_weight: float, content_weight: float, tv_weight: float, style_scale: float,
                  color: str, init: str, optimizer: str, seed: float, pooling: str, precision: str,
                  region_mask: dict | None = None, outside_region: str = "content", schedule: str = "",
                  hold_style_from: float | None = DEFAULTS.hold_style_from,
                  scale_ratio: float = DEFAULTS.scale_ratio) -> tuple[str, list[str], ImageSettings, cost.Cost]:
    """The /image endpoint's values as (content, styles, settings), checked, its cost within the budget."""
    if not content:
        raise InvalidInput("Upload a content image.")
    styles = [s for s in (styles or []) if s]
    if not styles:
        raise InvalidInput("Upload at least one style image.")
    settings = ImageSettings(
        backbone=backbone, size=whole(size, "size"), steps=whole(steps, "steps"),
        style_weight=real(style_weight, "style_weight"), content_weight=real(content_weight, "content_weight"),
        tv_weight=real(tv_weight, "tv_weight"), style_scale=real(style_scale, "style_scale"), color=color,
        init=init, optimizer=optimizer, seed=whole(seed, "seed"), pooling=pooling, precision=precision,
        style_blend=parse_blend(blend, len(styles)), preview_every=10, mask=mask_from_editor(region_mask),
        outside=outside_region, schedule=parse_schedule(schedule),
        hold_style_from=whole(hold_style_from, "hold_style_from") or None if hold_style_from else None,
        scale_ratio=real(scale_ratio, "scale_ratio") if scale_ratio else DEFAULTS.scale_ratio,
    )
    settings.check(len(styles))
    BUDGET.refuse_over("image_size", settings.size, "The output size", " px", "choose a smaller size")
    most_steps = max(settings.schedule or (settings.steps, settings.coarse_steps or 0))
    BUDGET.refuse_over("image_steps", most_steps, "Steps per scale", "", "choose fewer steps")
    sizes = [checked_picture(content, "content image"),
             *(checked_picture(style, f"style image {i + 1}") for i, style in enumerate(styles))]
    estimate = cost.admit_image(settings, pick_runtime(settings.device, settings.precision), sizes[0], sizes[1:],
                                BUDGET)
    return content, styles, settings, estimate


def heavy_validator(request_of: Callable[..., object], names: Sequence[str], concurrency_id: str = HEAVY) -> Callable:
    """A validator for an endpoint whose inputs are called ``names``: before a request joins the queue, refuse it
    when its visitor already holds ``BUDGET.jobs_per_client`` jobs, or when ``request_of(*values)`` (the handler's
    own checks) fails. The refusal is marked on the parameter its message names (else the first)."""
    def validate(request: gr.Request, *values: object) -> list[dict]:  # Gradio fills in a leading request only
        message = rejection(values)
        limit = BUDGET.limit("jobs_per_client")
        if message:
            pass
        elif limit is not None and _BLOCKS and jobs_of(_BLOCKS[-1], request, concurrency_id) >= limit:
            message = (f"You already have {int(limit)} jobs waiting or running here, the most one visitor may "
                       "have at once; wait for one to finish (or cancel it).")
        else:
            try:
                request_of(*values)
            except NSTError as exc:
                message = str(exc)
            except Exception:  # noqa: BLE001 - a fault of ours; the handler will meet it again and report it
                log.exception("checking a request failed")
        if not message:
            return [gr.validate(True, "") for _ in values]
        log.info("refused before queueing: %s", message)
        named = next((i for i, name in enumerate(names) if re.search(rf"\b{name}\b", message, re.IGNORECASE)), 0)
        return [gr.validate(i != named, message if i == named else "") for i in range(len(values))]
    return validate


def parameter_names(handler: Callable) -> tuple[str, ...]:
    """A handler's client-API parameter names, Gradio's progress left out."""
    return tuple(name for name in inspect.signature(handler).parameters if name != "progress")


@on_gpu(lambda *values: image_request(*values)[-1].seconds)
@user_errors
def stylize_image_ui(
    content: str | None, styles: list[str] | None, blend: str, backbone: str, size: float, steps: float,
    style_weight: float, content_weight: float, tv_weight: float, style_scale: float, color: str, init: str,
    optimizer: str, seed: float, pooling: str, precision: str, region_mask: dict | None = None,
    outside_region: str = "content", schedule: str = "", hold_style_from: float | None = DEFAULTS.hold_style_from,
    scale_ratio: float = DEFAULTS.scale_ratio, progress: gr.Progress = gr.Progress(),
) -> Iterator[tuple]:
    """Stream (preview, final PNG, status, loss curves) while the optimization runs."""
    content, styles, settings, _ = image_request(content, styles, blend, backbone, size, steps, style_weight,
                                              content_weight, tv_weight, style_scale, color, init, optimizer, seed,
                                              pooling, precision, region_mask, outside_region, schedule,
                                              hold_style_from, scale_ratio)
    history = LossHistory(skip=("total",))

    def work(control: JobControl) -> Iterator[tuple]:
        for event in iter_stylize_image(content, styles, settings, prepared=PREPARED, control=control):
            if isinstance(event, ImageResult):
                path = save_png(event.image, STORE.path(f"stylized-{settings.backbone}-seed{settings.seed}", ".png"),
                                event.settings)
                notes = "".join(f"\n\nNote: {n}" for n in event.notices)
                yield (str(path), str(path),
                       f"Done in {event.seconds:.1f} s on {event.runtime}. Settings are stored in the PNG.{notes}",
                       history.frame())
                return
            progress((event.step, event.total), desc="Stylizing")
            history.add(event.step, event.losses)
            if event.preview is not None:
                preview = save_png(event.preview, STORE.path("preview", ".png"))
                yield str(preview), None, _status(event), history.frame()

    yield from streamed(work, JobControl(BUDGET.limit("seconds")), outputs=4)


# Coarse-to-fine scale spacings offered in the Image tab: the default, and the faster three-scale run.
SCALE_SPACINGS = [("x1.41 (5 scales up to 512 px)", DEFAULTS.scale_ratio), ("x2 (3 scales up to 512 px)", 2.0)]


def image_tab() -> None:
    backbones = {spec.label: spec.name for spec in BACKBONES.values()}
    with gr.Tab("Image"):
        gr.Markdown(
            "Optimization-based style transfer (Gatys et al.): the picture is refined step by step, "
            "coarse to fine, until its VGG features match the content photo and its feature correlations "
            "match the style images."
        )
        models_panel({spec.label: spec.weights for spec in BACKBONES.values()})
        with gr.Row():
            with gr.Column():
                content = Image(label="Content image", type="filepath", image_mode=None, sources=["upload",
                                   "clipboard"], height=300)
                styles = File(label="Style images (one or more)", file_count="multiple", file_types=["image"],
                                 type="filepath")
                blend = gr.Textbox(label="Style blend weights", placeholder="e.g. 2, 1 (empty: equal)")
                with gr.Row():
                    backbone = Dropdown(list(backbones.items()), value=DEFAULTS.backbone, label="Network")
                    size = Slider(64, BUDGET.cap("image_size", MAX_SIZE), value=DEFAULTS.size, step=16,
                                     label="Output size (long side)")
                with gr.Row():
                    steps = Slider(1, BUDGET.cap("image_steps", MAX_STEPS), value=DEFAULTS.steps, step=1,
                                      label="Steps per scale")
                    style_weight = Number(DEFAULTS.style_weight, label="Style weight", minimum=0)
                color = Radio(list(COLOR_MODES), value=DEFAULTS.color, label="Colour",
                                 info="luminance: keep the photo's colours; match-*: recolour the style first")
                with gr.Accordion("Advanced", open=False):
                    with gr.Row():
                        content_weight = Number(DEFAULTS.content_weight, label="Content weight", minimum=0)
                        tv_weight = Number(DEFAULTS.tv_weight, label="Smoothness (TV) weight", minimum=0)
                        style_scale = Slider(0.25, 2.0, value=DEFAULTS.style_scale, step=0.05,
                                                label="Style scale")
                    with gr.Row():
                        init = Radio(["content", "noise"], value=DEFAULTS.init, label="Start from")
                        optimizer = Radio(["lbfgs", "adam"], value=DEFAULTS.optimizer, label="Optimizer")
                        pooling = Radio(["max", "avg"], value=DEFAULTS.pooling, label="Pooling")
                    schedule = gr.Textbox("", label="Steps for each scale, coarse to fine (optional)",
                                          placeholder="e.g. 40, 40, 40, 40, 40 at 512 px (empty: the Steps slider)",
                                          info="one count per scale: 128 px up to the output size")
                    scale_ratio = Radio(SCALE_SPACINGS, value=DEFAULTS.scale_ratio, label="Scale spacing",
                                           info="x2 takes about 0.75x the time; its distances were within 3 % on "
                                                "some pairs and up to 6 % less stylized on others")
                    hold_style_from = Number(
                        DEFAULTS.hold_style_from, label="Keep the style reached at (px)", precision=0, minimum=0,
                        info="larger scales raise the style weight if they fall behind it; 0: fixed weights")
                    with gr.Row():
                        seed = Number(DEFAULTS.seed, label="Seed", precision=0)
                        precision = Radio(["auto", "fp32"], value=DEFAULTS.precision, label="Precision",
                                             info="auto: bf16/fp16 autocast where the hardware is fast at it")
                with gr.Accordion("Style by region", open=False):
                    gr.Markdown("Paint over the content where the style should go (load the content photo into "
                                "the editor first), or upload a black-and-white mask: white takes the style.")
                    region_mask = ImageEditor(label="Region", type="numpy", sources=["upload", "clipboard"],
                                                 brush=gr.Brush(colors=["#ffffff"], color_mode="fixed"),
                                                 height=300)
                    outside_region = Radio(list(OUTSIDE_CHOICES), value=DEFAULTS.outside,
                                              label="Outside the region",
                                              info="content: the photo stays; second-style: the second style image")
                run = gr.Button("Stylize", variant="primary")
            with gr.Column():
                preview = gr.Image(label="Result", type="filepath", format="png", interactive=False, height=420)
                download = gr.File(label="PNG with settings", interactive=False)
                status = gr.Markdown()
                image_losses = loss_plot("Loss terms per step (log10)")
        gr.Examples(
            examples=[
                [str(IMAGES / "chelsea.jpg"), [str(IMAGES / "style_mosaic.jpg")]],
                [str(IMAGES / "coffee.jpg"), [str(IMAGES / "style_swirls.jpg")]],
                [str(IMAGES / "astronaut.jpg"), [str(IMAGES / "style_waves.jpg"), str(IMAGES / "style_swirls.jpg")]],
            ],
            inputs=[content, styles],
        )
        run.click(
            stylize_image_ui,
            inputs=[content, styles, blend, backbone, size, steps, style_weight, content_weight, tv_weight,
                    style_scale, color, init, optimizer, seed, pooling, precision, region_mask, outside_region,
                    schedule, hold_style_from, scale_ratio],
            outputs=[preview, download, status, image_losses],
            api_name="image", concurrency_limit=1, concurrency_id=HEAVY,
            validator=heavy_validator(image_request, parameter_names(stylize_image_ui)),
        )


CUSTOM = "Custom model"


def resolve_fast_model(style: str, model_files: list[str] | None, repo_id: str) -> fast.FastModel:
    """The network and its catalogue facts for the Fast styles tab's choice: uploads or a Hub repo id only."""
    if style != CUSTOM:
        return fast.load_catalogue_style(style)
    files = [Path(f) for f in (model_files or [])]
    weight_files = [f for f in files if f.suffix == ".safetensors"]
    configs = [f for f in files if f.suffix == ".json"]
    if weight_files:
        if len(weight_files) > 1 or len(configs) != 1:
            raise InvalidInput("Upload exactly one .safetensors file and its .json config.")
        return fast.load_fast_model(weight_files[0], configs[0])
    if files:
        raise InvalidInput("Custom models are loaded from .safetensors (+ .json) only; pickled files are refused.")
    if repo_id and repo_id.strip():
        return fast.load_hub_model(repo_id)
    raise InvalidInput("For a custom model, upload model.safetensors + config.json or type a Hub repo id.")


def fast_request(content: str | None, style: str, model_files: list[str] | None, repo_id: str, strength: float,
                 color: str, precision: str, compiled: bool = True) -> tuple[str, fast.FastSettings, cost.Cost]:
    """The /fast endpoint's picture and settings, checked, with its estimate; larger pictures are capped (with a
    notice)."""
    if not content:
        raise InvalidInput("Upload a content image.")
    width, height = checked_picture(content, "content image")
    side = BUDGET.limit("fast_megapixels")
    settings = fast.FastSettings(strength=real(strength, "strength"), color=color, precision=precision,
                                 max_side=int(math.sqrt(side * 1e6)) if side else fast.MAX_FAST_SIDE)
    settings.check()
    scale = min(1.0, settings.max_side / math.sqrt(width * height))
    estimate = cost.fast_cost(settings, pick_runtime(settings.device, settings.precision),
                              (round(width * scale), round(height * scale)),
                              compiled=bool(compiled) and FAST_COMPILER is not None)
    return content, settings, estimate


@on_gpu(lambda *values: fast_request(*values)[-1].seconds)
@user_errors
def stylize_fast_ui(content: str | None, style: str, model_files: list[str] | None, repo_id: str,
                    strength: float, color: str, precision: str, compiled: bool = True) -> Iterator[tuple[str, str]]:
    """One forward pass of a feed-forward style network (tile by tile for a large picture)."""
    content, settings, _ = fast_request(content, style, model_files, repo_id, strength, color, precision,
                                        compiled)
    model = resolve_fast_model(style, model_files, repo_id)
    compiler = FAST_COMPILER if compiled else None

    def work(control: JobControl) -> Iterator[tuple[str, str]]:
        result = fast.stylize_fast(content, model, settings, compiler=compiler, prepared=PREPARED, control=control)
        record = {"style": model.style.title, **dataclasses.asdict(settings), "compiled": compiler is not None}
        path = save_png(result.image, STORE.path("fast", ".png"), record)
        tiles = f" in {result.tiles} tiles" if result.tiles > 1 else ""
        notes = "".join(f"\n\nNote: {n}" for n in result.notices)
        yield str(path), f"{model.style.title}: {result.seconds:.2f} s on {result.runtime}{tiles}.{notes}"

    yield from streamed(work, JobControl(), outputs=2)


def video_request(video: str | None, style: str, model_files: list[str] | None, repo_id: str, strength: float,
                  color: str, long_side: float, stability: str, precision: str,
                  compiled: bool = True) -> tuple[str, VideoSettings, cost.Cost]:
    """The /fast_video endpoint's clip and settings, checked, with its estimated cost within the budget."""
    if not video:
        raise InvalidInput("Upload a video (mp4, webm or mov).")
    side = whole(long_side, "long_side") if long_side else 0
    BUDGET.refuse_over("video_long_side", side, "The long side", " px", "choose a smaller long side")
    seconds = BUDGET.limit("video_seconds")
    settings = VideoSettings(strength=real(strength, "strength"), color=color, long_side=side or None,
                             stability=stability, precision=precision,
                             max_seconds=min(seconds, VideoSettings.max_seconds) if seconds else
                             VideoSettings.max_seconds)
    settings.check()
    info = probe(video, settings.max_seconds)
    size, _ = output_size(info, settings.long_side)
    estimate = cost.video_cost(settings, pick_runtime(settings.device, settings.precision), info.frames, size,
                               compiled=bool(compiled) and FAST_COMPILER is not None)
    cost.admit(estimate, BUDGET, f"This video ({info.frames} frames at {size[0]}x{size[1]})",
               "choose a smaller long side or a shorter clip")
    return video, settings, estimate


@on_gpu(lambda *values: video_request(*values)[2].seconds)
@user_errors
def stylize_video_ui(video: str | None, style: str, model_files: list[str] | None, repo_id: str, strength: float,
                     color: str, long_side: float, stability: str, precision: str, compiled: bool = True,
                     progress: gr.Progress = gr.Progress()) -> Iterator[tuple[str, str]]:
    """A video, frame by frame, with its frame rate and sound; progress per frame."""
    video, settings, _ = video_request(video, style, model_files, repo_id, strength, color, long_side, stability,
                                       precision, compiled)
    model = resolve_fast_model(style, model_files, repo_id)

    def work(control: JobControl) -> Iterator[tuple[str, str]]:
        for event in iter_stylize_video(video, model, settings, output=STORE.path("video", ".mp4"),
                                        compiler=FAST_COMPILER if compiled else None, prepared=PREPARED,
                                        control=control):
            if isinstance(event, VideoProgress):
                progress((event.frame, event.frames), desc="Frames")
                continue
            notes = "".join(f"\n\nNote: {n}" for n in event.notices)
            width, height = event.size
            yield str(event.path), (
                f"{model.style.title}: {event.frames} frames at {event.fps:.3g} fps, {width}x{height}, in "
                f"{event.seconds:.1f} s ({event.frames / event.seconds:.1f} frames/s) on {event.runtime}; flicker "
                f"{event.flicker:.2f} (output change between frames / input change).{notes}")

    yield from streamed(work, JobControl(), outputs=2)


@functools.lru_cache(maxsize=4)
def live_model(style: str, model_files: tuple[str, ...], repo_id: str) -> fast.FastModel:
    """The stream's model, resolved once: ten frames a second must not re-read an uploaded file each time
    (and a new model object per frame would also miss the prepared-copy cache)."""
    return resolve_fast_model(style, list(model_files), repo_id)


@user_errors
def stylize_live_frame(frame: np.ndarray | None, style: str, model_files: list[str] | None, repo_id: str,
                       strength: float, color: str, frame_size: float) -> np.ndarray | None:
    """One webcam frame, scaled to ``frame_size`` (long side) and stylized by the compiled network."""
    if frame is None:
        return None
    if not isinstance(frame, np.ndarray) or frame.ndim not in (2, 3) or min(frame.shape[:2]) < fast.MIN_FAST_SIDE:
        raise InvalidInput(f"A live frame must be a picture of at least {fast.MIN_FAST_SIDE} pixels a side.")
    side = whole(frame_size, "frame_size")
    largest = int(BUDGET.cap("live_frame_side", 1024))
    if not 64 <= side <= largest:
        raise InvalidInput(f"frame_size must be between 64 and {largest} pixels (got {side}).")
    stylizer = FrameStylizer(live_model(style, tuple(model_files or ()), repo_id), strength=real(strength, "strength"),
                             color=color, compiler=FAST_COMPILER, prepared=PREPARED)
    rgb = np.repeat(frame[..., None], 3, axis=2) if frame.ndim == 2 else frame[..., :3]
    return stylizer(rgb, fit_long_side(rgb.shape[1], rgb.shape[0], side))


def fast_tab() -> None:
    titles = list(fast.CATALOGUE)
    with gr.Tab("Fast styles"):
        gr.Markdown(
            "Feed-forward style networks (Johnson et al. 2016, instance normalization): one pass, about a quarter "
            "of a second at 512 px on a 2-core CPU (compiled). Pick a pretrained style or load your own "
            "(train one with `python -m nst_core.image.train_fast`)."
        )
        models_panel({title: style.key for title, style in fast.CATALOGUE.items()})
        with gr.Row():
            with gr.Column():
                content = Image(label="Content image", type="filepath", image_mode=None,
                                      sources=["upload", "clipboard"], height=300)
                gallery = gr.Gallery(
                    [(catalogue_thumbnail(t, IMAGES / "chelsea.jpg"), t) for t in titles],
                    label="Pretrained styles (click to choose)", columns=4, height=220, allow_preview=False,
                )
                style = Radio([*titles, CUSTOM], value=titles[0], label="Style")
                with gr.Accordion("Custom model", open=False):
                    model_files = File(label="model.safetensors + config.json", file_count="multiple",
                                          file_types=[".safetensors", ".json"], type="filepath")
                    repo_id = gr.Textbox(label="or a Hub repo id", placeholder="user/my-style")
                strength = Slider(0.0, 1.0, value=1.0, step=0.05, label="Style strength")
                color = Radio(["none", "luminance"], value="none", label="Colour",
                                 info="luminance: keep the photo's colours")
                precision = Radio(["auto", "fp32"], value="auto", label="Precision")
                compiled = Checkbox(
                    value=True, label="Compiled network",
                    info="torch.compile: about 2x faster on CPU. Compiled at start-up for precision auto; "
                         "fp32 compiles on its first use (about 20 s)")
                run = gr.Button("Stylize", variant="primary")
            with gr.Column():
                result = gr.Image(label="Result", type="filepath", format="png", interactive=False, height=420)
                status = gr.Markdown()
        def pick(event: gr.SelectData) -> str:
            return titles[event.index]

        gallery.select(pick, None, style, api_visibility="private")
        gr.Examples([[str(IMAGES / "coffee.jpg")], [str(IMAGES / "astronaut.jpg")]], inputs=[content])
        run.click(
            stylize_fast_ui, inputs=[content, style, model_files, repo_id, strength, color, precision, compiled],
            outputs=[result, status], api_name="fast", concurrency_limit=1, concurrency_id="fast",
            validator=heavy_validator(fast_request, parameter_names(stylize_fast_ui), "fast"),
        )
        with gr.Accordion("Live: your webcam, stylized as it streams", open=False):
            gr.Markdown("The style, strength, colour and frame size above and here apply while it runs; frames "
                        "that arrive while one is being stylized are dropped, never queued.")
            with gr.Row():
                webcam = Image(label="Webcam", sources=["webcam"], streaming=True, type="numpy")
                live = gr.Image(label="Live result", type="numpy", interactive=False)
            frame_size = Slider(256, max(256, BUDGET.cap("live_frame_side", 512)), value=384, step=32,
                                   label="Frame size (long side)")
        live_inputs = [webcam, style, model_files, repo_id, strength, color, frame_size]
        webcam.stream(
            stylize_live_frame, inputs=live_inputs, outputs=live, stream_every=0.1, time_limit=300,
            concurrency_limit=1, concurrency_id="live", trigger_mode="always_last", show_progress="hidden",
            # The browser's stream; gradio_client 2.7 cannot read streaming replies, so clients get the same
            # handler, one frame per call, as /fast_live below.
            api_name="fast_live_stream", api_visibility="private",
        )
        gr.Button(visible=False).click(stylize_live_frame, inputs=live_inputs, outputs=live, api_name="fast_live",
                                       concurrency_limit=1, concurrency_id="live", show_progress="hidden")
        with gr.Accordion("Video: stylize a clip, keeping its frame rate and sound", open=False), gr.Row():
            with gr.Column():
                video = Video(label="Video (mp4, webm, mov; up to 20 s are used)", sources=["upload"])
                longest = int(BUDGET.cap("video_long_side", 1920))
                long_side = Slider(0, longest, value=0, step=16,
                                      label=f"Long side (0: the video's own, at most {min(longest, 1280)})")
                stability = Radio(["clip", "frame"], value="clip", label="Normalization statistics",
                                     info="clip: measured once for the whole clip (steady); frame: each "
                                          "frame its own (flickers)")
                run_video = gr.Button("Stylize the video", variant="primary")
            with gr.Column():
                video_result = gr.Video(label="Result", interactive=False)
                video_status = gr.Markdown()
        run_video.click(
            stylize_video_ui, inputs=[video, style, model_files, repo_id, strength, color, long_side, stability,
                                      precision, compiled],
            outputs=[video_result, video_status], api_name="fast_video", concurrency_limit=1, concurrency_id=HEAVY,
            validator=heavy_validator(video_request, parameter_names(stylize_video_ui)),
        )


START_MODES = ["content", "noise", "content, style loss only"]
# The names every audio endpoint's parameters have in the client API, in the order of its inputs; each backend's
# own options follow, named after the fields of its options dataclass (see forms.option_names).
AUDIO_COMMON = ("content", "style", "extra_styles", "griffin_lim_iterations", "start_from", "seed", "precision",
                "keep_silences", "style_strength", "adaptive_balance", "steps", "style_weight", "content_weight",
                "spectral_content_weight", "envelope_weight")


def name_parameters(handler, names: tuple[str, ...]) -> None:
    """Give a handler that takes ``*values`` the parameter names its client API shows (then Gradio's progress)."""
    kind = inspect.Parameter.POSITIONAL_OR_KEYWORD
    handler.__signature__ = inspect.Signature(
        [inspect.Parameter(name, kind) for name in names] + [inspect.Parameter("progress", kind,
                                                                              default=gr.Progress())])


def audio_settings(spec: AudioBackendSpec, values: dict) -> AudioSettings:
    """The run's settings from an audio endpoint's named values (common ones, then the backend's options)."""
    seconds = BUDGET.limit("audio_seconds")
    settings = AudioSettings(
        backend=spec.name, steps=whole(values["steps"], "steps"), content_weight=real(values["content_weight"],
                                                                                     "content_weight"),
        style_weight=real(values["style_weight"], "style_weight"),
        spectral_content_weight=real(values["spectral_content_weight"], "spectral_content_weight"),
        envelope_weight=real(values["envelope_weight"], "envelope_weight"), keep_silences=bool(values["keep_silences"]),
        style_strength=real(values["style_strength"], "style_strength") if values["adaptive_balance"] else None,
        init="noise" if values["start_from"] == "noise" else "content",
        style_only=values["start_from"] == START_MODES[2],
        griffin_lim_iterations=whole(values["griffin_lim_iterations"], "griffin_lim_iterations"),
        seed=whole(values["seed"], "seed"), precision=values["precision"],
        options=options_from(spec.options, values, STORE.root),
        max_seconds=min(seconds, AudioSettings.max_seconds) if seconds else AudioSettings.max_seconds,
    )
    settings.check(1)
    BUDGET.refuse_over("audio_steps", settings.steps, "Steps", "", "choose fewer steps")
    if isinstance(settings.options, ShallowOptions):
        BUDGET.refuse_over("audio_filters", sum(settings.options.filters), "The shallow net's width (all layers)",
                           " filters", "choose fewer filters (1024 is the default)")
    return settings


@functools.lru_cache(maxsize=4)
def built_backend(name: str, options: object, seed: int) -> AudioBackend:
    """Audio networks, built or read from disk once and kept while requests keep asking for them."""
    return load_backend(name, options, seed=seed)


def audio_request(spec: AudioBackendSpec, values: dict) -> tuple[str, list[str], AudioSettings, AudioBackend,
                                                                  cost.Cost]:
    """An audio endpoint's clips, settings and network, checked, with its cost within the budget."""
    content, styles = values["content"], [s for s in [values["style"], *(values["extra_styles"] or [])] if s]
    if not content:
        raise InvalidInput("Upload or record a content clip.")
    if not styles:
        raise InvalidInput("Upload or record a style clip.")
    settings = audio_settings(spec, values)
    settings.check(len(styles))
    backend = built_backend(spec.name, settings.options, settings.seed)
    seconds = min(audio_seconds(content, label="content clip"), settings.max_seconds)
    estimate = cost.audio_cost(backend, settings, pick_runtime("auto", settings.precision), seconds)
    cost.admit(estimate, BUDGET, f"This clip ({seconds:.0f} s with {spec.title}, {settings.steps} steps)",
               "choose fewer steps, a shorter clip" + (" or fewer filters" if spec.name == "shallow" else ""))
    return content, styles, settings, backend, estimate


def run_audio(backend_name: str, content: str, styles: list[str], settings: AudioSettings, backend: AudioBackend,
              progress: gr.Progress) -> Iterator[tuple]:
    """Stream (audio, spectrograms, scores, status) for one audio backend."""
    history = LossHistory(skip=("total",))

    def work(control: JobControl) -> Iterator[tuple]:
        for event in iter_stylize_audio(content, styles, settings, backend=backend, prepared=PREPARED,
                                        control=control):
            if isinstance(event, AudioProgress):
                progress((event.step, event.total), desc=f"Segment {event.segment + 1}/{event.num_segments}")
                history.add(event.step, event.losses)
                if event.preview is not None:
                    terms = ", ".join(f"{k} {v:.4g}" for k, v in event.losses.items())
                    yield (None, spectrogram_pictures({"result so far": event.preview}), None,
                           f"Step {event.step}/{event.total}: {terms}", history.frame())
                continue
            path = save_wav(STORE.path(f"audio-{backend_name}", ".wav"), event.samples, event.sample_rate)
            notes = "".join(f"\n\nNote: {n}" for n in event.notices)
            status = (f"Done in {event.seconds:.1f} s ({event.phase_seconds:.1f} s of it phase reconstruction) on "
                      f"{event.runtime}. Network: {event.backend_note}. {balance_report(event, settings)}{notes}")
            yield (str(path), spectrogram_pictures(event.spectrograms), score_table(event.scores), status,
                   history.frame())

    yield from streamed(work, JobControl(BUDGET.limit("seconds")), outputs=5)


def balance_report(result: AudioResult, settings: AudioSettings) -> str:
    """One sentence on the style-strength targets: reached at which step, or how close the run came."""
    if not result.balance:
        return "Fixed weights (the balance did not adapt)."
    last = result.balance[-1]
    s = result.scores
    reading = (f"onsets {s.onset_correlation:.2f}, chroma {s.chroma_correlation:.2f}, Gram ratio "
               f"{s.style_gram_result / max(s.style_gram_content, 1e-12):.2f}")
    return f"Style strength {settings.style_strength:g}: stopped at step {last.step} with {reading}."


def audio_backend_tab(spec: AudioBackendSpec, shared: list) -> None:
    """A sub-tab made from the backend's spec: its weights, then one widget per field of its options."""
    defaults = spec.defaults
    with gr.Tab(spec.title):
        gr.Markdown(spec.description)
        with gr.Row():
            steps = Slider(1, BUDGET.cap("audio_steps", 2000), value=defaults.steps, step=1, label="Steps")
            style_weight = Number(defaults.style_weight, label="Style weight", minimum=0)
            content_weight = Number(defaults.content_weight, label="Content weight", minimum=0)
        with gr.Row():
            spectral = Number(defaults.spectral_content_weight, label="Direct spectrogram content weight",
                                 minimum=0, info="keeps the notes that pooled layers lose")
            envelope_weight = Number(defaults.envelope_weight, label="Envelope weight", minimum=0,
                                        info="match the style's long-term spectrum (0: keep the content's)")
        with gr.Row():
            options = option_widgets(spec.options)
        run = gr.Button(f"Stylize with {spec.title}", variant="primary")
    names = AUDIO_COMMON + option_names(spec.options)

    def request_of(*values: object) -> tuple:
        return audio_request(spec, dict(zip(names, values)))

    @on_gpu(lambda *values: request_of(*values)[-1].seconds)
    @user_errors
    def handler(*values):
        """Positional values in the order of ``names``, then the progress."""
        *values, progress = values
        content, styles, settings, backend, _ = request_of(*values)
        yield from run_audio(spec.name, content, styles, settings, backend, progress)

    *common, outputs = shared
    handler.__name__ = f"stylize_audio_{spec.name}"
    name_parameters(handler, names)
    run.click(handler, inputs=[*common, steps, style_weight, content_weight, spectral, envelope_weight, *options],
              outputs=outputs, api_name=f"audio_{spec.name}", concurrency_limit=1, concurrency_id=HEAVY,
              validator=heavy_validator(request_of, names))


def audio_tab() -> None:
    with gr.Tab("Audio"):
        gr.Markdown(
            "Keep the notes and rhythm of the content clip, take the timbre and texture of the style clip. "
            "The result's spectrogram is optimized through the chosen network, then turned back into sound "
            "by fast Griffin-Lim starting from the content's phase."
        )
        models_panel({label: key for spec in AUDIO_BACKENDS.values() for label, key in spec.weights.items()})
        gr.Markdown("Shallow net: random weights by design, always available. Genre CNN: random weights "
                    "unless a trained model is given.")
        with gr.Row():
            content = Audio(label="Content clip", sources=["upload", "microphone"], type="filepath")
            style = Audio(label="Style clip", sources=["upload", "microphone"], type="filepath")
        with gr.Row():
            strength = Slider(0, 1, value=AudioSettings.style_strength, step=0.05, label="Style strength",
                                 info="0.5: keep onsets >= 0.8 and chroma >= 0.7 while halving the distance "
                                      "to the style; higher takes more style")
            adaptive = Checkbox(True, label="Adapt the balance to reach the strength",
                                   info="off: the fixed weights below, for every step")
        with gr.Accordion("More style clips, phase and seed", open=False):
            extra = File(label="Further style clips (their statistics are averaged)", file_count="multiple",
                            file_types=["audio"], type="filepath")
            with gr.Row():
                griffin = Slider(0, 500, value=100, step=10, label="Griffin-Lim iterations")
                start = Radio(START_MODES, value="content", label="Start from")
                seed = Number(0, label="Seed", precision=0)
                precision = Radio(["auto", "fp32"], value="auto", label="Precision")
                keep_silences = Checkbox(True, label="Keep silences",
                                            info="where the content is quiet, the result stays quiet")
        gr.Examples(
            [[str(AUDIO / "piano_melody.flac"), str(AUDIO / "string_pad.flac")],
             [str(AUDIO / "piano_melody.flac"), str(AUDIO / "rain.flac")],
             [str(AUDIO / "drum_loop.flac"), str(AUDIO / "string_pad.flac")],
             [str(AUDIO / "speech.flac"), str(AUDIO / "rain.flac")]],
            inputs=[content, style],
        )
        # Outputs are shared by every backend's button: made first, shown below the backend tabs.
        result_audio = gr.Audio(label="Result", type="filepath", interactive=False, format="wav", render=False)
        pictures = gr.Gallery(label="Spectrograms: content, style, result", columns=3, height=200, render=False)
        scores = gr.Dataframe(headers=["score", "result", "content (baseline)", "reading"],
                              label="Objective scores", interactive=False, render=False)
        status = gr.Markdown(render=False)
        audio_losses = loss_plot("Loss terms per step (log10)", render=False)
        shared = [content, style, extra, griffin, start, seed, precision, keep_silences, strength, adaptive,
                  [result_audio, pictures, scores, status, audio_losses]]
        with gr.Tabs():
            for spec in AUDIO_BACKENDS.values():
                audio_backend_tab(spec, shared)
        with gr.Row():
            result_audio.render()
            pictures.render()
        with gr.Row():
            scores.render()
            audio_losses.render()
        status.render()


def refresh_model_panels() -> list:
    """New reports for every Models panel; the timer runs while a download does."""
    reports = [weights_report(keys) for _, keys in MODEL_PANELS]
    return [*reports, gr.Timer(active=weights.FETCHER.running)]


def build_app() -> gr.Blocks:
    MODEL_PANELS.clear()
    own_gradio_cache()
    # Gradio's own copies of uploads and results are deleted after 30 minutes (checked every 5) and at exit.
    with gr.Blocks(title="Neural style transfer studio", delete_cache=(300, 1800)) as demo:
        gr.Markdown("# Neural style transfer studio\nRestyle photos with the look of another image.")
        image_tab()
        fast_tab()
        audio_tab()
        timer = gr.Timer(2.0, active=weights.FETCHER.running)
        panels = [panel for panel, _ in MODEL_PANELS] + [timer]
        # Fresh reports on every page load, and every 2 s while a download runs.
        demo.load(refresh_model_panels, None, panels, api_visibility="private", queue=False)
        timer.tick(refresh_model_panels, None, panels, api_visibility="private", queue=False)
    demo.queue(max_size=32)
    _BLOCKS[:] = [demo]
    log.info("budget: %s", BUDGET.describe())
    return demo


def fetch_weights_at_start_up() -> None:
    """Fetch and verify every network in the background; offline, verify only what is on disk. Never waits."""
    if hub.offline_mode():
        cached = [key for key in weights.BY_KEY if hub.cached_path(weights.entry(key)) is not None]
        log.info("weights: HF_HUB_OFFLINE=1, verifying the %d networks on disk, fetching none", len(cached))
        weights.FETCHER.start(cached)
        return
    weights.FETCHER.start()


def warm_up_fast_styles() -> None:
    """Compile the Fast styles network in the background, so the first request does not wait for it."""
    try:
        log.info("fast styles: compiled in %.0f s", fast.warm_up(FAST_COMPILER))
    except Exception:  # noqa: BLE001 - a failed warm-up must not stop the app; requests fall back to eager
        log.exception("fast styles: warm-up failed")


def main() -> None:
    logging.basicConfig(level=logging.INFO)
    # A Space (or a container) stops the app with SIGTERM: exit through Python, so that running jobs are
    # cancelled and the results folder and Gradio's cache are removed (atexit), instead of dying where it stands.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    # Not a daemon: a thread killed inside torch.compile at exit aborts the process instead of letting it end.
    threading.Thread(target=warm_up_fast_styles, name="fast-styles-warm-up", daemon=False).start()
    fetch_weights_at_start_up()
    build_app().launch(max_file_size="60mb", theme=gr.themes.Soft())


if __name__ == "__main__":
    main()
