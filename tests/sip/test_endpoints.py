"""Endpoint identification in proxy-users (spec 1.3.4, 8.10, 9.1.2-9.1.4, 10.3, 12.6): friends,
retail accounts, residential devices (digest or direct connectivity), wholesale clients (trusted
source address), caller identity and CLID validation, routing tags, dispatch to the application
servers or to proxy-trunks with the X-Info-* context."""

from __future__ import annotations

import os
import time
import uuid
from typing import Any

import pytest
from sqlalchemy import select

from polyvox.db import location
from tests.sip.conftest import DOMAIN, Platform
from tests.sip.fixtures_endpoints import Edge, edge  # noqa: F401  (fixture)
from tests.sip.ua import sdp


def uid() -> str:
    return uuid.uuid4().hex[:6]


@pytest.fixture(scope="module")
def clients(edge: Edge) -> dict[str, Any]:  # noqa: F811
    """A retail, a residential and a wholesale client of the demo brand, with DDIs and tags."""
    e, n = edge, uid()
    ids: dict[str, Any] = {}
    ids["retail"] = e.company("retail", f"Retail-{n}")
    ids["residential"] = e.company("residential", f"Resi-{n}")
    ids["wholesale"] = e.company("wholesale", f"Whole-{n}")
    for kind, num in (("retail", "944000001"), ("residential", "944000101")):
        ids[f"{kind}_ddi"] = e.create("Ddi", company=ids[kind], ddi=num, type="inout", useDdiProviderRoutingTag=False)
        e.change("Company", ids[kind], outgoingDdi=ids[f"{kind}_ddi"])
    ids["retail_ddi2"] = e.create("Ddi", company=ids["retail"], ddi="944000002", type="inout",
                                  useDdiProviderRoutingTag=False)
    t1 = e.create("RoutingTag", name=f"gold-{n}", tag="12#")
    e.create("RoutingTag", name=f"silver-{n}", tag="13#")
    for company in ("retail", "wholesale"):  # the brand enables the tag for the client (spec 9.3.4)
        e.change("Company", ids[company], routingTagIds=[t1])
    return ids


def location_rows(pv: Platform, name: str, want: int, timeout: float = 3.0) -> list[Any]:
    """The kam_users_location rows of ``name`` (written by the proxy right after its 200 OK)."""
    loc = location.location
    deadline = time.monotonic() + timeout
    while True:
        with pv.engine.connect() as c:
            rows = c.execute(select(loc).where(loc.c.username == name)).all()
        if len(rows) == want or time.monotonic() > deadline:
            return list(rows)
        time.sleep(0.05)


def account(e: Edge, entity: str, company: int, name: str, password: str | None = None, **kw: Any) -> int:
    """A registering endpoint of ``company`` created by the brand operator (the API derives its SIP
    domain: the brand's for retail and residential clients, the client's for friends). ``ddiIn``
    "no": calls to it keep the endpoint's name in the R-URI (the DDI-in mode is
    test_users_features' subject)."""
    body: dict[str, Any] = {"ddiIn": "no", "multiContact": True, "t38Passthrough": "no", "rtpEncryption": False}
    if entity == "ResidentialDevice":
        body.update(allow="alaw", maxCalls=0)
    if entity == "Friend":
        body = {"priority": 1}
    body.update(company=company, name=name, password=password, directConnectivity="no", description="",
                transport="udp")
    body.update(kw)
    return e.create(entity, **body)


def test_retail_account_registers_on_brand_domain(pv: Platform, edge: Edge, clients: dict[str, Any]) -> None:  # noqa: F811
    name = f"ra{uid()}"
    account(edge, "RetailAccount", clients["retail"], name, "SEConex+111")
    ua = edge.ua(name, "SEConex+111")
    r = ua.register(expires=300)
    assert (r.status, r.reason) == (200, "OK")
    rows = location_rows(pv, name, 1)
    assert [(row.domain, row.contact) for row in rows] == [(edge.brand_domain, f"sip:{name}@127.0.0.1:{ua.port}")]
    assert rows[0].user_agent == "polyvox-test-ua"
    # wrong password, and the account is not known in a vPBX client's domain
    assert edge.ua(name, "nope").register().status == 403
    assert edge.ua(name, "SEConex+111", domain=DOMAIN).register().status == 404
    # unregister: the row goes away
    assert ua.register(expires=0).status == 200
    assert location_rows(pv, name, 0) == []


