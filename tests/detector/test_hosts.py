"""Where a host name points (detector.hosts), on this machine's own resolver."""

import ipaddress

from detector.hosts import first_non_public, is_ip_literal


def test_ip_literals_are_told_from_names():
    assert is_ip_literal("127.0.0.1") and is_ip_literal("::1")
    assert not is_ip_literal("localhost") and not is_ip_literal("example.com") and not is_ip_literal("[::1]")


def test_loopback_names_and_wrapped_ipv4_are_not_public():
    assert first_non_public("localhost").is_loopback
    assert first_non_public("127.0.0.1") == ipaddress.ip_address("127.0.0.1")
    # an IPv4 address wrapped in IPv6 is judged where the connection ends up
    assert first_non_public("::ffff:10.1.2.3") == ipaddress.ip_address("10.1.2.3")


def test_a_public_address_passes():
    assert first_non_public("93.184.216.34") is None
