"""The shapes every modality's job reports in: progress events, then one result.

Each ``iter_stylize_*`` yields :class:`Progress` subclasses (``done`` of ``total`` units: steps, tiles,
frames) and ends with a :class:`Result` subclass. Every result carries its running time, the runtime it ran
on, the settings record that repeats it, the notices a person reads, and the same facts as values
(``facts``) for code that must not parse prose.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Progress:
    done: int    # units finished so far, 1-based
    total: int   # the most there will be (a run may end sooner, e.g. once the audio balance is reached)


@dataclass(kw_only=True)
class Result:
    seconds: float
    runtime: str
    settings: dict = field(default_factory=dict)     # the record that repeats the run (written into PNGs)
    notices: list[str] = field(default_factory=list)  # for a person: what was changed, capped or trimmed
    facts: dict[str, float | int | str | bool] = field(default_factory=dict)  # the notices' facts, as values
    stopped_at_budget: bool = False                  # the job's time budget ended it before its last unit
