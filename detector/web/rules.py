"""The owner's enforcement rules in the portal: list, add, edit, reorder and delete, each change
previewed with what `enforce --dry-run` would choose before it is saved (detector.enforcement.owner_rules)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse

from detector.enforcement import owner_rules, policy
from detector.errors import ConfigError, UsageError
from detector.licensing.offers import STATUSES as OFFER_STATUSES
from detector.web import casework
from detector.web.actions import parse_int
from detector.web.auth import session_principal
from detector.web.ui import checked_form, render

router = APIRouter(include_in_schema=False)
CHOICES = {"action": policy.ACTIONS, "decision": ("", "match", "review"), "commercial": ("", "yes", "no"),
           "offer": ("", "none") + OFFER_STATUSES, "credit": ("", "none", "found")}
OPS = {"add": "add rule", "edit": "change rule", "delete": "delete rule", "up": "move up rule",
       "down": "move down rule"}


@dataclass(frozen=True)
class Proposal:
    """A change to the owner's rules, as posted: the operation, the rule's index and the typed fields."""

    op: str
    index: int | None
    fields: dict[str, str]

    @classmethod
    def of(cls, form) -> Proposal:
        op = str(form.get("op") or "")
        if op not in OPS:
            raise UsageError(f"op must be one of {', '.join(OPS)}, got {op[:40]!r}.")
        index = parse_int("index", form.get("index"), 1)
        return cls(op, None if index is None else index - 1,
                   {name: str(form.get(name) or "") for name in owner_rules.FIELDS})


def _texts(rule) -> dict[str, str]:
    values = owner_rules.as_values(rule)
    return {name: ", ".join(v) if isinstance(v, list) else str(v) for name, v in values.items()}


def _apply(store, owner: dict, proposal: Proposal) -> tuple[list, str]:
    """The owner's rules after the proposal, and a sentence saying what changed."""
    current = owner_rules.stored(store, owner)
    rule = owner_rules.parse(proposal.fields, owner) if proposal.op in ("add", "edit") else None
    rules = owner_rules.change(current, proposal.op, proposal.index, rule)
    named = rule.name if rule else current[proposal.index].name
    return rules, f"{OPS[proposal.op]} {named!r}"


def _page(request, status: int, store, who, owner, form: dict | None = None, **extra):
    """The rules page: the rules that apply, and the form (a rule to edit from ?edit=N, else a new one)."""
    own = owner_rules.stored(store, owner)
    if form is None:
        edit = parse_int("edit", request.query_params.get("edit"), 1, len(own)) if request.method == "GET" else None
        form = {"op": "edit", "index": str(edit), "fields": _texts(own[edit - 1])} if edit else \
            {"op": "add", "index": "", "fields": {}}
    return render(request, "rules.html", status, principal=who, owner=owner, owners=[], form=form, choices=CHOICES,
                  rules=owner_rules.listed(store, request.app.state.portal.settings.enforcement, owner), **extra)


@router.get("/rules")
def rules_page(request: Request, owner: str | None = None):
    session, who = session_principal(request)
    with request.app.state.portal.store() as store:
        if who.is_admin and not owner:
            return render(request, "rules.html", session=session, principal=who, owner=None, owners=store.owners())
        row = casework.owner_for(store, who, owner)
        try:
            return _page(request, 200, store, who, row, session=session, error=None, preview=None)
        except UsageError as e:
            return _page(request, 422, store, who, row, session=session, error=str(e), preview=None,
                         form={"op": "add", "index": "", "fields": {}})


@router.post("/rules/preview")
async def rules_preview(request: Request):
    session, who = session_principal(request)
    form = await checked_form(request)
    portal = request.app.state.portal
    with portal.store() as store:
        owner = casework.owner_for(store, who, form.get("owner") if who.is_admin else None)
        try:
            proposal = Proposal.of(form)
            rules, what = _apply(store, owner, proposal)
        except (UsageError, ConfigError) as e:
            typed = {"op": str(form.get("op") or "add"), "index": str(form.get("index") or ""),
                     "fields": {n: str(form.get(n) or "") for n in owner_rules.FIELDS}}
            return _page(request, 422, store, who, owner, session=session, error=str(e), preview=None, form=typed)
        rows = owner_rules.explain(store, portal.settings.enforcement, owner, rules, datetime.now(UTC))
        typed = {"op": proposal.op, "index": "" if proposal.index is None else str(proposal.index + 1),
                 "fields": proposal.fields}
        return _page(request, 200, store, who, owner, session=session, error=None, form=typed,
                     preview={"what": what, "rules": rules, "rows": rows})


@router.post("/rules/apply")
async def rules_apply(request: Request):
    session, who = session_principal(request)
    form = await checked_form(request)
    with request.app.state.portal.store() as store:
        owner = casework.owner_for(store, who, form.get("owner") if who.is_admin else None)
        try:
            rules, what = _apply(store, owner, Proposal.of(form))
        except (UsageError, ConfigError) as e:
            return _page(request, 422, store, who, owner, session=session, error=str(e), preview=None)
        owner_rules.save(store, owner, rules, what, actor=who.actor)
    suffix = f"&owner={quote(owner['name'])}" if who.is_admin else ""
    return RedirectResponse(f"/rules?done=rules{suffix}", status_code=303)
