"""`copyhound enforce`: apply the owners' policy rules to their matches, within hard limits.

For each match (rejected ones aside) the first fitting rule names an action. An action that
writes to someone (offer, dmca, dsa) is held back, with the reason, when:

- the use is authorised, or the match is in the `review` band (a person decides those);
- the match is held for the owner (`detector.enforcement.holds`): its copy is credited on the page
  (the licence check before any claim), or its work floods (matched on too many sites at once);
- the copy is already gone, or the same offer or notice was already made;
- the latest offer is accepted or paid (the use is being licensed: escalation stops);
- an automated action was taken on the match within enforcement.cooling_days;
- the owner's daily cap (enforcement.daily_cap_owner) or the recipient's
  (enforcement.daily_cap_recipient) is reached, counted over the last 24 hours;
- no recipient address, sender address or SMTP server is known;
- an offer would link to its own page (no enforcement.offer_url) while licensing.public_url is unset or
  on loopback, or no payment method is set (detector.licensing.readiness).

Otherwise the match is confirmed on the owner's behalf (the review names the rule), the offer or
notice is made, e-mailed with the evidence report attached, and the action is recorded with its
rule, the facts that made the rule fit, the recipient and where its address came from, in the
enforcement log and the ledger. A dry run plans the same steps, looks recipients up, and changes
nothing else. Every time comes from `now`, so tests run on an injected clock.

Runs at once: a real run holds the workspace's enforce lock (a second one on the same workspace gets
WorkspaceLocked, exit 3), and claims each action in the transaction that checks its limits once more
(on PostgreSQL the store's write lock serialises such blocks), so two runs sharing one database from
different machines cannot both send it. The claim counts against the daily caps at once; the dry run
counts its plan the same way, so both agree action by action.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from detector.collectability.assess import assess
from detector.collectability.hosting import HostingCountries
from detector.config import EnforcementSettings, PolicyRule, Settings
from detector.enforcement import holds, mailer, owner_rules, policy, recipients
from detector.errors import ActionRefused, ConfigError
from detector.evidence.notices import make_notice
from detector.evidence.report import write_report
from detector.evidence.review import review_match
from detector.licensing import readiness
from detector.licensing.offers import OPEN as OPEN_OFFER
from detector.licensing.offers import keep_draft, make_offer, set_offer_status
from detector.licensing.settlement import page_link
from detector.provenance import ledger
from detector.suggest import command
from detector.workspace import Workspace
from detector.workspace.store import Store

#: Latest-offer states in which no notice is sent: the recipient accepted the offer or paid it.
SETTLING = ("accepted", "paid")


@dataclass
class Step:
    """One match's planned (or taken) action and why."""

    match_id: int
    owner: str
    host: str
    rule: str
    action: str
    why: list[str]
    facts: dict
    held: str | None = None
    recipient: str | None = None
    recipient_source: str | None = None
    outcome: str = ""

    def as_dict(self) -> dict:
        return dict(self.__dict__)


@dataclass
class _Counts:
    """A dry run's planned actions, counted against the daily caps as a real run's claims are."""

    owner: dict[int, int] = field(default_factory=dict)
    recipient: dict[str, int] = field(default_factory=dict)

    def add(self, owner_id: int, recipient: str) -> None:
        self.owner[owner_id] = self.owner.get(owner_id, 0) + 1
        self.recipient[recipient.lower()] = self.recipient.get(recipient.lower(), 0) + 1


#: A claim whose run never finished it (its process died) holds its match back this long, then counts as abandoned.
CLAIM_TTL = timedelta(hours=1)


def enforce(ws: Workspace, store: Store, settings: Settings, now: datetime, *, dry_run: bool,
            owner: str | None = None) -> list[Step]:
    """Plan (dry_run) or take each owner's policy actions; returns one Step per match a rule fits.

    A real run holds the workspace's enforce lock: another one running raises WorkspaceLocked."""
    if dry_run:
        return _run(ws, store, settings, now, dry_run=True, owner=owner)
    with ws.lock("enforce", ws.enforce_lock_path):
        return _run(ws, store, settings, now, dry_run=False, owner=owner)


