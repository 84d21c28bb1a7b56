"""Feed-forward styles: catalogue loading by position, user models, tiling, precision, training."""

from __future__ import annotations

import dataclasses
import json
import math
import os
import pickle
import subprocess
import sys
from collections import OrderedDict
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import save_file

from conftest import EXAMPLES, ROOT, put_in_hub_cache
from nst_core import InvalidInput, WeightsMismatch, WeightsUnavailable, hub, windows
from nst_core.health import CHECK_PHOTO
from nst_core.image import fast
from nst_core.image.backbones import random_backbone
from nst_core.image.color import rgb_to_yiq
from nst_core.image.fast import (
    FastModel,
    FastSettings,
    FastStyle,
    TransformerNet,
    load_fast_model,
    save_fast_model,
    stylize_fast,
)
from nst_core.image.fast import run as fast_run
from nst_core.image.fast.run import ALIGN, TILE_OVERLAP
from nst_core.image.io import to_tensor
from nst_core.image.norms import instance_norm
from nst_core.image.train_fast import TrainConfig, train
from nst_core.runtime import pick_runtime

STYLE = FastStyle("test", "Test", "nobody", value_range=255, channel_order="rgb")


def _stylize(image, net, *, compiler=None, **settings):
    return stylize_fast(image, FastModel(net, STYLE), FastSettings(**settings), compiler=compiler)


def maze_layout_checkpoint(seed: int = 0, residual: tuple[str, str] = ("block1", "block2"),
                           deconv: str = "conv_transpose") -> OrderedDict:
    """Tensors in the order and shapes of the published ``maze/FastStyleTransfer`` files.

    The names follow the model card (ConvBlock / ResidualBlock / DeconvBlock with pad, conv, norm); the
    transposed-conv attribute name is not published, so the loader must not depend on any of them.
    """
    generator = torch.Generator().manual_seed(seed)
    state = OrderedDict()

    def conv(prefix: str, cin: int, cout: int, k: int, norm: bool = True, transposed: bool = False) -> None:
        shape = (cin, cout, k, k) if transposed else (cout, cin, k, k)
        state[f"{prefix}.weight"] = torch.randn(shape, generator=generator) * 0.1
        state[f"{prefix}.bias"] = torch.randn(cout, generator=generator) * 0.1
        if norm:
            norm_prefix = prefix.rsplit(".", 1)[0] + ".norm"
            state[f"{norm_prefix}.weight"] = 1 + 0.1 * torch.randn(cout, generator=generator)
            state[f"{norm_prefix}.bias"] = 0.1 * torch.randn(cout, generator=generator)

    for i, (cin, cout, k) in enumerate([(3, 32, 9), (32, 64, 3), (64, 128, 3)]):
        conv(f"ConvBlock.{2 * i}.conv", cin, cout, k)
    for i in range(5):
        conv(f"ResidualBlock.{i}.{residual[0]}.conv", 128, 128, 3)
        conv(f"ResidualBlock.{i}.{residual[1]}.conv", 128, 128, 3)
    conv(f"DeconvBlock.0.{deconv}", 128, 64, 3, transposed=True)
    conv(f"DeconvBlock.2.{deconv}", 64, 32, 3, transposed=True)
    conv("DeconvBlock.4.conv", 32, 3, 9, norm=False)
    return state


