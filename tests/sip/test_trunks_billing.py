"""proxy-trunks: LCR by carrier cost, billing checks at call setup, call control (active calls,
ending calls) and the active calls API (spec 7.5, 8.9.1, 8.12, 9.3.1, 9.4.1, 12.6).

Same harness as ``test_trunks.py``: test UAs play the application server and the carriers.
"""

from __future__ import annotations

import threading
import time
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from fastapi.testclient import TestClient

from polyvox.api.app import create_app
from polyvox.platform import control
from tests.sip.conftest import Trunks
from tests.sip.test_trunks import Data, as_ua, call_out, cdrs, data, finish  # noqa: F401  (data: fixture)
from tests.sip.ua import UA, Dialog, Message, rand, sdp

CALLEE = "+34911234567"


class Billing:
    """Rating plans, rating profiles, LCR routes and clients for one test, written through the API
    (removed afterwards with ``Data``'s rows)."""

    def __init__(self, d: Data) -> None:
        self.d = d

    def plan(self, rates: list[tuple[str, str]], *, weekdays: tuple[int, ...] | None = None) -> int:
        """A rating plan group with one destination rate: ``(prefix, price per minute)``, charged
        per second. ``weekdays`` (0 = Monday): it prices them only on those days."""
        return self.d.plan_group(self.d.rates(rates), weekdays=weekdays)

    def profile(self, rpg: int, *, company: int | None = None, carrier: int | None = None,
                since: timedelta = timedelta(days=1)) -> int:
        return self.d.profile(rpg, company=company, carrier=carrier, since=since)

    def lcr_route(self, prefix: str, carriers: list[int]) -> int:
        return self.d.route(prefix, None, mode="lcr", carrierIds=carriers)

    def client(self, **values: Any) -> int:
        """A vPBX client of the brand, rated for +34 at 1.20 per minute (0.02 per second)."""
        cid = self.d.client("vpbx", **values)
        self.profile(self.plan([("+34", "1.2")]), company=cid)
        return cid

    def set_company(self, company: int, **values: Any) -> None:
        """Client fields changed by the brand operator; the old values come back at cleanup."""
        self.d.set_company(company, **values)


@pytest.fixture()
def bill(data: Data) -> Billing:  # noqa: F811
    return Billing(data)


def rpc_target(t: Trunks) -> str:
    return f"fifo:{t.settings.rundir}/kamailio_rpc.fifo"


def refused(asrv: UA, t: Trunks, company: int, brand: int, callee: str = CALLEE) -> Message:
    d = call_out(asrv, t, callee, company, brand)
    return asrv.wait_final(d)


def no_calls(t: Trunks, timeout: float = 5.0) -> list[dict[str, Any]]:
    """The active calls once none is left (or what is left after ``timeout``)."""
    deadline = time.monotonic() + timeout
    while True:
        calls = control.active_calls(rpc_target(t), include_disabled_cdr=True)
        if not calls or time.monotonic() > deadline:
            return calls
        time.sleep(0.1)


def quiet(ua: UA, wait: float = 0.5) -> list[str]:
    return [m.method for m in ua.drain(wait) if m.is_request]


# ------------------------------------------------------------------------------------ LCR (9.3.1)
def test_lcr_orders_carriers_by_cost_and_drops_carriers_that_cannot_rate(trunks: Trunks, bill: Billing) -> None:
    d = bill.d
    asrv = as_ua(d)
    dear_ua, norate_ua, cheap_ua = trunks.ua("dear"), trunks.ua("norate"), trunks.ua("cheap")
    dear, _ = d.carrier([dear_ua])
    norate, _ = d.carrier([norate_ua])
    cheap, _ = d.carrier([cheap_ua])
    bill.profile(bill.plan([("+34", "0.05")]), carrier=dear)
    bill.profile(bill.plan([("+33", "0.0001")]), carrier=norate)  # cheapest, but not for +34
    bill.profile(bill.plan([("+34", "0.01")]), carrier=cheap)
    bill.lcr_route("+34", [dear, norate, cheap])
    d.rating("+34")

    dlg = call_out(asrv, trunks, CALLEE, d.company, d.brand)
    inv = cheap_ua.request("INVITE")  # the cheapest carrier able to rate +34 first
    cheap_ua.respond(inv, 503, "Service Unavailable")
    inv2 = dear_ua.request("INVITE")  # then the dearer one
    dear_ua.respond(inv2, 503, "Service Unavailable")
    assert asrv.wait_final(dlg).status == 500  # a proxy relays 503 as 500 (RFC 3261 16.7)
    assert "INVITE" not in quiet(norate_ua)  # the carrier without a rate for +34 was never tried
    row = cdrs(trunks, dlg.call_id)[0]
    assert row["carrierId"] == dear and row["disconnectCode"] == 503