def test_residential_device_call_reaches_app_server_with_validated_clid(
        pv: Platform, edge: Edge, clients: dict[str, Any], app_servers) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    asrv = edge.ua("as", None, domain=DOMAIN)
    app_servers([f"127.0.0.1:{asrv.port}"])
    name = f"rd{uid()}"
    dev = account(edge, "ResidentialDevice", clients["residential"], name, "SECtwox+222")
    ua = edge.ua(name, "SECtwox+222")
    # the presented number is one of the client's DDIs (P-Asserted-Identity wins over From)
    d = ua.invite("0034911000111", body=sdp(40100), wait_final=False,
                  extra=[f"P-Asserted-Identity: <sip:+34944000101@{edge.brand_domain}>"])
    inv = asrv.request("INVITE")
    assert inv["x-info-type"] == "residential"
    assert inv["x-info-endpointtype"] == "residential"
    assert inv["x-info-endpointid"] == str(dev)
    assert inv["x-info-endpointname"] == name
    assert inv["x-info-caller"] == "+34944000101"
    asrv.respond(inv, 486, "Busy Here")
    assert ua.wait_final(d).status == 486
    # a number that is not the client's: the client's outgoing DDI is presented instead
    d = ua.invite("0034911000111", body=sdp(40102), wait_final=False,
                  extra=[f"P-Preferred-Identity: <sip:+34600000000@{edge.brand_domain}>"])
    inv = asrv.request("INVITE")
    assert inv["x-info-caller"] == "+34944000101"
    asrv.respond(inv, 486, "Busy Here")
    ua.wait_final(d)


def test_friend_registers_in_client_domain_and_calls(
        pv: Platform, edge: Edge, clients: dict[str, Any], app_servers) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    asrv = edge.ua("as", None, domain=DOMAIN)
    app_servers([f"127.0.0.1:{asrv.port}"])
    name = f"fr{uid()}"
    fid = account(edge, "Friend", pv.company_id(), name, "SECthreex+333")
    ua = edge.ua(name, "SECthreex+333", domain=DOMAIN)
    assert ua.register().status == 200
    assert edge.ua(name, "SECthreex+333").register().status == 404  # not in the brand domain
    d = ua.invite("101", body=sdp(40104), wait_final=False)
    inv = asrv.request("INVITE")
    assert (inv["x-info-type"], inv["x-info-endpointtype"], inv["x-info-endpointid"]) == ("vpbx", "friend", str(fid))
    assert inv["x-info-endpoint"].endswith(f"f{fid}_{name}")
    asrv.respond(inv, 486, "Busy Here")
    ua.wait_final(d)
    # the application server calls the friend: its registered contact rings
    call = asrv.build("INVITE", f"sip:{name}@{DOMAIN}", call_id=f"as-{uid()}", from_tag="as1",
                      to=f"sip:{name}@{DOMAIN}", cseq=1, body=sdp(40106))
    asrv.send(call, edge.proxy)
    got = ua.request("INVITE")
    assert got.uri == f"sip:{name}@127.0.0.1:{ua.port}"
    ua.respond(got, 486, "Busy Here")