def bluish_identity_net() -> TransformerNet:
    """A TransformerNet built by hand to return the photo contrast-normalized and tinted blue (0-255, RGB).

    Each stage passes the three colour channels straight through (centre taps; transposed convs as
    bilinear-like upsampling), each instance norm re-standardizes them and adds 10 so that the ReLUs pass
    them unchanged, the residual branches add zero, and the last conv maps them to 128 +/- 40 with a tint.
    """
    net = TransformerNet()
    taps = torch.tensor([0.5, 1.0, 0.5])
    with torch.no_grad():
        for parameter in net.parameters():
            parameter.zero_()
        for stage in (*net.down, *net.up):
            conv = stage.conv if hasattr(stage, "conv") else stage.deconv
            k = conv.kernel_size[0]
            for c in range(3):
                if isinstance(conv, torch.nn.ConvTranspose2d):
                    conv.weight[c, c] = taps[:, None] * taps[None, :]
                else:
                    conv.weight[c, c, k // 2, k // 2] = 1.0
            stage.norm.weight[:3] = 1.0
            stage.norm.bias[:3] = 10.0
        for c, tint in enumerate((-30.0, 0.0, 30.0)):
            net.out.conv.weight[c, c, 4, 4] = 40.0
            net.out.conv.bias[c] = 128.0 - 400.0 + tint
    return net.eval()


def _psnr(a: Image.Image, b: Image.Image) -> float:
    x, y = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return float(10 * np.log10(255**2 / max(np.mean((x - y) ** 2), 1e-12)))


@pytest.fixture
def textured_net():
    """Random weights with an output like a trained net's: centred mid-grey, spread ~33 levels, ~0.1 % clipped.

    (A plain random net outputs near-constant black, which would make every comparison trivial.)
    """
    torch.manual_seed(0)
    net = TransformerNet().eval()
    with torch.no_grad():
        net.out.conv.weight.mul_(100)
        net.out.conv.bias.fill_(127.5)
    return net


@pytest.mark.parametrize(("residual", "deconv"), [(("block1", "block2"), "conv_transpose"),
                                                  (("conv1", "conv2"), "deconv")])
def test_catalogue_style_loads_by_the_files_module_names(publish, residual, deconv):
    """The model card fixes ConvBlock / ResidualBlock / DeconvBlock and ConvLayer's pad, conv, norm; the residual
    and transposed-conv attribute names are not published, so two plausible namings must both load."""
    state = maze_layout_checkpoint(residual=residual, deconv=deconv)
    publish("fast-rain_princess", state, check=False)
    net = fast.load_catalogue_style("Rain Princess").net
    assert torch.equal(net.up[0].deconv.weight, state[f"DeconvBlock.0.{deconv}.weight"])
    assert torch.equal(net.residual[4].conv2.norm.bias, state[f"ResidualBlock.4.{residual[1]}.norm.bias"])
    assert torch.equal(net.out.conv.weight, state["DeconvBlock.4.conv.weight"])


def test_modules_in_another_order_are_refused_never_mixed():
    """Modules pair up in the file's order and tensors by their own names: with a norm stored before its conv,
    the conv bias and norm weight (both 32 values) must not be silently swapped; the load is refused."""
    state = maze_layout_checkpoint()
    swapped = OrderedDict()
    for name, tensor in state.items():  # write ConvBlock.0's norm before its conv
        if name.startswith("ConvBlock.0.conv"):
            continue
        swapped[name] = tensor
        if name == "ConvBlock.0.norm.bias":
            swapped["ConvBlock.0.conv.weight"] = state["ConvBlock.0.conv.weight"]
            swapped["ConvBlock.0.conv.bias"] = state["ConvBlock.0.conv.bias"]
    net = fast.load_by_module_names(TransformerNet(), dict(state), "test")
    with pytest.raises(WeightsMismatch, match=r"ConvBlock\.0\.norm\.weight has shape \(32,\), expected"):
        fast.load_by_module_names(TransformerNet(), swapped, "test")
    assert torch.equal(net.down[0].norm.weight, state["ConvBlock.0.norm.weight"])


def test_catalogue_shape_mismatch_names_the_tensor(publish):
    state = maze_layout_checkpoint()
    state["ResidualBlock.2.block1.conv.weight"] = torch.zeros(128, 128, 5, 5)
    publish("fast-scream", state, check=False)
    with pytest.raises(WeightsMismatch, match=r"ResidualBlock\.2\.block1\.conv\.weight.*\(128, 128, 5, 5\)"):
        fast.load_catalogue_style("The Scream")


class _Payload:
    def __reduce__(self):
        return (Path.touch, (Path(__file__).parent / "PWNED",))


def test_a_malicious_pickle_runs_no_code(publish):
    marker = Path(__file__).parent / "PWNED"
    publish("fast-mosaic", pickle.dumps({"x": _Payload()}))
    with pytest.raises(WeightsMismatch, match="not a readable weight file"):
        fast.load_catalogue_style("Mosaic")
    assert not marker.exists()


def test_missing_catalogue_weights_are_unavailable_offline(hub_cache):
    with pytest.raises(WeightsUnavailable, match="Starry_Night_512.pth"):
        fast.load_catalogue_style("Starry Night")


def test_the_health_check_settles_range_and_order_and_refuses_wrong_ones(publish):
    """A network that repaints the photo bluish (a crafted identity-like net) passes as RGB 0-255; read as
    0-1 it clips, read as BGR it leans red, against Starry Night's blue: both must fail."""
    net = bluish_identity_net()
    style = dataclasses.replace(fast.CATALOGUE["Starry Night"], value_range=255, channel_order="rgb")
    assert fast.fast_style_check(net, style, CHECK_PHOTO).passed
    wrong_range = fast.fast_style_check(net, dataclasses.replace(style, value_range=1), CHECK_PHOTO)
    assert not wrong_range.passed and "clipped" in wrong_range.detail
    wrong_order = fast.fast_style_check(net, dataclasses.replace(style, channel_order="bgr"), CHECK_PHOTO)
    assert not wrong_order.passed and "leans red" in wrong_order.detail
    publish("fast-starry_night", OrderedDict((f"m{i // 2}.{'weight' if i % 2 == 0 else 'bias'}", t)
                                             for i, t in enumerate(net.state_dict().values())))
    model = fast.load_catalogue_style("Starry Night")
    assert (model.style.value_range, model.style.channel_order) == (255, "rgb")
    assert hub.HEALTH.latest("fast-starry_night").facts["channel_order"] == "rgb"


def test_random_weights_in_the_maze_layout_fail_the_check(publish):
    publish("fast-mosaic", maze_layout_checkpoint())
    with pytest.raises(WeightsMismatch, match="failed its health check: no value range and colour order passes"):
        fast.load_catalogue_style("Mosaic")


def test_user_model_round_trip_and_rejections(tmp_path, textured_net):
    weights = save_fast_model(textured_net, tmp_path / "mine", STYLE, extra={"step": 3})
    model = load_fast_model(weights)
    net, style = model.net, model.style
    image = Image.open(EXAMPLES / "coffee.jpg").resize((64, 48))
    assert np.array_equal(np.asarray(stylize_fast(image, FastModel(net, style), FastSettings(precision="fp32")).image),
                          np.asarray(_stylize(image, textured_net, precision="fp32").image))
    with pytest.raises(InvalidInput, match="pickled files are not loaded"):
        load_fast_model(tmp_path / "model.pth")
    (tmp_path / "mine" / "config.json").write_text("{not json")
    with pytest.raises(InvalidInput, match="not valid JSON"):
        load_fast_model(weights)
    (tmp_path / "mine" / "config.json").write_text(json.dumps({"architecture": "unet"}))
    with pytest.raises(InvalidInput, match="Unsupported architecture"):
        load_fast_model(weights)
    (tmp_path / "mine" / "config.json").unlink()
    with pytest.raises(InvalidInput, match="config.json is missing"):
        load_fast_model(weights)
    save_file({"w": torch.zeros(3)}, str(tmp_path / "other.safetensors"))
    with pytest.raises(InvalidInput, match="do not match"):
        load_fast_model(tmp_path / "other.safetensors", {"title": "x"})


def test_a_visitors_model_files_are_read_only_as_far_as_a_model_needs(tmp_path, textured_net):
    """A visitor's files were parsed whole before their names were checked: a 30 MB config.json of empty lists took
    7 s and 700 MB, a config nested deeply broke the parser (a traceback for the visitor), and a 48 MB
    safetensors listing 700,000 one-byte tensors held the request 13 s and 660 MB."""
    import struct

    from nst_core.hub import loading

    weights = save_fast_model(textured_net, tmp_path / "mine", STYLE)
    config = tmp_path / "mine" / "config.json"
    config.write_text("[" * 50_000)  # within the size allowed, past the parser's recursion limit
    with pytest.raises(InvalidInput, match=r"not valid JSON \(nested too deeply\)"):
        load_fast_model(weights)
    config.write_text("[" + "[]," * 40_000 + "[]]")
    with pytest.raises(InvalidInput, match=r"config.json is 0.1 MB; .*at most 64 kB are read"):
        load_fast_model(weights)
    config.write_text(json.dumps({"title": "x"}))
    # A header claiming more than a network's list of tensors is refused from its first 8 bytes.
    listed = json.dumps({f"t{i}": {"dtype": "U8", "shape": [1], "data_offsets": [i, i + 1]}
                         for i in range(40_000)}).encode()
    listed += b" " * (-len(listed) % 8)
    many = tmp_path / "many.safetensors"
    many.write_bytes(struct.pack("<Q", len(listed)) + listed + bytes(40_000))
    assert len(listed) > loading.MAX_HEADER_BYTES
    with pytest.raises(InvalidInput, match=r"many.safetensors: .*list of tensors takes 3 MB; .*at most 1 MB are read"):
        load_fast_model(many, {"title": "x"})
    assert load_fast_model(weights).style.title == "x"  # a network's own header is far within it


def _publish(hub_cache, folder: Path, net: TransformerNet, repo_id: str) -> None:
    """What ``train_fast`` writes, placed in the Hub cache as if downloaded from ``repo_id``."""
    save_fast_model(net, folder, STYLE)
    for name in ("model.safetensors", "config.json"):
        put_in_hub_cache(hub_cache, repo_id, name, (folder / name).read_bytes())


def test_hub_repo_model_loads_offline_from_cache(hub_cache, tmp_path, textured_net):
    _publish(hub_cache, tmp_path / "published", textured_net, "someone/my-style")
    model = fast.load_hub_model("someone/my-style")
    assert model.style.title == "Test"
    assert torch.equal(model.net.out.conv.weight, textured_net.out.conv.weight)
    with pytest.raises(InvalidInput, match="Hub repo id such as"):
        fast.load_hub_model("no slash here")
    with pytest.raises(WeightsUnavailable):
        fast.load_hub_model("someone/absent")


@pytest.mark.parametrize("size", [(64, 48), (61, 37), (33, 90)])
def test_output_has_the_input_size(textured_net, size):
    image = Image.open(EXAMPLES / "chelsea.jpg").resize(size)
    assert _stylize(image, textured_net, precision="fp32").image.size == size


def test_strength_and_luminance(textured_net):
    image = Image.open(EXAMPLES / "chelsea.jpg").resize((96, 64))
    none = _stylize(image, textured_net, strength=0.0, precision="fp32").image
    assert np.abs(np.asarray(none, dtype=int) - np.asarray(image, dtype=int)).max() <= 1
    full = _stylize(image, textured_net, precision="fp32").image
    half = _stylize(image, textured_net, strength=0.5, precision="fp32").image
    expected = (np.asarray(full, dtype=float) + np.asarray(image, dtype=float)) / 2
    assert np.abs(np.asarray(half, dtype=float) - expected).max() <= 1.0
    kept = _stylize(image, textured_net, color="luminance", precision="fp32").image

    def chroma_error(result: Image.Image) -> float:
        return float((rgb_to_yiq(to_tensor(result))[:, 1:] - rgb_to_yiq(to_tensor(image))[:, 1:]).abs().mean())

    assert chroma_error(full) > 0.05
    assert chroma_error(kept) < 0.01
    with pytest.raises(InvalidInput, match="strength"):
        _stylize(image, textured_net, strength=2.0)


@pytest.mark.parametrize("size", [(420, 300), (430, 301)])  # 301: a fixed 256 px tile would start at row 45
def test_tiles_leave_no_seams(textured_net, size):
    image = Image.open(EXAMPLES / "astronaut.jpg").resize(size)
    whole = _stylize(image, textured_net, precision="fp32", tile_pixels=10**7)
    # With statistics from the full-size picture, tiling alone must change next to nothing: tiles start on the
    # whole picture's stride-2 grid (a tile off it is a shifted rendering: 17 dB with this net).
    exact = _stylize(image, textured_net, precision="fp32", tile_pixels=256 * 256, stats_pixels=10**7)
    assert whole.tiles == 1 and exact.tiles == 4
    assert _psnr(whole.image, exact.image) > 45
    # With statistics from a smaller copy (bounded memory) the tone may shift a little, evenly: no seams.
    bounded = _stylize(image, textured_net, precision="fp32", tile_pixels=256 * 256, stats_pixels=256 * 256)
    assert _psnr(whole.image, bounded.image) > 30
    difference = np.abs(np.asarray(whole.image, float) - np.asarray(bounded.image, float)).mean(axis=(0, 2))
    (_, left_end), (right_start, _) = windows.fitted_spans(size[0], 256, TILE_OVERLAP, ALIGN)
    seam = difference[right_start:left_end].mean()  # the overlap of the two tile columns
    assert seam < 1.5 * difference.mean()


@pytest.mark.parametrize("length", [257, 300, 1025, 1225, 1632, 2000, 4001, 6000])
def test_tiles_are_few_small_and_on_the_pictures_grid(length):
    """Tiles cover the side with the overlap the cross-fade needs, start on multiples of 4 and are no larger than
    their count needs: a 1632x1225 picture runs on 1.3x its pixels (fixed 1024 px tiles: 2.1x)."""
    tile = 256 if length < 512 else 1024
    spans = windows.fitted_spans(length, tile, TILE_OVERLAP, ALIGN)
    assert spans[0][0] == 0 and spans[-1][1] == length
    assert all(start % ALIGN == 0 for start, _ in spans)
    assert all(end - start <= tile + ALIGN for start, end in spans)
    assert all(previous_end - start >= TILE_OVERLAP for (_, previous_end), (start, _) in zip(spans, spans[1:]))
    # no fewer windows would do, and together they cover little more than the side and its overlaps
    assert len(spans) == math.ceil((length - TILE_OVERLAP - ALIGN) / (tile - TILE_OVERLAP - ALIGN))
    assert sum(end - start for start, end in spans) <= length + len(spans) * (TILE_OVERLAP + 2 * ALIGN)
    rows, columns = (windows.fitted_spans(side, 1024, TILE_OVERLAP, ALIGN) for side in (1225, 1632))
    covered = sum((r1 - r0) * (c1 - c0) for r0, r1 in rows for c0, c1 in columns)
    assert covered < 1.35 * 1225 * 1632


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_the_fused_instance_norm_is_the_instance_norm(dtype):
    """One picture goes through the batch-norm kernels (one pass, layout kept), several through the composed
    form; both normalize per picture and channel, on their own statistics or on given ones."""
    torch.manual_seed(0)
    x = (torch.randn(2, 8, 20, 24) * 3 + 1).to(dtype).contiguous(memory_format=torch.channels_last)
    scale, shift = torch.rand(8) + 0.5, torch.randn(8)
    expected = torch.nn.functional.instance_norm(x.float(), weight=scale, bias=shift, eps=1e-5)
    tolerance = 1e-4 if dtype == torch.float32 else 0.05
    record: list = []
    one = instance_norm(x[:1], scale, shift, 1e-5, record=record)
    assert one.dtype == dtype and one.is_contiguous(memory_format=torch.channels_last)
    assert torch.allclose(one.float(), expected[:1], atol=tolerance)
    both = instance_norm(x, scale, shift, 1e-5, record=record)
    assert torch.allclose(both.float(), expected, atol=tolerance)
    (mean, var), (means, variances) = record
    assert mean.dtype == var.dtype == torch.float32 and mean.shape == var.shape == (1, 8, 1, 1)
    assert torch.allclose(mean, means[:1], atol=1e-3) and torch.allclose(var, variances[:1], rtol=2e-3)
    # given statistics: another picture's, so the output is that picture's normalization applied to this one
    shifted = instance_norm(x[1:] + 1, scale, shift, 1e-5, given=(mean, var))
    by_hand = (x[1:].float() + 1 - mean) / torch.sqrt(var + 1e-5) * scale.view(1, -1, 1, 1) + shift.view(1, -1, 1, 1)
    assert torch.allclose(shifted.float(), by_hand, atol=tolerance)


def test_fast_path_output_matches_fp32(textured_net):
    """bf16 + channels_last against fp32: at least 35 dB PSNR."""
    image = Image.open(EXAMPLES / "coffee.jpg").resize((160, 120))
    reference = _stylize(image, textured_net, precision="fp32").image
    quick = _stylize(image, textured_net, precision="bf16")
    assert "bfloat16" in quick.runtime
    assert _psnr(reference, quick.image) >= 35


@pytest.mark.parametrize("precision", ["bf16", "fp32"])  # fp32: what a CPU without bf16 kernels runs
def test_compiled_network_matches_eager_for_every_size_after_one_warm_up(textured_net, precision):
    """torch.compile: compiled once (whole image, tile statistics, tiles), then no recompiling for
    other networks, sizes, aspect ratios or tilings, and the same output as the eager network."""
    from torch._dynamo.utils import counters

    compiler = fast.Compiler()
    fast.warm_up(compiler, precision)
    graphs = counters["stats"]["unique_graphs"]
    assert compiler.error is None
    for size, tile_pixels in (((160, 120), 10**7), ((61, 97), 10**7), ((300, 280), 256 * 256)):
        image = Image.open(EXAMPLES / "astronaut.jpg").resize(size)
        eager = _stylize(image, textured_net, precision=precision, tile_pixels=tile_pixels)
        compiled = _stylize(image, textured_net, precision=precision, tile_pixels=tile_pixels, compiler=compiler)
        assert compiled.runtime.endswith(", compiled") and compiled.tiles == eager.tiles
        assert compiled.image.size == size
        assert _psnr(eager.image, compiled.image) > 40, size
    assert counters["stats"]["unique_graphs"] == graphs
    # The compiled statistics are fp32, as the eager ones are: a tile graph that then fails to run (here: made
    # to) falls back to eager tiles normalized with them, which once refused bf16 statistics ("mixed dtype").
    statistics = fast_run.statistics_of(FastModel(textured_net, STYLE), to_tensor(image),
                                        pick_runtime(precision=precision), compiler)
    assert {tensor.dtype for pair in statistics for tensor in pair} == {torch.float32}

    def failing_graph(*args):
        raise RuntimeError("backend compiler failed")

    compiler._compiled[fast_run._autocast_forward] = failing_graph
    fallback = _stylize(image, textured_net, precision=precision, tile_pixels=256 * 256, compiler=compiler)
    assert fallback.runtime.endswith("eager (compiling is unavailable on this server)")
    assert _psnr(eager.image, fallback.image) > 40


def test_only_the_pictures_height_and_width_are_compiled_as_symbols(textured_net, monkeypatch):
    """Sizes that never vary (channels, the weights' shapes) stay constants: with every size a symbol the warm-up
    compiled 1.15x slower and loaded from its cache 2x slower (bench/fast_style.py --compile)."""
    compiles, symbols = [], []

    def recording_compile(function, **options):
        compiles.append(options)

        def compiled(*args):
            symbols.append([sorted(getattr(value, "_dynamo_dynamic_indices", ())) for value in args
                            if isinstance(value, torch.Tensor)])
            return function(*args)
        return compiled

    monkeypatch.setattr(torch, "compile", recording_compile)
    _stylize(Image.open(EXAMPLES / "coffee.jpg").resize((64, 48)), textured_net, precision="fp32",
             compiler=fast.Compiler())
    assert compiles == [{}]  # Dynamo's default: a size becomes a symbol only when marked or seen to change
    assert symbols == [[[2, 3]]]  # the picture (1, 3, height, width), its height and width
    assert not any(hasattr(parameter, "_dynamo_dynamic_indices") for parameter in textured_net.parameters())


def test_a_failing_compiler_falls_back_to_eager_once_and_names_no_server_file(textured_net, monkeypatch, tmp_path):
    attempts = []
    outside_the_cache = tmp_path / "lib" / "kernel.so"  # named by the error, but not Inductor's: left alone
    outside_the_cache.parent.mkdir()
    outside_the_cache.write_bytes(b"")

    def broken_compile(function, **options):
        def compiled(*args):
            attempts.append(args)
            raise RuntimeError(f"no C++ compiler found\n{outside_the_cache}: file too short")
        return compiled

    monkeypatch.setattr(torch, "compile", broken_compile)
    compiler = fast.Compiler()
    image = Image.open(EXAMPLES / "coffee.jpg").resize((64, 48))
    eager = _stylize(image, textured_net, precision="fp32")
    for _ in range(2):
        result = _stylize(image, textured_net, precision="fp32", compiler=compiler)
        assert result.runtime.endswith(", eager (compiling is unavailable on this server)")
        assert str(tmp_path) not in json.dumps(result.settings)
        assert np.array_equal(np.asarray(result.image), np.asarray(eager.image))
    assert len(attempts) == 1 and outside_the_cache.exists()
    assert compiler.error == "RuntimeError: no C++ compiler found"  # for the server's log


def test_the_warm_up_waits_for_a_compilation_under_way_and_compiles_every_graph(textured_net, monkeypatch):
    """Requests do not wait for another thread's compilation (see test_app); the warm-up does, or it would leave
    graphs uncompiled for the requests after it."""
    import threading
    import time

    monkeypatch.setattr(torch, "compile", lambda function, **options: function)  # "compiling" costs nothing here
    compiler = fast.Compiler()
    busy = threading.Thread(target=lambda: (compiler.lock.acquire(), time.sleep(1.0), compiler.lock.release()))
    busy.start()
    time.sleep(0.1)
    started = time.monotonic()
    fast.warm_up(compiler, "fp32", models=[FastModel(textured_net, STYLE)])
    assert time.monotonic() - started > 0.8 and compiler.label() == "compiled"
    assert {fast_run._autocast_forward, fast_run._autocast_statistics} <= set(compiler._compiled)
    busy.join()


def test_the_warm_up_builds_each_graph_in_a_moment_without_requests(textured_net, monkeypatch):
    """Building a graph holds the interpreter lock for seconds, even from a warm cache: a request beside the
    server's warm-up took twice its time. Each graph waits for no request to run, but not for ever."""
    import time

    import nst_core.control as control

    monkeypatch.setattr(control, "QUIET_POLL_S", 0.0)
    looks, running = [], [1]

    def activity():
        if len(looks) % 4 == 3:  # each request ends at the fourth look after it began
            running[0] = 0
        looks.append(running[0])
        return len(looks), running[0]

    built = []

    def build(image, model, settings, compiler):
        built.append(looks[-1])  # what the activity showed last before this graph
        running[0] = 1  # and a request arrives while it is built

    monkeypatch.setattr(fast_run, "stylize_fast", build)
    models = [FastModel(textured_net, STYLE)]
    fast.warm_up(fast.Compiler(), models=models, activity=activity)
    assert built == [0, 0, 0] and len(looks) == 3 * 4
    began = time.monotonic()
    fast.warm_up(fast.Compiler(), models=models, activity=lambda: (0, 1), patience_s=0.05)  # requests never end
    assert len(built) == 6 and time.monotonic() - began < 2


def _forward(net, x):
    return net(x)


@pytest.fixture
def recording_compiler(monkeypatch) -> tuple[fast.Compiler, list[str]]:
    """A compiler whose ``torch.compile`` records the network type of every compiled run (and runs it eagerly)."""
    compiled_runs = []

    def compile_(function, **options):
        return lambda net, x: compiled_runs.append(type(net).__name__) or function(net, x)

    monkeypatch.setattr(torch, "compile", compile_)
    return fast.Compiler(), compiled_runs


def test_a_call_that_needs_a_new_graph_runs_eagerly_while_another_is_being_built(recording_compiler):
    """Graphs are told apart by architecture, not only by function: a one-pass network arriving while the warm-up
    built a graph once went through the feed-forward network's compiled function and compiled for a minute
    beside it; now it runs eagerly, and a network whose graph is built runs compiled without the lock."""
    compiler, compiled_runs = recording_compiler
    linear, convolution, x = torch.nn.Linear(4, 4), torch.nn.Conv1d(4, 4, 1), torch.ones(1, 4, 4)
    compiler.run(_forward, linear, x)
    assert compiled_runs == ["Linear"] and compiler.label() == "compiled"
    with compiler.lock:  # another thread is building a graph
        compiler.run(_forward, convolution, x)
        assert compiled_runs == ["Linear"] and compiler.label().startswith("eager (the compiled network")
        compiler.run(_forward, torch.nn.Linear(4, 4), 2 * x)  # same architecture, size and inputs: built
        assert compiled_runs == ["Linear", "Linear"] and compiler.label() == "compiled"
    compiler.run(_forward, convolution, x)
    assert compiled_runs[-1] == "Conv1d"


def test_while_builds_are_held_only_the_warm_up_builds_a_graph(recording_compiler):
    """A server's first request came before its warm-up had taken the lock and built the graph itself: 37 s on a
    cold cache, where an eager pass takes 1 s. Between hold and release a request that needs a new graph runs
    eagerly (and the cost estimate counts it so); a built graph still runs compiled; the warm-up builds."""
    compiler, compiled_runs = recording_compiler
    linear, convolution, x = torch.nn.Linear(4, 4), torch.nn.Conv1d(4, 4, 1), torch.ones(1, 4, 4)
    compiler.run(_forward, linear, x)
    compiler.hold_builds()
    assert not compiler.ready
    compiler.run(_forward, convolution, x)
    assert compiled_runs == ["Linear"] and compiler.label().startswith("eager (the compiled network")
    compiler.run(_forward, linear, x)
    assert compiled_runs == ["Linear", "Linear"] and compiler.label() == "compiled"
    with compiler.patiently():  # the warm-up
        compiler.run(_forward, convolution, x)
    assert compiled_runs[-1] == "Conv1d"
    compiler.hold_builds()
    compiler.run(_forward, torch.nn.Conv2d(4, 4, 1), x[..., None])
    assert compiled_runs[-1] == "Conv1d" and compiler.label().startswith("eager")
    compiler.release_builds()
    assert compiler.ready
    compiler.run(_forward, torch.nn.Conv2d(4, 4, 1), x[..., None])
    assert compiled_runs[-1] == "Conv2d" and compiler.label() == "compiled"


def test_when_the_eager_call_fails_too_the_compilers_reason_is_still_logged(monkeypatch, caplog):
    """The eager call after a failed compile raises its own error; the compiler's is the clue to why both failed."""
    def broken_compile(function, **options):
        def compiled(*args):
            raise RuntimeError("backend compiler failed: reason one")
        return compiled

    def failing_eagerly(x):
        raise RuntimeError("mixed dtype (CPU)")

    monkeypatch.setattr(torch, "compile", broken_compile)
    compiler = fast.Compiler()
    with caplog.at_level("WARNING", logger="nst_core.image.fast.run"), pytest.raises(RuntimeError, match="mixed"):
        compiler.run(failing_eagerly, torch.zeros(1))
    assert "backend compiler failed: reason one" in caplog.text
    assert compiler.error is None  # not given up on: the next call compiles again


def test_a_kernel_that_fails_again_after_its_rebuild_is_not_rebuilt_again(textured_net, monkeypatch, tmp_path):
    """A failure that names a cached library for another reason (its rebuild fails too) costs one rebuild, not
    one per allowed retry: each compile can take minutes while requests wait."""
    monkeypatch.setenv("TORCHINDUCTOR_CACHE_DIR", str(tmp_path))
    library = tmp_path / "ab" / "kernel.so"
    library.parent.mkdir()
    library.write_bytes(b"\x7fELF")
    attempts = []

    def failing_compile(function, **options):
        def compiled(*args):
            attempts.append(args)
            library.write_bytes(b"\x7fELF")  # built again, and failing again
            raise ImportError(f"{library}: undefined symbol")
        return compiled

    monkeypatch.setattr(torch, "compile", failing_compile)
    compiler = fast.Compiler()
    image = Image.open(EXAMPLES / "coffee.jpg").resize((64, 48))
    result = _stylize(image, textured_net, precision="fp32", compiler=compiler)
    assert len(attempts) == 2 and compiler.error is not None
    assert result.runtime.endswith("eager (compiling is unavailable on this server)")


COMPILE_ONCE = """
import logging, torch
from nst_core.image.fast.run import Compiler
logging.basicConfig(level=logging.WARNING)
x = torch.randn(64, 64)
compiler = Compiler()
y = compiler.run(lambda x: torch.relu(x) * 2 + 1, x)
print(compiler.error, torch.allclose(y, torch.relu(x) * 2 + 1))
"""


def test_a_kernel_left_broken_in_the_compile_cache_is_built_again(tmp_path):
    """A start stopped while Inductor wrote a kernel leaves it truncated (seen: a 0-byte .so); the next start must
    build it again, not run eagerly from then on."""
    environment = {**os.environ, "TORCHINDUCTOR_CACHE_DIR": str(tmp_path)}

    def start() -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-c", COMPILE_ONCE], env=environment, capture_output=True, text=True,
                              cwd=ROOT, timeout=300)

    first = start()
    assert first.stdout.split() == ["None", "True"], first.stderr[-2000:]
    libraries = list(tmp_path.rglob("*.so"))
    assert libraries
    for library in libraries:
        library.write_bytes(b"")
    second = start()
    assert second.stdout.split() == ["None", "True"], second.stderr[-2000:]
    assert "broken compiled kernel was removed" in second.stderr


