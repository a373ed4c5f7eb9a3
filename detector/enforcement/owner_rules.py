"""Policy rules an owner keeps in the portal, layered over config.toml's [[enforcement.rules]].

Why in the workspace's database and not written back to config.toml: config.toml is the
operator's file (comments, every owner's rules, settings an owner must not touch), a web process
rewriting it would race with people editing it by hand, and the portal needs each owner to see
and change only their own rules. So an owner's portal rules are stored per owner and tried
**before** the config file's rules that apply to them (those with their name or no owner), which
stay as the operator wrote them. `copyhound enforce` and the scan read both through `effective`.

A rule from the portal is checked exactly as one from config.toml: its values go through
`config.from_dict` (types, unknown fields) and `policy.check_rules` (names, actions, values).
Every change replaces the owner's list atomically and enters it in the ledger (kind
`owner_settings`) with the actor.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, fields, replace
from datetime import datetime
from typing import get_type_hints

from detector import config
from detector.config import EnforcementSettings, PolicyRule
from detector.enforcement import holds, policy
from detector.errors import ConfigError, NotFound
from detector.provenance import ledger
from detector.workspace.store import Store

#: The fields an owner fills in (the owner is always themselves).
FIELDS = tuple(f.name for f in fields(PolicyRule) if f.name != "owner")
_HINTS = get_type_hints(PolicyRule)
MAX_RULES = 50
MAX_TEXT = 200


@dataclass(frozen=True)
class Listed:
    """A rule as the owner sees it: where it comes from, and its place among the owner's own."""

    rule: PolicyRule
    source: str          # 'portal' (the owner's, editable) or 'config.toml'
    index: int | None    # position among the owner's portal rules (None for config.toml's)


def stored(store: Store, owner: dict) -> list[PolicyRule]:
    return [_rule(values, owner["name"]) for values in store.owner_rules(owner["id"])]


def _rule(values: dict, owner_name: str) -> PolicyRule:
    data = config.from_dict({"enforcement": {"rules": [dict(values, owner=owner_name)]}})
    return data.enforcement.rules[0]


def effective(store: Store, settings: EnforcementSettings) -> EnforcementSettings:
    """The enforcement settings with every owner's portal rules before config.toml's."""
    own = tuple(rule for owner in store.owners() for rule in stored(store, owner))
    return replace(settings, rules=own + settings.rules) if own else settings


def listed(store: Store, settings: EnforcementSettings, owner: dict) -> list[Listed]:
    """The ordered rules that apply to `owner`: their own, then config.toml's for them or everyone."""
    own = [Listed(rule, "portal", i) for i, rule in enumerate(stored(store, owner))]
    return own + [Listed(rule, "config.toml", None) for rule in settings.rules if rule.owner in ("", owner["name"])]


def parse(form, owner: dict) -> PolicyRule:
    """A rule from a posted form, checked as config.toml's rules are (ConfigError naming the field)."""
    values: dict = {}
    for name in FIELDS:
        text = str(form.get(name) or "").strip()
        if len(text) > MAX_TEXT:
            raise ConfigError(f"{name} is longer than {MAX_TEXT} characters; shorten it.")
        if not text:
            continue
        kind = _HINTS[name]
        if kind is str:
            values[name] = text
        elif kind == tuple[str, ...]:
            values[name] = [c.strip().upper() for c in text.replace(",", " ").split()]
        else:
            try:
                values[name] = tomllib.loads(f"value = {text}")["value"]
            except tomllib.TOMLDecodeError:
                raise ConfigError(f"{name}: {text!r} is not a number.") from None
    rule = _rule(values, owner["name"])
    policy.check_rules(EnforcementSettings(rules=(rule,)), {owner["name"]})
    return rule


def change(rules: list[PolicyRule], op: str, index: int | None, rule: PolicyRule | None) -> list[PolicyRule]:
    """The owner's rules after `op` (add, edit, delete, up, down) on the rule at `index`."""
    rules = list(rules)
    if op not in ("add", "edit", "delete", "up", "down"):
        raise ConfigError(f"op must be add, edit, delete, up or down, got {op!r}.")
    if op == "add":
        if len(rules) >= MAX_RULES:
            raise ConfigError(f"An owner keeps at most {MAX_RULES} rules; delete one first.")
        rules.append(rule)
    elif index is None:
        raise ConfigError(f"Say which rule to {op}: the index is missing.")
    elif not 0 <= index < len(rules):
        raise NotFound(f"No rule number {index + 1} among your rules.")
    elif op == "edit":
        rules[index] = rule
    elif op == "delete":
        del rules[index]
    elif 0 <= (other := index - 1 if op == "up" else index + 1) < len(rules):
        rules[index], rules[other] = rules[other], rules[index]
    names = [r.name for r in rules]
    if len(set(names)) != len(names):
        raise ConfigError(f"Two of your rules are named {next(n for n in names if names.count(n) > 1)!r}; "
                          "give each its own name (the ledger records actions by rule name).")
    return rules


def as_values(rule: PolicyRule) -> dict:
    """What is stored and shown of a rule: the fields that differ from the defaults (the owner aside)."""
    default = PolicyRule()
    return {name: (list(v) if isinstance(v, tuple) else v) for name in FIELDS
            if (v := getattr(rule, name)) != getattr(default, name)}


def save(store: Store, owner: dict, rules: list[PolicyRule], what: str, actor: str) -> None:
    values = [as_values(rule) for rule in rules]
    with store.atomic():
        store.replace_owner_rules(owner["id"], values)
        ledger.append(store, "owner_settings", ledger.owner_subject(owner["id"]),
                      {"rules": values, "change": what, "by": actor})


@dataclass(frozen=True)
class Explained:
    match_id: int
    host: str
    now: str      # 'rule: action' under the rules as they are, or '' when none fits
    then: str     # the same under the changed rules
    why: str


def explain(store: Store, settings: EnforcementSettings, owner: dict, proposed: list[PolicyRule],
            now: datetime) -> list[Explained]:
    """What `enforce --dry-run` would choose for each of the owner's matches, now and with `proposed`.

    The choice of rule only: recipients (a network lookup) and the hard limits are checked when
    enforce runs; a rule on countries sees the country of a recipient lookup already cached, and one on
    collectability the match's latest stored score."""
    config_rules = tuple(rule for rule in settings.rules if rule.owner in ("", owner["name"]))
    before = tuple(stored(store, owner)) + config_rules
    after = tuple(proposed) + config_rules
    rows = []
    matches = store.matches("matches.owner_id = ? AND matches.status != 'rejected'", [owner["id"]])
    credited = holds.credited(store, [m["id"] for m in matches])
    for match in matches:
        cached = store.recipient_lookups(policy.host_of(match["page_url"]), "")
        country = next((r["country"] for r in cached if r.get("country")), None)
        facts = policy.facts_of(match, store.offers([match["id"]]), store.notices([match["id"]]), settings,
                                country, now, credited=match["id"] in credited,
                                collectability=match["collectability"])  # the stored score: no lookups here
        old, new = policy.choose(before, facts), policy.choose(after, facts)
        rows.append(Explained(match["id"], facts.host, _said(old), _said(new), "; ".join(new[1]) if new else ""))
    return rows


def _said(chosen: tuple[PolicyRule, list[str]] | None) -> str:
    return f"{chosen[0].name}: {chosen[0].action}" if chosen else ""
