"""Registered works that are not photos, drawn by code: the bulk of a catalogue of 1,000 and more.

Shortlist quality changes with catalogue size and with what the catalogue holds, so the quality
set registers, besides its photos, generated works of the kinds rights holders register too:
drawings, charts, screenshots of text, text-heavy posters, flags, logos and icons, and a few dark,
nearly flat wallpapers (low texture). Everything is drawn with PIL from a seed, so a set is
reproduced exactly; no third-party image is used (no licence to state beyond the project's).

Some works share a common element on purpose, as real catalogues do:
- flags share one of a few cantons (the same stars on the same blue), each with its own field;
- a studio logo is stamped on a share of the posters and drawings.
`common_negative` draws unregistered pictures carrying those elements: a new flag with a shared
canton, or an unregistered photo with the studio logo. They must not be decided a `match`.
"""

from __future__ import annotations

import math
import random

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont

#: Kinds of generated works, in the order they are dealt out.
KINDS = ("drawing", "chart", "text_screenshot", "poster", "flag", "logo", "icon")
CANTONS = 3
#: Share of posters and drawings stamped with the studio logo.
LOGO_SHARE = 0.25
WORDS = ["harbour", "light", "festival", "market", "river", "quarterly", "museum", "north", "garden", "evening",
         "archive", "studio", "report", "summer", "winter", "council", "library", "journal", "station", "bridge",
         "orchard", "theatre", "gallery", "island", "coast"]


def _font(size: int) -> ImageFont.ImageFont:
    return ImageFont.load_default(size=size)


def _colour(rng: random.Random, low: int = 0, high: int = 255) -> tuple[int, int, int]:
    return tuple(rng.randint(low, high) for _ in range(3))


def _words(rng: random.Random, n: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(n))


def drawing(rng: random.Random) -> Image.Image:
    """Line art: strokes, curves and filled shapes on paper."""
    w, h = rng.choice([(640, 480), (560, 700), (720, 540)])
    im = Image.new("RGB", (w, h), _colour(rng, 225, 255))
    draw = ImageDraw.Draw(im)
    for _ in range(rng.randint(12, 30)):
        x, y = rng.uniform(0, w), rng.uniform(0, h)
        points = [(x, y)]
        for _ in range(rng.randint(2, 6)):
            x, y = x + rng.uniform(-120, 120), y + rng.uniform(-120, 120)
            points.append((x, y))
        draw.line(points, fill=_colour(rng, 0, 140), width=rng.randint(2, 7), joint="curve")
    for _ in range(rng.randint(4, 10)):
        x, y, r = rng.uniform(0, w), rng.uniform(0, h), rng.uniform(10, 70)
        draw.ellipse((x - r, y - r, x + r, y + r), outline=_colour(rng, 0, 160), width=rng.randint(2, 5),
                     fill=_colour(rng) if rng.random() < 0.4 else None)
    return im


def chart(rng: random.Random) -> Image.Image:
    """A bar or line chart with axes, ticks, a title and labels."""
    w, h = 720, 480
    im = Image.new("RGB", (w, h), "white")
    draw = ImageDraw.Draw(im)
    draw.text((30, 14), _words(rng, 3).title(), fill="black", font=_font(24))
    x0, y0, x1, y1 = 70, 60, w - 30, h - 60
    draw.line((x0, y1, x1, y1), fill="black", width=2)
    draw.line((x0, y0, x0, y1), fill="black", width=2)
    for tick in range(6):
        y = y1 - tick * (y1 - y0) / 5
        draw.line((x0 - 6, y, x0, y), fill="black", width=2)
        draw.text((20, y - 8), str(tick * rng.choice((5, 10, 20, 50))), fill="black", font=_font(14))
    values = [rng.uniform(0.1, 1) for _ in range(rng.randint(5, 12))]
    step = (x1 - x0) / len(values)
    if rng.random() < 0.5:
        for i, v in enumerate(values):
            draw.rectangle((x0 + i * step + 6, y1 - v * (y1 - y0), x0 + (i + 1) * step - 6, y1), fill=_colour(rng, 30, 220))
            draw.text((x0 + i * step + 8, y1 + 8), rng.choice(WORDS)[:4], fill="black", font=_font(13))
    else:
        for series in range(rng.randint(1, 3)):
            colour = _colour(rng, 0, 200)
            points = [(x0 + (i + 0.5) * step, y1 - rng.uniform(0.1, 1) * (y1 - y0)) for i in range(len(values))]
            draw.line(points, fill=colour, width=3)
            for x, y in points:
                draw.ellipse((x - 5, y - 5, x + 5, y + 5), fill=colour)
    return im


