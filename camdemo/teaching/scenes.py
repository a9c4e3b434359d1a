"""Cluttered shapes: a generated data set whose every image comes with its object's true box and mask.

Pretrained ImageNet models show *that* CAM works but not *how well*: nobody knows where the object
truly is. Here every image holds one target shape (or two of different classes) of one of eight
classes, at a random position, scale, rotation and color, on a cluttered background (fragments of
other shapes, lines and noise), and the generator returns the target's exact mask and box. This
follows the CAM paper's cluttered-MNIST demonstration (Zhou et al. 2016, section 4).

Every image is a pure function of (split seed, index), so splits drawn from different seeds are
disjoint and any image can be regenerated on its own.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

CLASSES = ("circle", "square", "triangle", "star", "cross", "ring", "heart", "arrow")
IMAGE_SIZE = 96
# Seeds of the splits: distinct, so the splits share no image.
TRAIN_SEED, VALIDATION_SEED, TEST_SEED, PAIR_SEED = 1, 2, 3, 4


@dataclass(frozen=True)
class ShapeObject:
    """One drawn target shape: its class, exact pixel mask and tight box (x0, y0, x1, y1), x1/y1 exclusive."""

    label: int
    mask: np.ndarray
    box: tuple[int, int, int, int]

    @property
    def name(self) -> str:
        return CLASSES[self.label]


@dataclass(frozen=True)
class ShapeScene:
    """An image (H×W×3 uint8 RGB) and the target shapes drawn in it (one, or two of different classes)."""

    image: np.ndarray
    objects: tuple[ShapeObject, ...]

    @property
    def label(self) -> int:
        return self.objects[0].label

    @property
    def box(self) -> tuple[int, int, int, int]:
        return self.objects[0].box


def _outline(label: int, points: int = 64) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
    """The class's polygon in unit coordinates (about [-1, 1]), or (outer, inner) for the ring."""
    angles = np.linspace(0.0, 2 * math.pi, points, endpoint=False)
    circle = np.stack([np.cos(angles), np.sin(angles)], axis=1)
    name = CLASSES[label]
    if name == "circle":
        return circle
    if name == "ring":
        return circle, 0.55 * circle
    if name == "square":
        return np.array([[-1, -1], [1, -1], [1, 1], [-1, 1]], float) * 0.85
    if name == "triangle":
        return np.array([[0, -1], [0.95, 0.75], [-0.95, 0.75]], float)
    if name == "star":
        star_angles = np.arange(10) * math.pi / 5 - math.pi / 2
        radii = np.where(np.arange(10) % 2 == 0, 1.0, 0.42)
        return np.stack([radii * np.cos(star_angles), radii * np.sin(star_angles)], axis=1)
    if name == "cross":
        a, b = 0.3, 1.0
        return np.array([[-a, -b], [a, -b], [a, -a], [b, -a], [b, a], [a, a], [a, b], [-a, b], [-a, a], [-b, a],
                         [-b, -a], [-a, -a]], float)
    if name == "heart":
        t = angles
        x = 16 * np.sin(t) ** 3
        y = -(13 * np.cos(t) - 5 * np.cos(2 * t) - 2 * np.cos(3 * t) - np.cos(4 * t))
        return np.stack([x, y + 2.5], axis=1) / 16.5
    if name == "arrow":
        return np.array([[-1, -0.28], [0.2, -0.28], [0.2, -0.7], [1, 0], [0.2, 0.7], [0.2, 0.28], [-1, 0.28]], float)
    raise ValueError(label)


def _place(points: np.ndarray, center: np.ndarray, radius: float, angle: float) -> np.ndarray:
    rotation = np.array([[math.cos(angle), -math.sin(angle)], [math.sin(angle), math.cos(angle)]])
    return np.round((points @ rotation.T) * radius + center).astype(np.int32)


def shape_mask(label: int, center: np.ndarray, radius: float, angle: float, size: int = IMAGE_SIZE) -> np.ndarray:
    """Boolean mask of one shape of class ``label``, centered at ``center`` with outer radius ``radius``."""
    mask = np.zeros((size, size), np.uint8)
    outline = _outline(label)
    if isinstance(outline, tuple):
        outer, inner = outline
        cv2.fillPoly(mask, [_place(outer, center, radius, angle)], 1, lineType=cv2.LINE_8)
        cv2.fillPoly(mask, [_place(inner, center, radius, angle)], 0, lineType=cv2.LINE_8)
    else:
        cv2.fillPoly(mask, [_place(outline, center, radius, angle)], 1, lineType=cv2.LINE_8)
    return mask.astype(bool)


def _random_color(rng: np.random.Generator, away_from: np.ndarray | None = None) -> np.ndarray:
    """A random RGB color, at least a clear distance from ``away_from`` (the local background)."""
    for _ in range(50):
        color = rng.integers(0, 256, 3).astype(np.float32)
        if away_from is None or np.linalg.norm(color - away_from) > 110:
            return color
    assert away_from is not None  # with nothing to avoid, the first color was returned
    return 255.0 - away_from


def _background(rng: np.random.Generator, size: int) -> np.ndarray:
    """A smooth two-color gradient at a random angle."""
    a, b = rng.integers(0, 256, 3), rng.integers(0, 256, 3)
    angle = rng.uniform(0, 2 * math.pi)
    ys, xs = np.mgrid[0:size, 0:size] / (size - 1)
    t = np.clip(0.5 + (xs - 0.5) * math.cos(angle) + (ys - 0.5) * math.sin(angle), 0, 1)[..., None]
    return ((1 - t) * a + t * b).astype(np.float32)