def _run(ws: Workspace, store: Store, settings: Settings, now: datetime, *, dry_run: bool,
         owner: str | None) -> list[Step]:
    rules = owner_rules.effective(store, settings.enforcement)  # each owner's portal rules, then config.toml's
    policy.check_rules(rules, {o["name"] for o in store.owners()})
    where, params = "matches.status != 'rejected'", []
    if owner is not None:
        where, params = where + " AND matches.owner_id = ?", [store.owner_by_name(owner)["id"]]
    # the licence check and the flood check first: what they hold, no rule acts on
    held = holds.hold_matches(ws, store, settings, now, owner_id=params[0] if params else None, dry_run=dry_run)
    lookups: dict[str, recipients.Lookup] = {}
    planned = _Counts()  # stays empty in a real run, whose claims are in the store
    # A rule on collectability sees the match scored now (its presence, offers and site history change).
    countries = HostingCountries(store, settings, now) if policy.uses_collectability(rules.rules) else None
    steps = []
    for match in store.matches(where, params):
        lookup = None
        if any(r.countries for r in rules.rules):
            lookup = _lookup(store, settings, match, now, lookups)
        offers, notices = store.offers([match["id"]]), store.notices([match["id"]])
        score = assess(ws, store, settings, match, now, countries).score if countries else match["collectability"]
        facts = policy.facts_of(match, offers, notices, rules, lookup.country if lookup else None, now,
                                credited=match["id"] in held.credited, collectability=score)
        chosen = policy.choose(rules.rules, facts)
        if chosen is None:
            continue
        rule, why = chosen
        step = Step(match["id"], facts.owner, facts.host, rule.name, rule.action, why, facts.as_dict())
        steps.append(step)
        if rule.action not in policy.OUTWARD:
            step.outcome = "left for a person to review" if rule.action == "review" else "ignored"
            continue
        contact = None
        step.held = held.planned.get(match["id"]) or _held(store, settings, match, facts, rule, now, planned)
        if step.held is None:
            contact = _lookup(store, settings, match, now, lookups).best(
                "notice" if rule.action != "offer" else "offer", _dead_addresses(store, match["id"]))
            step.held = _recipient_held(store, settings, match, contact, now, planned)
            if contact is not None:
                step.recipient, step.recipient_source = contact.address, contact.source
        if step.held is None and dry_run:
            planned.add(match["owner_id"], step.recipient)
            step.outcome = f"would {_verb(rule.action)} {step.recipient} ({step.recipient_source})"
            continue
        claim = None if step.held is not None else _claim(store, settings, rules, match, rule, step, contact, now)
        if claim is None:
            step.outcome = f"held: {step.held}"
            continue
        _act(ws, store, settings, match, rule, step, now, claim)
    return steps


def _dead_addresses(store: Store, match_id: int) -> frozenset[str]:
    """Addresses whose server refused this match's e-mail or that bounced it: the next address found is tried."""
    return frozenset(d["recipient"].lower() for d in store.deliveries([match_id])
                     if d["status"] == "bounced" or d["response"].startswith("SMTPRecipientsRefused"))


def _claim(store: Store, settings: Settings, rules: EnforcementSettings, match: dict, rule: PolicyRule, step: Step,
           contact: recipients.Contact, now: datetime) -> int | None:
    """Check the limits again and claim the action in one transaction; the claim's id, or None (step.held says why).

    The facts are read afresh inside the transaction, so an action another run claimed or took since
    this run read them holds this one back.
    """
    with store.atomic():
        fresh = store.match(match["id"])
        facts = policy.facts_of(fresh, store.offers([match["id"]]), store.notices([match["id"]]), rules,
                                step.facts["country"], now, credited=step.facts["credited"],
                                collectability=step.facts["collectability"])
        step.held = _held(store, settings, fresh, facts, rule, now, _Counts()) or \
            _recipient_held(store, settings, fresh, contact, now, _Counts())
        if step.held is not None:
            return None
        return store.add_enforcement_action({
            "owner_id": match["owner_id"], "match_id": match["id"], "rule": rule.name, "action": rule.action,
            "recipient": step.recipient, "at": _stamp(now), "state": "claimed",
            "detail": {"why": step.why, "recipient_source": step.recipient_source}})


