"""One optimization loop for every audio backend.

The optimized quantity is the result's log1p|STFT| at the backend's own STFT settings. Content and
Gram-style losses are taken at the backend's layers (plus, for pooled 2-D backbones, a direct content
term on the spectrogram); the phase is then rebuilt by fast Griffin-Lim starting from the content's phase.
Clips longer than ``segment_seconds`` are optimized in overlapping segments whose spectrograms are
cross-faded before phase reconstruction, so there are no seams. With ``adaptive`` (the default)
a :class:`~.balance.BalanceController` per segment re-weights the style as the run goes and may stop it
early, once the content and style targets are reached.

``iter_stylize_audio`` yields :class:`AudioProgress` events and then an :class:`AudioResult`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import math
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import torch

from .. import windows
from ..control import JobControl, controlled
from ..errors import InvalidInput
from ..events import Progress, Result
from ..losses import LayerLosses, Objective, Term, relative_mse
from ..optim import Descent, run_to_result
from ..options import Limits, check_settings, setting
from ..runtime import Precision, PreparedModels, pick_runtime
from .backends import AUDIO_BACKENDS, AudioBackend, BackendOptions, checked_options, load_backend
from .balance import BalanceController, BalanceReading, BalanceTargets, outcomes
from .descriptors import Descriptors
from .io import AudioSource, load_audio
from .metrics import JUDGE, Judge, Scores
from .spectral import EnvelopeLoss, SpectralFrame, Spectrogram, griffin_lim, keep_silences, log_magnitude

log = logging.getLogger(__name__)
MAX_SECONDS = 120.0
MAX_STEPS = 2000
BALANCE_GRIFFIN_LIM = 16  # iterations for the controller's quick look: its scores are within ~0.01 of 100 iterations
DESCRIPTOR_WEIGHT = 10.0  # the onset/chroma content term's weight before the controller scales it


WEIGHT = dict(minimum=0.0, maximum=1e9)


@dataclass(frozen=True)
class AudioSettings:
    """Every knob of an audio stylization; ``None`` means the backend's own default."""

    style_strength: float = setting(0.5, "Style strength", "0.5: keep onsets >= 0.8 and chroma >= 0.7 while halving "
                                    "the distance to the style; higher takes more style", minimum=0.0, maximum=1.0,
                                    step=0.05, panel="basic")
    adaptive: bool = setting(True, "Adapt the balance to reach the strength", "off: the fixed weights, for every "
                             "step", panel="basic")
    steps: int | None = setting(None, "Steps", "the most per segment; with the balance adapting the run may stop "
                                "sooner", minimum=1, maximum=MAX_STEPS, panel="basic", budget="audio_steps")
    style_weight: float | None = setting(None, "Style weight", "the Gram (texture) term's weight", panel="basic",
                                         **WEIGHT)
    content_weight: float | None = setting(None, "Content weight", "the network-feature content term's weight",
                                           panel="basic", **WEIGHT)
    spectral_content_weight: float | None = setting(None, "Direct spectrogram content weight", "keeps the notes "
                                                    "that pooled layers lose", panel="advanced", **WEIGHT)
    envelope_weight: float | None = setting(None, "Envelope weight", "match the style's long-term spectrum (0: keep "
                                            "the content's)", panel="advanced", **WEIGHT)
    griffin_lim_iterations: int = setting(100, "Griffin-Lim iterations", "phase reconstruction from the content's "
                                          "phase; more is cleaner and slower", minimum=0, maximum=2000, step=10,
                                          panel="advanced")
    init: Literal["content", "noise"] = setting("content", "Start from", "the content clip, or noise",
                                                panel="advanced")
    style_only: bool = setting(False, "Style loss only", "Grinstein et al.: start from the content, optimize the "
                               "style loss alone", panel="advanced")
    keep_silences: bool = setting(True, "Keep silences", "where the content is quiet, the result stays quiet",
                                  panel="advanced")
    seed: int = setting(0, "Seed", "the random network's weights and the noise start", minimum=0,
                        maximum=2**32 - 1, panel="advanced")
    precision: Precision = setting("auto", "Precision", "auto: bf16/fp16 where the hardware is fast at it",
                                   panel="advanced")
    backend: str = setting("shallow", "Network", "the feature network", choices=tuple(AUDIO_BACKENDS))
    content_layers: tuple[str, ...] | None = setting(None, "Content layers", "None: the backend's defaults")
    style_layers: tuple[str, ...] | None = setting(None, "Style layers", "None: the backend's defaults")
    optimizer: Literal["lbfgs", "adam"] = setting("lbfgs", "Optimizer", "L-BFGS converges in far fewer steps")
    learning_rate: float = setting(0.05, "Learning rate", "Adam only", minimum=1e-5, maximum=1.0)
    max_seconds: float = setting(30.0, "Longest clip", "longer uploads are trimmed, with a notice", minimum=1.0,
                                 maximum=MAX_SECONDS, unit=" s")
    segment_seconds: float = setting(12.0, "Segment length", "longer clips are optimized in overlapping segments",
                                     minimum=3.0, maximum=MAX_SECONDS, unit=" s")
    preview_every: int = setting(25, "Preview every", "steps between previews (0: none)", minimum=0,
                                 maximum=MAX_STEPS)
    options: BackendOptions | None = None  # the backend's own (ShallowOptions, ...); None: its defaults

    def check(self, num_styles: int, limits: Limits | None = None) -> None:
        checked_options(self.backend, self.options)
        check_settings(self, limits)
        if not 1 <= num_styles <= 8:
            raise InvalidInput(f"Give between 1 and 8 style clips (got {num_styles}).")


