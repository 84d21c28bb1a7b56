"""Pictures and plots for the app: spectrograms with axes and a colour bar, loss curves, style thumbnails.

The engine reports numbers (spectrogram arrays, loss terms per step); turning them into something a
person reads is the app's job, so it lives here, beside app.py, and nst_core never draws.
"""

from __future__ import annotations

import io
import logging

import matplotlib

matplotlib.use("Agg")  # no display on a server; must precede pyplot

import librosa.display  # noqa: E402 (after the backend is chosen)
import numpy as np  # noqa: E402
from matplotlib import pyplot as plt  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from PIL import Image, ImageDraw  # noqa: E402

from nst_core import NSTError  # noqa: E402
from nst_core.audio.metrics import Scores  # noqa: E402
from nst_core.audio.spectral import Spectrogram  # noqa: E402
from nst_core.image import onepass  # noqa: E402
from nst_core.image.fast import FastSettings, load_catalogue_style, stylize_fast  # noqa: E402
from nst_core.image.io import ImageSource, load_image  # noqa: E402
from nst_core.runtime import in_passing_thread  # noqa: E402

log = logging.getLogger(__name__)

DYNAMIC_RANGE_DB = 80.0


def decibels(spectrogram: Spectrogram) -> np.ndarray:
    """20 log10 |STFT| of a log1p-magnitude spectrogram (absolute: comparable across clips)."""
    return 20.0 * np.log10(np.expm1(np.clip(spectrogram.log_magnitude, 0, None)) + 1e-6)


def spectrogram_pictures(spectrograms: dict[str, Spectrogram], *, width: float = 4.2,
                         height: float = 2.6) -> list[tuple[Image.Image, str]]:
    """One picture per spectrogram (seconds across, Hz up on a log scale, a dB colour bar), on one colour scale."""
    levels = {name: decibels(s) for name, s in spectrograms.items()}
    top = max(float(level.max()) for level in levels.values())
    pictures = []
    for name, spectrogram in spectrograms.items():
        figure, axes = plt.subplots(figsize=(width, height), dpi=110, layout="constrained")
        mesh = librosa.display.specshow(levels[name], sr=spectrogram.frame.sample_rate,
                                        hop_length=spectrogram.frame.hop, n_fft=spectrogram.frame.n_fft,
                                        x_axis="s", y_axis="log", ax=axes, cmap="magma",
                                        vmin=top - DYNAMIC_RANGE_DB, vmax=top)
        axes.set_title(name, fontsize=10)
        figure.colorbar(mesh, ax=axes, format="%+.0f dB")
        pictures.append((_to_image(figure), name))
    return pictures


def _to_image(figure: plt.Figure) -> Image.Image:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    plt.close(figure)
    buffer.seek(0)
    return Image.open(buffer).convert("RGB")


class LossHistory:
    """Loss terms per step, drawn as one curve per term on a log axis with a legend (the terms span orders of
    magnitude)."""

    def __init__(self, skip: tuple[str, ...] = ()) -> None:
        self.curves: dict[str, tuple[list[int], list[float]]] = {}
        self.skip = set(skip)

    def add(self, step: int, losses: dict[str, float]) -> None:
        for name, value in losses.items():
            if name not in self.skip and np.isfinite(value) and value > 0:
                steps, values = self.curves.setdefault(name, ([], []))
                steps.append(step)
                values.append(float(value))

    def figure(self) -> Figure:
        """The curves as a figure (not registered with pyplot: nothing to close, nothing leaks)."""
        figure = Figure(figsize=(6.4, 3.0), dpi=100, layout="constrained")
        axes = figure.subplots()
        for name, (steps, values) in self.curves.items():
            axes.plot(steps, values, label=name, color=TERM_COLOURS.get(name), linewidth=1.6)
        axes.set_yscale("log")
        axes.set_xlabel("step")
        axes.set_ylabel("loss (weighted)")
        axes.grid(True, alpha=0.3)
        if self.curves:
            axes.legend(loc="upper right", fontsize=8, ncols=min(4, len(self.curves)))
        return figure


TERM_COLOURS = {"content": "#2563eb", "style": "#dc2626", "style_outside": "#f97316", "tv": "#16a34a",
                "range": "#9333ea", "spectral": "#0891b2", "envelope": "#ca8a04", "onset_chroma": "#db2777"}


def loss_plot(label: str, render: bool = True):
    """The app's loss-curve widget (imported lazily so that this module does not need Gradio)."""
    import gradio as gr

    return gr.Plot(label=label, format="png", render=render, elem_classes="loss-plot")


def _card(title: str, size: int, note: str) -> Image.Image:
    """A labelled grey square where a thumbnail cannot be made (galleries crop thumbnails to squares)."""
    card = Image.new("RGB", (size, size), (236, 236, 240))
    ImageDraw.Draw(card).multiline_text((size // 2, size // 2), f"{title}\n\n{note}", fill=(60, 60, 70), anchor="mm",
                                        align="center")
    return card


def _thumbnail_photo(photo: ImageSource, size: int) -> Image.Image:
    thumb = load_image(photo).image
    thumb.thumbnail((size, size), Image.LANCZOS)
    return thumb


def catalogue_thumbnail(title: str, photo: ImageSource, size: int = 160) -> Image.Image:
    """What a catalogue style does to ``photo``, or a labelled card when its weights are unavailable."""
    try:
        thumb = _thumbnail_photo(photo, size)
        return in_passing_thread(lambda: stylize_fast(thumb, load_catalogue_style(title),
                                                      FastSettings(precision="fp32")).image)
    except NSTError as exc:
        log.info("no thumbnail for %s: %s", title, exc)
    return _card(title, size, "weights not\ndownloaded")


def multistyle_thumbnails(photo: ImageSource, size: int = 128) -> list[Image.Image]:
    """What each of the 26 built-in styles does to ``photo`` (cards if the network cannot be loaded)."""
    try:
        thumb = _thumbnail_photo(photo, size)
        return in_passing_thread(lambda: [stylize_fast(thumb, onepass.multistyle_model(i),
                                                       FastSettings(precision="fp32")).image
                                          for i in range(onepass.STYLE_COUNT)])
    except NSTError as exc:
        log.warning("no thumbnails for the 26 styles: %s", exc)
        return [_card(f"style {i}", size, "not available") for i in range(onepass.STYLE_COUNT)]


def score_table(scores: Scores, targets: dict | None = None) -> list[list]:
    """The objective scores as the app's table rows: score, result, the content's baseline, how to read it (and,
    where the style strength set ``targets``, each target and whether the result met it)."""
    def reading(text: str, name: str, sign: str) -> str:
        if not targets or name not in targets:
            return text
        target = targets[name]
        return f"{text}; target {sign} {target['target']:.2f}: {'met' if target['met'] else 'missed'}"

    ratio = scores.balance.gram_ratio
    return [
        ["Gram distance to style (random shallow net)", round(scores.style_gram_result, 4),
         round(scores.style_gram_content, 4),
         reading(f"lower is closer to the style ({ratio:.2f} of the content's)", "gram_ratio", "<=")],
        ["MFCC-statistics distance to style", round(scores.mfcc_result, 3), round(scores.mfcc_content, 3),
         "lower is closer to the style"],
        ["Onset-envelope correlation with content", round(scores.onset_correlation, 3), 1.0,
         reading("higher keeps the rhythm", "onset", ">=")],
        ["Chroma correlation with content", round(scores.chroma_correlation, 3), 1.0,
         reading("higher keeps the notes", "chroma", ">=")],
        ["Log-spectral distance to content (dB)", round(scores.log_spectral_distance, 2), 0.0, ""],
    ]
