"""REGISTER through proxy-users: digest authentication against the terminal password, SIP domain
checks, usrloc, multiContact (spec 5.4, 8.10; IvozProvider KamUsers AUTH/REGISTER)."""

from __future__ import annotations

from tests.sip.conftest import ALICE_PW, BOB_PW, DOMAIN, Platform
from tests.sip.ua import uri_of


def contacts(reply) -> list[str]:  # type: ignore[no-untyped-def]
    return [uri_of(c) for c in reply.values("contact")]


def test_register_ok(pv: Platform) -> None:
    alice = pv.ua("alice", ALICE_PW)
    r = alice.register(expires=300)
    assert (r.status, r.reason) == (200, "OK")
    assert f"sip:alice@127.0.0.1:{alice.port}" in contacts(r)
    assert f"sip:alice@{DOMAIN}" in pv.kamcmd("ul.lookup", "location", f"alice@{DOMAIN}")


def test_register_challenge_first(pv: Platform) -> None:
    alice = pv.ua("alice", ALICE_PW)
    alice.send(alice.build("REGISTER", f"sip:{DOMAIN}", call_id="c1@t", from_tag="x", to=f"sip:alice@{DOMAIN}",
                           cseq=1, from_uri=f"sip:alice@{DOMAIN}"))
    r = alice.response("c1@t", final=True)
    assert r.status == 401
    assert f'realm="{DOMAIN}"' in r["www-authenticate"]


def test_register_wrong_password_refused(pv: Platform) -> None:
    alice = pv.ua("alice", "not-alice")
    r = alice.register()
    assert (r.status, r.reason) == (403, "Forbidden: wrong credentials")


def test_register_unknown_domain_refused(pv: Platform) -> None:
    alice = pv.ua("alice", ALICE_PW, domain="unknown.example.com")
    r = alice.register()
    assert (r.status, r.reason) == (403, "Forbidden: unknown domain")


def test_register_unknown_user_refused(pv: Platform) -> None:
    r = pv.ua("mallory", "MALlory+123").register()
    assert (r.status, r.reason) == (404, "Not Found: unknown endpoint")


def test_register_sipp(pv: Platform) -> None:
    res = pv.sipp("register.xml", csv=f"bob;{DOMAIN};[authentication username=bob password={BOB_PW}]")
    assert res.rc == 0, res.output
    assert "SIP/2.0 200 OK" in res.messages


def test_multicontact_on_keeps_every_contact(pv: Platform) -> None:
    pv.add_terminal("carol", "CAROLpwd+123", multi_contact=True)
    a, b = pv.ua("carol", "CAROLpwd+123"), pv.ua("carol", "CAROLpwd+123")
    assert a.register().status == 200
    r = b.register()
    assert r.status == 200
    assert {f"sip:carol@127.0.0.1:{a.port}", f"sip:carol@127.0.0.1:{b.port}"} <= set(contacts(r))


def test_multicontact_off_keeps_latest_contact(pv: Platform) -> None:
    pv.add_terminal("dave", "DAVEpwd+123", multi_contact=False)
    a, b = pv.ua("dave", "DAVEpwd+123"), pv.ua("dave", "DAVEpwd+123")
    assert a.register().status == 200
    r = b.register()
    assert r.status == 200
    assert contacts(r) == [f"sip:dave@127.0.0.1:{b.port}"]


def test_password_change_effective_for_next_register(pv: Platform) -> None:
    """No reload: a password changed by the client administrator through the API is used by the
    next request."""
    tid, _uid = pv.add_terminal("erin", "OLDpwd+1234")
    assert pv.ua("erin", "OLDpwd+1234").register().status == 200
    pv.prov.update("Terminal", tid, owner={"company": pv.company_id()}, password="NEWpwd+5678")
    assert pv.ua("erin", "OLDpwd+1234").register().status == 403
    assert pv.ua("erin", "NEWpwd+5678").register().status == 200
