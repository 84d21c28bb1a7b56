"""Widgets and client-API parameters made from typed options (see ``nst_core.options``), and back; masks
painted in an image editor.

One widget per declared option, named after its field; a ``model`` option is two widgets (an upload and a
Hub repo id), named ``<field>_files`` and ``<field>_repo_id``. Uploaded files are the only local paths a
remote user can reach; typed text is always read as a Hub repo id.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Any

import gradio as gr
import numpy as np

from nst_core import hub
from nst_core.options import Option, options_of, parse_integers, real, whole
from serving import Checkbox, File, Number, Radio, Slider


def option_names(options_type: type) -> tuple[str, ...]:
    """The client API's parameter names for an options dataclass, in widget order."""
    names: list[str] = []
    for name, spec, _ in options_of(options_type):
        names += [f"{name}_files", f"{name}_repo_id"] if spec.kind == "model" else [name]
    return tuple(names)


def option_widgets(options_type: type) -> list[gr.components.Component]:
    """One widget per option (two for a model), each labelled and ranged as its field declares."""
    widgets: list[gr.components.Component] = []
    for _, spec, default in options_of(options_type):
        widgets += _widgets(spec, default)
    return widgets


def _widgets(spec: Option, default: Any) -> list[gr.components.Component]:
    info = spec.info or None
    if spec.kind == "integers":
        return [gr.Textbox(", ".join(map(str, default)), label=spec.label, info=info)]
    if spec.kind == "integer":
        return [Slider(spec.minimum, spec.maximum, value=default, step=spec.step or 1, label=spec.label, info=info)]
    if spec.kind == "number":
        return [Number(default, label=spec.label, info=info, minimum=spec.minimum, maximum=spec.maximum)]
    if spec.kind == "choice":
        return [Radio(list(spec.choices), value=default, label=spec.label, info=info)]
    if spec.kind == "flag":
        return [Checkbox(bool(default), label=spec.label, info=info)]
    return [File(label=f"{spec.label}: model.safetensors + config.json", file_count="multiple",
                    file_types=[".safetensors", ".json"], type="filepath"),
            gr.Textbox(label="or a Hub repo id", placeholder="user/model-name", info=info)]


def options_from(options_type: type, values: dict[str, Any], upload_dir: Path) -> Any:
    """The options instance for the widgets' ``values`` (keyed by :func:`option_names`)."""
    kwargs: dict[str, Any] = {}
    for name, spec, _ in options_of(options_type):
        if spec.kind == "model":
            kwargs[name] = model_source(values[f"{name}_files"], values[f"{name}_repo_id"], upload_dir)
        elif spec.kind == "integers":
            kwargs[name] = parse_integers(values[name], name)
        else:
            convert = {"integer": whole, "number": real}.get(spec.kind)
            kwargs[name] = convert(values[name], name) if convert else \
                bool(values[name]) if spec.kind == "flag" else str(values[name])
    return options_type(**kwargs)


def model_source(files: list[str] | None, repo_id: str | None, upload_dir: Path) -> str | None:
    """An uploaded model (copied beside its config, as the loaders expect) or a Hub repo id; never a server path."""
    uploads = [Path(f) for f in (files or [])]
    weights_files = [f for f in uploads if f.suffix == ".safetensors"]
    configs = [f for f in uploads if f.suffix == ".json"]
    if uploads:
        if len(weights_files) != 1 or len(configs) > 1 or len(uploads) != len(weights_files) + len(configs):
            raise gr.Error("Upload one model.safetensors (and optionally its config.json).")
        folder = Path(tempfile.mkdtemp(dir=upload_dir))
        shutil.copyfile(weights_files[0], folder / "model.safetensors")
        if configs:
            shutil.copyfile(configs[0], folder / "config.json")
        return str(folder / "model.safetensors")
    if repo_id and str(repo_id).strip():
        return hub.HUB_PREFIX + hub.parse_repo_id(repo_id)  # the prefix keeps 'a/b.safetensors' a repo id
    return None


def mask_from_editor(value: dict | None) -> np.ndarray | None:
    """A region mask from ``gr.ImageEditor``: painted strokes where there are any, else the uploaded picture
    itself (a black-and-white mask); None when the editor is empty."""
    if not value:
        return None
    strokes = [layer[..., 3] > 0 for layer in value.get("layers") or []
               if isinstance(layer, np.ndarray) and layer.ndim == 3 and layer.shape[2] == 4]
    if strokes and any(stroke.any() for stroke in strokes):
        return (np.logical_or.reduce(strokes) * 255).astype(np.uint8)
    background = value.get("background")
    if not isinstance(background, np.ndarray):
        return None
    return background[..., :3].mean(axis=2).astype(np.uint8) if background.ndim == 3 else background
