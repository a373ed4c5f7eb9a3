"""Enforcement rules in the portal: each owner lists, adds, edits, reorders and deletes their own,
checked like config.toml's, previewed as a dry run before saving, entered in the ledger, and
followed by `copyhound enforce`."""

from __future__ import annotations

import json

from markupsafe import escape
from support import run_cli
from web_session import csrf, signed_in

from detector.enforcement import owner_rules
from detector.provenance import ledger


def _post(client, action: str, data: dict):
    return client.post(action, data={"csrf": csrf(client.get("/rules").text), **data})


def _rules(portal, who: str) -> list[dict]:
    with portal.store() as store:
        return store.owner_rules(store.owner_by_name(who)["id"])


def test_a_rule_is_previewed_as_a_dry_run_then_saved_and_enforce_follows_it(fresh_portal):
    rule = {"op": "add", "name": "offer-shops", "action": "offer", "min_score": "0.5", "decision": "",
            "commercial": "", "offer": "", "countries": "de, fr"}
    with signed_in(fresh_portal, "alice") as c:
        assert "No rules" in c.get("/rules").text
        preview = _post(c, "/rules/preview", rule)
        assert preview.status_code == 200
        assert "Before you save: add rule &#39;offer-shops&#39;" in preview.text
        # alice's matches are not hosted in a known country (no lookup cached), so the rule fits none yet
        assert preview.text.count("<td>no rule</td><td>no rule</td>") == len(fresh_portal.matches["alice"])
        assert _rules(fresh_portal, "alice") == []  # a preview stores nothing

        rule["countries"] = ""
        preview = _post(c, "/rules/preview", rule)
        assert preview.text.count("<td>no rule</td><td>offer-shops: offer</td>") == len(fresh_portal.matches["alice"])
        assert '<input type="hidden" name="name" value="offer-shops">' in preview.text
        saved = _post(c, "/rules/apply", rule)
        assert (saved.status_code, saved.headers["location"]) == (303, "/rules?done=rules")
        _post(c, "/rules/apply", {"op": "add", "name": "look-first", "action": "review", "decision": "review"})
        twin = _post(c, "/rules/preview", {"op": "add", "name": "look-first", "action": "ignore"})
        assert twin.status_code == 422 and "Two of your rules are named &#39;look-first&#39;" in twin.text
        page = c.get("/rules").text
    assert _rules(fresh_portal, "alice") == [{"action": "offer", "min_score": 0.5, "name": "offer-shops"},
                                             {"decision": "review", "name": "look-first"}]  # review: the default
    assert page.index("offer-shops") < page.index("look-first")
    with fresh_portal.store() as store:
        alice = store.owner_by_name("alice")
        changes = [json.loads(e["payload"]) for e in ledger.entries(store, [ledger.owner_subject(alice["id"])])]
    assert [c["change"] for c in changes] == ["add rule 'offer-shops'", "add rule 'look-first'"]
    assert "portal token" in changes[0]["by"]

    with signed_in(fresh_portal, "alice") as c:  # reorder: the review rule first, so it decides the review band
        moved = _post(c, "/rules/preview", {"op": "up", "index": "2"})
        assert "Before you save: move up rule &#39;look-first&#39;" in moved.text
        assert _post(c, "/rules/apply", {"op": "up", "index": "2"}).status_code == 303
        edit = c.get("/rules?edit=2").text
        assert 'value="offer-shops"' in edit and 'name="min_score" inputmode="decimal" maxlength="20" value="0.5"' in edit
        _post(c, "/rules/apply", {"op": "edit", "index": "2", "name": "offer-shops", "action": "review",
                                  "min_score": "0.9"})
    assert [r["name"] for r in _rules(fresh_portal, "alice")] == ["look-first", "offer-shops"]
    assert _rules(fresh_portal, "alice")[1] == {"min_score": 0.9, "name": "offer-shops"}

    plan = run_cli("enforce", "--dry-run", "--format", "json", home=fresh_portal.ws.home)
    assert plan.returncode == 0, plan.stderr
    steps = json.loads(plan.stdout)
    with fresh_portal.store() as store:
        expected = {m["id"]: ("look-first" if m["decision"] == "review" else "offer-shops")
                    for m in (store.match(i) for i in fresh_portal.matches["alice"])
                    if m["status"] != "rejected" and (m["decision"] == "review" or m["score"] >= 0.9)}
    assert {s["match_id"]: s["rule"] for s in steps} == expected
    assert all(s["owner"] == "alice" for s in steps)  # bob's matches follow none of alice's rules

    with signed_in(fresh_portal, "alice") as c:
        assert _post(c, "/rules/apply", {"op": "delete", "index": "1"}).status_code == 303
    assert [r["name"] for r in _rules(fresh_portal, "alice")] == ["offer-shops"]


def test_rules_are_refused_as_config_toml_would_refuse_them(fresh_portal):
    before = _rules(fresh_portal, "alice")
    refused = [
        ({"name": "x", "action": "burn"}, "action = 'burn' is not known"),
        ({"name": "x", "action": "offer", "min_score": "high"}, "min_score: 'high' is not a number"),
        ({"name": "", "action": "review"}, "give the rule a name"),
        ({"name": "x", "action": "review", "min_age_days": "1.5"}, "min_age_days"),
        ({"name": "<script>alert(1)</script>", "action": "review", "offer": "paid-twice"}, "offer = 'paid-twice'"),
    ]
    with signed_in(fresh_portal, "alice") as c:
        for fields, message in refused:
            for step in ("/rules/preview", "/rules/apply"):
                r = _post(c, step, {"op": "add", **fields})
                assert r.status_code == 422, (fields, step)
                assert str(escape(message)) in r.text, (fields, r.text[-800:])
                assert "<script>alert(1)</script>" not in r.text
        assert _post(c, "/rules/apply", {"op": "delete", "index": "9"}).status_code == 404
        assert "the index is missing" in _post(c, "/rules/apply", {"op": "delete"}).text
        assert c.post("/rules/apply", data={"op": "add", "name": "x"}).status_code == 403  # no CSRF token
    assert _rules(fresh_portal, "alice") == before


def test_each_owner_sees_and_changes_only_their_own_rules(fresh_portal):
    alices = _rules(fresh_portal, "alice")
    with signed_in(fresh_portal, "bob") as c:
        page = c.get("/rules").text
        assert all(r["name"] not in page for r in alices)
        r = _post(c, "/rules/apply", {"op": "add", "owner": "alice", "name": "bobs", "action": "ignore"})
        assert r.status_code == 303
    assert _rules(fresh_portal, "alice") == alices
    assert _rules(fresh_portal, "bob") == [{"action": "ignore", "name": "bobs"}]
    with fresh_portal.store() as store:
        listed = owner_rules.listed(store, fresh_portal.settings.enforcement, store.owner_by_name("bob"))
    assert [(x.rule.name, x.rule.owner, x.source) for x in listed] == [("bobs", "bob", "portal")]
