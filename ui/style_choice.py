"""Choosing a Fast style: any picture (one pass, offline), the 26 built-in styles, the pretrained gallery, a custom
model (uploads or a Hub repo id), the :class:`~nst_core.FastSettings` form and the compile switch, shared by the
picture, live and video endpoints."""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import gradio as gr

from nst_core import InvalidInput
from nst_core.errors import shown
from nst_core.image import fast, onepass
from nst_core.image.io import read_megapixels
from nst_core.options import parse_numbers
from nst_core.sources import ModelSource, model_source

from . import state
from .endpoint import checked_picture
from .figures import catalogue_thumbnail, multistyle_thumbnails
from .form import Form
from .models import UNAVAILABLE, can_be_had
from .serving import Checkbox, File, Radio, Textbox

ANY = "Any picture"
MIX = "26 styles"
CUSTOM = "Custom model"
EXAMPLE_STYLES = ("style_mosaic.jpg", "style_waves.jpg", "style_swirls.jpg")


@dataclass
class StyleChoice:
    """The widgets that choose the network, shared by the picture, live and video endpoints."""

    style: gr.components.Component
    style_images: gr.components.Component
    style_blend: gr.components.Component
    style_mix: gr.components.Component
    model_files: gr.components.Component
    repo_id: gr.components.Component
    compiled: gr.components.Component | None  # made by advanced_panel
    form: Form  # FastSettings: strength, colour, precision

    def inputs(self) -> dict[str, gr.components.Component]:
        return {"style": self.style, "style_images": self.style_images, "style_blend": self.style_blend,
                "style_mix": self.style_mix, "model_files": self.model_files, "repo_id": self.repo_id,
                **self.form.inputs()}


def style_pictures(values: Mapping[str, Any]) -> tuple[str, ...]:
    """The style pictures of an *Any picture* request; refused when there are none."""
    paths = tuple(str(p) for p in values.get("style_images") or () if p)
    if values.get("style") == ANY and not paths:
        raise InvalidInput("For Any picture, upload one or more style pictures (or click an example style).")
    return paths


def chosen_model(values: Mapping[str, Any]) -> fast.FastModel:
    """The network a request's ``style`` chooses: any picture(s) with their blend weights, a mix of the 26 styles,
    a catalogue style, or a custom model (its uploads or repo id)."""
    style = values.get("style")
    if style == ANY:
        return any_picture(style_pictures(values), str(values.get("style_blend") or ""))
    if style == MIX:
        return mix_model(str(values.get("style_mix") or "0"))
    source = model_source(values.get("repo_id"), uploads=values.get("model_files") or ())
    return resolve_fast_model(style, source)


def check_style(values: Mapping[str, Any]) -> None:
    """Refuse, before queueing, a style that cannot be used: no style picture or too many, one too large to
    decode, blend weights that do not fit, a mix that does not parse, a custom model's files or repo id that are
    not one. Runs no network."""
    paths = style_pictures(values)
    if values.get("style") == ANY:
        onepass.styles.check_style_count(len(paths))
        for path in paths:
            checked_picture(path, "style image")
        blend = str(values.get("style_blend") or "")
        if blend.strip():
            onepass.styles.blend_weights(parse_numbers(blend, "style blend weights", integer=False), len(paths))
    elif values.get("style") == MIX:
        onepass.parse_mix(str(values.get("style_mix") or "0"))
    elif values.get("style") == CUSTOM:
        model_source(values.get("repo_id"), uploads=values.get("model_files") or ())


def style_reading(values: Mapping[str, Any]) -> list[tuple[float, float]]:
    """What reading an *Any picture* request's style pictures decodes, for its estimate (see
    :func:`nst_core.cost.reading_cost`); nothing for the other styles, whose networks are loaded once."""
    if values.get("style") != ANY:
        return []
    return [read_megapixels(path, label="style image", max_pixels=onepass.styles.style_pixels(path))
            for path in style_pictures(values)]


def cost_network(values: Mapping[str, Any]) -> str:
    """Which fitted cost model a request's style runs on (see :func:`nst_core.cost.fast_key`)."""
    return {ANY: "onepass-any", MIX: "onepass-26"}.get(values.get("style"), "fast")


@functools.lru_cache(maxsize=8)
def any_picture(paths: tuple[str, ...], blend: str) -> fast.FastModel:
    """The last few *Any picture* models: a stream of frames computes its style vector once, not per frame."""
    weights = parse_numbers(blend, "style blend weights", integer=False) if blend.strip() else None
    return onepass.any_picture_model(paths, weights)


@functools.lru_cache(maxsize=8)
def mix_model(mix: str) -> fast.FastModel:
    return onepass.multistyle_model(mix)


@functools.lru_cache(maxsize=4)
def resolve_fast_model(style: object, source: ModelSource | None) -> fast.FastModel:
    """A catalogue title's network, or the custom model ``source`` names; the last few are kept, so that a
    stream of frames does not re-read an upload each time (and keeps hitting the prepared-copy cache)."""
    if style != CUSTOM:
        if style not in fast.CATALOGUE:
            raise InvalidInput(f"style must be one of {', '.join([ANY, MIX, *fast.CATALOGUE, CUSTOM])} "
                               f"(got {shown(style)}).")
        return fast.load_catalogue_style(style)
    if source is None:
        raise InvalidInput("For a custom model, upload model.safetensors + config.json or type a Hub repo id.")
    return fast.load_user_model(source)


def compiled(values: Mapping[str, Any]) -> fast.Compiler | None:
    """The app's compiled network when the request asks for it (and the platform allows it)."""
    return state.FAST_COMPILER if values.get("compiled", True) is not False else None


