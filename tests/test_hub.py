"""The weight registry: Hub cache layout, offline behaviour, strict loading, URL downloads."""

from __future__ import annotations

import hashlib
import http.server
import threading
import urllib.request
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
from nst_core import InvalidInput, WeightsMismatch, WeightsUnavailable, hub, weights
from nst_core.image.backbones import VGG16_CONV_INDICES, VGG19_CONV_INDICES, check_original_vgg19, load_backbone


@pytest.mark.parametrize(
    ("backbone", "key", "conv_indices"),
    [("vgg19-torchvision", "vgg19-torchvision", VGG19_CONV_INDICES),
     ("vgg16", "vgg16-torchvision", VGG16_CONV_INDICES)],
)
def test_timm_vgg_loads_from_hub_cache(publish, backbone, key, conv_indices):
    tensors = timm_vgg_checkpoint(conv_indices)
    publish(key, tensors, check=False)
    net = load_backbone(backbone)
    state = net.body.state_dict()
    assert not any(name.startswith(("pre_logits", "head")) for name in state)
    for name in (f"features.{conv_indices[0]}.weight", f"features.{conv_indices[-1]}.bias"):
        assert torch.equal(state[name], tensors[name])


def test_resnet50_loads_with_torchvision_names(publish):
    tensors = resnet50_checkpoint()
    assert len(tensors) == 320
    publish("resnet50-torchvision", tensors, check=False)
    net = load_backbone("resnet50")
    assert torch.equal(net.body.state_dict()["layer3.2.conv2.weight"], tensors["layer3.2.conv2.weight"])
    features = net(torch.rand(1, 3, 64, 64), ["stem", "layer2"])
    assert features["layer2"].shape == (1, 512, 8, 8)


def test_missing_weights_offline_fail_fast_with_a_fix(hub_cache, monkeypatch):
    """Offline, a missing file is refused without any connection attempt or download (nothing can wait)."""
    _forbid_network(monkeypatch)
    with pytest.raises(WeightsUnavailable) as info:
        load_backbone("vgg16")
    assert "HF_HUB_OFFLINE=1" in str(info.value) and "HF_HOME" in info.value.fix and "hf download" in info.value.fix
    assert str(hub_cache) not in str(info.value)
    assert hub.availability(weights.entry("vgg16-torchvision")).state == "unavailable"


def test_unreachable_hub_fails_fast_without_offline_flag(hub_cache, monkeypatch):
    monkeypatch.delenv("HF_HUB_OFFLINE")
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")  # discard port: nothing listens
    hub._reachable.clear()
    probes = []
    monkeypatch.setattr(hub.environment, "host_reachable", lambda url, timeout=hub.CONNECT_TIMEOUT_S: probes.append(
        (url, timeout)) or False)
    _forbid_download(monkeypatch)
    with pytest.raises(WeightsUnavailable, match="cannot be reached"):
        hub.weight_path(weights.entry("resnet50-torchvision"))
    # One short connection probe decided it; the download (which waits on HTTP timeouts) never started.
    assert probes == [("http://127.0.0.1:9", hub.CONNECT_TIMEOUT_S)] and hub.CONNECT_TIMEOUT_S <= 3


def _forbid_download(monkeypatch):
    import huggingface_hub

    def refuse(*args, **kwargs):
        raise AssertionError("a download was started")

    monkeypatch.setattr(huggingface_hub, "hf_hub_download", refuse)
    monkeypatch.setattr(urllib.request, "urlopen", refuse)


def _forbid_network(monkeypatch):
    import socket

    def refuse(*args, **kwargs):
        raise AssertionError("a connection was attempted")

    monkeypatch.setattr(socket, "create_connection", refuse)
    _forbid_download(monkeypatch)


def test_wrong_shapes_name_the_file_and_tensor(publish):
    tensors = timm_vgg_checkpoint(VGG16_CONV_INDICES)
    tensors["features.5.weight"] = torch.zeros(128, 64, 5, 5)
    publish("vgg16-torchvision", tensors, check=False)
    with pytest.raises(WeightsMismatch) as info:
        load_backbone("vgg16")
    message = str(info.value)
    assert "timm/vgg16.tv_in1k" in message and "features.5.weight" in message and "wrong shape" in message


def test_vgg19_checkpoint_is_not_accepted_as_vgg16(publish):
    publish("vgg16-torchvision", vgg_trunk_tensors(VGG19_CONV_INDICES), check=False)
    with pytest.raises(WeightsMismatch, match="unexpected"):
        load_backbone("vgg16")


def test_truncated_file_is_a_clear_error_without_a_server_path(publish, hub_cache):
    publish("resnet50-torchvision", b"\x00\x01not safetensors")
    with pytest.raises(WeightsMismatch, match="not a readable weight file") as info:
        load_backbone("resnet50")
    assert str(hub_cache) not in str(info.value) and "hf://timm/resnet50.tv_in1k" in str(info.value)


