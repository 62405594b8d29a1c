"""Network address rules shared by the proxies and the API's write rules."""

from __future__ import annotations


def parse_host_port(value: str, default_port: int) -> tuple[str, int]:
    """``10.0.0.1`` / ``10.0.0.1:6061`` / ``[2001:db8::1]:6061`` / ``2001:db8::1`` -> (host, port).

    ``application_servers.ip`` holds the address only in IvozProvider (port always 6060); an
    explicit ``:port`` is accepted so several application servers can share one host (tests,
    standalone installs running more than one).
    """
    v = value.strip()
    if v.startswith("["):
        host, _, rest = v[1:].partition("]")
        return host, int(rest[1:]) if rest.startswith(":") and rest[1:].isdigit() else default_port
    if v.count(":") == 1:
        host, port = v.split(":")
        if port.isdigit():
            return host, int(port)
    return v, default_port
