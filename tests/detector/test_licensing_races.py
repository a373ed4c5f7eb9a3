"""Payments, acceptances and counters racing on one offer, each from its own connection, on SQLite and on
PostgreSQL: what is recorded adds up, an offer is accepted once, and a paid offer is never left unpaid."""

from __future__ import annotations

import json
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace

import pytest
from evidence_case import build_env

from detector import config
from detector.errors import ActionRefused
from detector.licensing import settlement
from detector.provenance import ledger
from detector.workspace.store import Store

AT = "2026-11-02T09:00:00Z"
PAID_AT = "2026-11-03T09:00:00Z"
ROUNDS = 3


def buyer(n: int) -> settlement.Visitor:
    return settlement.Visitor(f"Buyer {n}", "", f"buyer{n}@example.org", "203.0.113.7", "pytest")


@pytest.fixture
def env(tmp_path, store_target):
    settings = config.Settings()
    if isinstance(store_target, str):
        settings = replace(settings, store=config.StoreSettings(url=store_target))
    env = build_env(tmp_path, settings=settings)
    yield env
    env.store.close()


def at_once(target, calls) -> list:
    """Run each call with a Store of its own (its own connection), all released together; each call's
    result, or the CopyhoundError it raised."""
    barrier = threading.Barrier(len(calls))

    def run(call):
        store = Store(target)
        try:
            barrier.wait()
            return call(store)
        except ActionRefused as e:
            return e
        finally:
            store.close()

    with ThreadPoolExecutor(len(calls)) as pool:
        return list(pool.map(run, calls))


def test_two_payments_at_once_that_together_pay_an_offer_make_it_paid(env):
    # price 150.00 (early) for every offer; each round pays one of them with two payments of 75.00 at once
    offer_ids = [settlement.send_offer(env.ws, env.store, env.settings, env.match_id, at=AT).offer["id"]
                 for _ in range(ROUNDS)]
    for offer_id in offer_ids:
        pay = [lambda store, n=n, offer_id=offer_id: settlement.record_payment(store, env.settings, offer_id, 7500,
                                                            reference=f"R-{offer_id}-{n}", received_at=PAID_AT)
               for n in range(2)]
        results = at_once(env.ws.store_target, pay)
        assert sorted(p.paid_minor for p in results) == [7500, 15000]
        offer = env.store.offer(offer_id)
        assert offer["status"] == "paid" and env.store.licence(offer_id) is not None
        assert [p.licence is not None for p in sorted(results, key=lambda p: p.paid_minor)] == [False, True]
    assert ledger.verify(env.store) == []


def test_a_payment_over_what_is_due_is_flagged_with_its_excess(env):
    offer_id = settlement.send_offer(env.ws, env.store, env.settings, env.match_id, at=AT).offer["id"]
    first = settlement.record_payment(env.store, env.settings, offer_id, 10000, received_at=PAID_AT)
    assert first.excess_minor == 0
    second = settlement.record_payment(env.store, env.settings, offer_id, 10000, received_at=PAID_AT)
    assert second.offer["status"] == "paid" and (second.paid_minor, second.excess_minor) == (20000, 5000)
    assert settlement.overpaid_minor(env.store, env.store.offer(offer_id)) == 5000
    # a provider's payment after the offer was paid is money received: recorded, all of it excess
    late = settlement.record_payment(env.store, env.settings, offer_id, 2500, received_at=PAID_AT, source="webhook")
    assert late.excess_minor == 7500 and late.licence is None
    with pytest.raises(ActionRefused, match="is paid"):
        settlement.record_payment(env.store, env.settings, offer_id, 100, received_at=PAID_AT)
    entries = [json.loads(e["payload"]) for e in ledger.entries(env.store, [ledger.match_subject(env.match_id)])
               if e["kind"] == "payment"]
    assert [p.get("overpaid") for p in entries] == [None, "50.00", "25.00"]


def test_two_acceptances_at_once_accept_the_offer_once(env):
    offer_ids = [settlement.send_offer(env.ws, env.store, env.settings, env.match_id, at=AT).offer["id"]
                 for _ in range(ROUNDS)]
    for offer_id in offer_ids:
        moves = [lambda store, n=n, offer_id=offer_id: settlement.accept(store, env.settings, offer_id, buyer(n), at=AT)
                 for n in range(2)]
        results = at_once(env.ws.store_target, moves)
        assert sorted(type(r).__name__ for r in results) == ["ActionRefused", "dict"]
        accepted = next(r for r in results if isinstance(r, dict))
        assert env.store.acceptance(offer_id) == accepted and env.store.offer(offer_id)["status"] == "accepted"
    numbers = [env.store.acceptance(i)["invoice_number"] for i in offer_ids]
    assert len(set(numbers)) == ROUNDS


def test_a_counter_racing_an_acceptance_leaves_one_acceptance_at_an_amount_the_buyer_saw(env):
    offer_ids = [settlement.send_offer(env.ws, env.store, env.settings, env.match_id, at=AT).offer["id"]
                 for _ in range(ROUNDS)]
    for offer_id in offer_ids:
        moves = [lambda store, offer_id=offer_id: settlement.accept(store, env.settings, offer_id, buyer(1), at=AT),
                 lambda store, offer_id=offer_id: settlement.counter(store, env.settings, offer_id, 13000, buyer(2), at=AT)]
        at_once(env.ws.store_target, moves)
        accepted = env.store.acceptance(offer_id)
        # the price (150.00) by the accept button, or the counter of 130.00 (above the accept level 120.00)
        assert accepted["amount_minor"] in (15000, 13000)
        assert accepted["name"] == ("Buyer 1" if accepted["amount_minor"] == 15000 else "Buyer 2")
