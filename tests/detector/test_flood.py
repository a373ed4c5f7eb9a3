"""Flood quarantine: a work that suddenly matches on more sites than enforcement.flood_sites within the window is
held for the owner, with the count; enforcement leaves those matches alone until the owner releases one."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime

from evidence_case import build_env
from support import run_cli

from detector import config
from detector.enforcement import holds
from detector.enforcement.run import enforce
from detector.provenance import ledger

HOSTS = ["a.example", "www.a.example", "b.example", "c.example", "d.example"]  # www.a.example is a.example


def flooded(tmp_path, flood_sites: int):
    env = build_env(tmp_path)
    env.settings = replace(env.settings, enforcement=replace(
        env.settings.enforcement, flood_sites=flood_sites, flood_window_hours=24,
        rules=(config.PolicyRule(name="notice-all", action="dmca"),)))
    scan_id = env.store.start_scan({"targets": ["web"]})
    candidate = env.store.candidate(env.candidate_id)
    for i, host in enumerate(HOSTS):
        row = {k: candidate[k] for k in ("sha256", "byte_size", "sniffed_format", "discovered_at", "fetched_at")}
        page, image = f"https://{host}/post/{i}", f"https://{host}/logo.png"
        candidate_id = env.store.add_candidate(dict(row, scan_id=scan_id, target="web", page_url=page, image_url=image,
                                                    http_status=200, state="detected"))
        env.store.record_match(asset=env.store.asset(env.asset_id), candidate=env.store.candidate(candidate_id),
                               score=0.97, decision="match", signals={})
    return env


def test_a_work_on_more_sites_than_the_limit_is_held_with_the_count_until_released(tmp_path):
    env = flooded(tmp_path, flood_sites=3)  # a, b, c, d today: 4 sites > 3 (shop.example.com's match is older)
    now = datetime.now(UTC)
    held = holds.hold_matches(env.ws, env.store, env.settings, now)
    matches = env.store.matches()
    assert sorted(held.flood) == [m["id"] for m in matches[1:]] and len(matches) == 6
    assert env.store.holds([env.match_id]) == []  # first seen before the window
    (hold,) = env.store.holds([matches[1]["id"]])
    assert hold["reason"] == "flood: the work matched on 4 sites within 24 hours (more than enforcement.flood_sites = 3)"
    assert hold["detail"]["sites"] == 4 and hold["detail"]["examples"] == ["a.example", "b.example", "c.example",
                                                                           "d.example"]
    steps = {s.match_id: s for s in enforce(env.ws, env.store, env.settings, now, dry_run=True)}
    assert all(steps[m["id"]].held.startswith("held for review: flood: the work matched on 4 sites")
               for m in matches[1:])
    assert not (steps[env.match_id].held or "").startswith("held for review")

    released = run_cli("release", str(matches[1]["id"]), home=env.ws.home)
    assert released.returncode == 0 and "released from: flood" in released.stdout, released.stderr
    assert holds.hold_matches(env.ws, env.store, env.settings, now).flood == []  # a release is not undone
    (step,) = [s for s in enforce(env.ws, env.store, env.settings, now, dry_run=True) if s.match_id == matches[1]["id"]]
    assert not (step.held or "").startswith("held for review")  # the rules and the other hard limits apply again
    payloads = [json.loads(e["payload"]) for e in ledger.entries(env.store, [ledger.match_subject(matches[1]["id"])])
                if e["kind"] == "hold"]
    assert [p.get("kind") or p["released"] for p in payloads] == ["flood", ["flood"]]
    again = run_cli("release", str(matches[1]["id"]), home=env.ws.home)
    assert again.returncode != 0 and "is not held" in again.stderr


def test_up_to_the_limit_is_no_flood_and_zero_turns_the_check_off(tmp_path):
    env = flooded(tmp_path, flood_sites=4)  # 4 distinct sites today: not more than 4
    now = datetime.now(UTC)
    assert holds.hold_matches(env.ws, env.store, env.settings, now).flood == []
    off = replace(env.settings, enforcement=replace(env.settings.enforcement, flood_sites=0))
    assert holds.hold_matches(env.ws, env.store, off, now).flood == []
    assert env.store.holds([m["id"] for m in env.store.matches()]) == []