def test_lcr_ignores_carrier_rating_profiles_not_applying_now(trunks: Trunks, bill: Billing) -> None:
    """A carrier whose only rating plan applies on another weekday, or whose rating profile is
    activated tomorrow, cannot rate now: not used. Same for the client's price (7.5)."""
    d = bill.d
    asrv = as_ua(d)
    other_day = ((datetime.now(ZoneInfo("Europe/Madrid")).weekday() + 3) % 7,)  # DemoBrand's timezone
    timed_ua, future_ua, always_ua = trunks.ua("timed"), trunks.ua("future"), trunks.ua("always")
    timed, _ = d.carrier([timed_ua])
    future, _ = d.carrier([future_ua])
    always, _ = d.carrier([always_ua])
    bill.profile(bill.plan([("+34", "0.001")], weekdays=other_day), carrier=timed)
    bill.profile(bill.plan([("+34", "0.002")]), carrier=future, since=-timedelta(days=1))
    bill.profile(bill.plan([("+34", "0.5")]), carrier=always)
    bill.lcr_route("+34", [timed, future, always])
    d.rating("+34")

    dlg = call_out(asrv, trunks, CALLEE, d.company, d.brand)
    inv = always_ua.request("INVITE")
    always_ua.respond(inv, 486, "Busy Here")
    assert asrv.wait_final(dlg).status == 486
    assert "INVITE" not in quiet(timed_ua) and "INVITE" not in quiet(future_ua, 0.1)

    # the client's own price list only applies on another weekday: no rating plan, no call
    client = d.client("vpbx")
    bill.profile(bill.plan([("+34", "0.01")], weekdays=other_day), company=client)
    r = refused(asrv, trunks, client, d.brand)
    assert (r.status, r.reason) == (403, "Forbidden: no rating plan for the destination")


# ------------------------------------------------------------------------------------ billing (9.4.1, 12.6)
def test_prepaid_and_pseudoprepaid_clients_without_balance_are_refused(trunks: Trunks, bill: Billing) -> None:
    d = bill.d
    asrv = as_ua(d)
    carrier_ua = trunks.ua("carrier")
    cid, _ = d.carrier([carrier_ua])
    d.route("+34", cid)
    prepaid = bill.client(billingMethod="prepaid", balance=0)
    pseudo = bill.client(billingMethod="pseudoprepaid", balance=-1)
    for client in (prepaid, pseudo):
        r = refused(asrv, trunks, client, d.brand)
        assert (r.status, r.reason) == (403, "Forbidden: no balance left")
    # a balance that does not pay for one second
    bill.set_company(prepaid, balance="0.0001")
    r = refused(asrv, trunks, prepaid, d.brand)
    assert (r.status, r.reason) == (403, "Forbidden: insufficient balance")
    assert "INVITE" not in quiet(carrier_ua)
    # with balance the call goes through
    bill.set_company(prepaid, balance=5)
    dlg = call_out(asrv, trunks, CALLEE, prepaid, d.brand)
    inv = carrier_ua.request("INVITE")
    carrier_ua.respond(inv, 480, "Temporarily Unavailable")
    assert asrv.wait_final(dlg).status == 480


def test_max_daily_usage_reached_is_refused(trunks: Trunks, bill: Billing) -> None:
    d = bill.d
    asrv = as_ua(d)
    carrier_ua = trunks.ua("carrier")
    cid, _ = d.carrier([carrier_ua])
    d.route("+34", cid)
    d.rating("+34")
    bill.set_company(d.company, billingMethod="postpaid", currentDayUsage=10, maxDailyUsage=10)
    r = refused(asrv, trunks, d.company, d.brand)
    assert (r.status, r.reason) == (403, "Forbidden: max daily usage reached")
    assert "INVITE" not in quiet(carrier_ua)
    assert cdrs(trunks, r.call_id, timeout=0.5) == []
    bill.set_company(d.company, maxDailyUsage=11)  # raising the threshold re-enables the client
    dlg = call_out(asrv, trunks, CALLEE, d.company, d.brand)
    carrier_ua.respond(carrier_ua.request("INVITE"), 603, "Decline")
    assert asrv.wait_final(dlg).status == 603


