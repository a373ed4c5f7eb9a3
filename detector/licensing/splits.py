"""Dividing a payment among a work's contributors, exact to the cent.

The rule, in order:
1. The agency commission comes first: amount x commission percent / 100, rounded half-up to the
   cent (an exact half cent goes to the agency).
2. The rest is divided by the contributors' shares (any positive weights: 60/40, or participation
   scores; they need not add up to 100). Each contributor first gets the floor of their exact part.
3. The cents left over (fewer than there are contributors) go one each to the contributors with
   the largest fractional remainders (largest remainder method); equal remainders are broken by
   contributor order, as the shares were listed.
So the parts always add up to the payment, and no part is more than one cent from its exact value.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction

from detector.errors import UsageError


@dataclass(frozen=True)
class Part:
    contributor: str
    share: Decimal
    amount_minor: int


@dataclass(frozen=True)
class Split:
    commission_minor: int
    parts: tuple[Part, ...]

    @property
    def total_minor(self) -> int:
        return self.commission_minor + sum(p.amount_minor for p in self.parts)


def commission(amount_minor: int, percent: Decimal) -> int:
    return int((Decimal(amount_minor) * percent / 100).quantize(Decimal(1), ROUND_HALF_UP))


def split(amount_minor: int, shares: list[tuple[str, Decimal]], commission_percent: Decimal = Decimal(0)) -> Split:
    """Divide `amount_minor` by `shares` ((contributor, weight), in order) after the commission."""
    if amount_minor < 0:
        raise UsageError(f"A payment to split must not be negative, got {amount_minor} minor units.")
    if not 0 <= commission_percent <= 100:
        raise UsageError(f"The agency commission must be from 0 to 100 percent, got {commission_percent}.")
    if not shares or any(weight <= 0 for _, weight in shares):
        raise UsageError("A split needs at least one contributor, each with a share above 0.")
    taken = commission(amount_minor, commission_percent)
    rest = amount_minor - taken
    total = sum(Fraction(weight) for _, weight in shares)
    exact = [Fraction(rest) * Fraction(weight) / total for _, weight in shares]
    floors = [int(part) for part in exact]  # parts are not negative, so int() is the floor
    left = rest - sum(floors)
    # Largest fractional remainder first; sorted() is stable, so equal remainders keep contributor order.
    order = sorted(range(len(shares)), key=lambda i: exact[i] - floors[i], reverse=True)
    for i in order[:left]:
        floors[i] += 1
    return Split(taken, tuple(Part(name, weight, amount) for (name, weight), amount in zip(shares, floors)))
