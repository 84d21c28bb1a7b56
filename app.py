"""Neural style transfer studio: the Gradio app.

Thin by design: it builds widgets, turns their values into nst_core calls, and turns nst_core's
progress events and typed errors into previews, progress bars and readable messages.
Run it with ``python app.py``; ``GRADIO_SERVER_NAME`` / ``GRADIO_SERVER_PORT`` choose where it listens.
"""

from __future__ import annotations

import logging
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import gradio as gr

from nst_core import NSTError, hub
from nst_core.image import fast
from nst_core.image.backbones import BACKBONES
from nst_core.image.color import COLOR_MODES
from nst_core.image.io import save_png
from nst_core.image.optimize import MAX_SIZE, ImageProgress, ImageSettings, StyleResult, iter_stylize

try:  # On Hugging Face ZeroGPU Spaces this borrows a GPU per call; elsewhere it does nothing.
    import spaces

    gpu = spaces.GPU(duration=300)
except ImportError:
    def gpu(fn):
        return fn

log = logging.getLogger("nst_studio")
HERE = Path(__file__).resolve().parent
IMAGES = HERE / "examples" / "images"
OUTPUT_DIR = Path(tempfile.mkdtemp(prefix="nst-results-"))
# Every heavy endpoint shares one queue slot: two optimizations at once would only halve each one's speed.
HEAVY = "heavy"
DEFAULTS = ImageSettings()


class ImageUpload(gr.Image):
    """``gr.Image`` whose undecodable uploads end in a readable message instead of a generic failure."""

    is_template = True  # rendered by the frontend as a plain Image

    def preprocess(self, payload):
        try:
            return super().preprocess(payload)
        except (OSError, ValueError, SyntaxError) as exc:
            raise gr.Error(f"The {str(self.label).lower()} is not an image that can be read "
                           "(PNG, JPEG, WebP, ...).") from exc


def weights_report(keys: dict[str, str]) -> str:
    """A Markdown list saying, per model, whether its weights are ready, will download, or cannot be had."""
    lines = []
    for label, key in keys.items():
        state = hub.availability(key)
        mark = {"ready": "ready", "download": "downloads on first use", "unavailable": "**unavailable**"}[state.state]
        lines.append(f"- {label}: {mark} ({state.detail})")
    if any(hub.availability(key).state == "unavailable" for key in keys.values()):
        lines.append(f"\nTo enable an unavailable model: {hub.FIX_HINT}")
    return "\n".join(lines)


def parse_blend(text: str, count: int) -> tuple[float, ...] | None:
    """'2, 1' -> (2.0, 1.0); empty -> None (equal weights)."""
    if not text or not text.strip():
        return None
    try:
        weights = tuple(float(part) for part in text.replace(";", ",").split(",") if part.strip())
    except ValueError:
        raise gr.Error(f"Blend weights must be numbers separated by commas (got {text!r}).") from None
    if len(weights) != count:
        raise gr.Error(f"Give one blend weight per style image: {count} images, {len(weights)} weights.")
    return weights


def _status(event: ImageProgress) -> str:
    terms = ", ".join(f"{name} {value:.4g}" for name, value in event.losses.items())
    width, height = event.size
    return (f"Step {event.step}/{event.total}, scale {event.scale_index + 1}/{event.num_scales} "
            f"({width}x{height}): {terms}")


@gpu
def stylize_image_ui(
    content: str | None, styles: list[str] | None, blend: str, backbone: str, size: float, steps: float,
    style_weight: float, content_weight: float, tv_weight: float, style_scale: float, color: str, init: str,
    optimizer: str, seed: float, pooling: str, precision: str, progress: gr.Progress = gr.Progress(),
) -> Iterator[tuple[str | None, str | None, str]]:
    """Stream (preview, final PNG, status) while the optimization runs."""
    if not content:
        raise gr.Error("Upload a content image.")
    styles = [s for s in (styles or []) if s]
    if not styles:
        raise gr.Error("Upload at least one style image.")
    settings = ImageSettings(
        backbone=backbone, size=int(size), steps=int(steps), style_weight=float(style_weight),
        content_weight=float(content_weight), tv_weight=float(tv_weight), style_scale=float(style_scale),
        color=color, init=init, optimizer=optimizer, seed=int(seed), pooling=pooling, precision=precision,
        style_blend=parse_blend(blend, len(styles)), preview_every=10,
    )
    try:
        for event in iter_stylize(content, styles, settings):
            if isinstance(event, StyleResult):
                path = save_png(event.image, OUTPUT_DIR / f"stylized-{backbone}-seed{settings.seed}-"
                                f"{uuid.uuid4().hex[:8]}.png", event.settings)
                notes = "".join(f"\n\nNote: {n}" for n in event.notices)
                yield (str(path), str(path),
                       f"Done in {event.seconds:.1f} s on {event.runtime}. Settings are stored in the PNG.{notes}")
                return
            progress((event.step, event.total), desc="Stylizing")
            if event.preview is not None:
                preview = save_png(event.preview, OUTPUT_DIR / f"preview-{uuid.uuid4().hex[:8]}.png")
                yield str(preview), None, _status(event)
    except NSTError as exc:
        raise gr.Error(str(exc)) from exc


