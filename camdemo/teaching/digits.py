"""Cluttered digits: handwritten digits placed on a larger canvas among fragments of other digits, with true boxes.

After DeepMind's mnist-cluttered (Mnih et al. 2014, "Recurrent Models of Visual Attention"), which the
CAM lecture uses to show a LeNet whose fully connected layers were replaced by global average pooling
(97.6% test accuracy). MNIST cannot be downloaded here, so the digits are the UCI "Optical Recognition
of Handwritten Digits" set that scikit-learn bundles (1,797 digits of 8×8 pixels, values 0–16; Alpaydin
and Kaynak 1998, CC BY 4.0, see ``docs/teaching.md``).

Each canvas (60×60 float32 in [0, 1], 0 = background, 1 = ink) holds one digit upsampled to 20–28 px at
a random position, on faint noise, with 4–8 random 8×8 crops of *other* digits of the same split as
clutter (as mnist-cluttered does). The generator returns the digit's tight ink box. Training and test
canvases are built from disjoint source digits (every fifth digit is held out for testing), so the test
accuracy is on handwriting the network never saw. Every canvas is a pure function of (split, seed, index).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import cv2
import numpy as np

from ..errors import CamdemoError

CLASSES = tuple(str(digit) for digit in range(10))
CANVAS = 60
TRAIN, TEST = "train", "test"
TRAIN_SEED, VALIDATION_SEED, TEST_SEED, EXAMPLE_SEED = 11, 12, 13, 15
INK = 0.1  # a pixel of the upsampled digit with value ≥ INK is ink; the box encloses these


@dataclass(frozen=True)
class DigitCanvas:
    """A canvas (H×W float32 in [0, 1]), its digit's class and the digit's tight box (x0, y0, x1, y1), exclusive."""

    canvas: np.ndarray
    label: int
    box: tuple[int, int, int, int]
    source: int  # index of the digit in ``sklearn.datasets.load_digits()``

    @property
    def name(self) -> str:
        return CLASSES[self.label]


@functools.cache
def source_digits() -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's 8×8 digits as (1797×8×8 float32 in [0, 1], labels)."""
    try:
        from sklearn.datasets import load_digits
    except ImportError as error:  # pragma: no cover - scikit-learn is a dependency
        raise CamdemoError("The cluttered digits need scikit-learn (pip install scikit-learn).") from error
    data = load_digits()
    return (data.images / 16.0).astype(np.float32), data.target.astype(np.int64)


def split_indices(split: str) -> np.ndarray:
    """Indices of the source digits of ``split``: every fifth digit for ``test``, the others for ``train``."""
    if split not in (TRAIN, TEST):
        raise CamdemoError(f"Unknown split '{split}': choose '{TRAIN}' or '{TEST}'.")
    everything = np.arange(len(source_digits()[1]))
    held_out = everything % 5 == 0
    return everything[held_out] if split == TEST else everything[~held_out]


def upsample_digit(digit: np.ndarray, size: int) -> np.ndarray:
    """An 8×8 digit resized to size×size (bicubic), clipped to [0, 1]."""
    return np.clip(cv2.resize(digit, (size, size), interpolation=cv2.INTER_CUBIC), 0.0, 1.0)


def _clutter(rng: np.random.Generator, canvas: np.ndarray, pool: np.ndarray, avoid: int) -> None:
    """4–8 random 8×8 crops of other digits (upsampled to 24 px), pasted at random places (max blending)."""
    digits, _ = source_digits()
    size = canvas.shape[0]
    for _ in range(int(rng.integers(4, 9))):
        for _ in range(20):
            other = int(rng.choice(pool))
            if other == avoid:
                continue
            big = upsample_digit(digits[other], 24)
            y, x = rng.integers(0, 24 - 8 + 1, 2)
            piece = big[y:y + 8, x:x + 8]
            if piece.max() >= 0.5:  # a crop with ink, not an empty corner
                break
        py, px = rng.integers(0, size - 8 + 1, 2)
        np.maximum(canvas[py:py + 8, px:px + 8], piece, out=canvas[py:py + 8, px:px + 8])


def make_canvas(split: str, seed: int, index: int, size: int = CANVAS) -> DigitCanvas:
    """Canvas ``index`` of the ``split`` drawn from ``seed``: one random digit of the split, at 20–28 px, anywhere."""
    rng = np.random.default_rng([seed, index, 0 if split == TRAIN else 1])
    pool = split_indices(split)
    digits, labels = source_digits()
    source = int(rng.choice(pool))
    side = int(rng.integers(20, 29))
    digit = upsample_digit(digits[source], side)
    angle = rng.uniform(-12, 12)  # handwriting slant; the rotation keeps the digit inside its square
    rotation = cv2.getRotationMatrix2D(((side - 1) / 2, (side - 1) / 2), angle, 1.0)
    digit = np.clip(cv2.warpAffine(digit, rotation, (side, side), flags=cv2.INTER_LINEAR), 0.0, 1.0)
    canvas = np.zeros((size, size), np.float32)
    _clutter(rng, canvas, pool, avoid=source)
    y, x = (int(v) for v in rng.integers(0, size - side + 1, 2))
    np.maximum(canvas[y:y + side, x:x + side], digit, out=canvas[y:y + side, x:x + side])
    rows, columns = np.nonzero(digit >= INK)
    box = (x + int(columns.min()), y + int(rows.min()), x + int(columns.max()) + 1, y + int(rows.max()) + 1)
    noise = rng.uniform(0.0, 0.08) * rng.random((size, size), dtype=np.float32)
    canvas = np.clip(canvas + noise, 0.0, 1.0).astype(np.float32)
    return DigitCanvas(canvas, int(labels[source]), box, source)


def make_batch(split: str, seed: int, start: int, count: int) -> tuple[np.ndarray, np.ndarray]:
    """Canvases ``start`` … ``start + count − 1`` as (N×1×H×W float32 in [0, 1], N labels): the model's input."""
    items = [make_canvas(split, seed, index) for index in range(start, start + count)]
    return np.stack([item.canvas for item in items])[:, None], np.array([item.label for item in items], np.int64)


# --- bundled examples --------------------------------------------------------------------------

# (file stem, index in the test split's example seed): chosen to show several digits
EXAMPLES = (("digits_example_1", 0), ("digits_example_2", 1), ("digits_example_3", 2))


def example_canvas(stem: str) -> DigitCanvas:
    """The held-out canvas saved in ``assets/`` as ``stem``.npy / .png / .json."""
    for name, index in EXAMPLES:
        if name == stem:
            return make_canvas(TEST, EXAMPLE_SEED, index)
    raise KeyError(stem)