def _verb(action: str) -> str:
    return "send an offer to" if action == "offer" else f"send a {action.upper()} notice to"


def _lookup(store: Store, settings: Settings, match: dict, now: datetime,
            cache: dict[str, recipients.Lookup]) -> recipients.Lookup:
    host = policy.host_of(match["page_url"])
    if host not in cache:
        cache[host] = recipients.lookup(store, settings.recipients, match["page_url"], now)
    return cache[host]


def _stamp(moment: datetime) -> str:
    return recipients.stamp(moment)


def _held(store: Store, settings: Settings, match: dict, facts: policy.Facts, rule: PolicyRule,
          now: datetime, planned: _Counts) -> str | None:
    """Why a hard limit holds this outward action back, or None. The caps count the store's actions
    of the last 24 hours (claims included) and, in a dry run, those `planned` so far."""
    limits = settings.enforcement
    if facts.status == "authorized":
        return "an authorised use"
    if facts.decision == "review":
        return "a review-band match: a person decides"
    hold = holds.held_reason(store, match["id"])
    if hold is not None:
        return hold
    if facts.presence == "removed":
        return "the copy is already gone"
    if rule.action == "offer" and facts.offer in OPEN_OFFER + SETTLING:
        return f"an offer is already {facts.offer}"
    if facts.offer in SETTLING:
        # escalation ends once the user of the copy has accepted (and is paying) or has paid
        return f"the offer is {facts.offer}: the use is being licensed"
    delivered = {d["notice_id"] for d in store.deliveries([match["id"]]) if d["status"] == "sent"}
    if any(n["kind"] == rule.action and n["id"] in delivered for n in store.notices([match["id"]])):
        return f"a {rule.action.upper()} notice was already sent"
    last = store.enforcement_actions([match["id"]])
    running = [a for a in last if a["state"] == "claimed" and datetime.fromisoformat(a["at"]) > now - CLAIM_TTL]
    if running:
        return f"another enforce run claimed a {running[-1]['action']} on this match at {running[-1]['at']}"
    if last:
        until = datetime.fromisoformat(last[-1]["at"]) + timedelta(days=limits.cooling_days)
        if now < until:
            return (f"cooling period: rule {last[-1]['rule']} acted on {last[-1]['at'][:10]}; nothing more "
                    f"before {_stamp(until)[:10]}")
    taken = store.count_enforcement_actions(match["owner_id"], _stamp(now - timedelta(days=1)))
    if taken + planned.owner.get(match["owner_id"], 0) >= limits.daily_cap_owner:
        return f"the owner's daily cap of {limits.daily_cap_owner} automated actions is reached"
    if not settings.smtp.host:
        return "smtp.host is empty, so nothing can be sent; set [smtp] in config.toml"
    if not (settings.smtp.from_address or store.owner(match["owner_id"]).get("email")):
        return f"no sender address: set smtp.from_address or `{command('owner', 'set', facts.owner, '--email', '...')}`"
    if rule.action == "offer" and not limits.offer_url:
        # an offer whose own page the recipient cannot open, or cannot pay, would promise what it cannot do
        unready = readiness.problems(settings.licensing.for_owner(facts.owner))
        if unready:
            return f"no offer its recipient could take up: {'; and '.join(unready)}"
    return None


def _recipient_held(store: Store, settings: Settings, match: dict, contact: recipients.Contact | None,
                    now: datetime, planned: _Counts) -> str | None:
    if contact is None:
        return (f"no recipient address found for {policy.host_of(match['page_url'])}; add one under "
                "[recipients.overrides] in config.toml (`copyhound recipients HOST` shows what was tried)")
    cap = settings.enforcement.daily_cap_recipient
    since = _stamp(now - timedelta(days=1))
    sent = store.count_deliveries(contact.address, since) + store.count_claimed_to(contact.address, since)
    if sent + planned.recipient.get(contact.address.lower(), 0) >= cap:
        return f"the daily cap of {cap} e-mails to {contact.address} is reached"
    return None


