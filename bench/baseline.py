"""The raw limit a write route is compared with: FastAPI + asyncpg and nothing else.

One uvicorn worker with uvloop, one pool of ten connections, like an iopnet API.
Its one route takes a referral-shaped body and, in one transaction, does what a
write of iopnet's must at the least: insert an event row and an outbox row,
upsert a read-model row and send a NOTIFY. No keys, no audit, no aggregate:
what is left of a request's cost is the framework, the driver and Postgres.

``python -m bench.baseline DSN PORT`` serves it (``make bench`` starts it).
"""

from __future__ import annotations

import asyncio
import json
import sys
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import date
from typing import Any

import asyncpg
import uvicorn
from fastapi import FastAPI, Request
from pydantic import BaseModel

SCHEMA = """
CREATE TABLE IF NOT EXISTS events (
    global_position bigserial PRIMARY KEY, event_id uuid NOT NULL UNIQUE,
    stream_id text NOT NULL, event_type text NOT NULL, envelope jsonb NOT NULL,
    recorded_at timestamptz NOT NULL DEFAULT now());
CREATE TABLE IF NOT EXISTS outbox (
    position bigserial PRIMARY KEY, topic text NOT NULL, envelope jsonb NOT NULL,
    enqueued_at timestamptz NOT NULL DEFAULT now());
CREATE TABLE IF NOT EXISTS patients (
    patient_id uuid PRIMARY KEY, source text NOT NULL, status text NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now());
"""
PATH = "/v1/referrals"


class Person(BaseModel):
    given_name: str
    family_name: str
    birth_date: date


class Referral(BaseModel):
    source: str
    patient: Person


def create_app(dsn: str) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.pool = await asyncpg.create_pool(dsn, min_size=1, max_size=10)
        try:
            yield
        finally:
            await app.state.pool.close()

    app = FastAPI(lifespan=lifespan)

    @app.post(PATH, status_code=201)
    async def refer(body: Referral, request: Request) -> dict[str, Any]:
        patient_id, event_id = uuid.uuid4(), uuid.uuid4()
        envelope = json.dumps({"id": str(event_id), "type": "PatientReferred",
                               "data": body.model_dump(mode="json")})
        pool: asyncpg.Pool = request.app.state.pool
        async with pool.acquire() as conn, conn.transaction():
            await conn.execute(
                "INSERT INTO events (event_id, stream_id, event_type, envelope)"
                " VALUES ($1, $2, 'PatientReferred', $3::jsonb)",
                event_id, f"patient-{patient_id}", envelope)
            await conn.execute("INSERT INTO outbox (topic, envelope) VALUES ($1, $2::jsonb)",
                               "bench.events", envelope)
            await conn.execute(
                "INSERT INTO patients (patient_id, source, status) VALUES ($1, $2, 'referred')"
                " ON CONFLICT (patient_id) DO UPDATE SET status = excluded.status,"
                " updated_at = now()", patient_id, body.source)
            await conn.execute("SELECT pg_notify('outbox_bench', '')")
        return {"patient_id": str(patient_id), "status": "referred"}

    return app


async def create_schema(dsn: str) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(SCHEMA)
    finally:
        await conn.close()


def serve(dsn: str, port: int) -> None:
    asyncio.run(create_schema(dsn))
    uvicorn.run(create_app(dsn), host="127.0.0.1", port=port, loop="uvloop",
                log_config=None, access_log=False, timeout_keep_alive=75)  # as iopnet's


if __name__ == "__main__":
    serve(sys.argv[1], int(sys.argv[2]))