def test_each_cpu_kernel_level_compiles_into_its_own_inductor_cache(monkeypatch, tmp_path):
    """AVX-512 entries served to an AVX2 run gave a wrong picture: a compiler keeps the levels apart, and a
    folder the user names is left as it is."""
    from torch._inductor.runtime.cache_dir_utils import cache_dir, default_cache_dir

    folders = {}
    for level, variable in (("AVX2", None), ("AVX512", None), ("AVX2", default_cache_dir())):
        # unset, or torch's own default (which importing torch._dynamo writes into the variable)
        if variable is None:
            monkeypatch.delenv("TORCHINDUCTOR_CACHE_DIR", raising=False)
        else:
            monkeypatch.setenv("TORCHINDUCTOR_CACHE_DIR", variable)
        monkeypatch.setattr(torch.backends.cpu, "get_cpu_capability", lambda level=level: level)
        fast.Compiler()
        folders[level, variable] = cache_dir()  # where Inductor itself will write
    assert folders == {("AVX2", None): str(Path(default_cache_dir()) / "cpu-avx2"),
                       ("AVX512", None): str(Path(default_cache_dir()) / "cpu-avx512"),
                       ("AVX2", default_cache_dir()): str(Path(default_cache_dir()) / "cpu-avx2")}
    monkeypatch.setenv("TORCHINDUCTOR_CACHE_DIR", str(tmp_path))
    fast.Compiler()
    assert cache_dir() == str(tmp_path)


