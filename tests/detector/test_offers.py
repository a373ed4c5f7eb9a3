"""Licensing offers: prices computed by hand against the rules, statuses, letters, refusals."""

import json
import tomllib
from dataclasses import replace
from decimal import Decimal

import pytest
from evidence_case import build_env

from detector import config
from detector.errors import ActionRefused, ConfigError, UsageError
from detector.licensing import offers
from detector.provenance import ledger

AT = "2025-04-01T12:00:00Z"


def settings_from(toml: str) -> config.Settings:
    return config.from_dict(tomllib.loads(toml))


def test_default_rules_small_web_use_seen_once(tmp_path):
    # web 250 x non-commercial 1 x size band <=400 px 0.75 x 1 month 1.0 x 1 sighting 1.0 = 187.50;
    # 20 % early discount -> 150.00
    env = build_env(tmp_path, declared=(400, 300))
    offer = offers.make_offer(env.ws, env.store, env.settings, env.match_id, at=AT)
    assert (offer.record["currency"], offer.record["amount"], offer.record["early_amount"]) == ("EUR", "187.50", "150.00")
    assert offer.record["status"] == "draft"
    assert offer.record["discount_until"] == "2025-04-15T12:00:00Z" and offer.record["expires_at"] == "2025-05-01T12:00:00Z"
    assert [row["value"] for row in offer.record["breakdown"]] == ["250", "1", "0.75", "1", "1", "1", "1", "1", "1"]


def test_owner_override_commercial_long_and_repeated_use(tmp_path):
    # [pricing.alice]: print 500 x commercial 1.5 x band 401..1200 1.0 x 3 months (78 days) 1 + 0.25 x 2 = 1.5
    # x sightings min(1.3, 1 + 0.1 x 4) = 1.3 -> 1462.50; early 20 % -> 1170.00
    settings = settings_from("""
[pricing]
currency = "EUR"
[pricing.alice]
currency = "USD"
base_fees = { print = 500 }
commercial_multiplier = 1.5
monthly_increase = 0.25
sighting_increase = 0.1
max_sightings_multiplier = 1.3
""")
    env = build_env(tmp_path, settings=settings, declared=(1000, 800))
    env.store.db["matches"].update(env.match_id, {"first_seen": "2025-01-01T00:00:00Z",
                                                  "last_seen": "2025-03-20T00:00:00Z", "sightings": 5})
    offer = offers.make_offer(env.ws, env.store, settings, env.match_id, licence="print", commercial=True, at=AT)
    assert (offer.record["currency"], offer.record["amount"], offer.record["early_amount"]) == ("USD", "1462.50", "1170.00")
    assert offer.record["licence"] == "print" and offer.record["commercial"] == 1
    assert settings.pricing.for_owner("alice").base_fees["web"] == 250.0  # the defaults stay for other types
    assert "USD 1462.50" in offer.path.read_text(encoding="utf-8")


def test_large_display_size_and_half_up_rounding_of_the_discount():
    # editorial 150 x band >1200 1.5 = 225.00; 12.5 % off -> 196.875 -> 196.88
    rules = replace(config.PricingSettings(), early_discount_percent=12.5)
    quote = offers.price(rules, licence="editorial", commercial=False, long_side=2000,
                         first_seen=AT, last_seen=AT, sightings=1)
    assert (quote.amount, quote.early_amount) == (Decimal("225.00"), Decimal("196.88"))


def test_size_band_limits_belong_to_the_band_they_end():
    rules = config.PricingSettings()
    assert [offers.size_band(rules, side) for side in (1, 400, 401, 1200, 1201)] == [0, 0, 1, 1, 2]
    assert offers.months_seen("2025-01-01T00:00:00Z", "2025-01-31T00:00:00Z") == 1
    assert offers.months_seen("2025-01-01T00:00:00Z", "2025-01-31T00:00:01Z") == 2


def test_displayed_size_falls_back_to_the_copys_pixels(tmp_path):
    env = build_env(tmp_path, declared=None)
    from detector.evidence.case import load_case
    assert offers.displayed_long_side(load_case(env.ws, env.store, env.match_id)) == 400


def test_bad_rules_are_named():
    with pytest.raises(ConfigError, match="pricing.size_multipliers needs one more entry than pricing.size_bands"):
        offers.price(replace(config.PricingSettings(), size_multipliers=(1.0, 1.0)), licence="web",
                     commercial=False, long_side=10, first_seen=AT, last_seen=AT, sightings=1)
    with pytest.raises(UsageError, match="--licence 'poster' has no base fee; priced licence types: editorial, print, web"):
        offers.price(config.PricingSettings(), licence="poster", commercial=False, long_side=10,
                     first_seen=AT, last_seen=AT, sightings=1)
    with pytest.raises(ConfigError, match="config.pricing.alice: unknown setting.s. colour"):
        settings_from("[pricing.alice]\ncolour = 1\n")


