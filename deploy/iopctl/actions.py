"""The shape ``iopctl <group> up|down|status`` shares: one handler per action."""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence

Handler = Callable[[argparse.Namespace], int]


def add_group(subparsers: argparse._SubParsersAction[argparse.ArgumentParser], name: str,
              help_text: str, actions: Sequence[tuple[str, Handler, str]]) -> None:
    """``iopctl <name> <action>``; each action is (name, handler, help)."""
    parser = subparsers.add_parser(name, help=help_text)
    group = parser.add_subparsers(dest="action", required=True,
                                  metavar="{" + ",".join(a[0] for a in actions) + "}")
    for action, handler, action_help in actions:
        group.add_parser(action, help=action_help).set_defaults(handler=handler)
