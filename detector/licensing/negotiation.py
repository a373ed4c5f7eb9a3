"""Answering a counter-offer at once, within the owner's bounds; no rule ever sells below the floor.

For an offer priced P (the amount due today), with the owner's [licensing] rules, or the work's own
where it has them (detector.licensing.work_rules):
    floor F  = floor_percent of P, rounded up to the cent (at most P)
    accept A = accept_percent of P, rounded up, never below F (at most P)
A counter C is answered:
- C > P: not settled: it is more than the price, so the buyer is shown what they can accept (the
  standing proposal, else P) and presses Accept themselves (kind `above`);
- C >= A: accepted at C;
- else, the first time: the owner proposes max(F, half-way between C and A, rounded up): the
  floor itself for a counter far below it, and never less than the floor;
- else (an answer was given before): accepted at C if C reaches the standing proposal,
  otherwise the standing proposal stands.
An acceptance is always at the amount the buyer offered, never silently below it; every amount the
rules accept or propose is at least F and at most P.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from decimal import Decimal

from detector.config import LicensingSettings


@dataclass(frozen=True)
class Bounds:
    price_minor: int
    floor_minor: int
    accept_minor: int


@dataclass(frozen=True)
class Answer:
    kind: str          # accepted, proposed, stands, above (the counter is more than the price)
    amount_minor: int  # the price accepted or proposed


def _percent_up(amount_minor: int, percent: float) -> int:
    return math.ceil(Decimal(amount_minor) * Decimal(str(percent)) / 100)


def bounds(price_minor: int, rules: LicensingSettings) -> Bounds:
    floor = min(price_minor, _percent_up(price_minor, rules.floor_percent))
    accept = min(price_minor, max(floor, _percent_up(price_minor, rules.accept_percent)))
    return Bounds(price_minor, floor, accept)


def answer(limits: Bounds, counter_minor: int, standing_minor: int | None) -> Answer:
    """The answer to a counter of `counter_minor`, given the proposal already made (None if none)."""
    if counter_minor > limits.price_minor:
        return Answer("above", limits.price_minor if standing_minor is None else standing_minor)
    if counter_minor >= limits.accept_minor:
        return Answer("accepted", counter_minor)
    if standing_minor is None:
        halfway = math.ceil(Decimal(counter_minor + limits.accept_minor) / 2)
        return Answer("proposed", max(limits.floor_minor, halfway))
    if counter_minor >= standing_minor:
        return Answer("accepted", counter_minor)
    return Answer("stands", standing_minor)
