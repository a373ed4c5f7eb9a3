"""Real servers on 127.0.0.1 for the enforcement tests: an RDAP service (and a site), and SMTP.

The RDAP server answers `/ip/ADDRESS` with a network whose abuse contact is NETWORK_ABUSE and
`/domain/NAME` (for the names in `domains`) with a registrar whose abuse contact is nested one
level down, as registries do; any path in `files` is served as given (security.txt). The SMTP
server is aiosmtpd with AUTH LOGIN/PLAIN over the plain connection, keeping what it received.
"""

from __future__ import annotations

import json
import socket
import threading
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Self

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

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
    requests: list[str] = field(default_factory=list)

    def __enter__(self) -> Self:
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                owner.requests.append(self.path)
                if self.path.startswith("/ip/"):
                    self._send(200, json.dumps(owner.ip_record).encode(), "application/rdap+json")
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
    def __init__(self, refuse: set[str]):
        self.messages: list[tuple[str, list[str], EmailMessage]] = []
        self.refuse = refuse

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address in self.refuse:
            return "550 5.1.1 mailbox unavailable"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        message = message_from_bytes(envelope.content, policy=policy.default)
        self.messages.append((envelope.mail_from, list(envelope.rcpt_tos), message))
        return f"250 2.0.0 queued as Q{len(self.messages)}"


class SmtpServer:
    """aiosmtpd on loopback requiring USER/PASSWORD; `messages` are (from, recipients, message)."""

    USER, PASSWORD = "copyhound", "s3cret"

    def __init__(self, refuse: set[str] | None = None):
        self.handler = _Keep(refuse or set())

    def _auth(self, server, session, envelope, mechanism, data):
        ok = isinstance(data, LoginPassword) and (data.login, data.password) == (self.USER.encode(), self.PASSWORD.encode())
        return AuthResult(success=ok)

    def __enter__(self) -> Self:
        self.port = _free_port()
        self.controller = Controller(self.handler, hostname="127.0.0.1", port=self.port, authenticator=self._auth,
                                     auth_required=True, auth_require_tls=False)
        self.controller.start()
        return self

    def __exit__(self, *exc) -> None:
        self.controller.stop()

    @property
    def messages(self):
        return self.handler.messages