def test_every_hub_entry_is_pinned_to_a_full_commit():
    from nst_core.audio.train_genre import GTZAN

    entries = [item for table in weights.WEIGHT_TABLES for item in table.values()] + [GTZAN]
    on_the_hub = [item for item in entries if isinstance(item.source, hub.HubFile)]
    assert {item.key for item in on_the_hub} == {
        "vgg19-torchvision", "vgg16-torchvision", "resnet50-torchvision", "fast-rain_princess", "fast-scream",
        "fast-mosaic", "fast-starry_night", "cnn14-32k", "gtzan"}
    for item in on_the_hub:
        assert len(item.source.revision) == 40 and int(item.source.revision, 16) >= 0, item.key
        assert item.pin_source.startswith("https://huggingface.co/"), item.key


def test_each_weights_table_sits_beside_its_networks_and_keys_are_unique():
    keys = [key for table in weights.WEIGHT_TABLES for key in table]
    assert len(keys) == len(set(keys)) and set(keys) == set(weights.BY_KEY)
    assert all(key == item.key for table in weights.WEIGHT_TABLES for key, item in table.items())
    with pytest.raises(InvalidInput, match="Unknown weights 'nope'"):
        weights.entry("nope")


def test_a_file_that_differs_from_its_published_sha256_is_refused(hub_cache, tmp_path):
    """The real pin, a test-made file: the checksum must refuse it before anything reads it."""
    source = weights.entry("resnet50-torchvision").source
    put_in_hub_cache(hub_cache, source.repo_id, source.filename,
                     save_safetensors(resnet50_checkpoint(), tmp_path / "r.safetensors"), source.revision)
    with pytest.raises(WeightsMismatch, match="sha256 is .* published one is 5d061a3c") as info:
        load_backbone("resnet50")
    assert str(hub_cache) not in str(info.value)


@pytest.mark.parametrize(("backbone", "key"), [("vgg19-torchvision", "vgg19-torchvision"),
                                               ("vgg16", "vgg16-torchvision"), ("resnet50", "resnet50-torchvision")])
def test_random_weights_in_the_real_layout_fail_the_cat_check(publish, backbone, key):
    checkpoint = resnet50_checkpoint() if backbone == "resnet50" else \
        timm_vgg_checkpoint(VGG19_CONV_INDICES if backbone == "vgg19-torchvision" else VGG16_CONV_INDICES)
    if backbone != "resnet50":  # random, not zero, heads: a real classifier's shape of output
        generator = torch.Generator().manual_seed(3)
        for name in [n for n in checkpoint if n.startswith(("pre_logits", "head"))]:
            checkpoint[name] = torch.randn(checkpoint[name].shape, generator=generator) * 0.01
    publish(key, checkpoint)
    with pytest.raises(WeightsMismatch, match="failed its health check: ImageNet top 5 .* none is a cat class"):
        load_backbone(backbone)
    assert weights.status(key).state == "failed"
    with pytest.raises(WeightsMismatch, match="failed its health check"):  # refused again, from the record
        load_backbone.__wrapped__(backbone)


def test_the_cat_check_passes_when_the_head_ranks_a_cat_class_first(publish):
    """The pass branch: a head whose bias makes 'tiger cat' (282) the top class, whatever the trunk says."""
    checkpoint = resnet50_checkpoint()
    checkpoint["fc.bias"] = torch.zeros(1000)
    checkpoint["fc.bias"][282] = 100.0
    publish("resnet50-torchvision", checkpoint)
    load_backbone("resnet50")
    state = weights.status("resnet50-torchvision")
    assert state.state == "verified" and "cat class 282" in state.detail


def test_bundled_original_vgg19_passes_its_own_check():
    result = check_original_vgg19(torch.load(hub.weight_path(weights.entry("vgg19-original")), weights_only=True))
    assert result.passed, result.detail
    assert "20,024,384 parameters" in result.detail


def test_bundled_original_vgg19_check_fails_on_a_changed_file():
    raw = torch.load(hub.weight_path(weights.entry("vgg19-original")), weights_only=True)
    raw["block5_conv4_b"] = raw["block5_conv4_b"][:-1]
    assert not check_original_vgg19(raw).passed


@pytest.mark.parametrize("text", ["/etc", "a/../b", "x" * 300 + "/y", "/etc/passwd", "../../x", "a/b/c", "",
                                  "user/name with space", "/nonexistent/x.safetensors"])
def test_malformed_repo_ids_get_one_message_that_reveals_nothing(text):
    with pytest.raises(InvalidInput) as info:
        hub.parse_repo_id(text)
    assert str(info.value) == str(pytest.raises(InvalidInput, hub.parse_repo_id, "/").value)
    assert hub.parse_repo_id(" someone/my-style.v2 ") == "someone/my-style.v2"