@dataclass(frozen=True)
class AudioProgress(Progress):
    """``done`` steps of at most ``total`` in this segment."""

    segment: int
    num_segments: int
    losses: dict[str, float]
    preview: Spectrogram | None = None  # the current result (this segment)


@dataclass
class AudioResult(Result):
    samples: np.ndarray
    sample_rate: int
    spectrograms: dict[str, Spectrogram]   # "content", "style", "result"
    scores: Scores
    phase_seconds: float
    backend_note: str
    balance: list[BalanceReading] = field(default_factory=list)  # the style-strength controller's readings


def audio_objective(backend: AudioBackend, settings: AudioSettings, content: torch.Tensor,
                    styles: list[torch.Tensor], autocast: Callable[[], contextlib.AbstractContextManager]) -> Objective:
    """Style (Gram at the backend's layers, long-term spectrum) and content (features, the spectrogram itself)."""
    d = backend.defaults
    content_layers = settings.content_layers or d.content_layers
    style_layers = settings.style_layers or d.style_layers

    def pick(value: float | None, default: float) -> float:
        return default if value is None else value

    def features(log_mag: torch.Tensor, layers: set[str]) -> dict[str, torch.Tensor]:
        with autocast():
            return backend(log_mag.unsqueeze(0), layers)

    with torch.no_grad():
        content_features = features(content, set(content_layers))
        style_features = [features(style, set(style_layers)) for style in styles]
    keep_content = 0.0 if settings.style_only else 1.0
    envelope_weight = pick(settings.envelope_weight, d.envelope_weight)
    terms = [
        Term.on_features("style", pick(settings.style_weight, d.style_weight),
                         LayerLosses.style(style_features, style_layers)),
        Term.on_features("content", keep_content * pick(settings.content_weight, d.content_weight),
                         LayerLosses.content(content_features, content_layers)),
        Term.on_input("spectral", keep_content * pick(settings.spectral_content_weight, d.spectral_content_weight),
                      lambda log_mag: relative_mse(log_mag, content)),
    ]
    if envelope_weight:
        terms.append(Term.on_input("envelope", envelope_weight, EnvelopeLoss(backend.frame, styles)))
    return Objective(features, terms)


def steer(objective: Objective, controller: BalanceController) -> None:
    """Let ``controller`` scale the style terms, and add its content term on onsets and chroma."""
    objective.add(Term.on_input("onset_chroma", DESCRIPTOR_WEIGHT, controller.descriptor_loss))
    follow(objective, controller)


def follow(objective: Objective, controller: BalanceController) -> None:
    """Apply the controller's current style scale to the style terms (Gram and long-term spectrum)."""
    objective.scales.update(style=controller.style_scale, envelope=controller.style_scale)


def _keep_in_range(x: torch.Tensor, ceiling: float) -> None:
    """Clamp to [0, ceiling] in place: a spectrogram 20 dB louder than any input is an L-BFGS overshoot.

    Only under the balance controller: its overflowing readings (expm1 of an overshoot) stalled runs for
    dozens of steps, and it restarts L-BFGS at every change, so the curvature pairs a clamp bends do not
    pile up. At fixed weights over 240 steps they did: one pair diverged (Gram ratio 23).
    """
    with torch.no_grad():
        x.clamp_(0.0, ceiling)


