"""Where a host name points: whether it is an IP literal, and the first address it resolves to that is not
public. Enforcement's lookups and discovery's fetches both refuse such hosts unless told otherwise."""

from __future__ import annotations

import ipaddress
import socket

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


def is_ip_literal(host: str) -> bool:
    """True when `host` is an address written out (127.0.0.1, ::1), not a name."""
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def first_non_public(host: str) -> IPAddress | None:
    """The first address `host` resolves to that is not public, or None; OSError when it does not resolve.
    An IPv4 address wrapped in IPv6 (::ffff:127.0.0.1) is judged as IPv4, where the connection ends up."""
    for info in socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP):
        ip = ipaddress.ip_address(info[4][0])
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped
        if not ip.is_global:
            return ip
    return None
