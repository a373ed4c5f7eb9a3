"""Targets from --site and --urls, their checks, and the SSRF address rule."""

from __future__ import annotations

import pytest

from crawlers.addresses import non_public_kind
from crawlers.limits import in_domains, limits
from detector.config import CrawlSettings, Target
from detector.config.targets import check_target, target_from_site, targets_from_urls_file
from detector.errors import ConfigError, UsageError


def test_site_target_is_named_after_its_host():
    target = target_from_site("https://Photos.example:8443/gallery/", allow_private=False)
    assert target.name == "site-Photos.example-8443"
    assert target.start_urls == ("https://Photos.example:8443/gallery/",)
    assert target.follow_links and not target.allow_private
    check_target(target)


def test_site_target_refuses_a_non_http_url():
    with pytest.raises(UsageError) as e:
        target_from_site("ftp://example.com/")
    assert str(e.value) == (
        "--site: 'ftp://example.com/' is not an http(s) URL; give a full address such as https://example.com/gallery."
    )


def test_urls_file_lists_pages_and_images_without_following_links(tmp_path):
    listing = tmp_path / "reverse search.txt"
    listing.write_text(
        "# exported 2024-05-01\nhttps://a.example/p.html   # the blog post\n\n"
        "  https://cdn.b.example/x.jpg\nhttps://a.example/p.html\n"
    )
    target = targets_from_urls_file(listing, allow_private=True)
    assert target.name == "urls-reverse-search"
    assert target.start_urls == ("https://a.example/p.html", "https://cdn.b.example/x.jpg")
    assert target.allowed_domains == ("a.example", "cdn.b.example")
    assert target.allow_private and not target.follow_links


def test_urls_file_names_the_bad_line(tmp_path):
    listing = tmp_path / "urls.txt"
    listing.write_text("https://a.example/\nwww.b.example/photo.jpg\n")
    with pytest.raises(UsageError) as e:
        targets_from_urls_file(listing)
    assert str(e.value) == (
        f"--urls {listing}, line 2: 'www.b.example/photo.jpg' is not an http(s) URL; "
        "give a full address such as https://example.com/gallery."
    )


def test_empty_urls_file_is_refused(tmp_path):
    listing = tmp_path / "urls.txt"
    listing.write_text("# nothing yet\n")
    with pytest.raises(UsageError, match="holds no URLs; list one http"):
        targets_from_urls_file(listing)


@pytest.mark.parametrize("target, message", [
    (Target(name="my blog", start_urls=("https://a.example/",)),
     ("target 'my blog': name must be letters, digits, '.', '-' or '_' (it names folders), got 'my blog'; "
     "for example name = 'my-blog'.")),
    (Target(name="blog"), "target 'blog': start_urls is empty; list the pages or sitemap.xml URLs to start from."),
    (Target(name="blog", start_urls=("https://a.example/",), ignore_robots=True),
     ("target 'blog': ignore_robots = true needs robots_reason = \"...\" saying why robots.txt may be ignored "
     "(for example, the site owner's written permission); it is recorded with every scan.")),
])
def test_check_target_says_what_to_fix(target, message):
    with pytest.raises(ConfigError) as e:
        check_target(target)
    assert str(e.value) == message


def test_target_overrides_win_over_crawl_defaults():
    crawl = CrawlSettings()
    plain = limits(Target(name="a", start_urls=("https://Www.A.example/x",)), crawl)
    assert (plain.max_depth, plain.max_pages, plain.download_delay) == (crawl.max_depth, crawl.max_pages, 1.0)
    assert plain.allowed_domains == ("www.a.example",)
    tuned = limits(Target(name="a", start_urls=("https://a.example/",), max_depth=7, max_pages=9,
                          download_delay=0.0, allowed_domains=(".a.example", "b.example")), crawl)
    assert (tuned.max_depth, tuned.max_pages, tuned.download_delay) == (7, 9, 0.0)
    assert in_domains("img.a.example", tuned.allowed_domains) and not in_domains("nota.example", tuned.allowed_domains)


@pytest.mark.parametrize("crawl_delay, own_delay, start", [
    (1.0, -1.0, 1.0), (0.0, -1.0, 1.0), (2.5, -1.0, 2.5),  # a site's latency is not known yet: a second at least
    (1.0, 0.0, 0.0), (0.0, 0.25, 0.25),  # the target named its own delay (the watcher's CDN): that one
])
def test_autothrottle_starts_at_the_delay_a_target_names_itself(crawl_delay, own_delay, start):
    target = Target(name="a", start_urls=("https://a.example/",), download_delay=own_delay)
    assert limits(target, CrawlSettings(download_delay=crawl_delay)).throttle_start == start


@pytest.mark.parametrize("address, kind", [
    ("127.0.0.1", "loopback"), ("::1", "loopback"), ("::ffff:127.0.0.1", "loopback"),
    ("10.1.2.3", "private"), ("192.168.0.10", "private"), ("172.16.5.4", "private"), ("fd00::1", "private"),
    ("169.254.169.254", "link-local"), ("fe80::1", "link-local"),
    ("224.0.0.251", "multicast"), ("ff02::1", "multicast"),
    ("0.0.0.0", "unspecified"), ("::", "unspecified"),
    ("240.0.0.1", "reserved"), ("100.64.0.1", "non-public"),
    ("93.184.216.34", None), ("2606:4700:4700::1111", None),
])
def test_non_public_addresses(address, kind):
    assert non_public_kind(address) == kind
