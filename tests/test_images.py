"""Every kind of upload a person might make: good ones decode correctly, bad ones get a clear message."""

from __future__ import annotations

import io

import cv2
import numpy as np
import pytest
from PIL import Image

import camdemo
from camdemo import CamdemoError, load_image

from tests.helpers import ASSETS
from tests.helpers.uploads import BAD_INPUTS, encode, photo


@pytest.mark.parametrize("name", list(BAD_INPUTS))
def test_bad_input_gets_clear_message_then_next_request_works(name, tmp_path):
    make, expected = BAD_INPUTS[name]
    data = make()
    path = tmp_path / "upload.jpg"  # the extension lies, as uploads often do
    path.write_bytes(data)
    for source in (data, path):
        with pytest.raises(CamdemoError, match=expected) as caught:
            camdemo.explain(source)
        assert "Traceback" not in str(caught.value) and len(str(caught.value)) < 600
    result = camdemo.explain(ASSETS / "chelsea_cat.jpg")
    assert result.class_label in {"tabby", "tiger cat", "Egyptian cat"}


def test_missing_path_and_wrong_type():
    with pytest.raises(CamdemoError, match="No image file"):
        load_image("/no/such/file.png")
    with pytest.raises(CamdemoError, match="Cannot read an image"):
        load_image(3.14)  # type: ignore[arg-type]
    with pytest.raises(CamdemoError, match="H×W"):
        load_image(np.zeros((4, 40, 40, 3), np.uint8))


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP", "BMP", "TIFF", "GIF"])
def test_supported_formats_decode_to_rgb(fmt):
    rgb = load_image(encode(photo(), fmt))
    assert rgb.shape == (64, 96, 3) and rgb.dtype == np.uint8
    reference = np.asarray(photo(), dtype=np.float32)
    tolerance = 40 if fmt == "GIF" else 12  # GIF has a 256-color palette, JPEG/WebP are lossy
    assert np.abs(rgb.astype(np.float32) - reference).mean() < tolerance


def test_grayscale_becomes_three_equal_channels():
    rgb = load_image(encode(photo().convert("L"), "PNG"))
    assert rgb.shape == (64, 96, 3) and (rgb[..., 0] == rgb[..., 1]).all() and (rgb[..., 1] == rgb[..., 2]).all()


def test_rgba_is_composited_on_white():
    image = Image.new("RGBA", (40, 40), (255, 0, 0, 255))
    image.paste((0, 0, 255, 0), (0, 0, 20, 40))  # left half fully transparent (its color must not show)
    image.paste((0, 0, 0, 128), (20, 0, 30, 40))  # half-transparent black → mid gray
    rgb = load_image(encode(image, "PNG"))
    assert tuple(rgb[5, 5]) == (255, 255, 255)
    assert tuple(rgb[5, 35]) == (255, 0, 0)
    assert abs(int(rgb[5, 25, 0]) - 127) <= 2


def test_16_bit_png_is_rescaled_not_clipped(tmp_path):
    gray = np.full((40, 40), 32768, np.uint16)
    gray[:, 20:] = 65535
    cv2.imwrite(str(tmp_path / "gray16.png"), gray)
    rgb = load_image(tmp_path / "gray16.png")
    assert tuple(rgb[0, 0]) == (128, 128, 128) and tuple(rgb[0, 30]) == (255, 255, 255)
    color = np.zeros((40, 40, 3), np.uint16)
    color[..., 2] = 40000  # OpenCV writes BGR: this is red
    cv2.imwrite(str(tmp_path / "rgb16.png"), color)
    assert tuple(load_image(tmp_path / "rgb16.png")[0, 0]) == (156, 0, 0)  # 40000 / 257 ≈ 156


def test_cmyk_jpeg_becomes_rgb():
    cmyk = Image.new("CMYK", (40, 40), (0, 255, 255, 0))  # no cyan, full magenta and yellow: red
    rgb = load_image(encode(cmyk, "JPEG", quality=95))
    assert rgb[20, 20, 0] > 240 and rgb[20, 20, 1] < 15 and rgb[20, 20, 2] < 15


def test_animated_gif_uses_first_frame():
    frames = [Image.new("RGB", (40, 40), color) for color in ("red", "blue", "green")]
    data = encode(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)
    assert Image.open(io.BytesIO(data)).n_frames == 3
    assert tuple(load_image(data)[10, 10]) == (255, 0, 0)


def test_exif_orientation_is_honored():
    image = Image.new("RGB", (80, 40), "white")
    image.paste((255, 0, 0), (0, 0, 40, 40))  # red on the left as stored
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90° clockwise to display"
    rgb = load_image(encode(image, "JPEG", exif=exif.tobytes(), quality=95))
    assert rgb.shape == (80, 40, 3)  # displayed upright: taller than wide
    assert rgb[10, 20, 0] > 200 and rgb[10, 20, 1] < 60  # stored left is displayed top
    assert rgb[70, 20, 1] > 200


def test_numpy_inputs():
    assert load_image(np.full((40, 50), 7, np.uint8)).shape == (40, 50, 3)
    assert load_image(np.full((40, 50, 3), 0.5, np.float32))[0, 0, 0] == 128
    assert tuple(load_image(np.full((40, 50, 3), 65535, np.uint16))[0, 0]) == (255, 255, 255)
    rgba = np.zeros((40, 50, 4), np.uint8)
    assert tuple(load_image(rgba)[0, 0]) == (255, 255, 255)  # transparent → white
