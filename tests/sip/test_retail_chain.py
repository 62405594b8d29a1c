"""Retail calls through the whole SIP edge: a real proxy-users and a real proxy-trunks that trust
each other, both anchoring the media on the same rtpengine (docs/sip.md §9.4, §9.10).

The session's proxy-users has its proxy-trunks address fixed when it starts (7060 unless
``POLYVOX_SIP_TRUNKS_PORT`` is set), so this module starts its own pair on free ports: a
proxy-users (same database and rtpengine as the session's) whose proxy-trunks is the pair's
proxy-trunks, and a proxy-trunks whose ``users_proxy`` is that proxy-users. Carriers and DDI
providers are test UAs; the retail phone is a test UA registered at proxy-users.
"""

from __future__ import annotations

import dataclasses
import os
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy import delete

from polyvox.db import location
from polyvox.platform import control
from polyvox.sip import render
from tests.sip.conftest import Platform, Proc, Trunks, _wait_ready, free_port
from tests.sip.test_trunks import SPAIN_IN, SPAIN_OUT, Data, cdrs
from tests.sip.test_trunks import TRUNKS_MEDIA as rtp_call_id
from tests.sip.ua import UA, RtpPort, sdp, sdp_media


@dataclass
class Chain:
    pf: Platform
    users: tuple[str, int]  # proxy-users of the pair
    trunks: tuple[str, int]  # proxy-trunks of the pair
    users_kam: Proc
    trunks_kam: Proc
    data: Data
    domain: str  # the brand's SIP domain (retail accounts)
    company: int  # the retail client
    ddi: int  # its DDI (+34955000880): presented outgoing DDI and inbound DDI of the account
    account: int
    name: str
    password: str
    carrier_ua: UA
    carrier: int
    provider: int
    trunks_settings: Any
    uas: list[UA] = dataclasses.field(default_factory=list)

    def ua(self, user: str, password: str | None = None, domain: str | None = None,
           proxy: tuple[str, int] | None = None) -> UA:
        ua = UA(user, domain or self.domain, proxy or self.users, password=password)
        self.uas.append(ua)
        return ua


def _start(pf: Platform, settings: Any, log: str, env: dict[str, str] | None = None) -> Proc:
    saved = {k: os.environ.get(k) for k in (env or {})}
    os.environ.update(env or {})
    try:
        rendered = render.render(settings)
        return Proc(rendered.argv, pf.tmp / log, log)
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def retail_account(data: Data, company: int, name: str, password: str) -> int:
    """A registering retail account of ``company`` as the brand operator creates it; calls to it
    keep its name in the R-URI (``ddiIn`` "no")."""
    return data.create("RetailAccount", company=company, name=name, password=password, directConnectivity="no",
                       ddiIn="no", multiContact=True, description="", transport="udp", t38Passthrough="no",
                       rtpEncryption=False)


