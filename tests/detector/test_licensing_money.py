"""Exact money: minor units parsed and printed, and the royalty split's remainder rule on awkward amounts."""

from decimal import Decimal

import pytest

from detector.errors import UsageError
from detector.licensing import money
from detector.licensing.splits import split


def amounts(result):
    return [p.amount_minor for p in result.parts]


def test_amounts_parse_and_print_exactly():
    assert money.parse("100.01") == 10001 and money.parse("0.01") == 1 and money.parse("1000000.01") == 100000001
    assert money.text(10001) == "100.01" and money.text(5) == "0.05" and money.show(100000001, "EUR") == "EUR 1,000,000.01"
    for bad in ("1.001", "-5", "ten", "1,000.00", "nan", ""):
        with pytest.raises(UsageError, match=f"--amount must be an amount like 100.01 .*got {bad!r}"):
            money.parse(bad, "--amount")


def test_one_cent_among_three_goes_to_the_first_listed():
    # exact parts are 1/3 cent each: all remainders tie, so contributor order decides
    result = split(1, [("Ann", Decimal(1)), ("Bo", Decimal(1)), ("Cy", Decimal(1))])
    assert amounts(result) == [1, 0, 0] and result.total_minor == 1


def test_one_hundred_among_three():
    result = split(10000, [("Ann", Decimal(1)), ("Bo", Decimal(1)), ("Cy", Decimal(1))])
    assert amounts(result) == [3334, 3333, 3333]


def test_a_million_and_a_cent_among_seven():
    # 100000001 / 7 = 14285714 remainder 3: the first three listed get the three cents
    result = split(100000001, [(f"c{i}", Decimal(1)) for i in range(7)])
    assert amounts(result) == [14285715] * 3 + [14285714] * 4 and result.total_minor == 100000001


def test_the_largest_remainder_wins_before_order():
    # 0.11 among 30/30/40: 3.3, 3.3, 4.4 -> floors 3, 3, 4, one cent left -> c (0.4 beats 0.3)
    assert amounts(split(11, [("a", Decimal(30)), ("b", Decimal(30)), ("c", Decimal(40))])) == [3, 3, 5]
    # 0.07 among 15/25/60: 1.05, 1.75, 4.2 -> floors 1, 1, 4, one cent left -> b (0.75)
    assert amounts(split(7, [("a", Decimal(15)), ("b", Decimal(25)), ("c", Decimal(60))])) == [1, 2, 4]


def test_commission_first_half_up_then_shares():
    # 100.01 at 15 %: 1500.15 cents -> 1500 to the agency; 8501 by 60/40: 5100.6, 3400.4 -> 5101, 3400
    result = split(10001, [("Ann Lee", Decimal(60)), ("Bo Chan", Decimal(40))], Decimal(15))
    assert (result.commission_minor, amounts(result)) == (1500, [5101, 3400])
    # 0.10 at 5 %: exactly half a cent goes to the agency
    assert split(10, [("Ann", Decimal(1))], Decimal(5)).commission_minor == 1


def test_participation_scores_need_not_add_to_100():
    result = split(10000, [("photographer", Decimal("2.5")), ("retoucher", Decimal("0.5")), ("model", Decimal(1))])
    assert amounts(result) == [6250, 1250, 2500]


def test_a_split_without_contributors_or_with_a_bad_commission_is_refused():
    with pytest.raises(UsageError, match="at least one contributor, each with a share above 0"):
        split(100, [("a", Decimal(0))])
    with pytest.raises(UsageError, match="commission must be from 0 to 100 percent, got 120"):
        split(100, [("a", Decimal(1))], Decimal(120))
