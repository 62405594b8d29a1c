"""The quick start of spec 5–7 as docs/quickstart.md tells an operator to do it: ``polyvox up`` on a
fresh ``POLYVOX_HOME`` (every port moved through the environment, as tests/sip/test_standalone.py
starts it), then EXACTLY the ``sh`` blocks of docs/quickstart.md, in order, in one ``bash``
session (curl and jq against the API), then the three calls of the quick start with real SIP
traffic through every role of the standalone platform:

1. Spec 5: Alice (alice / DEMOalice+101, extension 101) calls 102 and Bob answers; the client's
   call registry lists the call for both of them (spec 10.1.14).
2. Spec 6: the DDI provider calls the DDI the page created; it rings Alice.
3. Spec 7: Alice calls a Spanish number: it leaves through the page's carrier in the carrier's
   national format, presenting Alice's outgoing DDI, and the worker prices it with the page's
   rating plan (spec 7.5, 7.6). With the client's rating profile removed the same call is
   refused (spec 7.5 "No rating plan, no call").

The carrier and the DDI provider are test UAs on 127.0.0.1: the page's ``CARRIER_IP``,
``CARRIER_PORT`` and ``PROVIDER_IP`` point at them.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.sip.test_standalone import (
    HOST,
    Standalone,
    _cleanup,
    _env,
    _skip_if_missing,
    _start,
    _wait_location,
)
from tests.sip.test_standalone import _wait_ready as _wait_platform
from tests.sip.ua import UA, Dialog, Message, sdp, sdp_media

DOC = Path(__file__).resolve().parents[2] / "docs" / "quickstart.md"
ALICE_PW, BOB_PW = "DEMOalice+101", "DEMObob+1020"  # README and docs/quickstart.md
DDI, DDI_E164 = "955000444", "+34955000444"  # the page's default DDI


def documented_commands() -> str:
    """The page's ``sh`` blocks, in order (the ``./run up`` block is not one: the test starts the
    platform itself)."""
    blocks = re.findall(r"^```sh\n(.*?)^```\s*$", DOC.read_text(), re.S | re.M)
    assert blocks, f"no sh blocks in {DOC}"
    return "\n".join(blocks)


def run_documented_commands(sa: Standalone, carrier: UA, timeout: float = 300) -> str:
    """Runs the page's commands in one ``bash`` session against ``sa`` (the page's carrier and DDI
    provider are ``carrier``'s address) and returns what they printed."""
    shell_env = {**os.environ, "API": sa.api, "CARRIER_IP": HOST, "CARRIER_PORT": str(carrier.port),
                 "PROVIDER_IP": HOST}
    run = subprocess.run(["bash", "-euo", "pipefail", "-c", documented_commands()], env=shell_env,
                         capture_output=True, text=True, timeout=timeout)
    assert run.returncode == 0, f"the documented commands failed:\n{run.stdout[-4000:]}\n{run.stderr[-4000:]}"
    return run.stdout


@dataclass
class QuickStart:
    sa: Standalone
    alice: UA
    bob: UA
    carrier: UA
    output: str  # what the documented commands printed

    def client_get(self, path: str, **params: Any) -> Any:
        token = self.sa.login("client", "democompany", "changeme")
        r = self.sa.get("client", path, token, **params)
        assert r.status_code == 200, r.text
        return r.json()

    def registry(self, call_id: str, count: int, timeout: float = 30.0) -> list[dict[str, Any]]:
        """The client's call registry rows of a call (client API, as democompany/changeme)."""
        deadline = time.monotonic() + timeout
        while True:
            rows = [self.client_get(f"/users_cdrs/{x['id']}") for x in self.client_get("/users_cdrs")]
            rows = [x for x in rows if x.get("callid") == call_id]
            if len(rows) >= count or time.monotonic() > deadline:
                return rows
            time.sleep(0.5)