def text_screenshot(rng: random.Random) -> Image.Image:
    """A screenshot of a text page: a title bar, a heading and paragraphs of words."""
    w, h = rng.choice([(800, 600), (1024, 640), (720, 900)])
    im = Image.new("RGB", (w, h), _colour(rng, 235, 255))
    draw = ImageDraw.Draw(im)
    draw.rectangle((0, 0, w, 36), fill=_colour(rng, 20, 90))
    draw.text((14, 8), _words(rng, 4), fill="white", font=_font(18))
    draw.text((30, 56), _words(rng, 5).title(), fill="black", font=_font(30))
    y, size = 110, rng.choice((15, 17, 20))
    while y < h - 30:
        draw.text((30, y), _words(rng, rng.randint(6, 12)), fill=(40, 40, 40), font=_font(size))
        y += size + rng.choice((6, 8, 10)) + (24 if rng.random() < 0.12 else 0)
    return im


def poster(rng: random.Random) -> Image.Image:
    """Text-heavy: big words on colour blocks."""
    w, h = 600, 800
    im = Image.new("RGB", (w, h), _colour(rng))
    draw = ImageDraw.Draw(im)
    for _ in range(rng.randint(2, 5)):
        x, y = rng.uniform(-100, w), rng.uniform(-100, h)
        draw.rectangle((x, y, x + rng.uniform(100, 400), y + rng.uniform(60, 300)), fill=_colour(rng))
    y = 40
    for _ in range(rng.randint(4, 8)):
        size = rng.randint(26, 70)
        draw.text((rng.randint(20, 80), y), _words(rng, rng.randint(1, 3)).upper(), fill=_colour(rng), font=_font(size))
        y += size + rng.randint(10, 40)
    return im


def _star(draw: ImageDraw.ImageDraw, x: float, y: float, r: float, fill) -> None:
    angles = [-math.pi / 2 + i * math.pi / 5 for i in range(10)]
    draw.polygon([(x + (r if i % 2 == 0 else 0.4 * r) * math.cos(a), y + (r if i % 2 == 0 else 0.4 * r) * math.sin(a))
                  for i, a in enumerate(angles)], fill=fill)


def canton(number: int) -> Image.Image:
    """Common element number `number`: the same stars on the same blue wherever it appears."""
    rng = random.Random(f"canton:{number}")
    im = Image.new("RGB", (300, 220), _colour(rng, 10, 90))
    draw = ImageDraw.Draw(im)
    for _ in range(rng.randint(14, 26)):
        _star(draw, rng.uniform(16, 284), rng.uniform(16, 204), rng.uniform(7, 18), _colour(rng, 200, 255))
    return im


def flag(rng: random.Random, canton_number: int | None = None) -> Image.Image:
    """A field of stripes with its own emblems, and one of the shared cantons in the corner."""
    im = Image.new("RGB", (900, 560))
    draw = ImageDraw.Draw(im)
    colours = [_colour(rng) for _ in range(rng.randint(2, 3))]
    stripes = rng.randint(3, 13)
    for i in range(stripes):
        draw.rectangle((0, i * 560 / stripes, 900, (i + 1) * 560 / stripes), fill=colours[i % len(colours)])
    for _ in range(rng.randint(6, 16)):
        x, y, r = rng.uniform(330, 870), rng.uniform(30, 530), rng.uniform(12, 45)
        if rng.random() < 0.5:
            draw.ellipse((x - r, y - r, x + r, y + r), fill=_colour(rng), outline=(0, 0, 0), width=3)
        else:
            draw.polygon([(x + r * math.cos(a), y + r * math.sin(a))
                          for a in sorted(rng.uniform(0, 2 * math.pi) for _ in range(5))], fill=_colour(rng))
    draw.text((40, 300), _words(rng, 2).upper(), fill=_colour(rng), font=_font(44))
    im.paste(canton(rng.randrange(CANTONS) if canton_number is None else canton_number), (0, 0))
    return im


def studio_logo() -> Image.Image:
    """The common element stamped on a share of posters and drawings (and on some negatives)."""
    im = Image.new("RGB", (190, 86), (250, 248, 240))
    draw = ImageDraw.Draw(im)
    draw.rectangle((2, 2, 187, 83), outline=(15, 15, 15), width=3)
    draw.polygon([(12, 70), (38, 14), (64, 70)], fill=(190, 30, 40))
    draw.ellipse((44, 28, 78, 62), fill=(25, 70, 170))
    draw.text((88, 14), "ATELIER", fill=(15, 15, 15), font=_font(20))
    draw.text((88, 44), "NORD", fill=(190, 30, 40), font=_font(24))
    return im


