"""What the copy's site declared of text-and-data mining and AI use when it was captured, in plain
words for the report and the notices (`site_declared`). The work's own rights information, and what
the copy lost of it, is said by `detector.cmi` and `detector.credentials`.
"""

from __future__ import annotations

from detector.evidence.case import Case
from detector.site_rights import site_sentences, site_signal


def site_declared(case: Case) -> list[str]:
    """What the copy's site declared: from the match's signals, else from its capture (a match
    recorded before its site's declarations were read)."""
    signal = (case.match.get("signals") or {}).get("site_rights")
    if signal is None and case.candidate:
        signal = site_signal(case.candidate.get("site_rights"), case.candidate.get("headers"))
    return site_sentences(signal)
