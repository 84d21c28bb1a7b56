"""The app's pictures: spectrograms people can read, and loss curves."""

from __future__ import annotations

import numpy as np
import torch

from nst_core.audio.spectral import SpectralFrame, Spectrogram, log_magnitude
from ui.figures import TERM_COLOURS, LossHistory, spectrogram_pictures

FRAME = SpectralFrame(22050, 2048, 512)


def _tone(frequency: float, seconds: float = 2.0) -> Spectrogram:
    t = np.arange(int(seconds * FRAME.sample_rate)) / FRAME.sample_rate
    return Spectrogram.of(log_magnitude(FRAME, 0.5 * np.sin(2 * np.pi * frequency * t))[0], FRAME)


def _brightest_row(picture) -> int:
    """Row of the brightest coloured pixel a third of the way across (magma is brightest at the top level;
    the white page around the plot is left out)."""
    pixels = np.asarray(picture.convert("L"), dtype=float)
    column = pixels[:, pixels.shape[1] // 3]
    return int(np.argmax(np.where(column < 250, column, 0)))


def test_spectrogram_pictures_put_higher_tones_higher_and_carry_axes():
    pictures = spectrogram_pictures({"low": _tone(220.0), "high": _tone(3520.0)})
    assert [name for _, name in pictures] == ["low", "high"]
    (low, _), (high, _) = pictures
    assert low.size == high.size and low.size[0] > low.size[1]
    # Four octaves apart on a log axis: the bright line sits clearly higher (smaller row) for the high tone.
    assert _brightest_row(high) < _brightest_row(low) - 20
    # Axes, labels and a colour bar: a spectrogram alone would have no white margin at all.
    margin = np.asarray(low.convert("L"))[:, :20]
    assert (margin > 240).mean() > 0.5


def test_loss_history_draws_positive_terms_on_a_log_axis_with_a_legend():
    history = LossHistory(skip=("total",))
    history.add(1, {"style": 100.0, "content": 0.01, "total": 100.01, "spectral": 0.0})
    history.add(2, {"style": 10.0, "content": float("nan")})
    assert history.curves == {"style": ([1, 2], [100.0, 10.0]), "content": ([1], [0.01])}
    (axes,) = history.figure().axes
    assert axes.get_yscale() == "log"
    assert [text.get_text() for text in axes.get_legend().get_texts()] == ["style", "content"]
    assert [line.get_color() for line in axes.get_lines()] == [TERM_COLOURS["style"], TERM_COLOURS["content"]]


def test_spectrogram_of_detaches_and_clamps():
    tensor = torch.tensor([[-1.0, 2.0]], requires_grad=True)
    spectrogram = Spectrogram.of(tensor, FRAME)
    assert spectrogram.log_magnitude.tolist() == [[0.0, 2.0]]


def test_score_table_puts_each_score_beside_its_baseline():
    from nst_core.audio.metrics import Scores
    from ui.figures import score_table

    scores = Scores(style_gram_result=0.25, style_gram_content=0.5, mfcc_result=1.5, mfcc_content=3.0,
                    onset_correlation=0.9, chroma_correlation=0.8, log_spectral_distance=4.0)
    rows = {row[0]: row[1:3] for row in score_table(scores)}
    assert rows["Gram distance to style (random shallow net)"] == [0.25, 0.5]
    assert rows["MFCC-statistics distance to style"] == [1.5, 3.0]
    assert rows["Chroma correlation with content"] == [0.8, 1.0]
    targets = {"onset": {"target": 0.8, "reached": 0.9, "met": True},
               "chroma": {"target": 0.7, "reached": 0.58, "met": False},
               "gram_ratio": {"target": 0.5, "reached": 0.5, "met": True}}
    readings = {row[0]: row[3] for row in score_table(scores, targets)}
    assert readings["Chroma correlation with content"] == "higher keeps the notes; target >= 0.70: missed"
    assert readings["Onset-envelope correlation with content"].endswith("target >= 0.80: met")
    assert readings["Gram distance to style (random shallow net)"] == \
        "lower is closer to the style (0.50 of the content's); target <= 0.50: met"
