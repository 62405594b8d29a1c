"""Registration status of SIP endpoints, read from kam_users_location (written by proxy-users):
``*/status`` collections and items, ``/my/registration_summary`` and the computed ``status``
field of Terminal/User/RetailAccount items."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Engine, insert, select

from polyvox.db import location
from polyvox.db.model import ENTITY
from tests.api.conftest import Api
from tests.api.test_custom_support import add, demo, row


def _register(db: Engine, username: str, domain: str, contact: str, seconds: int = 300,
              received: str | None = None) -> None:
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None, microsecond=0)
    with db.begin() as c:
        c.execute(insert(location.location).values(
            ruid=f"r-{username}-{seconds}", username=username, domain=domain, contact=contact, received=received,
            expires=now + dt.timedelta(seconds=seconds), q=1.0, callid="c", cseq=1, last_modified=now,
            flags=0, cflags=0, user_agent="Yealink T46", methods=-1))


def _demo_domain(db: Engine, company: int) -> str:
    d = ENTITY["Domain"].table
    with db.connect() as c:
        return str(c.execute(select(d.c.domain).where(d.c.companyId == company)).scalar_one())


def test_terminal_status_from_location_table(api: Api, tokens: dict[str, str], db: Engine) -> None:
    d = demo(db)
    domain = _demo_domain(db, d.company)
    alice = row(db, "Terminal", d.alice_terminal)
    bob_terminal = row(db, "User", d.bob).terminalId
    _register(db, alice.name, domain, "sip:alice@192.168.1.20:5062", received="sip:80.58.1.2:40000")
    _register(db, row(db, "Terminal", bob_terminal).name, domain, "sip:bob@10.0.0.2:5060", seconds=-5)  # expired

    r = api.get("client", "/terminals/status", tokens["client"])
    assert r.status_code == 200, r.text
    by_id = {i["id"]: i for i in r.json()}
    a = by_id[d.alice_terminal]
    assert a["name"] == alice.name and a["domainName"] == domain
    [st] = a["status"]
    assert st["contact"] == "sip:alice@192.168.1.20:5062" and st["publicContact"] is False
    assert st["received"] == "sip:80.58.1.2:40000" and st["publicReceived"] is True
    assert st["userAgent"] == "Yealink T46" and len(st["expires"]) == 19
    assert by_id[bob_terminal]["status"] == []

    one = api.get("client", f"/terminals/{d.alice_terminal}/status", tokens["client"])
    assert one.status_code == 200, one.text
    assert one.json()["status"][0]["contact"] == "sip:alice@192.168.1.20:5062"
    assert api.get("client", "/terminals/999999/status", tokens["client"]).status_code == 404

    # computed status of the normal items
    item = api.get("client", f"/terminals/{d.alice_terminal}", tokens["client"]).json()
    assert item["status"][0]["userAgent"] == "Yealink T46"
    user = api.get("client", f"/users/{d.alice}", tokens["client"]).json()
    if "status" in user:
        assert user["status"][0]["contact"] == "sip:alice@192.168.1.20:5062"

    # brand level: collection and summary
    rb = api.get("brand", "/terminals/status", tokens["brand"])
    assert rb.status_code == 200, rb.text
    assert any(i["id"] == d.alice_terminal and i["status"] for i in rb.json())
    s = api.get("brand", "/my/registration_summary", tokens["brand"])
    assert s.status_code == 200, s.text
    summary = s.json()
    assert summary["active"] == 1 and summary["total"] >= 2
    assert summary["percent"] == round(100 / summary["total"])
    assert api.get("client", "/terminals/status", None).status_code == 401


def test_retail_account_status_in_brand_domain(api: Api, tokens: dict[str, str], db: Engine) -> None:
    d = demo(db)
    c = ENTITY["Company"].table
    with db.connect() as conn:
        base = dict(conn.execute(select(c).where(c.c.id == d.company)).one()._mapping)
    for k in ("id", "domainUsers", "outgoingDdiId", "corporationId"):
        base.pop(k)
    base.update(type="retail", name="RetailCo")
    with db.begin() as conn:
        retail = int(conn.execute(insert(c).values(**base)).inserted_primary_key[0])
    add(db, "Domain", domain="users.demobrand.example", pointsTo="proxyusers", brand=d.brand)
    ra = add(db, "RetailAccount", company=retail, name="shop1", password="x", directConnectivity="no",
             description="", transport="udp", t38Passthrough="no", rtpEncryption=False, multiContact=True)
    _register(db, "shop1", "users.demobrand.example", "sip:shop1@80.58.1.9:5060")

    r = api.get("brand", "/retail_accounts/status", tokens["brand"])
    assert r.status_code == 200, r.text
    [item] = [i for i in r.json() if i["id"] == ra]
    assert item["domainName"] == "users.demobrand.example"
    assert item["directConnectivity"] == "no"
    assert item["status"][0]["publicContact"] is True
    assert api.get("brand", "/residential_devices/status", tokens["brand"]).status_code == 200
    assert api.get("brand", "/friends/status", tokens["brand"]).status_code == 200
    # the demo client does not see another client's accounts
    r = api.get("client", f"/retail_accounts/{ra}/status", tokens["client"])
    assert r.status_code in (403, 404)
