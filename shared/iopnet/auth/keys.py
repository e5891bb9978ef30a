"""API key material: how keys look, how they are made, how a presented key is checked.

A key reads ``iop_<key id>.<secret>``. The key id (12 hex digits) is public:
it finds the key's record and names it in audit trails. The secret (256
random bits) is shown once and stored only as its SHA-256; a slow hash adds
nothing for a secret that cannot be guessed. Digests are compared in
constant time.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass

PREFIX = "iop_"
_SHAPE = re.compile(r"iop_([0-9a-f]{12})\.([A-Za-z0-9_-]{43})")


@dataclass(frozen=True)
class PresentedKey:
    key_id: str
    secret: str


@dataclass(frozen=True)
class NewKey:
    key_id: str
    secret_sha256: str
    plaintext: str


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def new_key() -> NewKey:
    key_id, secret = secrets.token_hex(6), secrets.token_urlsafe(32)
    return NewKey(key_id, digest(secret), f"{PREFIX}{key_id}.{secret}")


def parse(presented: str) -> PresentedKey | None:
    """The key's parts, or None for anything not shaped like a key (no partial matches)."""
    match = _SHAPE.fullmatch(presented)
    return PresentedKey(match[1], match[2]) if match else None


def secret_matches(secret: str, secret_sha256: str) -> bool:
    return hmac.compare_digest(digest(secret), secret_sha256)
