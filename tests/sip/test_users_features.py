"""proxy-users features of issue 4 with real SIP traffic through Kamailio: numeric transformations
(spec 9.7.3), client and brand concurrent-call limits (12.5), retail call forwards (10.3.1), the
client IP filter with authorized ranges, GeoIP countries and roadwarrior users (12.3, 12.4), and
anti brute-force bans (12.7) listed in ``banned_addresses``.

The tests run their own proxy-users (fixture ``fx``: same database and rtpengine as the session's,
proxy-trunks address = a test UA, a small brute-force threshold, ``127.0.0.8`` located in Spain
through ``geoip_local``)."""

from __future__ import annotations

import base64
import itertools
import os
import socket
import ssl
import struct
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import delete, select

from polyvox.db import location
from polyvox.db.contract_decl import EXPOSURE
from polyvox.db.model import ENTITY
from polyvox.sip import render
from tests.sip.conftest import ALICE_PW, DOMAIN, Platform, Proc, _wait_ready, free_port
from tests.sip.fixtures_appserver import AppServers, as_real  # noqa: F401  (fixture)
from tests.sip.fixtures_endpoints import Edge, ml
from tests.sip.ua import UA, Message, rand, sdp

RULES = (  # (type, priority, match, replace)
    ("calleein", 1, r"^0([1-9][0-9]+)$", r"+34\1"),
    ("calleein", 2, r"^([1-9][0-9]{2})$", r"+34999\1"),  # would turn an extension into a number
    ("callerin", 1, r"^([6-9][0-9]{8})$", r"+34\1"),
    ("callerout", 1, r"^\+34([0-9]+)$", r"\1"),
    ("calleeout", 1, r"^\+34([0-9]+)$", r"\1"),
)
FRIEND_PRIORITY = itertools.count(10)  # a client's friends have distinct priorities


def uid() -> str:
    return uuid.uuid4().hex[:6]


def pw(tag: str) -> str:
    """A strong SIP password (IvozProvider's rule: 3 upper, 3 lower, 3 digits, one of + * _ -)."""
    return f"PWD{tag}abc+123"


def _t(name: str) -> Any:
    return ENTITY[name].table


@pytest.fixture(scope="module")
def fx(platform: Platform) -> Iterator[Edge]:
    trunks = UA("trunks", "127.0.0.1", platform.proxy)
    port = free_port()
    settings = platform.settings.with_(port=port, home=platform.tmp / f"home-feat-{port}", ban_threshold=3,
                                       ban_seconds=3, ban_restart=2, geoip_local="127.0.0.8/32=ES",
                                       tls_port=free_port(), ws_port=free_port(), wss_port=free_port(),
                                       natping_interval=1, flood_density=20, flood_ban_seconds=3)
    old = os.environ.get("POLYVOX_SIP_TRUNKS_PORT")
    os.environ["POLYVOX_SIP_TRUNKS_PORT"] = str(trunks.port)
    try:
        kam = Proc(render.render(settings).argv, platform.tmp / f"kamailio-feat-{port}.log", "kamailio-feat")
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
        e.settings = settings  # type: ignore[attr-defined]
        e.brand_domain = e.use_brand_domain()  # retail and residential endpoints register there
        yield e
    finally:
        if os.environ.get("POLYVOX_SIP_TEST_LOG"):
            print(kam.tail(120))
        kam.stop()
        trunks.close()
        if e is not None:
            # bans and registrations are proxy-users' runtime state (no configuration, no API to
            # clear them all): removed as proxy-users removes them
            with platform.engine.begin() as c:
                c.execute(delete(_t("BannedAddress")).where(_t("BannedAddress").c.ip.like("127.%")))
                c.execute(delete(location.location).where(location.location.c.domain == e.brand_domain))
            e.cleanup()


@pytest.fixture(scope="module")
def data(fx: Edge) -> dict[str, Any]:
    """A rule set, a retail / residential / wholesale client with DDIs, created by the brand
    operator through the API."""
    n, ids = uid(), {}
    ids["rules"] = fx.create("TransformationRuleSet", name=ml(f"test-{n}"), description="test", generateRules=False,
                             editable=True)
    for kind, prio, match, repl in RULES:
        fx.create("TransformationRule", transformationRuleSet=ids["rules"], type=kind, priority=prio,
                  matchExpr=match, replaceExpr=repl, description="")
    for kind in ("retail", "residential", "wholesale"):
        ids[kind] = fx.company(kind, f"F{kind}-{n}", transformationRuleSet=ids["rules"], ipfilter=False)
    for kind, num in (("retail", "955000001"), ("residential", "955000101")):
        ids[f"{kind}_ddi"] = ddi(fx, ids[kind], num)
        fx.update("Company", ids[kind], outgoingDdi=ids[f"{kind}_ddi"])
    ids["retail_ddi2"] = ddi(fx, ids["retail"], "955000002")
    ids["spain"], ids["uk"] = country(fx, "ES"), country(fx, "GB")
    return ids


def country(e: Edge, code: str) -> int:
    return int(next(c["id"] for c in e.prov.brand(e.brand_id).list("countries") if c["code"] == code))


def ddi(e: Edge, company: int, number: str) -> int:
    """A Spanish DDI of the client, as the brand operator creates it: the national number and its
    country (the API derives the E.164 form)."""
    return e.create("Ddi", company=company, ddi=number, country=country(e, "ES"), type="inout",
                    useDdiProviderRoutingTag=False)


def account(e: Edge, entity: str, company: int, name: str, password: str | None = None, **kw: Any) -> int:
    """A friend, retail account or residential device: created by the brand operator with the
    fields the brand level writes, the others set by the client's administrator (as in
    IvozProvider, where e.g. a friend's DDI In and rule set are the client's)."""
    values: dict[str, Any] = dict(name=name, password=password, directConnectivity="no", multiContact=True,
                                  description="", transport="udp", t38Passthrough="no", rtpEncryption=False)
    if entity == "Friend":
        values["priority"] = next(FRIEND_PRIORITY)
    else:
        values["ddiIn"] = "yes"
    if entity == "ResidentialDevice":
        values.update(allow="alaw", maxCalls=0)
    values.update(kw)
    if values.get("directConnectivity") == "intervpbx":  # no password; the name is replaced by the API
        values.pop("password", None)
    level = e.prov.level_for(entity, {"company": company})
    first = {k: v for k, v in values.items() if k in EXPOSURE[level.level][entity]["write"]}
    rid = e.create(entity, company=company, **first)
    rest = {k: v for k, v in values.items() if k not in first}
    if rest:
        client_writes = EXPOSURE["client"][entity]["write"]
        assert set(rest) <= set(client_writes), f"{entity}: no level writes {set(rest) - set(client_writes)}"
        e.update(entity, rid, client=company, **rest)
    return rid


def inbound(e: Edge, name: str, rid: int, ddi: str, ddi_id: int, caller: str = "+34600111222",
            port: int = 41000) -> str:
    """An inbound call of a retail DDI, as proxy-trunks sends it; returns its Call-ID."""
    call_id = f"in-{uid()}"
    e.trunks.send(e.trunks.build(
        "INVITE", f"sip:{name}@127.0.0.1", call_id=call_id, from_tag="tr" + uid(), to=f"sip:{ddi}@127.0.0.1",
        cseq=1, body=sdp(port), from_uri=f"sip:{caller}@127.0.0.1",
        extra=[f"X-Info-RetailAccountId: {rid}", f"X-Info-Ddi: {ddi}", f"X-Info-DdiId: {ddi_id}",
               f"X-Info-Caller: {caller}"]), e.proxy)
    return call_id


