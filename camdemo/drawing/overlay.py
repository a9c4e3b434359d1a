"""From a raw low-resolution map to what a person sees: normalize, upsample, color, blend.

All of this is cheap (no network), so changing the colormap or the opacity only re-runs this.
"""

from __future__ import annotations

from functools import lru_cache

import cv2
import numpy as np
from PIL import Image, ImageDraw, ImageFont

from ..errors import CamdemoError

# Display name → OpenCV colormap. viridis and cividis are perceptually uniform and readable with
# the common forms of color blindness; jet is the classic (but misleading) rainbow.
COLORMAPS: dict[str, int] = {
    "jet": cv2.COLORMAP_JET,
    "turbo": cv2.COLORMAP_TURBO,
    "viridis": cv2.COLORMAP_VIRIDIS,
    "cividis": cv2.COLORMAP_CIVIDIS,
    "inferno": cv2.COLORMAP_INFERNO,
    "magma": cv2.COLORMAP_MAGMA,
    "plasma": cv2.COLORMAP_PLASMA,
    "diverging": -1,  # blue–white–red lookup table below: for signed maps (0.5 = zero)
}
COLOR_BLIND_SAFE = ("viridis", "cividis", "inferno", "magma", "plasma")
# Equal steps in the map look like equal steps in color: lightness (CIELAB L*) rises linearly from the
# low end to the high end. jet's does not (it peaks at cyan and yellow and falls again at red), which
# draws edges that are not in the data and hides differences between the reds (tests/test_overlay.py).
PERCEPTUALLY_UNIFORM = ("viridis", "cividis", "inferno", "magma", "plasma")
SIGNS = ("positive", "negative", "both")
DEFAULT_SIGN = "positive"
# viridis: perceptually uniform, readable with the common color blindnesses and in grayscale, and the
# best known of them (matplotlib's default). Its low end is dark blue, not black as in inferno and magma,
# so over a photo the parts the method finds unimportant stay visible under the overlay.
DEFAULT_COLORMAP = "viridis"
DEFAULT_OPACITY = 0.5


def normalize_map(values: np.ndarray) -> tuple[np.ndarray, bool]:
    """Min–max scale ``values`` to [0, 1] as float32; returns (map, is_flat). A flat map becomes zeros.

    OpenCV's vectorised passes: about 15× faster than NumPy on a megapixel map (0.4 vs 6.4 ms).
    Subtracting before scaling keeps the minimum at exactly 0.
    """
    values = values.astype(np.float32, copy=False)
    if not np.isfinite(values).all():
        values = np.nan_to_num(values)
    low, high, _, _ = cv2.minMaxLoc(values)
    if high - low <= 1e-12 * max(1.0, abs(high)):
        return np.zeros_like(values, dtype=np.float32), True
    return cv2.multiply(cv2.subtract(values, low), 1.0 / (high - low)), False  # type: ignore[call-overload]  # scalars: OpenCV takes them, its stubs do not


