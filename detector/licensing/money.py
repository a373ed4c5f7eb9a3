"""Money as integer minor units: 100.01 EUR is 10001. Parsed and printed exactly, never via float.

Every currency is kept to two decimal places, as the pricing rules quantise to cents.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from detector.errors import UsageError

MINOR_PER_UNIT = 100
_CENT = Decimal("0.01")


def from_decimal(value: Decimal) -> int:
    """A decimal amount in minor units, rounded half-up to the cent."""
    return int((value.quantize(_CENT, ROUND_HALF_UP) * MINOR_PER_UNIT).to_integral_value())


def parse(text: str, name: str = "amount") -> int:
    """'100.01' -> 10001. Refuses negatives, more than two decimals, separators and anything not a number."""
    try:
        value = Decimal(str(text).strip())
    except InvalidOperation:
        value = None
    if value is None or not value.is_finite() or value < 0 or value != value.quantize(_CENT):
        raise UsageError(f"{name} must be an amount like 100.01 (digits, at most two decimals, not negative), "
                         f"got {text!r}.")
    return from_decimal(value)


def to_decimal(minor: int) -> Decimal:
    return (Decimal(minor) / MINOR_PER_UNIT).quantize(_CENT)


def text(minor: int) -> str:
    """10001 -> '100.01' (the exact decimal string, as the store kept amounts before minor units)."""
    return str(to_decimal(minor))


def show(minor: int, currency: str) -> str:
    """10001, 'EUR' -> 'EUR 100.01'; thousands separated for reading: 'EUR 1,000,000.01'."""
    return f"{currency} {to_decimal(minor):,.2f}"