def with_logo(im: Image.Image) -> Image.Image:
    out = im.copy()
    mark = studio_logo()
    out.paste(mark, (out.width - mark.width - 12, out.height - mark.height - 12))
    return out


def logo(rng: random.Random) -> Image.Image:
    """A company logo: a mark and a name on a plain ground."""
    im = Image.new("RGB", (500, 300), _colour(rng, 200, 255))
    draw = ImageDraw.Draw(im)
    cx, cy = 120, 150
    for ring in range(rng.randint(1, 4)):
        r = 90 - ring * 20
        draw.regular_polygon((cx, cy, r), rng.randint(3, 8), rotation=rng.uniform(0, 90), fill=_colour(rng, 0, 200))
    draw.text((230, 110), rng.choice(WORDS).upper(), fill=_colour(rng, 0, 120), font=_font(40))
    draw.text((232, 165), _words(rng, 2), fill=_colour(rng, 0, 120), font=_font(20))
    return im


def icon(rng: random.Random) -> Image.Image:
    """A flat app icon: a rounded square, a glyph and a letter."""
    im = Image.new("RGB", (256, 256), "white")
    draw = ImageDraw.Draw(im)
    draw.rounded_rectangle((8, 8, 248, 248), radius=48, fill=_colour(rng, 20, 230))
    draw.regular_polygon((128, 118, rng.randint(40, 80)), rng.randint(3, 9), rotation=rng.uniform(0, 60),
                         fill=_colour(rng, 150, 255))
    draw.text((96, 170), rng.choice("ABCDEFGHKLMNPRSTWXZ"), fill=_colour(rng, 0, 90), font=_font(56))
    return im


def wallpaper(rng: random.Random) -> Image.Image:
    """A dark, soft, nearly flat wallpaper (a night sky, a gradient): almost no corners for SIFT."""
    w, h = 960, 600
    top, bottom = np.array(_colour(rng, 0, 40), float), np.array(_colour(rng, 10, 70), float)
    ramp = np.linspace(0, 1, h)[:, None, None]
    pixels = np.broadcast_to(top * (1 - ramp) + bottom * ramp, (h, w, 3)).copy()
    noise = np.random.default_rng(rng.getrandbits(32))
    glow = Image.new("L", (w, h), 0)
    draw = ImageDraw.Draw(glow)
    for _ in range(rng.randint(3, 7)):
        x, y, r = rng.uniform(0, w), rng.uniform(0, h), rng.uniform(60, 220)
        draw.ellipse((x - r, y - r, x + r, y + r), fill=rng.randint(20, 60))
    glow = np.asarray(glow.filter(ImageFilter.GaussianBlur(60)), float)[:, :, None] / 255
    pixels += glow * np.array(_colour(rng, 60, 160), float)
    pixels += noise.normal(0, 1.5, pixels.shape)
    return Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8))


DRAW = {"drawing": drawing, "chart": chart, "text_screenshot": text_screenshot, "poster": poster,
        "flag": flag, "logo": logo, "icon": icon}


def generated(count: int, seed: int) -> dict[str, Image.Image]:
    """`count` generated works, kinds dealt in turn; names say the kind (`gen-flag-0042`)."""
    works = {}
    for i in range(count):
        kind = KINDS[i % len(KINDS)]
        rng = random.Random(f"{seed}:distractor:{i}")
        im = DRAW[kind](rng)
        stamped = kind in ("poster", "drawing") and rng.random() < LOGO_SHARE
        works[f"gen-{kind}{'-logo' if stamped else ''}-{i:04d}"] = with_logo(im) if stamped else im
    return works


def wallpapers(count: int, seed: int) -> dict[str, Image.Image]:
    """`count` low-texture works."""
    return {f"gen-wallpaper-{i:02d}": wallpaper(random.Random(f"{seed}:wallpaper:{i}")) for i in range(count)}


def common_negative(index: int, seed: int, photo: Image.Image) -> tuple[str, Image.Image]:
    """An unregistered picture carrying a common element: a new flag with a shared canton (even
    `index`), or `photo` with the studio logo (odd)."""
    if index % 2 == 0:
        rng = random.Random(f"{seed}:negative-flag:{index}")
        return "canton", flag(rng, canton_number=(index // 2) % CANTONS)
    return "studio_logo", with_logo(photo)
