"""The weights of an ONNX file, read as tensors: every convolution's weight and bias, dequantized, by layer name.

Only the file's initializers and the nodes that wire them to convolutions are read; the graph itself is never
run (the networks are rebuilt in torch, see :mod:`.networks`). An int8 weight is dequantized as the file's own
``DequantizeLinear`` says: ``(q - zero_point) * scale``, per output channel.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from ..errors import WeightsMismatch

Layers = dict[str, torch.Tensor]  # "<layer>.weight" / "<layer>.bias" / any other named table -> float tensor
_WEIGHT_SUFFIXES = ("/depthwise_weights", "/weights", ".w")


def _dequantize(values: np.ndarray, scale: np.ndarray, zero_point: np.ndarray | None, axis: int) -> np.ndarray:
    values = values.astype(np.float64)
    shape = [1] * values.ndim
    if scale.ndim == 1 and values.ndim > 0:
        shape[axis] = -1
    shifted = values - (zero_point.astype(np.float64).reshape(shape) if zero_point is not None else 0.0)
    return (shifted * scale.astype(np.float64).reshape(shape)).astype(np.float32)


def read_layers(path: Path, origin: str) -> Layers:
    """Every convolution of the ONNX file at ``path`` (``<layer>.weight``, ``<layer>.bias`` when it has one) and
    every other float table it holds under its own name; ``origin`` names the file in messages."""
    import onnx
    from onnx import numpy_helper

    try:
        graph = onnx.load(str(path), load_external_data=False).graph
    except Exception as exc:  # a truncated or foreign file: protobuf raises its own errors
        raise WeightsMismatch(f"{origin}: not a readable ONNX file ({type(exc).__name__})") from exc
    tables = {item.name: numpy_helper.to_array(item) for item in graph.initializer}
    resolved: dict[str, tuple[str, np.ndarray]] = {}  # a tensor's name -> (the table it came from, float values)
    for node in graph.node:
        if node.op_type == "DequantizeLinear" and node.input[0] in tables and node.input[1] in tables:
            axis = next((a.i for a in node.attribute if a.name == "axis"), 1)
            zero = tables.get(node.input[2]) if len(node.input) > 2 else None
            resolved[node.output[0]] = (node.input[0], _dequantize(tables[node.input[0]], tables[node.input[1]],
                                                                   zero, axis))
    for name, values in tables.items():
        if values.dtype == np.float32:
            resolved.setdefault(name, (name, values))
    layers: Layers = {}
    for node in graph.node:
        if node.op_type != "Conv":
            continue
        weight_table, weight = resolved.get(node.input[1], ("", None))
        layer = next((weight_table.removesuffix(s) for s in _WEIGHT_SUFFIXES if weight_table.endswith(s)), "")
        if weight is None or not layer:
            raise WeightsMismatch(f"{origin}: convolution {node.name!r} has no weight table this reader knows")
        layers[f"{layer}.weight"] = torch.from_numpy(weight.copy())
        if len(node.input) > 2 and node.input[2]:
            layers[f"{layer}.bias"] = torch.from_numpy(resolved[node.input[2]][1].copy())
    for name, values in tables.items():
        if values.dtype == np.float32 and values.ndim >= 1 and name not in layers:
            layers.setdefault(name, torch.from_numpy(values.copy()))
    return layers
