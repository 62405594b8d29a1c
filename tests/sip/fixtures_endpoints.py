"""Fixtures of the endpoint tests: a brand SIP domain, clients of every type with their endpoints,
and a second proxy-users instance whose proxy-trunks address is a stand-in test UA.

Imported by ``tests/sip/test_endpoints.py`` and test_users_features.py; ``ApiRows`` (configuration
written through the running platform's API, as the operators of each level write it, and undone
through the API afterwards) also by the proxy-trunks tests (``tests/sip/test_trunks.py`` ``Data``).
The data is created under unique names.
"""

from __future__ import annotations

import dataclasses
import os
import socket
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import delete

from polyvox.db import location
from polyvox.sip import render
from tests.provision import ApiRefused, Provisioner, path_of
from tests.sip.conftest import Platform, Proc, _wait_ready, free_port
from tests.sip.ua import UA

__all__ = ["ApiRows", "Edge", "api_time", "client_body", "edge", "ml", "ua_at"]


def ml(text: str) -> dict[str, str]:
    """A multilingual name or description as the API takes it."""
    return {"en": text, "es": text, "ca": text, "it": text}


def api_time(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


# what a brand operator copies from DemoCompany for a new client: the platform's sets and the
# regional settings of the demo
_CLIENT_TEMPLATE = ("applicationServerSet", "mediaRelaySet", "country", "transformationRuleSet", "language",
                    "defaultTimezone", "currency")


def client_body(prov: Provisioner, brand: int, kind: str, name: str, **values: Any) -> dict[str, Any]:
    """The API body of a new client of ``brand``: DemoCompany's sets and regional settings, no call
    limits, postpaid, no IP filter (tests call from loopback)."""
    demo = next(c for c in prov.brand(brand).list("companies") if c["name"] == "DemoCompany")
    demo = prov.brand(brand).get(f"companies/{demo['id']}")
    body: dict[str, Any] = {k: demo[k]["id"] if isinstance(demo[k], dict) else demo[k] for k in _CLIENT_TEMPLATE}
    body.update(type=kind, name=name, maxCalls=0, maxDailyUsage=1000000, billingMethod="postpaid",
                allowRecordingRemoval=True, onDemandRecordEmail="disabled", ipfilter=False)
    body.update(values)
    return body


class ApiRows:
    """Configuration written through the API, each row at its owner's level (``company=`` a
    client's rows, else the brand's), and undone newest first by ``cleanup()``: created rows are
    deleted, changed fields get their old values back."""

    prov: Provisioner
    brand: int
    undo: list[Callable[[], Any]]

    def create(self, entity: str, **body: Any) -> int:
        if body.get("company") is None and "brand" not in body:
            body["brand"] = self.brand
        rid = self.prov.create(entity, **body)
        owner = {"company": body["company"]} if body.get("company") is not None else {"brand": body["brand"]}
        self.undo.append(lambda: self.prov.delete(entity, rid, owner=owner))
        return rid

    def update(self, entity: str, rid: int, *, client: int | None = None, **body: Any) -> dict[str, Any]:
        """PUT as the brand operator, or as the administrator of ``client``."""
        return self.prov.update(entity, rid, owner={"company": client} if client else {"brand": self.brand}, **body)

    def change(self, entity: str, rid: int, *, client: int | None = None, **body: Any) -> dict[str, Any]:
        """``update``, with the old values put back at cleanup."""
        level = self.prov.level_for(entity, {"company": client} if client else {"brand": self.brand}, "update")
        old = level.get(f"{path_of(entity)}/{rid}")
        saved = {k: old[k]["id"] if isinstance(old.get(k), dict) else old.get(k) for k in body}
        self.undo.append(lambda: self.update(entity, rid, client=client, **saved))
        return self.update(entity, rid, client=client, **body)

    def set_company(self, company: int, **values: Any) -> None:
        """Client fields changed by the brand operator for this test."""
        self.change("Company", company, **values)

    def client(self, kind: str = "vpbx", name: str | None = None, **values: Any) -> int:
        """A new client of the brand, as its operator creates it (a vPBX client with a SIP domain of
        its own, spec 5.2.1)."""
        name = name or f"{kind}-{uuid.uuid4().hex[:6]}"
        if kind == "vpbx":
            values.setdefault("domainUsers", f"{name.lower()}.test")
        body = client_body(self.prov, self.brand, kind, name, **values)
        return self.create("Company", brand=self.brand, **body)

    def use_brand_domain(self, name: str | None = None) -> str:
        """The brand's SIP domain (its retail and residential endpoints register there): the
        global operator gives the brand ``name`` (or one of its own when it has none)."""
        current = self.prov.platform.get(f"brands/{self.brand}")["domainUsers"]
        if current and (name is None or name == current):
            return str(current)
        domain = name or f"brand-{uuid.uuid4().hex[:6]}.test"
        self.prov.platform.put(f"brands/{self.brand}", {"domainUsers": domain})
        self.undo.append(lambda: self.prov.platform.put(f"brands/{self.brand}", {"domainUsers": current}))
        return domain

    def cleanup(self) -> None:
        errors: list[ApiRefused] = []
        while self.undo:
            try:
                self.undo.pop()()
            except ApiRefused as e:  # the rest is still undone; the first refusal fails the test
                errors.append(e)
        if errors:
            raise errors[0]


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
class Edge(ApiRows):
    """A proxy-users instance for these tests and the data they use."""

    pf: Platform
    proxy: tuple[str, int]
    trunks: UA  # stand-in proxy-trunks
    brand_id: int
    brand_domain: str
    ids: dict[str, int] = field(default_factory=dict)
    undo: list[Callable[[], Any]] = field(default_factory=list)

    @property
    def prov(self) -> Provisioner:  # type: ignore[override]
        return self.pf.prov

    @property
    def brand(self) -> int:  # type: ignore[override]
        return self.brand_id

    def company(self, kind: str, name: str, **values: Any) -> int:
        return self.client(kind, name, **values)

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
    e: Edge | None = None
    try:
        _wait_ready(("127.0.0.1", port), kam)
        brand_id = platform.prov.brand_of(platform.company_id())
        e = Edge(pf=platform, proxy=("127.0.0.1", port), trunks=trunks, brand_id=brand_id, brand_domain="")
        e.kam = kam  # type: ignore[attr-defined]
        e.brand_domain = e.use_brand_domain()
        yield e
    finally:
        kam.stop()
        if e is not None and getattr(e, "kam", kam) is not kam:
            e.kam.stop()  # type: ignore[attr-defined]  # restarted by test_registrations_survive_proxy_restart
        trunks.close()
        if e is not None:
            # registrations are proxy-users' runtime state: removed as proxy-users expires them
            with platform.engine.begin() as c:
                c.execute(delete(location.location).where(location.location.c.domain == e.brand_domain))
            e.cleanup()
