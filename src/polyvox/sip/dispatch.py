"""Pure routing helpers of the proxies: application-server selection and context headers.

No I/O and no Kamailio here, so they are unit-tested directly.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

DISTRIBUTE_METHODS = ("hash", "rr", "static")


@dataclass(frozen=True)
class AppServer:
    id: int
    name: str
    host: str
    port: int

    @property
    def key(self) -> str:
        """``host:port``: identity of the server for fail-over marks and source matching."""
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"

    @property
    def uri(self) -> str:
        return f"sip:{self.key}"


def hash_start(company_id: int, n: int) -> int:
    """Stable start index of a client in a set of ``n`` servers (same on every proxy process)."""
    return zlib.crc32(str(company_id).encode()) % n if n else 0


def order_servers(servers: Sequence[AppServer], method: str, company_id: int, counter: int,
                  down: Iterable[str] = ()) -> list[AppServer]:
    """The application servers to try for a new call, first choice first.

    ``servers`` are the set members ordered by id. ``hash`` starts at a position derived from the
    client id (a client sticks to one server while it is alive), ``rr`` at ``counter`` (a shared
    counter incremented per call), ``static`` at the first server. The rotation then continues
    through the set so fail-over always proceeds to the next server. Servers whose key is in
    ``down`` (timed out recently) are skipped; when every server is down all are tried.
    """
    n = len(servers)
    if not n:
        return []
    if method == "rr":
        start = counter % n
    elif method == "static":
        start = 0
    else:
        start = hash_start(company_id, n)
    rotated = [*servers[start:], *servers[:start]]
    dead = set(down)
    alive = [s for s in rotated if s.key not in dead]
    return alive or rotated


def endpoint_id(brand_id: int, company_id: int, kind: str, ident: int, name: str) -> str:
    """IvozProvider's endpoint identifier ``b{brand}c{company}{t|f|r|rt}{id}_{name}``."""
    letter = {"terminal": "t", "friend": "f", "residential": "r", "retail": "rt"}[kind]
    return f"b{brand_id}c{company_id}{letter}{ident}_{name}"


def info_headers(*, brand_id: int, company_id: int, company_type: str, kind: str, ident: int, name: str,
                 user_id: int | None, media_relay_set_id: int | None) -> list[tuple[str, str]]:
    """Context headers of a call entering the platform from an endpoint (see docs/sip.md)."""
    hdrs = [
        ("X-Info-BrandId", str(brand_id)),
        ("X-Info-CompanyId", str(company_id)),
        ("X-Info-Type", company_type),
        ("X-Info-Endpoint", endpoint_id(brand_id, company_id, kind, ident, name)),
        ("X-Info-EndpointType", kind),
        ("X-Info-EndpointId", str(ident)),
    ]
    if user_id is not None:
        hdrs.append(("X-Info-UserId", str(user_id)))
    if media_relay_set_id is not None:
        hdrs.append(("X-Info-MediaRelaySetId", str(media_relay_set_id)))
    return hdrs