def _controller(settings: AudioSettings, frame: SpectralFrame, target: torch.Tensor, phase: torch.Tensor,
                whole: Judge, device: torch.device) -> BalanceController:
    """A balance controller for one segment, judging it as the result will be judged (see balance.py)."""
    length = (target.shape[1] - 1) * frame.hop
    content = frame.istft(torch.expm1(target.cpu()) * phase, length).numpy()
    judge = whole.for_content(content, frame.sample_rate)

    def render(x: torch.Tensor) -> np.ndarray:
        # An L-BFGS overshoot can leave huge values that expm1 turns into infinities: a quick look clamps them.
        samples = griffin_lim(torch.expm1(x.cpu().clamp(0, 20)), frame, length, iterations=BALANCE_GRIFFIN_LIM,
                              initial_phase=phase).numpy()
        return keep_silences(samples, content, frame.sample_rate) if settings.keep_silences else samples

    return BalanceController(BalanceTargets.for_strength(settings.style_strength), judge, render,
                             Descriptors(frame, device, judge.tuning), target)


def iter_stylize_audio(content: AudioSource, styles: Sequence[AudioSource] | AudioSource,
                       settings: AudioSettings | None = None, *,
                       backend: AudioBackend | None = None, prepared: PreparedModels | None = None,
                       control: JobControl | None = None) -> Iterator[AudioProgress | AudioResult]:
    """Stylize ``content`` with ``styles``: progress events, then the :class:`AudioResult`.

    ``backend`` overrides the one the settings name (tests, benchmarks, and a server that keeps its backends
    built); ``prepared`` keeps the network's prepared copy for the next run (see
    :class:`~nst_core.runtime.PreparedModels`); ``control`` cancels the run or gives it a time budget, at which
    the segments not yet optimized keep the content's spectrogram and a notice says so.
    """
    return controlled(_iter_stylize_audio(content, styles, settings or AudioSettings(), backend, prepared,
                                          control or JobControl()), control)