def test_retail_call_goes_to_trunks_with_routing_tag(pv: Platform, edge: Edge, clients: dict[str, Any]) -> None:  # noqa: F811
    name = f"ra{uid()}"
    rid = account(edge, "RetailAccount", clients["retail"], name, "SECfourx+444")
    ua = edge.ua(name, "SECfourx+444")
    d = ua.invite(f"sip:12#0034911222333@{edge.brand_domain}", body=sdp(40108), wait_final=False,
                  extra=[f"P-Asserted-Identity: <sip:+34944000002@{edge.brand_domain}>"])
    inv = edge.trunks.request("INVITE")
    # the client's numeric transformations (calleein) put the callee in E.164 (spec 9.7.3)
    assert inv.uri.startswith(f"sip:+34911222333@{edge.brand_domain}")
    assert inv["x-info-type"] == "retail"
    assert inv["x-info-companyid"] == str(clients["retail"])
    assert inv["x-info-endpointtype"] == "retail"
    assert inv["x-info-endpointid"] == str(rid)
    assert inv["x-info-endpoint"] == f"b{edge.brand_id}c{clients['retail']}rt{rid}_{name}"
    assert inv["x-info-callee"] == "+34911222333"
    assert inv["x-info-caller"] == "+34944000002"  # one of the client's DDIs: kept
    # the presented DDI's id, for its routing tag in proxy-trunks (docs/sip.md §9.3)
    assert inv["x-info-ddiid"] == str(clients["retail_ddi2"])
    assert inv["x-info-routingtag"] == "12#"
    assert inv["x-info-routingtagid"].isdigit()
    assert inv.get("proxy-authorization") is None
    edge.trunks.respond(inv, 486, "Busy Here")
    assert ua.wait_final(d).status == 486
    # a caller id that is not the client's -> the client's outgoing DDI
    d = ua.invite(f"sip:0034911222333@{edge.brand_domain}", body=sdp(40110), wait_final=False)
    inv = edge.trunks.request("INVITE")
    assert inv["x-info-caller"] == "+34944000001"
    assert inv["x-info-ddiid"] == str(clients["retail_ddi"])  # the fallback DDI
    assert inv.get("x-info-routingtag") is None
    edge.trunks.respond(inv, 486, "Busy Here")
    ua.wait_final(d)
    # unknown tag, tag not enabled for this client
    d = ua.invite(f"sip:99#0034911222333@{edge.brand_domain}", body=sdp(40112))
    assert d.answer is not None and (d.answer.status, d.answer.reason) == (
        403, "Forbidden: unknown routing tag '99#'")
    d = ua.invite(f"sip:13#0034911222333@{edge.brand_domain}", body=sdp(40114))
    assert d.answer is not None and d.answer.status == 403
    assert "not enabled" in d.answer.reason


def test_direct_connectivity_retail_identified_by_source_address(
        pv: Platform, edge: Edge, clients: dict[str, Any]) -> None:  # noqa: F811
    name = f"rdir{uid()}"
    ua = edge.ua(name, None, host="127.0.0.5")
    rid = account(edge, "RetailAccount", clients["retail"], name, None, directConnectivity="yes", ip="127.0.0.5",
                  port=ua.port)
    d = ua.invite(f"sip:0034911222444@{edge.brand_domain}", body=sdp(40116), auth=False, wait_final=False)
    inv = edge.trunks.request("INVITE")
    assert (inv["x-info-endpointtype"], inv["x-info-endpointid"]) == ("retail", str(rid))
    edge.trunks.respond(inv, 486, "Busy Here")
    assert ua.wait_final(d).status == 486
    # a direct endpoint does not register
    r = edge.ua(name, "x", host="127.0.0.8").register()
    assert (r.status, r.reason) == (403, "Forbidden: direct connectivity endpoint does not register")


def test_wholesale_identified_by_trusted_address(pv: Platform, edge: Edge, clients: dict[str, Any]) -> None:  # noqa: F811
    edge.create("Trusted", company=clients["wholesale"], srcIp="127.0.0.6", description="test", priority=0)
    ua = edge.ua("anything", None, domain="customer.example", host="127.0.0.6")
    d = ua.invite("sip:12#+34911222555@customer.example", body=sdp(40118), auth=False, wait_final=False,
                  extra=["Remote-Party-ID: <sip:+34911000999@customer.example>;party=calling"])
    inv = edge.trunks.request("INVITE")
    assert inv["x-info-type"] == "wholesale"
    assert inv["x-info-companyid"] == str(clients["wholesale"])
    assert inv["x-info-endpoint"] == f"b{edge.brand_id}c{clients['wholesale']}"
    assert inv.get("x-info-endpointtype") is None
    assert inv.get("x-info-ddiid") is None  # a wholesale caller is not one of the client's DDIs
    assert (inv["x-info-callee"], inv["x-info-caller"], inv["x-info-routingtag"]) == (
        "+34911222555", "+34911000999", "12#")
    edge.trunks.respond(inv, 486, "Busy Here")
    assert ua.wait_final(d).status == 486
    # another address of the same host is not trusted
    other = edge.ua("anything", None, domain="customer.example", host="127.0.0.9")
    d = other.invite("sip:+34911222555@customer.example", body=sdp(40120), auth=False)
    assert d.answer is not None and d.answer.status == 403


