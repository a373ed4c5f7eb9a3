"""Whether an offer can reach its recipient and be paid: the reasons to keep it a draft.

An offer page on a loopback address (the default, http://127.0.0.1:8000) or none at all cannot be
opened by the user of the copy, and an offer with neither a payment link nor bank details cannot be
paid; sending such an offer would promise what the recipient cannot do.
"""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

from detector.config import LicensingSettings


def unreachable(public_url: str) -> str | None:
    """Why recipients cannot open pages under `public_url`, or None."""
    host = urlsplit(public_url or "").hostname
    if not host:
        return "licensing.public_url is not set, so the offer page has no address recipients can open"
    try:
        loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if loopback:
        return (f"licensing.public_url is {public_url}, a loopback address only this machine can open, "
                "so the recipient could not open the offer page")
    return None


def problems(rules: LicensingSettings) -> list[str]:
    """Every reason an offer under `rules` cannot be opened or paid by its recipient (empty: ready)."""
    found = [unreachable(rules.public_url)]
    if not (rules.payment_link or rules.bank_transfer):
        found.append("neither licensing.payment_link nor licensing.bank_transfer is set, so an accepted offer "
                     "could not be paid")
    return [p for p in found if p]


REMEDY = ("set them with `copyhound config set licensing.public_url https://portal.example.com` and "
          "`copyhound config set licensing.payment_link URL` (or licensing.bank_transfer)")
