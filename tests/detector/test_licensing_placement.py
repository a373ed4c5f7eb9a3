"""Placement as a pricing factor: the copy's share of the page width, and above the fold read from a
real screenshot (Debian's Chromium shooting a page served on 127.0.0.1, as detector.screenshots does)."""

import re
from dataclasses import replace
from pathlib import Path

import pytest
from evidence_case import build_env, copy_jpeg, work_jpeg
from typer.testing import CliRunner

from detector.cli import app
from detector.config import Settings
from detector.demo_site import serve
from detector.errors import ConfigError
from detector.licensing import offers
from detector.screenshots import shoot

CHROMIUM = Path("/usr/bin/chromium")
PAGE = """<!doctype html><html><head><title>Shop</title>
<style>body {{ margin: 0; background: rgb(20, 160, 90); height: 2400px; }}
img {{ position: absolute; left: 40px; top: {top}px; }}</style></head>
<body><img src="mug.jpg" width="400" height="300"></body></html>"""


def priced_settings() -> Settings:
    base = Settings()
    return replace(base, pricing=replace(base.pricing, placement_multipliers=(0.9, 1.0, 1.25),
                                         above_fold_multiplier=1.2))


def factor(quote: offers.Quote, name: str) -> offers.Factor:
    return next(f for f in quote.factors if f.name == name)


@pytest.fixture
def site(tmp_path):
    root = tmp_path / "site"
    root.mkdir()
    (root / "mug.jpg").write_bytes(copy_jpeg(work_jpeg()))
    for top in (40, 1500):
        (root / f"mug-{top}.html").write_text(PAGE.format(top=top), encoding="utf-8")
    server, base = serve(root)
    yield base
    server.shutdown()


@pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium at /usr/bin/chromium")
@pytest.mark.parametrize(("top", "above", "amount"), [(40, True, "225.00"), (1500, False, "187.50")])
def test_the_screenshot_tells_whether_the_copy_is_above_the_fold(tmp_path, site, top, above, amount):
    env = build_env(tmp_path, settings=priced_settings())
    env.store.db["matches"].update(env.match_id, {"page_url": f"{site}mug-{top}.html"})
    [row] = shoot(env.ws.home, env.store, [env.match_id], {env.match_id}, env.settings.report.screenshot_timeout)
    assert row["status"] == "taken", row
    quote = offers.quote_match(env.ws, env.store, env.settings, env.match_id, commercial=False)
    fold = factor(quote, "above the fold")
    found = re.fullmatch(r"top edge at (\d+) px, (within|below) the first 800 px screen", fold.why)
    assert found, fold.why
    assert abs(int(found.group(1)) - top) <= 8 and (found.group(2) == "within") is above
    assert str(fold.value) == ("1.2" if above else "1")
    # 400 px of the 1280 px window = 31 %: the middle band (above 25 %, up to 60 %), 1.0
    assert (str(factor(quote, "placement").value), factor(quote, "placement").why) == (
        "1.0", "shown 400 px wide, 31% of the 1280 px width of the screenshot's window")
    # web 250 x size band <=400 px 0.75 (x 1 elsewhere) = 187.50, x 1.2 above the fold = 225.00
    assert str(quote.amount) == amount


def test_without_a_screenshot_the_share_of_the_configured_window_still_prices_and_the_fold_does_not(tmp_path):
    env = build_env(tmp_path, settings=priced_settings(), declared=(1000, 750))
    quote = offers.quote_match(env.ws, env.store, env.settings, env.match_id, commercial=False)
    assert (str(factor(quote, "placement").value), factor(quote, "placement").why) == (
        "1.25", "shown 1000 px wide, 78% of the 1280 px width of the screenshot window (report.viewport)")
    assert (str(factor(quote, "above the fold").value), factor(quote, "above the fold").why) == (
        "1", "no screenshot of the page")
    # web 250 x size band 401..1200 px 1.0 x placement 1.25 = 312.50
    assert str(quote.amount) == "312.50"

    explained = CliRunner().invoke(app, ["offer", str(env.match_id), "--explain", "--non-commercial",
                                         "--home", str(env.ws.home)])
    assert explained.exit_code == 0, explained.output
    assert "x placement" in explained.output and "78% of the 1280 px width" in explained.output
    assert "x above the fold" in explained.output and "= EUR 312.50" in explained.output


def test_placement_bands_and_multipliers_must_agree():
    rules = replace(Settings().pricing, placement_multipliers=(1.0, 1.0))
    with pytest.raises(ConfigError, match="pricing.placement_multipliers needs one more entry than "
                                          "pricing.placement_bands"):
        offers.price(rules, licence="web", commercial=False, long_side=400, first_seen="2025-01-01T00:00:00Z",
                     last_seen="2025-01-01T00:00:00Z", sightings=1)
    with pytest.raises(ConfigError, match=r"pricing.placement_bands must be ascending shares .* got \[0.6, 0.25\]"):
        offers.price(replace(rules, placement_bands=(0.6, 0.25), placement_multipliers=(1.0, 1.0, 1.0)),
                     licence="web", commercial=False, long_side=400, first_seen="2025-01-01T00:00:00Z",
                     last_seen="2025-01-01T00:00:00Z", sightings=1)