def test_numpy_objects_in_a_checkpoint_load_without_running_code(tmp_path):
    """PANNs' 16 kHz file keeps numpy values beside its tensors; the weights-only reader must accept them."""
    import numpy as np

    torch.save({"model": {"w": torch.ones(2)}, "extra": np.arange(3.0), "scalar": np.float64(1.5)}, tmp_path / "n.pth")
    raw = hub.read_file(tmp_path / "n.pth")
    assert raw["extra"].tolist() == [0.0, 1.0, 2.0] and float(raw["scalar"]) == 1.5


def test_bundled_original_vgg19_is_dequantized_in_place():
    path = hub.weight_path(weights.entry("vgg19-original"))
    raw = torch.load(path, map_location="cpu", weights_only=True)
    net = load_backbone("vgg19")
    expected = raw["block4_conv2_W_table"][raw["block4_conv2_W_q"].long()]
    assert torch.equal(net.body.state_dict()["features.21.weight"], expected)  # conv4_2 is features[21]
    assert hub.availability(weights.entry("vgg19-original")).state == "ready"


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
    good_file, bad_file = _url_entry("test-good", url, good), _url_entry("test-bad", url, "0" * 64)
    assert torch.equal(hub.load_state_dict(good_file)["w"], torch.arange(4.0))
    assert hub.cached_path(good_file) is not None
    with pytest.raises(WeightsMismatch, match="sha256"):
        hub.weight_path(bad_file)
    assert hub.cached_path(bad_file) is None
    # Once cached, offline use works.
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert hub.availability(good_file).state == "ready"
    assert hub.availability(bad_file).state == "unavailable"


def test_a_file_in_a_visitors_repo_is_fetched_only_up_to_its_limit(hub_cache, monkeypatch):
    """A visitor may name any Hub repo for a custom Fast styles model; its model.safetensors could be gigabytes,
    downloaded to the server's disk and read into memory. The Hub's metadata (a HEAD request) says the size
    first: over :data:`~nst_core.hub.entries.USER_FILE_MB` nothing is fetched."""
    from types import SimpleNamespace

    import huggingface_hub

    from nst_core.hub import fetch

    fetched, sizes = [], {"someone/huge": 10e9, "someone/small": 6.7e6}
    monkeypatch.setattr(fetch, "_download_blocked", lambda source: None)  # as on a Space, with the network
    monkeypatch.setattr(huggingface_hub, "get_hf_file_metadata",
                        lambda url, timeout: SimpleNamespace(size=sizes[url.split("/resolve/")[0].split(".co/")[1]]))

    def download(key, source, progress):
        fetched.append(source.repo_id)
        return hub_cache / "fetched.safetensors"

    monkeypatch.setattr(fetch, "_hub_download", download)
    monkeypatch.setattr(fetch, "verify_checksum", lambda item, path: path)
    with pytest.raises(InvalidInput, match=r"model.safetensors in someone/huge is 10000 MB; this server fetches "
                                           r"files of up to 64 MB from a repository a visitor names"):
        hub.weight_path(hub.user_hub_file("someone/huge", "model.safetensors"))
    assert hub.weight_path(hub.user_hub_file("someone/small", "model.safetensors")).name == "fetched.safetensors"
    assert fetched == ["someone/small"]


def test_visitors_repos_are_kept_to_a_size_the_least_recently_used_removed_first(hub_cache, monkeypatch):
    """Every repo a visitor names stayed on the server's disk. Visitors' repos together are kept to
    ``VISITOR_CACHE_MB`` (10 MB here), the least recently used removed first; the registry's weights are never
    removed."""
    import time
    from types import SimpleNamespace

    import huggingface_hub

    from nst_core.hub import fetch, visitor_cache

    monkeypatch.setattr(visitor_cache, "VISITOR_CACHE_MB", 10.0)
    monkeypatch.setattr(fetch, "_download_blocked", lambda source: None)
    monkeypatch.setattr(huggingface_hub, "get_hf_file_metadata", lambda url, timeout: SimpleNamespace(size=4e6))
    monkeypatch.setattr(fetch, "_hub_download", lambda key, source, progress: put_in_hub_cache(
        hub_cache, source.repo_id, source.filename, b"w" * 4_000_000, source.revision))
    monkeypatch.setattr(fetch, "verify_checksum", lambda item, path: path)
    put_in_hub_cache(hub_cache, "studio/pinned", "model.safetensors", b"p" * 6_000_000)  # a registry file: unmarked
    for repo in ("someone/a", "someone/b", "someone/a", "someone/c"):  # a is used again: b is the oldest then
        hub.weight_path(hub.user_hub_file(repo, "model.safetensors"))
        time.sleep(0.02)
    assert {folder.name for folder in hub_cache.iterdir()} == {"models--studio--pinned", "models--someone--a",
                                                                "models--someone--c"}