class WsUA(UA):
    """The test UA over a SIP-over-WebSocket connection (RFC 7118; ``secure``: WSS over TLS)."""

    def __init__(self, user: str, domain: str, proxy: tuple[str, int], password: str | None, secure: bool = False):
        super().__init__(user, domain, proxy, password)
        self.sock.close()
        raw = socket.create_connection(proxy, timeout=10)
        if secure:
            ctx = ssl.create_default_context()
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
            raw = ctx.wrap_socket(raw)
        self.sock = raw  # type: ignore[assignment]
        self.transport = "WSS" if secure else "WS"
        self.host, self.port = f"{rand(4)}.invalid", 0
        key = base64.b64encode(os.urandom(16)).decode()
        raw.sendall((f"GET / HTTP/1.1\r\nHost: {proxy[0]}:{proxy[1]}\r\nUpgrade: websocket\r\n"
                     f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
                     "Sec-WebSocket-Protocol: sip\r\n\r\n").encode())
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = raw.recv(4096)
            if not chunk:
                raise ConnectionError("WebSocket handshake: connection closed")
            head += chunk
        self.handshake = head.decode(errors="replace")
        self.buf = head.split(b"\r\n\r\n", 1)[1]

    @property
    def contact(self) -> str:
        return f"<sip:{self.user}@{self.host};transport=ws>"

    def via(self, branch: str | None = None) -> str:
        return f"SIP/2.0/{self.transport} {self.host};branch={branch or 'z9hG4bK' + rand()};rport"

    def send(self, text: str, dest: tuple[str, int] | None = None) -> None:
        data, mask = text.encode(), os.urandom(4)
        n = len(data)
        head = bytes([0x81]) + (bytes([0x80 | n]) if n < 126 else bytes([0x80 | 126]) + struct.pack("!H", n))
        self.sock.sendall(head + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(data)))

    def _read(self, n: int) -> bytes:
        while len(self.buf) < n:
            chunk = self.sock.recv(65535)
            if not chunk:
                raise ConnectionError("WebSocket closed")
            self.buf += chunk
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def _frame(self) -> tuple[int, bytes]:
        b0, b1 = self._read(2)
        n = b1 & 0x7F
        if n == 126:
            n = struct.unpack("!H", self._read(2))[0]
        elif n == 127:
            n = struct.unpack("!Q", self._read(8))[0]
        mask = self._read(4) if b1 & 0x80 else b""
        data = self._read(n)
        if mask:
            data = bytes(b ^ mask[i % 4] for i, b in enumerate(data))
        return b0 & 0x0F, data

    def recv(self, match: Any = lambda m: True, timeout: float = 5.0) -> Message:
        for i, m in enumerate(self.pending):
            if match(m):
                return self.pending.pop(i)
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"{self.user} (ws): no matching message in {timeout}s")
            self.sock.settimeout(left)
            try:
                opcode, data = self._frame()
            except TimeoutError:
                continue
            if opcode == 9:  # ping -> pong
                mask = os.urandom(4)
                self.sock.sendall(bytes([0x8A, 0x80 | len(data)]) + mask
                                  + bytes(b ^ mask[i % 4] for i, b in enumerate(data)))
                continue
            if opcode not in (1, 2):
                continue
            m = Message.parse(data, self.proxy)
            if match(m):
                return m
            self.pending.append(m)


def hang_up(ua: UA, d: Any, peer: UA, call_id: str) -> None:
    ua.in_dialog(d, "BYE")
    bye = peer.request("BYE", call_id=call_id)
    peer.respond(bye, 200, "OK")
    assert ua.response(d.call_id, "BYE", final=True).status == 200


# ---------------------------------------------------------------------------- 9.7.3 transformations
def test_retail_and_wholesale_numbers_are_transformed_to_e164(fx: Edge, data: dict[str, Any]) -> None:
    name = f"ra{uid()}"
    rid = account(fx, "RetailAccount", data["retail"], name, pw("s1"))
    ua = fx.ua(name, pw("s1"))
    # national callee and caller written the client's way -> E.164 towards proxy-trunks
    d = ua.invite(f"sip:0911222333@{fx.brand_domain}", body=sdp(41002), wait_final=False,
                  extra=[f"P-Asserted-Identity: <sip:955000002@{fx.brand_domain}>"])
    inv = fx.trunks.request("INVITE")
    assert inv.uri.startswith(f"sip:+34911222333@{fx.brand_domain}")
    assert (inv["x-info-callee"], inv["x-info-caller"]) == ("+34911222333", "+34955000002")
    assert inv["x-info-endpointid"] == str(rid)
    fx.trunks.respond(inv, 486, "Busy Here")
    assert ua.wait_final(d).status == 486
    # a caller that transforms to a number which is not the client's: fallback DDI
    d = ua.invite(f"sip:555@{fx.brand_domain}", body=sdp(41004), wait_final=False,
                  extra=[f"P-Asserted-Identity: <sip:600000000@{fx.brand_domain}>"])
    inv = fx.trunks.request("INVITE")
    assert (inv["x-info-callee"], inv["x-info-caller"]) == ("+34999555", "+34955000001")
    fx.trunks.respond(inv, 486, "Busy Here")
    ua.wait_final(d)
    # wholesale: the client's rule set, no endpoint
    fx.create("Trusted", company=data["wholesale"], srcIp="127.0.0.12", description="t", priority=0)
    w = fx.ua("any", None, domain="customer.example", host="127.0.0.12")
    d = w.invite("sip:0911222444@customer.example", body=sdp(41006), auth=False, wait_final=False,
                 extra=["Remote-Party-ID: <sip:600111333@customer.example>;party=calling"])
    inv = fx.trunks.request("INVITE")
    assert (inv["x-info-type"], inv["x-info-callee"], inv["x-info-caller"]) == (
        "wholesale", "+34911222444", "+34600111333")
    fx.trunks.respond(inv, 486, "Busy Here")
    w.wait_final(d)


def test_vpbx_transformations_skip_extensions(pv: Platform, fx: Edge, data: dict[str, Any],
                                              app_servers) -> None:  # type: ignore[no-untyped-def]
    asrv = fx.ua("as", None, domain=DOMAIN)
    app_servers([f"127.0.0.1:{asrv.port}"])
    name = f"t{uid()}"
    _tid, user_id = pv.add_terminal(name, pw("s2"))
    fx.update("User", user_id, client=pv.company_id(), transformationRuleSet=data["rules"])
    ua = fx.ua(name, pw("s2"), domain=DOMAIN)
    d = ua.invite("0911222555", body=sdp(41008), wait_final=False)
    inv = asrv.request("INVITE")
    assert inv.uri.startswith("sip:+34911222555@")  # external: calleein of the user's rule set
    asrv.respond(inv, 486, "Busy Here")
    ua.wait_final(d)
    d = ua.invite("101", body=sdp(41010), wait_final=False)  # an extension of DemoCompany: untouched
    inv = asrv.request("INVITE")
    assert inv.uri.startswith("sip:101@")
    asrv.respond(inv, 486, "Busy Here")
    ua.wait_final(d)


