"""``iopctl dead-letters list|show|redrive|discard``: what a consumer could not apply.

``redrive`` applies a dead letter again through the service's own consumer
projection (``Projection.apply``: inbox row, projectors, reactions, as the
consumer would have), then the records parked behind it, in offset order.
``discard`` gives it up, with a reason, and applies what was parked behind it.
Both record who, when and why on the dead letter; resolved ones are purged by
the worker after ``iopnet.retention.RESOLVED_DEAD_LETTERS_KEPT``.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import json
import os
from collections.abc import Sequence

from iopctl import postgres
from iopctl.stack import spec_of
from iopnet.db import Connection, connect
from iopnet.dead_letters import NotOpen, Outcome, Resolution, Resolver
from iopnet.provenance import check_provenance
from iopnet.topics import SERVICES

#: Dead letters resolved in one transaction.
RESOLVED_TOGETHER = 100
_LIST = (
    "SELECT d.id, d.topic, d.partition, d.\"offset\", d.record_key, d.event_type, d.failed_at,"
    " d.resolution, (SELECT count(*) FROM parked_records p WHERE p.dead_letter_id = d.id)"
    " AS parked FROM dead_letters d WHERE $1 OR d.resolved_at IS NULL ORDER BY d.id"
)


def resolver_of(service: str) -> Resolver:
    projection = spec_of(service).consumer_projection()
    if projection is None:
        raise SystemExit(f"iopctl: {service} consumes nothing: it has no dead letters")
    return Resolver(projection, check_provenance)


async def _list(conn: Connection, everything: bool) -> None:
    rows = await conn.fetch(_LIST, everything)
    for row in rows:
        status = row["resolution"] or f"open, {row['parked']} parked behind"
        print(f"{row['id']:>6}  {row['topic']}[{row['partition']}]@{row['offset']}"
              f"  {row['event_type'] or '?'}  key={row['record_key']}"
              f"  {row['failed_at']:%Y-%m-%d %H:%M:%S}  {status}")
    if not rows:
        print("no dead letters" if everything else "no open dead letters")


async def _show(conn: Connection, dead_letter_id: int) -> int:
    row = await conn.fetchrow("SELECT * FROM dead_letters WHERE id = $1", dead_letter_id)
    if row is None:
        print(f"iopctl: no dead letter {dead_letter_id}")
        return 1
    shown = {key: value for key, value in row.items() if key != "value"}
    raw = bytes(row["value"])
    try:
        shown["value"] = json.loads(raw)
    except ValueError:
        shown["value"] = repr(raw)
    shown["parked_behind"] = [dict(r) for r in await conn.fetch(
        "SELECT id, partition, \"offset\", headers->>'ce_type' AS type, parked_at"
        " FROM parked_records WHERE dead_letter_id = $1 ORDER BY \"offset\"", dead_letter_id)]
    print(json.dumps(shown, indent=2, default=str))
    return 0


async def _open_ids(conn: Connection, ids: Sequence[int], everything: bool) -> list[int]:
    if everything:
        return [row["id"] for row in await conn.fetch(
            "SELECT id FROM dead_letters WHERE resolved_at IS NULL ORDER BY id")]
    return sorted(ids)


def _print_resolution(resolution: Resolution) -> None:
    line = f"{resolution.dead_letter_id:>6}  {resolution.outcome.value}"
    if resolution.outcome is Outcome.FAILED:
        line += f": {resolution.error}"
    else:
        line += f", {resolution.released} parked released"
    if resolution.next_dead_letter is not None:
        line += f"; a parked record failed: dead letter {resolution.next_dead_letter}"
    print(line)


async def resolve_all(conn: Connection, resolver: Resolver, ids: Sequence[int], *, by: str,
                      reason: str | None) -> list[Resolution]:
    """Redrive (no reason) or discard each dead letter, in the order given.

    ``RESOLVED_TOGETHER`` at a time in one transaction (``Resolver.redrive_all``,
    ``discard_all``): a commit each would have the database flush its log a thousand
    times for a thousand dead letters. What is printed has committed.
    """
    resolutions = []
    for first in range(0, len(ids), RESOLVED_TOGETHER):
        together = ids[first:first + RESOLVED_TOGETHER]
        if reason is None:
            done = await resolver.redrive_all(conn, together, by=by)
        else:
            done = await resolver.discard_all(conn, together, by=by, reason=reason)
        for dead_letter_id, resolution in zip(together, done, strict=True):
            if isinstance(resolution, NotOpen):
                print(f"{dead_letter_id:>6}  skipped: {resolution}")
                continue
            _print_resolution(resolution)
            resolutions.append(resolution)
    return resolutions


async def _run(args: argparse.Namespace) -> int:
    conn = await connect(args.database or postgres.dsn(args.service))
    try:
        if args.action == "list":
            await _list(conn, args.all)
            return 0
        if args.action == "show":
            return await _show(conn, args.id)
        ids = await _open_ids(conn, args.ids, getattr(args, "all", False))
        reason = args.reason if args.action == "discard" else None
        done = await resolve_all(conn, resolver_of(args.service), ids, by=args.by,
                                 reason=reason)
        return 0 if all(r.outcome is not Outcome.FAILED for r in done) else 1
    finally:
        await conn.close()


def _handler(args: argparse.Namespace) -> int:
    if args.action == "redrive" and not (args.ids or args.all):
        raise SystemExit("iopctl: redrive wants dead letter ids, or --all")
    return asyncio.run(_run(args))


def _operator() -> str:
    return os.environ.get("IOPNET_OPERATOR") or getpass.getuser()


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser("dead-letters",
                                   help="records a consumer could not apply: see, redrive, discard")
    actions = parser.add_subparsers(dest="action", required=True,
                                    metavar="{list,show,redrive,discard}")
    parsers = {
        "list": actions.add_parser("list", help="open dead letters (--all: resolved too)"),
        "show": actions.add_parser("show", help="one dead letter: error, headers, value, parked"),
        "redrive": actions.add_parser(
            "redrive", help="apply again through the consumer's projection, then what is "
                            "parked behind, in order"),
        "discard": actions.add_parser(
            "discard", help="give up (with --reason), then apply what is parked behind"),
    }
    for action, sub in parsers.items():
        sub.add_argument("service", choices=SERVICES)
        sub.add_argument("--database", metavar="DSN",
                         help="the service's database (default: the local cluster's)")
        sub.set_defaults(handler=_handler)
        if action in ("redrive", "discard"):
            sub.add_argument("ids", type=int, nargs="*" if action == "redrive" else "+",
                             metavar="ID")
            sub.add_argument("--by", default=_operator(),
                             help="who resolves (default: $IOPNET_OPERATOR or the login name)")
    parsers["list"].add_argument("--all", action="store_true", help="resolved ones too")
    parsers["show"].add_argument("id", type=int)
    parsers["redrive"].add_argument("--all", action="store_true", help="every open one, in order")
    parsers["discard"].add_argument("--reason", required=True, help="why (kept with it)")
