"""A balance between content and style that adapts to each pair, steered by the project's own scores.

One fixed pair of weights keeps a melody under a soft pad but drowns speech under an organ, and barely
moves a melody toward rain. Instead of fixed weights the user states a *style strength* in [0, 1];
it sets three targets, which the optimization reaches by re-weighting as it runs:

- the result's onset-strength envelope keeps a correlation of at least ``onset`` with the content's,
- its chroma keeps at least ``chroma`` where the content is audible (drums and noise too: their chroma is
  the colour of their hits, which a restyled loop should keep),
- its Gram distance to the style falls to ``gram_ratio`` of the content's own.

Every ``check_every`` steps the controller reads the three with the scores' own judge
(``metrics.Judge``) on a quick reconstruction of the current spectrogram (a few Griffin-Lim iterations
and the silence gate, as the result gets). Cheaper readings misled: the optimized network's own Gram
distance had fallen to a tenth after ten steps where the judge read 0.55 on the audio, and onsets and
chroma read up to 0.2 higher on the spectrogram than on the audio it becomes.

One factor on the style terms (Gram and long-term spectrum) does the steering, over 1/4096 to 4096: the
style weight is a thousand times the content's, so holding a pair like speech and rain needed factors
near 1/100. Content below target cuts it (see ``_cut``); content kept but style short of
its target and no longer moving (less than ``stall`` relative progress since the last reading) doubles
it (never on the first reading from the start or after a rewind: a fresh L-BFGS starts with tiny steps, and
reading those ten steps as a stall doubled speech under rain's factor when it needed a thirtieth, which cost it
80 steps to find again); once a factor has been seen on each side, the next is their geometric mean (a bisection: plain
halving and doubling went round in a cycle). All targets met ends the run early. Each change starts
L-BFGS afresh (kept across a change, its curvature pairs overshot). When the content is lost after it
had been kept, the run goes back to the best reading so far (content kept, then the most style) with
the smaller factor: pulling a result back toward its content by the gradient alone took a hundred
steps or never happened.
The result is the best reading's spectrogram, not merely the last one.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from .descriptors import Descriptors
from .metrics import BalanceScores, Judge

log = logging.getLogger(__name__)

# The controller aims this far past each content target: its quick reconstruction (16 Griffin-Lim
# iterations) and the result's (100 by default) read onsets and chroma a few hundredths apart.
MARGIN = 0.01
# And this far (relative) below the Gram target: random judges of other widths and kernels, which the run never
# sees, read up to 10 % above the panel it does read (speech under rain: 0.53 on a 256-filter, 21-frame net for
# 0.48 on the panel), so stopping at the target itself kept the promise only for the run's own judge.
GRAM_MARGIN = 0.1
# Readings of one result wobble by a few hundredths (speech under rain at one factor: onsets 0.79-0.83). Where the
# content is lost by at most NEAR_MISS at a factor within SETTLE_BRACKET of one that kept it, the controller holds
# at that factor and lets the optimizer run: circling the content's edge restarted L-BFGS every ten steps, and at
# fp32 (where the readings fell a hundredth lower than at bf16) the style never got further than 0.70 of the
# content's distance in 240 steps.
NEAR_MISS = 0.03
SETTLE_BRACKET = 1.5
# A cut of the style factor that shrinks the content's deficit by less than this has not helped. Two such cuts in a
# row end the run at its best reading: a 4 s piano clip's onsets read about 0.9 whatever the factor, and for
# strength 0.2's 0.92 the controller halved the factor twelve times while the style was lost (Gram ratio
# 0.39 -> 0.82) and every step to the cap was spent.
CUT_PROGRESS = 0.005
CUT_PER_HALVING, MAX_CUT, STYLE_MOVED = 0.03, 16.0, 0.95


@dataclass(frozen=True)
class BalanceTargets:
    onset: float        # least onset-envelope correlation with the content
    chroma: float       # least chroma correlation with the content (where it is audible)
    gram_ratio: float   # most style distance, as a fraction of the content's own

    @classmethod
    def for_strength(cls, strength: float) -> BalanceTargets:
        """Strength 0 keeps the content; 0.5 (the default) keeps onsets >= 0.8 and chroma >= 0.7 while
        halving the style distance; 1 asks for as much style as onsets >= 0.6 and chroma >= 0.5 allow."""
        return cls(onset=1.0 - 0.4 * strength, chroma=0.9 - 0.4 * strength, gram_ratio=1.0 - strength)


@dataclass(frozen=True)
class TargetOutcome:
    """One of the strength's targets: what was asked and what the result reached, as the run's scores read it."""

    name: str        # "onset", "chroma" or "gram_ratio"
    target: float
    reached: float

    @property
    def met(self) -> bool:
        return self.reached <= self.target if self.name == "gram_ratio" else self.reached >= self.target

    def fact(self) -> dict[str, float | bool]:
        return {"target": round(self.target, 4), "reached": round(self.reached, 4), "met": self.met}

    def notice(self, out_of_reach: bool = False) -> str:
        """The miss in plain words, with both numbers and what to change; ``out_of_reach``: the run found that
        less style did not bring the content closer, so a lower strength would not either."""
        lead, reading, advice = _MISSED[self.name]
        if out_of_reach and self.name != "gram_ratio":
            advice = OUT_OF_REACH
        return f"{lead}: {reading.format(reached=self.reached, target=self.target)}; {advice}."


OUT_OF_REACH = "less style did not bring it closer on this clip, so the run ended early at its best balance"
_MISSED = {  # target -> (what was missed, the reading, what to change)
    "onset": ("The rhythm is kept less than asked", "onset correlation {reached:.2f} for a target of {target:.2f}",
              "lower the strength to keep more"),
    "chroma": ("The notes are kept less than asked", "chroma {reached:.2f} for a target of {target:.2f}",
               "lower the strength to keep more"),
    "gram_ratio": ("The style is taken less than asked", "the Gram distance to the style is {reached:.2f} of the "
                   "content's own for a target of {target:.2f}", "raise the strength or the steps for more"),
}


def outcomes(targets: BalanceTargets, reached: BalanceScores) -> list[TargetOutcome]:
    """Each target beside the result's reading of it."""
    return [TargetOutcome("onset", targets.onset, reached.onset_correlation),
            TargetOutcome("chroma", targets.chroma, reached.chroma_correlation),
            TargetOutcome("gram_ratio", targets.gram_ratio, reached.gram_ratio)]


