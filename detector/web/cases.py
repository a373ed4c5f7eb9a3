"""Cases and compliance in the portal: pages under /cases and /compliance, JSON under /api.

Each owner sees only the sites where their own works were found; a site with none of their
matches answers 404, exactly like one that has no matches at all.
"""

from __future__ import annotations

from fastapi import APIRouter, Request

from detector.enforcement import cases
from detector.web.api import Who
from detector.web.auth import session_principal
from detector.web.ui import render

router = APIRouter()


@router.get("/api/cases", tags=["enforcement"])
def api_cases(request: Request, who: Who) -> list[dict]:
    """One row per infringing site: matches, copies up and removed, notices, offers, e-mails, median days."""
    with request.app.state.portal.store() as store:
        return cases.cases(store, who.owner_id)


@router.get("/api/cases/{host}", tags=["enforcement"])
def api_case(host: str, request: Request, who: Who) -> dict:
    """One site's case: its matches with outcome, notices, offers, deliveries and automated actions."""
    with request.app.state.portal.store() as store:
        return cases.case(store, host, who.owner_id)


@router.get("/api/compliance", tags=["enforcement"])
def api_compliance(request: Request, who: Who) -> list[dict]:
    """Per recipient of notices: notices sent, copies removed, median days from notice to removal."""
    with request.app.state.portal.store() as store:
        return cases.compliance(store, who.owner_id)


@router.get("/cases", include_in_schema=False)
def cases_page(request: Request):
    session, who = session_principal(request)
    with request.app.state.portal.store() as store:
        rows = cases.cases(store, who.owner_id)
    return render(request, "cases.html", session=session, principal=who, rows=rows)


@router.get("/cases/{host}", include_in_schema=False)
def case_page(host: str, request: Request):
    session, who = session_principal(request)
    with request.app.state.portal.store() as store:
        one = cases.case(store, host, who.owner_id)
    return render(request, "case.html", session=session, principal=who, case=one)


@router.get("/compliance", include_in_schema=False)
def compliance_page(request: Request):
    session, who = session_principal(request)
    with request.app.state.portal.store() as store:
        rows = cases.compliance(store, who.owner_id)
    return render(request, "compliance.html", session=session, principal=who, rows=rows)
