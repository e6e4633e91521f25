"""The address policy of the outbound door (net.py), as pure values: which addresses a
request may reach, and which URLs on a page point inside a network (``check``'s
``private-url``). No I/O here: net.py applies it at connect time, after DNS."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from urllib.parse import SplitResult, urlsplit

SCHEMES = ("http", "https")
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

# Host names that only ever mean "inside": refused for page URLs (and warned about by check)
# without asking DNS.
_INSIDE_SUFFIXES = (".localhost", ".local", ".internal", ".lan", ".intranet", ".home.arpa")


def split_url(url: str) -> SplitResult | None:
    """``urlsplit(url)``, or None for a URL it cannot read: it raises ValueError for an
    unbalanced ``[`` or ``]`` in the host (``https://[x``), and a page can hold one. Every
    URL from a page, a remote or the settings is split by this. (A bad port still reads:
    ``.port`` raises, so it is not asked for.)"""
    try:
        return urlsplit(url)
    except (ValueError, TypeError):
        return None


def http_url_problem(value: str) -> str | None:
    """What keeps ``value`` from being an http(s) URL with a host (settings' URLs), or None."""
    if not value.startswith(("http://", "https://")):
        return "must start with http:// or https://"
    parts = split_url(value)
    if parts is None or not parts.hostname:
        return "is not a URL with a host ('[' and ']' may only enclose an IPv6 address)"
    return None


def parse_networks(values: Iterable[str]) -> tuple[IPNetwork, ...]:
    """``["10.0.0.0/8", "127.0.0.1"]`` → networks; ValueError names a bad one."""
    out = []
    for value in values:
        try:
            out.append(ipaddress.ip_network(str(value).strip(), strict=False))
        except ValueError:
            raise ValueError(f"{value!r} is not a network such as 10.0.0.0/8") from None
    return tuple(out)


def inside(ip: IPAddress) -> bool:
    """Is the address one a page must not make livepipe reach (anything not global)?"""
    if isinstance(ip, ipaddress.IPv6Address):
        embedded = ip.ipv4_mapped or ip.sixtofour or (ip.teredo[1] if ip.teredo else None)
        if embedded is not None:
            return inside(embedded)
    return not ip.is_global or ip.is_multicast


@dataclass(frozen=True)
class Policy:
    """Which addresses a request may reach."""

    public_only: bool
    allow: tuple[IPNetwork, ...] = ()

    @classmethod
    def public(cls, allow: Iterable[IPNetwork] = ()) -> Policy:
        return cls(True, tuple(allow))

    @classmethod
    def operator(cls) -> Policy:
        return cls(False)

    def permits(self, ip: IPAddress) -> bool:
        if not self.public_only or not inside(ip):
            return True
        return any(ip.version == net.version and ip in net for net in self.allow)

    def check_url(self, scheme: str, host: str) -> None:
        """What can be told before connecting: the scheme, an address written as the host,
        a host name that can only be internal. BlockedError otherwise."""
        from .errors import BlockedError

        if scheme not in SCHEMES:
            raise BlockedError(
                f"{scheme or 'no'} scheme: only http and https URLs are fetched", host=host
            )
        if not host:
            raise BlockedError("the URL has no host", host="")
        literal = _literal(host)
        if literal is not None:
            if not self.permits(literal):
                raise BlockedError(_refused(host), host=host)
        elif self.public_only and not self.allow and internal_name(host):
            raise BlockedError(_refused(host), host=host)


def _refused(host: str) -> str:
    return (
        f"{host} is a private, loopback or link-local address: a page's URL may only reach "
        'public addresses (allow a network with [network] allow = ["10.0.0.0/8"])'
    )


def _literal(host: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(host.strip("[]").split("%", 1)[0])
    except ValueError:
        return None


def internal_name(host: str) -> bool:
    """``localhost``, ``*.local``, ``*.internal``, a name without a dot: names for inside."""
    name = host.lower().rstrip(".")
    return name == "localhost" or name.endswith(_INSIDE_SUFFIXES) or "." not in name


def private_reason(url: str, allow: Sequence[IPNetwork] = ()) -> str | None:
    """Why a URL written on a page points inside a network (check's ``private-url``
    warning), or None. Pure: no DNS."""
    parts = split_url(url)
    if parts is None:
        return None
    host = parts.hostname or ""
    if parts.scheme not in SCHEMES or not host:
        return None
    literal = _literal(host)
    if literal is not None:
        if Policy.public(allow).permits(literal):
            return None
        return f"{host} is a private, loopback or link-local address"
    if not allow and internal_name(host):
        return f"{host} is a name for a host inside a network"
    return None
