"""REGISTER through proxy-users: digest authentication against the terminal password, SIP domain
checks, usrloc, multiContact (spec 5.4, 8.10; IvozProvider KamUsers AUTH/REGISTER)."""

from __future__ import annotations

from sqlalchemy import update

from polyvox.db.model import ENTITY
from tests.sip.conftest import DOMAIN, Platform
from tests.sip.ua import uri_of


def contacts(reply) -> list[str]:  # type: ignore[no-untyped-def]
    return [uri_of(c) for c in reply.values("contact")]


def test_register_ok(pv: Platform) -> None:
    alice = pv.ua("alice", "alice")
    r = alice.register(expires=300)
    assert (r.status, r.reason) == (200, "OK")
    assert f"sip:alice@127.0.0.1:{alice.port}" in contacts(r)
    assert f"sip:alice@{DOMAIN}" in pv.kamcmd("ul.lookup", "location", f"alice@{DOMAIN}")


def test_register_challenge_first(pv: Platform) -> None:
    alice = pv.ua("alice", "alice")
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
    alice = pv.ua("alice", "alice", domain="unknown.example.com")
    r = alice.register()
    assert (r.status, r.reason) == (403, "Forbidden: unknown domain")


def test_register_unknown_user_refused(pv: Platform) -> None:
    r = pv.ua("mallory", "x").register()
    assert (r.status, r.reason) == (404, "Not Found: unknown endpoint")


def test_register_sipp(pv: Platform) -> None:
    res = pv.sipp("register.xml", csv=f"bob;{DOMAIN};[authentication username=bob password=bob]")
    assert res.rc == 0, res.output
    assert "SIP/2.0 200 OK" in res.messages


def test_multicontact_on_keeps_every_contact(pv: Platform) -> None:
    pv.add_terminal("carol", "carolpw", multi_contact=True)
    a, b = pv.ua("carol", "carolpw"), pv.ua("carol", "carolpw")
    assert a.register().status == 200
    r = b.register()
    assert r.status == 200
    assert {f"sip:carol@127.0.0.1:{a.port}", f"sip:carol@127.0.0.1:{b.port}"} <= set(contacts(r))


def test_multicontact_off_keeps_latest_contact(pv: Platform) -> None:
    pv.add_terminal("dave", "davepw", multi_contact=False)
    a, b = pv.ua("dave", "davepw"), pv.ua("dave", "davepw")
    assert a.register().status == 200
    r = b.register()
    assert r.status == 200
    assert contacts(r) == [f"sip:dave@127.0.0.1:{b.port}"]


def test_password_change_effective_for_next_register(pv: Platform) -> None:
    """No reload: a change committed with a config_version bump is seen by the next request."""
    tid, _uid = pv.add_terminal("erin", "old-pw")
    assert pv.ua("erin", "old-pw").register().status == 200
    t = ENTITY["Terminal"].table
    with pv.engine.begin() as c:
        c.execute(update(t).where(t.c.id == tid).values(password="new-pw"))
    pv.bump()
    assert pv.ua("erin", "old-pw").register().status == 403
    assert pv.ua("erin", "new-pw").register().status == 200
