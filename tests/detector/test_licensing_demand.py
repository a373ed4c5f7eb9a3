"""Demand-based pricing: sites using the work, a commercial page detected, territory from TLD or language."""

from dataclasses import replace

from evidence_case import build_env

from detector import config
from detector.licensing import demand, offers

SHOP = """<html lang="de"><head><script type="application/ld+json">{"@context": "https://schema.org",
"@type": "Product", "name": "Mug"}</script></head><body><button>In den Warenkorb</button> 12,99 €</body></html>"""
BLOG = """<html lang="fr-CA"><body><p>Notre voyage, 3 jours.</p></body></html>"""


def test_commercial_signs_are_read_from_the_page():
    assert demand.commercial_reasons(SHOP) == ("shop/product markup", "a cart or buy button", "prices")
    assert demand.commercial_reasons('<script async src="//pagead2.googlesyndication.com/x.js"></script>') == \
        ("adverts",)
    assert demand.commercial_reasons(BLOG) == () and demand.commercial_reasons(None) == ()


def test_territory_from_the_country_domain_else_the_page_language():
    assert demand.territory("https://www.mugs.co.uk/a", None) == ("gb", "country GB from the .uk domain")
    assert demand.territory("https://tassen.de/", BLOG) == ("de", "country DE from the .de domain")
    assert demand.territory("https://travel.example.com/", BLOG) == ("lang:fr", "page language fr")
    assert demand.territory("https://travel.example.com/", None)[0] == "unknown"


def test_a_shop_page_on_two_sites_in_a_priced_territory(tmp_path):
    # the captured page (a real WARC record) shows a price and a cart button: commercial is detected
    settings = replace(config.Settings(), pricing=replace(config.PricingSettings(),
                                                          territory_multipliers={"default": 0.8, "de": 1.2}))
    env = build_env(tmp_path, settings=settings, page_title="Castle mug, €12.99, add to cart")
    other = dict(env.store.candidate(env.candidate_id), page_url="https://www.other.example.org/post")
    other.pop("id")
    other_id = env.store.add_candidate(dict(other, image_url="https://other.example.org/i.jpg", scan_id=1,
                                            page_warc_file=None, page_warc_offset=None))
    env.store.record_match(asset=env.store.asset(env.asset_id), candidate=env.store.candidate(other_id), score=0.9,
                           decision="match", signals={})
    quote = offers.quote_match(env.ws, env.store, settings, env.match_id)
    # web 250 x commercial 2 x size (400 px) 0.75 x 1 month 1 x 1 sighting 1 x 2 sites 1.1 x default territory 0.8
    assert [(f.name, str(f.value)) for f in quote.factors] == [
        ("commercial use", "2.0"), ("displayed size", "0.75"), ("duration", "1.0"), ("sightings", "1.00"),
        ("demand", "1.1"), ("territory", "0.8"), ("placement", "1.0"), ("above the fold", "1")]
    assert quote.factors[0].why == "commercial site detected: a cart or buy button, prices"
    assert quote.factors[5].why == "no country domain or page language"
    assert (str(quote.amount), str(quote.early_amount)) == ("330.00", "264.00")
    # the owner's explicit choice wins over detection
    plain = offers.quote_match(env.ws, env.store, settings, env.match_id, commercial=False)
    assert plain.factors[0].why == "non-commercial use (set for this offer)" and str(plain.amount) == "165.00"