def both_byes(caller: UA, caller_call: str, callee: UA, callee_call: str, timeout: float = 5.0) -> None:
    """Both sides receive a BYE from proxy-trunks; they answer once both are in (Kamailio 5.6
    sends the callee's BYE after the caller's: a 200 processed in between cancels the second
    one, docs/sip.md §9.8)."""
    byes = [caller.request("BYE", call_id=caller_call, timeout=timeout),
            callee.request("BYE", call_id=callee_call, timeout=5)]
    caller.respond(byes[0], 200, "OK")
    callee.respond(byes[1], 200, "OK")


def test_pseudoprepaid_call_is_hung_up_when_the_balance_is_used(trunks: Trunks, bill: Billing) -> None:
    """0.06 at 0.02 per second pays for 3 seconds: the dialog timeout is set at setup and
    proxy-trunks sends BYE both ways when it is reached; the record has the real duration."""
    d = bill.d
    asrv = as_ua(d)
    carrier_ua = trunks.ua("carrier")
    cid, _ = d.carrier([carrier_ua])
    d.route("+34", cid)
    client = bill.client(billingMethod="pseudoprepaid", balance="0.06")
    dlg = call_out(asrv, trunks, CALLEE, client, d.brand)
    inv = carrier_ua.request("INVITE")
    carrier_ua.answer(inv, body=sdp(41002))
    assert asrv.wait_final(dlg).status == 200
    calls = control.active_calls(rpc_target(trunks))
    assert [(c["callId"], c["maxDuration"], c["state"]) for c in calls if c["companyId"] == client] == \
        [(dlg.call_id, 3, "confirmed")]
    answered = time.monotonic()
    both_byes(asrv, dlg.call_id, carrier_ua, inv.call_id, timeout=15)
    assert time.monotonic() - answered >= 2.5  # not before the balance is used
    rows = cdrs(trunks, dlg.call_id)
    assert len(rows) == 1, dlg.call_id
    row = rows[0]
    assert row["companyId"] == client and row["disconnectCode"] == 200
    assert 2.5 <= row["duration"] < 15
    assert no_calls(trunks) == []


def test_special_number_is_not_rated_and_leaves_no_call_record(trunks: Trunks, bill: Billing) -> None:
    d = bill.d
    asrv = as_ua(d)
    carrier_ua = trunks.ua("carrier")
    cid, _ = d.carrier([carrier_ua])
    d.route("+34", cid)
    d.rating("+33")  # nothing prices +34: a normal call is refused
    spain = d.prov.brand(d.brand).get(f"companies/{d.company}")["country"]["id"]  # DemoCompany's: Spain
    d.create("SpecialNumber", country=spain, number="112", disableCDR=1)
    assert refused(asrv, trunks, d.company, d.brand).status == 403
    dlg = call_out(asrv, trunks, "+34112", d.company, d.brand)
    inv = carrier_ua.request("INVITE")
    assert inv.uri.startswith("sip:+34112@")
    carrier_ua.answer(inv, body=sdp(41002))
    assert asrv.wait_final(dlg).status == 200
    assert control.active_calls(rpc_target(trunks)) == []  # 8.9.1: not listed in active calls
    assert [c["callee"] for c in control.active_calls(rpc_target(trunks), include_disabled_cdr=True)] == ["+34112"]
    finish(trunks, asrv, dlg, carrier_ua, inv)
    assert cdrs(trunks, dlg.call_id, timeout=1.5) == []


