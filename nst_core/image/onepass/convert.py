"""The files' layer names -> the state dicts of :mod:`.networks` (one function per file)."""

from __future__ import annotations

import torch

from ... import hub
from ...hub.onnx import Layers
from .networks import ARBITRARY, MOBILENET_V2, MULTISTYLE


def _conv(state: hub.StateDict, ours: str, layers: Layers, theirs: str) -> None:
    state[f"{ours}.weight"] = layers[f"{theirs}.weight"]
    if f"{theirs}.bias" in layers:
        state[f"{ours}.bias"] = layers[f"{theirs}.bias"]


def _transformer_places() -> list[tuple[str, str]]:
    """(our layer, the arbitrary file's layer) in execution order."""
    places = [(f"contract.{i}", f"transformer/contract/conv{i + 1}") for i in range(3)]
    places += [(f"residual.{block}.{i}", f"transformer/residual/residual{block + 1}/conv{i + 1}")
               for block in range(ARBITRARY.residuals) for i in range(2)]
    return places + [(f"expand.{i}", f"transformer/expand/conv{i + 1}/conv") for i in range(3)]


def arbitrary_transformer_state(layers: Layers) -> hub.StateDict:
    """Magenta's transformer: gamma is the style norm's ``Conv_1`` of the vector, beta its ``Conv`` (the file's
    graph multiplies the normalized activations by ``Conv_1`` and adds ``Conv``)."""
    state: hub.StateDict = {}
    for ours, theirs in _transformer_places():
        _conv(state, f"{ours}.conv", layers, theirs)
        if not ours.startswith("contract"):
            norm = f"style_params/{theirs}/StyleNorm"
            for name, file_name in (("gamma", "Conv_1"), ("beta", "Conv")):
                weight = layers[f"{norm}/{file_name}.weight"]
                state[f"{ours}.norm.{name}"] = weight.reshape(weight.shape[0], -1)
                state[f"{ours}.norm.{name}_offset"] = layers[f"{norm}/{file_name}.bias"]
    return state


def multistyle_state(layers: Layers) -> hub.StateDict:
    """The 26-style network: ``<layer>.norm.gamma`` / ``beta`` hold one row of 26 per channel (no offset)."""
    places = [(f"contract.{i}", f"contract.{i}") for i in range(3)]
    places += [(f"residual.{b}.{i}", f"res.{b}.{i}") for b in range(MULTISTYLE.residuals) for i in range(2)]
    places += [(f"expand.{i}", f"expand.{i}") for i in range(3)]
    state: hub.StateDict = {}
    for ours, theirs in places:
        _conv(state, f"{ours}.conv", layers, theirs)
        for name in ("gamma", "beta"):
            table = layers[f"{theirs}.norm.{name}"]
            state[f"{ours}.norm.{name}"] = table.T.contiguous()
            state[f"{ours}.norm.{name}_offset"] = torch.zeros(table.shape[1])
    return state


def predictor_state(layers: Layers) -> hub.StateDict:
    """MobileNetV2 by the TF-Slim names (``expanded_conv``, ``expanded_conv_1`` ...), then ``mobilenet_conv``."""
    state: hub.StateDict = {}
    _conv(state, "stem", layers, "MobilenetV2/Conv")
    count = sum(repeats for _, _, repeats, _ in MOBILENET_V2)
    for index in range(count):
        block = "MobilenetV2/expanded_conv" + (f"_{index}" if index else "")
        for part in ("expand", "depthwise", "project"):
            if index or part != "expand":  # the first block does not expand
                _conv(state, f"blocks.{index}.{part}", layers, f"{block}/{part}")
    _conv(state, "head", layers, "MobilenetV2/Conv_1")
    _conv(state, "bottleneck", layers, "mobilenet_conv/Conv")
    return state
