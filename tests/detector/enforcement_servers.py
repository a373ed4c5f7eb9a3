"""Real servers on 127.0.0.1 for the enforcement tests: an RDAP service (and a site), and SMTP.

The RDAP server answers `/ip/ADDRESS` with a network whose abuse contact is NETWORK_ABUSE (or, for an
address in `ip_records`, with that record) and
`/domain/NAME` (for the names in `domains`) with a registrar whose abuse contact is nested one
level down, as registries do; any path in `files` is served as given (security.txt). The SMTP
server is aiosmtpd with AUTH LOGIN/PLAIN over the plain connection, keeping what it received.
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import socket
import ssl
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email import message_from_bytes, policy
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Self

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

NETWORK_ABUSE = "abuse@hosting.example.net"
REGISTRAR_ABUSE = "abuse@registrar.example.com"


def network(country: str = "DE") -> dict:
    return {
        "objectClassName": "ip network", "handle": "NET-127-0-0-0-1", "name": "EXAMPLE-HOSTING", "country": country,
        "entities": [
            {"objectClassName": "entity", "roles": ["registrant"],
             "vcardArray": ["vcard", [["fn", {}, "text", "Example Hosting GmbH"],
                                      ["email", {}, "text", "noc@hosting.example.net"]]]},
            {"objectClassName": "entity", "roles": ["abuse"],
             "vcardArray": ["vcard", [["version", {}, "text", "4.0"], ["fn", {}, "text", "Abuse desk"],
                                      ["email", {}, "text", NETWORK_ABUSE]]]},
        ],
    }


def domain(name: str) -> dict:
    return {
        "objectClassName": "domain", "ldhName": name,
        "entities": [{"objectClassName": "entity", "roles": ["registrar"],
                      "vcardArray": ["vcard", [["fn", {}, "text", "Example Registrar"]]],
                      "entities": [{"objectClassName": "entity", "roles": ["abuse"],
                                    "vcardArray": ["vcard", [["email", {}, "text", REGISTRAR_ABUSE]]]}]}],
    }


@dataclass
class WebServer:
    """RDAP answers and plain files on 127.0.0.1; `requests` lists the paths asked for."""

    domains: tuple[str, ...] = ()
    files: dict[str, bytes] = field(default_factory=dict)
    ip_record: dict = field(default_factory=network)
    ip_records: dict[str, dict] = field(default_factory=dict)
    requests: list[str] = field(default_factory=list)

    def __enter__(self) -> Self:
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                owner.requests.append(self.path)
                if self.path.startswith("/ip/"):
                    record = owner.ip_records.get(self.path[4:], owner.ip_record)
                    self._send(200, json.dumps(record).encode(), "application/rdap+json")
                elif self.path.startswith("/domain/") and self.path[8:] in owner.domains:
                    self._send(200, json.dumps(domain(self.path[8:])).encode(), "application/rdap+json")
                elif self.path in owner.files:
                    self._send(200, owner.files[self.path], "text/plain")
                else:
                    self._send(404, b'{"errorCode": 404}', "application/rdap+json")

            def _send(self, status: int, body: bytes, kind: str):
                self.send_response(status)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/"
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class _Keep:
    def __init__(self, refuse: set[str], delay: float = 0.0):
        self.messages: list[tuple[str, list[str], EmailMessage]] = []
        self.encrypted: list[bool] = []
        self.refuse = refuse
        self.delay = delay

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address in self.refuse:
            return "550 5.1.1 mailbox unavailable"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        await asyncio.sleep(self.delay)
        message = message_from_bytes(envelope.content, policy=policy.default)
        self.messages.append((envelope.mail_from, list(envelope.rcpt_tos), message))
        self.encrypted.append(session.ssl is not None)
        return f"250 2.0.0 queued as Q{len(self.messages)}"


def self_signed(folder: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 signed by its own key (cert.pem, key.pem): the CA a test trusts."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "copyhound test relay")])
    now = datetime.now(UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - timedelta(minutes=5))
            .not_valid_after(now + timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
            .sign(key, hashes.SHA256()))
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


class SmtpServer:
    """aiosmtpd on loopback requiring USER/PASSWORD; `messages` are (from, recipients, message).

    With `certificate` (cert, key) it requires STARTTLS before anything else, as a real relay does;
    with `delay` it takes that many seconds over each message, as a busy relay does.
    """

    USER, PASSWORD = "copyhound", "s3cret"

    def __init__(self, refuse: set[str] | None = None, certificate: tuple[Path, Path] | None = None,
                 delay: float = 0.0):
        self.handler = _Keep(refuse or set(), delay)
        self.certificate = certificate

    def _auth(self, server, session, envelope, mechanism, data):
        ok = isinstance(data, LoginPassword) and (data.login, data.password) == (self.USER.encode(), self.PASSWORD.encode())
        return AuthResult(success=ok)

    def __enter__(self) -> Self:
        self.port = _free_port()
        if self.certificate:
            tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            tls.load_cert_chain(*self.certificate)
            secure = {"tls_context": tls, "require_starttls": True}
        else:
            secure = {"auth_require_tls": False}
        self.controller = Controller(self.handler, hostname="127.0.0.1", port=self.port, authenticator=self._auth,
                                     auth_required=True, **secure)
        self.controller.start()
        return self

    def __exit__(self, *exc) -> None:
        self.controller.stop()

    @property
    def messages(self):
        return self.handler.messages