# ------------------------------------------------------------------------------------ control and API (8.12)
def test_active_calls_states_and_end_company_calls(trunks: Trunks, bill: Billing) -> None:
    d = bill.d
    asrv = as_ua(d)
    carrier_ua = trunks.ua("carrier")
    cid, _ = d.carrier([carrier_ua])
    d.route("+34", cid)
    d.rating("+34")
    target = rpc_target(trunks)
    dlg = call_out(asrv, trunks, CALLEE, d.company, d.brand)
    inv = carrier_ua.request("INVITE")
    calls = control.active_calls(target)
    assert len(calls) == 1
    call = calls[0]
    assert (call["callId"], call["direction"], call["state"], call["companyId"], call["brandId"]) == \
        (dlg.call_id, "outbound", "trying", d.company, d.brand)
    assert (call["caller"], call["callee"], call["carrierId"], call["answerTime"], call["routingTagId"]) == \
        ("+34911000001", CALLEE, cid, None, None)
    carrier_ua.respond(inv, 180, "Ringing", to_tag="uasT")
    asrv.recv(lambda m: not m.is_request and m.call_id == dlg.call_id and m.status == 180)
    assert control.active_calls(target)[0]["state"] == "early"
    carrier_ua.respond(inv, 200, "OK", body=sdp(41002), to_tag="uasT")
    assert asrv.wait_final(dlg).status == 200
    assert control.active_calls(target)[0]["state"] == "confirmed"
    assert control.active_calls(target)[0]["answerTime"] is not None
    # the same through the UNIX datagram socket
    assert [c["callId"] for c in control.active_calls(f"unix:{trunks.settings.rundir}/kamailio_rpc.sock")] == \
        [dlg.call_id]

    assert control.end_company_calls(target, d.company + 1000) == 0
    time.sleep(0.5)
    assert control.end_company_calls(target, d.company) == 1
    both_byes(asrv, dlg.call_id, carrier_ua, inv.call_id)
    assert no_calls(trunks) == []
    row = cdrs(trunks, dlg.call_id)[0]
    assert row["disconnectCode"] == 200 and row["duration"] >= 0.4
    assert control.end_call(target, dlg.call_id) is False


def test_end_call_by_callid(trunks: Trunks, bill: Billing) -> None:
    d = bill.d
    asrv = as_ua(d)
    carrier_ua = trunks.ua("carrier")
    cid, _ = d.carrier([carrier_ua])
    d.route("+34", cid)
    d.rating("+34")
    dlg = call_out(asrv, trunks, CALLEE, d.company, d.brand)
    inv = carrier_ua.request("INVITE")
    carrier_ua.answer(inv, body=sdp(41002))
    assert asrv.wait_final(dlg).status == 200
    assert control.end_call(rpc_target(trunks), "no-such-call") is False
    assert control.end_call(rpc_target(trunks), dlg.call_id) is True
    both_byes(asrv, dlg.call_id, carrier_ua, inv.call_id)


def reply_at_once(ua: UA, call_id: str, side: str, got: dict[str, Message]) -> None:
    """Answers the BYE of ``call_id`` with 200 the moment it arrives."""
    bye = ua.request("BYE", call_id=call_id, timeout=10)
    ua.respond(bye, 200, "OK")
    got[side] = bye


def test_platform_hangup_reaches_both_sides_that_reply_at_once(trunks: Trunks, bill: Billing) -> None:
    """Calls ended by proxy-trunks (``control.end_call``; the same path as the maximum duration):
    both sides answer their BYE the moment it arrives. Each side gets exactly one BYE (built by
    proxy-trunks and routed through itself, not ``dlg_bye_all``, which lost the carrier's BYE when
    the caller's 200 was processed in between, docs/sip.md §9.8), the call record is written
    once and proxy-trunks' media session is released."""
    d = bill.d
    asrv = as_ua(d)
    carrier_ua = trunks.ua("carrier")
    cid, _ = d.carrier([carrier_ua])
    d.route("+34", cid)
    d.rating("+34")
    target = rpc_target(trunks)
    for _ in range(3):
        dlg = call_out(asrv, trunks, CALLEE, d.company, d.brand)
        inv = carrier_ua.request("INVITE")
        carrier_ua.answer(inv, body=sdp(41002))
        assert asrv.wait_final(dlg).status == 200
        got: dict[str, Message] = {}

        threads = [threading.Thread(target=reply_at_once, args=(asrv, dlg.call_id, "caller", got)),
                   threading.Thread(target=reply_at_once, args=(carrier_ua, inv.call_id, "carrier", got))]
        for t in threads:
            t.start()
        time.sleep(0.3)  # both UAs listening, the ACK has reached proxy-trunks
        assert control.end_call(target, dlg.call_id) is True
        for t in threads:
            t.join(15)
        assert set(got) == {"caller", "carrier"}, got.keys()
        caller_bye, carrier_bye = got["caller"], got["carrier"]
        assert carrier_bye.uri == f"sip:carrier@127.0.0.1:{carrier_ua.port}"
        assert (carrier_bye.tag("from"), carrier_bye.tag("to")) == (dlg.local_tag, dlg.remote_tag)
        assert caller_bye.uri == f"sip:as@127.0.0.1:{asrv.port}"
        assert caller_bye.tag("to") == dlg.local_tag  # sent upstream: From = the carrier's tag
        assert "call ended by the platform" in (carrier_bye.get("reason") or "")
        assert not [h for h in carrier_bye.headers if h[0].lower().startswith("x-info-")]
        # exactly one BYE each (no second one from the dialog module)
        assert "BYE" not in quiet(asrv) and "BYE" not in quiet(carrier_ua)
        assert len(cdrs(trunks, dlg.call_id)) == 1
        assert no_calls(trunks) == []
        with trunks.pf.ng() as ng:
            assert not [c for c in ng.list_calls() if c.startswith(dlg.call_id)]


