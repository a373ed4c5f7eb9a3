"""Enforcement under concurrency: two `copyhound enforce` processes at once (one workspace on SQLite; two
workspaces sharing one PostgreSQL database, as two machines would), and daily caps counted once.

Real processes, a real SMTP server that takes its time over each message, a real RDAP service on loopback.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from dataclasses import replace
from datetime import timedelta

import pytest
from enforcement_servers import NETWORK_ABUSE, SmtpServer, WebServer
from test_enforcement import T0, commercial_case, settings_for

from detector import config
from detector.enforcement.run import enforce

pytestmark = pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")
MATCHES = 6
#: Matches the two concurrent runs contend for: each offer's report PDF takes a second or two to write, so
#: both runs are still at work on the others while one sends.
AT_ONCE = 4


def add_matches(env, count: int) -> list[int]:
    """`count` more matches of the env's work, each on its own page of the same commercial site."""
    store = env.store
    base = store.candidate(env.candidate_id)
    page = store.match(env.match_id)["page_url"]
    ids = [env.match_id]
    for n in range(1, count):
        fields = {k: v for k, v in base.items() if k not in ("id", "deliveries")}
        candidate_id = store.add_candidate(dict(fields, page_url=f"{page}-{n}", image_url=f"{base['image_url']}?{n}"))
        match_id, _ = store.record_match(asset=store.asset(env.asset_id), candidate=store.candidate(candidate_id),
                                         score=0.97, decision="match", signals=store.match(env.match_id)["signals"])
        store.db["matches"].update(match_id, {"first_seen": "2025-03-01T10:00:00Z", "last_seen": "2025-03-01T10:00:00Z"})
        ids.append(match_id)
    return ids


def _enforce(home) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", "from detector.cli import main; main()", "enforce", "--format",
                             "json", "--home", str(home)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


@pytest.fixture
def web():
    with WebServer(domains=("localhost",)) as server:
        yield server


@pytest.fixture
def slow_smtp():
    with SmtpServer(delay=0.4) as server:
        yield server


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_two_enforce_runs_at_once_send_each_offer_once(tmp_path, web, slow_smtp, backend, request):
    settings = settings_for(web, slow_smtp, daily_cap_recipient=100)
    if backend == "postgresql":
        settings = replace(settings, store=config.StoreSettings(url=request.getfixturevalue("postgres_url")))
    env = commercial_case(tmp_path, web, slow_smtp, settings=settings)
    match_ids = add_matches(env, AT_ONCE)
    homes = [env.ws.home, env.ws.home]
    if backend == "postgresql":  # two machines: each its own folder and lock, one database
        homes[1] = tmp_path / "second-machine"
        shutil.copytree(homes[0], homes[1])

    runs = [_enforce(home) for home in homes]
    results = [(run.wait(timeout=300), *run.communicate()) for run in runs]

    assert [to for _, to, _ in slow_smtp.messages] == [[NETWORK_ABUSE]] * AT_ONCE, results
    assert sorted(d["match_id"] for d in env.store.deliveries(match_ids)) == sorted(match_ids)
    actions = env.store.enforcement_actions(match_ids)
    assert sorted(a["match_id"] for a in actions) == sorted(match_ids) and {a["state"] for a in actions} == {"done"}
    if backend == "sqlite":  # one workspace: the second run is refused at once, with one line
        assert sorted(code for code, _, _ in results) == [0, 3], results
        (refused,) = [err for code, _, err in results if code == 3]
        assert refused.strip().count("\n") == 0 and "another enforce is running" in refused
    else:  # both run; each action was claimed by one of them
        assert [code for code, _, _ in results] == [0, 0], results


@pytest.mark.slow
def test_daily_caps_count_each_action_once_and_the_dry_run_agrees_with_the_real_one(tmp_path, web):
    with SmtpServer() as smtp:
        env = commercial_case(tmp_path, web, smtp, daily_cap_owner=4, daily_cap_recipient=100)
        add_matches(env, MATCHES)
        planned = enforce(env.ws, env.store, env.settings, T0, dry_run=True)
        taken = enforce(env.ws, env.store, env.settings, T0, dry_run=False)
        assert len(smtp.messages) == 4
    assert [(s.match_id, s.held) for s in planned] == [(s.match_id, s.held) for s in taken]
    assert [s.held for s in taken] == [None] * 4 + ["the owner's daily cap of 4 automated actions is reached"] * 2
    assert [s.outcome.split(" ")[0] for s in planned] == ["would"] * 4 + ["held:"] * 2
    assert [s.outcome.split(" ")[0] for s in taken] == ["sent"] * 4 + ["held:"] * 2


@pytest.mark.slow
def test_the_recipients_cap_counts_each_e_mail_once_within_a_run(tmp_path, web):
    with SmtpServer() as smtp:
        env = commercial_case(tmp_path, web, smtp, daily_cap_recipient=3)
        add_matches(env, 5)
        planned = enforce(env.ws, env.store, env.settings, T0, dry_run=True)
        taken = enforce(env.ws, env.store, env.settings, T0, dry_run=False)
        assert len(smtp.messages) == 3
    assert [s.held for s in planned] == [s.held for s in taken] == \
        [None] * 3 + [f"the daily cap of 3 e-mails to {NETWORK_ABUSE} is reached"] * 2
    later = enforce(env.ws, env.store, env.settings, T0 + timedelta(days=1, seconds=1), dry_run=True)
    assert [s.held for s in later] == [None, None]  # the 3 sent are no longer "offer none"
