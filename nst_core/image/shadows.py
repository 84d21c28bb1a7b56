"""How much of the shadow matching a result keeps: as much as the loss allows."""

from __future__ import annotations

import torch

from ..losses import Objective

SHADOW_SHARES = (1.0, 0.75, 0.5, 0.25)  # how much of the shadow matching to try, most first


def judged_shadows(objective: Objective, matched: torch.Tensor, plain: torch.Tensor) -> torch.Tensor:
    """As much of the shadow matching as the loss allows: the largest share of it that is not further from both
    the content and the style than no matching (the boston photo under udnie keeps 3/4 or less of it, which
    still lifts most crushed blacks; a deep-sky style gets none)."""
    for share in SHADOW_SHARES:
        candidate = plain + share * (matched - plain)
        if not worse_on_both(objective, candidate, plain):
            return candidate
    return plain


def worse_on_both(objective: Objective, candidate: torch.Tensor, reference: torch.Tensor) -> bool:
    """Whether ``candidate`` is further than ``reference`` from both the content and the style, by the loss.

    Matching the shadows to a style that is mostly black (a deep-sky photo) darkens most of a photo's shadows
    and costs both distances (the cat and the coffee cup: content 0.60 -> 0.76, style 0.34 -> 0.40 at 256 px);
    where it lifts crushed blacks toward a lighter style it trades a little of one distance for the other, and
    stays."""
    with torch.no_grad():
        _, matched = objective(candidate)
        _, plain = objective(reference)
    style = ("style", "style_outside")
    return (matched.get("content", 0.0) > plain.get("content", 0.0)
            and sum(matched.get(n, 0.0) for n in style) > sum(plain.get(n, 0.0) for n in style))
