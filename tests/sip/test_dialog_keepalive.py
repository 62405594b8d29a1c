"""A live call whose application server dies is ended by the proxies (issue 19 item 5, docs/sip.md
§11.3): both proxies probe the application server side of their dialogs with in-dialog OPTIONS
(Kamailio dialog keepalives, every 30 s: Kamailio's minimum) and, when it stops answering, end
the call with a BYE to the endpoint / DDI provider side; proxy-trunks writes its call record as
for a normal end. Bounded: about 45 s (keepalive interval + OPTIONS timeout + the dialog module's
10 s grace)."""

from __future__ import annotations

import time

from tests.sip.conftest import ALICE_PW, Platform, Trunks
from tests.sip.test_trunks import SPAIN_IN, Data, as_ua, cdrs, data  # noqa: F401  (fixture)
from tests.sip.ua import sdp

LIMIT = 75.0  # s: 30 s interval + 5 s OPTIONS timeout + 10 s grace, with margin for a busy machine


def test_calls_of_a_dead_application_server_are_ended_on_both_proxies(
        pv: Platform, trunks: Trunks, data: Data) -> None:  # noqa: F811
    asrv = as_ua(data)  # the application server of the platform's set, for both proxies
    # proxy-users: Alice calls the application server
    alice = pv.ua("alice", ALICE_PW)
    d_users = alice.invite("102", body=sdp(40000), wait_final=False)
    inv_users = asrv.request("INVITE")
    asrv.answer(inv_users, body=sdp(40002))
    assert alice.wait_final(d_users).status == 200
    # proxy-trunks: a DDI provider calls a DDI of the client, delivered to the application server
    prov = data.provider(SPAIN_IN)
    data.ddi("+34955000222", provider=prov)
    provider_ua = trunks.ua("600111333", domain="provider.example")
    d_trunks = provider_ua.invite(f"sip:955000222@{trunks.proxy[0]}:{trunks.proxy[1]}", body=sdp(41000),
                                  auth=False, wait_final=False)
    inv_trunks = asrv.request("INVITE", call_id=None)
    assert inv_trunks.call_id != inv_users.call_id
    asrv.answer(inv_trunks, body=sdp(41002))
    assert provider_ua.wait_final(d_trunks).status == 200

    # the application server dies: it answers nothing from now on; the proxies probe it with
    # in-dialog OPTIONS and end both calls
    ka = asrv.request("OPTIONS", timeout=LIMIT)
    assert ka.call_id in (inv_users.call_id, inv_trunks.call_id)
    bye_users = alice.request("BYE", call_id=d_users.call_id, timeout=LIMIT)
    alice.respond(bye_users, 200, "OK")
    bye_trunks = provider_ua.request("BYE", call_id=d_trunks.call_id, timeout=LIMIT)
    provider_ua.respond(bye_trunks, 200, "OK")

    (row,) = cdrs(trunks, d_trunks.call_id, timeout=8.0)
    assert row["direction"] == "inbound" and row["answerTime"] is not None
    assert row["duration"] > 0 and row["disconnectReason"] == "ended"
    time.sleep(6)  # the timer process's check of stored dialogs (every 5 s) writes no second record
    assert len(cdrs(trunks, d_trunks.call_id)) == 1
