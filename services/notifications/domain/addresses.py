"""Which network addresses a webhook may reach: the public internet only. Pure.

A site chooses its webhook URL, and the worker connects to it from inside the
cluster: without this rule a partner could make the worker call the cloud's
metadata service, a database, or the worker's own metrics port. The rule is
applied to the URL when a site sets it and to every address its name resolves
to when a message is sent (DNS can change in between).
"""

from __future__ import annotations

from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network, ip_address

Address = IPv4Address | IPv6Address

#: Checked in order: the first that contains an address names why it is refused.
_FORBIDDEN: tuple[tuple[IPv4Network | IPv6Network, str], ...] = (
    (IPv4Network("169.254.169.254/32"), "cloud metadata"),
    (IPv6Network("fd00:ec2::254/128"), "cloud metadata"),
    (IPv4Network("0.0.0.0/8"), "this network"),
    (IPv4Network("127.0.0.0/8"), "loopback"),
    (IPv4Network("10.0.0.0/8"), "private (RFC 1918)"),
    (IPv4Network("172.16.0.0/12"), "private (RFC 1918)"),
    (IPv4Network("192.168.0.0/16"), "private (RFC 1918)"),
    (IPv4Network("100.64.0.0/10"), "carrier-grade NAT"),
    (IPv4Network("169.254.0.0/16"), "link-local"),
    (IPv4Network("192.0.0.0/24"), "IETF protocol assignments"),
    (IPv4Network("198.18.0.0/15"), "benchmarking"),
    (IPv4Network("224.0.0.0/4"), "multicast"),
    (IPv4Network("240.0.0.0/4"), "reserved"),
    (IPv6Network("::/128"), "unspecified"),
    (IPv6Network("::1/128"), "loopback"),
    (IPv6Network("fe80::/10"), "link-local"),
    (IPv6Network("fec0::/10"), "site-local"),
    (IPv6Network("fc00::/7"), "unique-local"),
    (IPv6Network("ff00::/8"), "multicast"),
)
#: IPv6 forms that carry an IPv4 address: the IPv4 address inside is what is reached.
_NAT64 = IPv6Network("64:ff9b::/96")


def forbidden_range(address: Address) -> str | None:
    """The internal range an address lies in, or None when it is a public address."""
    inner = _embedded_ipv4(address)
    if inner is not None:
        return forbidden_range(inner)
    for network, name in _FORBIDDEN:
        if address.version == network.version and address in network:
            return name
    return None


def _embedded_ipv4(address: Address) -> IPv4Address | None:
    if isinstance(address, IPv4Address):
        return None
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address in _NAT64:
        return IPv4Address(int(address) & 0xFFFFFFFF)
    if address.sixtofour is not None:
        return address.sixtofour
    return None


def literal_address(host: str) -> Address | None:
    """The address a URL's host names literally (``10.0.0.1``, ``::1``), else None."""
    try:
        return ip_address(host.strip("[]"))
    except ValueError:
        return None
