"""Choosing a Fast style: the pretrained gallery, a custom model (uploads or a Hub repo id), the
:class:`~nst_core.FastSettings` form and the compile switch, shared by the picture, live and video endpoints."""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import gradio as gr

from nst_core import InvalidInput, weights
from nst_core.image import fast
from nst_core.sources import ModelSource, model_source

from . import state
from .figures import catalogue_thumbnail
from .form import Form
from .serving import Checkbox, File, Radio, Textbox

CUSTOM = "Custom model"


@dataclass
class StyleChoice:
    """The widgets that choose the network, shared by the picture, live and video endpoints."""

    style: gr.components.Component
    model_files: gr.components.Component
    repo_id: gr.components.Component
    compiled: gr.components.Component | None  # made by advanced_panel
    form: Form  # FastSettings: strength, colour, precision

    def inputs(self) -> dict[str, gr.components.Component]:
        return {"style": self.style, "model_files": self.model_files, "repo_id": self.repo_id, **self.form.inputs()}


def chosen_model(values: Mapping[str, Any]) -> fast.FastModel:
    """The network a request's ``style`` (and, for a custom model, its uploads or repo id) chooses."""
    source = model_source(values.get("repo_id"), uploads=values.get("model_files") or ())
    return resolve_fast_model(values.get("style"), source)


@functools.lru_cache(maxsize=4)
def resolve_fast_model(style: object, source: ModelSource | None) -> fast.FastModel:
    """A catalogue title's network, or the custom model ``source`` names; the last few are kept, so that a
    stream of frames does not re-read an upload each time (and keeps hitting the prepared-copy cache)."""
    if style != CUSTOM:
        if style not in fast.CATALOGUE:
            raise InvalidInput(f"style must be one of {', '.join([*fast.CATALOGUE, CUSTOM])} (got {style!r}).")
        return fast.load_catalogue_style(style)
    if source is None:
        raise InvalidInput("For a custom model, upload model.safetensors + config.json or type a Hub repo id.")
    return fast.load_user_model(source)


def compiled(values: Mapping[str, Any]) -> fast.Compiler | None:
    """The app's compiled network when the request asks for it (and the platform allows it)."""
    return state.FAST_COMPILER if values.get("compiled", True) is not False else None


def usable_styles() -> dict[str, bool]:
    """Per catalogue title, whether its network can be had here now (on disk, or downloadable)."""
    return {title: weights.status(style.key).state not in ("unavailable", "failed")
            for title, style in fast.CATALOGUE.items()}


def availability_note(usable: dict[str, bool]) -> str:
    """One plain sentence for styles that cannot run here, and how to get them; empty when all can."""
    missing = [title for title, ok in usable.items() if not ok]
    if not missing:
        return ""
    which = "None of the pretrained styles" if len(missing) == len(usable) else ", ".join(missing)
    return (f"**{which} can run on this server right now:** their networks are not downloaded and the Hugging Face "
            "Hub cannot be reached. Use a model of your own (*Custom model* below), or see *Models* at the foot "
            "of the tab for how to fetch them.")


def style_choice() -> StyleChoice:
    """The style gallery and radio, the custom model's inputs, the settings form and the compile switch. Styles
    whose networks cannot be had here are marked so before anyone presses a button."""
    titles, usable = list(fast.CATALOGUE), usable_styles()
    gallery = gr.Gallery([(catalogue_thumbnail(t, state.IMAGES / "chelsea.jpg"), t) for t in titles],
                         label="Pretrained styles (click to choose)", columns=4, height=220, allow_preview=False)
    gr.Markdown(availability_note(usable), elem_classes="availability")
    labels = [t if usable[t] else f"{t} (not available here)" for t in titles]
    first = next((t for t in titles if usable[t]), CUSTOM)
    style = Radio([*zip(labels, titles), (CUSTOM, CUSTOM)], value=first, label="Style",
                  info="a pretrained style, or a model of your own (below)")
    with gr.Accordion("Custom model", open=first == CUSTOM):
        model_files = File(label="model.safetensors + config.json", file_count="multiple", value=[],
                           file_types=[".safetensors", ".json"], type="filepath")
        model_files.api_extra = {"description": "with style 'Custom model': model.safetensors and its config.json"}
        repo_id = Textbox("", label="or a Hub repo id", placeholder="user/my-style")
        repo_id.api_extra = {"description": "with style 'Custom model': a Hub repo id such as 'user/my-style'"}
        model_files.api_example, repo_id.api_example = [], ""
    form = Form(fast.FastSettings)
    form.render_panel("basic", per_row=1)  # side by side, the strength slider is squeezed into a scroll box

    def pick(event: gr.SelectData) -> str:
        return titles[event.index]

    def show(chosen: str) -> gr.Gallery:  # one choice, shown in both places
        return gr.Gallery(selected_index=titles.index(chosen) if chosen in titles else None)

    gallery.select(pick, None, style, api_visibility="private")
    style.change(show, style, gallery, api_visibility="private", queue=False)
    return StyleChoice(style, model_files, repo_id, None, form)


def advanced_panel(choice: StyleChoice) -> None:
    """The Advanced accordion: the settings' advanced fields and the compile switch."""
    with gr.Accordion("Advanced", open=False):
        choice.form.render_panel("advanced")
        choice.compiled = Checkbox(value=True, label="Compiled network",
                                   info="torch.compile: about 2x faster on CPU. Compiled at start-up for precision "
                                        "auto; fp32 compiles on its first use (about 20 s)")
