"""The facts of a match and the owner's policy rules: which rule fits, and the facts that made it fit.

Rules are tried in the order the owner wrote them; the first one whose every condition holds
decides the action. A rule with no conditions fits everything (a catch-all at the end).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime
from urllib.parse import urlsplit

from detector.config import EnforcementSettings, PolicyRule
from detector.errors import ConfigError
from detector.licensing.offers import STATUSES as OFFER_STATUSES

ACTIONS = ("offer", "dmca", "dsa", "review", "ignore")
#: Actions that write to someone outside the workspace; the rest only leave the match where it is.
OUTWARD = ("offer", "dmca", "dsa")


@dataclass(frozen=True)
class Facts:
    """What the rules may look at, for one match at one moment."""

    match_id: int
    owner: str
    host: str
    decision: str
    score: float
    status: str
    presence: str
    age_days: int
    sightings: int
    commercial: bool
    country: str | None
    offer: str                 # the latest offer's status, or 'none'
    offer_days: int | None     # days since the latest offer was sent (or made)
    notices: tuple[str, ...]   # kinds of the notices already made
    credited: bool = False     # the copy credits a place where the work is licensed (enforcement.credits)
    collectability: float | None = None  # detector.collectability's score; None: not assessed

    def as_dict(self) -> dict:
        return asdict(self)


def check_rules(settings: EnforcementSettings, owners: set[str]) -> None:
    """Refuse rules that name an unknown owner, action or condition value (ConfigError naming the rule)."""
    for i, rule in enumerate(settings.rules, 1):
        where = f"enforcement.rules[{i}] ({rule.name or 'unnamed'})"
        if not rule.name:
            raise ConfigError(f"{where}: give the rule a name; it is recorded with every action it causes.")
        if rule.owner and rule.owner not in owners:
            raise ConfigError(f"{where}: owner {rule.owner!r} is not known; known owners: "
                              f"{', '.join(sorted(owners)) or 'none yet'}.")
        for field, value, allowed in (("action", rule.action, ACTIONS), ("decision", rule.decision, ("", "match", "review")),
                                      ("commercial", rule.commercial, ("", "yes", "no")),
                                      ("credit", rule.credit, ("", "none", "found"))):
            if value not in allowed:
                raise ConfigError(f"{where}: {field} = {value!r} is not known; use one of: "
                                  f"{', '.join(repr(a) for a in allowed)}.")
        unknown = [s for s in offer_states(rule) if s not in ("none",) + OFFER_STATUSES]
        if unknown or (rule.offer.strip() and not offer_states(rule)):
            raise ConfigError(f"{where}: offer = {rule.offer!r} is not known; use one or more of "
                              f"{', '.join(('none',) + OFFER_STATUSES)}, separated by commas "
                              "(e.g. \"sent, viewed, countered\").")


def uses_collectability(rules: tuple[PolicyRule, ...]) -> bool:
    """Whether any rule looks at collectability (then enforce scores each match afresh)."""
    return any(rule.min_collectability or rule.below_collectability for rule in rules)


def offer_states(rule: PolicyRule) -> tuple[str, ...]:
    """The offer states a rule's `offer` condition names: "sent, viewed, countered" -> three."""
    return tuple(s.strip() for s in rule.offer.split(",") if s.strip())


def host_of(url: str) -> str:
    return (urlsplit(url).hostname or "").lower()


def in_domains(host: str, domains: tuple[str, ...]) -> bool:
    return any(host == d.lower() or host.endswith("." + d.lower()) for d in domains)


def days_between(earlier: str, later: datetime) -> int:
    return (later - datetime.fromisoformat(earlier)).days


def facts_of(match: dict, offers: list[dict], notices: list[dict], settings: EnforcementSettings,
             country: str | None, now: datetime, credited: bool = False,
             collectability: float | None = None) -> Facts:
    """The facts of `match` given its offers and notices (oldest first) at time `now`; `credited`: its
    credit check found a credit (`detector.enforcement.holds.credited`); `collectability`: its score."""
    host = host_of(match["page_url"])
    latest = offers[-1] if offers else None
    return Facts(
        match_id=match["id"], owner=match["owner"], host=host, decision=match["decision"],
        score=round(match["score"], 4), status=match["status"], presence=match["presence"],
        age_days=days_between(match["first_seen"], now), sightings=match["sightings"],
        commercial=in_domains(host, settings.commercial_domains), country=country,
        offer=latest["status"] if latest else "none",
        offer_days=days_between(latest["sent_at"] or latest["created_at"], now) if latest else None,
        notices=tuple(n["kind"] for n in notices), credited=credited, collectability=collectability,
    )


def fits(rule: PolicyRule, facts: Facts) -> list[str] | None:
    """The facts that satisfy each of `rule`'s conditions, or None when one does not hold."""
    why: list[str] = []

    def need(ok: bool, reason: str) -> bool:
        if ok:
            why.append(reason)
        return ok

    checks = [
        not rule.owner or need(rule.owner == facts.owner, f"owner {facts.owner}"),
        not rule.decision or need(rule.decision == facts.decision, f"decision {facts.decision}"),
        not rule.min_score or need(facts.score >= rule.min_score, f"score {facts.score} >= {rule.min_score}"),
        not rule.min_age_days or need(facts.age_days >= rule.min_age_days,
                                      f"first seen {facts.age_days} days ago >= {rule.min_age_days}"),
        not rule.min_sightings or need(facts.sightings >= rule.min_sightings,
                                       f"seen {facts.sightings} times >= {rule.min_sightings}"),
        not rule.commercial or need(facts.commercial == (rule.commercial == "yes"),
                                    f"site {'commercial' if facts.commercial else 'not commercial'}"),
        not rule.countries or need(facts.country in rule.countries, f"hosted in {facts.country}"),
        not rule.offer or need(facts.offer in offer_states(rule), f"latest offer {facts.offer}"),
        not rule.offer_days or need(facts.offer_days is not None and facts.offer_days >= rule.offer_days,
                                    f"offer {facts.offer_days} days old >= {rule.offer_days}"),
        not rule.credit or need(facts.credited == (rule.credit == "found"),
                                "credited on the page" if facts.credited else "no credit found"),
        not rule.min_collectability or need(facts.collectability is not None
                                            and facts.collectability >= rule.min_collectability,
                                            f"collectability {facts.collectability} >= {rule.min_collectability}"),
        not rule.below_collectability or need(facts.collectability is not None
                                              and facts.collectability < rule.below_collectability,
                                              f"collectability {facts.collectability} < {rule.below_collectability}"),
    ]
    return why if all(checks) else None


def choose(rules: tuple[PolicyRule, ...], facts: Facts) -> tuple[PolicyRule, list[str]] | None:
    """The first rule of `facts.owner` (or of every owner) that fits, with its reasons."""
    for rule in rules:
        if rule.owner and rule.owner != facts.owner:
            continue
        why = fits(rule, facts)
        if why is not None:
            return rule, why
    return None
