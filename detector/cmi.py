"""Rights metadata the copy lost or altered, said as removal of copyright management information.

17 U.S.C. 1202(c) calls the author's name, the copyright notice, the owner's name and the terms of
use conveyed with a work "copyright management information"; 1202(b) forbids removing or altering
it, or distributing copies knowing it was removed, where that conceals or enables infringement.
`compare_rights` finds what changed, field by field. Reports and notices say so in plain words, naming each piece of information by what it is rather
than by a metadata field name.
"""

from __future__ import annotations

from dataclasses import dataclass

from detector.text import oneline

#: The rights fields compared between the registered file and the copy (`compare_rights`).
RIGHTS_FIELDS = ("creator", "copyright", "credit", "rights_url")
#: What each compared rights field is, in words a reader of a notice understands.
LABELS = {
    "creator": "the author's name",
    "copyright": "the copyright notice",
    "credit": "the credit line",
    "rights_url": "the web address of the licensing terms",
}

_WHAT = ("This is copyright management information: it identifies the work, its author and owner, and the "
         "terms of its use.")
#: Where the law protects that information, per notice kind; a report names both.
STATUTES = {
    "us": (" Under 17 U.S.C. 1202(b) no one may remove or alter it, or distribute copies knowing it was "
           "removed, where that hides or enables infringement (17 U.S.C. 1202(c) defines it)."),
    "eu": (" Article 7 of Directive 2001/29/EC protects this rights-management information against "
           "knowing removal or alteration, and the distribution of copies from which it was removed."),
}


def statute(law: str = "both") -> str:
    """What the removed information is and which law protects it: "us", "eu" or "both"."""
    return _WHAT + "".join(text for name, text in STATUTES.items() if law in (name, "both"))


def label(field: str) -> str:
    """The plain name of a rights field, capitalised for a table heading."""
    text = LABELS.get(field, field.replace("_", " "))
    return text[0].upper() + text[1:]


def removal_sentences(rows: list[RightsRow]) -> list[str]:
    """One sentence per piece of information the registered file carries that the copy lost or
    altered; empty when nothing was removed or changed."""
    lines = []
    for row in rows:
        what = label(row.field)
        if row.verdict == "stripped":
            lines.append(f"{what} embedded in the registered file (\u201c{row.work}\u201d) was removed from the copy.")
        elif row.verdict == "changed":
            lines.append(f"{what} embedded in the registered file (\u201c{row.work}\u201d) was altered in the copy "
                         f"to \u201c{row.copy}\u201d.")
    return lines


@dataclass(frozen=True)
class RightsRow:
    field: str
    work: str | None
    copy: str | None
    verdict: str  # kept, changed, stripped, added, absent, unknown


def compare_rights(work: dict, copy: dict | None) -> list[RightsRow]:
    """Embedded rights metadata of the registered file vs the copy, field by field.

    `copy` None means the copy could not be read (verdict 'unknown'). Values are compared
    case- and whitespace-insensitively, since re-encoders often rewrite spacing.
    """
    rows = []
    for name in RIGHTS_FIELDS:
        w, c = oneline(work.get(name)) or None, None if copy is None else (oneline(copy.get(name)) or None)
        if copy is None:
            verdict = "unknown"
        elif w and c:
            verdict = "kept" if w.casefold() == c.casefold() else "changed"
        elif w:
            verdict = "stripped"
        else:
            verdict = "added" if c else "absent"
        rows.append(RightsRow(name, w, c, verdict))
    return rows
