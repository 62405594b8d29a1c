"""The same call flows driven by sipp (the tool the capacity benchmarks use): an endpoint calls
102 through a sipp UAS standing in for the application server; the application server calls a
registered sipp UAS."""

from __future__ import annotations

import re
import time

from tests.sip.conftest import ALICE_PW, BOB_PW, DOMAIN, Platform, free_port


def received_invite(messages: str) -> str:
    m = re.search(r"^INVITE sip:.*?(?=\n\s*\n)", messages, re.M | re.S)
    assert m, messages[-2000:]
    return m.group(0)


def test_sipp_alice_calls_102_through_app_server(pv: Platform, app_servers) -> None:  # type: ignore[no-untyped-def]
    as_port = free_port(False)
    app_servers([f"127.0.0.1:{as_port}"])
    uas = pv.sipp_start("uas.xml", port=as_port, remote=False)
    time.sleep(0.3)
    try:
        uac = pv.sipp("uac_auth_call.xml",
                      csv=f"alice;{DOMAIN};[authentication username=alice password={ALICE_PW}];102")
        srv = uas.result(15)
    finally:
        uas.stop()
    assert uac.rc == 0, uac.output
    assert srv.rc == 0, srv.output
    invite = received_invite(srv.messages)
    assert invite.startswith(f"INVITE sip:102@{DOMAIN} SIP/2.0")
    assert f"X-Info-CompanyId: {pv.company_id()}" in invite
    assert re.search(r"X-Info-Endpoint: b\d+c\d+t\d+_alice", invite)
    assert "Record-Route:" in invite


def test_sipp_app_server_calls_registered_bob(pv: Platform, app_servers) -> None:  # type: ignore[no-untyped-def]
    as_port, bob_port = free_port(False), free_port(False)
    app_servers([f"127.0.0.1:{as_port}"])
    reg = pv.ua("bob", BOB_PW).register(contact=f"<sip:bob@127.0.0.1:{bob_port}>")
    assert reg.status == 200
    bob = pv.sipp_start("uas.xml", port=bob_port, remote=False)
    time.sleep(0.3)
    try:
        caller = pv.sipp("uac_plain_call.xml", "-s", "bob", csv=DOMAIN, port=as_port)
        callee = bob.result(15)
    finally:
        bob.stop()
    assert caller.rc == 0, caller.output
    assert callee.rc == 0, callee.output
    invite = received_invite(callee.messages)
    assert invite.startswith(f"INVITE sip:bob@127.0.0.1:{bob_port} SIP/2.0")
    assert "X-Info-" not in invite  # context headers never leave the platform
