"""The app as its users reach it: launched on 127.0.0.1 and driven through gradio_client."""

from __future__ import annotations

import pytest
from gradio_client import Client, handle_file

from conftest import EXAMPLES
from nst_core.image.io import read_png_settings


@pytest.fixture(scope="module")
def client():
    import app

    demo = app.build_app()
    demo.launch(server_name="127.0.0.1", prevent_thread_lock=True, quiet=True)
    try:
        yield Client(demo.local_url, verbose=False)
    finally:
        demo.close()


def _image_args(content, styles, **overrides):
    args = dict(content=content, styles=styles, blend="", backbone="vgg19", size=64, steps=3, style_weight=5.0,
                content_weight=1.0, tv_weight=10.0, style_scale=1.0, color="none", init="content",
                optimizer="lbfgs", seed=0, pooling="max", precision="auto")
    args.update(overrides)
    return args


def test_image_endpoint_returns_png_with_settings(client):
    preview, download, status = client.predict(
        **_image_args(handle_file(EXAMPLES / "chelsea.jpg"), [handle_file(EXAMPLES / "style_mosaic.jpg")],
                      color="luminance", seed=5),
        api_name="/image",
    )
    settings = read_png_settings(download)
    assert settings["seed"] == 5 and settings["color"] == "luminance" and settings["size"] == 64
    assert "Done" in status


def test_image_endpoint_rejects_a_non_image_and_keeps_serving(client, tmp_path):
    bogus = tmp_path / "notes.png"
    bogus.write_text("not an image at all")
    with pytest.raises(Exception, match="content image is not an image that can be read"):
        client.predict(**_image_args(handle_file(bogus), [handle_file(EXAMPLES / "style_mosaic.jpg")]),
                       api_name="/image")
    with pytest.raises(Exception, match="style image 1 is not an image that can be read"):
        client.predict(**_image_args(handle_file(EXAMPLES / "chelsea.jpg"), [handle_file(bogus)]),
                       api_name="/image")
    with pytest.raises(Exception, match="greater than maximum value 2048"):
        client.predict(**_image_args(handle_file(EXAMPLES / "chelsea.jpg"),
                                     [handle_file(EXAMPLES / "style_waves.jpg")], size=99999),
                       api_name="/image")
    with pytest.raises(Exception, match="blend weight"):
        client.predict(**_image_args(handle_file(EXAMPLES / "chelsea.jpg"),
                                     [handle_file(EXAMPLES / "style_waves.jpg")], blend="1, 2"),
                       api_name="/image")
    # The worker survived: a good request still succeeds.
    _, download, _ = client.predict(
        **_image_args(handle_file(EXAMPLES / "coffee.jpg"), [handle_file(EXAMPLES / "style_waves.jpg")]),
        api_name="/image",
    )
    assert read_png_settings(download)["backbone"] == "vgg19"
