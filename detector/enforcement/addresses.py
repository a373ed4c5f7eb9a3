"""Whether a string read from the web (RDAP, security.txt, a contact page) or config.toml is one e-mail
address a notice may go to.

RFC 5321 bounds an address to 254 characters and its local part to 64. Addresses at internal hosts are
refused: `localhost` and the special-use names that never leave a network (.localhost, .local,
.internal, .home.arpa), and address literals (`abuse@[10.0.0.1]`, `abuse@127.0.0.1`), which are
loopback, link-local or private ranges, or public hosts named without the DNS that a notice's
recipient answers for.
"""

from __future__ import annotations

from email.utils import parseaddr

from detector.hosts import is_ip_literal

MAX_ADDRESS = 254
MAX_LOCAL_PART = 64
_INTERNAL_SUFFIXES = (".localhost", ".local", ".internal", ".home.arpa")


def problem(text: str) -> str | None:
    """Why `text` is not one plain, public e-mail address (no display name, no line breaks), or None."""
    text = text.strip()
    if len(text) > MAX_ADDRESS:
        return f"longer than {MAX_ADDRESS} characters (RFC 5321)"
    _, address = parseaddr(text)
    if not address or address != text or any(c.isspace() or ord(c) < 32 for c in address):
        return "not one plain e-mail address"
    local, _, domain = address.rpartition("@")
    if not local:
        return "not one plain e-mail address"
    if len(local) > MAX_LOCAL_PART:
        return f"a local part longer than {MAX_LOCAL_PART} characters (RFC 5321)"
    host = domain.lower().rstrip(".")
    if host.startswith("[") or is_ip_literal(host):
        return "an address literal, not a domain"
    if host == "localhost" or host.endswith(_INTERNAL_SUFFIXES):
        return f"an internal host ({host})"
    if "." not in host:
        return "a domain without a dot"
    return None


def valid_address(text: str) -> str | None:
    """`text` as one plain, public e-mail address, or None (`problem` says why)."""
    return text.strip() if problem(text) is None else None