def upsample_values(values: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Resize a map in its own units to ``size`` = (height, width), bicubic, not clipped."""
    height, width = size
    values = values.astype(np.float32, copy=False)
    if values.shape == (height, width):
        return values
    return cv2.resize(values, (width, height), interpolation=cv2.INTER_CUBIC)


def upsample(heatmap: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Resize a [0, 1] map to ``size`` = (height, width) with bicubic interpolation, clipped to [0, 1].

    The model saw the whole image resized to a square, so resizing the map to the original
    height and width puts each value back over the pixels it came from.
    """
    return np.clip(upsample_values(heatmap, size), 0.0, 1.0)


def check_style(colormap: str, opacity: float = DEFAULT_OPACITY) -> None:
    """``CamdemoError`` unless ``colormap`` is known and 0 ≤ ``opacity`` ≤ 1."""
    if colormap not in COLORMAPS:
        raise CamdemoError(f"Unknown colormap '{colormap}'. Choose one of: {', '.join(COLORMAPS)}.")
    if not 0.0 <= float(opacity) <= 1.0:
        raise CamdemoError(f"Opacity must be between 0 and 1, not {opacity}.")


def heatmap_over_image(values: np.ndarray, size: tuple[int, int]) -> tuple[np.ndarray, bool]:
    """A method's raw map → the displayed heatmap over an image of ``size``: (H×W in [0, 1], is_flat).

    Normalize at the layer's resolution, upsample bicubically, then stretch to [0, 1] again: bicubic
    smoothing can lower a sharp peak (saliency), and the colormap should use its whole range.
    """
    normalized, flat = normalize_map(values)
    heatmap = upsample(normalized, size)
    if not flat:
        heatmap, _ = normalize_map(heatmap)
    return heatmap, flat


def signed_part(values: np.ndarray, sign: str) -> np.ndarray:
    """The part of a signed map to show: ``positive`` → max(v, 0), ``negative`` → max(−v, 0), ``both`` → v."""
    if sign == "positive":
        return np.maximum(values, 0)
    if sign == "negative":
        return np.maximum(-values, 0)
    if sign == "both":
        return values
    raise CamdemoError(f"Unknown sign '{sign}'. Choose one of: {', '.join(SIGNS)}.")


def signed_heatmap_over_image(values: np.ndarray, size: tuple[int, int]) -> tuple[np.ndarray, bool]:
    """A signed raw map → H×W in [0, 1] with 0.5 for zero: 0.5 + 0.5 · v / max|v| (upsampled bicubically).

    Both signs share one scale, so equal colors mean equal magnitudes for and against.
    """
    upsampled = upsample_values(values, size)
    scale = float(np.abs(upsampled).max()) if upsampled.size else 0.0
    if not np.isfinite(scale) or scale <= 1e-12:
        return np.full(size, 0.5, dtype=np.float32), True
    return np.clip(0.5 + 0.5 * upsampled / scale, 0.0, 1.0).astype(np.float32), False


def display_heatmap(values: np.ndarray, size: tuple[int, int], sign: str = DEFAULT_SIGN) -> tuple[np.ndarray, bool]:
    """What is shown for a raw map and a ``sign`` choice: (H×W in [0, 1], is_flat)."""
    if sign == "both":
        return signed_heatmap_over_image(values, size)
    return heatmap_over_image(signed_part(values, sign), size)


def is_flat(values: np.ndarray, sign: str = DEFAULT_SIGN) -> bool:
    """Whether the shown part of a raw map holds nothing to show, judged at the map's own resolution (cheap).

    One sign: the part is constant, as ``display_heatmap`` finds it. Both signs: every value is 0 (or one is
    not finite), where ``display_heatmap`` looks after upsampling: the two differ only for a map whose
    largest |value| vanishes in the resize (a lone pixel of a map much larger than the image).
    """
    if sign == "both":
        scale = float(np.abs(values).max()) if values.size else 0.0
        return not np.isfinite(scale) or scale <= 1e-12
    return normalize_map(signed_part(values, sign))[1]


def _diverging_lut() -> np.ndarray:
    levels = np.linspace(-1.0, 1.0, 256, dtype=np.float32)[None, :]
    return cv2.cvtColor(diverging(levels), cv2.COLOR_RGB2BGR).reshape(256, 1, 3)


def colorize(heatmap: np.ndarray, colormap: str = DEFAULT_COLORMAP) -> np.ndarray:
    """Map a [0, 1] heatmap to an RGB uint8 image with ``colormap``."""
    check_style(colormap)
    levels = np.rint(heatmap * 255.0).astype(np.uint8)
    code = _DIVERGING_LUT if colormap == "diverging" else COLORMAPS[colormap]
    return cv2.cvtColor(cv2.applyColorMap(levels, code), cv2.COLOR_BGR2RGB)


def blend(image: np.ndarray, heatmap: np.ndarray, colormap: str = DEFAULT_COLORMAP,
          opacity: float = DEFAULT_OPACITY) -> np.ndarray:
    """overlay = (1 − opacity) · image + opacity · colormap(heatmap), both H×W×3 uint8."""
    check_style(colormap, opacity)
    if image.shape[:2] != heatmap.shape:
        raise CamdemoError(f"Heatmap {heatmap.shape} and image {image.shape[:2]} differ in size.")
    return cv2.addWeighted(colorize(heatmap, colormap), float(opacity), image, 1.0 - float(opacity), 0.0)


def draw_boxes(image: np.ndarray,
               boxes: list[tuple[tuple[int, int, int, int], str, tuple[int, int, int]]]) -> np.ndarray:
    """A copy of ``image`` with each (box (x0, y0, x1, y1), label, RGB color) drawn as a labeled rectangle."""
    canvas = image.copy()
    thickness = max(1, round(max(image.shape[:2]) / 200))
    for (x0, y0, x1, y1), label, color in boxes:
        cv2.rectangle(canvas, (x0, y0), (x1 - 1, y1 - 1), color, thickness, lineType=cv2.LINE_AA)
        scale = max(0.3, max(image.shape[:2]) / 700)
        cv2.putText(canvas, label, (x0 + 2, max(y0 - 3, 9)), cv2.FONT_HERSHEY_SIMPLEX, scale, color,
                    max(1, thickness // 2), lineType=cv2.LINE_AA)
    return canvas


def diverging(values: np.ndarray) -> np.ndarray:
    """Signed map → RGB: blue for negative, white for zero, red for positive, scaled by max |value|."""
    scale = float(np.abs(values).max()) or 1.0
    v = np.clip(values / scale, -1.0, 1.0)[..., None]
    red, white, blue = np.array([214, 39, 40.0]), np.array([255, 255, 255.0]), np.array([31, 119, 180.0])
    rgb = np.where(v >= 0, white + v * (red - white), white + (-v) * (blue - white))
    return np.rint(rgb).astype(np.uint8)


_DIVERGING_LUT = _diverging_lut()


# --- the color scale under a heatmap ----------------------------------------------------------------


def display_range(values: np.ndarray, size: tuple[int, int], sign: str = DEFAULT_SIGN) -> tuple[float, float]:
    """The raw-map values (in the method's units) that the displayed heatmap's 0 and 1 stand for.

    Follows ``display_heatmap``. One sign: the shown part's minimum and maximum, narrowed where bicubic
    upsampling lowered a sharp peak before the second stretch. Both signs: (−m, +m), m the largest
    |value| after upsampling (0.5 is zero). A flat map gives its one value twice.
    """
    values = np.nan_to_num(values.astype(np.float32, copy=False))
    if sign == "both":
        least, most, _, _ = cv2.minMaxLoc(upsample_values(values, size))  # max |v| without an |v| array
        scale = max(-least, most)
        return -scale, scale
    part = signed_part(values, sign)
    low, high = float(part.min()), float(part.max())
    normalized, flat = normalize_map(part)
    if flat:
        return low, high
    least, most, _, _ = cv2.minMaxLoc(upsample_values(normalized, size))  # ``upsample`` clips to [0, 1]:
    least, most = min(max(least, 0.0), 1.0), min(max(most, 0.0), 1.0)  # so do its ends
    return low + (high - low) * least, low + (high - low) * most


def scale_caption(sign: str = DEFAULT_SIGN, signed: bool = True, method_title: str = "") -> str:
    """What the colors of a heatmap mean, in a few words (ASCII: the bar's font has no arrows)."""
    if sign == "both":
        meaning = "blue: against the class, white: none, red: for the class"
    elif sign == "negative":
        meaning = "evidence against the class, low to high"
    elif signed:
        meaning = "evidence for the class, low to high"
    else:
        meaning = "importance (for or against), low to high"
    return f"{method_title}: {meaning}" if method_title else meaning


def format_value(value: float, signed: bool = False) -> str:
    """A map value for a label: 3 significant digits, "0" for zero, "+" before positives when ``signed``."""
    if value == 0:
        return "0"
    text = f"{value:.3g}"
    return f"+{text}" if signed and value > 0 else text


def scale_labels(low: float, high: float) -> list[tuple[float, str]]:
    """A color bar's labels as (position along it from 0 to 1, text): ``low``, "0" where zero falls if
    the range crosses it (signs shown with "+"/"-"), ``high``."""
    if not low < 0 < high:
        return [(0.0, format_value(low)), (1.0, format_value(high))]
    return [(0.0, format_value(low, True)), (-low / (high - low), "0"), (1.0, format_value(high, True))]


@lru_cache(maxsize=16)
def _font(size: int) -> ImageFont.FreeTypeFont:
    font = ImageFont.load_default(size=size)  # Pillow's bundled font: the same on every machine
    assert isinstance(font, ImageFont.FreeTypeFont), "Pillow without FreeType has no sizable default font"
    return font


SCALE_TEXT = (40, 40, 40)
SCALE_BACKGROUND = (255, 255, 255)


def color_bar(colormap: str, width: int, low: float, high: float, caption: str = "") -> np.ndarray:
    """A color scale ``width`` pixels wide to put under a heatmap: RGB uint8, white background.

    The strip runs through ``colormap`` from 0 (first column) to 1 (last column), so it lines up
    with a heatmap of the same width. Under it: ``low`` at the left end, ``high`` at the right end,
    "0" where zero falls when the range crosses it, and ``caption`` centered below. Text is sized
    for the picture being shown about 350 pixels wide, as in the app.
    """
    if width < 1:
        raise CamdemoError(f"A color bar needs a width of at least 1 pixel, not {width}.")
    unit = max(1.0, width / 350)
    font = caption_font = _font(round(12 * unit))
    while caption and caption_font.getlength(caption) > width and caption_font.size > 6:  # a narrow picture
        caption_font = _font(caption_font.size - 1)
    bar_height, gap = round(14 * unit), round(4 * unit)
    line = int(font.getbbox("0-9gy")[3])  # whole pixels already; the stubs say float
    height = gap + bar_height + gap + line + (gap + line if caption else 0) + gap  # a white gap above: not the map
    strip = colorize(np.linspace(0.0, 1.0, width, dtype=np.float32)[None, :], colormap)
    canvas = Image.new("RGB", (width, height), SCALE_BACKGROUND)
    canvas.paste(Image.fromarray(np.repeat(strip, bar_height, axis=0)), (0, gap))
    draw = ImageDraw.Draw(canvas)
    bottom = gap + bar_height
    y = bottom + gap
    for position, text in scale_labels(low, high):
        x = round(position * (width - 1))
        anchor = "la" if position == 0.0 else "ra" if position == 1.0 else "ma"  # the ends stay inside
        draw.text((x, y), text, fill=SCALE_TEXT, font=font, anchor=anchor)
        if anchor == "ma":  # a tick where zero is
            draw.line([(x, bottom - gap), (x, bottom + gap // 2)], fill=SCALE_TEXT, width=max(1, round(unit)))
    if caption:
        draw.text((width // 2, y + line + gap), caption, fill=SCALE_TEXT, font=caption_font, anchor="ma")
    return np.asarray(canvas)


def with_color_bar(image: np.ndarray, bar: np.ndarray) -> np.ndarray:
    """``image`` (H×W×3) with ``bar`` (as wide as it, e.g. from ``color_bar``) underneath."""
    if image.shape[1] != bar.shape[1]:
        raise CamdemoError(f"The color bar is {bar.shape[1]} pixels wide, the image {image.shape[1]}.")
    return np.vstack([image, bar])
