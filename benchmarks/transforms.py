"""How copies are made on the web, in three families of difficulty (issue 6's list), plus the
families issue 12 adds: small embedded copies, and copies of low-texture and common-element works.

Each transform takes the work, a seeded `random.Random` and a list of unrelated "filler" photos
(for collages and page layouts) and returns a new RGB image. Parameters are drawn from the rng,
so a dataset is reproduced exactly from its seed.
"""

from __future__ import annotations

import io
import random

import numpy as np
from PIL import Image, ImageDraw, ImageEnhance, ImageFilter, ImageFont, ImageOps


def _font(size: int) -> ImageFont.ImageFont:
    return ImageFont.load_default(size=size)


def _area_crop(im: Image.Image, rng: random.Random, low: float, high: float) -> Image.Image:
    """A crop keeping a fraction of the area drawn from [low, high], at a random place."""
    w, h = im.size
    keep = rng.uniform(low, high)
    aspect = rng.uniform(0.8, 1.25)
    cw = min(w, max(16, round(w * (keep * aspect) ** 0.5)))
    ch = min(h, max(16, round(w * h * keep / cw)))
    left, top = rng.randint(0, w - cw), rng.randint(0, h - ch)
    return im.crop((left, top, left + cw, top + ch))


def jpeg25(im, rng, fillers):
    buffer = io.BytesIO()
    im.save(buffer, "JPEG", quality=25)
    return Image.open(io.BytesIO(buffer.getvalue())).convert("RGB")


def downscale(im, rng, fillers):
    scale = rng.uniform(0.35, 0.6)
    return im.resize((max(32, round(im.width * scale)), max(32, round(im.height * scale))), Image.LANCZOS)


def blur(im, rng, fillers):
    return im.filter(ImageFilter.GaussianBlur(rng.uniform(1.5, 3.0)))


def colour_shift(im, rng, fillers):
    im = ImageEnhance.Brightness(im).enhance(rng.uniform(0.7, 1.3))
    im = ImageEnhance.Contrast(im).enhance(rng.uniform(0.7, 1.3))
    return ImageEnhance.Color(im).enhance(rng.uniform(0.5, 1.6))


def grayscale(im, rng, fillers):
    return ImageOps.grayscale(im).convert("RGB")


def noise(im, rng, fillers):
    pixels = np.asarray(im).astype(np.float32)
    noisy = pixels + np.random.default_rng(rng.getrandbits(32)).normal(0, rng.uniform(8, 16), pixels.shape)
    return Image.fromarray(np.clip(noisy, 0, 255).astype(np.uint8))


def mirror(im, rng, fillers):
    return ImageOps.mirror(im)


def crop_60_80(im, rng, fillers):
    return _area_crop(im, rng, 0.6, 0.8)


def border(im, rng, fillers):
    pad = round(max(im.size) * rng.uniform(0.08, 0.2))
    colour = tuple(rng.randint(0, 255) for _ in range(3))
    return ImageOps.expand(im, border=pad, fill=colour)


def rotate(im, rng, fillers):
    angle = rng.choice((-1, 1)) * rng.uniform(8, 15)
    return im.rotate(angle, resample=Image.BICUBIC, expand=True, fillcolor=(255, 255, 255))


