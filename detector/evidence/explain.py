"""Why the copy is the work, in sentences a judge reads, from the stored signals.

Each sentence states what was measured and what it means, with the number that backs it: points
found in the same arrangement, the share of the work shown, its scale, mirroring, how well the
brightness patterns agree (compared in grey, so a recoloured copy is measured fairly) and what the
copy changed (its colour). Nothing here decides; it only says what the decision rested on.

Elements other registered works share are named only where they mattered to the decision (the
match rests mostly on them and was put up for review); a notice never names them, since it is
sent only for a copy a person confirmed.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

from detector.evidence.region import Regions

#: Colourfulness below which a picture is black and white, and from which it is in colour: a grey copy
#: measures 0 to 0.01 (JPEG noise), the dimmest photo of the demo (a castle at dusk) 0.1.
_GREY, _COLOURED = 0.03, 0.08


def _number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _geometry(v: dict, regions: Regions | None) -> str:
    points = (f"{v['inliers']} distinctive points of the work were found in the copy in the same arrangement"
              if _number(v.get("inliers")) and v["inliers"] > 0
              else "the work was aligned with the copy")
    share = regions.work_share if regions else v.get("asset_coverage")
    shown = ("all of the work" if share >= 0.995 else f"{share:.0%} of the work") if _number(share) else "the work"
    if regions is not None:
        shown += ", at its original size" if abs(regions.scale - 1) < 0.02 else f", scaled to {regions.scale:.0%}"
    if v.get("mirrored"):
        shown += " and mirrored"
    sentence = points + "; the copy shows " + shown
    if _number(v.get("ncc")):
        sentence += (f"; laid over each other, the brightness patterns agree after conversion to grey "
                     f"(correlation {v['ncc']:.2f}, where 1 is identical) across the matched area")
    return sentence[0].upper() + sentence[1:] + "."


def _common_elements(signals: dict) -> str:
    """Why the match was put up for review when it rests mostly on an element other registered works
    contain too, or "" when shared elements did not decide it."""
    shared = signals.get("common_elements") or {}
    others = len(shared.get("shared_with") or [])
    if signals.get("tier") != "common" or not others or not _number(shared.get("share")):
        return ""
    works = "another registered work" if others == 1 else f"{others} other registered works"
    return (f"{shared['share']:.0%} of the matched area shows an element that {works} also contain"
            f"{'s' if others == 1 else ''} (a shared emblem, logo or frame), which is not by itself evidence of "
            "copying this work; as the match rests mostly on it, it is put up for review rather than decided a copy.")


def colourfulness(image: Image.Image) -> float:
    """How coloured a picture is, 0 (grey) to 1: the spread between a pixel's strongest and weakest channel,
    taken at its 95th percentile, so a dim photo with a few coloured parts still counts as coloured."""
    small = np.asarray(image.convert("RGB").resize((96, 96), Image.Resampling.BILINEAR), dtype=np.float32) / 255
    return float(np.percentile(small.max(axis=2) - small.min(axis=2), 95))


def colour_change(work: Image.Image, copy: Image.Image) -> str | None:
    """The finding that the copy is a black-and-white version of a colour work, or None."""
    if colourfulness(work) >= _COLOURED and colourfulness(copy) < _GREY:
        return "The copy is in black and white while the work is in colour: the copy was converted to grey."
    return None


#: How each verification method found the work, in plain words (the verdict's `method`).
_METHODS = {
    "sift-region": "The work fills only a small part of the copy; that part was examined at higher resolution.",
    "orb-region": "The work fills only a small part of the copy; that part was examined at higher resolution.",
    "ecc": ("The work is too smooth for distinctive points (a soft, low-contrast picture), so it was aligned "
            "with the copy pixel by pixel instead, and its faint shapes were compared once the overall "
            "shading was set aside."),
}


def why_sentences(signals: dict, regions: Regions | None, colour: str | None = None,
                  notice: bool = False) -> list[str]:
    """The plain-language case that the copy is the work, strongest evidence first; `colour` is the
    colour_change finding, if any. A `notice` leaves out the review's concerns (common elements)."""
    v = signals.get("verification") or {}
    lines = []
    if signals.get("sha256_equal"):
        lines.append("The copy is the registered file itself, byte for byte (both have the same SHA-256 fingerprint).")
    if v.get("verified"):
        if v.get("method") in _METHODS:
            lines.append(_METHODS[v["method"]])
        lines.append(_geometry(v, regions))
    if colour:
        lines.append(colour)
    hashes = [f"{signals[key]} of {bits}" for key, bits in (("phash_distance", 64), ("pdq_distance", 256))
              if _number(signals.get(key))]
    if not signals.get("sha256_equal") and hashes and not v.get("verified"):
        lines.append("The two images' perceptual fingerprints differ in " + " and ".join(hashes)
                     + " bits" + (" once the copy is mirrored back" if signals.get("hash_mirrored") else "") + ".")
    shared = "" if notice else _common_elements(signals)
    if shared:
        lines.append(shared)
    if _number(signals.get("clip_cosine")):
        lines.append(f"An image-recognition model rates them as showing the same picture "
                     f"(similarity {signals['clip_cosine']:.2f}, where 1 is identical).")
    return lines
