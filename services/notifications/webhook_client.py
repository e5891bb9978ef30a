"""One webhook POST, bounded and pinned: the worker's only HTTP client.

- **Pinned**: the name is resolved once, every address it resolves to is checked
  (domain/addresses.py), and the connection goes to that address while the
  request and TLS (SNI, certificate) carry the name. A name that resolves to an
  internal address is refused at each send, so DNS changed after the site set its
  URL does not help.
- **Bounded**: one deadline covers resolving, connecting, TLS, the request and
  the response; the status line and headers are capped, and at most
  ``max_response_bytes`` of the body are read. A slow or chatty receiver costs
  one send slot for the deadline, never more.

HTTP/1.1 with ``Connection: close``: one request per connection, no pooling
(a pooled connection would skip the address check).
"""

from __future__ import annotations

import asyncio
import socket
import ssl
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

from services.notifications.domain.addresses import Address, forbidden_range, literal_address

#: Resolves a host name to its addresses (injected by tests).
Resolver = Callable[[str, int], Awaitable[list[Address]]]
#: Status line and headers together; a receiver sending more is refused.
MAX_HEAD_BYTES = 16_384


class WebhookRefused(Exception):
    """The endpoint answered, but not with 2xx."""

    def __init__(self, status: int) -> None:
        super().__init__(f"HTTP {status}")
        self.status = status


class ForbiddenAddress(Exception):
    """The webhook's host is, or resolves to, an internal address."""


class MalformedResponse(Exception):
    """The endpoint did not answer HTTP."""


async def system_resolver(host: str, port: int) -> list[Address]:
    infos = await asyncio.get_running_loop().getaddrinfo(
        host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP)
    found: list[Address] = []
    for *_, sockaddr in infos:
        address = literal_address(str(sockaddr[0]).split("%")[0])
        if address is not None and address not in found:
            found.append(address)
    return found


@dataclass(frozen=True)
class WebhookClient:
    timeout_seconds: float
    max_response_bytes: int
    allow_internal: bool = False
    resolve: Resolver = system_resolver
    #: TLS context for https endpoints (tests pass one trusting their own CA).
    tls: ssl.SSLContext | None = None

    async def post(self, url: str, body: bytes, headers: Mapping[str, str]) -> int:
        """POST ``body``; the status when it is 2xx, else WebhookRefused; TimeoutError past
        the deadline, ForbiddenAddress for an internal address."""
        async with asyncio.timeout(self.timeout_seconds):
            status = await self._exchange(url, body, headers)
        if not 200 <= status < 300:
            raise WebhookRefused(status)
        return status

    async def _exchange(self, url: str, body: bytes, headers: Mapping[str, str]) -> int:
        parts = urlsplit(url)
        host = parts.hostname or ""
        secure = parts.scheme == "https"
        port = parts.port or (443 if secure else 80)
        address = await self._pinned_address(host, port)
        reader, writer = await asyncio.open_connection(
            str(address), port, limit=MAX_HEAD_BYTES,
            ssl=(self.tls or ssl.create_default_context()) if secure else None,
            server_hostname=host if secure else None)
        try:
            writer.write(_request(parts.path or "/", parts.query, _host_header(host, parts.port),
                                  body, headers))
            await writer.drain()
            return await self._response(reader)
        finally:
            writer.close()

    async def _pinned_address(self, host: str, port: int) -> Address:
        addresses = await self.resolve(host, port)
        if not addresses:
            raise ForbiddenAddress("the name resolves to no address")
        if not self.allow_internal:
            for address in addresses:  # one internal address among public ones is refused too
                if (internal := forbidden_range(address)) is not None:
                    raise ForbiddenAddress(f"the name resolves to a {internal} address")
        return addresses[0]

    async def _response(self, reader: asyncio.StreamReader) -> int:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
        except (asyncio.LimitOverrunError, asyncio.IncompleteReadError) as bad:
            raise MalformedResponse("no complete HTTP head") from bad
        status = _status_of(head)
        length = _content_length(head)
        wanted = self.max_response_bytes if length is None else min(length,
                                                                    self.max_response_bytes)
        read = 0
        while read < wanted:
            chunk = await reader.read(wanted - read)
            if not chunk:
                break
            read += len(chunk)
        return status


def _host_header(host: str, port: int | None) -> str:
    name = f"[{host}]" if ":" in host else host
    return f"{name}:{port}" if port else name


def _request(path: str, query: str, host: str, body: bytes, headers: Mapping[str, str]
             ) -> bytes:
    target = f"{path}?{query}" if query else path
    lines = [f"POST {target} HTTP/1.1", f"Host: {host}", "Connection: close",
             "User-Agent: iopnet-notifications", f"Content-Length: {len(body)}",
             *(f"{name}: {value}" for name, value in headers.items())]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


def _status_of(head: bytes) -> int:
    first = head.split(b"\r\n", 1)[0].split()
    if len(first) < 2 or not first[0].startswith(b"HTTP/") or not first[1].isdigit():
        raise MalformedResponse("not an HTTP status line")
    return int(first[1])


def _content_length(head: bytes) -> int | None:
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length" and value.strip().isdigit():
            return int(value.strip())
    return None
