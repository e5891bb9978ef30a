"""Mutation testing (``make mutation``): do the tests notice when the rules change?

mutmut (a dev dependency) changes one thing at a time in the code that guards what
the system promises, the domain rules, ``iopnet.auth``, the outbox relay, the
consumer runner and idempotency, and runs the tests that reach the changed
function; a mutant no test notices "survives". Slow, so never part of
``make test`` or CI; docs/testing.md records the last score.

mutmut names modules after their files' paths, while ``shared/iopnet`` is imported
as ``iopnet``: the run happens in ``.iopnet/mutation/``, where ``iopnet``,
``services`` and ``tests`` link to the checkout's folders and ``pyproject.toml``
is the checkout's with the ``[tool.mutmut]`` table below. mutmut keeps its
results there (``mutants/``) and later runs retest only what changed.

    python -m iopctl.mutation run [--only GLOB ...] [--tests PATH ...] [--max-children N] [NAME ...]
    python -m iopctl.mutation results      # the surviving mutants, the score
    python -m iopctl.mutation show NAME    # one mutant's diff

The integration tests among ``--tests`` need Postgres and Kafka like any test run:
``IOPNET_TEST_PG_DSN`` and ``IOPNET_TEST_KAFKA_BOOTSTRAP`` for servers already
running, or the ones ``iopctl infra up`` runs.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

from iopctl import paths
from iopctl.progress import say

COMPONENT = "mutation"
#: The modules mutated, as mutmut sees them from the run's folder.
MUTATED = (
    "services/*/domain/*",
    "iopnet/auth/*",
    "iopnet/relay.py",
    "iopnet/consumer.py",
    "iopnet/idempotency.py",
)
#: The tests that reach them: the domain's unit tests, and the mechanisms' integration
#: tests (real Postgres and Kafka).
TESTS = (
    "tests/unit",
    "tests/integration/test_authentication.py",
    "tests/integration/test_rate_limits.py",
    "tests/integration/test_row_security.py",
    "tests/integration/test_relay.py",
    "tests/integration/test_consumer.py",
    "tests/integration/test_consumer_crash.py",
    "tests/integration/test_idempotency.py",
)
#: Linked into the run's folder under these names (mutmut copies them into mutants/).
LINKS = {"iopnet": "shared/iopnet", "services": "services", "tests": "tests"}
#: Read by tests from the checkout's root (docs/architecture.md), never mutated.
ALSO_COPIED = {"docs": "docs"}


def run_dir() -> Path:
    return paths.state_dir() / "mutation"


def mutmut() -> str:
    found = shutil.which("mutmut", path=str(Path(sys.executable).parent))
    if found is None:
        raise SystemExit("mutation: mutmut is missing from the virtual environment "
                         "(a dev dependency: `uv sync`)")
    return found


def mutmut_table(only: Sequence[str], tests: Sequence[str]) -> str:
    def toml_list(items: Sequence[str]) -> str:
        return "[" + ", ".join(json.dumps(item) for item in items) + "]"

    return (
        "\n[tool.mutmut]\n"
        f"source_paths = {toml_list(sorted(LINKS))}\n"
        f"only_mutate = {toml_list(only)}\n"
        f"pytest_add_cli_args_test_selection = {toml_list(tests)}\n"
        f"also_copy = {toml_list(sorted(ALSO_COPIED))}\n"
        'pytest_add_cli_args = ["-p", "no:cacheprovider"]\n'
    )


def prepare(only: Sequence[str], tests: Sequence[str]) -> Path:
    """The run's folder, linked to the checkout and configured for this selection."""
    folder = run_dir()
    folder.mkdir(parents=True, exist_ok=True)
    for name, target in (LINKS | ALSO_COPIED).items():
        link = folder / name
        if not link.is_symlink():
            link.symlink_to(paths.REPO_ROOT / target, target_is_directory=True)
    config = folder / "pyproject.toml"
    wanted = (paths.REPO_ROOT / "pyproject.toml").read_text() + mutmut_table(only, tests)
    if config.exists() and config.read_text() != wanted:
        # mutmut keeps the files it copied before: another selection starts afresh.
        say(COMPONENT, "the selection or the project changed: the earlier results go")
        shutil.rmtree(folder / "mutants", ignore_errors=True)
    # mutmut copies a file it does not mutate only once: a test edited since the last run
    # would be run as it was. The tests are never mutated, so they are copied afresh.
    shutil.rmtree(folder / "mutants" / "tests", ignore_errors=True)
    config.write_text(wanted)
    return folder


def run(only: Sequence[str], tests: Sequence[str], max_children: int | None,
        names: Sequence[str] = ()) -> int:
    folder = prepare(only, tests)
    say(COMPONENT, f"mutating {', '.join(only)}; tests: {' '.join(tests)} (in {folder})")
    children = ["--max-children", str(max_children)] if max_children else []
    done = subprocess.run([mutmut(), "run", *children, *names], cwd=folder, check=False)
    if done.returncode != 0:
        return done.returncode
    return score()


def score() -> int:
    """Print the survivors and the score of the last run."""
    folder = run_dir()
    subprocess.run([mutmut(), "export-cicd-stats"], cwd=folder, check=True,
                   stdout=subprocess.DEVNULL)
    stats = json.loads((folder / "mutants" / "mutmut-cicd-stats.json").read_text())
    subprocess.run([mutmut(), "results"], cwd=folder, check=False)
    killed, survived = stats["killed"], stats["survived"]
    judged = killed + survived
    print(f"mutation score: {killed}/{judged} killed"
          f" ({100 * killed / judged if judged else 0:.1f}%); other outcomes: "
          + ", ".join(f"{k} {v}" for k, v in sorted(stats.items())
                      if k not in ("killed", "survived", "total")), flush=True)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m iopctl.mutation", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    running = commands.add_parser("run", help="mutate and test (resumes an earlier run)")
    running.add_argument("--only", nargs="+", default=list(MUTATED), metavar="GLOB",
                         help="files to mutate, as seen from the run's folder "
                              "(iopnet/... for shared/iopnet/...)")
    running.add_argument("--tests", nargs="+", default=list(TESTS), metavar="PATH")
    running.add_argument("--max-children", type=int, default=None)
    running.add_argument("names", nargs="*", metavar="NAME",
                         help="only these mutants (globs: 'iopnet.auth.keys.*'), say to retest "
                              "survivors after a test was added")
    commands.add_parser("results", help="the surviving mutants and the score")
    showing = commands.add_parser("show", help="one mutant's change")
    showing.add_argument("name")
    args = parser.parse_args(argv)
    if args.command == "run":
        return run(args.only, args.tests, args.max_children, args.names)
    if args.command == "results":
        return score()
    return subprocess.run([mutmut(), "show", args.name], cwd=run_dir(), check=False).returncode


if __name__ == "__main__":
    sys.exit(main())
