"""One write path, seen through real SIP (ARCHITECTURE §3): what a brand or client administrator
provisions through the API carries registrations and calls, with the columns the proxies and the
application server read derived by the API's write-time rules (IvozProvider's sanitizeValues and
lifecycle services), never sent by the administrator.

- a terminal created by a client administrator (POST /api/client/terminals, no SIP domain in the
  body) registers on its client's domain;
- a user with an extension created through the API is called by Alice through the real
  application server;
- a client's SIP domain renamed by its brand (PUT /api/brand/companies/{id} domainUsers) serves
  its terminals at once, without restarting anything.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import select

from polyvox.db.location import location
from tests.sip.conftest import ALICE_PW, DOMAIN, Platform
from tests.sip.fixtures_appserver import AppServers, as_real  # noqa: F401  (fixture)
from tests.sip.fixtures_endpoints import client_body
from tests.sip.ua import UA, sdp

PW = "WRItepath+123"


def tag() -> str:
    return uuid.uuid4().hex[:6]


def terminal_body(name: str, password: str = PW) -> dict[str, Any]:
    """What a client administrator sends: no ``domain`` (the API derives it from the client)."""
    return {"name": name, "password": password, "disallow": "all", "allowAudio": "alaw",
            "directMediaMethod": "update", "t38Passthrough": "no", "rtpEncryption": False}


@pytest.fixture(scope="module")
def client(platform: Platform) -> Iterator[dict[str, Any]]:
    """A vPBX client of its own, created by the brand operator with its own SIP domain."""
    n = tag()
    domain = f"wp-{n}.test"
    brand_id = platform.prov.brand_of(platform.company_id())
    brand = platform.prov.brand(brand_id)
    # DemoCompany's sets and regional settings, no IP filter (a new client filters by default,
    # spec 12.3, and these phones are on loopback)
    cid = int(brand.post("companies", client_body(platform.prov, brand_id, "vpbx", f"WritePath-{n}",
                                                  domainUsers=domain, ipfilter=False))["id"])
    yield {"id": cid, "domain": domain, "brand": brand, "api": platform.prov.client(cid)}
    brand.delete(f"companies/{cid}")


def test_terminal_created_by_the_client_registers_on_the_clients_domain(pv: Platform,
                                                                       client: dict[str, Any]) -> None:
    name = f"wp{tag()}"
    client["api"].post("terminals", terminal_body(name))
    r = pv.ua(name, PW, domain=client["domain"]).register()
    assert (r.status, r.reason) == (200, "OK")
    # the terminal belongs to that client's domain only
    r = pv.ua(name, PW, domain=DOMAIN).register()
    assert (r.status, r.reason) == (404, "Not Found: unknown endpoint")
    r = pv.ua(name, "WRONGpass+123", domain=client["domain"]).register()
    assert (r.status, r.reason) == (403, "Forbidden: wrong credentials")
    pv.ua(name, PW, domain=client["domain"]).register(expires=0)


def test_renamed_client_domain_serves_its_terminals_without_restart(pv: Platform, client: dict[str, Any]) -> None:
    name = f"wp{tag()}"
    client["api"].post("terminals", terminal_body(name))
    old = client["domain"]
    assert pv.ua(name, PW, domain=old).register().status == 200
    kamailio = pv.kamailio.pid
    new = f"wp-{tag()}-renamed.test"
    client["brand"].put(f"companies/{client['id']}", {"domainUsers": new})
    client["domain"] = new
    r = pv.ua(name, PW, domain=new).register()
    assert (r.status, r.reason) == (200, "OK")
    r = pv.ua(name, PW, domain=old).register()
    assert (r.status, r.reason) == (403, "Forbidden: unknown domain")
    assert pv.kamailio.pid == kamailio and pv.kamailio.alive()
    pv.ua(name, PW, domain=new).register(expires=0)


def registered(pv: Platform, name: str, password: str) -> UA:
    """A phone registered at the session's proxy-users, once its contact is in the location
    table the real dialplan reads (proxy-users writes it just after its 200 OK)."""
    ua = pv.ua(name, password)
    assert ua.register().status == 200
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        with pv.engine.connect() as c:
            rows = c.execute(select(location.c.contact).where(location.c.username == name)).all()
        if any(f":{ua.port}" in str(row[0]) for row in rows):
            break
        time.sleep(0.05)
    return ua


def test_user_with_an_extension_created_through_the_api_is_called_by_alice(
        pv: Platform, as_real: AppServers, app_servers) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    app_servers([f"127.0.0.1:{p}" for p, proc in as_real.workers if proc.alive()])
    company = pv.company_id()
    used = {x["number"] for x in pv.prov.client(company).list("extensions")}
    number = next(str(n) for n in range(4500, 4600) if str(n) not in used)
    name = f"wp{tag()}"
    _tid, user = pv.add_terminal(name, PW)
    ext = pv.prov.create("Extension", company=company, number=number, routeType="user", user=user)
    pv.prov.update("User", user, owner={"company": company}, extension=ext)
    callee = registered(pv, name, PW)
    alice = registered(pv, "alice", ALICE_PW)
    try:
        d = alice.invite(number, body=sdp(43000), wait_final=False)
        inv = callee.request("INVITE", timeout=15)
        assert inv.uri.startswith(f"sip:{name}@127.0.0.1:{callee.port}")
        uas = callee.answer(inv, body=sdp(43002))
        assert alice.wait_final(d, timeout=15).status == 200
        callee.request("ACK", call_id=inv.call_id, timeout=10)
        callee.in_dialog(uas, "BYE")
        bye = alice.request("BYE", call_id=d.call_id, timeout=10)
        alice.respond(bye, 200, "OK")
        assert callee.response(uas.call_id, "BYE", final=True, timeout=10).status == 200
    finally:
        for ua in (alice, callee):
            ua.register(expires=0)
