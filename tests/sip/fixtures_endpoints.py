"""Fixtures of the endpoint tests: a brand SIP domain, clients of every type with their endpoints,
and a second proxy-users instance whose proxy-trunks address is a stand-in test UA.

Imported by ``tests/sip/test_endpoints*.py`` (``from tests.sip.fixtures_endpoints import *``).
The data is created once per module under unique names and removed afterwards.
"""

from __future__ import annotations

import dataclasses
import os
import socket
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from sqlalchemy import delete, insert, select

from polyvox.db import location
from polyvox.db.model import ENTITY
from polyvox.sip import render
from tests.sip.conftest import Platform, Proc, _wait_ready, free_port
from tests.sip.ua import UA

__all__ = ["Edge", "edge", "ua_at"]


def _t(name: str) -> Any:
    return ENTITY[name].table


def ua_at(pf: Platform, user: str, password: str | None, domain: str, host: str = "127.0.0.1",
          proxy: tuple[str, int] | None = None) -> UA:
    """A test UA bound to ``host`` (another loopback address, e.g. 127.0.0.7, for source-address
    identification)."""
    ua = UA(user, domain, proxy or pf.proxy, password=password)
    if host != "127.0.0.1":
        ua.sock.close()
        ua.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        ua.sock.bind((host, 0))
        ua.host, ua.port = ua.sock.getsockname()
    pf.uas.append(ua)
    return ua


@dataclass
class Edge:
    """A proxy-users instance for these tests and the data they use."""

    pf: Platform
    proxy: tuple[str, int]
    trunks: UA  # stand-in proxy-trunks
    brand_id: int
    brand_domain: str
    ids: dict[str, int] = field(default_factory=dict)
    created: list[tuple[str, int]] = field(default_factory=list)

    def add(self, entity: str, **values: Any) -> int:
        with self.pf.engine.begin() as c:
            rid = int(c.execute(insert(_t(entity)).values(**values)).inserted_primary_key[0])
        self.created.append((entity, rid))
        self.pf.bump()
        return rid

    def company(self, kind: str, name: str, **values: Any) -> int:
        c = _t("Company")
        with self.pf.engine.connect() as conn:
            demo = dict(conn.execute(select(c).where(c.c.name == "DemoCompany")).one()._mapping)
        for k in ("id", "domainUsers", "outgoingDdiId", "corporationId"):
            demo.pop(k, None)
        demo.update(type=kind, name=name, maxCalls=0, **values)
        return self.add("Company", **demo)

    def set(self, entity: str, rid: int, **values: Any) -> None:
        t = _t(entity)
        with self.pf.engine.begin() as c:
            c.execute(t.update().where(t.c.id == rid).values(**values))
        self.pf.bump()

    def ua(self, user: str, password: str | None, domain: str | None = None, host: str = "127.0.0.1") -> UA:
        return ua_at(self.pf, user, password, domain or self.brand_domain, host, self.proxy)


@pytest.fixture(scope="module")
def edge(platform: Platform) -> Iterator[Edge]:
    """Second proxy-users (same database and rtpengine) whose proxy-trunks address is a test UA."""
    trunks = UA("trunks", "127.0.0.1", platform.proxy)
    port = free_port()
    kw: dict[str, Any] = {"port": port, "home": platform.tmp / f"home-edge-{port}"}
    if "trunks_port" in {f.name for f in dataclasses.fields(platform.settings)}:
        kw["trunks_port"] = trunks.port
    settings = platform.settings.with_(**kw)
    old = os.environ.get("POLYVOX_SIP_TRUNKS_PORT")
    os.environ["POLYVOX_SIP_TRUNKS_PORT"] = str(trunks.port)
    try:
        rendered = render.render(settings)
        kam = Proc(rendered.argv, platform.tmp / f"kamailio-edge-{port}.log", "kamailio-edge")
    finally:
        if old is None:
            os.environ.pop("POLYVOX_SIP_TRUNKS_PORT", None)
        else:
            os.environ["POLYVOX_SIP_TRUNKS_PORT"] = old
    tag = uuid.uuid4().hex[:6]
    e: Edge | None = None
    try:
        _wait_ready(("127.0.0.1", port), kam)
        b = _t("Brand")
        with platform.engine.connect() as conn:
            brand_id = int(conn.execute(select(b.c.id).order_by(b.c.id)).scalars().first())
        e = Edge(pf=platform, proxy=("127.0.0.1", port), trunks=trunks, brand_id=brand_id,
                 brand_domain=f"brand-{tag}.test")
        e.kam = kam  # type: ignore[attr-defined]
        e.add("Domain", domain=e.brand_domain, pointsTo="proxyusers", brandId=brand_id, companyId=None,
              description="test brand domain")
        yield e
    finally:
        kam.stop()
        if e is not None and getattr(e, "kam", kam) is not kam:
            e.kam.stop()  # type: ignore[attr-defined]  # restarted by test_registrations_survive_proxy_restart
        trunks.close()
        if e is not None:
            with platform.engine.begin() as c:
                for entity, rid in e.created:
                    if entity in ("Company", "RetailAccount", "ResidentialDevice", "Friend"):
                        t = _t(entity)
                        c.execute(t.update().where(t.c.id == rid).values(outgoingDdiId=None))
                for entity, rid in reversed(e.created):
                    t = _t(entity)
                    if entity == "Company":
                        c.execute(delete(location.location).where(location.location.c.domain == e.brand_domain))
                    c.execute(delete(t).where(t.c.id == rid))
            platform.bump()
