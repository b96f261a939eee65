"""``synthetic:shapes``: a built-in, procedurally drawn image classification set.

Eight classes of filled shapes (circle, square, triangle, star, cross, hexagon,
ring, diamond) in a random colour, size, position and rotation on a random
textured background (a colour gradient with stripes or blotches plus pixel
noise). Each image is a pure function of (seed, index, size): the same seed
always gives the same dataset, at any resolution. A small CNN learns it to
>= 90% validation accuracy (tests/test_data.py shows it).
"""

from __future__ import annotations

import math

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

CLASSES = ("circle", "cross", "diamond", "hexagon", "ring", "square", "star", "triangle")
DEFAULT_SIZE = 2400


def _polygon(cx: float, cy: float, radius: float, sides: int, rotation: float, inner: float | None = None):
    points = []
    steps = sides * (2 if inner else 1)
    for k in range(steps):
        r = radius if inner is None or k % 2 == 0 else radius * inner
        angle = rotation + 2 * math.pi * k / steps
        points.append((cx + r * math.cos(angle), cy + r * math.sin(angle)))
    return points


def _background(rng: np.random.Generator, size: int) -> Image.Image:
    start, end = rng.uniform(40, 215, 3), rng.uniform(40, 215, 3)
    t = np.linspace(0, 1, size)[None, :, None]
    angle = rng.uniform(0, math.pi)
    grid = (np.cos(angle) * t + np.sin(angle) * t.transpose(1, 0, 2)) / max(abs(np.cos(angle)) + abs(np.sin(angle)), 1e-6)
    canvas = start * (1 - grid) + end * grid
    if rng.random() < 0.5:  # stripes
        freq = rng.uniform(2, 8)
        phase = rng.uniform(0, 2 * math.pi)
        yy = np.arange(size)[:, None, None] / size
        canvas = canvas + 15 * np.sin(2 * math.pi * freq * yy + phase)
    else:  # blotches
        blotch = rng.normal(0, 1, (max(2, size // 8), max(2, size // 8)))
        blotch = np.asarray(Image.fromarray(((blotch + 3) * 40).clip(0, 255).astype(np.uint8)).resize((size, size), Image.BILINEAR))
        canvas = canvas + (blotch[:, :, None].astype(np.float64) - 120) * 0.15
    canvas = canvas + rng.normal(0, 8, canvas.shape)
    return Image.fromarray(np.clip(canvas, 0, 255).astype(np.uint8), "RGB")


def _contrasting_colour(rng: np.random.Generator, background: np.ndarray) -> tuple[int, int, int]:
    """A random colour whose brightness is far from the background's (dark on light, light on dark)."""
    colour = rng.uniform(0, 1, 3)
    colour = colour / max(colour.max(), 1e-6)  # saturated hue
    if background.mean() > 128:
        colour = colour * rng.uniform(20, 90)
    else:
        colour = 255 - (1 - colour) * rng.uniform(20, 90)
    return tuple(int(c) for c in colour)


def draw_shape(label: int, seed: int, index: int, size: int = 64) -> Image.Image:
    """The image ``index`` of class ``label`` for ``seed``, drawn at ``size`` x ``size``."""
    rng = np.random.default_rng([seed, index, label])
    scale = 4  # draw large, then downsample: smooth edges at any resolution
    big = size * scale
    background = _background(rng, size)
    image = background.resize((big, big), Image.BILINEAR)
    draw = ImageDraw.Draw(image)
    radius = rng.uniform(0.25, 0.42) * big
    cx = rng.uniform(radius, big - radius)
    cy = rng.uniform(radius, big - radius)
    rotation = rng.uniform(0, 2 * math.pi)
    colour = _contrasting_colour(rng, np.asarray(background, dtype=np.float64).mean(axis=(0, 1)))
    name = CLASSES[label]
    if name == "circle":
        draw.ellipse((cx - radius, cy - radius, cx + radius, cy + radius), fill=colour)
    elif name == "ring":
        draw.ellipse((cx - radius, cy - radius, cx + radius, cy + radius), fill=colour)
        hole = radius * 0.55
        mean = np.asarray(background, dtype=np.float64).mean(axis=(0, 1))
        draw.ellipse((cx - hole, cy - hole, cx + hole, cy + hole), fill=tuple(int(c) for c in mean))
    elif name == "square":
        draw.polygon(_polygon(cx, cy, radius, 4, rotation), fill=colour)
    elif name == "diamond":  # a rhombus: one diagonal 0.55 of the other
        points = _polygon(cx, cy, radius, 4, rotation)
        (x0, y0), (x1, y1), (x2, y2), (x3, y3) = points
        draw.polygon([(x0, y0), (cx + (x1 - cx) * 0.55, cy + (y1 - cy) * 0.55), (x2, y2),
                      (cx + (x3 - cx) * 0.55, cy + (y3 - cy) * 0.55)], fill=colour)
    elif name == "triangle":
        draw.polygon(_polygon(cx, cy, radius, 3, rotation), fill=colour)
    elif name == "hexagon":
        draw.polygon(_polygon(cx, cy, radius, 6, rotation), fill=colour)
    elif name == "star":
        draw.polygon(_polygon(cx, cy, radius, 5, rotation, inner=0.45), fill=colour)
    elif name == "cross":
        arm = radius * 0.33
        c, s = math.cos(rotation), math.sin(rotation)
        for dx, dy in ((radius, arm), (arm, radius)):
            corners = [(-dx, -dy), (dx, -dy), (dx, dy), (-dx, dy)]
            draw.polygon([(cx + x * c - y * s, cy + x * s + y * c) for x, y in corners], fill=colour)
    image = image.filter(ImageFilter.GaussianBlur(scale * 0.3)).resize((size, size), Image.BILINEAR)
    noise = rng.normal(0, 5, (size, size, 3))
    return Image.fromarray(np.clip(np.asarray(image, dtype=np.float64) + noise, 0, 255).astype(np.uint8), "RGB")
