"""Pricing overrides on the owner's profile page: validated like [pricing], stored per owner, used by
offers, entered in the ledger, and invisible to other owners."""

from __future__ import annotations

import json

from markupsafe import escape
from web_session import csrf, signed_in

from detector.licensing import offers, owner_pricing
from detector.provenance import ledger


def _save(client, data: dict):
    return client.post("/profile/pricing", data={"csrf": csrf(client.get("/profile").text), **data})


def _quote(portal, who: str):
    with portal.store() as store:
        return offers.quote_match(portal.ws, store, portal.settings, portal.matches[who][0], licence="web")


def test_an_owner_prices_their_own_offers_from_the_profile_page(fresh_portal):
    before = _quote(fresh_portal, "alice")
    with signed_in(fresh_portal, "alice") as c:
        page = c.get("/profile").text
        assert 'name="pricing.currency" value="" placeholder="EUR"' in page
        assert 'name="pricing.base_fees.web" value="" placeholder="250.0"' in page  # a field per licence type
        r = _save(c, {"pricing.currency": "USD", "pricing.base_fees.web": "500", "pricing.expiry_days": ""})
        assert (r.status_code, r.headers["location"]) == (303, "/profile?done=pricing#pricing")
        page = c.get(r.headers["location"]).text
    assert 'name="pricing.currency" value="USD"' in page and 'name="pricing.base_fees.web" value="500"' in page
    assert "Pricing saved and entered in the ledger" in page

    after = _quote(fresh_portal, "alice")
    assert (before.currency, after.currency) == ("EUR", "USD")
    assert after.amount == before.amount * 2  # the web fee went from 250 to 500, every factor else the same
    assert _quote(fresh_portal, "bob").currency == "EUR"  # bob's offers keep the workspace's rules
    with fresh_portal.store() as store:
        alice = store.owner_by_name("alice")
        assert owner_pricing.overrides(store, alice["id"]) == {"currency": "USD", "base_fees": {"web": 500}}
        (entry,) = [e for e in ledger.entries(store, [ledger.owner_subject(alice["id"])])]
    assert entry["kind"] == "owner_settings"
    assert json.loads(entry["payload"])["pricing"] == {"base_fees": {"web": 500}, "currency": "USD"}

    with signed_in(fresh_portal, "alice") as c:  # blanking a field gives the workspace's value back
        assert _save(c, {"pricing.currency": "", "pricing.base_fees.web": "500"}).status_code == 303
    assert _quote(fresh_portal, "alice").currency == "EUR"


def _alices_pricing(portal) -> tuple[dict, int]:
    """Alice's overrides and how many ledger entries record them (the portal is shared by this module)."""
    with portal.store() as store:
        alice = store.owner_by_name("alice")
        return (owner_pricing.overrides(store, alice["id"]),
                len(ledger.entries(store, [ledger.owner_subject(alice["id"])])))


def test_pricing_is_refused_as_the_config_file_would_refuse_it_and_nothing_is_stored(fresh_portal):
    before = _alices_pricing(fresh_portal)
    refused = {
        "pricing.currency": ("E<b>U", "pricing.currency must be an ISO 4217 code of three capital letters"),
        "pricing.size_multipliers": ("[1.0, 2.0]", "pricing.size_multipliers needs one more entry than"),
        "pricing.expiry_days": ("soon", "pricing.expiry_days: 'soon' is not a value of this setting"),
        "pricing.early_discount_percent": ("120", "pricing.early_discount_percent must be between 0 and 100"),
        "pricing.base_fees.web": ("cheap", "pricing.base_fees"),
        "pricing.commercial_multiplier": ('"high"', "commercial_multiplier"),
    }
    with signed_in(fresh_portal, "alice") as c:
        for field, (value, message) in refused.items():
            r = _save(c, {field: value, "pricing.currency": "GBP" if field != "pricing.currency" else value})
            assert r.status_code == 422, (field, r.text[-500:])
            assert str(escape(message)) in r.text, field
            assert f'name="{field}" value="{escape(value)}"' in r.text  # kept, escaped, to be corrected
        assert "E<b>U" not in c.get("/profile").text
    assert _alices_pricing(fresh_portal) == before


def test_another_owners_pricing_cannot_be_set(fresh_portal):
    before = _alices_pricing(fresh_portal)
    with signed_in(fresh_portal, "bob") as c:
        assert _save(c, {"owner": "alice", "pricing.currency": "JPY"}).status_code == 303
        assert c.post("/profile/pricing", data={"pricing.currency": "JPY"}).status_code == 403  # no CSRF token
    assert _alices_pricing(fresh_portal) == before
    with fresh_portal.store() as store:
        assert owner_pricing.overrides(store, store.owner_by_name("bob")["id"]) == {"currency": "JPY"}


def test_the_pricing_form_has_a_field_per_licence_type_and_help_apart_from_its_field(fresh_portal):
    with signed_in(fresh_portal, "alice") as c:
        page = c.get("/profile").text
        form = page[page.index('action="/profile/pricing"'):page.index("Save pricing")]
        for kind in ("editorial", "print", "web"):
            assert f'name="pricing.base_fees.{kind}"' in form
        assert 'name="pricing.base_fees"' not in form and "{ web" not in form  # no TOML table to type
        assert "`" not in form and "<code>copyhound offer --licence TYPE</code>" in form  # help reads as text
        assert '<label for="pricing-currency">Currency</label>' in form
        r = _save(c, {"pricing.base_fees.new_type": "social", "pricing.base_fees.new_fee": "80"})
        assert r.status_code == 303, r.text[-400:]
        assert 'name="pricing.base_fees.social" value="80"' in c.get("/profile").text
        bad = _save(c, {"pricing.base_fees.new_type": "Bad Name!", "pricing.base_fees.new_fee": "80"})
        assert bad.status_code == 422 and "A new licence type needs a short name" in bad.text
    with fresh_portal.store() as store:
        assert owner_pricing.overrides(store, store.owner_by_name("alice")["id"])["base_fees"] == {"social": 80}
