"""Widgets made from a settings dataclass's declarations, and the settings made back from their values.

Each offered field (``basic`` or ``advanced``, see :mod:`nst_core.options`) becomes one widget named after the
field: its label, help, range (narrowed by the server's budget), step and choices are the declaration's, and so
are the client API's parameter name, type, default and description. A ``model`` field is two widgets, an
upload (``<field>_files``) and a Hub repo id (``<field>_repo_id``): typed text is never read as a server path.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import gradio as gr

from nst_core.options import Declared, declarations, value_from
from nst_core.sources import model_source

from . import state
from .serving import Checkbox, Dropdown, File, Number, Radio, Slider, Textbox

SLIDER_MOST_STEPS = 10_000  # an integer range wider than this is typed, not slid


def describe(field: Declared) -> str:
    """The help line the widget and the client API show: the declaration's help, then its range."""
    low, high = field.setting.minimum, field.maximum(state.BUDGET.limit)
    parts = [field.setting.help]
    if low is not None and high is not None:
        parts.append(f"{low:g} to {high:g}{field.setting.unit}")
    if field.optional and "empty" not in field.setting.help:
        parts.append("empty: the default")
    return "; ".join(part for part in parts if part)


class Form:
    """The widgets of ``cls``'s offered fields, made where :meth:`render` is called, and the settings back.

    ``defaults`` replace the dataclass's defaults (an audio backend's own weights and steps); ``skip`` and
    ``only`` split one dataclass's fields between forms (shared widgets, and a sub-tab's own)."""

    def __init__(self, cls: type, *, defaults: Mapping[str, Any] | None = None, skip: tuple[str, ...] = (),
                 only: tuple[str, ...] | None = None) -> None:
        self.cls = cls
        self.fields = {f.name: f for f in declarations(cls) if f.offered() and f.kind != "picture"
                       and f.name not in skip and (only is None or f.name in only)}
        self.defaults = dict(defaults or {})
        self.widgets: dict[str, gr.components.Component] = {}

    def render(self, *names: str) -> None:
        """Widgets for the fields ``names``, side by side when there are several."""
        if len(names) == 1:
            self._make(self.fields[names[0]])
            return
        with gr.Row():
            for name in names:
                self._make(self.fields[name])

    def render_panel(self, panel: str, per_row: int = 3) -> None:
        """Widgets for every field of ``panel`` not rendered yet, ``per_row`` to a row; a slider gets a row of its
        own (beside others it is squeezed into a scroll box)."""
        left = [name for name, f in self.fields.items() if f.setting.panel == panel and name not in self._made()]
        row: list[str] = []
        for name in left:
            if slides(self.fields[name]):
                self.render(name)
                continue
            row.append(name)
            if len(row) == per_row:
                self.render(*row)
                row = []
        if row:
            self.render(*row)

    def inputs(self) -> dict[str, gr.components.Component]:
        """The client API's parameters: widget by name (a model field's two widgets under their own names)."""
        missing = [name for name in self.fields if name not in self._made()]
        if missing:
            raise RuntimeError(f"{self.cls.__name__}: fields never rendered: {', '.join(missing)}")
        # In declaration order, whatever the layout: the API lists the fields as the dataclass does.
        order = [n for name, f in self.fields.items()
                 for n in ((f"{name}_files", f"{name}_repo_id") if f.kind == "model" else (name,))]
        return {name: self.widgets[name] for name in order}

    def values(self, given: Mapping[str, Any]) -> dict[str, Any]:
        """The fields' values from an endpoint's named values: parsed, empty optional ones as None."""
        out: dict[str, Any] = {}
        for name, field in self.fields.items():
            if field.kind == "model":
                out[name] = model_source(given.get(f"{name}_repo_id"), uploads=given.get(f"{name}_files") or ())
            elif name in given:
                out[name] = value_from(field, given[name])
            else:  # a caller that leaves a value out gets what the widget starts at
                out[name] = self.defaults.get(name, field.default)
        return out

    def shown(self, values: Mapping[str, Any]) -> dict[str, Any]:
        """What the widgets show for settings ``values`` (parsed, as the dataclass holds them), by widget name;
        the fields ``values`` lacks, and model fields, are left out."""
        return {name: widget_value(field, values[name]) for name, field in self.fields.items()
                if name in values and field.kind != "model"}

    def settings(self, given: Mapping[str, Any], **fixed: Any) -> Any:
        """An instance of the settings class from an endpoint's named values (``fixed`` set by the app)."""
        return self.cls(**{**self.values(given), **fixed})

    def _made(self) -> set[str]:
        return {name.removesuffix("_files").removesuffix("_repo_id") if name not in self.fields else name
                for name in self.widgets}

    def _make(self, field: Declared) -> None:
        default = self.defaults.get(field.name, field.default)
        for name, widget in widget_for(field, default).items():
            self.widgets[name] = widget