def test_active_calls_api_is_scoped_per_client(trunks: Trunks, bill: Billing,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    d = bill.d
    asrv = as_ua(d)
    carrier_ua = trunks.ua("carrier")
    cid, _ = d.carrier([carrier_ua])
    d.route("+34", cid)
    d.rating("+34")
    other = bill.client()
    monkeypatch.setenv(control.ENV_TARGET, rpc_target(trunks))
    dlg: Dialog = call_out(asrv, trunks, CALLEE, d.company, d.brand)
    inv = carrier_ua.request("INVITE")
    carrier_ua.answer(inv, body=sdp(41002))
    assert asrv.wait_final(dlg).status == 200
    with TestClient(create_app(trunks.pf.engine, "test-secret-for-polyvox-api-tests-0123456789")) as http:
        def login(level: str, username: str) -> str:
            r = http.post(f"/api/{level}/admin_login", data={"username": username, "password": "changeme"})
            assert r.status_code == 200, r.text
            return str(r.json()["token"])

        def get(level: str, path: str, token: str, **params: Any) -> Any:
            r = http.get(f"/api/{level}{path}", headers={"Authorization": f"Bearer {token}"}, params=params)
            assert r.status_code == 200, r.text
            return r.json()

        client_tok, brand_tok = login("client", "democompany"), login("brand", "demo")
        r = http.post("/api/client/token/exchange", data={"token": brand_tok, "clientId": other})
        assert r.status_code == 201, r.text
        other_tok = str(r.json()["token"])
        assert get("client", "/my/active_calls", client_tok) == {"inbound": 0, "outbound": 1, "total": 1}
        assert get("client", "/my/active_calls", other_tok) == {"inbound": 0, "outbound": 0, "total": 0}
        detail = get("client", "/my/active_calls", client_tok, _details=1)["calls"]
        assert [(c["callId"], c["state"], c["callee"]) for c in detail] == [(dlg.call_id, "confirmed", CALLEE)]
        assert get("client", "/my/active_calls", other_tok, _details=1)["calls"] == []
        assert get("brand", "/my/active_calls", brand_tok)["total"] == 1
        assert get("brand", "/my/active_calls", brand_tok, company=other)["total"] == 0
        assert get("brand", "/my/active_calls", brand_tok, company=d.company)["outbound"] == 1
        assert get("client", "/my/active_calls/realtime_filter", client_tok, direction="outbound") == \
            {"criteria": f"trunks:b{d.brand}:c{d.company}:*:outbound"}
        r = http.get("/api/client/my/active_calls/realtime_filter", params={"direction": "sideways"},
                     headers={"Authorization": f"Bearer {client_tok}"})
        assert r.status_code == 400
        for level in ("platform", "brand", "client"):
            doc = http.get(f"/api/{level}/openapi.json").json()
            assert {"/my/active_calls", "/my/active_calls/realtime_filter"} <= set(doc["paths"])
        monkeypatch.setenv(control.ENV_TARGET, f"fifo:{trunks.pf.tmp}/no-such.fifo")
        r = http.get("/api/client/my/active_calls", headers={"Authorization": f"Bearer {client_tok}"})
        assert r.status_code == 503 and "not available" in r.json()["detail"]
    finish(trunks, asrv, dlg, carrier_ua, inv)


# ------------------------------------------------------------------------------------ routing tags (9.3.4)
def test_presented_ddi_routing_tag_selects_tagged_routes(trunks: Trunks, bill: Billing) -> None:
    """A call presenting a DDI with a routing tag (its own, or its DDI provider's with
    useDdiProviderRoutingTag) uses the routes of that tag; other callers the untagged routes."""
    d = bill.d
    asrv = as_ua(d)
    tagged_ua, plain_ua = trunks.ua("tagged"), trunks.ua("plain")
    tagged, _ = d.carrier([tagged_ua])
    plain, _ = d.carrier([plain_ua])
    tag = d.create("RoutingTag", name=f"premium-{rand(3)}", tag="7#")
    d.route("+34", tagged, routingTag=tag)
    d.route("+34", plain)
    d.rating("+34")  # untagged price list: a tagged call falls back to it
    prov = d.provider()
    other_tag = d.create("RoutingTag", name=f"other-{rand(3)}", tag="8#")
    own = d.ddi("+34955000771", provider=prov)
    via_provider = d.ddi("+34955000772", provider=prov)
    d.update("Ddi", own, routingTag=tag)
    d.update("Ddi", via_provider, useDdiProviderRoutingTag=True, routingTag=other_tag)
    d.update("DdiProvider", prov, routingTag=tag)

    for caller, extra, carrier_ua in (("+34955000771", [], tagged_ua), ("+34911000001", [], plain_ua),
                                      ("+34911000001", [f"X-Info-DdiId: {via_provider}"], tagged_ua),
                                      ("+34955000772", [], tagged_ua)):
        dlg = asrv.invite(f"sip:{CALLEE}@{trunks.proxy[0]}:{trunks.proxy[1]}", body=sdp(41000), auth=False,
                          wait_final=False, extra=[f"X-Info-BrandId: {d.brand}", f"X-Info-CompanyId: {d.company}",
                                                   f"X-Info-Caller: {caller}", *extra])
        inv = carrier_ua.request("INVITE", call_id=dlg.call_id)
        assert [c["routingTagId"] for c in control.active_calls(rpc_target(trunks))] == \
            [tag if carrier_ua is tagged_ua else None]
        carrier_ua.respond(inv, 486, "Busy Here")
        assert asrv.wait_final(dlg).status == 486, caller
        (row,) = cdrs(trunks, dlg.call_id)  # the tag and the presented DDI are in the call record
        assert (row["routingTagId"], row["ddiId"], row["bounced"]) == \
            (tag if carrier_ua is tagged_ua else None,
             {"+34955000771": own, "+34955000772": via_provider}.get(caller, via_provider if extra else None),
             False), caller


def test_control_targets_and_errors(monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> None:
    monkeypatch.delenv(control.ENV_TARGET, raising=False)
    monkeypatch.setenv("POLYVOX_HOME", str(tmp_path))
    assert control.targets() == [f"fifo:{tmp_path}/run/proxy-trunks/kamailio_rpc.fifo"]
    assert control.targets("udp:10.0.0.7:7070, udp:10.0.0.8:7070") == ["udp:10.0.0.7:7070", "udp:10.0.0.8:7070"]
    monkeypatch.setenv(control.ENV_TARGET, "unix:/run/x.sock")
    assert control.targets("udp:10.0.0.7:7070") == ["unix:/run/x.sock"]  # the environment wins
    with pytest.raises(control.RpcError, match="unknown RPC target"):
        control.rpc("tcp:127.0.0.1:1", "core.version")
    with pytest.raises(control.RpcError, match="not available"):
        control.rpc(f"fifo:{tmp_path}/missing.fifo", "core.version")
    assert list(tmp_path.iterdir()) == []  # the reply FIFO is removed


def test_rpc_over_udp_for_the_distributed_profile(trunks: Trunks, monkeypatch: pytest.MonkeyPatch) -> None:
    """A proxy-trunks started with POLYVOX_SIP_TRUNKS_RPC_LISTEN answers JSON-RPC on that UDP
    address (instead of the UNIX socket in its run directory)."""
    from polyvox.sip import render
    from tests.sip.conftest import Proc, _wait_ready, free_port

    rpc_port, sip_port = free_port(False), free_port()
    monkeypatch.setenv("POLYVOX_SIP_TRUNKS_RPC_LISTEN", f"udp:127.0.0.1:{rpc_port}")
    settings = trunks.settings.with_(home=trunks.pf.tmp / "home-udp", port=sip_port)
    rendered = render.render(settings)
    kam = Proc(rendered.argv, trunks.pf.tmp / "kamailio-trunks-udp.log", "proxy-trunks-udp")
    try:
        _wait_ready(("127.0.0.1", sip_port), kam)
        assert control.active_calls(f"udp:127.0.0.1:{rpc_port}") == []
        assert "kamailio" in str(control.rpc(f"udp:127.0.0.1:{rpc_port}", "core.version")).lower()
        assert not (settings.rundir / "kamailio_rpc.sock").exists()
    finally:
        kam.stop()