def caption(im, rng, fillers):
    band = max(28, im.height // 6)
    out = Image.new("RGB", (im.width, im.height + band), "white")
    out.paste(im, (0, 0))
    ImageDraw.Draw(out).text((10, im.height + band // 5), "Photo of the week - share it!", fill="black",
                             font=_font(band // 2))
    return out


def logo(im, rng, fillers):
    out = im.copy()
    side = max(24, min(im.size) // 4)
    mark = Image.new("RGB", (side, side), tuple(rng.randint(0, 255) for _ in range(3)))
    draw = ImageDraw.Draw(mark)
    draw.ellipse((side // 6, side // 6, side * 5 // 6, side * 5 // 6), fill="white")
    draw.text((side // 3, side // 3), "TV", fill="black", font=_font(side // 3))
    corner = rng.choice(((8, 8), (im.width - side - 8, 8), (8, im.height - side - 8),
                         (im.width - side - 8, im.height - side - 8)))
    out.paste(mark, corner)
    return out


def watermark(im, rng, fillers):
    layer = Image.new("RGBA", im.size, (0, 0, 0, 0))
    draw = ImageDraw.Draw(layer)
    size = max(14, im.width // 12)
    for row in range(0, im.height, size * 3):
        for col in range(-size * 4, im.width, size * 8):
            draw.text((col + (row // (size * 3)) % 2 * size * 4, row), "(c) stockphoto", font=_font(size),
                      fill=(255, 255, 255, rng.randint(90, 140)))
    return Image.alpha_composite(im.convert("RGBA"), layer).convert("RGB")


def stretch(im, rng, fillers):
    factor = rng.uniform(1.25, 1.5)
    if rng.random() < 0.5:
        return im.resize((round(im.width * factor), im.height), Image.BICUBIC)
    return im.resize((im.width, round(im.height * factor)), Image.BICUBIC)


def perspective(im, rng, fillers):
    w, h = im.size
    d = lambda: rng.uniform(0.04, 0.12)
    # Where each output corner samples from: corners pulled inwards by a few percent.
    quad = (w * d(), h * d(), w * d(), h * (1 - d()), w * (1 - d()), h * (1 - d()), w * (1 - d()), h * d())
    return im.transform((w, h), Image.Transform.QUAD, quad, Image.BICUBIC, fillcolor=(255, 255, 255))


def crop_25_45(im, rng, fillers):
    return _area_crop(im, rng, 0.25, 0.45)


def screenshot(im, rng, fillers):
    """The work at 35-50% of a 1280x900 page with a header, text lines and a sidebar picture."""
    page = Image.new("RGB", (1280, 900), (248, 248, 250))
    draw = ImageDraw.Draw(page)
    draw.rectangle((0, 0, 1280, 70), fill=(40, 40, 60))
    draw.text((30, 18), "Daily News - Local", fill="white", font=_font(30))
    scale = rng.uniform(0.35, 0.5) * 1280 / im.width
    work = im.resize((max(32, round(im.width * scale)), max(32, round(im.height * scale))), Image.LANCZOS)
    work = work.crop((0, 0, min(work.width, 860), min(work.height, 780)))
    left, top = rng.randint(30, 860 - work.width + 30), 100
    page.paste(work, (left, top))
    for line in range(top + work.height + 20, 880, 28):
        draw.rectangle((40, line, rng.randint(600, 880), line + 12), fill=(180, 180, 185))
    side = fillers[0].resize((300, 220), Image.LANCZOS)
    page.paste(side, (940, 120))
    return page


def meme(im, rng, fillers):
    band = max(40, im.height // 5)
    out = Image.new("RGB", (im.width, im.height + 2 * band), "black")
    out.paste(im, (0, band))
    draw = ImageDraw.Draw(out)
    font = _font(band * 2 // 3)
    draw.text((12, band // 8), "WHEN THE BENCHMARK", fill="white", font=font)
    draw.text((12, im.height + band + band // 8), "FINALLY PASSES", fill="white", font=font)
    return out


def collage(im, rng, fillers):
    """A 2x2 grid: the work in one cell, three unrelated photos in the others."""
    cell = (400, 300)
    tiles = [im] + list(fillers[:3])
    order = list(range(4))
    rng.shuffle(order)
    out = Image.new("RGB", (cell[0] * 2 + 12, cell[1] * 2 + 12), "white")
    for slot, index in enumerate(order):
        tile = ImageOps.fit(tiles[index], cell, Image.LANCZOS)
        out.paste(tile, (4 + (slot % 2) * (cell[0] + 4), 4 + (slot // 2) * (cell[1] + 4)))
    return out


def combined(im, rng, fillers):
    """Crop (60-80%), then a rotation, a caption and a JPEG at quality 40."""
    im = caption(rotate(crop_60_80(im, rng, fillers), rng, fillers), rng, fillers)
    buffer = io.BytesIO()
    im.save(buffer, "JPEG", quality=40)
    return Image.open(io.BytesIO(buffer.getvalue())).convert("RGB")


def small_embedded(im, rng, fillers):
    """The work at about a third of its size filling about 8% of a page screenshot (issue 12): a header,
    text lines, a sidebar photo; the page is sized so that the work covers 7-9% of it."""
    scale = rng.uniform(0.3, 0.36)
    work = im.resize((max(32, round(im.width * scale)), max(32, round(im.height * scale))), Image.LANCZOS)
    area = work.width * work.height / rng.uniform(0.07, 0.09)
    width = round((area * 1.45) ** 0.5)
    height = round(area / width)
    page = Image.new("RGB", (width, height), (246, 246, 248))
    draw = ImageDraw.Draw(page)
    draw.rectangle((0, 0, width, 48), fill=(30, 45, 70))
    draw.text((20, 12), "Forum - Pictures of the day", fill="white", font=_font(22))
    main = width * 2 // 3
    left = rng.randint(20, max(20, main - work.width - 20))
    top = rng.randint(70, max(70, height - work.height - 20))
    for line in range(70, height - 16, 22):
        if not top - 14 <= line <= top + work.height + 4:
            draw.rectangle((20, line, rng.randint(main // 2, main), line + 9), fill=(175, 175, 182))
    page.paste(work, (left, top))
    side = ImageOps.fit(fillers[0], (width - main - 30, (width - main - 30) * 3 // 4), Image.LANCZOS)
    page.paste(side, (main + 10, 70))
    return page


FAMILIES: dict[str, dict] = {
    "mild": {f.__name__: f for f in (jpeg25, downscale, blur, colour_shift, grayscale, noise, mirror)},
    "medium": {f.__name__: f for f in (crop_60_80, border, rotate, caption, logo, watermark, stretch, perspective)},
    "hard": {f.__name__: f for f in (crop_25_45, screenshot, meme, collage, combined)},
    "small_embedded": {"small_embedded": small_embedded},
}


def flipped_page(im, rng, fillers):
    """`small_embedded`'s page turned left to right, the copy in it with it: flipping defeats a hash, and a small
    copy is seen mirrored only through its photographic region."""
    return ImageOps.mirror(small_embedded(im, rng, fillers))


#: Every photo work's flipped page (drawn from each work's own seed: the families' draws stay those of earlier sets).
FLIPPED_PAGE = {"flipped_page": flipped_page}

#: Copies of the low-texture works (dark, soft wallpapers): mild edits that must still be found.
LOW_TEXTURE = {f.__name__: f for f in (colour_shift, blur, meme)}
#: Copies of works carrying a common element (a shared canton, the studio logo): they must still match.
SHARED_ELEMENT = {f.__name__: f for f in (jpeg25, downscale, colour_shift, mirror)}
#: Issue 23's small works (short side at most 320 px): their crops (100-190 px wide), watermarks and captions,
#: and the mild changes of a smooth photo (a colour shift, a blur) that were most of the remaining misses.
SMALL_WORK = {f.__name__: f for f in (crop_25_45, crop_60_80, watermark, caption, colour_shift, blur)}