def test_inbound_retail_call_adapted_to_the_account(fx: Edge, data: dict[str, Any]) -> None:
    name = f"ra{uid()}"
    rid = account(fx, "RetailAccount", data["retail"], name, pw("s3"), ddiIn="yes", fromDomain="retail.customer.example")
    ua = fx.ua(name, pw("s3"))
    assert ua.register().status == 200
    call_id = inbound(fx, name, rid, "+34955000001", data["retail_ddi"])
    got = ua.request("INVITE", call_id=call_id)
    # ddiIn: the called DDI as R-URI and To user, callerout/calleeout of the rule set;
    # the account's "From domain" (spec 10.3.1)
    assert got.uri == f"sip:955000001@127.0.0.1:{ua.port}"
    assert "sip:955000001@" in got["to"]
    assert got["from"].startswith("<sip:600111222@retail.customer.example>")
    ua.respond(got, 486, "Busy Here")
    assert fx.trunks.response(call_id, "INVITE", final=True).status == 486


def test_app_server_call_to_friend_with_ddi_in(pv: Platform, fx: Edge, data: dict[str, Any],
                                               app_servers) -> None:  # type: ignore[no-untyped-def]
    asrv = fx.ua("as", None, domain=DOMAIN)
    app_servers([f"127.0.0.1:{asrv.port}"])
    name = f"fr{uid()}"
    account(fx, "Friend", pv.company_id(), name, pw("s17"), ddiIn="yes",
            transformationRuleSet=data["rules"])
    ua = fx.ua(name, pw("s17"), domain=DOMAIN)
    assert ua.register().status == 200
    call_id = f"as-{uid()}"
    asrv.send(asrv.build("INVITE", f"sip:{name}@{DOMAIN}", call_id=call_id, from_tag="as1", to=f"sip:{name}@{DOMAIN}",
                         cseq=1, body=sdp(41070), from_uri=f"sip:+34600777888@{DOMAIN}",
                         extra=["X-Info-Ddi: +34911000555"]), fx.proxy)
    got = ua.request("INVITE", call_id=call_id)
    assert got.uri == f"sip:911000555@127.0.0.1:{ua.port}"  # ddiIn + calleeout
    assert got["from"].startswith("<sip:600777888@")  # callerout of the friend's rule set
    assert got.get("x-info-ddi") is None
    ua.respond(got, 486, "Busy Here")
    assert asrv.response(call_id, "INVITE", final=True).status == 486


def test_app_server_call_to_friend_uses_callee_and_from_domain(pv: Platform, fx: Edge, data: dict[str, Any],
                                                                app_servers) -> None:  # type: ignore[no-untyped-def]
    """What the dialplan sends towards a friend (docs/appserver-dialplan.md §6): ``X-Info-Callee``
    (the number the friend must see) and ``X-Info-FromDomain`` (its "From domain" setting)."""
    asrv = fx.ua("as", None, domain=DOMAIN)
    app_servers([f"127.0.0.1:{asrv.port}"])
    # DDI In = yes: R-URI and To user = calleeout(X-Info-Callee); From domain = X-Info-FromDomain
    name = f"fr{uid()}"
    account(fx, "Friend", pv.company_id(), name, pw("s18"), ddiIn="yes",
            transformationRuleSet=data["rules"])
    ua = fx.ua(name, pw("s18"), domain=DOMAIN)
    assert ua.register().status == 200
    call_id = f"as-{uid()}"
    asrv.send(asrv.build("INVITE", f"sip:{name}@{DOMAIN}", call_id=call_id, from_tag="as2", to=f"sip:{name}@{DOMAIN}",
                         cseq=1, body=sdp(41080), from_uri=f"sip:101@{DOMAIN}",
                         extra=["X-Info-Callee: +34911000556", "X-Info-FromDomain: pbx.customer.example"]), fx.proxy)
    got = ua.request("INVITE", call_id=call_id)
    assert got.uri == f"sip:911000556@127.0.0.1:{ua.port}"
    assert "sip:911000556@" in got["to"]
    assert got["from"].startswith("<sip:101@pbx.customer.example>")  # an extension: user kept
    assert got.get("x-info-callee") is None and got.get("x-info-fromdomain") is None
    ua.respond(got, 486, "Busy Here")
    assert asrv.response(call_id, "INVITE", final=True).status == 486
    # an extension of the client is internal: passed as it is, not through calleeout
    call_id = f"as-{uid()}"
    asrv.send(asrv.build("INVITE", f"sip:{name}@{DOMAIN}", call_id=call_id, from_tag="as3", to=f"sip:{name}@{DOMAIN}",
                         cseq=1, body=sdp(41082), from_uri=f"sip:+34600777888@{DOMAIN}",
                         extra=["X-Info-Callee: 101"]), fx.proxy)
    got = ua.request("INVITE", call_id=call_id)
    assert got.uri == f"sip:101@127.0.0.1:{ua.port}"
    assert got["from"].startswith("<sip:600777888@127.0.0.1>")  # callerout, From domain unchanged
    ua.respond(got, 486, "Busy Here")
    asrv.response(call_id, "INVITE", final=True)
    # DDI In = no: the registered contact's user is kept (spec 10.1.5 "DDI In")
    name2 = f"fr{uid()}"
    account(fx, "Friend", pv.company_id(), name2, pw("s19"), ddiIn="no",
            transformationRuleSet=data["rules"])
    ua2 = fx.ua(name2, pw("s19"), domain=DOMAIN)
    assert ua2.register().status == 200
    call_id = f"as-{uid()}"
    asrv.send(asrv.build("INVITE", f"sip:{name2}@{DOMAIN}", call_id=call_id, from_tag="as4",
                         to=f"sip:{name2}@{DOMAIN}", cseq=1, body=sdp(41084), from_uri=f"sip:101@{DOMAIN}",
                         extra=["X-Info-Callee: +34911000557"]), fx.proxy)
    got = ua2.request("INVITE", call_id=call_id)
    assert got.uri == f"sip:{name2}@127.0.0.1:{ua2.port}"
    ua2.respond(got, 486, "Busy Here")
    asrv.response(call_id, "INVITE", final=True)
    # a residential device with DDI In, called for its DDI: calleeout of its client's rules
    name3 = f"rd{uid()}"
    account(fx, "ResidentialDevice", data["residential"], name3, pw("s20"), ddiIn="yes", allow="alaw")
    ua3 = fx.ua(name3, pw("s20"))
    assert ua3.register().status == 200
    call_id = f"as-{uid()}"
    asrv.send(asrv.build("INVITE", f"sip:{name3}@{fx.brand_domain}", call_id=call_id, from_tag="as5",
                         to=f"sip:{name3}@{fx.brand_domain}", cseq=1, body=sdp(41086),
                         from_uri=f"sip:+34600777888@{fx.brand_domain}",
                         extra=["X-Info-Callee: +34955000101"]), fx.proxy)
    got = ua3.request("INVITE", call_id=call_id)
    assert got.uri == f"sip:955000101@127.0.0.1:{ua3.port}"
    ua3.respond(got, 486, "Busy Here")
    asrv.response(call_id, "INVITE", final=True)


