"""``iopctl contracts``: generating, releasing and checking against a release, on files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from iopctl import contracts
from iopctl.cli import main
from iopnet.contracts import VERSION

pytestmark = pytest.mark.unit


def test_generate_writes_the_contract_and_removes_what_no_event_has(tmp_path: Path) -> None:
    (tmp_path / "schemas").mkdir()
    (tmp_path / "schemas" / "Retired.v1.json").write_text("{}")
    written = contracts.generate(tmp_path)
    assert "asyncapi.json" in written and "schemas/SessionScheduled.v1.json" in written
    assert "schemas/Retired.v1.json" in written and not (tmp_path / "schemas/Retired.v1.json"
                                                         ).exists()
    assert contracts.generate(tmp_path) == [] and contracts.stale_files(tmp_path) == []
    (tmp_path / "asyncapi.json").write_text("{}")
    assert contracts.stale_files(tmp_path) == ["asyncapi.json"]


def test_a_release_is_the_baseline_the_catalog_is_checked_against(tmp_path: Path) -> None:
    contracts.generate(tmp_path)
    release = contracts.release(tmp_path)
    assert release == tmp_path / "releases" / VERSION
    assert (release / "asyncapi.json").read_text() == (tmp_path / "asyncapi.json").read_text()
    with pytest.raises(FileExistsError, match=r"raise iopnet\.contracts\.VERSION"):
        contracts.release(tmp_path)
    (tmp_path / "releases" / ".9.9.9.partial").mkdir()  # an interrupted release
    assert contracts.release_versions(tmp_path) == [VERSION]
    assert contracts.breaking_changes_since_newest_release(tmp_path) == []

    released = release / "schemas" / "SessionScheduled.v1.json"
    schema = json.loads(released.read_text())
    schema["properties"]["ward"] = {"type": "string"}  # a field the catalog no longer has
    released.write_text(json.dumps(schema))
    assert contracts.breaking_changes_since_newest_release(tmp_path) == [
        "iopnet.SessionScheduled v1: field ward removed"]


def test_check_answers_zero_on_the_committed_contracts(capsys: pytest.CaptureFixture[str]
                                                      ) -> None:
    assert main(["contracts", "check"]) == 0
    assert "contracts are current; nothing breaks release" in capsys.readouterr().out