def test_registrations_survive_proxy_restart(pv: Platform, edge: Edge, clients: dict[str, Any]) -> None:  # noqa: F811
    from polyvox.sip import render
    from tests.sip.conftest import Proc, _wait_ready

    name = f"ra{uid()}"
    account(edge, "RetailAccount", clients["retail"], name, "SECfivex+555")
    ua = edge.ua(name, "SECfivex+555")
    assert ua.register(expires=600).status == 200
    assert len(location_rows(pv, name, 1)) == 1
    kam = edge.kam  # type: ignore[attr-defined]
    settings_dir = kam.log.parent
    kam.stop()
    argv = render.render(pv.settings.with_(port=edge.proxy[1],
                                           home=settings_dir / f"home-edge-{edge.proxy[1]}")).argv
    old = os.environ.get("POLYVOX_SIP_TRUNKS_PORT")
    os.environ["POLYVOX_SIP_TRUNKS_PORT"] = str(edge.trunks.port)  # as the edge fixture starts it
    try:
        edge.kam = Proc(argv, settings_dir / f"kamailio-edge-{edge.proxy[1]}-2.log", "kamailio-edge")  # type: ignore[attr-defined]
    finally:
        if old is None:
            os.environ.pop("POLYVOX_SIP_TRUNKS_PORT", None)
        else:
            os.environ["POLYVOX_SIP_TRUNKS_PORT"] = old
    _wait_ready(edge.proxy, edge.kam)  # type: ignore[attr-defined]
    ctl = f"unix:{settings_dir}/home-edge-{edge.proxy[1]}/run/proxy-users/kamailio_ctl"
    import subprocess

    deadline = time.monotonic() + 5
    out = ""
    while time.monotonic() < deadline:
        out = subprocess.run(["kamcmd", "-s", ctl, "ul.lookup", "location", f"{name}@{edge.brand_domain}"],
                             capture_output=True, text=True, timeout=5).stdout
        if f"sip:{name}@127.0.0.1:{ua.port}" in out:
            break
        time.sleep(0.2)
    assert f"sip:{name}@127.0.0.1:{ua.port}" in out, out


def test_residential_device_max_calls(pv: Platform, edge: Edge, clients: dict[str, Any], app_servers) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    asrv = edge.ua("as", None, domain=DOMAIN)
    app_servers([f"127.0.0.1:{asrv.port}"])
    name = f"rd{uid()}"
    account(edge, "ResidentialDevice", clients["residential"], name, "SECsixx+666", maxCalls=1)
    ua = edge.ua(name, "SECsixx+666")
    d1 = ua.invite("0034911000222", body=sdp(40130), wait_final=False)
    inv = asrv.request("INVITE")
    asrv.answer(inv, body=sdp(40132))
    assert ua.wait_final(d1).status == 200
    # a second simultaneous call is refused at the edge
    d2 = ua.invite("0034911000333", body=sdp(40134))
    assert d2.answer is not None
    assert (d2.answer.status, d2.answer.reason) == (403, "Forbidden: maximum concurrent calls reached")
    # calls towards the device count too: the application server's call gets 486
    call_id = f"in-{uid()}"
    asrv.send(asrv.build("INVITE", f"sip:{name}@{edge.brand_domain}", call_id=call_id, from_tag="as9",
                         to=f"sip:{name}@{edge.brand_domain}", cseq=1, body=sdp(40138)), edge.proxy)
    r = asrv.response(call_id, "INVITE", final=True)
    assert (r.status, r.reason) == (486, "Busy Here: maximum concurrent calls reached")
    # hang up the first one: calls are possible again
    ua.in_dialog(d1, "BYE")
    bye = asrv.request("BYE", call_id=inv.call_id)
    asrv.respond(bye, 200, "OK")
    assert ua.response(d1.call_id, "BYE", final=True).status == 200
    d3 = ua.invite("0034911000444", body=sdp(40136), wait_final=False)
    inv3 = asrv.request("INVITE")
    asrv.respond(inv3, 486, "Busy Here")
    assert ua.wait_final(d3).status == 486