@pytest.fixture(scope="module")
def chain(platform: Platform) -> Iterator[Chain]:
    pf = platform
    users_port, trunks_port = free_port(), free_port()
    home = pf.tmp / f"home-chain-{users_port}"
    kw: dict[str, Any] = {"port": users_port, "home": home}
    if "trunks_port" in {f.name for f in dataclasses.fields(pf.settings)}:
        kw["trunks_port"] = trunks_port
    users_settings = pf.settings.with_(**kw)
    trunks_settings = pf.settings.with_(name="proxy-trunks", port=trunks_port, home=home,
                                        users_proxy=f"127.0.0.1:{users_port}", carrier_timeout_ms=1000)
    procs: list[Proc] = []
    tr = Trunks(pf=pf, settings=trunks_settings, proxy=("127.0.0.1", trunks_port), kamailio=None,  # type: ignore[arg-type]
                users=None)  # type: ignore[arg-type]
    data: Data | None = None
    carrier_ua = UA("carrier", "127.0.0.1", ("127.0.0.1", trunks_port))
    domain = f"chain-{uuid.uuid4().hex[:6]}.test"
    try:
        procs.append(_start(pf, users_settings, f"kamailio-chain-users-{users_port}.log",
                            {"POLYVOX_SIP_TRUNKS_PORT": str(trunks_port)}))
        procs.append(_start(pf, trunks_settings, f"kamailio-chain-trunks-{trunks_port}.log"))
        _wait_ready(("127.0.0.1", users_port), procs[0])
        _wait_ready(("127.0.0.1", trunks_port), procs[1])
        company_id = pf.company_id()
        data = Data(tr, pf.prov.brand_of(company_id), company_id)
        data.use_brand_domain(domain)  # the brand's SIP domain: its retail accounts register there
        company = data.client("retail", f"RetailChain-{uuid.uuid4().hex[:6]}")
        provider = data.provider(SPAIN_IN)
        ddi = data.ddi("+34955000880", provider=provider, company=company)
        name, password = f"rc{uuid.uuid4().hex[:6]}", "CHAin+Pass101"
        account = retail_account(data, company, name, password)
        data.update("Ddi", ddi, client=company, routeType="retail", retailAccount=account)
        data.set_company(company, outgoingDdi=ddi)
        carrier, _ = data.carrier([carrier_ua], SPAIN_OUT)
        data.route("+34", carrier)
        data.rating("+34", company=company)
        yield Chain(pf=pf, users=("127.0.0.1", users_port), trunks=("127.0.0.1", trunks_port),
                    users_kam=procs[0], trunks_kam=procs[1], data=data, domain=domain, company=company, ddi=ddi,
                    account=account, name=name, password=password, carrier_ua=carrier_ua, carrier=carrier,
                    provider=provider, trunks_settings=trunks_settings)
    finally:
        for p in procs:
            p.stop()
        carrier_ua.close()
        if data is not None:
            # registrations are proxy-users' runtime state: removed as proxy-users expires them
            with pf.engine.begin() as conn:
                conn.execute(delete(location.location).where(location.location.c.domain == domain))
            data.cleanup()


@pytest.fixture()
def ch(chain: Chain) -> Iterator[Chain]:
    for p in (chain.users_kam, chain.trunks_kam):
        assert p.alive(), p.tail()
    chain.carrier_ua.drain(0.05)
    chain.carrier_ua.pending.clear()
    yield chain
    for ua in chain.uas:
        ua.close()
    chain.uas.clear()
    if os.environ.get("POLYVOX_SIP_TEST_LOG"):
        print(chain.users_kam.tail(60))
        print(chain.trunks_kam.tail(60))


def users_inbound(call_id: str) -> str:
    """proxy-users' rtpengine identity for dialogs it receives from proxy-trunks (docs/sip.md §3.4)."""
    return f"{call_id}-pvin"


def sessions(pf: Platform) -> list[str]:
    with pf.ng() as ng:
        return ng.list_calls()


