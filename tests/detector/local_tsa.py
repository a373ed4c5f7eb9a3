"""A real RFC 3161 time-stamping authority on 127.0.0.1: `openssl ts -reply` behind a small HTTP handler.

The TSA key and its self-signed certificate (extendedKeyUsage critical timeStamping, as RFC 3161
requires) are made with the openssl command line in a temporary folder; every request is answered
by the openssl binary itself, so tokens are exactly what a standard TSA produces.
"""

from __future__ import annotations

import subprocess
import tempfile
import threading
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

_CONFIG = """
[ tsa ]
default_tsa = tsa_config
[ tsa_config ]
serial = {folder}/serial
signer_cert = {folder}/tsa.pem
signer_key = {folder}/tsa.key
signer_digest = sha256
default_policy = 1.2.3.4.1
digests = sha256, sha384, sha512
accuracy = secs:1
ordering = no
tsa_name = no
ess_cert_id_chain = no
ess_cert_id_alg = sha256
crypto_device = builtin
"""


def make_tsa_identity(folder: Path) -> Path:
    """Create the TSA's key, certificate and openssl ts configuration; returns the certificate (PEM)."""
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                    "-keyout", str(folder / "tsa.key"), "-out", str(folder / "tsa.pem"), "-days", "30",
                    "-subj", "/CN=copyhound test TSA",
                    "-addext", "extendedKeyUsage=critical,timeStamping",
                    "-addext", "keyUsage=critical,digitalSignature"], check=True, capture_output=True)
    (folder / "serial").write_text("01\n")
    (folder / "tsa.cnf").write_text(_CONFIG.format(folder=folder))
    return folder / "tsa.pem"


class _Handler(BaseHTTPRequestHandler):
    folder: Path

    def do_POST(self):
        query = self.rfile.read(int(self.headers["Content-Length"]))
        with tempfile.TemporaryDirectory() as tmp:
            (Path(tmp) / "q.tsq").write_bytes(query)
            done = subprocess.run(["openssl", "ts", "-reply", "-config", str(self.folder / "tsa.cnf"),
                                   "-queryfile", f"{tmp}/q.tsq", "-out", f"{tmp}/r.tsr"], capture_output=True,
                                  check=False)
            reply = (Path(tmp) / "r.tsr").read_bytes() if done.returncode == 0 else b""
        self.send_response(200 if reply else 400)
        self.send_header("Content-Type", "application/timestamp-reply")
        self.send_header("Content-Length", str(len(reply)))
        self.end_headers()
        self.wfile.write(reply)

    def log_message(self, *args):
        pass


@contextmanager
def local_tsa(folder: Path):
    """Serve a TSA from `folder`; yields (url, certificate path)."""
    folder.mkdir(parents=True, exist_ok=True)
    cert = make_tsa_identity(folder)
    handler = type("TsaHandler", (_Handler,), {"folder": folder})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/tsr", cert
    finally:
        server.shutdown()
        server.server_close()