@pytest.fixture(scope="module")
def qs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[QuickStart]:
    _skip_if_missing()
    for tool in ("bash", "curl", "jq"):
        if not shutil.which(tool):
            pytest.skip(f"docs/quickstart.md needs {tool}")
    tmp = tmp_path_factory.mktemp("quickstart")
    home = tmp / "home"
    env, ports = _env(home)
    sa = _start(home, env, ports, tmp / "polyvox-up.log")
    uas: list[UA] = []
    try:
        _wait_platform(sa)
        carrier = UA("carrier", HOST, sa.trunks)
        uas.append(carrier)
        output = run_documented_commands(sa, carrier)
        alice, bob = UA("alice", HOST, sa.users, password=ALICE_PW), UA("bob", HOST, sa.users, password=BOB_PW)
        uas += [alice, bob]
        assert alice.register().status == 200
        assert bob.register().status == 200
        _wait_location(sa, ("alice", alice.port), ("bob", bob.port))
        yield QuickStart(sa=sa, alice=alice, bob=bob, carrier=carrier, output=output)
    finally:
        for ua in uas:
            ua.close()
        _cleanup(sa)


def ident(value: Any) -> Any:
    """A relation as the API shows it: an id in collections, the embedded row in items."""
    return value["id"] if isinstance(value, dict) else value


def _final(ua: UA, d: Dialog) -> Message:
    return ua.wait_final(d, timeout=30)


def _hang_up(caller: UA, d: Dialog, callee: UA, inv: Message) -> None:
    caller.in_dialog(d, "BYE")
    bye = callee.request("BYE", call_id=inv.call_id, timeout=15)
    callee.respond(bye, 200, "OK")
    assert caller.response(d.call_id, "BYE", final=True, timeout=15).status == 200


def test_the_page_configures_what_spec_5_to_7_asks_for(qs: QuickStart) -> None:
    """What the documented commands left in the platform, read back through the API."""
    sa = qs.sa
    brand = sa.login("brand", "demo", "changeme")

    def brand_get(path: str) -> Any:
        r = sa.get("brand", path, brand)
        assert r.status_code == 200, r.text
        return r.json()

    (ddi,) = [brand_get(f"/ddis/{d['id']}") for d in brand_get("/ddis") if d["ddi"] == DDI]
    assert ddi["ddie164"] == DDI_E164  # derived by the API from the client's country
    (provider,) = brand_get("/ddi_providers")
    assert ident(ddi["ddiProvider"]) == provider["id"]
    assert [a["ip"] for a in brand_get("/ddi_provider_addresses")] == [HOST]
    (carrier,) = brand_get("/carriers")
    (server,) = brand_get("/carrier_servers")
    server = brand_get(f"/carrier_servers/{server['id']}")
    assert (ident(server["carrier"]), server["ip"], server["port"]) == (carrier["id"], HOST, qs.carrier.port)
    (route,) = brand_get("/outgoing_routings")
    assert (route["routingMode"], ident(route["carrier"]), route["company"]) == ("static", carrier["id"], None)
    (profile,) = brand_get("/rating_profiles")
    profile = brand_get(f"/rating_profiles/{profile['id']}")
    assert ident(profile["company"]) == ident(ddi["company"])  # DemoCompany's
    alice = next(u for u in qs.client_get("/users") if u["name"] == "Alice")
    assert ident(qs.client_get(f"/users/{alice['id']}")["outgoingDdi"]) == ddi["id"]
    client_ddi = qs.client_get(f"/ddis/{ddi['id']}")
    assert (client_ddi["routeType"], ident(client_ddi["user"])) == ("user", alice["id"])


def test_spec_5_alice_calls_102_and_bob_answers(qs: QuickStart) -> None:
    alice, bob = qs.alice, qs.bob
    d = alice.invite("102", body=sdp(42000), wait_final=False, timeout=30)
    inv = bob.request("INVITE", timeout=30)
    assert "sip:101@" in inv["from"]  # Alice presented by her extension
    bob.answer(inv, body=sdp(42002))
    final = _final(alice, d)
    assert final.status == 200
    assert sdp_media(final.body)[1] not in (42000, 0)  # media anchored in rtpengine
    bob.request("ACK", call_id=inv.call_id, timeout=15)
    time.sleep(1.0)
    _hang_up(alice, d, bob, inv)
    rows = qs.registry(d.call_id, 2)
    assert sorted((r["direction"], r["caller"], r["callee"], r["disposition"]) for r in rows) == [
        ("inbound", "101", "102", "answered"), ("outbound", "101", "102", "answered")], rows


