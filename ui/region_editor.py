"""The region editor: its pictures handed to the run as they were sent, and decoded there, only as far as the
mask needs them.

Gradio 6.31's ImageEditor decodes its background, each layer and the composite when a run joins the queue, before
the run's estimate is made or its visitor's share counted: a 90 MP PNG region took 5 s and 3.5 GB there, and an
unpainted editor still decoded the content photo twice (it starts from the photo). Here the editor's value is the
files (a path, or the bytes of a layer sent ahead), the request's check reads their sizes from their headers and
counts them in its reading estimate, and the run decodes the layers' opacity, or the background when nothing is
painted; the composite, which the mask never uses, is not read at all.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, TypedDict

import gradio as gr
import numpy as np
from gradio.data_classes import FileData
from PIL import Image, ImageChops

from nst_core.image.io import ImageSource, image_size, load_alpha, load_image

from . import serving

LABEL = "region"
FORGOTTEN = "the region painted is no longer on the server (it is kept 10 minutes); paint it again."
# An unpainted editor holding the photo is told from an uploaded mask by this share of near-black or near-white.
BLACK_AND_WHITE = 0.9
LOOK_PIXELS = 256 * 256  # enough of the picture to tell a mask from a photo


class RegionFiles(TypedDict):
    """The editor's value as the run receives it."""

    background: ImageSource | None
    layers: list[ImageSource]


def _source(file: FileData | bytes | None) -> ImageSource | None:
    return file.path if isinstance(file, FileData) else file


class FilesEditor(gr.ImageEditor):
    """``gr.ImageEditor`` whose value is its files as sent (:class:`RegionFiles`), nothing decoded."""

    def get_block_name(self) -> str:  # the page draws Gradio's editor (the name picks the frontend's code)
        return "imageeditor"

    get_block_class = get_block_name

    def preprocess(self, payload: Any) -> RegionFiles | None:
        if payload is None:
            return None
        if payload.id is not None:  # layers sent ahead of the run (ui.editor_blobs bounds them)
            payload = self.blob_storage.pop(payload.id, None)
            if payload is None:
                raise gr.Error(FORGOTTEN)
        layers = [_source(layer) for layer in payload.layers or []]
        return {"background": _source(payload.background), "layers": [layer for layer in layers if layer]}


RegionEditor = serving.lenient(FilesEditor)


def region_files(value: RegionFiles | None) -> list[ImageSource]:
    """Every picture of the editor's value that a run may read: the background, then the layers."""
    if not value:
        return []
    return [file for file in (value.get("background"), *value.get("layers", [])) if file is not None]


def painted(layers: Sequence[ImageSource]) -> np.ndarray | None:
    """White where any layer is opaque (at the first painted layer's size), None where nothing is painted."""
    union = None
    for layer in layers:
        alpha = load_alpha(layer, label=f"{LABEL} layer")
        if alpha is None:
            continue  # a layer without opacity paints nothing
        union = alpha if union is None else ImageChops.lighter(union, alpha.resize(union.size, Image.NEAREST))
    if union is None or union.getbbox() is None:
        return None
    return (np.asarray(union) > 0).astype(np.uint8) * 255


def is_the_photo(background: ImageSource, photo_size: tuple[int, int] | None) -> bool:
    """Whether an unpainted editor holds the content photo (it starts from it) rather than an uploaded mask: the
    photo's size from the header, and not black and white, seen at a small size."""
    if photo_size is None or image_size(background, label=LABEL) != tuple(photo_size):
        return False
    levels = np.asarray(load_image(background, label=LABEL, max_pixels=LOOK_PIXELS).image.convert("L"))
    return float(((levels < 32) | (levels > 223)).mean()) < BLACK_AND_WHITE


def region_mask(value: RegionFiles | None, photo_size: tuple[int, int] | None = None) -> ImageSource | None:
    """The run's region mask from the editor: painted strokes where there are any, else the uploaded picture
    itself (a black-and-white mask); None when the editor is empty or holds only the content photo of
    ``photo_size`` (width, height)."""
    if not value:
        return None
    strokes = painted(value.get("layers", []))
    if strokes is not None:
        return strokes
    background = value.get("background")
    return None if background is None or is_the_photo(background, photo_size) else background
