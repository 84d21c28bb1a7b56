"""The weight registry: Hub cache layout, offline behaviour, strict loading, URL downloads."""

from __future__ import annotations

import hashlib
import http.server
import threading
import time
from pathlib import Path

import pytest
import torch

from conftest import (
    put_in_hub_cache,
    resnet50_checkpoint,
    save_safetensors,
    timm_vgg_checkpoint,
    vgg_trunk_tensors,
)
from nst_core import WeightsMismatch, WeightsUnavailable, hub
from nst_core.image.backbones import load_backbone


@pytest.mark.parametrize(
    ("backbone", "repo_id", "conv_indices"),
    [("vgg19-torchvision", "timm/vgg19.tv_in1k", hub.VGG19_CONV_INDICES),
     ("vgg16", "timm/vgg16.tv_in1k", hub.VGG16_CONV_INDICES)],
)
def test_timm_vgg_loads_from_hub_cache(hub_cache, tmp_path, backbone, repo_id, conv_indices):
    tensors = timm_vgg_checkpoint(conv_indices)
    put_in_hub_cache(hub_cache, repo_id, "model.safetensors", save_safetensors(tensors, tmp_path / "m.safetensors"))
    net = load_backbone(backbone)
    state = net.body.state_dict()
    assert not any(name.startswith(("pre_logits", "head")) for name in state)
    for name in (f"features.{conv_indices[0]}.weight", f"features.{conv_indices[-1]}.bias"):
        assert torch.equal(state[name], tensors[name])


def test_resnet50_loads_with_torchvision_names(hub_cache, tmp_path):
    tensors = resnet50_checkpoint()
    assert len(tensors) == 320
    put_in_hub_cache(hub_cache, "timm/resnet50.tv_in1k", "model.safetensors",
                     save_safetensors(tensors, tmp_path / "r.safetensors"))
    net = load_backbone("resnet50")
    assert torch.equal(net.body.state_dict()["layer3.2.conv2.weight"], tensors["layer3.2.conv2.weight"])
    features = net(torch.rand(1, 3, 64, 64), ["stem", "layer2"])
    assert features["layer2"].shape == (1, 512, 8, 8)


def test_missing_weights_offline_fail_fast_with_a_fix(hub_cache):
    started = time.monotonic()
    with pytest.raises(WeightsUnavailable) as info:
        load_backbone("vgg16")
    assert time.monotonic() - started < 3
    assert "HF_HUB_OFFLINE=1" in str(info.value) and "HF_HOME" in info.value.fix
    assert hub.availability("vgg16-torchvision").state == "unavailable"


def test_unreachable_hub_fails_fast_without_offline_flag(hub_cache, monkeypatch):
    monkeypatch.delenv("HF_HUB_OFFLINE")
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")  # discard port: nothing listens
    hub._reachable.clear()
    started = time.monotonic()
    with pytest.raises(WeightsUnavailable, match="cannot be reached"):
        hub.weight_path("resnet50-torchvision")
    assert time.monotonic() - started < 5


def test_wrong_shapes_name_the_file_and_tensor(hub_cache, tmp_path):
    tensors = timm_vgg_checkpoint(hub.VGG16_CONV_INDICES)
    tensors["features.5.weight"] = torch.zeros(128, 64, 5, 5)
    put_in_hub_cache(hub_cache, "timm/vgg16.tv_in1k", "model.safetensors",
                     save_safetensors(tensors, tmp_path / "bad.safetensors"))
    with pytest.raises(WeightsMismatch) as info:
        load_backbone("vgg16")
    message = str(info.value)
    assert "timm/vgg16.tv_in1k" in message and "features.5.weight" in message and "wrong shape" in message


def test_vgg19_checkpoint_is_not_accepted_as_vgg16(hub_cache, tmp_path):
    tensors = vgg_trunk_tensors(hub.VGG19_CONV_INDICES)
    put_in_hub_cache(hub_cache, "timm/vgg16.tv_in1k", "model.safetensors",
                     save_safetensors(tensors, tmp_path / "v.safetensors"))
    with pytest.raises(WeightsMismatch, match="unexpected"):
        load_backbone("vgg16")


def test_truncated_file_is_a_clear_error(hub_cache):
    put_in_hub_cache(hub_cache, "timm/resnet50.tv_in1k", "model.safetensors", b"\x00\x01not safetensors")
    with pytest.raises(WeightsMismatch, match="not a readable weight file"):
        load_backbone("resnet50")


def test_bundled_original_vgg19_is_dequantized_in_place():
    path = hub.weight_path("vgg19-original")
    raw = torch.load(path, map_location="cpu", weights_only=True)
    net = load_backbone("vgg19")
    expected = raw["block4_conv2_W_table"][raw["block4_conv2_W_q"].long()]
    assert torch.equal(net.body.state_dict()["features.21.weight"], expected)  # conv4_2 is features[21]
    assert hub.availability("vgg19-original").state == "ready"


class _OneFile(http.server.BaseHTTPRequestHandler):
    payload = b""

    def do_GET(self):  # noqa: N802 (http.server's naming)
        self.send_response(200)
        self.send_header("Content-Length", str(len(self.payload)))
        self.end_headers()
        self.wfile.write(self.payload)

    def log_message(self, *args):
        pass


@pytest.fixture
def local_server():
    server = http.server.HTTPServer(("127.0.0.1", 0), _OneFile)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()


def _url_entry(key: str, url: str, sha: str) -> hub.WeightEntry:
    return hub.WeightEntry(key, hub.UrlFile(url, sha, "w.pth"), lambda raw: raw, "test file", "none", 0.0)


def test_url_download_checks_sha256_and_caches(hub_cache, monkeypatch, local_server):
    monkeypatch.delenv("HF_HUB_OFFLINE")
    hub._reachable.clear()
    buffer = Path(hub_cache) / "payload.pth"
    torch.save({"w": torch.arange(4.0)}, buffer)
    _OneFile.payload = buffer.read_bytes()
    url = f"http://127.0.0.1:{local_server.server_port}/w.pth"
    good = hashlib.sha256(_OneFile.payload).hexdigest()
    monkeypatch.setitem(hub.REGISTRY, "test-good", _url_entry("test-good", url, good))
    monkeypatch.setitem(hub.REGISTRY, "test-bad", _url_entry("test-bad", url, "0" * 64))
    assert torch.equal(hub.load_state_dict("test-good")["w"], torch.arange(4.0))
    assert hub.cached_path("test-good") is not None
    with pytest.raises(WeightsMismatch, match="sha256"):
        hub.weight_path("test-bad")
    assert hub.cached_path("test-bad") is None
    # Once cached, offline use works.
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert hub.availability("test-good").state == "ready"
    assert hub.availability("test-bad").state == "unavailable"
