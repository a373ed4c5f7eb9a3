"""RFC 3161 time-stamps: ask a time-stamping authority (TSA) to sign the SHA-256 of some bytes
with its own clock, and check such a token later.

A token proves the bytes existed no later than its time, on the word of a party outside the
workspace. It is kept as the TSA's whole DER response (`.tsr`), which `openssl ts -verify -data
FILE -in FILE.tsr -CAfile TSA.pem` checks directly.
"""

from __future__ import annotations

import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from rfc3161_client import (
    PKIStatus,
    TimestampRequestBuilder,
    VerificationError,
    VerifierBuilder,
    decode_timestamp_response,
)

from detector.errors import ConfigError, TimestampUnavailable

_MAX_RESPONSE_BYTES = 1_000_000


@dataclass(frozen=True)
class Stamp:
    token: bytes  # the DER TimeStampResp, as the TSA sent it
    time: str  # the TSA's genTime, ISO 8601 UTC


def request(url: str, data: bytes, timeout: float, roots: list[x509.Certificate] | None = None) -> Stamp:
    """Time-stamp `data` at the TSA `url` (its token checked against `roots`, see `check`, and our nonce);
    TimestampUnavailable names the TSA and what went wrong."""
    query = TimestampRequestBuilder().data(data).nonce(nonce=True).cert_request(cert_request=True).build()
    http = urllib.request.Request(url, data=query.as_bytes(), method="POST",
                                  headers={"Content-Type": "application/timestamp-query"})
    try:
        with urllib.request.urlopen(http, timeout=timeout) as reply:
            body = reply.read(_MAX_RESPONSE_BYTES + 1)
    except (urllib.error.URLError, OSError) as e:
        raise TimestampUnavailable(f"The time-stamping authority at {url} did not answer ({e}); check "
                                   "provenance.tsa_url in config.toml and the network, then run this again.") from e
    if len(body) > _MAX_RESPONSE_BYTES:
        raise TimestampUnavailable(f"The time-stamping authority at {url} sent more than {_MAX_RESPONSE_BYTES} "
                                   "bytes; that is not a time-stamp response. Check provenance.tsa_url.")
    try:
        response = decode_timestamp_response(body)
    except ValueError as e:
        raise TimestampUnavailable(f"The answer of {url} is not an RFC 3161 time-stamp response ({e}); "
                                   "check provenance.tsa_url.") from e
    if response.status not in (PKIStatus.GRANTED, PKIStatus.GRANTED_WITH_MODS):
        raise TimestampUnavailable(f"The time-stamping authority at {url} refused the request (status "
                                   f"{response.status}: {'; '.join(response.status_string) or 'no reason given'}).")
    if response.tst_info.nonce != query.nonce:
        raise TimestampUnavailable(f"The token from {url} answers another request (nonce differs); it was not used.")
    _, why = check(body, data, roots)
    if why:
        raise TimestampUnavailable(f"The token from {url} is not valid: {why}; it was not used. Check "
                                   "provenance.tsa_certificate.")
    return Stamp(body, _iso(response))


def check(token: bytes, data: bytes, roots: list[x509.Certificate] | None = None) -> tuple[str | None, str | None]:
    """(time, None) when `token` time-stamps exactly `data`, else (None, why not).

    With `roots` (the TSA certificates a verifier trusts), the TSA's signature must chain to one
    of them; without, the token is checked against the certificate it carries, which proves the
    bytes and time were signed together but not by whom.
    """
    try:
        response = decode_timestamp_response(token)
    except ValueError as e:
        return None, f"it is not an RFC 3161 time-stamp response ({e})"
    # The token's parts are parsed as they are read: a malformed one raises ValueError, a certificate with
    # an unknown version InvalidVersion, here or inside the verifier.
    try:
        trusted = roots or [x509.load_der_x509_certificate(der) for der in response.signed_data.certificates]
        if not trusted:
            return None, "it carries no TSA certificate and no trusted TSA certificate is configured"
        builder = VerifierBuilder()
        for cert in trusted:
            builder = builder.add_root_certificate(cert)
        builder.build().verify_message(response, data)
        return _iso(response), None
    except (VerificationError, ValueError, x509.InvalidVersion) as e:
        return None, f"it does not verify ({e})"


def load_roots(path: str) -> list[x509.Certificate] | None:
    """The TSA certificates in the PEM file `path`, or None when no file is configured."""
    if not path:
        return None
    try:
        return x509.load_pem_x509_certificates(Path(path).expanduser().read_bytes())
    except (OSError, ValueError) as e:
        raise ConfigError(f"provenance.tsa_certificate {path!r} holds no readable PEM certificate "
                                   f"({e}); point it at the TSA's certificate.") from e


def _iso(response) -> str:
    return response.tst_info.gen_time.strftime("%Y-%m-%dT%H:%M:%SZ")
