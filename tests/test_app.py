"""The app as its users reach it: launched on 127.0.0.1 and driven through gradio_client."""

from __future__ import annotations

import collections
import dataclasses
import os
import re
import subprocess
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from gradio_client import Client, handle_file
from gradio_client.exceptions import ValidationError
from torch.overrides import TorchFunctionMode

from conftest import EXAMPLES, ROOT, live_app
from nst_core.audio.backends import AUDIO_BACKENDS
from nst_core.image.backbones import BACKBONES
from nst_core.image.io import read_png_settings


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    with live_app(tmp_path_factory) as (_, demo):
        yield Client(demo.local_url, verbose=False)


class _TensorCalls(TorchFunctionMode):
    """Counts the torch functions called on this thread that take or give a tensor."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: collections.Counter = collections.Counter()

    def __torch_function__(self, func, types, args=(), kwargs=None):
        result = func(*args, **(kwargs or {}))
        if any(isinstance(value, torch.Tensor) for value in (*args, *(kwargs or {}).values(), result)):
            self.calls[getattr(func, "__name__", str(func))] += 1
        return result


def test_work_in_a_passing_thread_gives_its_value_and_its_error_to_the_caller():
    from nst_core import InvalidInput
    from nst_core.runtime import in_passing_thread

    assert in_passing_thread(lambda: threading.current_thread().name) == "nst-passing"

    def refuse() -> None:
        raise InvalidInput("refused there")

    with pytest.raises(InvalidInput, match="refused there"):
        in_passing_thread(refuse)
    assert "nst-passing" not in {thread.name for thread in threading.enumerate()}


def test_app_starts_fast_offline_says_which_models_are_missing_and_leaves_the_main_thread_idle(hub_cache,
                                                                                               monkeypatch):
    import app
    from nst_core import hub

    monkeypatch.delenv("HF_HUB_OFFLINE")
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")  # nothing listens: like a machine without network
    hub._reachable.clear()
    probes = []
    probe = hub.host_reachable
    monkeypatch.setattr(hub.environment, "host_reachable", lambda *a, **k: probes.append(a) or probe(*a, **k))
    import huggingface_hub

    def refuse(*args, **kwargs):
        raise AssertionError("building the page started a download")

    monkeypatch.setattr(huggingface_hub, "hf_hub_download", refuse)
    with _TensorCalls() as main_thread:  # torch function modes are per thread: the main thread's calls only
        demo = app.build_app()
    # The 26 styles' thumbnails were stylized on the main thread; the OpenMP pool it kept from then on made every
    # job's parallel regions wait for their workers to wake (bench/threads.py: frames of a small video 1.7x slower).
    assert not main_thread.calls, main_thread.calls.most_common(5)
    # It asked the network nothing that can wait: short connection probes only (answered from a cache after the
    # first, each bounded by hub.CONNECT_TIMEOUT_S), and no download.
    from urllib.parse import urlparse

    hosts = {urlparse(url).hostname for url, *_ in probes}
    assert "127.0.0.1" in hosts and len(hub._reachable) == len(hosts) <= 3 and hub.CONNECT_TIMEOUT_S <= 3
    from ui import models

    report = models.weights_report({"VGG19 (original)": "vgg19-original", "VGG16": "vgg16-torchvision"})
    assert "VGG19 (original): verified" in report or "VGG19 (original): ready" in report
    assert "VGG16: **unavailable**" in report and "cannot be reached" in report and "HF_HOME" in report
    assert str(hub_cache) not in report
    assert len(models.PANELS) == 3 and not app.weights.FETCHER.running
    # The Image tab marks each network that cannot run here, as the other tabs do, before a click.
    network = next(block for block in demo.blocks.values() if [value for _, value in getattr(
        block, "choices", None) or []] == list(BACKBONES))
    assert dict((value, label) for label, value in network.get_config()["choices"]) == {
        name: spec.label + ("" if name == "vgg19" else " (not available here)") for name, spec in BACKBONES.items()}
    timers = [block for block in demo.blocks.values() if type(block).__name__ == "Timer"]
    assert len(timers) == 1 and timers[0].active is False  # no fetch runs, so the panels do not poll


@pytest.mark.parametrize("backbone", [name for name in BACKBONES if name != "vgg19"])  # all but the bundled one
def test_choosing_an_unavailable_backbone_is_a_clear_error(client, backbone):
    weights = BACKBONES[backbone].weights
    with pytest.raises(Exception, match=f"weights '{weights}' are unavailable.*HF_HUB_OFFLINE=1"):
        client.predict(**_image_args(handle_file(EXAMPLES / "chelsea.jpg"),
                                     [handle_file(EXAMPLES / "style_waves.jpg")], backbone=backbone),
                       api_name="/image")


def _image_args(content, styles, **overrides):
    args = dict(content=content, styles=styles, style_blend="", backbone="vgg19", size=64, steps=3, style_weight=5.0,
                content_weight=1.0, tv_weight=10.0, style_scale=1.0, color="none", init="content",
                optimizer="lbfgs", seed=0, pooling="max", precision="auto")
    args.update(overrides)
    return args


def _a_plot(plot: dict) -> None:
    """The loss curves reach a client as a PNG picture (matplotlib's, with its legend)."""
    import base64
    import io

    from PIL import Image

    assert plot["type"] == "matplotlib", plot
    data = plot["plot"].split(",", 1)[1]
    assert Image.open(io.BytesIO(base64.b64decode(data))).size[0] >= 400


def test_image_endpoint_returns_png_with_settings(client):
    preview, download, status, losses = client.predict(
        **_image_args(handle_file(EXAMPLES / "chelsea.jpg"), [handle_file(EXAMPLES / "style_mosaic.jpg")],
                      color="luminance", seed=5),
        api_name="/image",
    )
    _a_plot(losses)
    settings = read_png_settings(download)
    assert settings["seed"] == 5 and settings["color"] == "luminance" and settings["size"] == 64
    assert "Done" in status


def test_image_endpoint_takes_a_schedule(client):
    _, download, status, losses = client.predict(
        **_image_args(handle_file(EXAMPLES / "chelsea.jpg"), [handle_file(EXAMPLES / "style_mosaic.jpg")],
                      size=181), schedule="2, 3", api_name="/image")
    assert read_png_settings(download)["schedule"] == [2, 3]
    assert "(5 steps over 2 scales)" in status
    with pytest.raises(Exception, match="3 step counts for 2 scales"):
        client.predict(**_image_args(handle_file(EXAMPLES / "chelsea.jpg"),
                                     [handle_file(EXAMPLES / "style_mosaic.jpg")], size=181),
                       schedule="2, 3, 4", api_name="/image")


def test_image_endpoint_starts_from_the_one_pass_result_and_shows_it_first(client):
    files = (handle_file(EXAMPLES / "chelsea.jpg"), [handle_file(EXAMPLES / "style_mosaic.jpg")])
    job = client.submit(**_image_args(*files, size=181, init="one-pass"), schedule="0, 3", api_name="/image")
    _, download, status, _ = job.result()
    assert read_png_settings(download)["init"] == "one-pass" and "Done" in status
    # The stream also carries "no change" updates (the worker's heartbeats); the first real status:
    statuses = [output[2] for output in job.outputs() if isinstance(output[2], str)]
    assert statuses[0].startswith("**The one-pass result**"), statuses[:2]


def test_image_endpoint_refines_a_one_pass_start_at_the_last_scales_and_checks_the_descent(client):
    """No schedule: the one-pass schedule's last counts, in proportion to 3 steps per scale (the network's 20 at
    128 px and 23 at 181 px: 2 and 2); the pyramid with Adam is refused with a reason."""
    files = (handle_file(EXAMPLES / "chelsea.jpg"), [handle_file(EXAMPLES / "style_mosaic.jpg")])
    _, download, status, _ = client.predict(**_image_args(*files, size=181, init="one-pass"), api_name="/image")
    assert "(4 steps over 2 scales)" in status
    assert read_png_settings(download)["parametrization"] == "auto"
    with pytest.raises(Exception, match="pyramid needs the L-BFGS optimizer"):
        client.predict(**_image_args(*files, size=64, optimizer="adam"), parametrization="pyramid",
                       api_name="/image")


def test_image_endpoint_takes_a_scale_spacing(client):
    """x2 spacing: 128 and 256 px only (x1.41 would add 181 px, and two counts would not fit its three scales)."""
    files = (handle_file(EXAMPLES / "chelsea.jpg"), [handle_file(EXAMPLES / "style_mosaic.jpg")])
    # The client describes the choice as texts ("Literal['1.4142135623730951', '2.0']"); a text was refused.
    described = next(p["python_type"]["type"] for p in client.view_api(return_format="dict", print_info=False)[
        "named_endpoints"]["/image"]["parameters"] if p["parameter_name"] == "scale_ratio")
    for spacing in (2.0, re.findall(r"'([^']*)'", described)[-1]):
        _, download, status, losses = client.predict(**_image_args(*files, size=256), schedule="2, 3",
                                                     scale_ratio=spacing, api_name="/image")
        assert read_png_settings(download)["scale_ratio"] == 2.0
        assert "(5 steps over 2 scales)" in status
    with pytest.raises(Exception, match="2 step counts for 3 scales"):
        client.predict(**_image_args(*files, size=256), schedule="2, 3", api_name="/image")
    with pytest.raises(Exception, match=r"scale_ratio: .*: 3.0 is not one of the choices \(1\.41"):
        client.predict(**_image_args(*files), scale_ratio=3.0, api_name="/image")
    with pytest.raises(Exception, match=r"scale_ratio: .*: '2\.5' is not one of the choices"):
        client.predict(**_image_args(*files), scale_ratio="2.5", api_name="/image")


def test_image_endpoint_holds_the_style_from_a_size(client):
    """Above ``hold_style_from`` a run that falls behind the style raises its weight and says so; 0 turns it off."""
    files = (handle_file(EXAMPLES / "chelsea.jpg"), [handle_file(EXAMPLES / "style_mosaic.jpg")])
    _, download, status, _ = client.predict(**_image_args(*files, size=256), schedule="20, 30, 30",
                                            hold_style_from=128, api_name="/image")
    assert read_png_settings(download)["hold_style_from"] == 128
    assert "style weight was raised" in status
    _, download, status, _ = client.predict(**_image_args(*files), hold_style_from=None, api_name="/image")
    assert read_png_settings(download)["hold_style_from"] is None and "raised" not in status


def test_image_endpoint_styles_only_inside_a_region(client, tmp_path):
    """An uploaded black-and-white mask as the editor's picture: the style goes to its white half only."""
    from PIL import Image

    content = Image.open(EXAMPLES / "chelsea.jpg")
    mask = np.zeros((content.height, content.width), np.uint8)
    mask[:, : content.width // 2] = 255
    Image.fromarray(mask).save(tmp_path / "mask.png")
    editor = {"background": handle_file(tmp_path / "mask.png"), "layers": [], "composite": None}
    _, download, status, _ = client.predict(
        **_image_args(handle_file(EXAMPLES / "chelsea.jpg"), [handle_file(EXAMPLES / "style_mosaic.jpg")],
                      size=96, steps=20, precision="fp32"),
        region_mask=editor, outside="content", api_name="/image")
    result = np.asarray(Image.open(download).convert("RGB"), float)
    photo = np.asarray(content.convert("RGB").resize((result.shape[1], result.shape[0])), float)
    half = result.shape[1] // 2
    changed_inside = np.abs(result[:, : half - 6] - photo[:, : half - 6]).mean()
    changed_outside = np.abs(result[:, half + 6:] - photo[:, half + 6:]).mean()
    assert changed_outside < 0.35 * changed_inside, (changed_inside, changed_outside)
    assert read_png_settings(download)["mask"] == "mask.png"  # the file's name, never its folder


def _png(array: np.ndarray) -> bytes:
    import io

    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG")
    return buffer.getvalue()


def test_painted_strokes_make_the_mask(tmp_path):
    """The editor's files as sent (a path, or a layer's bytes sent ahead), decoded by the run."""
    from ui.region_editor import region_mask

    background = np.full((4, 6, 3), 200, np.uint8)
    (tmp_path / "background.png").write_bytes(_png(background))
    layer = np.zeros((4, 6, 4), np.uint8)
    layer[1:3, 2:4, 3] = 255
    mask = region_mask({"background": str(tmp_path / "background.png"), "layers": [_png(layer)]})
    assert mask.dtype == np.uint8 and (mask > 0).sum() == 4 and mask[1, 2] == 255 and mask[0, 0] == 0
    # Several layers add up, whatever their size; a layer without opacity paints nothing.
    other = np.zeros((8, 12, 4), np.uint8)
    other[0:4, 0:4, 3] = 255  # twice the size: its top-left 2x2 at the first layer's
    union = region_mask({"background": None, "layers": [_png(layer), _png(other), _png(background)]})
    assert union.shape == (4, 6) and (union > 0).sum() == 8 and union[:2, :2].all()
    unpainted = region_mask({"background": str(tmp_path / "background.png"), "layers": [_png(layer * 0)]})
    assert unpainted == str(tmp_path / "background.png")  # the uploaded picture is the mask
    assert region_mask(None) is None and region_mask({"background": None, "layers": []}) is None
    # The editor starts from the content photo: the photo alone, unpainted, is no mask; strokes on it are, and so
    # is an uploaded black-and-white mask of the photo's size.
    photo = _png(np.random.default_rng(0).integers(64, 192, (4, 6, 3), dtype=np.uint8))
    assert region_mask({"background": photo, "layers": []}, (6, 4)) is None
    assert (region_mask({"background": photo, "layers": [_png(layer)]}, (6, 4)) > 0).sum() == 4
    drawn = np.zeros((4, 6, 3), np.uint8)
    drawn[:, 3:] = 255
    assert region_mask({"background": _png(drawn), "layers": []}, (6, 4)) == _png(drawn)


def test_image_endpoint_rejects_a_non_image_and_keeps_serving(client, tmp_path):
    bogus = tmp_path / "notes.png"
    bogus.write_text("not an image at all")
    with pytest.raises(Exception, match="content image is not an image that can be read"):
        client.predict(**_image_args(handle_file(bogus), [handle_file(EXAMPLES / "style_mosaic.jpg")]),
                       api_name="/image")
    with pytest.raises(Exception, match="style image 1 is not an image that can be read"):
        client.predict(**_image_args(handle_file(EXAMPLES / "chelsea.jpg"), [handle_file(bogus)]),
                       api_name="/image")
    with pytest.raises(Exception, match="size is 99999 px; this server allows 1024 px at most"):
        client.predict(**_image_args(handle_file(EXAMPLES / "chelsea.jpg"),
                                     [handle_file(EXAMPLES / "style_waves.jpg")], size=99999),
                       api_name="/image")
    with pytest.raises(Exception, match="blend weight"):
        client.predict(**_image_args(handle_file(EXAMPLES / "chelsea.jpg"),
                                     [handle_file(EXAMPLES / "style_waves.jpg")], style_blend="1, 2"),
                       api_name="/image")
    # The worker survived: a good request still succeeds.
    _, download, _, _ = client.predict(
        **_image_args(handle_file(EXAMPLES / "coffee.jpg"), [handle_file(EXAMPLES / "style_waves.jpg")]),
        api_name="/image",
    )
    assert read_png_settings(download)["backbone"] == "vgg19"


def _fast_args(content, **overrides):
    args = dict(content=content, style="Custom model", model_files=[], repo_id="", strength=1.0, color="none",
                precision="auto", compiled=False)
    args.update(overrides)
    return args


def test_fast_endpoint_with_an_uploaded_model(client, tmp_path):
    import torch
    from PIL import Image

    from nst_core.image.fast import FastStyle, TransformerNet, save_fast_model

    torch.manual_seed(0)
    folder = tmp_path / "style"
    save_fast_model(TransformerNet(), folder, FastStyle("x", "Tiny", "", value_range=255, channel_order="rgb"))
    image, status = client.predict(
        **_fast_args(handle_file(EXAMPLES / "coffee.jpg"),
                     model_files=[handle_file(folder / "model.safetensors"), handle_file(folder / "config.json")],
                     compiled=True),
        api_name="/fast",
    )
    assert Image.open(image).size == Image.open(EXAMPLES / "coffee.jpg").size
    assert status.startswith("Tiny:") and "compiled" in status


def _tiny_model_files(tmp_path):
    from nst_core.image.fast import FastStyle, TransformerNet, save_fast_model
    from nst_core.runtime import seeded

    with seeded(0):
        net = TransformerNet()
    save_fast_model(net, tmp_path / "style", FastStyle("x", "Tiny", "", value_range=255, channel_order="rgb"))
    return [handle_file(tmp_path / "style" / "model.safetensors"), handle_file(tmp_path / "style" / "config.json")]


def test_fast_video_endpoint_keeps_frames_rate_and_sound(client, tmp_path):
    import av

    from conftest import panning_frames, write_video

    source = write_video(tmp_path / "clip.mp4", panning_frames(12, (128, 96)), fps=12)
    video, status = client.predict(
        video=handle_file(source), style="Custom model", model_files=_tiny_model_files(tmp_path),
        repo_id="", strength=1.0, color="none", long_side=None, stability="clip", precision="auto", compiled=False,
        api_name="/fast_video",
    )
    with av.open(video) as container:
        assert {s.type for s in container.streams} == {"video", "audio"}
        assert float(container.streams.video[0].average_rate) == 12.0
        assert len(list(container.decode(video=0))) == 12
    assert status.startswith("Tiny: 12 frames at 12 fps, 128x96") and "flicker" in status
    (tmp_path / "notes.mp4").write_text("not a video")
    write_video(tmp_path / "tiny.mp4", panning_frames(3, (2, 2)), fps=12, audio=False)
    for clip, message in (("notes.mp4", "cannot be read"), ("tiny.mp4", "2x2 pixels; Fast styles need at least 16")):
        with pytest.raises(Exception, match=message):  # refused before the queue, where the validator reads it
            client.predict(video=handle_file(tmp_path / clip), style="Custom model",
                           model_files=_tiny_model_files(tmp_path), repo_id="", strength=1.0, color="none",
                           long_side=None, stability="clip", precision="auto", compiled=False, api_name="/fast_video")
    single = write_video(tmp_path / "single.mp4", panning_frames(1, (64, 48)), fps=12, audio=False)
    _, status = client.predict(video=handle_file(single), style="Custom model", model_files=_tiny_model_files(tmp_path),
                               repo_id="", strength=1.0, color="none", long_side=None, stability="clip",
                               precision="auto", compiled=False, api_name="/fast_video")
    assert status.startswith("Tiny: 1 frame at 12 fps, 64x48"), status


def test_live_frames_are_stylized_at_the_chosen_size_and_never_queued(client, tmp_path):
    from PIL import Image

    from ui import state, style_choice

    frame = client.predict(frame=handle_file(EXAMPLES / "coffee.jpg"), style="Custom model",
                           model_files=_tiny_model_files(tmp_path), repo_id="", strength=1.0, color="none",
                           frame_size=256, api_name="/fast_live")
    assert max(Image.open(frame).size) == 256
    uploads = [str(tmp_path / "style" / name) for name in ("model.safetensors", "config.json")]
    grey = np.asarray(Image.open(EXAMPLES / "coffee.jpg").convert("L"))  # a one-channel camera
    import app

    demo = app.build_app()
    (handler,) = [d.fn for d in demo.fns.values() if d.api_name == "fast_live"]
    hits = style_choice.resolve_fast_model.cache_info().hits
    common = dict(style="Custom model", model_files=uploads, repo_id="", precision="auto")
    handler(frame=grey, strength=1.0, color="none", frame_size=256, **common)
    out = handler(frame=grey, strength=0.5, color="luminance", frame_size=320, **common)
    assert max(out.shape[:2]) == 320 and out.shape[2] == 3
    assert style_choice.resolve_fast_model.cache_info().hits > hits  # the model is loaded once, not per frame
    (live,) = [d for d in demo.fns.values() if d.api_name == "fast_live_stream"]
    assert live.concurrency_limit == state.LIVE_SLOTS and live.stream_every == 0.1  # always_last stalls it
    assert live.api_visibility == "private"


def test_fast_endpoints_take_any_picture_and_the_26_styles_offline(client, tmp_path):
    """Offline (the app's Hub cache is empty): any picture as the style, blends, the 26 styles, on a picture, a live
    frame and a video; bad style inputs are refused before queueing with a plain message."""
    from PIL import Image

    from conftest import panning_frames, write_video

    coffee, waves, mosaic = (handle_file(EXAMPLES / n) for n in ("coffee.jpg", "style_waves.jpg", "style_mosaic.jpg"))
    image, status = client.predict(**_fast_args(coffee, style="Any picture", style_images=[waves, mosaic],
                                                style_blend="2, 1"), api_name="/fast")
    assert Image.open(image).size == Image.open(EXAMPLES / "coffee.jpg").size
    assert status.startswith("Any picture (2 blended):")
    assert len(read_png_settings(image)["condition"]) == 100  # the blended style vector
    image, status = client.predict(**_fast_args(coffee, style="26 styles", style_mix="7"), api_name="/fast")
    assert status.startswith("26 styles: style 7:") and read_png_settings(image)["condition"][7] == 1.0
    frame = client.predict(frame=coffee, style="Any picture", style_images=[waves], style_blend="", style_mix="0",
                           model_files=[], repo_id="", strength=0.5, color="none", frame_size=256,
                           api_name="/fast_live")
    assert max(Image.open(frame).size) == 256
    source = write_video(tmp_path / "clip.mp4", panning_frames(6, (96, 64)), fps=6, audio=False)
    _, status = client.predict(video=handle_file(source), style="26 styles", style_images=[], style_blend="",
                               style_mix="3:1, 12:1", model_files=[], repo_id="", strength=1.0, color="none",
                               long_side=None, stability="clip", precision="auto", compiled=False,
                               api_name="/fast_video")
    assert status.startswith("26 styles: 3:0.5, 12:0.5: 6 frames")
    text = tmp_path / "notes.jpg"
    text.write_text("not a picture")
    for overrides, message in (({"style_images": []}, "upload one or more style pictures"),
                               ({"style_images": [handle_file(text)]}, "not an image"),
                               ({"style_images": [waves], "style_blend": "1, 2"}, "one style blend weight"),
                               ({"style_images": [waves], "style_blend": "nan"}, "finite")):
        with pytest.raises(Exception, match=message):
            client.predict(**_fast_args(coffee, style="Any picture", **overrides), api_name="/fast")
    with pytest.raises(Exception, match="run from 0 to 25") as refused:
        client.predict(**_fast_args(coffee, style="26 styles", style_mix="26"), api_name="/fast")
    assert str(tmp_path) not in str(refused.value)


def test_fast_endpoint_errors_are_clear(client, tmp_path):
    pickled = tmp_path / "model.pth"
    pickled.write_bytes(b"\x80\x04K\x01.")
    with pytest.raises(Exception, match="Invalid file type"):
        client.predict(**_fast_args(handle_file(EXAMPLES / "coffee.jpg"), model_files=[handle_file(pickled)]),
                       api_name="/fast")
    disguised = tmp_path / "model.safetensors"
    disguised.write_bytes(b"\x80\x04K\x01.")
    (tmp_path / "config.json").write_text("{}")
    with pytest.raises(Exception, match="not a readable weight file"):
        client.predict(**_fast_args(handle_file(EXAMPLES / "coffee.jpg"),
                                    model_files=[handle_file(disguised), handle_file(tmp_path / "config.json")]),
                       api_name="/fast")
    with pytest.raises(Exception, match="weights 'fast-mosaic' are unavailable"):
        client.predict(**_fast_args(handle_file(EXAMPLES / "coffee.jpg"), style="Mosaic"), api_name="/fast")
    with pytest.raises(Exception, match="Hub repo id such as"):
        client.predict(**_fast_args(handle_file(EXAMPLES / "coffee.jpg"), repo_id="not a repo"), api_name="/fast")


def test_remote_users_cannot_name_server_files(client, tmp_path):
    """Model fields take an upload or a Hub repo id: any server path gets the same message, which reveals nothing."""
    audio = ROOT / "examples" / "audio"
    real = tmp_path / "real.safetensors"
    real.write_bytes(b"exists on the server")
    typed = ["/etc/passwd", "/nonexistent/x.safetensors", "/etc", str(real), "a/../b", "x" * 300]
    messages = {"/fast": set(), "/audio_genre": set()}
    for text in typed:
        with pytest.raises(Exception) as fast_error:
            client.predict(**_fast_args(handle_file(EXAMPLES / "coffee.jpg"), repo_id=text), api_name="/fast")
        messages["/fast"].add(str(fast_error.value))
        with pytest.raises(Exception) as genre_error:
            client.predict(**_audio_args(handle_file(audio / "piano_melody.flac"), handle_file(audio / "rain.flac"),
                                         steps=1), model_repo_id=text, api_name="/audio_genre")
        messages["/audio_genre"].add(str(genre_error.value))
    for endpoint, seen in messages.items():
        assert len(seen) == 1, (endpoint, seen)
        (message,) = seen
        assert "Hub repo id such as" in message and "upstream" not in message and str(tmp_path) not in message
    # A well-formed repo id that is also a relative path on the server is looked up on the Hub, never read.
    present = ROOT / "examples" / "present.safetensors"
    present.write_bytes(b"a file the server has")
    try:
        answers = set()
        for text in ("examples/present.safetensors", "examples/absent.safetensors"):
            with pytest.raises(Exception) as error:
                client.predict(**_audio_args(handle_file(audio / "piano_melody.flac"),
                                             handle_file(audio / "rain.flac"), steps=1), model_repo_id=text,
                               api_name="/audio_genre")
            answers.add(str(error.value).replace(text, "<repo>"))
    finally:
        present.unlink()
    (answer,) = answers
    assert "hf://<repo>" in answer and "unavailable" in answer


def _audio_args(content, style, **overrides):
    args = dict(content=content, style=style, extra_styles=[], griffin_lim_iterations=5, init="content", seed=0,
                precision="auto", keep_silences=True, style_strength=0.5, adaptive=True, steps=2,
                style_weight=100.0, content_weight=1.0, spectral_content_weight=0.0, envelope_weight=0.0)
    args.update(overrides)
    return args


def test_audio_shallow_endpoint_returns_audio_spectrograms_and_scores(client):
    audio = ROOT / "examples" / "audio"
    result, pictures, scores, status, losses = client.predict(
        **_audio_args(handle_file(audio / "piano_melody.flac"), handle_file(audio / "rain.flac"), steps=12),
        filters="256", kernel=11, api_name="/audio_shallow",
    )
    import soundfile

    samples, rate = soundfile.read(result)
    assert rate == 22050 and abs(len(samples) - 8 * rate) < 10
    assert [caption for _, caption in ((p["image"], p["caption"]) for p in pictures)] == ["content", "style", "result"]
    assert scores["data"][0][0].startswith("Gram distance")
    assert "Done" in status and "Style strength 0.5: stopped at step" in status
    _a_plot(losses)


def test_audio_endpoints_report_missing_weights_and_bad_input(client, tmp_path):
    audio = ROOT / "examples" / "audio"
    args = _audio_args(handle_file(audio / "piano_melody.flac"), handle_file(audio / "rain.flac"))
    # Refused before the queue, in the words the Image tab uses, the details for whoever runs the server after.
    plain = r"This network is not on this server, and it cannot be downloaded now .*Details: "
    with pytest.raises(ValidationError, match=plain + "weights 'vggish' are unavailable"):
        client.predict(**args, api_name="/audio_vggish")
    with pytest.raises(ValidationError, match=plain + "weights 'cnn14-16k' are unavailable"):
        client.predict(**args, checkpoint="16k", api_name="/audio_cnn14")
    silent = tmp_path / "silence.wav"
    import numpy as np
    import soundfile

    soundfile.write(silent, np.zeros(22050, dtype=np.float32), 22050)
    with pytest.raises(Exception, match="content clip is silent"):
        client.predict(**_audio_args(handle_file(silent), handle_file(audio / "rain.flac")), api_name="/audio_genre")
    # A style clip that is not audio, or a clip with no samples, is refused before the queue, on its parameter
    # (they were found only once the job ran, holding a place in the queue).
    not_audio, empty = tmp_path / "notes.wav", tmp_path / "empty.wav"
    not_audio.write_text("not a sound")
    soundfile.write(empty, np.zeros(0, dtype=np.float32), 22050)  # a header and no samples
    with pytest.raises(ValidationError, match="extra_styles: The extra style clip 1 is not audio that can be read"):
        client.predict(**_audio_args(handle_file(audio / "rain.flac"), handle_file(audio / "rain.flac"),
                                     extra_styles=[handle_file(not_audio)]), api_name="/audio_shallow")
    with pytest.raises(ValidationError, match="style: The style clip is not audio that can be read"):
        client.predict(**_audio_args(handle_file(audio / "rain.flac"), handle_file(not_audio)),
                       api_name="/audio_shallow")
    with pytest.raises(ValidationError, match="content: The content clip is empty"):
        client.predict(**_audio_args(handle_file(empty), handle_file(audio / "rain.flac")), api_name="/audio_shallow")


def test_every_client_api_parameter_has_a_name_that_says_what_it_is(client):
    import re

    endpoints = client.view_api(return_format="dict", print_info=False)["named_endpoints"]
    assert set(endpoints) == {"/image", "/fast", "/fast_video", "/fast_live", "/audio_shallow", "/audio_vggish",
                              "/audio_cnn14", "/audio_genre"}
    for endpoint, info in endpoints.items():
        names = [parameter["parameter_name"] for parameter in info["parameters"]]
        vague = [name for name in names if re.fullmatch(r"param_\d+|.*_value|value|x|args?", name)]
        assert not vague, (endpoint, vague)
    assert [p["parameter_name"] for p in endpoints["/audio_cnn14"]["parameters"]][-3:] == [
        "spectral_content_weight", "envelope_weight", "checkpoint"]
    # Each backend's own options are the fields of its options dataclass, in order, after the common ones.
    for name, spec in AUDIO_BACKENDS.items():
        names = [p["parameter_name"] for p in endpoints[f"/audio_{name}"]["parameters"]]
        declared = [field.name for field in dataclasses.fields(spec.options)]
        own = [n.removesuffix("_files").removesuffix("_repo_id") for n in names[-len(declared) or len(names):]]
        assert list(dict.fromkeys(own)) == declared or not declared, (name, names)
    assert [p["parameter_name"] for p in endpoints["/audio_genre"]["parameters"]][-2:] == [
        "model_files", "model_repo_id"]


def _wait_for(found, seconds: float):
    """``found()`` once it is truthy, polled for at most ``seconds``; else its last value."""
    deadline = time.monotonic() + seconds
    while not (value := found()) and time.monotonic() < deadline:
        time.sleep(0.5)
    return value


def test_python_app_py_serves_offline_and_a_sigterm_stops_it_cleanly(tmp_path):
    """The README's own start command, as a user runs it: the page is up within a minute, offline, with the bundled
    networks verified; a one-pass request is answered; stopped as a Space stops it (SIGTERM), it exits cleanly,
    not waiting for a compilation under way, and leaves nothing behind: not its results folder, made inside the
    folder a deployment names (here outside the temp directory, where every result failed before; the sweep and
    the exit emptied that folder), nor anything in the temp directory."""
    import signal
    import socket
    import sys
    import urllib.request

    from nst_core.runtime import separate_compiled_kernels

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    # The results folder a deployment names, outside the working and temp directories, with a file of its own.
    results, temp = tmp_path / "results", tmp_path / "temp"
    temp.mkdir()
    results.mkdir()
    (results / "kept.txt").write_text("the deployment's")
    env = {**os.environ, "GRADIO_SERVER_NAME": "127.0.0.1", "GRADIO_SERVER_PORT": str(port), "HF_HUB_OFFLINE": "1",
           "HF_HOME": str(tmp_path / "hf"), "NST_RESULTS_DIR": str(results), "GRADIO_ANALYTICS_ENABLED": "False",
           "NST_COST_CALIBRATION": "off",  # the units have tests of their own; the warm-up's child starts sooner
           "TMPDIR": str(temp), "TORCHINDUCTOR_CACHE_DIR": separate_compiled_kernels()}  # the compiled kernels kept
    log_path = tmp_path / "app.log"
    with open(log_path, "w") as log:
        server = subprocess.Popen([sys.executable, "app.py"], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline, status = time.monotonic() + 90, None
        while time.monotonic() < deadline and status is None and server.poll() is None:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5) as response:
                    status = response.status
            except OSError:
                time.sleep(1)
        assert status == 200, log_path.read_text()[-2000:]
        assert "verifying the 4 networks on disk" in log_path.read_text()  # VGG19 and the one-pass networks
        client, asked = Client(f"http://127.0.0.1:{port}/", verbose=False), time.monotonic()
        _, status = client.predict(content=handle_file(EXAMPLES / "coffee.jpg"), style="Any picture",
                                   style_images=[handle_file(EXAMPLES / "style_waves.jpg")], api_name="/fast")
        # Asked while the start-up verifies the weights and compiles: eager (a second), not a compile of its own
        # (about 40 s on a cold cache), unless the warm-up had already finished.
        assert time.monotonic() - asked < 20 and status.startswith("Any picture"), status
        assert [path.suffix for path in results.glob("nst-results-*/*")] == [".png"]
        child = _wait_for(lambda: re.search(r"compiling in a child \(pid (\d+)\)", log_path.read_text()), 90)
        assert child, log_path.read_text()[-2000:]  # the warm-up compiles in a child, after the calibration
        server.send_signal(signal.SIGTERM)
        server.wait(30)  # a compilation under way is not waited for
    finally:
        if server.poll() is None:
            server.kill()
    assert server.returncode == 0, log_path.read_text()[-2000:]
    assert [path.name for path in results.iterdir()] == ["kept.txt"]  # the app's own folder in it went
    assert not Path(f"/proc/{child[1]}").exists()  # the compiling child went with the server
    # Nothing outlives it in the temp directory: Gradio made /tmp/gradio/vibe_edit_history at every start.
    assert not [str(path.relative_to(temp)) for path in temp.rglob("*")]


def test_start_up_releases_the_held_builds_even_when_it_fails(monkeypatch):
    """``python app.py`` holds the compiler's builds until its warm-up has run; a start-up that fails must not
    leave every later request eager for good."""
    import app
    from nst_core.calibration import CALIBRATION
    from nst_core.image import fast
    from ui import state

    def broken(*args, **kwargs):
        raise RuntimeError("calibration failed")

    monkeypatch.setattr(state, "FAST_COMPILER", fast.Compiler())
    monkeypatch.setattr(CALIBRATION, "measure", broken)
    state.FAST_COMPILER.hold_builds()
    with pytest.raises(RuntimeError, match="calibration failed"):
        app.start_up_in_background()
    assert state.FAST_COMPILER.ready


def test_start_up_calibrates_the_costs_before_it_compiles_and_only_while_no_request_runs(monkeypatch):
    """The calibration units and the compile warm-up must not share the cores: beside a compilation the units
    read up to twice as slow, and every estimate (and every refusal) would be twice too long. The same holds for
    requests: the units wait for moments without one, and those still pending at the warm-up are read after it."""
    import app
    from nst_core.calibration import CALIBRATION
    from ui.serving import ACTIVITY

    order, left_pending = [], []

    def run(reference, units=None, *, activity=None, patience_s=0.0, keys=None):
        order.append(("calibrated", keys, patience_s, activity))
        CALIBRATION.pending = left_pending.pop(0) if left_pending else []
        return {}

    monkeypatch.setattr(CALIBRATION, "run", run)
    monkeypatch.setattr(CALIBRATION, "pending", None)
    monkeypatch.setattr(app, "warm_up_fast_styles", lambda: order.append("compiled"))
    monkeypatch.delenv("NST_COST_CALIBRATION", raising=False)
    app.start_up_in_background()
    assert order == [("calibrated", None, app.CALIBRATION_PATIENCE_S, ACTIVITY), "compiled"]
    order.clear()
    CALIBRATION.pending, left_pending[:] = None, [["image/fp32"]]  # requests ran throughout the first patience
    app.start_up_in_background()
    assert order == [("calibrated", None, app.CALIBRATION_PATIENCE_S, ACTIVITY), "compiled",
                     ("calibrated", ["image/fp32"], float("inf"), ACTIVITY)]
    monkeypatch.setenv("NST_COST_CALIBRATION", "off")
    order.clear()
    CALIBRATION.pending = None
    app.start_up_in_background()
    assert order == ["compiled"]


def test_the_warm_up_compiles_at_a_low_priority_and_requests_meanwhile_do_not_wait(monkeypatch):
    """Beside the warm-up at the same priority, an Image run took 4-5x its time; now the warm-up's thread (and
    the compiler processes it starts) yields the cores, and a Fast pass meanwhile runs eagerly instead of waiting
    for a compilation that, on a cold cache, takes minutes."""
    import app
    from nst_core.image import compile_cache, fast
    from ui import state, style_choice
    from ui.serving import ACTIVITY

    seen = {"order": []}

    def fill_in_child(stop):  # compiles in a child interpreter, which takes the thread's priority too
        seen["order"].append("child")
        seen["niceness of the child"] = subprocess.run(["sh", "-c", "nice"], capture_output=True,
                                                       text=True).stdout.strip()
        return True

    def warm_up(compiler, models, stop, activity):
        seen["order"].append("here")
        seen["activity"] = activity
        seen["models"] = [model.style.key for model in models]
        seen["niceness"] = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
        seen["child"] = subprocess.run(["sh", "-c", "nice"], capture_output=True, text=True).stdout.strip()
        with compiler.lock:  # compiling: a request meanwhile runs eagerly and says so
            request = threading.Thread(target=lambda: seen.update(request=(compiler.run(lambda x: x + 1, 1),
                                                                           compiler.label())))
            request.start()
            request.join(10)
            seen["estimated compiled"] = style_choice.runs_compiled({})  # its cost is the eager pass's
        return 0.0

    monkeypatch.setattr(fast, "warm_up", warm_up)
    monkeypatch.setattr(compile_cache, "fill_in_child", fill_in_child)
    monkeypatch.setattr(state, "FAST_COMPILER", fast.Compiler())
    start = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
    warming = threading.Thread(target=app.warm_up_fast_styles)  # the niceness stays with the thread that took it
    warming.start()
    warming.join(60)
    assert app.WARM_UP_NICENESS >= 10
    assert seen["niceness"] == min(19, start + app.WARM_UP_NICENESS) == int(seen["child"])
    assert seen["order"] == ["child", "here"] and int(seen["niceness of the child"]) == seen["niceness"]
    assert seen["models"] == [model.style.key for model in compile_cache.warm_up_models()]
    assert seen["activity"] is ACTIVITY  # each graph is built in a moment without requests
    assert seen["request"] == (2, "eager (the compiled network was still being built)")
    assert not seen["estimated compiled"] and style_choice.runs_compiled({})
    assert os.getpriority(os.PRIO_PROCESS, threading.get_native_id()) == start
