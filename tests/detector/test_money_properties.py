"""Property tests (hypothesis) of money: parsing and printing, royalty splits and counter-offer negotiation.

Each runs a bounded, seeded number of examples (the `money` profile below), so the suite stays fast
and a failure is reproducible.
"""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from detector import config
from detector.errors import UsageError
from detector.licensing import money, negotiation
from detector.licensing.splits import split

bounded = settings(max_examples=300, derandomize=True, deadline=None, database=None)
MINOR = st.integers(min_value=0, max_value=money.MAX_MINOR)


@bounded
@given(MINOR)
def test_printing_then_parsing_an_amount_gives_it_back(minor):
    assert money.parse(money.text(minor)) == minor
    assert money.show(minor, "EUR").replace(",", "") == f"EUR {money.text(minor)}"


@bounded
@given(st.text(max_size=30))
def test_parsing_any_text_gives_a_plain_amount_or_a_usage_error(text):
    try:
        minor = money.parse(text)
    except UsageError as e:
        assert "must be an amount like 100.01" in str(e)
        return
    assert 0 <= minor <= money.MAX_MINOR and text.strip().isascii()
    assert Decimal(text.strip()) * 100 == minor


@pytest.mark.parametrize("text", ["1e-2", "1E2", "+50", "-1", "١٠٠", "１００", "1_000", "1,000.00", "0x10", "NaN",
                                  "Infinity", "1e309", "1e26", "100000000000000000", ".5", "5.", "1.234", " ", ""])
def test_only_plain_decimals_are_amounts(text):
    with pytest.raises(UsageError, match="must be an amount like 100.01"):
        money.parse(text)


SHARES = st.lists(st.tuples(st.text(min_size=1, max_size=8),
                            st.decimals(min_value=Decimal("0.01"), max_value=Decimal(1000), places=2)),
                  min_size=1, max_size=8)


@bounded
@given(MINOR, SHARES, st.decimals(min_value=0, max_value=100, places=2))
def test_a_split_adds_up_to_the_payment_and_no_part_is_negative(amount, shares, commission):
    divided = split(amount, shares, commission)
    assert divided.total_minor == amount
    assert divided.commission_minor >= 0 and all(p.amount_minor >= 0 for p in divided.parts)
    rest, total = amount - divided.commission_minor, sum(w for _, w in shares)
    for part, (_, weight) in zip(divided.parts, shares):
        assert abs(part.amount_minor - Decimal(rest) * weight / total) < 1  # within a cent of its exact value


PERCENT = st.floats(min_value=0, max_value=100, allow_nan=False)


@bounded
@given(st.integers(min_value=1, max_value=10_000_000), PERCENT, PERCENT,
       st.lists(st.integers(min_value=0, max_value=20_000_000), min_size=1, max_size=8))
def test_negotiation_accepts_only_what_the_buyer_offered_and_never_below_the_floor(price, floor, accept, counters):
    rules = replace(config.LicensingSettings(), floor_percent=floor, accept_percent=accept)
    limits = negotiation.bounds(price, rules)
    standing, offered = None, []
    for counter in counters:
        reply = negotiation.answer(limits, counter, standing)
        assert limits.floor_minor <= reply.amount_minor <= price
        if counter <= price:
            offered.append(counter)
        if reply.kind == "accepted":
            # settled at the buyer's own offer: never below it, never below the floor, nor any earlier offer
            assert reply.amount_minor == counter and reply.amount_minor >= max(offered)
            break
        if reply.kind != "above":
            standing = reply.amount_minor