def test_status_moves_and_dates_are_recorded(tmp_path):
    env = build_env(tmp_path)
    first = offers.make_offer(env.ws, env.store, env.settings, env.match_id, at=AT).record
    sent = offers.set_offer_status(env.store, first["id"], "sent", at="2025-04-02T00:00:00Z")
    assert (sent["status"], sent["sent_at"]) == ("sent", "2025-04-02T00:00:00Z")
    accepted = offers.set_offer_status(env.store, first["id"], "accepted", at="2025-04-10T00:00:00Z")
    assert (accepted["decided_at"], offers.amount_due(accepted)) == ("2025-04-10T00:00:00Z", "150.00")
    with pytest.raises(ActionRefused, match=f"Offer {first['id']} is accepted; it can become paid, not declined"):
        offers.set_offer_status(env.store, first["id"], "declined")

    late = offers.make_offer(env.ws, env.store, env.settings, env.match_id, at=AT).record
    offers.set_offer_status(env.store, late["id"], "sent", at=AT)
    after_discount = offers.set_offer_status(env.store, late["id"], "accepted", at="2025-04-20T00:00:00Z")
    assert offers.amount_due(after_discount) == "187.50"

    expired = offers.make_offer(env.ws, env.store, env.settings, env.match_id, at=AT).record
    offers.set_offer_status(env.store, expired["id"], "sent", at=AT)
    with pytest.raises(ActionRefused, match="expired on 2025-05-01T12:00:00Z"):
        offers.set_offer_status(env.store, expired["id"], "accepted", at="2025-06-01T00:00:00Z")
    assert offers.expire_due(env.store, [env.match_id], at="2025-06-01T00:00:00Z") == [expired["id"]]
    assert env.store.offer(expired["id"])["status"] == "expired"
    with pytest.raises(ActionRefused, match=f"Offer {expired['id']} is expired; that is final, not declined"):
        offers.set_offer_status(env.store, expired["id"], "declined")
    with pytest.raises(UsageError, match=f"Offer {expired['id']} becomes paid when its payment is recorded"):
        offers.set_offer_status(env.store, expired["id"], "paid")
    with pytest.raises(UsageError, match="Offer status must be one of draft, sent, viewed, countered, accepted, "
                                         "paid, declined, expired, got 'settled'"):
        offers.set_offer_status(env.store, expired["id"], "settled")
    kinds = [(e["kind"], e["subject"]) for e in ledger.entries(env.store)][-3:]
    assert kinds == [("offer", f"match:{env.match_id}")] * 3 and ledger.verify(env.store) == []


@pytest.mark.parametrize("status", ["rejected", "authorized"])
def test_no_offer_for_rejected_or_authorized_matches(tmp_path, status):
    env = build_env(tmp_path, status=status)
    with pytest.raises(ActionRefused, match=f"Match {env.match_id} is {status}, so no licensing offer is made"):
        offers.make_offer(env.ws, env.store, env.settings, env.match_id)


def test_offer_needs_a_name_and_email(tmp_path):
    env = build_env(tmp_path, profile={"legal_name": "Alice Ltd"})
    with pytest.raises(ActionRefused, match="has no email in the profile, which a licensing offer must carry. "
                                            "Set them on the portal's Profile page \\(/profile\\), or with "
                                            "`copyhound owner set alice --email ...`"):
        offers.make_offer(env.ws, env.store, env.settings, env.match_id)


def test_the_owner_can_replace_the_letter_template(tmp_path):
    env = build_env(tmp_path)
    (env.ws.home / "letter.html.j2").write_text(
        "<p>{{ offer.currency }} {{ offer.amount }} for {{ candidate.page_title }} at {{ host }}</p>", encoding="utf-8")
    env.store.update_candidate(env.candidate_id, page_title="<b>bold</b>")
    settings = settings_from('[pricing]\nletter_template = "letter.html.j2"\n')
    offer = offers.make_offer(env.ws, env.store, settings, env.match_id, at=AT)
    assert offer.path.suffix == ".html"
    assert offer.path.read_text(encoding="utf-8") == "<p>EUR 187.50 for &lt;b&gt;bold&lt;/b&gt; at shop.example.com</p>"
    (env.ws.home / "letter.html.j2").write_text("{{ offer.nothing_here.x }}", encoding="utf-8")
    with pytest.raises(ConfigError, match="failed to render"):
        offers.make_offer(env.ws, env.store, settings, env.match_id, at=AT)
    with pytest.raises(ConfigError, match="pricing.letter_template 'nope.j2': no file at"):
        offers.make_offer(env.ws, env.store, settings_from('[pricing]\nletter_template = "nope.j2"\n'), env.match_id)


def test_a_scan_expires_the_offers_past_their_date(tmp_path):
    from detector.scan import run_scan

    env = build_env(tmp_path)
    overdue = offers.make_offer(env.ws, env.store, env.settings, env.match_id, at=AT).record
    offers.set_offer_status(env.store, overdue["id"], "sent", at=AT)
    current = offers.make_offer(env.ws, env.store, env.settings, env.match_id).record
    summary = run_scan(env.ws, env.store, env.settings, None, [], crawl=False)
    assert summary["offers_expired"] == 1
    assert env.store.offer(overdue["id"])["status"] == "expired"
    assert env.store.offer(current["id"])["status"] == "draft"
    assert json.loads(ledger.entries(env.store)[-1]["payload"]) == {"offer_id": overdue["id"], "status": "expired",
                                                                    "previous": "sent"}
