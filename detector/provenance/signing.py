"""The workspace's Ed25519 signing key: made once at `init`, used to sign evidence bundles.

The private key never leaves `keys/` (file mode 0600, unencrypted PEM: the workspace folder is
the trust boundary, as for the database). Verification needs only the public key, which every
bundle carries; a third party compares its SHA-256 fingerprint with the one the rights holder
publishes, because a signature alone only proves that *someone* holding that key signed.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from detector.errors import UsageError
from detector.suggest import command
from detector.workspace import Workspace

PRIVATE_KEY_FILE = "signing-ed25519.pem"
PUBLIC_KEY_FILE = "signing-ed25519.pub.pem"


def ensure_keypair(ws: Workspace) -> bytes:
    """Create the workspace's key pair unless it exists; return the public key as PEM bytes.

    Safe to call on every `init`: an existing key is kept (re-keying would orphan every bundle
    signed so far). The private key file is created with mode 0600 from the start, never chmod-ed
    after being written.
    """
    private_path, public_path = _paths(ws)
    if not private_path.exists():
        ws.keys_dir.mkdir(parents=True, exist_ok=True)
        key = Ed25519PrivateKey.generate()
        pem = key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        fd = os.open(private_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as out:
            out.write(pem)
    public_pem = public_key_pem(_load_private(private_path).public_key())
    if not public_path.exists() or public_path.read_bytes() != public_pem:
        public_path.write_bytes(public_pem)
    return public_pem


def public_key(ws: Workspace) -> bytes:
    """The workspace's public key (PEM); UsageError when the workspace has no key pair yet."""
    private_path, _ = _paths(ws)
    if not private_path.exists():
        raise UsageError(
            f"No signing key at {private_path}. Create it with `{command('init', '--home', ws.home)}` "
            "(an existing workspace and its config are kept)."
        )
    return public_key_pem(_load_private(private_path).public_key())


def sign(ws: Workspace, data: bytes) -> tuple[bytes, bytes]:
    """Sign `data` with the workspace key; returns (64-byte signature, public key PEM)."""
    private_path, _ = _paths(ws)
    if not private_path.exists():
        raise UsageError(
            f"No signing key at {private_path}. Create it with `{command('init', '--home', ws.home)}` "
            "(an existing workspace and its config are kept)."
        )
    key = _load_private(private_path)
    return key.sign(data), public_key_pem(key.public_key())


def verify(public_pem: bytes, data: bytes, signature: bytes) -> bool:
    """True when `signature` is a valid Ed25519 signature of `data` by the key in `public_pem`."""
    try:
        key = serialization.load_pem_public_key(public_pem)
    except ValueError:
        return False
    if not isinstance(key, Ed25519PublicKey):
        return False
    try:
        key.verify(signature, data)
    except InvalidSignature:
        return False
    return True


def public_key_pem(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


def fingerprint(public_pem: bytes) -> str:
    """SHA-256 of the raw 32-byte public key, hex: what a rights holder publishes to be checked against.

    Raises ValueError when `public_pem` holds no Ed25519 public key.
    """
    key = serialization.load_pem_public_key(public_pem)
    if not isinstance(key, Ed25519PublicKey):
        raise ValueError(f"not an Ed25519 public key: {type(key).__name__}")  # noqa: TRY004 (callers catch ValueError for any bad key)
    raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()


def _paths(ws: Workspace) -> tuple[Path, Path]:
    return ws.keys_dir / PRIVATE_KEY_FILE, ws.keys_dir / PUBLIC_KEY_FILE


def _load_private(path: Path) -> Ed25519PrivateKey:
    key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise UsageError(f"{path} holds a {type(key).__name__}, not an Ed25519 key; move it away and run "
                         "`copyhound init` to make a new one.")
    return key
