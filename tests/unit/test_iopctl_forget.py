"""``iopctl patients forget`` calls intake's operator route with the reason."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from iopctl.cli import main
from iopnet.auth.guard import OPERATOR_KEY_ENV

pytestmark = pytest.mark.unit


def test_forget_posts_the_reason_and_the_override(monkeypatch: pytest.MonkeyPatch,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    sent: list[tuple[str, str, Any]] = []

    def request(method: str, url: str, **kwargs: Any) -> httpx.Response:
        sent.append((method, url, kwargs["json"]))
        return httpx.Response(409, json={"title": "Not allowed in the current state"})

    monkeypatch.setenv(OPERATOR_KEY_ENV, "op-key")
    monkeypatch.setenv("IOPNET_INTAKE_URL", "http://intake")
    monkeypatch.setattr(httpx, "request", request)
    assert main(["patients", "forget", "p-1", "--reason", "erasure request"]) == 1
    assert main(["patients", "forget", "p-1", "--reason", "court", "--override-retention"]) == 1
    assert sent == [
        ("POST", "http://intake/v1/patients/p-1/forget",
         {"reason": "erasure request", "override_retention": False}),
        ("POST", "http://intake/v1/patients/p-1/forget",
         {"reason": "court", "override_retention": True}),
    ]
    assert "answered 409" in capsys.readouterr().err
