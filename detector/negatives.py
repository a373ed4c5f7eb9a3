"""Works' negative lists: images an owner said are "not mine / not a copy" of a work.

Hash matching flags the same wrong image again and again (a logo, a template, a look-alike); once the
owner marked one, detection does not flag that content for that work again: the same bytes (SHA-256)
or a near-identical image (pHash within `NEAR_BITS` of 64 bits, so a re-encoded or resized upload of
it). Marking happens in `detector.enforcement.not_mine`.
"""

from __future__ import annotations

from detector.config import IntakeSettings
from detector.errors import ImageRefused
from detector.hashing import HASHERS
from detector.intake import decode_image
from detector.workspace.store import Store

#: pHash bits that may differ between a marked image and one held to be the same picture; re-encoding
#: and resizing move a few bits, another photo of the same scene moves many more.
NEAR_BITS = 4


def phash_of(data: bytes, name: str, settings: IntakeSettings) -> str | None:
    """The pHash detection gives the image `data` (as `detector.fingerprint.hashes`; None when it cannot be decoded)."""
    try:
        return HASHERS["phash"].hash(decode_image(data, name, settings).image)
    except ImageRefused:
        return None


class NegativeLists:
    """The works' negative lists, read once per detection run (or task) and per work."""

    def __init__(self, store: Store):
        self.store = store
        self._lists: dict[int, list[dict]] = {}

    def covers(self, asset_id: int, sha256: str, phash: str | None) -> bool:
        """Whether the owner marked this image (or a near-identical one) not a copy of work `asset_id`."""
        if asset_id not in self._lists:
            self._lists[asset_id] = self.store.negatives([asset_id])
        for negative in self._lists[asset_id]:
            if negative["sha256"] == sha256:
                return True
            if phash and negative["phash"] and HASHERS["phash"].distance(phash, negative["phash"]) <= NEAR_BITS:
                return True
        return False
