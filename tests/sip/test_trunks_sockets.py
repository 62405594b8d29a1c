"""proxy-trunks' local sockets: the platform's proxy trunks addresses (spec 8.14.2, carrier and DDI
provider "Local socket"; docs/sip.md §9.11), with real SIP on loopback.

A proxy-trunks of this module listens on 127.0.0.1 (main address) and on 127.0.0.2, a
``proxy_trunks`` row assigned to the demo brand (Linux routes all of 127/8 on ``lo``). Carriers,
DDI providers and the application server are test UAs bound to 127.0.0.1, so the source address of
what they receive tells which local socket proxy-trunks used.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine

from polyvox.platform.proxy_settings import ProxySettings
from polyvox.sip import render
from polyvox.sip.trunks_repository import TrunksRepository
from tests.api.conftest import SECRET, Api
from tests.sip.conftest import DOMAIN, Platform, Proc, Trunks, _wait_ready, free_port
from tests.sip.test_trunks import SPAIN_IN, SPAIN_OUT, Data, as_ua, call_out, cdrs
from tests.sip.ua import UA, sdp

SECOND = "127.0.0.2"  # the additional proxy trunks address
FOREIGN = "192.0.2.77"  # TEST-NET-1: a proxy_trunks row this host cannot bind


def _free_on_both() -> int:
    for _ in range(50):
        port = free_port()
        try:
            for kind in (socket.SOCK_DGRAM, socket.SOCK_STREAM):
                with socket.socket(socket.AF_INET, kind) as s:
                    s.bind((SECOND, port))
        except OSError:
            continue
        return port
    raise RuntimeError("no port free on 127.0.0.1 and 127.0.0.2")


@pytest.fixture(scope="module")
def sockets(platform: Platform) -> Iterator[tuple[Trunks, int, int]]:
    """(proxy-trunks listening on 127.0.0.1 and 127.0.0.2, id of the 127.0.0.2 row, id of the
    unbindable row). Both rows are assigned to the demo brand."""
    # the global operator adds both addresses and assigns them to the demo brand (spec 8.14.2);
    # proxy-trunks listens on the addresses it finds when it starts (docs/sip.md §9.11)
    god = platform.prov.platform
    brand = platform.prov.brand_of(platform.company_id())
    assigned = god.get(f"brands/{brand}")["proxyTrunks"]
    second = int(god.post("proxy_trunks", {"name": "pt-second", "ip": SECOND})["id"])
    foreign = int(god.post("proxy_trunks", {"name": "pt-foreign", "ip": FOREIGN})["id"])
    god.put(f"brands/{brand}", {"proxyTrunks": [*assigned, second, foreign]})
    port = _free_on_both()
    users = UA("proxy-users", DOMAIN, ("127.0.0.1", port))
    # its own home: the session's proxy-trunks (trunks_platform) uses run/proxy-trunks of the other
    settings = platform.settings.with_(home=platform.tmp / "home-sockets", name="proxy-trunks", port=port,
                                       users_proxy=f"127.0.0.1:{users.port}", carrier_timeout_ms=1000)
    rendered = render.render(settings)
    kam = Proc(rendered.argv, platform.tmp / "kamailio-trunks-sockets.log", "proxy-trunks-sockets")
    try:
        _wait_ready(("127.0.0.1", port), kam)
        _wait_ready((SECOND, port), kam)
        yield Trunks(pf=platform, settings=settings, proxy=("127.0.0.1", port), kamailio=kam, users=users), \
            second, foreign
    finally:
        kam.stop()
        users.close()
        god.put(f"brands/{brand}", {"proxyTrunks": assigned})
        for trunk in (second, foreign):
            god.delete(f"proxy_trunks/{trunk}")


@pytest.fixture()
def sk(sockets: tuple[Trunks, int, int], app_servers) -> Iterator[tuple[Data, int, int]]:  # type: ignore[no-untyped-def]
    t, second, foreign = sockets
    assert t.kamailio.alive(), t.kamailio.tail()
    company = t.pf.company_id()
    d = Data(t, t.pf.prov.brand_of(company), company)
    d.app_servers = app_servers  # type: ignore[attr-defined]
    yield d, second, foreign
    for ua in t.uas:
        ua.close()
    t.uas.clear()
    d.cleanup()
    if os.environ.get("POLYVOX_SIP_TEST_LOG"):
        print(t.kamailio.tail(80))


def set_trunk(d: Data, entity: str, row_id: int, trunk: int | None) -> None:
    """The carrier's or DDI provider's "Local socket", set by the brand operator (``None``: the
    brand's first proxy trunks address, the main one, as when the brand leaves it empty)."""
    d.update(entity, row_id, proxyTrunk=trunk)


def provider(d: Data, trunk: int | None) -> int:
    pid = d.provider(SPAIN_IN)
    if trunk is not None:
        set_trunk(d, "DdiProvider", pid, trunk)
    return pid


def provider_ua(d: Data, local: str) -> UA:
    """A DDI provider (bound to 127.0.0.1) sending to proxy-trunks' address ``local``."""
    ua = UA("600111222", "provider.example", (local, d.t.proxy[1]))
    d.t.uas.append(ua)
    return ua


def top_via_host(headers: list[str]) -> str:
    return headers[0].split()[1].split(";")[0]


# ------------------------------------------------------------------------------------ rendering
def test_listen_lines_for_proxy_trunks_addresses(sockets: tuple[Trunks, int, int],
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    t, _, _ = sockets
    cfg = (t.settings.rundir / "kamailio.cfg").read_text()
    port = t.proxy[1]
    assert f"listen=udp:127.0.0.1:{port}\nlisten=tcp:127.0.0.1:{port}\n" in cfg  # main address first
    assert f"listen=udp:{SECOND}:{port}" in cfg and f"listen=tcp:{SECOND}:{port}" in cfg
    assert FOREIGN not in cfg  # not an address of this host: left out, Kamailio starts
    assert f'"trunk_addresses": [\n  "{SECOND}"\n ]' in (t.settings.rundir / "kemi.py").read_text()
    # the rule itself: the main address is not repeated, advertised addresses, duplicates, IPv6,
    # a wildcard main address
    s = t.settings.with_(host="127.0.0.1", port=7060, tcp=False)
    lines, addrs = render.trunk_listen(s, [("127.0.0.1", ""), (SECOND, "203.0.113.5"), (SECOND, ""),
                                           (FOREIGN, ""), ("::1", "")])
    assert lines == [f"listen=udp:{SECOND}:7060 advertise 203.0.113.5:7060", "listen=udp:[::1]:7060"] or \
        lines == [f"listen=udp:{SECOND}:7060 advertise 203.0.113.5:7060"]  # no IPv6 on this host
    assert addrs[0] == SECOND
    assert f"{FOREIGN} is not an address of this host" in capsys.readouterr().err
    assert render.trunk_listen(s.with_(host="0.0.0.0"), [(SECOND, "")]) == ([], [])


def test_rendered_config_with_advertised_addresses_is_accepted_by_kamailio(tmp_path: Path) -> None:
    import subprocess

    exe = render.kamailio_binary()
    if not exe:
        pytest.skip("kamailio not installed")
    s = ProxySettings(home=tmp_path, database_url=f"sqlite:///{tmp_path}/none.sqlite3", name="proxy-trunks", port=47060,
                      users_proxy="127.0.0.1:5060")
    r = render.render(s, nodes=[(1, "udp:127.0.0.1:22222", 1, False)],
                      trunk_rows=[(SECOND, "203.0.113.5"), ("127.0.0.3", "")])
    cfg = r.cfg.read_text()
    assert "listen=udp:127.0.0.2:47060 advertise 203.0.113.5:47060\n" in cfg
    assert 'alias="203.0.113.5:47060"' in cfg  # Route headers with the advertised address are ours
    check = subprocess.run([exe, "-c", "-f", str(r.cfg), "-Y", str(tmp_path)], capture_output=True, text=True,
                           timeout=60, cwd=tmp_path)
    assert check.returncode == 0, check.stderr[-2000:]
    assert "udp: 127.0.0.2 [127.0.0.2]:47060 advertise 203.0.113.5:47060" in check.stdout


def test_repository_reads_local_sockets(sk: tuple[Data, int, int]) -> None:
    d, second, _ = sk
    cid, _ = d.carrier([5099])
    set_trunk(d, "Carrier", cid, second)
    pid = provider(d, second)
    plain = provider(d, None)
    repo = TrunksRepository(d.t.pf.url)
    try:
        assert repo.carrier(cid).proxy_trunk_ip == SECOND  # type: ignore[union-attr]
        providers = repo.ddi_providers()[0]
        # a provider created without a local socket gets the brand's first address: the main one
        assert (providers[pid].proxy_trunk_ip, providers[plain].proxy_trunk_ip) == (SECOND, "127.0.0.1")
    finally:
        repo.close()
        repo.engine.dispose()


# ------------------------------------------------------------------------------------ outbound
def test_carrier_with_local_socket_gets_the_call_from_that_address(sk: tuple[Data, int, int]) -> None:
    d, second, _ = sk
    t, port = d.t, d.t.proxy[1]
    asrv = as_ua(d)
    carrier_ua = t.ua("carrier")
    cid, (sid,) = d.carrier([carrier_ua], SPAIN_OUT)
    set_trunk(d, "Carrier", cid, second)
    d.route("+34", cid)
    d.rating("+34")
    dlg = call_out(asrv, t, "+34911234567", d.company, d.brand)
    inv = carrier_ua.request("INVITE")
    assert inv.source == (SECOND, port)
    assert top_via_host(inv.values("via")) == f"{SECOND}:{port}"
    assert f"{SECOND}:{port}" in inv.values("record-route")[0]  # the carrier's route set starts there
    uas = carrier_ua.answer(inv, body=sdp(41002))
    final = asrv.wait_final(dlg)  # sends the ACK along the route set
    assert final.status == 200 and final.source == ("127.0.0.1", port)  # the inside keeps the main address
    assert f"127.0.0.1:{port}" in final.values("record-route")[-1]
    ack = carrier_ua.request("ACK", call_id=inv.call_id)
    assert ack.source == (SECOND, port)
    # the carrier hangs up towards the address it knows: the application server gets it from the main one
    carrier_ua.in_dialog(uas, "BYE")
    bye = asrv.request("BYE", call_id=dlg.call_id)
    assert bye.source == ("127.0.0.1", port)
    asrv.respond(bye, 200, "OK")
    ok = carrier_ua.response(inv.call_id, "BYE", final=True)
    assert ok.status == 200 and ok.source == (SECOND, port)
    row = cdrs(t, dlg.call_id)[0]
    assert (row["carrierId"], row["carrierServerId"], row["disconnectCode"]) == (cid, sid, 200)


def test_platform_hangup_reaches_the_carrier_from_its_local_socket(sk: tuple[Data, int, int]) -> None:
    """``control.end_call`` (the path of the maximum duration too): the BYEs proxy-trunks builds
    itself follow each leg's socket."""
    from polyvox.platform import control

    d, second, _ = sk
    t, port = d.t, d.t.proxy[1]
    asrv = as_ua(d)
    carrier_ua = t.ua("carrier")
    cid, _ = d.carrier([carrier_ua])
    set_trunk(d, "Carrier", cid, second)
    d.route("+34", cid)
    d.rating("+34")
    dlg = call_out(asrv, t, "+34911234567", d.company, d.brand)
    inv = carrier_ua.request("INVITE")
    carrier_ua.answer(inv, body=sdp(41002))
    assert asrv.wait_final(dlg).status == 200
    carrier_ua.request("ACK", call_id=inv.call_id)
    assert control.end_call(f"fifo:{t.settings.rundir}/kamailio_rpc.fifo", dlg.call_id) is True
    to_as = asrv.request("BYE", call_id=dlg.call_id, timeout=10)
    to_carrier = carrier_ua.request("BYE", call_id=inv.call_id, timeout=10)
    asrv.respond(to_as, 200, "OK")
    carrier_ua.respond(to_carrier, 200, "OK")
    assert (to_as.source, to_carrier.source) == (("127.0.0.1", port), (SECOND, port))
    assert cdrs(t, dlg.call_id)[0]["carrierId"] == cid


def test_carrier_without_local_socket_gets_the_call_from_the_main_address(sk: tuple[Data, int, int]) -> None:
    d, second, foreign = sk
    t, port = d.t, d.t.proxy[1]
    asrv = as_ua(d)
    with_socket, plain, unlistened = t.ua("c-second"), t.ua("c-plain"), t.ua("c-foreign")
    c1, _ = d.carrier([with_socket])
    set_trunk(d, "Carrier", c1, second)
    c2, _ = d.carrier([plain])
    c3, _ = d.carrier([unlistened])
    set_trunk(d, "Carrier", c3, foreign)
    d.route("+33", c1, priority=1)
    d.route("+33", c2, priority=2)
    d.route("+44", c3)
    d.rating("+33", "+44")
    # fail-over from a carrier with a local socket to one without: each branch leaves from its own
    dlg = call_out(asrv, t, "+33123456789", d.company, d.brand)
    inv = with_socket.request("INVITE")
    assert inv.source == (SECOND, port)
    with_socket.respond(inv, 503, "Service Unavailable")
    inv2 = plain.request("INVITE")
    assert inv2.source == ("127.0.0.1", port)
    assert top_via_host(inv2.values("via")) == f"127.0.0.1:{port}"
    plain.respond(inv2, 486, "Busy Here")
    assert asrv.wait_final(dlg).status == 486
    # an address proxy-trunks does not listen on (added after its start, or not of this host):
    # the main address, and a warning in the log
    dlg = call_out(asrv, t, "+44201234567", d.company, d.brand)
    inv3 = unlistened.request("INVITE")
    assert inv3.source == ("127.0.0.1", port)
    unlistened.respond(inv3, 480, "Temporarily Unavailable")
    assert asrv.wait_final(dlg).status == 480
    assert f"local socket {FOREIGN} is not listened on" in t.kamailio.tail(200)


# ------------------------------------------------------------------------------------ inbound
def test_ddi_provider_with_local_socket_is_expected_on_that_address(sk: tuple[Data, int, int]) -> None:
    d, second, _ = sk
    t, port = d.t, d.t.proxy[1]
    asrv = as_ua(d)
    prov = provider(d, second)
    ddi = d.ddi("+34955000333", provider=prov)
    pua = provider_ua(d, SECOND)
    dlg = pua.invite(f"sip:955000333@{SECOND}:{port}", body=sdp(41000), auth=False, wait_final=False)
    inv = asrv.request("INVITE")
    assert inv.source == ("127.0.0.1", port)  # to the application servers: the main address
    assert (inv["x-info-ddiid"], inv["x-info-ddiproviderid"]) == (str(ddi), str(prov))
    uas = asrv.answer(inv, body=sdp(41002))
    final = pua.wait_final(dlg)
    assert final.status == 200 and final.source == (SECOND, port)
    asrv.request("ACK", call_id=inv.call_id)
    asrv.in_dialog(uas, "BYE")  # the application server hangs up: the provider gets it from its socket
    bye = pua.request("BYE", call_id=dlg.call_id)
    assert bye.source == (SECOND, port)
    pua.respond(bye, 200, "OK")
    assert asrv.response(inv.call_id, "BYE", final=True).status == 200
    row = cdrs(t, dlg.call_id)[0]
    assert (row["direction"], row["ddiId"], row["ddiProviderId"]) == ("inbound", ddi, prov)
    # the same provider on the main address: refused, nothing reaches the application server
    main = provider_ua(d, "127.0.0.1")
    dlg = main.invite(f"sip:955000333@127.0.0.1:{port}", body=sdp(41000), auth=False)
    assert (dlg.answer.status, dlg.answer.reason) == \
        (403, "Forbidden: DDI provider not expected on this address")  # type: ignore[union-attr]
    with pytest.raises(TimeoutError):
        asrv.request("INVITE", timeout=0.5)
    assert cdrs(t, dlg.call_id, timeout=0.3) == []


def test_ddi_provider_created_without_local_socket_is_expected_on_the_main_address(
        sk: tuple[Data, int, int]) -> None:
    """A DDI provider always has a local socket (IvozProvider: it cannot be empty); created without
    one it gets the brand's first proxy trunks address, the main one, and is expected there only."""
    d, _, _ = sk
    port = d.t.proxy[1]
    asrv = as_ua(d)
    prov = provider(d, None)
    d.ddi("+34955000444", provider=prov)
    pua = provider_ua(d, "127.0.0.1")
    dlg = pua.invite(f"sip:955000444@127.0.0.1:{port}", body=sdp(41000), auth=False, wait_final=False)
    inv = asrv.request("INVITE")
    assert inv.source == ("127.0.0.1", port) and inv["x-info-ddiproviderid"] == str(prov)
    asrv.respond(inv, 486, "Busy Here")
    final = pua.wait_final(dlg)
    assert final.status == 486 and final.source == ("127.0.0.1", port)
    other = provider_ua(d, SECOND)
    dlg = other.invite(f"sip:955000444@{SECOND}:{port}", body=sdp(41000), auth=False)
    assert (dlg.answer.status, dlg.answer.reason) == \
        (403, "Forbidden: DDI provider not expected on this address")  # type: ignore[union-attr]
    with pytest.raises(TimeoutError):
        asrv.request("INVITE", timeout=0.5)


# ------------------------------------------------------------------------------------ API (8.14.2)
@pytest.fixture()
def api(db: Engine) -> Iterator[tuple[Api, str, str]]:
    """The API over a fresh copy of the demo database: (client, platform token, brand token)."""
    from fastapi.testclient import TestClient

    from polyvox.api.app import create_app

    with TestClient(create_app(db, SECRET)) as client:
        a = Api(client)
        yield a, a.login("platform", "admin", "changeme"), a.login("brand", "demo", "changeme")


def test_api_proxy_trunks_addresses_brands_and_local_sockets(api: tuple[Api, str, str]) -> None:
    a, god, brand = api
    r = a.post("platform", "/proxy_trunks", god, {"name": "no address"})
    assert r.status_code == 400 and r.json()["violations"][0]["propertyPath"] == "ip"
    r = a.post("platform", "/proxy_trunks", god, {"name": "second", "ip": SECOND, "advertisedIp": "203.0.113.5"})
    assert r.status_code == 201, r.text
    trunk = r.json()["id"]
    brand_id = a.get("brand", "/my/profile", brand).json().get("brand") or 1
    trs = a.get("brand", "/transformation_rule_sets", brand).json()[0]["id"]
    carrier = {"name": "c-sock", "description": "", "transformationRuleSet": trs, "proxyTrunk": trunk}
    provider = {"name": "p-sock", "description": "", "transformationRuleSet": trs, "proxyTrunk": trunk}
    # not assigned to the brand: refused, with the field
    for path, body in (("/carriers", carrier), ("/ddi_providers", provider)):
        r = a.post("brand", path, brand, body)
        assert r.status_code == 400 and r.json()["violations"][0]["propertyPath"] == "proxyTrunk", r.text
    # the global operator assigns it to the brand (Brand.proxyTrunks)
    main = a.get("platform", f"/brands/{brand_id}", god).json()["proxyTrunks"]
    r = a.put("platform", f"/brands/{brand_id}", god, {"proxyTrunks": [*main, trunk]})
    assert r.status_code == 200 and trunk in r.json()["proxyTrunks"], r.text
    ids = []
    for path, body in (("/carriers", carrier), ("/ddi_providers", provider)):
        r = a.post("brand", path, brand, body)
        assert r.status_code == 201 and r.json()["proxyTrunk"] == trunk, r.text
        ids.append(r.json()["id"])
    # in use: neither unassigned from the brand nor deleted
    r = a.put("platform", f"/brands/{brand_id}", god, {"proxyTrunks": main})
    assert r.status_code == 400, r.text
    assert a.delete("platform", f"/proxy_trunks/{trunk}", god).status_code == 400
    for path, rid in zip(("/carriers", "/ddi_providers"), ids, strict=True):
        assert a.delete("brand", f"{path}/{rid}", brand).status_code == 204
    assert a.put("platform", f"/brands/{brand_id}", god, {"proxyTrunks": main}).status_code == 200
    assert a.delete("platform", f"/proxy_trunks/{trunk}", god).status_code == 204


def test_api_proxy_trunk_ip_is_a_unique_address(api: tuple[Api, str, str]) -> None:
    a, god, _ = api
    assert a.post("platform", "/proxy_trunks", god, {"ip": "10.9.9.9"}).status_code == 201
    assert a.post("platform", "/proxy_trunks", god, {"ip": "10.9.9.9"}).status_code == 400
    assert a.post("platform", "/proxy_trunks", god, {"ip": "not-an-address"}).status_code == 400


def test_api_main_proxy_trunks_entry_cannot_be_deleted(api: tuple[Api, str, str]) -> None:
    a, god, _ = api
    main = min(r["id"] for r in a.get("platform", "/proxy_trunks", god).json())
    assert a.delete("platform", f"/proxy_trunks/{main}", god).status_code == 400
