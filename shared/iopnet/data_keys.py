"""Per-patient data keys: personal data in events is sealed with them (crypto-shredding).

Events are never changed once recorded, so personal data in them cannot be
deleted; it is encrypted instead, with a key of the patient's own (AES-256-GCM,
from ``cryptography``). Forgetting the patient destroys the key: every copy of
those events, rebuilds and backups of the event store included, then reads as
redacted. The key row stays, emptied, so nothing seals new data for a
forgotten patient by mistake.
"""

from __future__ import annotations

import base64
import json
import os
from collections.abc import Iterable, Mapping
from typing import Any

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from iopnet.db import Connection

#: How a sealed value is stored in an event's data: ``{"$sealed": "<base64>"}``.
SEALED = "$sealed"
_NONCE_BYTES = 12


class SubjectForgotten(Exception):
    """Personal data was to be sealed for a patient who has been forgotten."""

    def __init__(self, subject_id: str) -> None:
        super().__init__(f"{subject_id} has been forgotten")
        self.subject_id = subject_id


#: A data key, or its cipher (``cipher``): sealing several fields builds it once.
Key = bytes | AESGCM


def cipher(key: Key) -> AESGCM:
    """The key's cipher (building one costs about as much as sealing a field)."""
    return key if isinstance(key, AESGCM) else AESGCM(key)


def seal(key: Key, value: Any, context: str) -> dict[str, str]:
    """Encrypt a JSON value; ``context`` (event id and field) is authenticated with it."""
    nonce = os.urandom(_NONCE_BYTES)
    plaintext = json.dumps(value, separators=(",", ":")).encode()
    sealed = cipher(key).encrypt(nonce, plaintext, context.encode())
    return {SEALED: base64.b64encode(nonce + sealed).decode()}


def unseal(key: Key, sealed: Mapping[str, str], context: str) -> Any:
    """The value ``seal`` encrypted; raises InvalidTag if it was moved or altered."""
    raw = base64.b64decode(sealed[SEALED])
    plaintext = cipher(key).decrypt(raw[:_NONCE_BYTES], raw[_NONCE_BYTES:], context.encode())
    return json.loads(plaintext)


def is_sealed(value: Any) -> bool:
    return isinstance(value, dict) and value.keys() == {SEALED}


#: The key made now, or the one this statement's snapshot sees.
_MADE_OR_KEPT = (
    "WITH made AS (INSERT INTO data_keys (subject_id, data_key) VALUES ($1, $2)"
    " ON CONFLICT (subject_id) DO NOTHING RETURNING data_key)"
    " SELECT data_key FROM made UNION ALL SELECT data_key FROM data_keys WHERE subject_id = $1"
)


async def key_for(conn: Connection, subject_id: str) -> bytes:
    """The subject's data key, made on first use; SubjectForgotten once destroyed."""
    row = await conn.fetchrow(_MADE_OR_KEPT, subject_id, AESGCM.generate_key(bit_length=256))
    if row is None:
        # Made by a transaction that committed after this statement began: read it now.
        row = await conn.fetchrow("SELECT data_key FROM data_keys WHERE subject_id = $1",
                                  subject_id)
    key: bytes | None = row["data_key"] if row is not None else None
    if key is None:
        raise SubjectForgotten(subject_id)
    return key


async def keys_of(conn: Connection, subject_ids: Iterable[str]) -> dict[str, bytes]:
    """The live keys of these subjects; a forgotten subject has none."""
    rows = await conn.fetch(
        "SELECT subject_id, data_key FROM data_keys"
        " WHERE subject_id = ANY($1::text[]) AND data_key IS NOT NULL",
        list(set(subject_ids)),
    )
    return {row["subject_id"]: row["data_key"] for row in rows}


async def destroy_key(conn: Connection, subject_id: str) -> None:
    """Forget the subject: its sealed data can never be read again, here or in a rebuild."""
    await conn.execute(
        "INSERT INTO data_keys (subject_id, data_key, forgotten_at) VALUES ($1, NULL, now())"
        " ON CONFLICT (subject_id) DO UPDATE SET data_key = NULL,"
        " forgotten_at = coalesce(data_keys.forgotten_at, now())",
        subject_id,
    )


async def is_forgotten(conn: Connection, subject_id: str) -> bool:
    return bool(await conn.fetchval(
        "SELECT forgotten_at IS NOT NULL FROM data_keys WHERE subject_id = $1", subject_id))