def image_tab() -> None:
    backbones = {spec.label: spec.name for spec in BACKBONES.values()}
    with gr.Tab("Image"):
        gr.Markdown(
            "Optimization-based style transfer (Gatys et al.): the picture is refined step by step, "
            "coarse to fine, until its VGG features match the content photo and its feature correlations "
            "match the style images."
        )
        with gr.Accordion("Models", open=False):
            gr.Markdown(weights_report({spec.label: spec.weights for spec in BACKBONES.values()}))
        with gr.Row():
            with gr.Column():
                content = ImageUpload(label="Content image", type="filepath", image_mode=None, sources=["upload",
                                   "clipboard"], height=300)
                styles = gr.File(label="Style images (one or more)", file_count="multiple", file_types=["image"],
                                 type="filepath")
                blend = gr.Textbox(label="Style blend weights", placeholder="e.g. 2, 1 (empty: equal)")
                with gr.Row():
                    backbone = gr.Dropdown(list(backbones.items()), value=DEFAULTS.backbone, label="Network")
                    size = gr.Slider(64, MAX_SIZE, value=DEFAULTS.size, step=16, label="Output size (long side)")
                with gr.Row():
                    steps = gr.Slider(1, 1000, value=DEFAULTS.steps, step=1, label="Steps per scale")
                    style_weight = gr.Number(DEFAULTS.style_weight, label="Style weight", minimum=0)
                color = gr.Radio(list(COLOR_MODES), value=DEFAULTS.color, label="Colour",
                                 info="luminance: keep the photo's colours; match-*: recolour the style first")
                with gr.Accordion("Advanced", open=False):
                    with gr.Row():
                        content_weight = gr.Number(DEFAULTS.content_weight, label="Content weight", minimum=0)
                        tv_weight = gr.Number(DEFAULTS.tv_weight, label="Smoothness (TV) weight", minimum=0)
                        style_scale = gr.Slider(0.25, 2.0, value=DEFAULTS.style_scale, step=0.05,
                                                label="Style scale")
                    with gr.Row():
                        init = gr.Radio(["content", "noise"], value=DEFAULTS.init, label="Start from")
                        optimizer = gr.Radio(["lbfgs", "adam"], value=DEFAULTS.optimizer, label="Optimizer")
                        pooling = gr.Radio(["max", "avg"], value=DEFAULTS.pooling, label="Pooling")
                    with gr.Row():
                        seed = gr.Number(DEFAULTS.seed, label="Seed", precision=0)
                        precision = gr.Radio(["auto", "fp32"], value=DEFAULTS.precision, label="Precision",
                                             info="auto: bf16/fp16 autocast where the hardware is fast at it")
                run = gr.Button("Stylize", variant="primary")
            with gr.Column():
                preview = gr.Image(label="Result", type="filepath", format="png", interactive=False, height=420)
                download = gr.File(label="PNG with settings", interactive=False)
                status = gr.Markdown()
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
                    style_scale, color, init, optimizer, seed, pooling, precision],
            outputs=[preview, download, status],
            api_name="image", concurrency_limit=1, concurrency_id=HEAVY,
        )


CUSTOM = "Custom model"


def resolve_fast_model(style: str, model_files: list[str] | None, repo_id: str) -> tuple:
    """The network and catalogue entry for the Fast styles tab's choice."""
    if style != CUSTOM:
        return fast.load_catalogue_style(style), fast.CATALOGUE[style]
    files = [Path(f) for f in (model_files or [])]
    weights = [f for f in files if f.suffix == ".safetensors"]
    configs = [f for f in files if f.suffix == ".json"]
    if weights:
        if len(weights) > 1 or len(configs) != 1:
            raise gr.Error("Upload exactly one .safetensors file and its .json config.")
        return fast.load_fast_model(weights[0], configs[0])
    if files:
        raise gr.Error("Custom models are loaded from .safetensors (+ .json) only; pickled files are refused.")
    if repo_id and repo_id.strip():
        return fast.load_hub_model(repo_id)
    raise gr.Error("For a custom model, upload model.safetensors + config.json or type a Hub repo id.")


