"""The audio backends as specs: one per backend, with its typed options, defaults and how it is built.

A spec is all the app, the client API and a command line need to offer a backend: its name and title, a
description, its options dataclass (whose fields declare their widgets and flags, see :mod:`nst_core.options`),
its default weights and steps, and the weights it needs. :func:`load_backend` builds one from its options.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from ...errors import InvalidInput, shown
from ...options import check_settings, setting
from ...sources import ModelSource
from .base import AudioBackend, BackendDefaults
from .cnn14 import CNN14, load_cnn14
from .genre_cnn import GenreCNN, load_genre_cnn
from .shallow import DEFAULT_FILTERS, ShallowNet
from .vggish import VGGish, load_vggish


@dataclass(frozen=True)
class ShallowOptions:
    filters: tuple[int, ...] = setting(DEFAULT_FILTERS, "Filters per layer", "e.g. 4096 (Ulyanov) or 1024, 1024",
                                       minimum=1, maximum=8192, max_count=4, panel="basic")
    kernel: int = setting(11, "Kernel width (frames)", "odd: the convolution is centred", minimum=1, maximum=31,
                          step=2, panel="basic")


@dataclass(frozen=True)
class VGGishOptions:
    """VGGish has one checkpoint and no options of its own."""


@dataclass(frozen=True)
class CNN14Options:
    checkpoint: Literal["16k", "32k"] = setting("16k", "Checkpoint", "trained on AudioSet at 16 kHz or at 32 kHz",
                                                panel="basic")


@dataclass(frozen=True)
class GenreOptions:
    # A Hub repo id with the ``hf://`` prefix, or a local .safetensors path (the app only passes its uploads).
    model: str | ModelSource | None = setting(None, "Trained model", "both empty: random weights", kind="model",
                                              panel="basic")


BackendOptions = ShallowOptions | VGGishOptions | CNN14Options | GenreOptions


@dataclass(frozen=True)
class Pretrained:
    """A pretrained network a backend offers: its weights' key, its name for people, the options that load it."""

    key: str
    label: str
    options: object


@dataclass(frozen=True)
class AudioBackendSpec:
    name: str
    title: str
    description: str
    options: type
    build: Callable[[BackendOptions, int], AudioBackend]  # (options, seed)
    defaults: BackendDefaults
    weights: tuple[Pretrained, ...] = ()  # the pretrained networks it loads (none: random weights)


AUDIO_BACKENDS: dict[str, AudioBackendSpec] = {spec.name: spec for spec in (
    AudioBackendSpec(
        "shallow", "Shallow net",
        "Random 1-D convolutions over time (Ulyanov & Lebedev). No download; the best all-rounder for timbre and "
        "texture, and the fastest.",
        ShallowOptions, lambda o, seed: ShallowNet(filters=tuple(o.filters), kernel=o.kernel, seed=seed),
        ShallowNet.defaults),
    AudioBackendSpec(
        "vggish", "VGGish",
        "Pretrained AudioSet VGGish on log-mel. Its pooled layers summarize sound events (coarse texture); a direct "
        "spectrogram content term is there to keep the notes.",
        VGGishOptions, lambda o, seed: load_vggish(), VGGish.defaults,
        (Pretrained("vggish", "VGGish", VGGishOptions()),)),
    AudioBackendSpec(
        "cnn14", "CNN14 (PANNs)",
        "Pretrained AudioSet CNN14 on log-mel: more semantic style statistics, slower; a direct spectrogram content "
        "term is there to keep the notes.",
        CNN14Options, lambda o, seed: load_cnn14(o.checkpoint), CNN14.defaults,
        (Pretrained("cnn14-16k", "CNN14 (PANNs) 16 kHz", CNN14Options("16k")),
         Pretrained("cnn14-32k", "CNN14 (PANNs) 32 kHz", CNN14Options("32k")))),
    AudioBackendSpec(
        "genre", "Genre CNN",
        "A small music-genre classifier on power mel spectrograms (train it with `python -m "
        "nst_core.audio.train_genre`); without trained weights it is a random 2-D net.",
        GenreOptions, lambda o, seed: load_genre_cnn(o.model, seed=seed), GenreCNN.defaults),
)}


def backend_spec(name: str) -> AudioBackendSpec:
    spec = AUDIO_BACKENDS.get(name)
    if spec is None:
        raise InvalidInput(f"Unknown audio backend {shown(name)}; choose one of {', '.join(AUDIO_BACKENDS)}.")
    return spec


def checked_options(name: str, options: BackendOptions | None) -> BackendOptions:
    """``options`` (or the backend's defaults) after checking they are this backend's and in range."""
    spec = backend_spec(name)
    options = spec.options() if options is None else options
    if type(options) is not spec.options:
        raise InvalidInput(f"The {name} backend takes {spec.options.__name__}, not {type(options).__name__}.")
    check_settings(options)
    if isinstance(options, ShallowOptions) and options.kernel % 2 == 0:
        raise InvalidInput(f"kernel must be odd (got {options.kernel}).")
    return options


def load_backend(name: str, options: BackendOptions | None = None, *, seed: int = 0) -> AudioBackend:
    """Build backend ``name``; pretrained ones raise ``WeightsUnavailable`` when their weights cannot be had."""
    return backend_spec(name).build(checked_options(name, options), seed)


__all__ = ["AUDIO_BACKENDS", "CNN14", "AudioBackend", "AudioBackendSpec", "BackendDefaults", "BackendOptions",
           "CNN14Options", "GenreCNN", "GenreOptions", "Pretrained", "ShallowNet", "ShallowOptions", "VGGish",
           "VGGishOptions", "backend_spec", "checked_options", "load_backend"]
