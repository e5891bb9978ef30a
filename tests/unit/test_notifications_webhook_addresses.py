"""Webhooks reach the public internet only (SSRF): each internal range, IPv4 and IPv6,
refused when a site sets its URL and again at each send, whatever the name resolves to."""

from __future__ import annotations

from ipaddress import ip_address

import pytest

from services.notifications.domain import webhook_url_problem
from services.notifications.domain.addresses import Address, forbidden_range
from services.notifications.webhook_client import ForbiddenAddress, WebhookClient

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(("address", "internal"), [
    ("127.0.0.1", "loopback"),
    ("127.8.9.10", "loopback"),
    ("::1", "loopback"),
    ("10.0.0.1", "private (RFC 1918)"),
    ("172.16.0.1", "private (RFC 1918)"),
    ("172.31.255.254", "private (RFC 1918)"),
    ("192.168.1.10", "private (RFC 1918)"),
    ("169.254.169.254", "cloud metadata"),
    ("fd00:ec2::254", "cloud metadata"),
    ("169.254.10.20", "link-local"),
    ("fe80::1", "link-local"),
    ("fc00::1", "unique-local"),
    ("fd12:3456::1", "unique-local"),
    ("100.64.0.1", "carrier-grade NAT"),
    ("100.127.255.254", "carrier-grade NAT"),
    ("0.0.0.0", "this network"),
    ("::", "unspecified"),
    ("224.0.0.1", "multicast"),
    ("ff02::1", "multicast"),
    ("::ffff:127.0.0.1", "loopback"),  # IPv4-mapped IPv6 reaches the IPv4 address
    ("::ffff:169.254.169.254", "cloud metadata"),
    ("64:ff9b::a00:1", "private (RFC 1918)"),  # NAT64 of 10.0.0.1
    ("2002:c0a8:10a::1", "private (RFC 1918)"),  # 6to4 of 192.168.1.10
])
def test_internal_ranges_are_named(address: str, internal: str) -> None:
    assert forbidden_range(ip_address(address)) == internal


@pytest.mark.parametrize("address", [
    "93.184.215.14", "8.8.8.8", "172.32.0.1", "100.128.0.1", "169.255.0.1",
    "2606:4700:4700::1111", "2a00:1450:4001:80b::200e"])
def test_public_addresses_pass(address: str) -> None:
    assert forbidden_range(ip_address(address)) is None


@pytest.mark.parametrize("url", [
    "https://169.254.169.254/latest/meta-data/", "https://10.0.0.1/hook",
    "https://127.0.0.1/hook", "https://localhost:9100/metrics", "https://[::1]/hook",
    "https://192.168.1.10/hook", "https://[fd00:ec2::254]/", "https://[fe80::1]/",
    "https://100.64.1.1/", "https://[::ffff:10.0.0.1]/", "https://api.localhost/",
    "http://127.0.0.1:9000/hook", "http://localhost/hook",
])
def test_a_site_cannot_point_its_webhook_inside(url: str) -> None:
    problem = webhook_url_problem(url)
    assert problem is not None and "not allowed" in problem


@pytest.mark.parametrize(("url", "ok"), [
    ("https://ehr.example.org/hook", True),
    ("https://ehr.example.org:8443/hook", True),
    ("https://93.184.215.14/hook", True),
    ("http://ehr.example.org/hook", False),
    ("ftp://ehr.example.org/hook", False),
    ("https://user:pw@ehr.example.org/hook", False),
    ("https:///nohost", False),
    ("https://ehr.example.org:notaport/", False),
    ("https://ehr.example.org/a\r\nX-Injected: 1", False),
])
def test_webhooks_are_https_to_a_public_host(url: str, ok: bool) -> None:
    assert (webhook_url_problem(url) is None) is ok


@pytest.mark.parametrize(("url", "ok"), [
    ("http://127.0.0.1:9000/hook", True),
    ("http://localhost/hook", True),
    ("http://[::1]:9000/hook", True),
    ("https://10.0.0.1/hook", True),
    ("http://10.0.0.1/hook", False),  # plain HTTP only to this machine, even then
    ("http://ehr.example.org/hook", False),
])
def test_the_development_setting_admits_internal_receivers(url: str, ok: bool) -> None:
    assert (webhook_url_problem(url, allow_internal=True) is None) is ok


def resolving_to(*addresses: str) -> WebhookClient:
    async def resolve(host: str, port: int) -> list[Address]:
        assert host == "ehr.partner.example"
        return [ip_address(a) for a in addresses]

    return WebhookClient(timeout_seconds=1, max_response_bytes=1024, resolve=resolve)


@pytest.mark.parametrize("addresses", [
    ("10.1.2.3",), ("169.254.169.254",), ("fd00:ec2::254",), ("::1",),
    ("93.184.215.14", "192.168.0.7"),  # one internal answer among public ones is enough
])
async def test_a_name_resolving_inside_is_refused_at_send_time(addresses: tuple[str, ...]
                                                               ) -> None:
    with pytest.raises(ForbiddenAddress):
        await resolving_to(*addresses).post("https://ehr.partner.example/hook", b"{}", {})