def no_sessions(pf: Platform, call_id: str, timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while True:
        left = {s for s in sessions(pf) if s.startswith(call_id)}  # no session of the call at all
        if not left or time.monotonic() > deadline:
            return not left
        time.sleep(0.1)


def media_flows(caller_rtp: RtpPort, to_caller: int, callee_rtp: RtpPort, to_callee: int) -> None:
    """RTP from the caller reaches the callee and back, through both rtpengine anchorings.
    ``to_caller``: the port in the SDP the caller received (where it sends); ``to_callee``: the
    port in the SDP the callee received."""
    caller_rtp.send(("127.0.0.1", to_caller), count=10)
    got = callee_rtp.receive(timeout=5)
    assert len(got) >= 8, "caller's RTP did not reach the callee"
    assert {src for _, src in got} == {("127.0.0.1", to_callee)}  # relayed by rtpengine, not direct
    assert all(pkt[1] & 0x7F == 8 for pkt, _ in got)
    callee_rtp.send(("127.0.0.1", to_callee), count=10)
    back = caller_rtp.receive(timeout=5)
    assert len(back) >= 8, "callee's RTP did not reach the caller"
    assert {src for _, src in back} == {("127.0.0.1", to_caller)}


def test_retail_account_calls_out_through_both_proxies_with_media(ch: Chain) -> None:
    phone = ch.ua(ch.name, ch.password)
    assert phone.register(expires=300).status == 200
    a_rtp, b_rtp = RtpPort(), RtpPort()
    try:
        d = phone.invite(f"sip:0034911234567@{ch.domain}", body=sdp(a_rtp.port), wait_final=False)
        inv = ch.carrier_ua.request("INVITE", timeout=8)
        assert inv.uri == f"sip:911234567@127.0.0.1:{ch.carrier_ua.port}"  # calleeout of the carrier
        assert "sip:955000880@" in inv["from"]  # the account's DDI, callerout
        assert not [h for h in inv.headers if h[0].lower().startswith("x-info-")]
        _, to_carrier = sdp_media(inv.body)
        assert to_carrier != a_rtp.port
        ch.carrier_ua.answer(inv, body=sdp(b_rtp.port))
        final = phone.wait_final(d)
        assert final.status == 200
        _, to_phone = sdp_media(final.body)
        assert to_phone not in (b_rtp.port, to_carrier)
        # two media sessions: proxy-users' (the Call-ID) and proxy-trunks' own
        live = sessions(ch.pf)
        assert d.call_id in live and rtp_call_id(d.call_id) in live
        media_flows(a_rtp, to_phone, b_rtp, to_carrier)

        time.sleep(0.2)
        phone.in_dialog(d, "BYE")
        bye = ch.carrier_ua.request("BYE", call_id=inv.call_id)
        ch.carrier_ua.respond(bye, 200, "OK")
        assert phone.response(d.call_id, "BYE", final=True).status == 200
        assert no_sessions(ch.pf, d.call_id), sessions(ch.pf)
        (row,) = cdrs(ch.data.t, d.call_id)
        assert (row["direction"], row["companyId"], row["carrierId"], row["bounced"]) == \
            ("outbound", ch.company, ch.carrier, False)
        assert (row["caller"], row["callee"], row["ddiId"], row["endpointType"], row["endpointId"]) == \
            ("+34955000880", "+34911234567", ch.ddi, "retail", ch.account)
        assert row["disconnectCode"] == 200 and row["duration"] > 0
    finally:
        a_rtp.close()
        b_rtp.close()


def test_ddi_provider_call_reaches_registered_retail_account_through_both_proxies(ch: Chain) -> None:
    phone = ch.ua(ch.name, ch.password)
    assert phone.register(expires=300).status == 200
    provider_ua = ch.ua("600111222", domain="provider.example", proxy=ch.trunks)
    a_rtp, b_rtp = RtpPort(), RtpPort()
    try:
        d = provider_ua.invite(f"sip:955000880@{ch.trunks[0]}:{ch.trunks[1]}", body=sdp(a_rtp.port), auth=False,
                               wait_final=False)
        try:
            inv = phone.request("INVITE", timeout=8)
        except TimeoutError:
            replies = [f"{m.status} {m.reason}" for m in provider_ua.drain(0.5) if not m.is_request]
            raise AssertionError(f"the retail account was not called; the provider got {replies}") from None
        assert inv.uri == f"sip:{ch.name}@127.0.0.1:{phone.port}"
        assert not [h for h in inv.headers if h[0].lower().startswith("x-info-")]
        assert "600111222@" in inv["from"]  # the caller (proxy-users applies the client's callerout)
        _, to_phone = sdp_media(inv.body)
        phone.answer(inv, body=sdp(b_rtp.port))
        final = provider_ua.wait_final(d)
        assert final.status == 200
        _, to_provider = sdp_media(final.body)
        live = sessions(ch.pf)
        # proxy-trunks' session and proxy-users' own one for a call received from proxy-trunks
        assert rtp_call_id(d.call_id, "inbound") in live and users_inbound(d.call_id) in live
        assert d.call_id not in live
        media_flows(a_rtp, to_provider, b_rtp, to_phone)

        provider_ua.in_dialog(d, "BYE")
        bye = phone.request("BYE", call_id=inv.call_id)
        phone.respond(bye, 200, "OK")
        assert provider_ua.response(d.call_id, "BYE", final=True).status == 200
        assert no_sessions(ch.pf, d.call_id), sessions(ch.pf)
        (row,) = cdrs(ch.data.t, d.call_id)
        assert (row["direction"], row["companyId"], row["ddiId"], row["ddiProviderId"], row["bounced"]) == \
            ("inbound", ch.company, ch.ddi, ch.provider, False)
        assert (row["caller"], row["callee"], row["disconnectCode"]) == ("+34600111222", "+34955000880", 200)
    finally:
        a_rtp.close()
        b_rtp.close()


def bounced_pair(ch: Chain, ddi_e164: str) -> tuple[UA, UA, int, str]:
    """Retail account B of the chain's client with its own DDI; A is the chain's account. Both
    registered. Returns (A, B, B's DDI id, B's name)."""
    d = ch.data
    name_b = f"rb{uuid.uuid4().hex[:6]}"
    account_b = retail_account(d, ch.company, name_b, "CHAin+Pass202")
    ddi_b = d.ddi(ddi_e164, company=ch.company)
    d.update("Ddi", ddi_b, client=ch.company, routeType="retail", retailAccount=account_b)
    a, b = ch.ua(ch.name, ch.password), ch.ua(name_b, "CHAin+Pass202")
    assert a.register().status == 200 and b.register().status == 200
    return a, b, ddi_b, name_b


def test_retail_account_calls_a_retail_ddi_of_the_platform_bounced_through_both_proxies(ch: Chain) -> None:
    """Retail account A dials the DDI of retail account B (same client): proxy-users sends it to
    proxy-trunks, which bounces it internally (never reaches a carrier) back to proxy-users, which
    rings B. proxy-users sees the same Call-ID and From tag on both of its legs: the leg received
    from proxy-trunks has its own rtpengine identity (``<Call-ID>-pvin``, docs/sip.md §3.4), so
    the relay holds three chained sessions and media flows both ways, also after a re-INVITE of
    B (in-dialog, upstream through both of proxy-users' dialogs); the BYE releases all three."""
    a, b, ddi_b, name_b = bounced_pair(ch, "+34955000881")
    a_rtp, b_rtp, b2_rtp = RtpPort(), RtpPort(), RtpPort()
    try:
        dlg = a.invite(f"sip:0034955000881@{ch.domain}", body=sdp(a_rtp.port), wait_final=False)
        inv = b.request("INVITE", timeout=8)
        assert inv.uri == f"sip:{name_b}@127.0.0.1:{b.port}"
        with pytest.raises(TimeoutError):
            ch.carrier_ua.request("INVITE", timeout=0.3)  # never left the platform
        _, to_b = sdp_media(inv.body)
        assert to_b != a_rtp.port
        b_dlg = b.answer(inv, body=sdp(b_rtp.port))
        final = a.wait_final(dlg)
        assert final.status == 200
        _, to_a = sdp_media(final.body)
        assert to_a not in (b_rtp.port, to_b)
        # proxy-users' outbound leg (plain Call-ID), proxy-trunks' bounce and proxy-users' inbound leg
        live = sessions(ch.pf)
        assert {dlg.call_id, rtp_call_id(dlg.call_id, "inbound"), users_inbound(dlg.call_id)} <= set(live), live
        media_flows(a_rtp, to_a, b_rtp, to_b)

        # re-INVITE from B with a new media port: answered by A, media follows the new port
        b.in_dialog(b_dlg, "INVITE", body=sdp(b2_rtp.port))
        re_inv = a.request("INVITE", call_id=dlg.call_id, timeout=8)
        _, re_to_a = sdp_media(re_inv.body)
        a.respond(re_inv, 200, "OK", body=sdp(a_rtp.port))
        re_ok = b.response(dlg.call_id, "INVITE", final=True, timeout=8)
        assert re_ok.status == 200
        b.in_dialog(b_dlg, "ACK", cseq=b_dlg.cseq)
        _, re_to_b = sdp_media(re_ok.body)
        assert re_to_b not in (b2_rtp.port, a_rtp.port) and re_to_a != a_rtp.port  # still relayed
        ids = {dlg.call_id, rtp_call_id(dlg.call_id, "inbound"), users_inbound(dlg.call_id)}
        assert {s for s in sessions(ch.pf) if s.startswith(dlg.call_id)} == ids  # re-offers, no new session
        media_flows(a_rtp, re_to_a, b2_rtp, re_to_b)

        a.in_dialog(dlg, "BYE")
        bye = b.request("BYE", call_id=inv.call_id)
        b.respond(bye, 200, "OK")
        assert a.response(dlg.call_id, "BYE", final=True).status == 200
        assert no_sessions(ch.pf, dlg.call_id), sessions(ch.pf)
        rows = sorted(cdrs(ch.data.t, dlg.call_id), key=lambda r: r["direction"])
        assert [(r["direction"], r["companyId"], r["bounced"], r["carrierId"]) for r in rows] == \
            [("inbound", ch.company, True, None), ("outbound", ch.company, True, None)]
        assert (rows[1]["callee"], rows[1]["ddiId"], rows[1]["endpointId"]) == ("+34955000881", ch.ddi, ch.account)
        assert rows[0]["ddiId"] == ddi_b
    finally:
        a_rtp.close()
        b_rtp.close()
        b2_rtp.close()


def test_cancelled_bounced_retail_call_releases_every_media_session(ch: Chain) -> None:
    """A cancels a bounced call while B rings: the failure routes of both of proxy-users' legs
    delete their own sessions (plain Call-ID and ``-pvin``), proxy-trunks its own."""
    a, b, _, _ = bounced_pair(ch, "+34955000882")
    a_rtp = RtpPort()
    try:
        dlg = a.invite(f"sip:0034955000882@{ch.domain}", body=sdp(a_rtp.port), wait_final=False)
        inv = b.request("INVITE", timeout=8)
        b.respond(inv, 180, "Ringing", to_tag="ring1")
        assert a.response(dlg.call_id, "INVITE", timeout=8).status in (100, 180)
        live = sessions(ch.pf)
        assert {dlg.call_id, rtp_call_id(dlg.call_id, "inbound"), users_inbound(dlg.call_id)} <= set(live), live
        a.cancel(dlg)
        cancel = b.request("CANCEL", call_id=inv.call_id, timeout=8)
        b.respond(cancel, 200, "OK")
        b.respond(inv, 487, "Request Terminated", to_tag="ring1")
        final = a.wait_final(dlg)
        assert final.status == 487
        assert no_sessions(ch.pf, dlg.call_id), sessions(ch.pf)
    finally:
        a_rtp.close()


def forwarding_account(ch: Chain, ddi_e164: str) -> tuple[int, int]:
    """A retail account of the chain's client with its own DDI (from the chain's DDI provider) and
    an unconditional call forward to the Spanish number 911999888 (spec 10.3.1). Returns (account
    id, DDI id)."""
    d = ch.data
    account = retail_account(d, ch.company, f"rf{uuid.uuid4().hex[:6]}", "CHAin+Pass303")
    ddi = d.ddi(ddi_e164, provider=ch.provider, company=ch.company)
    d.update("Ddi", ddi, client=ch.company, routeType="retail", retailAccount=account)
    spain = d.prov.client(ch.company).get(f"companies/{ch.company}")["country"]
    d.create("CallForwardSetting", company=ch.company, retailAccount=account, callForwardType="inconditional",
             targetType="number", numberValue="911999888", numberCountry=spain["id"] if isinstance(spain, dict) else spain,
             enabled=True, callTypeFilter="both", noAnswerTimeout=10)
    return account, ddi


def call_records(ch: Chain, call_id: str, count: int) -> list[dict[str, Any]]:
    """The call's records (sorted by direction) once ``count`` are written (or after 5 s)."""
    deadline = time.monotonic() + 5
    while len(rows := cdrs(ch.data.t, call_id)) < count and time.monotonic() < deadline:
        time.sleep(0.1)
    return sorted(rows, key=lambda r: r["direction"])


def test_ddi_provider_call_forwarded_by_retail_account_to_external_number_crosses_trunks_twice(
        ch: Chain) -> None:
    """Known gap of docs/sip.md §9.10, closed: a DDI provider calls the DDI of a retail account
    with an unconditional call forward to an external number (spec 10.3.1). The call crosses
    proxy-trunks twice with the same Call-ID and From tag: provider -> proxy-trunks (inbound
    dialog, rtpengine identity ``-pvtin``) -> proxy-users (``-pvin``) -> forward -> proxy-trunks
    (outbound dialog, ``-pvtout``) -> carrier. Each crossing is its own dialog (spiral detection
    off): the carrier gets the forward with its ``Diversion``, real RTP flows provider <-> carrier
    through the three chained sessions, proxy-trunks lists two calls (inbound + the forward,
    counted as an outbound call of the client), the BYE crosses both dialogs and releases every
    session, and each dialog writes its call record."""
    account_f, ddi_f = forwarding_account(ch, "+34955000883")
    provider_ua = ch.ua("600111222", domain="provider.example", proxy=ch.trunks)
    a_rtp, b_rtp = RtpPort(), RtpPort()
    try:
        dlg = provider_ua.invite(f"sip:955000883@{ch.trunks[0]}:{ch.trunks[1]}", body=sdp(a_rtp.port), auth=False,
                                 wait_final=False)
        try:
            inv = ch.carrier_ua.request("INVITE", timeout=10)
        except TimeoutError:
            replies = [f"{m.status} {m.reason}" for m in provider_ua.drain(0.5) if not m.is_request]
            raise AssertionError(f"the forward did not reach the carrier; the provider got {replies}") from None
        assert inv.call_id == dlg.call_id  # the same call, back through proxy-trunks
        assert inv.uri == f"sip:911999888@127.0.0.1:{ch.carrier_ua.port}"  # carrier's calleeout
        diversion = inv.get("diversion") or ""
        assert "sip:+34955000883@" in diversion and "reason=unconditional" in diversion, diversion
        assert not [h for h in inv.headers if h[0].lower().startswith("x-info-")]
        _, to_carrier = sdp_media(inv.body)
        assert to_carrier != a_rtp.port
        ch.carrier_ua.answer(inv, body=sdp(b_rtp.port))
        final = provider_ua.wait_final(dlg)
        assert final.status == 200
        _, to_provider = sdp_media(final.body)
        assert to_provider not in (b_rtp.port, to_carrier)
        # three chained sessions: proxy-trunks inbound, proxy-users (from proxy-trunks), proxy-trunks outbound
        live = sessions(ch.pf)
        assert {rtp_call_id(dlg.call_id, "inbound"), users_inbound(dlg.call_id), rtp_call_id(dlg.call_id)} \
            <= set(live), live
        assert dlg.call_id not in live
        # proxy-trunks has one dialog per crossing: the provider's call and the client's forward
        calls = [c for c in control.active_calls(ch.trunks_settings) if c["callId"] == dlg.call_id]
        assert sorted((c["direction"], c["companyId"], c["state"]) for c in calls) == \
            [("inbound", ch.company, "confirmed"), ("outbound", ch.company, "confirmed")]
        media_flows(a_rtp, to_provider, b_rtp, to_carrier)

        time.sleep(0.2)
        provider_ua.in_dialog(dlg, "BYE")
        bye = ch.carrier_ua.request("BYE", call_id=inv.call_id, timeout=8)
        ch.carrier_ua.respond(bye, 200, "OK")
        assert provider_ua.response(dlg.call_id, "BYE", final=True, timeout=8).status == 200
        assert no_sessions(ch.pf, dlg.call_id), sessions(ch.pf)
        rows = call_records(ch, dlg.call_id, 2)
        assert [(r["direction"], r["companyId"], r["bounced"], r["disconnectCode"]) for r in rows] == \
            [("inbound", ch.company, False, 200), ("outbound", ch.company, False, 200)]
        inbound, outbound = rows
        assert (inbound["ddiId"], inbound["ddiProviderId"], inbound["carrierId"], inbound["caller"],
                inbound["callee"]) == (ddi_f, ch.provider, None, "+34600111222", "+34955000883")
        assert (outbound["carrierId"], outbound["ddiProviderId"], outbound["endpointType"], outbound["endpointId"],
                outbound["caller"], outbound["callee"]) == \
            (ch.carrier, None, "retail", account_f, "+34600111222", "+34911999888")
        assert inbound["duration"] > 0 and outbound["duration"] > 0
        assert not [c for c in control.active_calls(ch.trunks_settings) if c["callId"] == dlg.call_id]
    finally:
        a_rtp.close()
        b_rtp.close()


def test_platform_hangup_of_a_forwarded_call_ends_both_crossings_once(ch: Chain) -> None:
    """``control.end_call`` on a forwarded provider call (two proxy-trunks dialogs with one
    Call-ID, both due at once): proxy-trunks hangs the call up once: one BYE reaches the carrier
    and one the provider (``Reason`` of the platform), the BYE sent upstream crosses proxy-users and
    the inbound dialog (found by the ``did`` of its Route), both dialogs end with their record and
    every media session is released (docs/sip.md §9.8, §9.10)."""
    _, ddi_f = forwarding_account(ch, "+34955000884")
    provider_ua = ch.ua("600111333", domain="provider.example", proxy=ch.trunks)
    a_rtp, b_rtp = RtpPort(), RtpPort()
    try:
        dlg = provider_ua.invite(f"sip:955000884@{ch.trunks[0]}:{ch.trunks[1]}", body=sdp(a_rtp.port), auth=False,
                                 wait_final=False)
        inv = ch.carrier_ua.request("INVITE", timeout=10)
        ch.carrier_ua.answer(inv, body=sdp(b_rtp.port))
        assert provider_ua.wait_final(dlg).status == 200
        time.sleep(0.3)  # the provider's ACK crosses both dialogs
        assert control.end_call(ch.trunks_settings, dlg.call_id)
        to_carrier = ch.carrier_ua.request("BYE", call_id=inv.call_id, timeout=8)
        ch.carrier_ua.respond(to_carrier, 200, "OK")
        to_provider = provider_ua.request("BYE", call_id=dlg.call_id, timeout=8)
        provider_ua.respond(to_provider, 200, "OK")
        assert "call ended by the platform" in (to_carrier.get("reason") or "")
        assert "call ended by the platform" in (to_provider.get("reason") or "")
        time.sleep(1.0)
        # exactly one BYE each
        assert not [m for m in ch.carrier_ua.drain(0.3) if m.is_request and m.method == "BYE"]
        assert not [m for m in provider_ua.drain(0.3) if m.is_request and m.method == "BYE"]
        rows = call_records(ch, dlg.call_id, 2)
        assert [(r["direction"], r["disconnectCode"], r["disconnectReason"]) for r in rows] == \
            [("inbound", 200, "ended"), ("outbound", 200, "ended")]
        assert rows[0]["ddiId"] == ddi_f
        assert no_sessions(ch.pf, dlg.call_id), sessions(ch.pf)
        assert not [c for c in control.active_calls(ch.trunks_settings) if c["callId"] == dlg.call_id]
    finally:
        a_rtp.close()
        b_rtp.close()


def test_forward_to_external_number_is_an_outbound_call_of_the_client_for_the_limits(ch: Chain) -> None:
    """The forward's crossing of proxy-trunks is an outbound call of the retail client (docs/sip.md
    §9.10): with ``maxCalls = 1`` the provider's call (inbound, counted) leaves no room for the
    forward, which proxy-trunks refuses with ``403 Forbidden: client maximum concurrent calls
    reached``; the refusal travels back to the provider, the carrier never rings, every media
    session is released and only the inbound call has a record (the forward never got a dialog).
    With room for both (``maxCalls = 2``) the same call is forwarded."""
    _, ddi_f = forwarding_account(ch, "+34955000885")
    provider_ua = ch.ua("600111444", domain="provider.example", proxy=ch.trunks)
    a_rtp = RtpPort()
    try:
        ch.data.update("Company", ch.company, maxCalls=1)
        dlg = provider_ua.invite(f"sip:955000885@{ch.trunks[0]}:{ch.trunks[1]}", body=sdp(a_rtp.port), auth=False,
                                 wait_final=False)
        final = provider_ua.wait_final(dlg, timeout=15)
        assert (final.status, final.reason) == (403, "Forbidden: client maximum concurrent calls reached")
        with pytest.raises(TimeoutError):
            ch.carrier_ua.request("INVITE", timeout=0.5)
        assert no_sessions(ch.pf, dlg.call_id), sessions(ch.pf)
        (row,) = call_records(ch, dlg.call_id, 1)
        assert (row["direction"], row["ddiId"], row["disconnectCode"], row["disconnectReason"]) == \
            ("inbound", ddi_f, 403, "failed")

        ch.data.update("Company", ch.company, maxCalls=2)
        dlg = provider_ua.invite(f"sip:955000885@{ch.trunks[0]}:{ch.trunks[1]}", body=sdp(a_rtp.port), auth=False,
                                 wait_final=False)
        inv = ch.carrier_ua.request("INVITE", timeout=10)
        ch.carrier_ua.respond(inv, 486, "Busy Here")
        assert provider_ua.wait_final(dlg, timeout=15).status == 486
        assert no_sessions(ch.pf, dlg.call_id), sessions(ch.pf)
        rows = call_records(ch, dlg.call_id, 2)
        assert [(r["direction"], r["disconnectCode"]) for r in rows] == [("inbound", 486), ("outbound", 486)]
    finally:
        ch.data.update("Company", ch.company, maxCalls=0)
        a_rtp.close()