def _add_clutter(rng: np.random.Generator, canvas: np.ndarray, size: int) -> None:
    """Lines and fragments of other shapes (a random half-plane of each, never a whole shape)."""
    for _ in range(rng.integers(4, 9)):
        start, end = rng.integers(0, size, 2), rng.integers(0, size, 2)
        color = tuple(float(c) for c in rng.integers(0, 256, 3))
        cv2.line(canvas, tuple(int(v) for v in start), tuple(int(v) for v in end), color,
                 int(rng.integers(1, 3)), lineType=cv2.LINE_AA)
    ys, xs = np.mgrid[0:size, 0:size]
    for _ in range(rng.integers(3, 7)):
        label = int(rng.integers(len(CLASSES)))
        center = rng.uniform(0, size, 2)
        radius = rng.uniform(5, 11)  # clearly smaller than a target (13–22): a fragment is never a target
        mask = shape_mask(label, center, radius, rng.uniform(0, 2 * math.pi), size)
        cut = rng.uniform(0, 2 * math.pi)  # keep the part of the shape on one side of a line through it
        offset = rng.uniform(-0.3, 0.3) * radius
        half = (xs - center[0]) * math.cos(cut) + (ys - center[1]) * math.sin(cut) > offset
        canvas[mask & half] = rng.integers(0, 256, 3)


def make_scene(seed: int, index: int, labels: tuple[int, ...] | None = None, size: int = IMAGE_SIZE) -> ShapeScene:
    """Image ``index`` of the split drawn from ``seed``: one random target, or the given ``labels``.

    Each target has a random class, outer radius 13–22 px, rotation, position (wholly inside the
    image, not overlapping another target) and color clearly distinct from the background under it.
    """
    rng = np.random.default_rng([seed, index])
    if labels is None:
        labels = (int(rng.integers(len(CLASSES))),)
    canvas = _background(rng, size)
    _add_clutter(rng, canvas, size)
    objects: list[ShapeObject] = []
    taken = np.zeros((size, size), bool)
    for label in labels:
        for _ in range(100):
            radius = rng.uniform(13, 22)
            center = rng.uniform(radius + 1, size - radius - 1, 2)
            mask = shape_mask(label, center, radius, rng.uniform(0, 2 * math.pi), size)
            grown = cv2.dilate(mask.astype(np.uint8), np.ones((5, 5), np.uint8)).astype(bool)
            if mask.any() and not (grown & taken).any():
                break
        taken |= mask
        local_background = canvas[mask].mean(axis=0) if mask.any() else None
        canvas[mask] = _random_color(rng, local_background)
        rows, columns = np.nonzero(mask)
        box = (int(columns.min()), int(rows.min()), int(columns.max()) + 1, int(rows.max()) + 1)
        objects.append(ShapeObject(label, mask, box))
    noise = rng.normal(0, rng.uniform(4, 14), canvas.shape)
    image = np.clip(canvas + noise, 0, 255).astype(np.uint8)
    return ShapeScene(image, tuple(objects))


def make_pair_scene(seed: int, index: int, size: int = IMAGE_SIZE) -> ShapeScene:
    """An image with two target shapes of two different random classes (for class-discriminativeness)."""
    rng = np.random.default_rng([seed, index, 2])
    first, second = rng.choice(len(CLASSES), size=2, replace=False)
    return make_scene(seed, index, (int(first), int(second)), size)


def make_batch(seed: int, start: int, count: int) -> tuple[np.ndarray, np.ndarray]:
    """Images ``start`` … ``start + count − 1`` of a split as (N×H×W×3 uint8, N labels)."""
    scenes = [make_scene(seed, index) for index in range(start, start + count)]
    return np.stack([s.image for s in scenes]), np.array([s.label for s in scenes], np.int64)


# --- bundled examples and their ground truth ---------------------------------------------------

EXAMPLE_SEED = 5
# (file name, index in the example split, two shapes?) — chosen to show several classes
EXAMPLE_SCENES = (("shapes_star.png", 8, False), ("shapes_heart.png", 2, False), ("shapes_arrow.png", 3, False),
                  ("shapes_two.png", 0, True))


def example_scene(name: str) -> ShapeScene:
    """The generated scene saved in ``assets/`` as ``name``."""
    for file, index, pair in EXAMPLE_SCENES:
        if file == name:
            return make_pair_scene(EXAMPLE_SEED, index) if pair else make_scene(EXAMPLE_SEED, index)
    raise KeyError(name)


def _digest(image: np.ndarray) -> str:
    import hashlib
    data = np.ascontiguousarray(image).tobytes() + str(image.shape).encode()
    return hashlib.blake2b(data, digest_size=16).hexdigest()


_known: dict[str, ShapeScene] | None = None


def ground_truth(image: np.ndarray) -> tuple[ShapeObject, ...] | None:
    """The true shapes of ``image`` if it is one of the bundled generated examples (pixel-exact), else None."""
    global _known
    if _known is None:
        _known = {_digest(scene.image): scene for scene in map(example_scene, (e[0] for e in EXAMPLE_SCENES))}
    scene = _known.get(_digest(image))
    return scene.objects if scene is not None else None