def test_real_dialplan_call_to_a_friend_pattern_reaches_the_friend_with_the_dialled_number(
        pv: Platform, fx: Edge, as_real: AppServers, app_servers) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    """End to end with the real application server and dialplan (session proxy-users): Alice dials
    a number of a friend's pattern; the dialplan sends the friend leg with ``X-Info-Callee`` and
    ``X-Info-FromDomain`` (docs/appserver-dialplan.md §6) and the friend (DDI In = yes) receives the
    dialled number as R-URI/To user and its From domain."""
    app_servers([f"127.0.0.1:{p}" for p, proc in as_real.workers if proc.alive()])
    name = f"frp{uid()}"
    fid = account(fx, "Friend", pv.company_id(), name, pw("s22"), ddiIn="yes",
                  fromDomain="friend.customer.example")
    fx.create("FriendsPattern", company=pv.company_id(), friend=fid, name="sevens", regExp=r"^7[0-9]{3}$")
    friend = pv.ua(name, pw("s22"))  # registered at the session's proxy-users, which the worker uses
    assert friend.register().status == 200
    alice = pv.ua("alice", ALICE_PW)
    d = alice.invite(f"sip:7001@{DOMAIN}", body=sdp(41096), wait_final=False)
    got = friend.request("INVITE", timeout=15)
    assert got.uri == f"sip:7001@127.0.0.1:{friend.port}"
    assert "sip:7001@" in got["to"]
    assert "<sip:101@friend.customer.example>" in got["from"]  # Alice's extension, the friend's From domain
    assert got.get("x-info-callee") is None
    friend.respond(got, 486, "Busy Here")
    assert alice.wait_final(d, timeout=15).status == 486
    friend.register(expires=0)


def inter_vpbx(fx: Edge, pv: Platform, app_servers) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    """Clients A, B and C of one corporation, each with its SIP domain; B served by an application
    server set of its own (``as2``), A by the platform's (``as1``); A linked to B and to C by
    inter-vPBX friends, created by the brand operator (IvozProvider names both friends of a link
    alike and derives their From domain)."""
    god = pv.prov.platform
    as1, as2 = fx.ua("as1", None, domain=DOMAIN), fx.ua("as2", None, domain=DOMAIN)
    app_servers([f"127.0.0.1:{as1.port}", f"127.0.0.1:{as2.port}"])
    as2_id = next(r["id"] for r in god.list("application_servers") if r["ip"] == f"127.0.0.1:{as2.port}")
    n = uid()
    only_as2 = god.post("application_server_sets", {"name": f"set-{n}", "description": "",
                                                    "distributeMethod": "hash", "applicationServers": [as2_id]})["id"]
    fx.undo.append(lambda: god.delete(f"application_server_sets/{only_as2}"))
    corp = fx.create("Corporation", name=f"corp-{n}", description="")
    dom = {k: f"{k}-{n}.test" for k in "abc"}
    a = fx.company("vpbx", f"A-{n}", corporation=corp, domainUsers=dom["a"])
    b = fx.company("vpbx", f"B-{n}", corporation=corp, domainUsers=dom["b"], applicationServerSet=only_as2)
    c = fx.company("vpbx", f"C-{n}", corporation=corp, domainUsers=dom["c"])
    client_a = fx.prov.client(a)
    to_b = client_a.get(f"friends/{account(fx, 'Friend', a, 'tob', directConnectivity='intervpbx', interCompany=b)}")
    to_c = client_a.get(f"friends/{account(fx, 'Friend', a, 'toc', directConnectivity='intervpbx', interCompany=c)}")
    peer, back_from_c = (friend_back(fx, other, a) for other in (b, c))
    return {"as1": as1, "as2": as2, "a": a, "b": b, "c": c, "dom": dom, "to_b": to_b["name"], "to_c": to_c["name"],
            "peer": peer["id"], "back_from_c": back_from_c["id"]}


def friend_back(fx: Edge, company: int, to: int) -> dict[str, Any]:
    """``company``'s inter-vPBX friend to client ``to``: the one the API made with the link, or one
    the brand operator adds (IvozProvider 3.4 makes no twin)."""
    found = [f for f in fx.prov.client(company).list("friends") if f.get("interCompany") in (to, {"id": to})]
    if not found:
        return fx.prov.client(company).get(
            f"friends/{account(fx, 'Friend', company, 'back', directConnectivity='intervpbx', interCompany=to)}")
    return found[0]


def test_inter_vpbx_friend_reaches_the_target_clients_application_server(
        pv: Platform, fx: Edge, app_servers) -> None:  # type: ignore[no-untyped-def]
    """Spec 10.1.5 "Internal friends": the application server of client A dials A's inter-vPBX
    friend; proxy-users hands the call to client B's application server set as a call from B's
    inter-vPBX friend pointing back to A, for the extension in X-Info-Callee."""
    iv = inter_vpbx(fx, pv, app_servers)
    as1, as2, b, dom_a, dom_b, to_b = iv["as1"], iv["as2"], iv["b"], iv["dom"]["a"], iv["dom"]["b"], iv["to_b"]
    call_id = f"iv-{uid()}"
    as1.send(as1.build("INVITE", f"sip:{to_b}@{dom_a}", call_id=call_id, from_tag="iv1", to=f"sip:{to_b}@{dom_a}",
                       cseq=1, body=sdp(41090), from_uri=f"sip:101@{dom_a}",
                       extra=["X-Info-Callee: 201", "X-Info-CompanyId: 999"]), fx.proxy)
    got = as2.request("INVITE", call_id=call_id)
    assert got.uri == f"sip:201@{dom_b}"
    assert (got["x-info-companyid"], got["x-info-type"]) == (str(b), "vpbx")
    assert (got["x-info-endpointtype"], got["x-info-endpointid"]) == ("friend", str(iv["peer"]))
    assert got["x-info-endpointname"] == to_b  # both friends of the link have the same name
    assert got["x-info-caller"] == "101"
    assert got["from"].startswith(f"<sip:101@{dom_a}>")
    as2.respond(got, 486, "Busy Here")
    r = as1.response(call_id, "INVITE", final=True)
    assert r.status == 486 and r.get("x-info-type") is None
    # clients of different corporations: 403
    fx.update("Company", b, corporation=None)
    call_id = f"iv-{uid()}"
    as1.send(as1.build("INVITE", f"sip:{to_b}@{dom_a}", call_id=call_id, from_tag="iv3", to=f"sip:{to_b}@{dom_a}",
                       cseq=1, body=sdp(41094), from_uri=f"sip:101@{dom_a}", extra=["X-Info-Callee: 201"]),
             fx.proxy)
    r = as1.response(call_id, "INVITE", final=True)
    assert (r.status, r.reason) == (403, "Forbidden: inter-vPBX friend to a client of another corporation")