@gpu
def stylize_fast_ui(content: str | None, style: str, model_files: list[str] | None, repo_id: str,
                    strength: float, color: str, precision: str) -> tuple[str, str]:
    """One forward pass of a feed-forward style network."""
    if not content:
        raise gr.Error("Upload a content image.")
    try:
        net, entry = resolve_fast_model(style, model_files, repo_id)
        result = fast.stylize_fast(content, net, entry, strength=float(strength), color=color, precision=precision)
    except NSTError as exc:
        raise gr.Error(str(exc)) from exc
    settings = {"style": entry.title, "strength": strength, "color": color, "precision": precision}
    path = save_png(result.image, OUTPUT_DIR / f"fast-{uuid.uuid4().hex[:8]}.png", settings)
    tiles = f" in {result.tiles} tiles" if result.tiles > 1 else ""
    notes = "".join(f"\n\nNote: {n}" for n in result.notices)
    return str(path), f"{entry.title}: {result.seconds:.2f} s on {result.runtime}{tiles}.{notes}"


def fast_tab() -> None:
    titles = list(fast.CATALOGUE)
    with gr.Tab("Fast styles"):
        gr.Markdown(
            "Feed-forward style networks (Johnson et al. 2016, instance normalization): one pass, about a second "
            "on a CPU. Pick a pretrained style or load your own (train one with "
            "`python -m nst_core.image.train_fast`)."
        )
        with gr.Accordion("Models", open=False):
            gr.Markdown(weights_report({title: style.key for title, style in fast.CATALOGUE.items()}))
            gr.Markdown("| style | artist | input | licence |\n|---|---|---|---|\n" + "\n".join(
                f"| {s.title} | {s.artist} | {s.channel_order.upper()} 0-{s.value_range} ({s.note or 'checked'}) "
                f"| {s.license} |" for s in fast.CATALOGUE.values()))
        with gr.Row():
            with gr.Column():
                content = ImageUpload(label="Content image", type="filepath", image_mode=None,
                                      sources=["upload", "clipboard"], height=300)
                gallery = gr.Gallery(
                    [(fast.catalogue_thumbnail(t, IMAGES / "chelsea.jpg"), t) for t in titles],
                    label="Pretrained styles (click to choose)", columns=4, height=220, allow_preview=False,
                )
                style = gr.Radio([*titles, CUSTOM], value=titles[0], label="Style")
                with gr.Accordion("Custom model", open=False):
                    model_files = gr.File(label="model.safetensors + config.json", file_count="multiple",
                                          file_types=[".safetensors", ".json"], type="filepath")
                    repo_id = gr.Textbox(label="or a Hub repo id", placeholder="user/my-style")
                strength = gr.Slider(0.0, 1.0, value=1.0, step=0.05, label="Style strength")
                color = gr.Radio(["none", "luminance"], value="none", label="Colour",
                                 info="luminance: keep the photo's colours")
                precision = gr.Radio(["auto", "fp32"], value="auto", label="Precision")
                run = gr.Button("Stylize", variant="primary")
            with gr.Column():
                result = gr.Image(label="Result", type="filepath", format="png", interactive=False, height=420)
                status = gr.Markdown()
        def pick(event: gr.SelectData) -> str:
            return titles[event.index]

        gallery.select(pick, None, style, api_visibility="private")
        gr.Examples([[str(IMAGES / "coffee.jpg")], [str(IMAGES / "astronaut.jpg")]], inputs=[content])
        run.click(
            stylize_fast_ui, inputs=[content, style, model_files, repo_id, strength, color, precision],
            outputs=[result, status], api_name="fast", concurrency_limit=1, concurrency_id="fast",
        )


def build_app() -> gr.Blocks:
    with gr.Blocks(title="Neural style transfer studio") as demo:
        gr.Markdown("# Neural style transfer studio\nRestyle photos with the look of another image.")
        image_tab()
        fast_tab()
    demo.queue(max_size=32)
    return demo


def main() -> None:
    logging.basicConfig(level=logging.INFO)
    build_app().launch(max_file_size="60mb", theme=gr.themes.Soft())


if __name__ == "__main__":
    main()
