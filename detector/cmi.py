"""Rights metadata the copy lost or altered, said as removal of copyright management information.

17 U.S.C. 1202(c) calls the author's name, the copyright notice, the owner's name and the terms of
use conveyed with a work "copyright management information"; 1202(b) forbids removing or altering
it, or distributing copies knowing it was removed, where that conceals or enables infringement.
`compare_rights` finds what changed, field by field. Reports and notices say so in plain words, naming each piece of information by what it is rather
than by a metadata field name.
"""

from __future__ import annotations

from dataclasses import dataclass

from detector.credentials import Credentials, training_mining_terms
from detector.rights import DATA_MINING
from detector.text import oneline

#: The rights fields compared between the registered file and the copy (`compare_rights`).
RIGHTS_FIELDS = ("creator", "copyright", "credit", "rights_url", "licensor", "data_mining")
#: What each compared rights field is, in words a reader of a notice understands.
LABELS = {
    "creator": "the author's name",
    "copyright": "the copyright notice",
    "credit": "the credit line",
    "rights_url": "the web address of the licensing terms",
    "licensor": "the licensor's name",
    "data_mining": "the data-mining statement",
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


def shown(field: str, value: str | None) -> str:
    """A rights value as a notice quotes it: data-mining codes with what they say."""
    if field == "data_mining" and value in DATA_MINING:
        return f"{value}: it {DATA_MINING[value]}"
    return value or ""


def removal_sentences(rows: list[RightsRow]) -> list[str]:
    """One sentence per piece of information the registered file carries that the copy lost or
    altered; empty when nothing was removed or changed."""
    lines = []
    for row in rows:
        what, work = label(row.field), shown(row.field, row.work)
        if row.verdict == "stripped":
            lines.append(f"{what} embedded in the registered file (\u201c{work}\u201d) was removed from the copy.")
        elif row.verdict == "changed":
            lines.append(f"{what} embedded in the registered file (\u201c{work}\u201d) was altered in the copy "
                         f"to \u201c{shown(row.field, row.copy)}\u201d.")
    return lines


def carried_sentences(work: dict, credentials: Credentials | None, copy_kept_all: bool = False) -> list[str]:
    """What rights information the registered file carries, in plain words: its embedded metadata,
    and what its Content Credentials say of AI training and data mining; empty when it carries none.
    `copy_kept_all`: the copy was read and lost none of it, which is said too."""
    carried = [f"{LABELS[name]} (\u201c{shown(name, oneline(work.get(name)))}\u201d)"
               for name in RIGHTS_FIELDS if oneline(work.get(name))]
    lines = []
    if carried:
        lines.append("The registered file carries this rights information in its metadata: " + "; ".join(carried) + ".")
    terms = training_mining_terms(credentials)
    if terms:
        lines.append("Its Content Credentials declare that " + "; ".join(terms) + ".")
    if lines and copy_kept_all:
        lines.append("The copy keeps all of it.")
    return lines


def rights_signal(work: dict, copy: dict | None, credentials: Credentials | None) -> dict | None:
    """A match's `rights_metadata` signal: what the work carries, and which of it the copy removed or
    altered (`copy` None: the copy was not read). None when the work carries nothing to compare."""
    rows = compare_rights(work, copy)
    carried = {row.field: row.work for row in rows if row.work}
    training = dict(credentials.training_mining) if credentials is not None else {}
    if not carried and not training:
        return None
    return {"work": carried, "work_training_mining": training,
            "removed": [row.field for row in rows if row.verdict == "stripped"],
            "altered": [row.field for row in rows if row.verdict == "changed"],
            "copy_read": copy is not None}


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
