"""Caller identity on internal calls with real SIP (docs/appserver-dialplan.md §3.1): Alice
(terminal ``alice``, extension 101) calls 102 through proxy-users and a real ``polyvox appserver``
worker running the real dialplan; Bob's phone must see ``101`` and "name lastname" in the From and
the P-Asserted-Identity of the INVITE (IvozProvider: the terminal's PJSIP endpoint callerid
``"Name Lastname <101>"``, ``send_pai = yes``), not the terminal name its phone put in From. The
call registry (users_cdrs) keeps the extension as caller.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import select

from polyvox.api.seeding import USERS as DEMO_USERS
from polyvox.db.model import ENTITY
from tests.sip.conftest import Platform
from tests.sip.fixtures_appserver import AppServers, as_real  # noqa: F401
from tests.sip.ua import UA, sdp, uri_of


@pytest.fixture()
def real(pv: Platform, as_real: AppServers, app_servers: Any) -> Iterator[Platform]:  # noqa: F811
    app_servers([f"127.0.0.1:{p}" for p, _ in as_real.workers])
    try:
        yield pv
    finally:
        for ua in pv.uas:
            try:
                if ua.password:
                    ua.register(expires=0)
            except (TimeoutError, OSError):
                pass


#: SIP password of the demo's terminals (alice, bob)
PASSWORDS = {terminal: password for _name, _email, _ext, terminal, password, _web in DEMO_USERS}


def phone(pf: Platform, name: str) -> UA:
    """A registered phone; waits until proxy-users wrote its location (the dialplan reads it)."""
    from polyvox.db.location import location

    ua = pf.ua(name, PASSWORDS[name])
    assert ua.register().status == 200
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        with pf.engine.connect() as c:
            rows = c.execute(select(location.c.contact).where(location.c.username == name)).all()
        if any(f":{ua.port}" in str(row[0]) for row in rows):
            break
        time.sleep(0.05)
    return ua


def user_of(value: str) -> str:
    """User part of a From / P-Asserted-Identity value."""
    return uri_of(value).split(":", 1)[1].split("@", 1)[0]


def display_of(value: str) -> str | None:
    """Display name of a From / P-Asserted-Identity value (quoted or not), None without one."""
    m = re.match(r'\s*(?:"([^"]*)"|([^"<]*?))\s*<', value)
    name = (m.group(1) if m.group(1) is not None else m.group(2)) if m else None
    return name or None


def caller_expected(pf: Platform, terminal: str) -> tuple[str, str]:
    """(extension, "name lastname") of the user of a terminal."""
    u, t, x = ENTITY["User"].table, ENTITY["Terminal"].table, ENTITY["Extension"].table
    with pf.engine.connect() as c:
        row = c.execute(select(u.c.name, u.c.lastname, x.c.number)
                        .select_from(u.join(t, t.c.id == u.c.terminalId).join(x, x.c.id == u.c.extensionId))
                        .where(t.c.name == terminal)).one()
    return str(row.number), " ".join(p for p in (row.name, row.lastname) if p)


def users_cdrs(pf: Platform, call_id: str, count: int, timeout: float = 10.0) -> list[dict[str, Any]]:
    t = ENTITY["UsersCdr"].table
    deadline = time.monotonic() + timeout
    while True:
        with pf.engine.connect() as c:
            rows = [dict(r._mapping) for r in c.execute(select(t).where(t.c.callid == call_id).order_by(t.c.id))]
        if len(rows) >= count or time.monotonic() > deadline:
            return rows
        time.sleep(0.1)


def test_internal_call_presents_the_callers_extension_in_from_and_pai(real: Platform) -> None:
    extension, name = caller_expected(real, "alice")
    assert extension == "101"  # the demo data: Alice 101, Bob 102
    alice, bob = phone(real, "alice"), phone(real, "bob")
    d = alice.invite("102", body=sdp(40600), wait_final=False)
    assert d.local_uri.startswith("sip:alice@")  # what Alice's phone sends: its terminal name
    inv = bob.request("INVITE", timeout=15)
    assert user_of(inv["from"]) == "101"
    pai = inv.all("p-asserted-identity")
    assert len(pai) == 1 and user_of(pai[0]) == "101"
    assert display_of(inv["from"]) == display_of(pai[0]) == name
    assert not [h for h in inv.headers if h[0].lower().startswith("x-info-")]
    uas = bob.answer(inv, body=sdp(40602))
    assert alice.wait_final(d, timeout=15).status == 200
    bob.request("ACK", call_id=inv.call_id, timeout=10)
    bob.in_dialog(uas, "BYE")
    bye = alice.request("BYE", call_id=d.call_id, timeout=10)
    alice.respond(bye, 200, "OK")
    assert bob.response(uas.call_id, "BYE", final=True, timeout=10).status == 200
    # the call registry is what it was: the extension as caller on both rows
    rows = users_cdrs(real, d.call_id, 2)
    assert [(r["direction"], r["caller"], r["callee"], r["owner"], r["disposition"]) for r in rows] == [
        ("outbound", "101", "102", "101", "answered"), ("inbound", "101", "102", "102", "answered")]


def test_outgoing_legs_carry_the_identity_in_from_and_pai() -> None:
    """The runtime's part, without traffic: ``Target.from_user`` / ``from_name`` / ``pai_user``
    → From and P-Asserted-Identity of an ENDPOINT leg; EXTERNAL legs get no PAI."""
    from datetime import UTC, datetime

    from polyvox.appserver.plan import IncomingCall, Origin, Target, TargetKind
    from polyvox.appserver.runtime.executor import Executor, Peers

    peers = Peers(users=("10.0.0.1", 5060), trunks=("10.0.0.1", 7060), local=("10.0.0.2", 6060))
    ex = Executor(stack=object(), dialplan=object(), peers=peers)  # type: ignore[arg-type]
    try:
        call = IncomingCall(call_id="c1", origin=Origin.ENDPOINT, brand_id=1, company_id=7, company_type="vpbx",
                            dialled="102", caller="alice", caller_name="Alice's phone",
                            now=datetime(2026, 1, 1, tzinfo=UTC))
        bob = Target(TargetKind.ENDPOINT, "bob", "pbx.example", "101", 'Alice "A" Smith',
                     (("Diversion", "<sip:102@pbx.example>;reason=unconditional"),), pai_user="101")
        out = ex.outgoing(call, bob, None)
        assert (out.ruri_user, out.ruri_host, out.from_user, out.from_host, out.from_name) == (
            "bob", "pbx.example", "101", "pbx.example", "Alice A Smith")
        assert out.headers == (("Diversion", "<sip:102@pbx.example>;reason=unconditional"),
                               ("P-Asserted-Identity", '"Alice A Smith" <sip:101@pbx.example>'))
        # no display name: none in From nor in PAI (not the phone's own)
        out = ex.outgoing(call, Target(TargetKind.ENDPOINT, "bob", None, "erin", "", pai_user="erin"), None)
        assert out.from_name == "" and out.headers == (("P-Asserted-Identity", "<sip:erin@10.0.0.1>"),)
        # a friend with a "From user": the From changes, the PAI keeps the caller
        out = ex.outgoing(call, Target(TargetKind.ENDPOINT, "pbx-x", "pbx.example", "trunk1", "", pai_user="101"),
                          None)
        assert out.from_user == "trunk1" and dict(out.headers)["P-Asserted-Identity"] == "<sip:101@pbx.example>"
        # without pai_user (or an EXTERNAL target): no PAI
        assert not [k for k, _ in ex.outgoing(call, Target(TargetKind.ENDPOINT, "bob"), None).headers
                    if k.lower() == "p-asserted-identity"]
        ext = Target(TargetKind.EXTERNAL, "+34911234567", None, "+34944000001", pai_user="+34944000001")
        assert "p-asserted-identity" not in {k.lower() for k, _ in ex.outgoing(call, ext, None).headers}
    finally:
        ex.pool.shutdown()