def _offer_link(ws: Workspace, store: Store, settings: Settings, offer_id: int) -> str:
    """Where the recipient accepts, counters or pays an offer: enforcement.offer_url when set, else the
    offer's own public page (detector.licensing)."""
    if settings.enforcement.offer_url:
        return settings.enforcement.offer_url.replace("{offer_id}", str(offer_id))
    return page_link(ws, store, settings, offer_id)


def _licence_instead(ws: Workspace, store: Store, settings: Settings, match_id: int) -> str:
    """A notice e-mail's closing paragraph when the match has an open offer: the copy may still be licensed
    on the offer's page rather than taken down."""
    open_offers = [o for o in store.offers([match_id]) if o["status"] in OPEN_OFFER]
    if not open_offers:
        return ""
    return ("\n\nThe use can still be licensed instead of the image being removed: the offer, and how to accept "
            f"and pay it, are at {_offer_link(ws, store, settings, open_offers[-1]['id'])}\n")


def _act(ws: Workspace, store: Store, settings: Settings, match: dict, rule: PolicyRule, step: Step,
         now: datetime, claim: int) -> None:
    """Confirm on the owner's behalf, make the offer or notice, send it, and record the claimed action."""
    at = _stamp(now)
    owner = store.owner(match["owner_id"])
    detail: dict = {"why": step.why, "facts": step.facts, "recipient_source": step.recipient_source}
    try:
        if match["status"] != "confirmed":
            review_match(store, match["id"], "confirmed", f"policy rule {rule.name}", actor=f"policy:{rule.name}",
                         at=at)
        if rule.action == "offer":
            # A draft left by a run whose e-mail failed is sent again rather than priced anew.
            drafts = [o for o in store.offers([match["id"]]) if o["status"] == "draft"]
            offer = drafts[-1] if drafts else \
                make_offer(ws, store, settings, match["id"], commercial=step.facts["commercial"], at=at).record
            body = offer["letter"]
            body += f"\n\nAccept or decline this offer here: {_offer_link(ws, store, settings, offer['id'])}\n"
            subject = f"Licence offer for the use of {match['asset_title'] or match['asset_filename']} on {step.host}"
            ids = {"offer_id": offer["id"]}
        else:
            made = [n for n in store.notices([match["id"]]) if n["kind"] == rule.action]
            if made:
                notice = made[-1]
            else:
                notice = vars(make_notice(ws, store, settings, match["id"], rule.action, at=at,
                                          recipient=step.recipient))
            body = notice["body"] + _licence_instead(ws, store, settings, match["id"])
            subject = f"{'DMCA' if rule.action == 'dmca' else 'DSA Article 16'} notice: infringing image on {step.host}"
            ids = {"notice_id": notice["id"]}
        detail.update(ids)
        report = write_report(ws, store, settings, match["id"], pdf=True)
    except (ActionRefused, ConfigError) as e:
        store.drop_enforcement_action(claim)  # nothing went out: the action was not taken
        step.held = str(e)
        step.outcome = f"refused: {e}"
        return
    letter = mailer.Letter(match["id"], owner["id"], settings.smtp.from_address or owner["email"], step.recipient,
                           subject, body, tuple(report), **ids)
    delivery = mailer.send(ws, store, settings.smtp, letter, now)
    detail["delivery_id"] = delivery["id"]
    if delivery["status"] == "sent":
        if rule.action == "offer":
            set_offer_status(store, ids["offer_id"], "sent", at=at)
        step.outcome = f"{_verb(rule.action).replace('send', 'sent')} {step.recipient}: {delivery['response']}"
    else:
        step.outcome = f"sending to {step.recipient} failed: {delivery['response']}"
        if rule.action == "offer":
            keep_draft(store, ids["offer_id"], step.outcome, at=at)
    with store.atomic():
        store.finish_enforcement_action(claim, dict(detail, outcome=step.outcome))
        ledger.append(store, "enforce", ledger.match_subject(match["id"]), {
            "rule": rule.name, "action": rule.action, "why": step.why, "recipient": step.recipient,
            "recipient_source": step.recipient_source, "outcome": step.outcome,
            **{k: detail[k] for k in ("offer_id", "notice_id", "delivery_id") if k in detail},
        }, at=at)
