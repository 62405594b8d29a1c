"""proxy-trunks through Kamailio on loopback (spec 6, 7, 9.2, 9.3, 9.6.3, 12.5).

Test UAs play the application server (listed in ``application_servers``), the carrier servers
(``carrier_servers.ip/port`` = the UA's address) and the DDI provider (address 127.0.0.1: on
loopback every non-peer source is "the provider", peers are matched by ip:port first).
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from polyvox.db.cdr import kam_trunks_cdrs
from polyvox.media.ng import NGError
from polyvox.platform import control
from tests.provision import Provisioner
from tests.sip.conftest import DOMAIN, Trunks, free_port
from tests.sip.fixtures_endpoints import ApiRows, api_time, ml
from tests.sip.ua import UA, Dialog, Message, rand, sdp, sdp_media


def TRUNKS_MEDIA(call_id: str, direction: str = "outbound") -> str:
    """proxy-trunks' Call-ID at rtpengine for a dialog of ``direction`` (docs/sip.md §9.10;
    ``polyvox.sip.proxy_trunks.rtp_call_id``, which only imports inside Kamailio)."""
    return f"{call_id}-pvtin" if direction == "inbound" else f"{call_id}-pvtout"


SPAIN_OUT = [("calleeout", r"^\+34([0-9]{9})$", r"\1"), ("callerout", r"^\+34([0-9]{9})$", r"\1")]
SPAIN_IN = [("calleein", r"^([0-9]{9})$", r"+34\1"), ("callerin", r"^([0-9]{9})$", r"+34\1")]
WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


@dataclass
class Data(ApiRows):
    """Carriers, DDI providers, routes and rating of one test, written through the platform's API
    as the brand operator writes them (``ApiRows``), removed through the API afterwards."""

    t: Trunks
    brand: int
    company: int
    undo: list[Callable[[], Any]] = field(default_factory=list)  # run newest first at cleanup
    destinations: dict[str, int] = field(default_factory=dict)

    @property
    def prov(self) -> Provisioner:
        return self.t.pf.prov

    def destination(self, prefix: str, name: str | None = None) -> int:
        """The brand's destination for ``prefix`` (one per prefix and brand): the existing one, or a
        new one named ``name``."""
        if prefix not in self.destinations:
            found = [r for r in self.prov.brand(self.brand).list("destinations", prefix=prefix) if r["prefix"] == prefix]
            self.destinations[prefix] = int(found[0]["id"]) if found else \
                self.create("Destination", prefix=prefix, name=ml(name or f"d{prefix}"))
        return self.destinations[prefix]

    def rates(self, rates: list[tuple[str, str]], *, fee: str = "0", increment: str = "1s",
              name: str | None = None) -> int:
        """A destination rate group: ``(prefix, price per minute)``."""
        drg = self.create("DestinationRateGroup", name=ml(name or f"drg-{rand(4)}"), description=ml(""),
                          deductibleConnectionFee=False)
        for prefix, price in rates:
            self.create("DestinationRate", destinationRateGroup=drg, destination=self.destination(prefix), cost=price,
                        connectFee=fee, rateIncrement=increment, groupIntervalStart="0s")
        return drg

    def plan_group(self, drg: int, *, name: str | None = None, weekdays: tuple[int, ...] | None = None) -> int:
        """A rating plan group rating with ``drg`` always, or only on ``weekdays`` (0 = Monday). A
        group rates calls 24x7 (spec 9.4.3): the rest of the week a plan pricing only +999 (called
        by no test) applies."""
        rpg = self.create("RatingPlanGroup", name=ml(name or f"rpg-{rand(4)}"), description=ml(""))
        if weekdays is None:
            self.create("RatingPlan", ratingPlanGroup=rpg, destinationRateGroup=drg, weight=10, timingType="always",
                        timeIn="00:00:00")
            return rpg
        self.create("RatingPlan", ratingPlanGroup=rpg, destinationRateGroup=self.rates([("+999", "1")]), weight=1,
                    timingType="always", timeIn="00:00:00")
        self.create("RatingPlan", ratingPlanGroup=rpg, destinationRateGroup=drg, weight=10, timingType="custom",
                    timeIn="00:00:00", **{day: i in weekdays for i, day in enumerate(WEEKDAYS)})
        return rpg

    def profile(self, rpg: int, *, company: int | None = None, carrier: int | None = None,
                since: timedelta = timedelta(days=1)) -> int:
        """The rating plan group of a client or of a carrier, active since ``since`` ago."""
        return self.create("RatingProfile", brand=self.brand, company=company, carrier=carrier, ratingPlanGroup=rpg,
                           activationTime=api_time(datetime.now(UTC) - since))

    def rule_set(self, rules: list[tuple[str, str, str]]) -> int:
        rs = self.create("TransformationRuleSet", name=ml(f"rs-{rand(4)}"), description="", generateRules=False)
        for i, (kind, match, repl) in enumerate(rules):
            self.create("TransformationRule", transformationRuleSet=rs, type=kind, priority=i + 1, matchExpr=match,
                        replaceExpr=repl, description="")
        return rs

    def carrier(self, servers: list[UA | int], rules: list[tuple[str, str, str]] | None = None,
                **server_kw: Any) -> tuple[int, list[int]]:
        cid = self.create("Carrier", name=f"carrier-{rand(4)}", description="", transformationRuleSet=self.rule_set(rules or []))
        ids = []
        for s in servers:
            port = s.port if isinstance(s, UA) else s
            kw = {"authNeeded": "no", "sendPAI": False, "sendRPID": False, "transport": 1, "uriScheme": 1,
                  **server_kw}
            ids.append(self.create("CarrierServer", carrier=cid, ip="127.0.0.1", port=port, **kw))
        return cid, ids

    def route(self, prefix: str, carrier: int | None, mode: str = "static", priority: int = 1,
              **kw: Any) -> int:
        pat = self.create("RoutingPattern", prefix=prefix, name=ml(f"p{prefix}"), description=ml(""))
        return self.create("OutgoingRouting", type="pattern", routingPattern=pat, priority=priority, weight=1,
                           routingMode=mode, carrier=carrier, stopper=False, disableDiversion=False, **kw)

    def rating(self, *prefixes: str, company: int | None = None) -> None:
        """One active rating profile for the client pricing ``prefixes``."""
        self.profile(self.plan_group(self.rates([(p, "1") for p in prefixes])), company=company or self.company)

    def provider(self, rules: list[tuple[str, str, str]] | None = None, ip: str = "127.0.0.1") -> int:
        pid = self.create("DdiProvider", name=f"prov-{rand(4)}", description="",
                          transformationRuleSet=self.rule_set(rules or []))
        self.create("DdiProviderAddress", ddiProvider=pid, ip=ip, description="")
        return pid

    def ddi(self, e164: str, provider: int | None = None, type: str = "inout", company: int | None = None) -> int:
        """A Spanish DDI of the client (the API derives its E.164 form from the client's country)."""
        assert e164.startswith("+34")
        return self.create("Ddi", company=company or self.company, ddi=e164[3:], ddiProvider=provider, type=type,
                           useDdiProviderRoutingTag=False)


@pytest.fixture()
def data(trunks: Trunks, app_servers) -> Iterator[Data]:  # type: ignore[no-untyped-def]
    pf = trunks.pf
    company = pf.company_id()
    d = Data(trunks, pf.prov.brand_of(company), company)
    d.app_servers = app_servers  # type: ignore[attr-defined]
    yield d
    d.cleanup()
    # servers marked down (htable asdown, key cs:<id>) must not outlive the test: SQLite reuses
    # the ids of deleted carrier servers, so the next test's server could be skipped as "down"
    control.rpc(f"fifo:{trunks.settings.rundir}/kamailio_rpc.fifo", "htable.flush", "asdown")


def as_ua(d: Data) -> UA:
    """A test UA standing in for the application server (trusted inside peer of proxy-trunks)."""
    ua = d.t.ua("as")
    d.app_servers([f"127.0.0.1:{ua.port}"])  # type: ignore[attr-defined]
    return ua


def call_out(asrv: UA, t: Trunks, callee: str, company: int, brand: int, caller: str = "+34911000001",
             extra: list[str] | None = None) -> Dialog:
    hdrs = [f"X-Info-BrandId: {brand}", f"X-Info-CompanyId: {company}", f"X-Info-Caller: {caller}",
            "X-Info-EndpointType: terminal", "X-Info-EndpointId: 1", "X-Info-Endpoint: b1c1t1_alice",
            *(extra or [])]
    return asrv.invite(f"sip:{callee}@{t.proxy[0]}:{t.proxy[1]}", body=sdp(41000), extra=hdrs, auth=False,
                       wait_final=False)


def cdrs(t: Trunks, call_id: str, timeout: float = 3.0) -> list[dict[str, Any]]:
    deadline = time.monotonic() + timeout
    while True:
        with t.pf.engine.connect() as c:
            rows = [dict(r._mapping) for r in c.execute(select(kam_trunks_cdrs)
                                                       .where(kam_trunks_cdrs.c.callid == call_id))]
        if rows or time.monotonic() > deadline:
            return rows
        time.sleep(0.1)


def finish(t: Trunks, caller: UA, d: Dialog, callee: UA, inv: Message) -> None:
    caller.in_dialog(d, "BYE")
    bye = callee.request("BYE", call_id=inv.call_id)
    callee.respond(bye, 200, "OK")
    assert caller.response(d.call_id, "BYE", final=True).status == 200


# ------------------------------------------------------------------------------------ basics
def test_trunks_proxy_answers_options_and_refuses_unknown_sources(trunks: Trunks) -> None:
    stranger = trunks.ua("stranger")
    d = stranger.invite(f"sip:+34911000000@{trunks.proxy[0]}:{trunks.proxy[1]}", body=sdp(41000), auth=False)
    assert d.answer is not None
    assert (d.answer.status, d.answer.reason) == (403, "Forbidden: unknown source")


# ------------------------------------------------------------------------------------ outbound
def test_outbound_call_reaches_carrier_with_transformations(trunks: Trunks, data: Data) -> None:
    asrv = as_ua(data)
    carrier_ua = trunks.ua("carrier")
    cid, (sid,) = data.carrier([carrier_ua], SPAIN_OUT, fromDomain="trunk.example", sendPAI=True, sendRPID=True)
    data.route("+34", cid)
    data.rating("+34")
    d = call_out(asrv, trunks, "+34911234567", data.company, data.brand)
    inv = carrier_ua.request("INVITE")
    assert inv.uri == f"sip:911234567@127.0.0.1:{carrier_ua.port}"  # calleeout: national format
    assert "sip:911000001@trunk.example" in inv["from"]  # callerout + fromDomain
    assert inv["p-asserted-identity"] == "<sip:911000001@trunk.example>"
    assert inv.get("remote-party-id", "").startswith("<sip:911000001@trunk.example>")
    assert not [h for h in inv.headers if h[0].lower().startswith("x-info-")]
    assert inv.values("record-route")
    assert sdp_media(inv.body)[1] != 41000  # offer relayed by rtpengine
    carrier_ua.answer(inv, body=sdp(41002))
    final = asrv.wait_final(d)
    assert final.status == 200
    assert sdp_media(final.body)[1] != 41002  # and the answer
    with trunks.pf.ng() as ng:  # proxy-trunks' own media session (docs/sip.md §9.10)
        assert ng.request("query", call_id=TRUNKS_MEDIA(d.call_id)).get("result") == "ok"
        with pytest.raises(NGError, match="Unknown call-id"):
            ng.request("query", call_id=d.call_id)
    time.sleep(0.3)
    finish(trunks, asrv, d, carrier_ua, inv)
    rows = cdrs(trunks, d.call_id)
    with trunks.pf.ng() as ng, pytest.raises(NGError, match="Unknown call-id"):  # BYE deleted the session
        ng.request("query", call_id=TRUNKS_MEDIA(d.call_id))
    assert len(rows) == 1
    row = rows[0]
    assert (row["direction"], row["brandId"], row["companyId"], row["carrierId"], row["carrierServerId"]) == \
        ("outbound", data.brand, data.company, cid, sid)
    assert (row["caller"], row["callee"], row["disconnectCode"]) == ("+34911000001", "+34911234567", 200)
    assert row["answerTime"] is not None and row["duration"] > 0.2
    assert row["endpointType"] == "terminal"
    assert (row["bounced"], row["routingTagId"]) == (False, None)


def test_outbound_failover_on_timeout_and_503_not_on_486(trunks: Trunks, data: Data) -> None:
    asrv = as_ua(data)
    dead = free_port(False)
    c503, c2 = trunks.ua("c503"), trunks.ua("c2")
    cid1, _ = data.carrier([dead])
    cid2, _ = data.carrier([c503])
    cid3, _ = data.carrier([c2])
    data.route("+33", cid1, priority=1)
    data.route("+33", cid2, priority=2)
    data.route("+33", cid3, priority=3)
    data.rating("+33")
    t0 = time.monotonic()
    d = call_out(asrv, trunks, "+33123456789", data.company, data.brand)
    inv = c503.request("INVITE", timeout=5)
    assert 0.9 <= time.monotonic() - t0 < 3.0  # carrier_timeout_ms=1000
    c503.respond(inv, 503, "Service Unavailable")
    inv2 = c2.request("INVITE", timeout=5)
    c2.respond(inv2, 486, "Busy Here")
    final = asrv.wait_final(d)
    assert final.status == 486
    assert cdrs(trunks, d.call_id)[0]["disconnectCode"] == 486
    # 486 is final: no further carrier is tried (the silent one is now skipped, 503 -> next -> 486)
    d2 = call_out(asrv, trunks, "+33123456789", data.company, data.brand)
    inv3 = c503.request("INVITE", timeout=2)
    c503.respond(inv3, 480, "Temporarily Unavailable")
    assert asrv.wait_final(d2).status == 480
    with pytest.raises(TimeoutError):
        c2.request("INVITE", timeout=0.5)


def test_outbound_carrier_digest_authentication(trunks: Trunks, data: Data) -> None:
    from tests.sip.ua import digest

    asrv = as_ua(data)
    carrier_ua = trunks.ua("carrier")
    cid, _ = data.carrier([carrier_ua], authNeeded="yes", authUser="trunkuser", authPassword="s3cret")
    data.route("+44", cid)
    data.rating("+44")
    d = call_out(asrv, trunks, "+442071234567", data.company, data.brand)
    inv = carrier_ua.request("INVITE")
    assert inv.get("proxy-authorization") is None
    carrier_ua.respond(inv, 407, "Proxy Authentication Required",
                       extra=['Proxy-Authenticate: Digest realm="carrier.example", nonce="abc123", algorithm=MD5'])
    inv2 = carrier_ua.request("INVITE")
    auth = inv2["proxy-authorization"]
    assert 'username="trunkuser"' in auth and 'realm="carrier.example"' in auth
    uri = re.search(r'uri="([^"]*)"', auth).group(1)  # type: ignore[union-attr]
    expected = digest('Digest realm="carrier.example", nonce="abc123"', "INVITE", uri, "trunkuser", "s3cret")
    assert re.search(r'response="([0-9a-f]+)"', auth).group(1) == \
        re.search(r'response="([0-9a-f]+)"', expected).group(1)  # type: ignore[union-attr]
    carrier_ua.answer(inv2, body=sdp(41002))
    assert asrv.wait_final(d).status == 200
    finish(trunks, asrv, d, carrier_ua, inv2)


def test_outbound_no_route_blocked_and_no_rating(trunks: Trunks, data: Data) -> None:
    asrv = as_ua(data)
    data.rating("+49", "+1")
    data.route("+1", None, mode="block")
    d = call_out(asrv, trunks, "+4930123456", data.company, data.brand)
    assert (asrv.wait_final(d).status, d.answer.reason) == (404, "Not Found: No route")  # type: ignore[union-attr]
    d = call_out(asrv, trunks, "+12125550100", data.company, data.brand)
    assert (asrv.wait_final(d).status, d.answer.reason) == \
        (403, "Forbidden: call blocked by outgoing routing")  # type: ignore[union-attr]
    d = call_out(asrv, trunks, "+8613800000000", data.company, data.brand)  # no rating plan prices +86
    assert (asrv.wait_final(d).status, d.answer.reason) == \
        (403, "Forbidden: no rating plan for the destination")  # type: ignore[union-attr]
    # without context the call is refused
    ua = asrv.invite(f"sip:+4930123456@{trunks.proxy[0]}:{trunks.proxy[1]}", body=sdp(41000), auth=False)
    assert (ua.answer.status, ua.answer.reason) == (403, "Forbidden: missing call context")  # type: ignore[union-attr]


def test_outbound_max_calls_per_client(trunks: Trunks, data: Data) -> None:
    asrv = as_ua(data)
    carrier_ua = trunks.ua("carrier")
    cid, _ = data.carrier([carrier_ua])
    data.route("+39", cid)
    data.rating("+39")
    data.set_company(data.company, maxCalls=1)  # the old value comes back at cleanup
    d1 = call_out(asrv, trunks, "+390612345678", data.company, data.brand)
    inv = carrier_ua.request("INVITE")
    carrier_ua.answer(inv, body=sdp(41002))
    assert asrv.wait_final(d1).status == 200
    d2 = call_out(asrv, trunks, "+390612345679", data.company, data.brand)
    assert asrv.wait_final(d2).status == 403
    assert d2.answer is not None and "maximum concurrent calls" in d2.answer.reason
    finish(trunks, asrv, d1, carrier_ua, inv)
    d3 = call_out(asrv, trunks, "+390612345679", data.company, data.brand)
    inv3 = carrier_ua.request("INVITE")
    carrier_ua.respond(inv3, 486, "Busy Here")
    assert asrv.wait_final(d3).status == 486


# ------------------------------------------------------------------------------------ inbound
def test_inbound_call_from_ddi_provider_reaches_application_server(trunks: Trunks, data: Data) -> None:
    asrv = as_ua(data)
    prov = data.provider(SPAIN_IN)
    ddi = data.ddi("+34955000111", provider=prov)
    provider_ua = trunks.ua("600111222", domain="provider.example")
    d = provider_ua.invite(f"sip:955000111@{trunks.proxy[0]}:{trunks.proxy[1]}", body=sdp(41000), auth=False,
                           wait_final=False)
    inv = asrv.request("INVITE")
    assert inv.uri == f"sip:+34955000111@127.0.0.1:{asrv.port}"
    assert inv["x-info-ddi"] == "+34955000111"
    assert inv["x-info-ddiid"] == str(ddi)
    assert inv["x-info-ddiproviderid"] == str(prov)
    assert inv["x-info-companyid"] == str(data.company)
    assert inv["x-info-caller"] == "+34600111222"
    assert "sip:+34600111222@" in inv["from"]
    uas = asrv.answer(inv, body=sdp(41002))
    assert provider_ua.wait_final(d).status == 200
    asrv.request("ACK", call_id=inv.call_id)
    asrv.in_dialog(uas, "BYE")  # the application server hangs up: BYE follows the Record-Route
    bye = provider_ua.request("BYE", call_id=d.call_id)
    assert not [h for h in bye.headers if h[0].lower().startswith("x-info-")]
    provider_ua.respond(bye, 200, "OK")
    assert asrv.response(inv.call_id, "BYE", final=True).status == 200
    row = cdrs(trunks, d.call_id)[0]
    assert (row["direction"], row["ddiId"], row["ddiProviderId"], row["caller"], row["callee"]) == \
        ("inbound", ddi, prov, "+34600111222", "+34955000111")


def test_inbound_unknown_and_outbound_only_ddi(trunks: Trunks, data: Data) -> None:
    prov = data.provider(SPAIN_IN)
    data.ddi("+34955000222", provider=prov, type="out")
    provider_ua = trunks.ua("600111222", domain="provider.example")
    d = provider_ua.invite(f"sip:955000999@{trunks.proxy[0]}:{trunks.proxy[1]}", body=sdp(41000), auth=False)
    assert (d.answer.status, d.answer.reason) == (404, "Not Found: unknown DDI")  # type: ignore[union-attr]
    d = provider_ua.invite(f"sip:955000222@{trunks.proxy[0]}:{trunks.proxy[1]}", body=sdp(41000), auth=False)
    assert (d.answer.status, d.answer.reason) == (403, "Forbidden: outbound-only DDI")  # type: ignore[union-attr]


def test_outbound_call_to_own_ddi_is_bounced_internally(trunks: Trunks, data: Data) -> None:
    asrv = as_ua(data)
    carrier_ua = trunks.ua("carrier")
    cid, _ = data.carrier([carrier_ua])
    data.route("+34", cid)
    data.rating("+34")
    ddi = data.ddi("+34955000333")
    presented = data.ddi("+34955000334", type="out")
    tag = data.create("RoutingTag", name=f"bounce-{rand(3)}", tag="5#")
    d = call_out(asrv, trunks, "+34955000333", data.company, data.brand,
                 extra=[f"X-Info-DdiId: {presented}", f"X-Info-RoutingTagId: {tag}"])
    inv = asrv.request("INVITE")  # comes back to the application server, not to the carrier
    assert inv.uri.startswith("sip:+34955000333@")
    assert inv["x-info-ddiid"] == str(ddi) and inv["x-info-bounced"] == "yes"
    asrv.answer(inv, body=sdp(41002))
    assert asrv.wait_final(d).status == 200
    with pytest.raises(TimeoutError):
        carrier_ua.request("INVITE", timeout=0.3)
    finish(trunks, asrv, d, asrv, inv)
    # two records (same Call-ID): the calling client's outbound one, billed as bounced, and the
    # DDI client's inbound one (the billing worker never prices inbound records)
    rows = sorted(cdrs(trunks, d.call_id), key=lambda r: r["direction"])
    assert [(r["direction"], r["companyId"], r["bounced"], r["carrierId"], r["ddiProviderId"]) for r in rows] == \
        [("inbound", data.company, True, None, None), ("outbound", data.company, True, None, None)]
    inbound, outbound = rows
    assert (outbound["callee"], outbound["ddiId"], outbound["routingTagId"], outbound["endpointType"]) == \
        ("+34955000333", presented, tag, "terminal")
    assert (inbound["callee"], inbound["ddiId"], inbound["routingTagId"], inbound["endpointType"]) == \
        ("+34955000333", ddi, None, None)
    assert outbound["disconnectCode"] == inbound["disconnectCode"] == 200 and outbound["duration"] > 0


def test_cdr_domain_table_shape() -> None:
    cols = {c.name for c in kam_trunks_cdrs.c}
    assert {"brandId", "companyId", "carrierId", "ddiProviderId", "ddiId", "endpointType", "endpointId",
            "endpointName", "direction", "caller", "callee", "startTime", "answerTime", "endTime", "duration",
            "disconnectCode", "callid"} <= cols
    assert DOMAIN


@pytest.fixture()
def retail(data: Data) -> tuple[int, int, str]:
    """A retail client with one retail account (in the brand's SIP domain)."""
    data.use_brand_domain()
    company = data.client("retail")
    name = f"ra{rand(4)}"
    account = data.create("RetailAccount", company=company, name=name, password="RETail+123", transport="udp",
                          description="", directConnectivity="no", ddiIn="yes", multiContact=True,
                          rtpEncryption=False, t38Passthrough="no")
    return company, account, name


def test_inbound_retail_ddi_goes_to_proxy_users(trunks: Trunks, data: Data, retail: tuple[int, int, str]) -> None:
    company, account, name = retail
    prov = data.provider(SPAIN_IN)
    ddi = data.ddi("+34955000444", provider=prov, company=company)
    data.update("Ddi", ddi, client=company, routeType="retail", retailAccount=account)
    domain = data.use_brand_domain()
    provider_ua = trunks.ua("600111222", domain="provider.example")
    d = provider_ua.invite(f"sip:955000444@{trunks.proxy[0]}:{trunks.proxy[1]}", body=sdp(41000), auth=False,
                           wait_final=False)
    users = trunks.users
    inv = users.request("INVITE")
    assert inv.uri == f"sip:{name}@{domain}"
    assert (inv["x-info-type"], inv["x-info-retailaccountid"], inv["x-info-ddi"]) == ("retail", str(account),
                                                                                    "+34955000444")
    users.respond(inv, 480, "Temporarily Unavailable")
    assert provider_ua.wait_final(d).status == 480
    assert cdrs(trunks, d.call_id)[0]["disconnectCode"] == 480


def test_outbound_from_proxy_users_retail_account(trunks: Trunks, data: Data, retail: tuple[int, int, str]) -> None:
    company, _account, _name = retail
    carrier_ua = trunks.ua("carrier")
    cid, _ = data.carrier([carrier_ua])
    data.route("+34", cid)
    data.rating("+34", company=company)
    d = call_out(trunks.users, trunks, "+34911234567", company, data.brand,
                 extra=["X-Info-Type: retail"])
    inv = carrier_ua.request("INVITE")
    assert inv.uri.startswith("sip:+34911234567@")
    carrier_ua.respond(inv, 603, "Decline")
    assert trunks.users.wait_final(d).status == 603
    row = cdrs(trunks, d.call_id)[0]
    assert (row["companyId"], row["carrierId"], row["disconnectCode"]) == (company, cid, 603)


def test_sipp_app_server_calls_out_through_sipp_carrier(trunks: Trunks, data: Data) -> None:
    """sipp plays both sides: the application server (uac_trunks_out.xml) and the carrier (uas.xml)."""
    from tests.sip.test_sipp import received_invite

    pf = trunks.pf
    as_port, carrier_port = free_port(False), free_port(False)
    data.app_servers([f"127.0.0.1:{as_port}"])  # type: ignore[attr-defined]
    cid, _ = data.carrier([carrier_port], SPAIN_OUT)
    data.route("+34", cid)
    data.rating("+34")
    carrier = pf.sipp_start("uas.xml", port=carrier_port, remote=False)
    time.sleep(0.3)
    try:
        host = f"{trunks.proxy[0]}:{trunks.proxy[1]}"
        caller = pf.sipp_start("uac_trunks_out.xml", "-s", "+34911234567", host, port=as_port, remote=False,
                               csv=f"{host};{data.company};+34911000001").result(20)
        callee = carrier.result(15)
    finally:
        carrier.stop()
    assert caller.rc == 0, caller.output
    assert callee.rc == 0, callee.output
    invite = received_invite(callee.messages)
    assert invite.startswith(f"INVITE sip:911234567@127.0.0.1:{carrier_port} SIP/2.0")
    assert "X-Info-" not in invite
    call_id = re.search(r"^Call-ID: (\S+)", invite, re.M | re.I).group(1)  # type: ignore[union-attr]
    (row,) = cdrs(trunks, call_id)
    assert (row["direction"], row["carrierId"], row["callee"], row["disconnectCode"]) == \
        ("outbound", cid, "+34911234567", 200)