def test_inter_vpbx_friend_without_a_friend_back_is_refused(pv: Platform, fx: Edge,
                                                           app_servers) -> None:  # type: ignore[no-untyped-def]
    """The target client's administrator turns its end of the link into an ordinary friend: the
    calls of A's friend find no inter-vPBX friend back in C (404)."""
    iv = inter_vpbx(fx, pv, app_servers)
    as1, a, c, dom_a, to_c = iv["as1"], iv["a"], iv["c"], iv["dom"]["a"], iv["to_c"]
    fx.update("Friend", iv["back_from_c"], client=c, directConnectivity="no", password=pw("back"))
    call_id = f"iv-{uid()}"
    as1.send(as1.build("INVITE", f"sip:{to_c}@{dom_a}", call_id=call_id, from_tag="iv2", to=f"sip:{to_c}@{dom_a}",
                       cseq=1, body=sdp(41092), from_uri=f"sip:101@{dom_a}", extra=["X-Info-Callee: 301"]),
             fx.proxy)
    r = as1.response(call_id, "INVITE", final=True)
    assert (r.status, r.reason) == (404, f"Not Found: client {c} has no inter-vPBX friend back to client {a}")


# ---------------------------------------------------------------------------- 12.5 max calls
def test_client_and_brand_max_calls(fx: Edge, data: dict[str, Any]) -> None:
    name = f"ra{uid()}"
    rid = account(fx, "RetailAccount", data["retail"], name, pw("s4"))
    ua = fx.ua(name, pw("s4"))
    assert ua.register().status == 200
    fx.update("Company", data["retail"], maxCalls=1)
    try:
        d1 = ua.invite(f"sip:0911000001@{fx.brand_domain}", body=sdp(41012), wait_final=False)
        inv1 = fx.trunks.request("INVITE")
        fx.trunks.answer(inv1, body=sdp(41014))
        assert ua.wait_final(d1).status == 200
        # outbound: 403 with the reason; inbound: 486
        d2 = ua.invite(f"sip:0911000002@{fx.brand_domain}", body=sdp(41016))
        assert d2.answer is not None
        assert (d2.answer.status, d2.answer.reason) == (403, "Forbidden: client maximum concurrent calls reached")
        call_id = inbound(fx, name, rid, "+34955000001", data["retail_ddi"], port=41018)
        r = fx.trunks.response(call_id, "INVITE", final=True)
        assert (r.status, r.reason) == (486, "Busy Here: client maximum concurrent calls reached")
        # brand limit, independent of the client's (client unlimited now)
        fx.update("Company", data["retail"], maxCalls=0)
        fx.prov.platform.put(f"brands/{fx.brand_id}", {"maxCalls": 1})  # the global operator's limit
        d3 = ua.invite(f"sip:0911000003@{fx.brand_domain}", body=sdp(41020))
        assert d3.answer is not None
        assert (d3.answer.status, d3.answer.reason) == (403, "Forbidden: brand maximum concurrent calls reached")
        hang_up(ua, d1, fx.trunks, inv1.call_id)
        d4 = ua.invite(f"sip:0911000004@{fx.brand_domain}", body=sdp(41022), wait_final=False)
        inv4 = fx.trunks.request("INVITE")
        fx.trunks.respond(inv4, 486, "Busy Here")
        assert ua.wait_final(d4).status == 486
    finally:
        fx.update("Company", data["retail"], maxCalls=0)
        fx.prov.platform.put(f"brands/{fx.brand_id}", {"maxCalls": 0})


# ---------------------------------------------------------------------------- 10.3.1 call forwards
def test_retail_unconditional_forward_per_ddi(fx: Edge, data: dict[str, Any]) -> None:
    name = f"ra{uid()}"
    rid = account(fx, "RetailAccount", data["retail"], name, pw("s5"))
    ua = fx.ua(name, pw("s5"))
    assert ua.register().status == 200
    # set by the client's administrator: numbers are national digits and their country
    fx.create("CallForwardSetting", company=data["retail"], retailAccount=rid, callForwardType="inconditional",
              targetType="number", numberValue="600222333", numberCountry=data["spain"], enabled=True,
              callTypeFilter="both", noAnswerTimeout=0)
    fx.create("CallForwardSetting", company=data["retail"], retailAccount=rid, callForwardType="inconditional",
              targetType="number", numberValue="201234567", numberCountry=data["uk"], ddi=data["retail_ddi2"],
              enabled=True, callTypeFilter="both", noAnswerTimeout=0)
    call_id = inbound(fx, name, rid, "+34955000001", data["retail_ddi"], port=41024)
    fwd = fx.trunks.request("INVITE", call_id=call_id)
    assert fwd.uri.startswith("sip:+34600222333@")
    assert fwd["diversion"] == f"<sip:+34955000001@{fx.brand_domain}>;reason=unconditional;counter=1"
    assert (fwd["x-info-type"], fwd["x-info-endpointtype"], fwd["x-info-endpointid"]) == (
        "retail", "retail", str(rid))
    assert (fwd["x-info-callee"], fwd["x-info-caller"]) == ("+34600222333", "+34600111222")
    assert fwd.get("x-info-retailaccountid") is None
    fx.trunks.respond(fwd, 486, "Busy Here")
    assert fx.trunks.response(call_id, "INVITE", final=True).status == 486
    # the forward set for the called DDI wins over the one for any DDI
    call_id = inbound(fx, name, rid, "+34955000002", data["retail_ddi2"], port=41026)
    fwd = fx.trunks.request("INVITE", call_id=call_id)
    assert fwd.uri.startswith("sip:+44201234567@")
    fx.trunks.respond(fwd, 486, "Busy Here")
    fx.trunks.response(call_id, "INVITE", final=True)
    assert not [m for m in ua.drain() if m.is_request]  # the account itself never rang


def test_retail_unreachable_forward(fx: Edge, data: dict[str, Any]) -> None:
    name, other = f"ra{uid()}", f"rb{uid()}"
    rid = account(fx, "RetailAccount", data["retail"], name, pw("s6"))
    oid = account(fx, "RetailAccount", data["retail"], other, pw("s7"), ddiIn="no")  # called by its name
    cfw = fx.create("CallForwardSetting", company=data["retail"], retailAccount=rid,
                    callForwardType="userNotRegistered", targetType="number", numberValue="600444555",
                    numberCountry=data["spain"], enabled=True, callTypeFilter="both", noAnswerTimeout=0)
    # not registered: forwarded at once
    call_id = inbound(fx, name, rid, "+34955000001", data["retail_ddi"], port=41028)
    fwd = fx.trunks.request("INVITE", call_id=call_id, timeout=10)
    assert fwd.uri.startswith("sip:+34600444555@")
    assert fwd["diversion"].endswith(";reason=unavailable;counter=1")
    fx.trunks.respond(fwd, 486, "Busy Here")
    fx.trunks.response(call_id, "INVITE", final=True)
    # registered but the device answers 408: forwarded from the failure route
    ua = fx.ua(name, pw("s6"))
    assert ua.register().status == 200
    call_id = inbound(fx, name, rid, "+34955000001", data["retail_ddi"], port=41030)
    got = ua.request("INVITE", call_id=call_id, timeout=10)
    ua.respond(got, 408, "Request Timeout")
    fwd = fx.trunks.request("INVITE", call_id=call_id, timeout=10)
    assert fwd.uri.startswith("sip:+34600444555@")
    assert fwd["x-info-endpointid"] == str(rid)
    fx.trunks.respond(fwd, 486, "Busy Here")  # the forwarded leg's answer reaches the caller
    assert fx.trunks.response(call_id, "INVITE", final=True, timeout=10).status == 486
    # to another retail account of the client: that one rings instead
    fx.update("CallForwardSetting", cfw, client=data["retail"], targetType="retail", numberValue=None,
              numberCountry=None, cfwToRetailAccount=oid)
    ua.register(expires=0)
    ub = fx.ua(other, pw("s7"))
    assert ub.register().status == 200
    call_id = inbound(fx, name, rid, "+34955000001", data["retail_ddi"], port=41034)
    got = ub.request("INVITE", call_id=call_id, timeout=10)
    assert got.uri == f"sip:{other}@127.0.0.1:{ub.port}"
    assert "reason=unavailable" in got["diversion"]
    ub.respond(got, 486, "Busy Here")
    assert fx.trunks.response(call_id, "INVITE", final=True).status == 486


