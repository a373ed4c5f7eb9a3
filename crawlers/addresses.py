"""Which IP addresses a crawler must not reach unless told to: the SSRF rule, kept pure."""

from __future__ import annotations

import ipaddress

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


def non_public_kind(address: str | IPAddress) -> str | None:
    """What makes `address` off-limits ("loopback", "private", ...), or None when it is public.

    An IPv4 address wrapped in IPv6 (::ffff:127.0.0.1) is judged as IPv4,
    because that is where the connection ends up.
    """
    ip = ipaddress.ip_address(address) if isinstance(address, str) else address
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    checks = (
        ("unspecified", ip.is_unspecified),
        ("loopback", ip.is_loopback),
        ("link-local", ip.is_link_local),
        ("multicast", ip.is_multicast),
        ("reserved", ip.is_reserved),
        ("private", ip.is_private),
    )
    for kind, hit in checks:
        if hit:
            return kind
    # Shared address space (100.64/10) and other special ranges are neither private nor global.
    return None if ip.is_global else "non-public"
