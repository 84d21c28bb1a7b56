"""The style hold: a larger result is at least as stylized as a smaller one of the same run."""

from __future__ import annotations


class StyleHold:
    """Keeps scales above ``size`` at least as stylized as the scale of that size.

    A larger scale sees the same style image larger, and the style's big structures (brush strokes, mosaic
    cells) then span more pixels than VGG's mid layers see at once: at fixed weights the content wins more of
    the trade-off and the result is less stylized than the smaller one (style distance 0.17 at 256 px against
    0.09 at 128 px for the cat and the mosaic, small cells repeating where the smaller result has large ones).
    So the style distance reached at ``size`` is the floor. Above it, every ``CHECK`` steps, a scale whose
    style distance, going on at the pace of its last ``CHECK`` steps, would end above the floor multiplies
    the style terms' weight by ``FACTOR``, carried on to larger scales. Judging by the pace matters: a scale
    starts from the smaller result enlarged, whose style distance at the new size is about twice the floor
    until the refinement sharpens it, and on most reference pairs it ends well below the floor unaided.
    """

    CHECK, FACTOR = 10, 1.5
    STYLE_TERMS = ("style", "style_outside")

    def __init__(self, size: int | None) -> None:
        self.size, self.floor, self.boost = size, None, 1.0
        self.previous: float | None = None  # style distance at the last check of this scale

    def scales(self) -> dict[str, float]:
        return dict.fromkeys(self.STYLE_TERMS, self.boost)

    def reached(self, long_side: int, terms: dict[str, float]) -> None:
        """At the end of a scale: one no larger than ``size`` sets the floor for those above."""
        self.previous = None
        if self.size is not None and long_side <= self.size:
            self.floor = terms.get("style")

    def raise_weight(self, long_side: int, step: int, steps: int, terms: dict[str, float]) -> bool:
        """After ``step`` (0-based) of ``steps`` at a scale above ``size``: raise the style weight if, going on
        at the pace of the last ``CHECK`` steps, the style would end this scale behind the floor."""
        if self.floor is None or long_side <= self.size or (step + 1) % self.CHECK:
            return False
        style, previous = terms.get("style", 0.0), self.previous
        self.previous = style
        if previous is None or style - (previous - style) / self.CHECK * (steps - step - 1) <= self.floor:
            return False
        self.boost *= self.FACTOR
        return True

    def notices(self) -> list[str]:
        if self.boost == 1.0:
            return []
        return [f"Above {self.size} px the style weight was raised {self.boost:.2g}x to keep the style the "
                f"{self.size} px scale reached (a larger result otherwise comes out less stylized)."]
