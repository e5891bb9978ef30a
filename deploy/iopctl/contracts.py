"""``iopctl contracts generate|check|release``: the event contracts under ``contracts/``.

``generate`` writes what ``iopnet.contracts`` derives from the catalog
(``asyncapi.json``, ``schemas/<EventType>.v<N>.json``) and removes schema files
no event has any more. ``check`` says whether the committed files are current
and whether the catalog breaks the newest release. ``release`` keeps the current
contract as ``releases/<version>/``, the baseline later changes are checked
against.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

from iopctl.actions import add_group
from iopctl.paths import REPO_ROOT
from iopnet.catalog.upcasting import UPCASTERS
from iopnet.contract_compatibility import VersionedSchema, breaking_changes
from iopnet.contracts import VERSION, contract_files, current_schemas, versioned_schema

CONTRACTS_DIR = REPO_ROOT / "contracts"
RELEASES = "releases"
SCHEMAS = "schemas"


def generate(folder: Path = CONTRACTS_DIR) -> list[str]:
    """Write the generated files; the relative paths written or removed."""
    changed = []
    for relative, text in contract_files().items():
        path = folder / relative
        if not path.exists() or path.read_text() != text:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
            changed.append(relative)
    for relative in _extra_files(folder):
        (folder / relative).unlink()
        changed.append(relative)
    return changed


def stale_files(folder: Path = CONTRACTS_DIR) -> list[str]:
    """Generated files missing or different on disk, and files no longer generated."""
    differing = [relative for relative, text in contract_files().items()
                 if not (folder / relative).exists() or (folder / relative).read_text() != text]
    return differing + _extra_files(folder)


def _extra_files(folder: Path) -> list[str]:
    wanted = contract_files()
    return [relative for path in sorted((folder / SCHEMAS).glob("*.json"))
            if (relative := path.relative_to(folder).as_posix()) not in wanted]


def release_versions(folder: Path = CONTRACTS_DIR) -> list[str]:
    """The released contract versions, oldest first."""
    releases = folder / RELEASES
    names = [p.name for p in releases.iterdir() if p.is_dir() and _is_version(p.name)
             ] if releases.exists() else []
    return sorted(names, key=lambda name: tuple(int(part) for part in name.split(".")))


def _is_version(name: str) -> bool:
    """Whether a folder name is a release (1.0.0), not a leftover of an interrupted one."""
    return all(part.isdigit() for part in name.split("."))


def released_schemas(release: Path) -> dict[str, VersionedSchema]:
    """A release's event schemas, by event type."""
    return dict(versioned_schema(json.loads(path.read_text()))
                for path in sorted((release / SCHEMAS).glob("*.json")))


def breaking_changes_since_newest_release(folder: Path = CONTRACTS_DIR) -> list[str]:
    versions = release_versions(folder)
    if not versions:
        return []
    return breaking_changes(released_schemas(folder / RELEASES / versions[-1]),
                            current_schemas(), UPCASTERS.keys())


def release(folder: Path = CONTRACTS_DIR) -> Path:
    """Keep the generated contract as ``releases/<VERSION>/``; refuses to overwrite one."""
    target = folder / RELEASES / VERSION
    if target.exists():
        raise FileExistsError(f"{target} exists: raise iopnet.contracts.VERSION first")
    staging = target.with_name(f".{VERSION}.partial")
    shutil.rmtree(staging, ignore_errors=True)
    for relative, text in contract_files().items():
        (staging / relative).parent.mkdir(parents=True, exist_ok=True)
        (staging / relative).write_text(text)
    staging.rename(target)
    return target


def _generate(_: argparse.Namespace) -> int:
    changed = generate()
    print("\n".join(f"wrote {CONTRACTS_DIR.name}/{p}" for p in changed) or "contracts are current")
    return 0


def _check(_: argparse.Namespace) -> int:
    stale = stale_files()
    for relative in stale:
        print(f"stale: {CONTRACTS_DIR.name}/{relative} (run `iopctl contracts generate`)",
              file=sys.stderr)
    breaking = breaking_changes_since_newest_release()
    for reason in breaking:
        print(f"breaking: {reason}", file=sys.stderr)
    if not stale and not breaking:
        versions = release_versions()
        baseline = f"release {versions[-1]}" if versions else "no release yet"
        print(f"contracts are current; nothing breaks {baseline}")
    return 1 if stale or breaking else 0


def _release(_: argparse.Namespace) -> int:
    if stale_files():
        print("iopctl: run `iopctl contracts generate` (and commit) first", file=sys.stderr)
        return 1
    try:
        print(f"released {release().relative_to(REPO_ROOT)}")
    except FileExistsError as exists:
        print(f"iopctl: {exists}", file=sys.stderr)
        return 1
    return 0


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    add_group(subparsers, "contracts", "the event contracts (AsyncAPI, JSON Schema)", (
        ("generate", _generate, "write contracts/ from the event catalog"),
        ("check", _check, "fail when contracts/ is stale or breaks the newest release"),
        ("release", _release, f"keep the current contract as releases/{VERSION}/"),
    ))