# ---------------------------------------------------------------------------- 12.3/12.4 IP filter
def banned_rows(pf: Platform, blocker: str, ip: str) -> list[Any]:
    b = _t("BannedAddress")
    with pf.engine.connect() as c:
        return list(c.execute(select(b).where(b.c.blocker == blocker, b.c.ip == ip)).all())


def test_ip_filter_ranges_and_geoip(fx: Edge, data: dict[str, Any]) -> None:
    company = fx.company("residential", f"Fip-{uid()}", ipfilter=True)
    name = f"rd{uid()}"
    account(fx, "ResidentialDevice", company, name, pw("s8"), allow="alaw")
    # enabled filter, both lists empty: everything refused, listed as ipfilter
    r = fx.ua(name, pw("s8")).register()
    assert (r.status, r.reason) == (403, "Forbidden: source address not allowed")
    rows = banned_rows(fx.pf, "ipfilter", "127.0.0.1")
    assert rows and rows[0].companyId == company and rows[0].aor == f"{name}@{fx.brand_domain}"
    # an authorized range
    fx.create("UsersAddress", company=company, sourceAddress="127.0.0.0/30", description="office")
    assert fx.ua(name, pw("s8")).register().status == 200
    r = fx.ua(name, pw("s8"), host="127.0.0.8").register()
    assert r.status == 403
    # GeoIP: Spain is allowed; 127.0.0.8 is located in Spain by this proxy's geoip_local
    fx.update("Company", company, geoIpAllowedCountries=[data["spain"]])
    assert fx.ua(name, pw("s8"), host="127.0.0.8").register().status == 200
    assert fx.ua(name, pw("s8"), host="127.0.0.9").register().status == 403
    d = fx.ua(name, pw("s8"), host="127.0.0.9").invite("0911222666", body=sdp(41036))
    assert d.answer is not None and d.answer.status == 403


def test_roadwarrior_calls_from_non_granted_addresses(pv: Platform, fx: Edge, data: dict[str, Any],
                                                      app_servers) -> None:  # type: ignore[no-untyped-def]
    asrv = fx.ua("as", None, domain=DOMAIN)
    app_servers([f"127.0.0.1:{asrv.port}"])
    demo = pv.company_id()
    name = f"rw{uid()}"
    _tid, user_id = pv.add_terminal(name, pw("s9"))
    fx.update("User", user_id, client=demo, externalIpCalls="1")
    fx.create("UsersAddress", company=demo, sourceAddress="127.0.0.1/32", description="office")
    fx.update("Company", demo, ipfilter=True)
    try:
        road = fx.ua(name, pw("s9"), domain=DOMAIN, host="127.0.0.13")
        assert road.register().status == 200  # registering is not a generated call
        d1 = road.invite("101", body=sdp(41038), wait_final=False)
        inv = asrv.request("INVITE")
        asrv.answer(inv, body=sdp(41040))
        assert road.wait_final(d1).status == 200
        d2 = road.invite("102", body=sdp(41042))
        assert d2.answer is not None
        assert (d2.answer.status, d2.answer.reason) == (
            403, "Forbidden: calls from non-granted addresses limit reached")
        # from the office the same user is not limited
        office = fx.ua(name, pw("s9"), domain=DOMAIN)
        d3 = office.invite("102", body=sdp(41044), wait_final=False)
        inv3 = asrv.request("INVITE")
        asrv.respond(inv3, 486, "Busy Here")
        assert office.wait_final(d3).status == 486
        hang_up(road, d1, asrv, inv.call_id)
        d4 = road.invite("102", body=sdp(41046), wait_final=False)
        inv4 = asrv.request("INVITE")
        asrv.respond(inv4, 486, "Busy Here")
        assert road.wait_final(d4).status == 486
        # a user without the option must fulfil the policy
        fx.update("User", user_id, client=demo, externalIpCalls="0")
        d5 = road.invite("102", body=sdp(41048))
        assert d5.answer is not None and d5.answer.reason == "Forbidden: source address not allowed"
    finally:
        fx.update("Company", demo, ipfilter=False)


# ---------------------------------------------------------------------------- 12.7 brute force
def test_bruteforce_ban(fx: Edge, data: dict[str, Any]) -> None:
    name = f"ra{uid()}"
    account(fx, "RetailAccount", data["retail"], name, pw("right"))
    host = "127.0.0.14"
    for _ in range(3):  # threshold 3 in this proxy
        r = fx.ua(name, "wrong", host=host).register()
        assert (r.status, r.reason) == (403, "Forbidden: wrong credentials")
    r = fx.ua(name, pw("right"), host=host).register()
    assert (r.status, r.reason) == (403, "Forbidden: banned source")
    rows = banned_rows(fx.pf, "antibruteforce", host)
    assert [(row.aor, row.brandId) for row in rows] == [(f"{name}@{fx.brand_domain}", fx.brand_id)]
    # another source address, or another user from the same address, is not banned
    assert fx.ua(name, pw("right")).register().status == 200
    r = fx.ua(f"x{name}", "x", host=host).register()
    assert (r.status, r.reason) == (404, "Not Found: unknown endpoint")
    # after the ban (3 s) the source is accepted; the counter restarts near the threshold
    time.sleep(3.5)
    assert fx.ua(name, pw("right"), host=host).register().status == 200
    assert fx.ua(name, "wrong", host=host).register().status == 403
    r = fx.ua(name, pw("right"), host=host).register()
    assert (r.status, r.reason) == (403, "Forbidden: banned source")
    # a scanner trying a user that does not exist in a vPBX client's domain: banned too, the row
    # carries the client and its brand (the brand's BannedAddresses list shows it)
    for _ in range(3):
        assert fx.ua("admin", "1234", domain=DOMAIN, host="127.0.0.15").register().status == 404
    r = fx.ua("admin", "1234", domain=DOMAIN, host="127.0.0.15").register()
    assert (r.status, r.reason) == (403, "Forbidden: banned source")
    c = _t("Company")
    with fx.pf.engine.connect() as conn:
        demo_brand = conn.execute(select(c.c.brandId).where(c.c.id == fx.pf.company_id())).scalar_one()
    rows = banned_rows(fx.pf, "antibruteforce", "127.0.0.15")
    assert [(row.aor, row.companyId, row.brandId) for row in rows] == [
        (f"admin@{DOMAIN}", fx.pf.company_id(), demo_brand)]