def test_inbound_retail_ddi_from_trunks_rings_the_account(pv: Platform, edge: Edge, clients: dict[str, Any]) -> None:  # noqa: F811
    name = f"ra{uid()}"
    rid = account(edge, "RetailAccount", clients["retail"], name, "SECsevenx+777")
    ua = edge.ua(name, "SECsevenx+777")
    assert ua.register().status == 200
    call_id = f"in-{uid()}"
    invite = edge.trunks.build("INVITE", f"sip:{name}@127.0.0.1", call_id=call_id, from_tag="tr1",
                               to="sip:+34944000001@127.0.0.1", cseq=1, body=sdp(40140),
                               extra=[f"X-Info-RetailAccountId: {rid}", "X-Info-Ddi: +34944000001"])
    edge.trunks.send(invite, edge.proxy)
    try:
        got = ua.request("INVITE", call_id=call_id)
    except TimeoutError:
        raise AssertionError([str(m) for m in edge.trunks.drain()]) from None
    assert got.uri == f"sip:{name}@127.0.0.1:{ua.port}"
    assert got.get("x-info-retailaccountid") is None and got.get("x-info-ddi") is None
    ua.respond(got, 486, "Busy Here")
    r = edge.trunks.response(call_id, "INVITE", final=True)
    assert r.status == 486


def test_trusted_rules_match_transport_from_and_ruri_patterns(
        pv: Platform, edge: Edge, clients: dict[str, Any]) -> None:  # noqa: F811
    """``Trusted`` rows (kam_trusted, Kamailio permissions): source address + transport + From and
    R-URI regular expressions; higher priority first."""
    other = edge.company("wholesale", f"Whole2-{uid()}")
    edge.create("Trusted", company=clients["wholesale"], srcIp="127.0.0.10", proto="udp",
                fromPattern=r"@trunk\.example$", ruriPattern=r"^sip:\+34", description="patterns", priority=0)
    edge.create("Trusted", company=other, srcIp="127.0.0.10", proto="any", fromPattern=r"^sip:vip",
                ruriPattern=None, description="vip first", priority=10)
    edge.create("Trusted", company=other, srcIp="127.0.0.11", proto="tcp", description="tcp only", priority=0)

    def call(user: str, domain: str, target: str, host: str = "127.0.0.10", port: int = 40130) -> Any:
        ua = edge.ua(user, None, domain=domain, host=host)
        return ua, ua.invite(target, body=sdp(port), auth=False, wait_final=False)

    # matches the first rule: wholesale client 1
    ua, d = call("+34911000111", "trunk.example", "sip:+34911222556@trunk.example")
    inv = edge.trunks.request("INVITE")
    assert (inv["x-info-type"], inv["x-info-companyid"]) == ("wholesale", str(clients["wholesale"]))
    edge.trunks.respond(inv, 486, "Busy Here")
    assert ua.wait_final(d).status == 486
    # the From URI matches the higher-priority rule of the other client
    ua, d = call("vip7", "trunk.example", "sip:+34911222557@trunk.example", port=40132)
    inv = edge.trunks.request("INVITE")
    assert inv["x-info-companyid"] == str(other)
    edge.trunks.respond(inv, 486, "Busy Here")
    assert ua.wait_final(d).status == 486
    # From domain / R-URI not matching: not trusted, treated as an unknown endpoint domain
    for user, domain, target in (("+34911000111", "elsewhere.example", "sip:+34911222558@elsewhere.example"),
                                 ("+34911000111", "trunk.example", "sip:+44201222558@trunk.example")):
        ua, d = call(user, domain, target, port=40134)
        final = ua.wait_final(d)
        assert (final.status, final.reason) == (403, "Forbidden: unknown domain")
    # a TCP-only rule does not trust UDP requests from that address
    ua, d = call("vip8", "trunk.example", "sip:+34911222559@trunk.example", host="127.0.0.11", port=40136)
    assert ua.wait_final(d).status == 403