def slides(field: Declared) -> bool:
    """Whether a number field is offered as a slider: bounded, not optional, and stepped or a short integer range."""
    if field.kind not in ("integer", "number"):
        return False
    low, high = field.setting.minimum, field.maximum(state.BUDGET.limit)
    if low is None or high is None or field.optional:
        return False
    return bool(field.setting.step) or (field.kind == "integer" and high - low <= SLIDER_MOST_STEPS)


def widget_value(field: Declared, value: Any) -> Any:
    """What a field's widget shows for a settings value: a tuple as its text ("2, 1"), None as an empty text."""
    if field.kind in ("integers", "numbers", "names"):
        return ", ".join(map(str, value)) if value else ""
    if field.kind == "flag":
        return bool(value)
    if field.kind in ("integer", "number", "choice"):
        return value
    return value or ""


def widget_for(field: Declared, default: Any) -> dict[str, gr.components.Component]:
    """The widget(s) one declared field is offered with, keyed by their client-API names."""
    spec, info = field.setting, describe(field)
    label = spec.label + (f" ({spec.unit.strip()})" if spec.unit else "")
    low, high = spec.minimum, field.maximum(state.BUDGET.limit)
    integer = field.kind == "integer"
    if field.kind in ("integer", "number"):
        if slides(field):
            widget = Slider(low, high, value=default, step=spec.step or 1, label=label, info=spec.help or None,
                            precision=0 if integer else None)
        else:
            widget = Number(default, label=label, info=info, minimum=low, maximum=high,
                            precision=0 if integer else None)
    elif field.kind == "choice":
        labels = spec.choice_labels or tuple(map(str, field.choices))
        choices = list(zip(labels, field.choices))
        kind = Radio if len(choices) <= 5 else Dropdown
        widget = kind(choices, value=default, label=label, info=spec.help or None)
        if all(isinstance(c, (int, float)) for c in field.choices):
            widget.api_extra = {"type": "number"}
    elif field.kind == "flag":
        widget = Checkbox(widget_value(field, default), label=label, info=spec.help or None)
    elif field.kind in ("integers", "numbers", "names"):
        widget = Textbox(widget_value(field, default), label=label, info=info)
        default = ", ".join(map(str, default or spec.example or ()))
    elif field.kind == "model":
        files = File(label=f"{label}: model.safetensors + config.json", file_count="multiple", value=[],
                     file_types=[".safetensors", ".json"], type="filepath")
        repo = Textbox("", label="or a Hub repo id", placeholder="user/model-name", info=spec.help or None)
        files.api_extra = {"description": "uploads: one model.safetensors and its config.json (optional)"}
        repo.api_extra = {"description": "a Hugging Face Hub repo id such as 'user/model-name' (optional)"}
        files.api_example, repo.api_example = [], ""
        return {f"{field.name}_files": files, f"{field.name}_repo_id": repo}
    else:
        widget = Textbox(widget_value(field, default), label=label, info=info)
    widget.api_extra = {**widget.api_extra, "description": info}
    example = spec.example if default is None else default
    if example is not None:  # the API page shows a value a user would send, not the range's lower end
        widget.api_example = example
    return {field.name: widget}