@dataclass(frozen=True)
class BalanceReading:
    step: int
    onset: float
    chroma: float
    gram_ratio: float
    style_scale: float  # the factor on the style terms when the reading was taken


class BalanceController:
    """Reads the targets on a quick reconstruction of the current result and says how to re-weight."""

    def __init__(self, targets: BalanceTargets, judge: Judge, render: Callable[[torch.Tensor], np.ndarray],
                 descriptors: Descriptors, content: torch.Tensor, *, check_every: int = 10, stall: float = 0.05,
                 max_scale: float = 4096.0) -> None:
        self.targets, self.judge, self.render = targets, judge, render
        self.check_every, self.stall, self.max_scale = check_every, stall, max_scale
        self.descriptors = descriptors
        self.content_onset = descriptors.onset(content)
        self.content_chroma = descriptors.chroma(content)
        self.style_scale = 1.0
        self.fresh = True  # no reading yet at this factor from this start: the first says nothing of a stall
        self.kept_scale: float | None = None  # the largest style factor seen keeping the content
        self.lost_scale: float | None = None  # the smallest seen losing it
        self.readings: list[BalanceReading] = []
        self.settled = False  # holding at the edge of the content (see SETTLE_BRACKET)
        self.last_cut: float | None = None  # the content's deficit at the last plain cut
        self.futile = 0  # plain cuts in a row that did not shrink it (see CUT_PROGRESS)
        self.out_of_reach = False  # the run ended because of them
        self.best: tuple[tuple[bool, float], BalanceReading, torch.Tensor] | None = None

    def read(self, step: int, x: torch.Tensor) -> BalanceReading:
        scores = self.judge.balance(self.render(x.detach()))
        reading = BalanceReading(step, scores.onset_correlation, scores.chroma_correlation, scores.gram_ratio,
                                 self.style_scale)
        self.readings.append(reading)
        deficit = self.content_deficit(reading)
        rank = (deficit > 0.0, deficit or reading.gram_ratio)  # content kept first, then the most style
        if self.best is None or rank < self.best[0]:
            self.best = (rank, reading, x.detach().clone())
        return reading

    def best_result(self, x: torch.Tensor) -> torch.Tensor:
        """The spectrogram of the best reading (content kept, then most style): a late overshoot is undone."""
        return x if self.best is None else self.best[2]

    def content_deficit(self, reading: BalanceReading) -> float:
        """How far the content scores fall short of their targets (plus the margin); 0 when both are met."""
        return max(0.0, self.targets.onset + MARGIN - reading.onset, self.targets.chroma + MARGIN - reading.chroma)

    def adjust(self, reading: BalanceReading) -> str:
        """'done' when every target holds or one is out of reach; 'rewind' to go on from :meth:`best_result`
        with less style; 'reweighted' after a change of weights; else 'continue'."""
        deficit = self.content_deficit(reading)
        kept, styled = deficit == 0.0, reading.gram_ratio <= self.targets.gram_ratio * (1.0 - GRAM_MARGIN)
        if kept and styled:
            return "done"
        if kept:  # the cuts so far brought the content back
            self.last_cut, self.futile = None, 0
        scale = self.style_scale
        if self.settled and deficit <= NEAR_MISS:
            return "continue"  # at the content's edge: readings wobble around it; the style needs unbroken steps
        self.settled = False
        if not kept and deficit <= NEAR_MISS and self.kept_scale and scale / self.kept_scale < SETTLE_BRACKET:
            self.settled = True  # hold at the last factor that kept the content instead of circling its edge
            self.style_scale = self.kept_scale
            return "reweighted"
        if not kept:
            self.lost_scale = min(self.lost_scale or scale, scale)
            if self.kept_scale and self.kept_scale < scale / 1.05**2:  # between it and the last that kept it
                wanted = math.sqrt(self.kept_scale * scale)
            else:  # nothing smaller is known to keep the content (from here): cut; far below, cut more
                self.kept_scale = None
                wanted = scale / self._cut(deficit, reading.gram_ratio)
                if self._out_of_reach(deficit):
                    return "done"
        else:
            if self.fresh:  # ten steps from the start or a rewind: a slow start, not a stall
                self.fresh = False
                return "continue"
            if reading.gram_ratio <= self.readings[-2].gram_ratio * (1.0 - self.stall):
                return "continue"  # still moving toward the style at this factor
            self.kept_scale = max(self.kept_scale or scale, scale)
            wanted = math.sqrt(scale * self.lost_scale) if self.lost_scale else scale * 2.0
        wanted = min(max(wanted, 1.0 / self.max_scale), self.max_scale)
        if abs(math.log(wanted / scale)) < math.log(1.05):
            return "continue"  # the search has closed in: the best reading stands
        self.style_scale = wanted
        # Pulling a result back to its content by its gradient is slow: go back to where the content was kept.
        rewind = not kept and self.best is not None and not self.best[0][0]
        self.fresh = rewind  # the next reading is then of another path than the last: it shows no stall
        return "rewind" if rewind else "reweighted"

    @staticmethod
    def _cut(deficit: float, gram_ratio: float) -> float:
        """How much to divide the factor by: a halving per CUT_PER_HALVING of deficit once the style has moved
        (speech under rain lost its onsets by 0.12 at factor 1 and kept them near 1/40: four halvings of ten
        steps each, one at a time, took a third of its steps); a halving while it has not, since the content lost
        then is the optimizer's first steps' doing, not the style's."""
        if gram_ratio > STYLE_MOVED:
            return 2.0
        return min(MAX_CUT, 2.0 ** max(1.0, deficit / CUT_PER_HALVING))

    def _out_of_reach(self, deficit: float) -> bool:
        """Count plain cuts that did not shrink the content's deficit since the previous one; the second in a row
        puts the content target out of this pair's reach."""
        moved = self.last_cut is None or deficit < self.last_cut - CUT_PROGRESS
        self.futile, self.last_cut = (0 if moved else self.futile + 1), deficit
        self.out_of_reach = self.futile >= 2
        if self.out_of_reach:
            log.info("balance: the content target is out of reach (two cuts of the style without effect)")
        return self.out_of_reach

    def descriptor_loss(self, x: torch.Tensor) -> torch.Tensor:
        """Content term on what the scores measure: relative error of the onset envelope and the chroma."""
        return (_relative(self.descriptors.onset(x), self.content_onset)
                + _relative(self.descriptors.chroma(x), self.content_chroma))


def _relative(value: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    return (value - target).pow(2).mean() / target.pow(2).mean().clamp_min(1e-12)
