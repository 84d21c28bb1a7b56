"""What a visitor may leave in the server's memory through the region editor: bounded.

Gradio 6.31's ImageEditor can send its layers to the server ahead of a run (``/gradio_api/component_server``,
``accept_blobs``), which keeps them in memory under an id until a run reads them. It grew the list of layers to
whatever index a request named (index 10^7 held 80 MB; 2*10^9 would ask for 16 GB, from one small request) and
kept every id no run read, for the life of the process. :func:`bound_editor_blobs` refuses an index past
:data:`LAYERS`, another kind of blob, a long id, a request without exactly one file or a picture claiming more
pixels than the budget decodes, forgets an id after :data:`KEPT_S`, and keeps :data:`HELD_BYTES` at most, the
oldest dropped first (installed by :mod:`.endpoint`); a run whose layers were dropped is refused with a message
saying to paint the region again (:mod:`.region_editor`).
"""

from __future__ import annotations

import threading
import time
from typing import Any

import gradio as gr
from gradio.components.image_editor import AcceptBlobs
from starlette.exceptions import HTTPException

from . import serving

LAYERS = 8                # a layer's index must be below this
KINDS = ("background", "layer", "composite")
ID_CHARACTERS = 64        # the page makes ids of about 11
KEPT_S = 600.0            # a run reads its layers at once (when it joins the queue)
HELD_BYTES = 256 * 2**20  # every editor's layers together
_accept = gr.ImageEditor.accept_blobs
_lock = threading.Lock()


def _refusal(fields: dict, files: list) -> str | None:
    index = fields.get("index")
    if fields.get("type") not in KINDS:
        return "A layer's kind is background, layer or composite."
    if index not in (None, "", "null") and not (str(index).isdigit() and int(index) < LAYERS):
        return f"A layer's index is below {LAYERS}."
    if not isinstance(fields.get("id"), str) or not 0 < len(fields["id"]) <= ID_CHARACTERS:
        return f"A layer's id is 1 to {ID_CHARACTERS} characters."
    if len(files) != 1:
        return "Send one file per layer."
    # Decoded by Gradio when a run reads it: a 430 kB PNG can claim 400 MP (7 GB decoded).
    return serving.too_many_pixels(files[0][1], "layer")


def _size(blobs: Any) -> int:
    if blobs is None:  # read by a run meanwhile
        return 0
    return sum(len(blob) for blob in (blobs.background, blobs.composite, *blobs.layers) if isinstance(blob, bytes))


def _forget_old(editor: gr.ImageEditor) -> None:
    """Drop the ids sent more than :data:`KEPT_S` ago, then the oldest until :data:`HELD_BYTES` are held."""
    sent: dict[str, float] = editor.__dict__.setdefault("_blobs_sent", {})
    for key in [key for key in sent if key not in editor.blob_storage]:
        del sent[key]  # read by a run
    now = time.monotonic()
    held = sum(_size(blobs) for blobs in editor.blob_storage.values())
    for key in sorted(sent, key=sent.get):
        if now - sent[key] <= KEPT_S and held <= HELD_BYTES:
            break
        held -= _size(editor.blob_storage.pop(key, None))
        del sent[key]


def accept_blobs(self: gr.ImageEditor, data: AcceptBlobs) -> None:
    refusal = _refusal(data.data, data.files)
    if refusal:
        raise HTTPException(status_code=400, detail=refusal)
    with _lock:
        self.__dict__.setdefault("_blobs_sent", {}).setdefault(data.data["id"], time.monotonic())
        _accept(self, data)
        _forget_old(self)


accept_blobs._is_server_fn = True  # type: ignore[attr-defined] - how Gradio finds a component's server functions


def bound_editor_blobs() -> None:
    """Install it (idempotent: it always wraps Gradio's own method)."""
    gr.ImageEditor.accept_blobs = accept_blobs