# ---------------------------------------------------------------------------- media: transcoding, SRTP
def _codecs(body: str) -> list[int]:
    for line in body.splitlines():
        if line.startswith("m=audio"):
            return [int(p) for p in line.split()[3:]]
    return []


def test_retail_transcoding_pcmu_phone_to_pcma_only_carrier(fx: Edge, data: dict[str, Any]) -> None:
    from tests.sip.ua import RtpPort, sdp_media

    pcma = next(c["id"] for c in fx.prov.brand(fx.brand_id).list("codecs") if c["iden"] == "PCMA")
    company = fx.company("retail", f"Ftc-{uid()}", ipfilter=False, codecIds=[pcma])
    fx.update("Company", company, outgoingDdi=ddi(fx, company, "955000301"))
    name = f"ra{uid()}"
    account(fx, "RetailAccount", company, name, pw("s10"))
    ua = fx.ua(name, pw("s10"))
    phone, carrier = RtpPort(), RtpPort()
    try:
        d = ua.invite(f"sip:+34911222777@{fx.brand_domain}", body=sdp(phone.port, codecs=(0, 101)), wait_final=False)
        inv = fx.trunks.request("INVITE")
        assert 8 in _codecs(inv.body), inv.body  # PCMA added to the phone's PCMU offer
        _, to_carrier = sdp_media(inv.body)
        fx.trunks.answer(inv, body=sdp(carrier.port, codecs=(8, 101)))  # the carrier only takes PCMA
        ok = ua.wait_final(d)
        assert ok.status == 200
        assert _codecs(ok.body)[0] == 0, ok.body  # the phone keeps talking PCMU
        _, to_phone = sdp_media(ok.body)
        phone.send(("127.0.0.1", to_phone), count=15, pt=0)
        got = carrier.receive(timeout=4.0)
        assert len(got) >= 5
        assert {pkt[1] & 0x7F for pkt, _ in got} == {8}  # transcoded to PCMA by rtpengine
        carrier.send(("127.0.0.1", to_carrier), count=15, pt=8)
        back = phone.receive(timeout=4.0)
        assert len(back) >= 5 and {pkt[1] & 0x7F for pkt, _ in back} == {0}
        hang_up(ua, d, fx.trunks, inv.call_id)
    finally:
        phone.close()
        carrier.close()


CRYPTO = "a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:WVNfX19zZW1jdGwgKCkgewkyMjA7fQp9CnVubGVz"


def test_srtp_endpoint_gets_savp_and_inside_gets_avp(pv: Platform, fx: Edge, data: dict[str, Any],
                                                     app_servers) -> None:  # type: ignore[no-untyped-def]
    asrv = fx.ua("as", None, domain=DOMAIN)
    app_servers([f"127.0.0.1:{asrv.port}"])
    name = f"s{uid()}"
    tid, _uid = pv.add_terminal(name, pw("s11"))
    fx.update("Terminal", tid, client=pv.company_id(), rtpEncryption=True)
    phone = fx.ua(name, pw("s11"), domain=DOMAIN)
    assert phone.register().status == 200
    call_id = f"srtp-{uid()}"
    asrv.send(asrv.build("INVITE", f"sip:{name}@{DOMAIN}", call_id=call_id, from_tag="as" + uid(),
                         to=f"sip:{name}@{DOMAIN}", cseq=1, body=sdp(41050)), fx.proxy)
    got = phone.request("INVITE", call_id=call_id)
    assert "RTP/SAVP" in got.body and "a=crypto:" in got.body, got.body
    answer = sdp(41052).replace("RTP/AVP", "RTP/SAVP") + CRYPTO + "\r\n"
    phone.respond(got, 200, "OK", body=answer, to_tag="ph1")
    ok = asrv.response(call_id, "INVITE", final=True)
    assert ok.status == 200 and "RTP/AVP" in ok.body and "a=crypto" not in ok.body, ok.body
    # calls from the SRTP terminal: plain RTP refused, SRTP offered -> plain RTP inside
    d = phone.invite("101", body=sdp(41054))
    assert d.answer is not None
    assert (d.answer.status, d.answer.reason) == (488, "Not Acceptable Here: RTP encryption required")
    d = phone.invite("101", body=sdp(41056).replace("RTP/AVP", "RTP/SAVP") + CRYPTO + "\r\n",
                     wait_final=False)
    inv = asrv.request("INVITE", call_id=d.call_id)
    assert "RTP/AVP" in inv.body and "a=crypto" not in inv.body, inv.body
    asrv.respond(inv, 486, "Busy Here")
    assert phone.wait_final(d).status == 486


WEBRTC_FP = ":".join(["AB"] * 32)


def webrtc_sdp(port: int) -> str:
    return ("v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
            f"m=audio {port} UDP/TLS/RTP/SAVPF 0 8\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:8 PCMA/8000\r\n"
            "a=ice-ufrag:Fx7q\r\na=ice-pwd:3kXJ0bSg0lB1nF9Y8vN5Wq2e\r\n"
            f"a=fingerprint:sha-256 {WEBRTC_FP}\r\na=setup:actpass\r\na=rtcp-mux\r\n"
            f"a=candidate:1 1 UDP 2130706431 127.0.0.1 {port} typ host\r\na=sendrecv\r\n")


# ---------------------------------------------------------------------------- transports: WS, WSS, TLS
def test_webrtc_over_ws_bridged_to_plain_rtp(pv: Platform, fx: Edge, data: dict[str, Any],
                                             app_servers) -> None:  # type: ignore[no-untyped-def]
    asrv = fx.ua("as", None, domain=DOMAIN)
    app_servers([f"127.0.0.1:{asrv.port}"])
    name = f"w{uid()}"
    pv.add_terminal(name, pw("s12"))
    ws = WsUA(name, DOMAIN, ("127.0.0.1", fx.settings.ws_port), pw("s12"))  # type: ignore[attr-defined]
    pv.uas.append(ws)
    assert ws.handshake.startswith("HTTP/1.1 101"), ws.handshake
    assert ws.register().status == 200
    # browser -> inside: ICE/DTLS-SRTP removed, plain RTP/AVP towards the application server
    d = ws.invite("101", body=webrtc_sdp(41060), wait_final=False)
    inv = asrv.request("INVITE")
    assert "RTP/AVP" in inv.body and "SAVPF" not in inv.body, inv.body
    assert "a=ice-ufrag" not in inv.body and "a=fingerprint" not in inv.body, inv.body
    # the answer towards the browser is WebRTC again (ICE, DTLS fingerprint)
    as_dlg = asrv.answer(inv, body=sdp(41064))
    ok = ws.wait_final(d)
    assert ok.status == 200 and "UDP/TLS/RTP/SAVPF" in ok.body and "a=fingerprint:" in ok.body, ok.body
    # re-INVITE from the application server (upstream): WebRTC towards the browser; its answer
    # comes back as plain RTP (flags kept in the dialog, chosen by direction)
    asrv.in_dialog(as_dlg, "INVITE", body=sdp(41066))
    re_inv = ws.request("INVITE", call_id=d.call_id)
    assert "UDP/TLS/RTP/SAVPF" in re_inv.body and "a=ice-ufrag:" in re_inv.body, re_inv.body
    ws.respond(re_inv, 200, "OK", body=webrtc_sdp(41060), to_tag=ok.tag("to"))
    re_ok = asrv.response(d.call_id, "INVITE", final=True)
    assert re_ok.status == 200 and "RTP/AVP" in re_ok.body and "a=fingerprint" not in re_ok.body, re_ok.body
    hang_up(ws, d, asrv, d.call_id)
    # inside -> browser: reached over its WebSocket connection, with ICE and DTLS-SRTP
    call_id = f"ws-{uid()}"
    asrv.send(asrv.build("INVITE", f"sip:{name}@{DOMAIN}", call_id=call_id, from_tag="as" + uid(),
                         to=f"sip:{name}@{DOMAIN}", cseq=1, body=sdp(41062)), fx.proxy)
    got = ws.request("INVITE", call_id=call_id)
    assert "UDP/TLS/RTP/SAVPF" in got.body and "a=fingerprint:" in got.body, got.body
    assert "a=ice-ufrag:" in got.body and "a=candidate:" in got.body and "a=rtcp-mux" in got.body
    ws.respond(got, 486, "Busy Here")
    assert asrv.response(call_id, "INVITE", final=True).status == 486


