"""Style by region: a mask says where the style applies (after Gatys et al., CVPR 2017, spatial control).

White in the mask is the styled region; black is the rest, which keeps the content or takes a second style.
Each region's Gram matrices are computed on the mask downsampled to every layer (:func:`nst_core.losses.guided_gram`).
"""

from __future__ import annotations

import typing
from dataclasses import dataclass
from typing import Literal

import torch

from ..errors import InvalidInput, shown
from .io import ImageSource, load_image, resize_tensor, to_tensor

Outside = Literal["content", "second-style"]
OUTSIDE_CHOICES = typing.get_args(Outside)


@dataclass
class Regions:
    """The mask (1, 1, height, width) in [0, 1] at the content's aspect, and what happens outside it."""

    mask: torch.Tensor
    outside: Outside

    def at(self, size: tuple[int, int]) -> torch.Tensor:
        """The mask at (height, width)."""
        return resize_tensor(self.mask, size).clamp(0, 1)

    def split(self, styles: list) -> tuple[list, list]:
        """(styles inside, styles outside): with a second style, the first image inside and the second outside."""
        return (styles[:1], styles[1:2]) if self.outside == "second-style" else (styles, [])


def require_mask(outside: Outside, has_mask: bool) -> None:
    """Refuse a second style outside a region where no mask says where the region is."""
    if outside == "second-style" and not has_mask:
        raise InvalidInput("The region mask is missing: a second style outside the region needs one (white where "
                           "the first style goes).")


def load_regions(mask: ImageSource | None, outside: Outside,
                 content_size: tuple[int, int]) -> tuple[Regions | None, list[str]]:
    """The regions for a run (None without a mask) and any notices about the mask."""
    if outside not in OUTSIDE_CHOICES:
        raise InvalidInput(f"outside must be one of {', '.join(OUTSIDE_CHOICES)} (got {shown(outside)}).")
    require_mask(outside, mask is not None)
    if mask is None:
        return None, []
    loaded = load_image(mask, label="mask")
    grey = to_tensor(loaded.image.convert("L")).mean(dim=1, keepdim=True)
    notices = list(loaded.notices)
    width, height = content_size
    if abs(loaded.image.width / loaded.image.height - width / height) > 0.05 * width / height:
        notices.append("The mask's shape differs from the content's; it was stretched to fit.")
    grey = resize_tensor(grey, (height, width))
    if grey.max() - grey.min() < 0.5:
        raise InvalidInput("The mask has no white region (or no black one): paint where the style should go.")
    return Regions((grey - grey.min()) / (grey.max() - grey.min()), outside), notices
