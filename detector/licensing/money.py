"""Money as integer minor units: 100.01 EUR is 10001. Parsed and printed exactly, never via float.

Every currency is kept to two decimal places, as the pricing rules quantise to cents.
"""

from __future__ import annotations

import re
from decimal import ROUND_HALF_UP, Decimal

from detector.errors import UsageError

MINOR_PER_UNIT = 100
_CENT = Decimal("0.01")
MAX_UNITS_DIGITS = 12
MAX_MINOR = 10 ** (MAX_UNITS_DIGITS + 2) - 1  # 999,999,999,999.99: far inside a 64-bit column
# ASCII digits only: Decimal() would also take exponents (1e-2, 1e309), signs, underscores and other
# scripts' digits, and an exponent can make quantize() fail or the number overflow the database.
_PLAIN = re.compile(rf"[0-9]{{1,{MAX_UNITS_DIGITS}}}(\.[0-9]{{1,2}})?", re.ASCII)


def from_decimal(value: Decimal) -> int:
    """A decimal amount in minor units, rounded half-up to the cent."""
    return int((value.quantize(_CENT, ROUND_HALF_UP) * MINOR_PER_UNIT).to_integral_value())


def parse(text: str, name: str = "amount") -> int:
    """'100.01' -> 10001. Only plain decimals: ASCII digits (at most 12 before the point), at most two
    decimals; no sign, exponent, separator or other script's digits."""
    plain = str(text).strip()
    if not _PLAIN.fullmatch(plain):
        raise UsageError(f"{name} must be an amount like 100.01 (digits 0-9, at most {MAX_UNITS_DIGITS} before the "
                         f"point and two after it, no sign or exponent), got {str(text)[:40]!r}.")
    return from_decimal(Decimal(plain))


def to_decimal(minor: int) -> Decimal:
    return (Decimal(minor) / MINOR_PER_UNIT).quantize(_CENT)


def text(minor: int) -> str:
    """10001 -> '100.01' (the exact decimal string, as the store kept amounts before minor units)."""
    return str(to_decimal(minor))


def show(minor: int, currency: str) -> str:
    """10001, 'EUR' -> 'EUR 100.01'; thousands separated for reading: 'EUR 1,000,000.01'."""
    return f"{currency} {to_decimal(minor):,.2f}"
