"""Why the copy is the work, in sentences a judge reads, from the stored signals.

Each sentence states what was measured and what it means, with the number that backs it: points
found in the same arrangement, the share of the work shown, its scale, mirroring, and how well the
pixels agree. Nothing here decides; it only says what the decision rested on.
"""

from __future__ import annotations

from detector.evidence.region import Regions


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
        sentence += (f"; laid over each other, the pixels agree (correlation {v['ncc']:.2f}, where 1 is identical) "
                     "across the matched area")
    return sentence[0].upper() + sentence[1:] + "."


def _common_elements(signals: dict) -> str:
    """What part of the match other registered works contain too, or "" when none does."""
    shared = signals.get("common_elements") or {}
    others = len(shared.get("shared_with") or [])
    if not others or not _number(shared.get("share")):
        return ""
    works = "another registered work" if others == 1 else f"{others} other registered works"
    sentence = (f"{shared['share']:.0%} of the matched area shows an element that {works} also contain"
                f"{'s' if others == 1 else ''} (a shared emblem, logo or frame), which is not by itself evidence of "
                "copying this work")
    if signals.get("tier") == "common":
        sentence += "; as the match rests mostly on it, it is put up for review rather than decided a copy"
    return sentence + "."


#: How each verification method found the work, in plain words (the verdict's `method`).
_METHODS = {
    "sift-region": "The work fills only a small part of the copy; that part was examined at higher resolution.",
    "orb-region": "The work fills only a small part of the copy; that part was examined at higher resolution.",
    "ecc": ("The work is too smooth for distinctive points (a soft, low-contrast picture), so it was aligned "
            "with the copy pixel by pixel instead, and its faint shapes were compared once the overall "
            "shading was set aside."),
}


def why_sentences(signals: dict, regions: Regions | None) -> list[str]:
    """The plain-language case that the copy is the work, strongest evidence first."""
    v = signals.get("verification") or {}
    lines = []
    if signals.get("sha256_equal"):
        lines.append("The copy is the registered file itself, byte for byte (both have the same SHA-256 fingerprint).")
    if v.get("verified"):
        if v.get("method") in _METHODS:
            lines.append(_METHODS[v["method"]])
        lines.append(_geometry(v, regions))
    hashes = [f"{signals[key]} of {bits}" for key, bits in (("phash_distance", 64), ("pdq_distance", 256))
              if _number(signals.get(key))]
    if not signals.get("sha256_equal") and hashes and not v.get("verified"):
        lines.append("The two images' perceptual fingerprints differ in " + " and ".join(hashes)
                     + " bits" + (" once the copy is mirrored back" if signals.get("hash_mirrored") else "") + ".")
    shared = _common_elements(signals)
    if shared:
        lines.append(shared)
    if _number(signals.get("clip_cosine")):
        lines.append(f"An image-recognition model rates them as showing the same picture "
                     f"(similarity {signals['clip_cosine']:.2f}, where 1 is identical).")
    return lines