def runs_compiled(values: Mapping[str, Any]) -> bool:
    """Whether the request's passes would run compiled now, for its cost: not while a graph is being built."""
    compiler = compiled(values)
    return compiler is not None and compiler.ready


def usable_styles() -> dict[str, bool]:
    """Per catalogue title, whether its network can be had here now (on disk, or downloadable)."""
    return {title: can_be_had(style.key) for title, style in fast.CATALOGUE.items()}


def availability_note(usable: dict[str, bool]) -> str:
    """One plain sentence for styles that cannot run here, and how to get them; empty when all can."""
    missing = [title for title, ok in usable.items() if not ok]
    if not missing:
        return ""
    which = "None of the pretrained styles" if len(missing) == len(usable) else ", ".join(missing)
    return (f"**{which} can run on this server right now:** their networks are not downloaded and the Hugging Face "
            "Hub cannot be reached. *Any picture* and the *26 styles* always work; or use a model of your own "
            "(*Custom model*), or see *Models* at the foot of the tab for how to fetch them.")


def described(component: gr.components.Component, description: str, example: Any) -> gr.components.Component:
    """``component`` with what the client API and MCP say of it, and the example value they show."""
    component.api_extra = {"description": description}
    component.api_example = example
    return component


def style_choice() -> StyleChoice:
    """The style radio (any picture first: it always works), the inputs of each kind of style, the settings form and
    the compile switch. Pretrained styles whose networks cannot be had here are marked so before any click."""
    titles, usable = list(fast.CATALOGUE), usable_styles()
    labels = [t if usable[t] else t + UNAVAILABLE for t in titles]
    style = Radio([(ANY, ANY), (MIX, MIX), *zip(labels, titles), (CUSTOM, CUSTOM)], value=ANY, label="Style",
                  info="any picture as the style, one of 26 built-in styles, a pretrained network, or your own model")
    with gr.Group(visible=True) as any_group:
        style_images = described(File(label="Style pictures (one or more)", file_count="multiple",
                                      file_types=["image"], type="filepath",
                                      value=[str(state.IMAGES / EXAMPLE_STYLES[0])]),
                                 "with style 'Any picture': one or more style pictures", [])
        examples = gr.Gallery([(str(state.IMAGES / name), name.removeprefix("style_").removesuffix(".jpg"))
                               for name in EXAMPLE_STYLES], label="Example styles: click one", columns=6, height=120,
                              allow_preview=False)
        style_blend = described(Textbox("", label="Blend weights", placeholder="e.g. 2, 1 (empty: equal)",
                                        info="with several style pictures: one weight each"),
                                "with several style pictures: one weight each, e.g. '2, 1' (empty: equal)", "")
    with gr.Group(visible=False) as mix_group:
        mix_gallery = gr.Gallery([(t, f"style {i}") for i, t in enumerate(multistyle_thumbnails(
            state.IMAGES / "chelsea.jpg"))], label="26 built-in styles (click to choose)", columns=7, height=240,
            allow_preview=False)
        style_mix = described(Textbox("0", label="Style or mix", placeholder="7, or 3:0.5, 12:0.5",
                                      info="a style's number (0-25), or several with weights"),
                              "with style '26 styles': a number 0-25, or a mix such as '3:0.5, 12:0.5'", "0")
    gallery = gr.Gallery([(catalogue_thumbnail(t, state.IMAGES / "chelsea.jpg"), t) for t in titles],
                         label="Pretrained styles (click to choose)", columns=4, height=220, allow_preview=False)
    gr.Markdown(availability_note(usable), elem_classes="availability")
    with gr.Accordion("Custom model", open=False) as custom:
        model_files = described(File(label="model.safetensors + config.json", file_count="multiple", value=[],
                                     file_types=[".safetensors", ".json"], type="filepath"),
                                "with style 'Custom model': model.safetensors and its config.json", [])
        repo_id = described(Textbox("", label="or a Hub repo id", placeholder="user/my-style"),
                            "with style 'Custom model': a Hub repo id such as 'user/my-style'", "")
    form = Form(fast.FastSettings)
    form.render_panel("basic", per_row=1)  # side by side, the strength slider is squeezed into a scroll box

    def pick(event: gr.SelectData) -> str:
        return titles[event.index]

    def pick_mix(event: gr.SelectData) -> tuple[str, str]:
        return MIX, str(event.index)

    def show(chosen: str) -> tuple:  # one choice, shown in every place
        return (gr.Gallery(selected_index=titles.index(chosen) if chosen in titles else None),
                gr.Group(visible=chosen == ANY), gr.Group(visible=chosen == MIX), gr.Accordion(open=chosen == CUSTOM))

    def pick_example(event: gr.SelectData) -> list[str]:
        return [str(state.IMAGES / EXAMPLE_STYLES[event.index])]

    gallery.select(pick, None, style, api_visibility="private")
    examples.select(pick_example, None, style_images, api_visibility="private")
    mix_gallery.select(pick_mix, None, [style, style_mix], api_visibility="private")
    style.change(show, style, [gallery, any_group, mix_group, custom], api_visibility="private", queue=False)
    return StyleChoice(style, style_images, style_blend, style_mix, model_files, repo_id, None, form)


def advanced_panel(choice: StyleChoice) -> None:
    """The Advanced accordion: the settings' advanced fields and the compile switch."""
    with gr.Accordion("Advanced", open=False):
        choice.form.render_panel("advanced")
        choice.compiled = Checkbox(value=True, label="Compiled network",
                                   info="torch.compile: about 2x faster on CPU. Compiled at start-up for precision "
                                        "auto; fp32 compiles on its first use (about 20 s)")
