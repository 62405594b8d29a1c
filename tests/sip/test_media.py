"""Media through rtpengine: proxy-users engages the client's media relay set on INVITE/answer and
releases it on BYE; media relay changes reach the running proxy without restart."""

from __future__ import annotations

import time

from tests.sip.conftest import ALICE_PW, Platform, free_port
from tests.sip.ua import RtpPort, sdp, sdp_media


def test_rtp_flows_through_rtpengine(pv: Platform, app_servers) -> None:  # type: ignore[no-untyped-def]
    asrv = pv.ua("as")
    app_servers([f"127.0.0.1:{asrv.port}"])
    alice = pv.ua("alice", ALICE_PW)
    a_rtp, b_rtp = RtpPort(), RtpPort()
    try:
        d = alice.invite("102", body=sdp(a_rtp.port), wait_final=False)
        inv = asrv.request("INVITE")
        _, port_to_as = sdp_media(inv.body)
        assert port_to_as != a_rtp.port, "offer rewritten by rtpengine"
        asrv.answer(inv, body=sdp(b_rtp.port))
        final = alice.wait_final(d)
        assert final.status == 200
        _, port_to_alice = sdp_media(final.body)
        assert port_to_alice not in (b_rtp.port, port_to_as), "answer rewritten by rtpengine"
        with pv.ng() as ng:
            assert d.call_id in ng.list_calls()

        a_rtp.send(("127.0.0.1", port_to_alice), count=10)
        got = b_rtp.receive()
        assert len(got) >= 8
        assert {src for _, src in got} == {("127.0.0.1", port_to_as)}
        assert all(pkt[1] & 0x7F == 8 and len(pkt) == 172 for pkt, _ in got)  # PCMA, 20 ms

        b_rtp.send(("127.0.0.1", port_to_as), count=10)
        back = a_rtp.receive()
        assert len(back) >= 8
        assert {src for _, src in back} == {("127.0.0.1", port_to_alice)}

        alice.in_dialog(d, "BYE")
        bye = asrv.request("BYE", call_id=inv.call_id)
        asrv.respond(bye, 200, "OK")
        assert alice.response(d.call_id, "BYE", final=True).status == 200
        deadline = time.monotonic() + 3
        with pv.ng() as ng:
            while d.call_id in ng.list_calls() and time.monotonic() < deadline:
                time.sleep(0.1)
            assert d.call_id not in ng.list_calls(), "BYE released the media session"
    finally:
        a_rtp.close()
        b_rtp.close()


def test_failed_call_releases_media(pv: Platform, app_servers) -> None:  # type: ignore[no-untyped-def]
    asrv = pv.ua("as")
    app_servers([f"127.0.0.1:{asrv.port}"])
    alice = pv.ua("alice", ALICE_PW)
    d = alice.invite("102", body=sdp(41000), wait_final=False)
    inv = asrv.request("INVITE")
    with pv.ng() as ng:
        assert d.call_id in ng.list_calls()
    asrv.respond(inv, 486, "Busy Here")
    assert alice.wait_final(d).status == 486
    time.sleep(0.2)
    with pv.ng() as ng:
        assert d.call_id not in ng.list_calls()


def test_media_relay_changes_reach_running_proxy(pv: Platform) -> None:
    """A media relay added by the global operator through the API reaches the running proxy: the
    timer process rewrites the rtpengine table and reloads the module's sets, no restart. (The
    rtpengine module accepts one reload every 10 s, so this test can take that long.)"""
    god = pv.prov.platform
    url = f"udp:127.0.0.1:{free_port(False)}"
    demo_relay = god.list("rtpengines")[0]["id"]
    relay_set = god.get(f"rtpengines/{demo_relay}")["mediaRelaySet"]["id"]
    rid = god.post("rtpengines", {"mediaRelaySet": relay_set, "url": url, "weight": 1, "disabled": True,
                                  "description": "test relay"})["id"]
    try:
        assert wait_for(lambda: url in pv.kamcmd("rtpengine.show", "all"), 15), pv.kamcmd("rtpengine.show", "all")
        assert pv.ng_url in pv.kamcmd("rtpengine.show", "all")
    finally:
        god.delete(f"rtpengines/{rid}")  # removed from the proxy by the next reload (not awaited)


def wait_for(cond, timeout: float = 6.0) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return True
        time.sleep(0.2)
    return False
