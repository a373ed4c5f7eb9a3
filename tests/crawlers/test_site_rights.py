"""Reading a site's TDMRep file and matching its rules to a page (crawlers.site_rights); the crawl that
fetches it is tested end to end in tests/detector/test_site_rights_crawl.py."""

from __future__ import annotations

import json

from crawlers.site_rights import tdmrep_for, tdmrep_rules

RULES = [{"location": "/news/*.html$", "tdm-reservation": 1, "tdm-policy": "https://a.example/p.json"},
         {"location": "/news/", "tdm-reservation": 0},
         {"location": "/*", "tdm-reservation": 1}]


def test_the_first_rule_whose_location_matches_the_pages_path_applies():
    file = tdmrep_rules(200, json.dumps(RULES).encode())
    assert tdmrep_for(file, "https://a.example/news/today.html") == {
        "status": "found", "location": "/news/*.html$", "reservation": "1", "policy": "https://a.example/p.json"}
    assert tdmrep_for(file, "https://a.example/news/today.html?x=1")["location"] == "/news/*.html$"
    assert tdmrep_for(file, "https://a.example/news/today.htmlx")["location"] == "/news/"
    assert tdmrep_for(file, "https://a.example/about")["reservation"] == "1"
    assert tdmrep_for(tdmrep_rules(200, b"[]"), "https://a.example/") == {"status": "no_rule"}


def test_a_missing_broken_or_hostile_file_says_so_and_keeps_only_short_strings():
    assert tdmrep_rules(404, b"") == {"status": "absent"}
    assert tdmrep_rules(500, b"") == {"status": "unreadable", "why": "HTTP 500"}
    assert tdmrep_rules(200, b"<html>") == {"status": "unreadable", "why": "not JSON"}
    assert tdmrep_rules(200, b'{"location": "/"}') == {"status": "unreadable", "why": "not a list of rules"}
    hostile = tdmrep_rules(200, json.dumps([{"location": "/*", "tdm-reservation": "1\n" + "x" * 5000},
                                            {"location": 7}, "junk"]).encode())
    [rule] = hostile["rules"]
    assert len(rule["reservation"]) == 300 and "\n" not in rule["reservation"]
    assert tdmrep_for(hostile, "https://a.example/")["status"] == "found"
