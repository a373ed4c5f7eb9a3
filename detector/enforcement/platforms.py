"""Platforms that publish where copyright notices go: a notice about a copy on one goes to that contact,
not to the network's abuse desk (which hosts the platform, not the post).

Each entry names the hosts whose pages are the platform's (a Bluesky post's page is on bsky.app), the
address, and the page that publishes it, which is recorded with the contact. The owner's
`recipients.overrides` for the host still wins (an address the platform published since, a form's
mail-in address).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Platform:
    name: str
    hosts: tuple[str, ...]
    address: str
    policy: str  # where the platform publishes the address


PLATFORMS = (
    Platform("Bluesky", ("bsky.app", "bsky.social", "cdn.bsky.app"), "copyright@blueskyweb.xyz",
             "https://bsky.social/about/support/copyright"),
)


def platform_of(host: str) -> Platform | None:
    """The platform whose pages are on `host` (a subdomain of one of its hosts too), or None."""
    host = host.lower().rstrip(".")
    return next((p for p in PLATFORMS if any(host == h or host.endswith("." + h) for h in p.hosts)), None)