def _iter_stylize_audio(content: AudioSource, styles: Sequence[AudioSource] | AudioSource, settings: AudioSettings,
                        backend: AudioBackend | None, prepared: PreparedModels | None,
                        control: JobControl) -> Iterator[AudioProgress | AudioResult]:
    styles = list(styles) if isinstance(styles, (list, tuple)) and not _is_array_pair(styles) else [styles]
    settings.check(len(styles))
    started = time.perf_counter()
    backend = backend or load_backend(settings.backend, settings.options, seed=settings.seed)
    frame = backend.frame
    rate = frame.sample_rate
    loaded = load_audio(content, sample_rate=rate, label="content clip", max_seconds=settings.max_seconds,
                        min_seconds=backend.min_seconds)
    loaded_styles = [load_audio(s, sample_rate=rate, label=f"style clip {i + 1}", max_seconds=settings.max_seconds,
                                min_seconds=backend.min_seconds) for i, s in enumerate(styles)]
    notices = loaded.notices + [n for s in loaded_styles for n in s.notices]
    runtime = pick_runtime("auto", settings.precision)  # fp32 is a precision, not a device: a GPU still serves
    backend = runtime.prepare_model(backend, prepared)
    generator = torch.Generator().manual_seed(settings.seed)

    content_log, content_phase = log_magnitude(frame, loaded.samples)
    # Several style clips are one style (their statistics are averaged): judge and picture them together.
    judge = Judge(loaded.samples, np.concatenate([s.samples for s in loaded_styles]), rate)
    style_logs = [log_magnitude(frame, s.samples)[0].to(runtime.device) for s in loaded_styles]
    frames = content_log.shape[1]
    segment_frames = max(int(settings.segment_seconds * rate / frame.hop), 8)
    segments = windows.spans(frames, segment_frames, min_overlap=max(segment_frames // 8, 4))
    steps = settings.steps or backend.defaults.steps
    ceiling = max(float(content_log.max()), *(float(log.max()) for log in style_logs)) + math.log(10.0)  # +20 dB
    total = steps * len(segments)
    parts, done, terms, readings, stopped, out_of_reach = [], 0, {}, [], False, False
    for index, (start, end) in enumerate(segments):
        target = content_log[:, start:end].contiguous().to(runtime.device)
        if stopped:  # past the time budget: this segment keeps the content
            parts.append(target.cpu())
            continue
        objective = audio_objective(backend, settings, target, style_logs, runtime.autocast)
        if settings.init == "noise":
            x = torch.rand(target.shape, generator=generator).to(runtime.device) * target.max()
        else:
            x = target.clone()
        x.requires_grad_(True)
        descent = Descent(settings.optimizer, x, settings.learning_rate)
        controller = None
        if settings.adaptive:
            controller = _controller(settings, frame, target, content_phase[:, start:end], judge, runtime.device)
            steer(objective, controller)
        for step in range(steps):
            terms = descent.step(objective)
            if controller:  # keep the spectrogram the controller reads finite (see _keep_in_range)
                _keep_in_range(x, ceiling)
            done += 1
            if controller and (step + 1) % controller.check_every == 0:
                decision = controller.adjust(controller.read(done, x.detach()))
                log.debug("balance at step %d: %s -> %s", done, controller.readings[-1], decision)
                if decision == "done":
                    break
                if decision == "rewind":
                    with torch.no_grad():
                        x.copy_(controller.best_result(x))
                if decision != "continue":  # L-BFGS's curvature pairs belong to the old objective
                    follow(objective, controller)
                    descent.restart()
            show = step == steps - 1 or (settings.preview_every and done % settings.preview_every == 0)
            preview = Spectrogram.of(x, frame) if show else None
            yield AudioProgress(done, total, index, len(segments), terms, preview)
            stopped = step < steps - 1 and control.out_of_time()
            if stopped:
                notices.append(f"Stopped at this server's time budget ({control.seconds:.0f} s) after {done} of "
                               f"{total} steps" + (f"; segments {index + 2}-{len(segments)} keep the content's sound"
                                                   if index + 1 < len(segments) else "")
                               + ". Fewer steps, fewer filters or a shorter clip finish in time.")
                break
        if controller:
            x = controller.best_result(x.detach())
            readings += controller.readings
            out_of_reach |= controller.out_of_reach
        parts.append(x.detach().clamp_min(0).cpu())

    result_log = windows.blend(parts, segments, frames)
    phase_started = time.perf_counter()
    samples = griffin_lim(torch.expm1(result_log), frame, len(loaded.samples),
                          iterations=settings.griffin_lim_iterations, initial_phase=content_phase,
                          generator=generator).numpy()
    if settings.keep_silences:
        samples = keep_silences(samples, loaded.samples, rate)
    samples = samples / max(float(np.abs(samples).max()), 1e-6) * 0.9
    phase_seconds = time.perf_counter() - phase_started
    record = {**dataclasses.asdict(settings), "num_styles": len(styles), "runtime": runtime.label}
    scores = judge.scores(samples)
    facts: dict = {}
    if settings.adaptive:  # the strength's promise, as the result's own scores read it
        reached = outcomes(BalanceTargets.for_strength(settings.style_strength), scores.balance)
        facts = {"targets": {o.name: o.fact() for o in reached}, "judge": JUDGE, "content_out_of_reach": out_of_reach}
        notices += [o.notice(out_of_reach) for o in reached if not o.met]
    yield AudioResult(
        samples=samples.astype(np.float32), sample_rate=rate,
        # Several style clips are one style: pictured together too.
        spectrograms={"content": Spectrogram.of(content_log, frame),
                      "style": Spectrogram.of(torch.cat([log.cpu() for log in style_logs], dim=1), frame),
                      "result": Spectrogram.of(result_log, frame)},
        scores=scores, settings=record, facts=facts,
        seconds=time.perf_counter() - started, phase_seconds=phase_seconds, runtime=runtime.label,
        backend_note=backend.weights_note, notices=notices, balance=readings, stopped_at_budget=stopped,
    )


def _is_array_pair(value: object) -> bool:
    """Gradio's microphone format ``(rate, samples)`` is one clip, not a list of two."""
    return isinstance(value, tuple) and len(value) == 2 and isinstance(value[0], int)


def stylize_audio(content: AudioSource, styles: Sequence[AudioSource] | AudioSource,
                  settings: AudioSettings | None = None, *, on_progress: Callable[[AudioProgress], None] | None = None,
                  backend: AudioBackend | None = None, prepared: PreparedModels | None = None,
                  control: JobControl | None = None) -> AudioResult:
    """Run :func:`iter_stylize_audio` to the end; ``on_progress`` sees every event (raise in it to cancel)."""
    return run_to_result(iter_stylize_audio(content, styles, settings, backend=backend, prepared=prepared,
                                            control=control), AudioResult, on_progress)
