"""A thin HTTP client for the running system: one base URL per service, one API key."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx

from iopctl.stack import Stack
from iopnet.catalog import Scope

SITE_SCOPES: list[Scope] = [s for s in Scope if s is not Scope.OPERATOR]


@dataclass
class Api:
    stack: Stack
    http: httpx.AsyncClient
    key: str | None

    def _headers(self, extra: dict[str, str] | None) -> dict[str, str]:
        headers = {"Authorization": f"Bearer {self.key}"} if self.key else {}
        return {**headers, **(extra or {})}

    async def get(self, service: str, path: str, **kwargs: Any) -> httpx.Response:
        return await self.http.get(self.stack.url(service) + path,
                                   headers=self._headers(kwargs.pop("headers", None)), **kwargs)

    async def post(self, service: str, path: str, **kwargs: Any) -> httpx.Response:
        return await self.http.post(self.stack.url(service) + path,
                                    headers=self._headers(kwargs.pop("headers", None)), **kwargs)

    async def put(self, service: str, path: str, **kwargs: Any) -> httpx.Response:
        return await self.http.put(self.stack.url(service) + path,
                                   headers=self._headers(kwargs.pop("headers", None)), **kwargs)

    def with_key(self, key: str | None) -> Api:
        return Api(self.stack, self.http, key)

    async def onboard(self, site_id: str, time_zone: str = "America/Chicago") -> None:
        answer = await self.post("intake", "/v1/network/sites", json={
            "site_id": site_id, "name": f"Clinic {site_id}", "time_zone": time_zone})
        assert answer.status_code in (201, 409), answer.text

    async def issue_key(self, site_id: str, scopes: list[Scope] | None = None,
                        **extra: Any) -> dict[str, Any]:
        answer = await self.post("intake", f"/v1/network/sites/{site_id}/keys", json={
            "scopes": [s.value for s in (scopes or SITE_SCOPES)], **extra})
        assert answer.status_code == 201, answer.text
        issued: dict[str, Any] = answer.json()
        return issued