@pytest.fixture
def photo_folder(tmp_path):
    folder = tmp_path / "photos"
    folder.mkdir()
    for i, name in enumerate(["chelsea.jpg", "coffee.jpg"]):
        Image.open(EXAMPLES / name).resize((72, 56)).save(folder / f"{i}.png")
    (folder / "broken.jpg").write_text("not an image")  # must be skipped, not crash training
    return folder


def test_training_loss_falls_checkpoints_round_trip_and_resume(photo_folder, tmp_path):
    loss_net = random_backbone("vgg19", seed=1)
    config = TrainConfig(style=EXAMPLES / "style_mosaic.jpg", data=photo_folder, out=tmp_path / "model",
                         size=48, batch_size=2, steps=8, checkpoint_every=4, learning_rate=1e-2, seed=3)
    losses = []
    out = train(config, network=loss_net, on_progress=lambda e: losses.append(e.losses["total"]))
    assert np.mean(losses[-3:]) < 0.7 * np.mean(losses[:2]), losses
    early, final = (Image.open(folder / "sample.png") for folder in (out / "checkpoints" / "step-000004", out))
    assert _psnr(early, final) < 60  # each sample shows its own checkpoint's weights, not a cached copy
    loaded = load_fast_model(out / "model.safetensors")
    net, style = loaded.net, loaded.style
    assert style.title == config.title

    steps_seen = []
    train(TrainConfig(**{**config.__dict__, "steps": 10, "resume": True}), network=loss_net,
          on_progress=lambda e: steps_seen.append(e.step))
    assert steps_seen == [9, 10]
    resumed = load_fast_model(out / "checkpoints" / "step-000010" / "model.safetensors").net
    assert not torch.equal(resumed.out.conv.weight, net.out.conv.weight)


def test_the_same_hub_model_can_be_loaded_twice(hub_cache, tmp_path, textured_net):
    _publish(hub_cache, tmp_path / "published", textured_net, "someone/twice")
    first = fast.load_hub_model("someone/twice").net
    second = fast.load_hub_model("someone/twice").net
    assert torch.equal(first.out.conv.weight, second.out.conv.weight)
