"""What the copy's site declared of text-and-data mining and AI use when it was captured, as a match's
signal (`site_signal`) and in plain words (`site_sentences`).

The crawler records the declarations as the site made them (crawlers.site_rights); this module says
what they mean. TDMRep: the first of the origin's tdmrep.json rule for the page, the page's
`tdm-reservation` HTTP header and its `<meta name="tdm-reservation">` tag is taken, 1 reserving the
rights and 0 not; the copy's own image response's header is read where the page said nothing.
`noai` and `noimageai` are gathered from the page's and the image's `X-Robots-Tag` headers and the
page's robots meta tags. Every string shown comes from the site, so each is cut to one short line.
"""

from __future__ import annotations

from detector.text import oneline, safe_href

_MAX_CHARS = 200
_AI_DIRECTIVES = ("noai", "noimageai")
_TDM_SOURCES = {"tdmrep": "its /.well-known/tdmrep.json file", "header": "the page's tdm-reservation HTTP header",
                "meta": "the page's tdm-reservation meta tag", "image": "the image's tdm-reservation HTTP header"}


def _short(value) -> str:
    return oneline(value)[:_MAX_CHARS]


def _header(headers: dict, name: str) -> str:
    return next((_short(v) for k, v in (headers or {}).items() if str(k).lower() == name), "")


def site_signal(site_rights: dict | None, image_headers: dict | None = None) -> dict | None:
    """The match's `site_rights` signal from a candidate's stored declarations, or None when the
    capture read none (a candidate captured before they were read, or from a WARC file).

    tdm: 'reserved', 'not_reserved', 'undeclared' or 'unclear' (a value other than 0 or 1), with
    tdm_source (where it was read) and tdm_policy (the policy's address, http(s) only);
    ai_directives: the noai/noimageai directives found; robots_ai_disallowed: the AI crawlers robots.txt
    keeps from the page (None when robots.txt was not read); tdmrep_file: 'found', 'no_rule', 'absent'
    or 'unreadable'."""
    if site_rights is None:
        return None
    headers, meta = site_rights.get("headers") or {}, site_rights.get("meta") or {}
    file = site_rights.get("tdmrep") or {}
    declared = [("tdmrep", file.get("reservation"), file.get("policy")),
                ("header", headers.get("tdm-reservation"), headers.get("tdm-policy")),
                ("meta", meta.get("tdm-reservation"), meta.get("tdm-policy")),
                ("image", _header(image_headers, "tdm-reservation"), _header(image_headers, "tdm-policy"))]
    source, value, policy = next(((s, _short(v), p) for s, v, p in declared if _short(v)), (None, "", None))
    tdm = {"1": "reserved", "0": "not_reserved", "": "undeclared"}.get(value, "unclear")
    robots_tags = " ".join((headers.get("x-robots-tag") or "", meta.get("robots") or "",
                            _header(image_headers, "x-robots-tag"))).lower().replace(",", " ").split()
    robots = site_rights.get("robots_txt") or {}
    return {
        "tdm": tdm, "tdm_source": source, "tdm_policy": safe_href(_short(policy)) or None,
        "ai_directives": [d for d in _AI_DIRECTIVES if d in robots_tags],
        "robots_ai_disallowed": ([_short(a) for a in robots.get("disallowed") or []]
                                 if robots.get("status") == "read" else None),
        "tdmrep_file": file.get("status") or "unknown",
    }


def site_sentences(signal: dict | None) -> list[str]:
    """What the copy's site declared, in plain words: one sentence for TDMRep, one for noai/noimageai,
    one for robots.txt; a single sentence saying nothing was read when the capture read none."""
    if signal is None:
        return ["The site's rights declarations were not read when the copy was captured."]
    tdm, where = signal["tdm"], _TDM_SOURCES.get(signal.get("tdm_source") or "", "")
    if tdm == "reserved":
        line = f"The site reserves text-and-data-mining rights (TDMRep, in {where})"
        line += f"; its policy is at {signal['tdm_policy']}." if signal.get("tdm_policy") else "."
    elif tdm == "not_reserved":
        line = f"The site declares that it does not reserve text-and-data-mining rights (TDMRep, in {where})."
    elif tdm == "unclear":
        line = f"The site's TDMRep declaration (in {where}) has a value other than 0 or 1, so it says nothing clear."
    else:
        line = "The site does not reserve text-and-data-mining rights: it makes no TDMRep declaration."
    lines = [line]
    directives = signal.get("ai_directives") or []
    if directives:
        lines.append(f"The site asks that its content not be used for AI ({' and '.join(directives)} robots directives).")
    else:
        lines.append("The site makes no noai or noimageai robots directive.")
    agents = signal.get("robots_ai_disallowed")
    if agents is None:
        lines.append("Its robots.txt was not read for this capture.")
    elif agents:
        lines.append(f"Its robots.txt disallows these AI crawlers from the page: {', '.join(agents)}.")
    else:
        lines.append("Its robots.txt disallows none of the AI crawlers copyhound checks from the page.")
    return lines
