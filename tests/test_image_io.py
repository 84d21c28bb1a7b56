"""Decoding whatever a user uploads: bad files, odd modes, huge photos, PNG metadata."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from nst_core import InvalidInput
from nst_core.image.io import fit_long_side, load_image, read_png_settings, save_png, to_pil, to_tensor


def test_text_file_is_rejected(tmp_path):
    path = tmp_path / "notes.png"
    path.write_text("this is not an image")
    with pytest.raises(InvalidInput, match="not an image"):
        load_image(path, label="content image")


def test_empty_and_missing_files_are_rejected(tmp_path):
    empty = tmp_path / "empty.jpg"
    empty.write_bytes(b"")
    with pytest.raises(InvalidInput, match="empty"):
        load_image(empty)
    with pytest.raises(InvalidInput, match="does not exist"):
        load_image(tmp_path / "nope.jpg")
    with pytest.raises(InvalidInput, match="No style image"):
        load_image("", label="style image")


def test_truncated_jpeg_is_rejected(tmp_path):
    path = tmp_path / "cut.jpg"
    noise = np.random.default_rng(0).integers(0, 256, (200, 300, 3), dtype=np.uint8)
    Image.fromarray(noise).save(path, quality=95)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 3])
    with pytest.raises(InvalidInput, match="could not be decoded"):
        load_image(path)


def test_sixteen_bit_greyscale_is_scaled_not_clipped(tmp_path):
    ramp = (np.linspace(0, 65535, 64 * 64).reshape(64, 64)).astype(np.uint16)
    path = tmp_path / "deep.png"
    Image.fromarray(ramp).save(path)
    image = load_image(path).image
    assert image.mode == "RGB"
    values = np.asarray(image)[..., 0]
    assert values.min() == 0 and values.max() == 255
    assert 100 < np.median(values) < 155  # a clipped conversion would be 255 almost everywhere


def test_rgba_transparency_becomes_white_and_grey_becomes_rgb(tmp_path):
    rgba = Image.new("RGBA", (8, 8), (255, 0, 0, 0))
    rgba.save(tmp_path / "clear.png")
    assert load_image(tmp_path / "clear.png").image.getpixel((3, 3)) == (255, 255, 255)
    Image.new("L", (8, 8), 77).save(tmp_path / "grey.png")
    assert load_image(tmp_path / "grey.png").image.getpixel((0, 0)) == (77, 77, 77)


def test_exif_orientation_is_applied(tmp_path):
    image = Image.new("RGB", (40, 20), (0, 0, 255))
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise for display
    image.save(tmp_path / "phone.jpg", exif=exif.tobytes())
    assert load_image(tmp_path / "phone.jpg").image.size == (20, 40)


def test_fifty_megapixel_photo_is_downscaled_with_a_notice(tmp_path):
    path = tmp_path / "huge.jpg"
    Image.new("RGB", (8660, 5774), (120, 80, 40)).save(path, quality=70)
    loaded = load_image(path, max_pixels=4_000_000)
    assert loaded.image.width * loaded.image.height <= 4_000_000
    assert abs(loaded.image.width / loaded.image.height - 8660 / 5774) < 0.01
    assert loaded.notices and "downscaled" in loaded.notices[0]


@pytest.mark.parametrize("mode", ["RGB", "RGBA", "LA", "P", "I;16", "1"])
def test_a_large_picture_of_any_mode_is_shrunk_to_the_same_picture(tmp_path, mode):
    """A picture over the limit is reduced by a whole factor before Lanczos (a PNG has no draft): every mode
    comes out upright, in its colours (transparency white, 16 bits scaled, grey still grey), and as Lanczos alone
    makes it."""
    rows = np.linspace(0, 1, 1200)[:, None] * np.ones((1, 900))
    rgb = np.stack([rows, rows[::-1], np.full_like(rows, 0.5)], axis=-1)
    pictures = {"RGB": Image.fromarray((rgb * 255).astype(np.uint8)),
                "RGBA": Image.fromarray((np.dstack([rgb, rows > 0.5]) * 255).astype(np.uint8), "RGBA"),
                "LA": Image.fromarray((np.dstack([rows, rows > 0.5]) * 255).astype(np.uint8), "LA"),
                "P": Image.fromarray((rgb * 255).astype(np.uint8)).quantize(64),
                "I;16": Image.fromarray((rows * 65535).astype(np.uint16)),
                "1": Image.fromarray(rows > 0.5)}
    picture = pictures[mode]
    picture.save(tmp_path / "large.png")
    shrunk = load_image(tmp_path / "large.png", max_pixels=100_000)
    whole = load_image(tmp_path / "large.png")  # under the limit: decoded as it is
    expected = whole.image.resize(shrunk.image.size, Image.LANCZOS)
    assert shrunk.image.mode == "RGB" and shrunk.image.size == (273, 365), shrunk.image.size
    assert "downscaled to 273x365" in shrunk.notices[0] and shrunk.greyscale == whole.greyscale
    difference = np.abs(np.asarray(shrunk.image, dtype=float) - np.asarray(expected, dtype=float))
    assert np.median(difference) <= 2 and np.mean(difference) < 6, (np.median(difference), np.mean(difference))


def test_a_callers_picture_is_left_as_it_was():
    """A file's picture is turned upright in place (no copy of many megapixels); a picture the caller passes
    keeps its own orientation."""
    exif = Image.Exif()
    exif[0x0112] = 6
    picture = Image.new("RGB", (40, 20), (0, 0, 255))
    picture.info["exif"] = exif.tobytes()
    picture.getexif()[0x0112] = 6
    assert load_image(picture).image.size == (20, 40)
    assert picture.size == (40, 20) and picture.getexif().get(0x0112) == 6


def test_tensor_round_trip_and_fit_long_side():
    image = Image.fromarray(np.random.default_rng(0).integers(0, 256, (30, 50, 3), dtype=np.uint8))
    assert np.array_equal(np.asarray(to_pil(to_tensor(image))), np.asarray(image))
    assert fit_long_side(image, 100).size == (100, 60)
    assert to_tensor(image).shape == (1, 3, 30, 50)
    assert to_tensor(image).dtype == torch.float32


def test_png_settings_round_trip(tmp_path):
    settings = {"style_weight": 5.0, "backbone": "vgg19"}
    path = save_png(Image.new("RGB", (4, 4)), tmp_path / "r.png", settings)
    assert read_png_settings(path) == settings


def test_a_results_stored_settings_make_the_same_settings_again(tmp_path):
    """Every kind of field (tuples stored as lists, None, choices, flags, names) comes back as it was; what is not
    a setting (the runtime, a mask's name) is left out."""
    import dataclasses

    from nst_core import ImageSettings
    from nst_core.options import from_record

    made = ImageSettings(size=256, steps=7, style_blend=(2.0, 1.0), schedule=(1, 2, 3), hold_style_from=None,
                         color="luminance", scale_ratio=2.0, style_layers=("relu1_1", "relu2_1"), match_shadows=False)
    record = {**dataclasses.asdict(made), "num_styles": 2, "runtime": "cpu", "mask": "mask.png"}
    path = save_png(Image.new("RGB", (4, 4)), tmp_path / "r.png", record)
    assert ImageSettings(**from_record(ImageSettings, read_png_settings(path))) == made


def test_stored_settings_are_read_without_decoding_the_picture(tmp_path, monkeypatch):
    """A visitor's PNG is read for its settings from the chunks before its pixels, never decoded (reading
    ``Image.text`` decoded the whole picture first); settings that are not a record are refused."""
    path = save_png(Image.new("L", (4, 4)), tmp_path / "r.png", {"steps": 7})
    plain = save_png(Image.new("L", (4, 4)), tmp_path / "plain.png", None)
    listed = save_png(Image.new("L", (4, 4)), tmp_path / "listed.png", [7])  # JSON, but not a record
    monkeypatch.setattr(Image.Image, "load", lambda self: pytest.fail("the pixels were decoded"))
    assert read_png_settings(path) == {"steps": 7} and read_png_settings(plain) is None
    with pytest.raises(InvalidInput, match="No readable settings in listed.png"):
        read_png_settings(listed)
