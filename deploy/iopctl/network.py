"""``iopctl sites|keys|patients ...``: the operator's admin API, from a shell.

They call intake's operator routes (``/v1/network``, ``/v1/patients``) with the operator key
(``IOPNET_OPERATOR_KEY``, else the one ``iopctl up`` keeps in .iopnet/) at
``IOPNET_INTAKE_URL`` (default http://127.0.0.1:8001), and print JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any

import httpx

from iopctl import paths
from iopnet.auth.guard import OPERATOR_KEY_ENV
from iopnet.catalog import Scope

DEFAULT_INTAKE_URL = "http://127.0.0.1:8001"


def _operator_key() -> str:
    if key := os.environ.get(OPERATOR_KEY_ENV):
        return key
    keyfile = paths.state_dir() / "operator.key"
    if keyfile.exists():
        return keyfile.read_text().strip()
    raise SystemExit(f"iopctl: set {OPERATOR_KEY_ENV} (or run `iopctl up` once)")


def _call(method: str, path: str, body: Any = None, params: dict[str, str] | None = None,
          *, prefix: str = "/v1/network") -> int:
    base = os.environ.get("IOPNET_INTAKE_URL", DEFAULT_INTAKE_URL)
    answer = httpx.request(method, base + prefix + path, json=body, params=params,
                           headers={"Authorization": f"Bearer {_operator_key()}"}, timeout=10)
    if answer.content:
        print(json.dumps(answer.json(), indent=2))
    if answer.is_error:
        print(f"iopctl: {method} {path} answered {answer.status_code}", file=sys.stderr)
        return 1
    return 0


def _onboard(args: argparse.Namespace) -> int:
    body = {"site_id": args.site_id, "name": args.name, "time_zone": args.time_zone,
            "policies": json.loads(args.policies)}
    return _call("POST", "/sites", body)


def _set_policies(args: argparse.Namespace) -> int:
    return _call("PUT", f"/sites/{args.site_id}/policies", json.loads(args.policies))


def _issue(args: argparse.Namespace) -> int:
    body = {"scopes": args.scope, "expires_at": args.expires_at,
            "rate_limit_per_minute": args.rate_limit}
    return _call("POST", f"/sites/{args.site_id}/keys", body)


def _forget(args: argparse.Namespace) -> int:
    body = {"reason": args.reason, "override_retention": args.override_retention}
    return _call("POST", f"/{args.patient_id}/forget", body, prefix="/v1/patients")


def register_patients(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    patients = subparsers.add_parser("patients", help="forget a patient network-wide")
    actions = patients.add_subparsers(dest="action", required=True)
    forget = actions.add_parser(
        "forget", help="erase a patient's personal data in every service (crypto-shredding)")
    forget.add_argument("patient_id")
    forget.add_argument("--reason", required=True,
                        help="why (kept with your key id); no personal data")
    forget.add_argument("--override-retention", action="store_true",
                        help="forget inside the site's retention period")
    forget.set_defaults(handler=_forget)


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    sites = subparsers.add_parser("sites", help="onboard sites and set their policies")
    site_actions = sites.add_subparsers(dest="action", required=True)
    onboard = site_actions.add_parser("onboard", help="onboard a site")
    onboard.add_argument("site_id")
    onboard.add_argument("--name", required=True)
    onboard.add_argument("--time-zone", required=True, help="IANA, e.g. America/Chicago")
    onboard.add_argument("--policies", default="{}", help="JSON; omitted fields keep defaults")
    onboard.set_defaults(handler=_onboard)
    policies = site_actions.add_parser("policies", help="replace a site's policies")
    policies.add_argument("site_id")
    policies.add_argument("policies", help="JSON; omitted fields take the defaults")
    policies.set_defaults(handler=_set_policies)
    site_actions.add_parser("list").set_defaults(handler=lambda _: _call("GET", "/sites"))

    keys = subparsers.add_parser("keys", help="issue, rotate, revoke and list API keys")
    key_actions = keys.add_subparsers(dest="action", required=True)
    issue = key_actions.add_parser("issue", help="issue a key (its secret is printed once)")
    issue.add_argument("site_id")
    issue.add_argument("--scope", action="append", required=True,
                       choices=[s.value for s in Scope if s is not Scope.OPERATOR])
    issue.add_argument("--expires-at", help="ISO 8601 date-time")
    issue.add_argument("--rate-limit", type=int, default=600, help="requests per minute")
    issue.set_defaults(handler=_issue)
    for action, help_text in (("rotate", "issue a successor; the old key works until revoked"),
                              ("revoke", "stop a key everywhere")):
        parser = key_actions.add_parser(action, help=help_text)
        parser.add_argument("key_id")
        parser.set_defaults(handler=lambda a, verb=action: _call(
            "POST", f"/keys/{a.key_id}/{verb}", {} if verb == "rotate" else None))
    listing = key_actions.add_parser("list")
    listing.add_argument("--site")
    listing.set_defaults(handler=lambda a: _call(
        "GET", "/keys", params={"site_id": a.site} if a.site else None))
    register_patients(subparsers)