def test_wss_and_tls_transports_with_generated_certificate(pv: Platform, fx: Edge, data: dict[str, Any]) -> None:
    st = fx.settings  # type: ignore[attr-defined]
    cert = st.home / "tls" / "proxy-users.crt"
    assert cert.is_file() and (st.home / "tls" / "proxy-users.key").is_file()
    # WSS: a retail account registers over secure WebSocket
    name = f"ra{uid()}"
    account(fx, "RetailAccount", data["retail"], name, pw("s13"))
    wss = WsUA(name, fx.brand_domain, ("127.0.0.1", st.wss_port), pw("s13"), secure=True)
    pv.uas.append(wss)
    assert wss.handshake.startswith("HTTP/1.1 101"), wss.handshake
    assert wss.register().status == 200
    # SIP over TLS: the server certificate is the generated one, OPTIONS answered
    ctx = ssl.create_default_context(cafile=str(cert))
    ctx.check_hostname = False
    with socket.create_connection(("127.0.0.1", st.tls_port), timeout=10) as raw, \
            ctx.wrap_socket(raw) as tls_sock:  # verified against the generated certificate
        cid = f"tls-{uid()}"
        tls_sock.sendall((f"OPTIONS sip:127.0.0.1:{st.tls_port};transport=tls SIP/2.0\r\n"
                          f"Via: SIP/2.0/TLS x.invalid;branch=z9hG4bK{rand()};rport\r\nMax-Forwards: 70\r\n"
                          f"From: <sip:probe@x.invalid>;tag=1\r\nTo: <sip:127.0.0.1>\r\nCall-ID: {cid}\r\n"
                          "CSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n").encode())
        answer = tls_sock.recv(4096).decode()
    assert answer.startswith("SIP/2.0 200 Keepalive"), answer
    # the certificate is kept (replaceable): rendering again does not regenerate it
    before = cert.read_bytes()
    render.render(st, nodes=[(1, "udp:127.0.0.1:1", 1, False)])
    assert cert.read_bytes() == before


def test_nat_keepalive_pings_natted_udp_contact(fx: Edge, data: dict[str, Any]) -> None:
    name = f"ra{uid()}"
    account(fx, "RetailAccount", data["retail"], name, pw("s14"))
    ua = fx.ua(name, pw("s14"))
    # a phone behind NAT: private Contact address, reached at its source address
    assert ua.register(contact=f"<sip:{name}@10.11.12.13:5060>").status == 200
    ping = ua.request("OPTIONS", timeout=10)  # natping_interval = 1 s in this proxy
    assert ping.uri.startswith(f"sip:{name}@10.11.12.13") or "10.11.12.13" in ping.uri, ping.uri
    assert ping["from"].startswith("<sip:pinger@") or "pinger@" in ping["from"]
    # a contact that is not NATed is not pinged
    other = f"rb{uid()}"
    account(fx, "RetailAccount", data["retail"], other, pw("s15"))
    ub = fx.ua(other, pw("s15"))
    assert ub.register().status == 200
    assert not [m for m in ub.drain(2.5) if m.is_request and m.method == "OPTIONS"]


# ---------------------------------------------------------------------------- 12.2 anti-flood
def test_antiflood_ignores_a_flooding_address(fx: Edge, data: dict[str, Any]) -> None:
    name = f"ra{uid()}"
    account(fx, "RetailAccount", data["retail"], name, pw("s16"))
    host = "127.0.0.16"
    flood = fx.ua("scan", None, domain="nowhere.example", host=host)
    for i in range(120):  # requests failing identification (unknown SIP domain) are counted
        flood.send(flood.build("REGISTER", "sip:nowhere.example", call_id=f"fl-{i}-{uid()}", from_tag="f",
                               to="sip:scan@nowhere.example", cseq=1, from_uri="sip:scan@nowhere.example"))
    answers = [m for m in flood.drain(1.0) if not m.is_request]
    assert 20 <= len(answers) < 120, len(answers)  # answered until the density was exceeded
    assert {(m.status, m.reason) for m in answers} == {(403, "Forbidden: unknown domain")}
    rows = banned_rows(fx.pf, "antiflood", host)
    assert len(rows) == 1 and rows[0].lastTimeBanned is not None
    # while banned even a valid endpoint on that address is ignored; other addresses are served
    with pytest.raises(TimeoutError):
        fx.ua(name, pw("s16"), host=host).register()
    assert fx.ua(name, pw("s16")).register().status == 200
    time.sleep(3.5)  # ban over (3 s in this proxy)
    assert fx.ua(name, pw("s16"), host=host).register().status == 200


def test_deleting_a_banned_address_row_lifts_the_ban(fx: Edge, data: dict[str, Any]) -> None:
    """Spec 9.8.6 "You can unblock any source": the brand operator deletes the brute-force ban
    through the API (DELETE /banned_addresses/antibruteforce/{id}); the ban is lifted at the next
    request and the failure counter starts again."""
    name = f"ra{uid()}"
    account(fx, "RetailAccount", data["retail"], name, pw("s21"))
    host = "127.0.0.17"
    for _ in range(3):
        assert fx.ua(name, "wrong", host=host).register().status == 403
    r = fx.ua(name, pw("s21"), host=host).register()
    assert (r.status, r.reason) == (403, "Forbidden: banned source")
    brand = fx.prov.brand(fx.brand_id)
    (row,) = [r for r in brand.list("banned_addresses") if r["ip"] == host and r["blocker"] == "antibruteforce"]
    brand.delete(f"banned_addresses/antibruteforce/{row['id']}")
    assert fx.ua(name, pw("s21"), host=host).register().status == 200
    kam = fx.kam  # type: ignore[attr-defined]
    assert f"ban of {name}@{fx.brand_domain}::{host} lifted" in kam.tail(400)
    # the failure counter restarted from zero: two more failures do not ban again (threshold 3)
    for _ in range(2):
        assert fx.ua(name, "wrong", host=host).register().status == 403
    assert fx.ua(name, pw("s21"), host=host).register().status == 200
