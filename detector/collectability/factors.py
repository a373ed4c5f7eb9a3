"""The rules of collectability: each factor's value in [0, 1] and why, from facts already gathered.

Pure functions of plain values (no store, no network; the page's country domain and language are read
as pricing reads them, detector.licensing.demand), so each rule in docs/enforcement.md is one
function here and is tested by itself. `score` is the weighted sum of the factors' values; the
weights add up to 1.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass

from detector.licensing import demand

#: How much each factor counts; they add up to 1 (docs/enforcement.md, "Collectability").
WEIGHTS = {"commercial": 0.30, "jurisdiction": 0.20, "presence": 0.20, "size_placement": 0.10, "history": 0.20}


@dataclass(frozen=True)
class Factor:
    name: str
    value: float      # 0 (nothing to collect) .. 1 (all in favour)
    weight: float
    reason: str       # plain words, shown in the portal, the CLI's JSON and the enforcement log

    def as_dict(self) -> dict:
        return asdict(self)


def factor(name: str, value: float, reason: str) -> Factor:
    return Factor(name, round(min(1.0, max(0.0, value)), 2), WEIGHTS[name], reason)


def score(factors: list[Factor]) -> float:
    return round(sum(f.value * f.weight for f in factors), 2)


# -- commercial use ------------------------------------------------------------------------------------

#: Hosts of platforms where personal blogs live (a post there is rarely a business's use).
BLOG_PLATFORMS = ("blogspot.com", "wordpress.com", "tumblr.com", "medium.com", "substack.com", "livejournal.com",
                  "github.io", "over-blog.com", "blogger.com")
_COMPANY = re.compile(r"""schema\.org/(Organization|Corporation|LocalBusiness|Store)\b|"""
                      r""""@type"\s*:\s*"(Organization|Corporation|LocalBusiness|Store)"|"""
                      r"""\b(GmbH|Ltd\.?|LLC|Inc\.|S\.A\.R\.L\.|SARL|B\.V\.|S\.p\.A\.|AG)\b|"""
                      r"""href=["'][^"']*(impressum|imprint)""", re.IGNORECASE)
_BLOG = re.compile(r"""schema\.org/(BlogPosting|Blog)\b|"@type"\s*:\s*"(BlogPosting|Blog)"|"""
                   r"""<meta[^>]+name=["']generator["'][^>]+content=["'](WordPress|Blogger|Ghost|Hugo|Jekyll)""",
                   re.IGNORECASE)


def commercial(html: str | None, host: str, selling: tuple[str, ...], listed: bool) -> Factor:
    """`selling`: the page's signs of selling (detector.licensing.demand.commercial_reasons); `listed`: the
    site is in enforcement.commercial_domains."""
    if listed:
        return factor("commercial", 1.0, f"{host} is listed in enforcement.commercial_domains")
    if html is None:
        return factor("commercial", 0.4, "the page was not captured, so its use is not known")
    shop = [s for s in selling if s != "adverts"]
    if shop:
        return factor("commercial", 1.0, f"the page sells: {', '.join(shop)}")
    if "adverts" in selling:
        return factor("commercial", 0.7, "the page carries adverts")
    if _COMPANY.search(html):
        return factor("commercial", 0.6, "a company's site (a legal form, organisation markup or an imprint)")
    if any(host == p or host.endswith("." + p) for p in BLOG_PLATFORMS) or _BLOG.search(html):
        return factor("commercial", 0.2, "a personal blog, with no sign of selling or adverts")
    return factor("commercial", 0.4, "no sign of selling, adverts or a company on the page")


# -- jurisdiction --------------------------------------------------------------------------------------

def tld_country(host: str) -> str | None:
    """The ISO code of the host's country-code TLD (`.de` -> DE, `.co.uk` -> GB); None for .com and the like."""
    country = demand.tld_country(host) if "." in host else None
    return country.upper() if country else None


def page_language(html: str | None, headers: dict[str, str]) -> str | None:
    """The page's primary language: `<html lang>`, else the Content-Language header (its first tag)."""
    declared = demand.html_language(html)
    if declared:
        return declared
    primary = headers.get("content-language", "").split(",")[0].strip().split("-")[0].lower()
    return primary if re.fullmatch(r"[a-z]{2,3}", primary) else None


def jurisdiction(host: str, hosting: str | None, hosting_why: str, language: str | None,
                 countries: tuple[str, ...], languages: tuple[str, ...]) -> Factor:
    """The share of known signals (country domain, hosting network's country, page language) that point to a
    place where collecting is realistic (collectability.countries and .languages)."""
    signals = []
    if (tld := tld_country(host)) is not None:
        signals.append((tld in countries, f".{host.rsplit('.', 1)[-1]} domain ({tld})"))
    if hosting:
        signals.append((hosting.upper() in countries, f"hosted in {hosting.upper()}"))
    if language:
        signals.append((language in languages, f"page in '{language}'"))
    if not signals:
        return factor("jurisdiction", 0.5, f"jurisdiction not known: a generic domain, no hosting country "
                                           f"({hosting_why}) and no page language")
    inside = [what for ok, what in signals if ok]
    outside = [what for ok, what in signals if not ok]
    words = (f"within reach: {', '.join(inside)}" if inside else "") + \
        ("; " if inside and outside else "") + (f"outside collectability.countries/languages: {', '.join(outside)}"
                                                if outside else "")
    return factor("jurisdiction", len(inside) / len(signals), words)


# -- still up ------------------------------------------------------------------------------------------

def presence(state: str, checked_at: str | None, first_seen: str, detail: str | None) -> Factor:
    """From the latest re-check (detector.followup): a copy still up can be licensed; a gone one hardly."""
    when = f"at the re-check of {checked_at[:10]}" if checked_at else ""
    if state == "removed":
        return factor("presence", 0.0, f"the copy is gone {when}".strip() + (f" ({detail})" if detail else ""))
    if state == "unreachable":
        return factor("presence", 0.3, f"the page did not answer {when}".strip())
    if state == "changed":
        return factor("presence", 0.6, f"the image URL serves other bytes {when}".strip())
    if checked_at:
        return factor("presence", 1.0, f"still up {when}")
    return factor("presence", 0.8, f"not re-checked since it was found on {first_seen[:10]}")


# -- size and placement --------------------------------------------------------------------------------

def size_placement(width: int | None, share: float | None, above_fold: bool | None, work_share: float | None) -> Factor:
    """A large copy, prominent on the page, showing most of the work is a use worth a fee; a thumbnail is not.

    `width`: the displayed width in pixels; `share`: of the page's width; `above_fold`: in the first screen
    (None: not known); `work_share`: the part of the work the copy shows (None: not known)."""
    if width is None:
        value, words = 0.5, ["displayed size not known"]
    else:
        value = 1.0 if width >= 800 else 0.75 if width >= 400 else 0.5 if width >= 200 else 0.2
        if share is not None and share >= 0.5:
            value = max(value, 0.75)
        words = [f"shown {width} px wide" + (f" ({share * 100:.0f}% of the page's width)" if share is not None else "")]
    if above_fold is True:
        value, words = value + 0.15, words + ["above the fold"]
    elif above_fold is False:
        value, words = value - 0.15, words + ["below the fold"]
    if work_share is not None and work_share < 0.5:
        value, words = value * 0.8, words + [f"only {work_share * 100:.0f}% of the work is shown"]
    return factor("size_placement", value, ", ".join(words))


# -- the site's earlier cases --------------------------------------------------------------------------

@dataclass(frozen=True)
class History:
    """What earlier offers and notices to the site came to (the owner's matches on that site)."""

    paid: int = 0
    accepted: int = 0
    ignored: int = 0
    removed: int = 0


def history(site: str, seen: History) -> Factor:
    if seen.paid:
        return factor("history", 1.0, f"{site} paid {seen.paid} earlier offer(s)")
    if seen.accepted:
        return factor("history", 0.9, f"{site} accepted {seen.accepted} earlier offer(s)")
    if seen.ignored and seen.removed:
        return factor("history", 0.25, f"{site} ignored {seen.ignored} earlier offer(s) or notice(s) and took "
                                       f"{seen.removed} cop(ies) down without paying")
    if seen.ignored:
        return factor("history", 0.1, f"{site} ignored {seen.ignored} earlier offer(s) or notice(s)")
    if seen.removed:
        return factor("history", 0.4, f"{site} took {seen.removed} cop(ies) down after an offer or notice, "
                                      "without paying")
    return factor("history", 0.5, f"no earlier offer or notice to {site}")
