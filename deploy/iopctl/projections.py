"""``iopctl projections rebuild SERVICE [TABLE ...] [--check]``: derived tables from events.

The service keeps running: the rebuild writes shadow tables and swaps their rows
in at the end, in one transaction (``iopnet.rebuild``). ``--check`` swaps
nothing and says, per table, how the live rows differ from the rebuilt ones.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time

from iopctl import postgres
from iopctl.stack import spec_of
from iopnet.rebuild import Outcome, Progress, describe, rebuild
from iopnet.topics import SERVICES


class _Ticker:
    """Progress on stderr, at most a few times a second."""

    def __init__(self, service: str) -> None:
        self.service = service
        self.last = 0.0

    def __call__(self, progress: Progress) -> None:
        if time.monotonic() - self.last >= 0.5:
            self.last = time.monotonic()
            print(f"\r{self.service}: {describe(progress)}", end="", file=sys.stderr,
                  flush=True)


def print_outcome(service: str, outcome: Outcome, *, check: bool) -> None:
    print(f"\r{service}: {describe(outcome.progress)}", file=sys.stderr)
    if outcome.progress.unreplayable:
        print(f"{service}: {outcome.progress.unreplayable} consumed events recorded before"
              " migration 007 have no envelope in the inbox and were not replayed")
    for table, (lacking, extra) in outcome.differences.items():
        verdict = "identical" if (lacking, extra) == (0, 0) else (
            f"{lacking} live rows not rebuilt, {extra} rebuilt rows not live")
        swapped = "  swapped in" if table in outcome.swapped else ""
        print(f"  {table:<28} {verdict}{swapped}")
    if check:
        print(f"{service}: checked only, nothing swapped")


def _rebuild(args: argparse.Namespace) -> int:
    spec = spec_of(args.service)
    sources = spec.rebuild_sources()
    unknown = set(args.tables) - set(sources.tables)
    if unknown:
        raise SystemExit(f"iopctl: not derived tables of {args.service}: {sorted(unknown)};"
                         f" they are {', '.join(sources.tables)}")
    if spec.project_own is None:  # its own events' tables would come back empty
        raise SystemExit(f"iopctl: {args.service} does not declare the projection of its own"
                         " events (ServiceSpec.project_own) yet: it cannot be rebuilt")
    outcome = asyncio.run(rebuild(args.database or postgres.dsn(args.service), sources,
                                  swap=args.tables or None, check_only=args.check,
                                  on_progress=_Ticker(args.service)))
    print_outcome(args.service, outcome, check=args.check)
    differs = any(d != (0, 0) for d in outcome.differences.values())
    return 1 if args.check and differs else 0


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser("projections", help="a service's derived tables")
    actions = parser.add_subparsers(dest="action", required=True, metavar="{rebuild}")
    rebuild_parser = actions.add_parser(
        "rebuild", help="rebuild derived tables from the service's own events and its inbox "
                        "of consumed events, into shadow tables swapped in at the end")
    rebuild_parser.add_argument("service", choices=SERVICES)
    rebuild_parser.add_argument(
        "tables", nargs="*", metavar="TABLE",
        help="swap in only these (all derived tables are built; default: all swapped)")
    rebuild_parser.add_argument("--database", metavar="DSN",
                                help="the service's database (default: the local cluster's)")
    rebuild_parser.add_argument(
        "--check", action="store_true",
        help="swap nothing: compare the rebuilt rows with the live ones; exit 1 if they differ")
    rebuild_parser.set_defaults(handler=_rebuild)