def test_spec_6_ddi_provider_call_reaches_alice(qs: QuickStart) -> None:
    provider = UA("666777888", "provider.example", qs.sa.trunks)  # calls from PROVIDER_IP
    try:
        d = provider.invite(f"sip:{DDI}@{qs.sa.trunks[0]}:{qs.sa.trunks[1]}", body=sdp(42010), auth=False,
                            wait_final=False, timeout=30)
        try:
            inv = qs.alice.request("INVITE", timeout=30)
        except TimeoutError:
            seen = [f"{m.status} {m.reason}" for m in provider.drain(1.0) if not m.is_request]
            raise AssertionError(f"Alice was not called; the provider got {seen}\n{qs.sa.output()[-6000:]}") \
                from None
        assert "666777888" in inv["from"]  # the caller
        assert not [h for h in inv.headers if h[0].lower().startswith("x-info-")]
        qs.alice.answer(inv, body=sdp(42012))
        assert _final(provider, d).status == 200
        qs.alice.request("ACK", call_id=inv.call_id, timeout=15)
        _hang_up(provider, d, qs.alice, inv)
        rows = qs.registry(d.call_id, 1)
        assert [(r["direction"], r["callee"]) for r in rows] == [("inbound", DDI_E164)], rows
    finally:
        provider.close()


def test_spec_7_alice_calls_a_spanish_number_through_the_carrier_priced_by_the_worker(qs: QuickStart) -> None:
    alice, carrier = qs.alice, qs.carrier
    d = alice.invite("911234567", body=sdp(42020), wait_final=False, timeout=30)
    try:
        inv = carrier.request("INVITE", timeout=30)
    except TimeoutError:
        seen = [f"{m.status} {m.reason}" for m in alice.drain(1.0) if not m.is_request]
        raise AssertionError(f"the carrier got no INVITE; Alice got {seen}\n{qs.sa.output()[-6000:]}") from None
    assert inv.uri == f"sip:911234567@{HOST}:{carrier.port}"  # the Spain transformation: national format
    assert f"{DDI}@" in inv["from"]  # Alice's outgoing DDI (spec 7.4), national format too
    assert not [h for h in inv.headers if h[0].lower().startswith("x-info-")]
    carrier.answer(inv, body=sdp(42022))
    assert _final(alice, d).status == 200
    carrier.request("ACK", call_id=inv.call_id, timeout=15)
    time.sleep(2.0)
    _hang_up(alice, d, carrier, inv)

    # the worker of polyvox up prices it: 0.05 per call + 1.20 per started minute (spec 7.6); the
    # brand operator sees the price (DemoCompany is not shown its billing details, spec 9.1)
    brand = qs.sa.login("brand", "demo", "changeme")
    deadline = time.monotonic() + 60
    calls: list[dict[str, Any]] = []
    while time.monotonic() < deadline:
        calls = [c for c in qs.sa.get("brand", "/billable_calls", brand).json() if c.get("callee") == "+34911234567"]
        if calls and calls[0].get("price") is not None:
            break
        time.sleep(1.0)
    assert len(calls) == 1, calls
    call = calls[0]
    assert call["price"] is not None and float(call["price"]) == pytest.approx(1.25), call
    assert (call["direction"], call["caller"], call["callid"]) == ("outbound", DDI_E164, inv.call_id), call
    assert inv.call_id in [c["callid"] for c in qs.client_get("/billable_calls")]  # the client's list too
    assert [r["direction"] for r in qs.registry(d.call_id, 1)] == ["outbound"]

    # spec 7.5: the brand operator removes the client's rating profile: no rating plan, no call
    for profile in qs.sa.get("brand", "/rating_profiles", brand).json():
        r = httpx.delete(f"{qs.sa.api}/api/brand/rating_profiles/{profile['id']}",
                         headers={"Authorization": f"Bearer {brand}"}, timeout=30)
        assert r.status_code == 204, r.text
    d = alice.invite("911234567", body=sdp(42030), wait_final=False, timeout=30)
    final = _final(alice, d)
    assert final.status == 403 and "rating plan" in final.reason.lower(), (final.status, final.reason)
    with pytest.raises(TimeoutError):
        carrier.request("INVITE", timeout=1.0)
