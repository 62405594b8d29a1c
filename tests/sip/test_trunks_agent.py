"""The trunks agent (``python -m polyvox.sip.agent``) with real SIP traffic on loopback: OPTIONS
pinging of carrier servers (spec 9.2.1 "Status") and DDI provider registrations (spec 9.2.2
"DDI Provider Registrations"), seen through the brand API's ``/{id}/status`` operations.

The agent runs as a child process (started and stopped by PID) on the test's database; carriers
and registrars are test UAs (tests/sip/ua.py). No Kamailio needed."""

from __future__ import annotations

import contextlib
import hashlib
import re
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select

from polyvox.api.app import create_app
from polyvox.db.agent_state import (
    carrier_server_status,
    ddi_provider_registration_status,
    inactive_carrier_servers,
)
from polyvox.sip.agent.agent import is_alive
from tests.api.conftest import SECRET, Api
from tests.sip.conftest import Proc, free_port
from tests.sip.ua import UA, Message, rand

WAIT = 40.0  # generous: the machine is loaded


@pytest.fixture()
def brand(db: Engine) -> Iterator[tuple[Api, str]]:
    with TestClient(create_app(db, SECRET)) as client:
        api = Api(client)
        yield api, api.login("brand", "demo", "changeme")


@pytest.fixture()
def agent(db: Engine, tmp_path: Path) -> Iterator[Callable[..., tuple[Proc, int]]]:
    procs: list[Proc] = []

    def start(**kw: Any) -> tuple[Proc, int]:
        trunks_port = free_port()
        argv = [sys.executable, "-m", "polyvox.sip.agent", "--database-url",
                db.url.render_as_string(hide_password=False), "--host", "127.0.0.1", "--trunks-port",
                str(trunks_port), "--interval", str(kw.get("interval", 1)), "--ping-timeout", "2", "--poll", "0.2",
                "--register-timeout", "3", "--retry-min", "1", "--retry-max", "2", "-v"]
        p = Proc(argv, tmp_path / f"agent{len(procs)}.log", "trunks-agent")
        procs.append(p)
        return p, trunks_port

    yield start
    for p in procs:
        p.stop()


def wait_for(check: Callable[[], Any], what: str, proc: Proc, timeout: float = WAIT) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = check()
        if got:
            return got
        assert proc.alive(), proc.tail()
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}\n{proc.tail()}")


def _rule_set(api: Api, tok: str) -> int:
    return int(api.get("brand", "/transformation_rule_sets", tok).json()[0]["id"])


def _carrier_server(api: Api, tok: str, port: int) -> int:
    r = api.post("brand", "/carriers", tok, {"name": f"carrier-{rand(3)}", "description": "",
                                               "transformationRuleSet": _rule_set(api, tok)})
    assert r.status_code == 201, r.text
    r = api.post("brand", "/carrier_servers", tok, {"carrier": r.json()["id"], "ip": "127.0.0.1", "port": port,
                                                    "transport": 1, "uriScheme": 1, "authNeeded": "no"})
    assert r.status_code == 201, r.text
    return int(r.json()["id"])


def _status(api: Api, tok: str, path: str) -> dict[str, Any]:
    r = api.get("brand", path, tok)
    assert r.status_code == 200, r.text
    return dict(r.json())


def test_reply_codes_that_prove_a_carrier_server_alive() -> None:
    assert is_alive(200) and is_alive(404) and is_alive(403) and is_alive(405) and is_alive(501)
    assert is_alive(401) and is_alive(486) and is_alive(603)
    assert not is_alive(None) and not is_alive(408) and not is_alive(500) and not is_alive(503)
    assert not is_alive(504)


def test_carrier_server_inactive_without_options_reply_and_active_again(
        brand: tuple[Api, str], agent: Callable[..., tuple[Proc, int]], db: Engine) -> None:
    api, tok = brand
    carrier = UA("carrier", "127.0.0.1", ("127.0.0.1", 9))
    try:
        sid = _carrier_server(api, tok, carrier.port)
        path = f"/carrier_servers/{sid}/status"
        before = _status(api, tok, path)
        assert before["id"] == sid and before["ip"] == "127.0.0.1" and before["status"] == {"registered": True}
        proc, _ = agent()

        # answers OPTIONS -> active
        req = carrier.request("OPTIONS", timeout=WAIT)
        assert req.uri == f"sip:127.0.0.1:{carrier.port}"
        assert req["to"].startswith(f"<sip:127.0.0.1:{carrier.port}>")
        carrier.respond(req, 200, "OK")
        carrier.request("OPTIONS", timeout=WAIT)  # the next round: the first result is on disk
        assert _status(api, tok, path)["status"] == {"registered": True}
        with db.connect() as c:
            assert sid not in inactive_carrier_servers(c)

        # stops answering -> inactive, visible to the API and to proxy-trunks
        wait_for(lambda: _status(api, tok, path)["status"] == {"registered": False}, "inactive", proc)
        with db.connect() as c:
            assert sid in inactive_carrier_servers(c)

        # 503 is not a sign of life either
        def answer(code: int, reason: str) -> Callable[[], bool]:
            def step() -> bool:
                with contextlib.suppress(TimeoutError):
                    carrier.respond(carrier.request("OPTIONS", timeout=0.5), code, reason)
                return True
            return step

        def last_code() -> int | None:
            with db.connect() as c:
                return c.execute(select(carrier_server_status.c.lastCode)
                                 .where(carrier_server_status.c.carrierServerId == sid)).scalar()

        wait_for(lambda: answer(503, "Service Unavailable")() and last_code() == 503, "503 recorded", proc)
        assert _status(api, tok, path)["status"] == {"registered": False}

        # answers again (404 is a valid reply: the server is up) -> active
        wait_for(lambda: answer(404, "Not Found")() and _status(api, tok, path)["status"] == {"registered": True},
                 "active again", proc)
        with db.connect() as c:
            assert sid not in inactive_carrier_servers(c)
    finally:
        carrier.close()


def test_new_carrier_server_is_pinged_at_once_after_a_change(
        brand: tuple[Api, str], agent: Callable[..., tuple[Proc, int]]) -> None:
    """A long interval: the only reason for an immediate OPTIONS is the configuration change."""
    api, tok = brand
    first = UA("carrier1", "127.0.0.1", ("127.0.0.1", 9))
    second = UA("carrier2", "127.0.0.1", ("127.0.0.1", 9))
    try:
        _carrier_server(api, tok, first.port)
        proc, _ = agent(interval=3600)
        first.respond(first.request("OPTIONS", timeout=WAIT), 200, "OK")
        sid = _carrier_server(api, tok, second.port)  # bumps config_version
        req = second.request("OPTIONS", timeout=WAIT)
        second.respond(req, 200, "OK")
        wait_for(lambda: _status(api, tok, f"/carrier_servers/{sid}/status")["status"]["registered"], "pinged",
                 proc)
        assert api.get("brand", "/carrier_servers/999999/status", tok).status_code == 404
    finally:
        first.close()
        second.close()


def _check_digest(auth: str, password: str, method: str = "REGISTER") -> dict[str, str]:
    p = {k.lower(): v.strip('"') for k, v in re.findall(r'(\w+)=("[^"]*"|[^,\s]+)', auth)}
    ha1 = hashlib.md5(f"{p['username']}:{p['realm']}:{password}".encode()).hexdigest()
    ha2 = hashlib.md5(f"{method}:{p['uri']}".encode()).hexdigest()
    if p.get("qop") == "auth":
        want = hashlib.md5(f"{ha1}:{p['nonce']}:{p['nc']}:{p['cnonce']}:auth:{ha2}".encode()).hexdigest()
    else:
        want = hashlib.md5(f"{ha1}:{p['nonce']}:{ha2}".encode()).hexdigest()
    assert p["response"] == want, "digest response does not match the password"
    return p


class Registrar:
    """A registrar UA: 401 with a fresh nonce to any REGISTER without valid credentials, 200 with
    the granted expiry otherwise. Records every REGISTER."""

    def __init__(self, password: str, realm: str = "carrier.example", grant: int = 4) -> None:
        self.ua = UA("registrar", "127.0.0.1", ("127.0.0.1", 9))
        self.password, self.realm, self.grant = password, realm, grant
        self.nonces: set[str] = set()
        self.registers: list[Message] = []

    def handle(self, timeout: float = WAIT) -> Message:
        req = self.ua.request("REGISTER", timeout=timeout)
        self.registers.append(req)
        auth = req.get("authorization")
        if auth is None:
            nonce = rand(8)
            self.nonces.add(nonce)
            self.ua.respond(req, 401, "Unauthorized",
                            extra=[f'WWW-Authenticate: Digest realm="{self.realm}", nonce="{nonce}", qop="auth", '
                                   'algorithm=MD5'])
            return req
        p = _check_digest(auth, self.password)
        assert p["nonce"] in self.nonces and p["realm"] == self.realm
        expires = int(req["expires"])
        granted = min(expires, self.grant)
        self.ua.respond(req, 200, "OK", extra=[f"Contact: {req['contact']};expires={granted}"]
                        if granted else [])
        return req

    def close(self) -> None:
        self.ua.close()


def test_ddi_provider_registration_digest_refresh_and_unregister(
        brand: tuple[Api, str], agent: Callable[..., tuple[Proc, int]], db: Engine) -> None:
    api, tok = brand
    reg = Registrar(password="s3cret")
    try:
        r = api.post("brand", "/ddi_providers", tok, {"name": "provider", "description": "",
                                                     "transformationRuleSet": _rule_set(api, tok)})
        assert r.status_code == 201, r.text
        body = {"ddiProvider": r.json()["id"], "username": "34911000111", "domain": "carrier.example",
                "realm": "", "authUsername": "auth111", "authPassword": "s3cret",
                "authProxy": f"sip:127.0.0.1:{reg.ua.port}", "expires": 60, "contactUsername": ""}
        r = api.post("brand", "/ddi_provider_registrations", tok, body)
        assert r.status_code == 201, r.text
        rid = r.json()["id"]
        path = f"/ddi_provider_registrations/{rid}/status"
        assert _status(api, tok, path) == {"id": rid, "username": "34911000111", "domain": "carrier.example",
                                           "status": {"registered": False, "inProgress": False, "expires": 0}}
        proc, trunks_port = agent()

        first = reg.handle()  # challenged
        assert first.uri == "sip:carrier.example"
        assert first["to"].startswith("<sip:34911000111@carrier.example>")
        assert first["expires"] == "60"
        contact = first["contact"]
        m = re.fullmatch(r"<sip:([^@]+)@127\.0\.0\.1:(\d+)>", contact)
        assert m and int(m.group(2)) == trunks_port, contact
        random_user = m.group(1)
        assert random_user and random_user != "34911000111"  # empty contactUsername: random user
        second = reg.handle()  # authenticated -> 200, 4 s granted
        assert second.call_id == first.call_id and second.cseq == first.cseq + 1
        assert 'username="auth111"' in second["authorization"]
        assert 'uri="sip:carrier.example"' in second["authorization"]
        st = wait_for(lambda: (s := _status(api, tok, path)["status"])["registered"] and s, "registered", proc)
        assert st["inProgress"] is False and 0 < st["expires"] <= 4

        # refreshed before expiry, same Call-ID and Contact
        refresh = reg.handle()
        assert refresh.call_id == first.call_id and refresh["contact"] == contact
        reg.handle()
        with db.connect() as c:
            row = c.execute(select(ddi_provider_registration_status)
                            .where(ddi_provider_registration_status.c.ddiProviderRegistrationId == rid)).one()
        assert row.contactUser == random_user and row.lastError is None

        # deleting the row unregisters (expires 0, same binding)
        assert api.delete("brand", f"/ddi_provider_registrations/{rid}", tok).status_code == 204
        while True:
            req = reg.handle()
            if req["expires"] == "0" and req.get("authorization"):
                break
            assert req["expires"] in ("0", "60")
        assert req["contact"] == contact and req.call_id == first.call_id
        assert api.get("brand", path, tok).status_code == 404
    finally:
        reg.close()


def test_ddi_provider_registration_wrong_password_reports_error_and_retries(
        brand: tuple[Api, str], agent: Callable[..., tuple[Proc, int]], db: Engine) -> None:
    api, tok = brand
    reg = Registrar(password="right")
    try:
        r = api.post("brand", "/ddi_providers", tok, {"name": "provider2", "description": "",
                                                     "transformationRuleSet": _rule_set(api, tok)})
        body = {"ddiProvider": r.json()["id"], "username": "user2", "domain": f"127.0.0.1:{reg.ua.port}",
                "realm": "", "authUsername": "", "authPassword": "wrong", "authProxy": "", "expires": 120,
                "contactUsername": "inbound-2"}
        r = api.post("brand", "/ddi_provider_registrations", tok, body)
        assert r.status_code == 201, r.text
        rid = r.json()["id"]
        proc, trunks_port = agent()

        first = reg.handle()
        assert first["contact"] == f"<sip:inbound-2@127.0.0.1:{trunks_port}>"
        # the registrar rejects the credentials: answer 403 like a real one
        bad = reg.ua.request("REGISTER", timeout=WAIT)
        assert 'username="user2"' in bad["authorization"]
        with pytest.raises(AssertionError):
            _check_digest(bad["authorization"], "right")
        reg.ua.respond(bad, 403, "Forbidden")
        wait_for(lambda: _status(api, tok, f"/ddi_provider_registrations/{rid}/status")["status"]
                 == {"registered": False, "inProgress": False, "expires": 0}, "failure stored", proc)
        with db.connect() as c:
            row = c.execute(select(ddi_provider_registration_status)
                            .where(ddi_provider_registration_status.c.ddiProviderRegistrationId == rid)).one()
        assert row.lastCode == 403 and row.lastError == "403 Forbidden" and not row.registered
        # retried after the backoff: a new REGISTER arrives
        again = reg.ua.request("REGISTER", timeout=WAIT)
        assert again.call_id == first.call_id
    finally:
        reg.close()


def test_changed_registration_unregisters_the_old_binding_first(
        brand: tuple[Api, str], agent: Callable[..., tuple[Proc, int]]) -> None:
    api, tok = brand
    reg = Registrar(password="pw", grant=3600)
    try:
        r = api.post("brand", "/ddi_providers", tok, {"name": "provider3", "description": "",
                                                     "transformationRuleSet": _rule_set(api, tok)})
        body = {"ddiProvider": r.json()["id"], "username": "user3", "domain": f"127.0.0.1:{reg.ua.port}",
                "realm": "carrier.example", "authUsername": "", "authPassword": "pw", "authProxy": "",
                "expires": 0, "contactUsername": "old-contact"}
        r = api.post("brand", "/ddi_provider_registrations", tok, body)
        rid = r.json()["id"]
        proc, trunks_port = agent()
        first = reg.handle()
        assert first["expires"] == "3600"  # expires 0 in the row: the default
        assert reg.handle().get("authorization")
        wait_for(lambda: _status(api, tok, f"/ddi_provider_registrations/{rid}/status")["status"]["registered"],
                 "registered", proc)

        r = api.put("brand", f"/ddi_provider_registrations/{rid}", tok, {"contactUsername": "new-contact"})
        assert r.status_code == 200, r.text
        seen: list[tuple[str, str]] = []
        while not any(c.startswith("<sip:new-contact@") and a for c, a in seen):
            req = reg.handle()
            seen.append((req["contact"], "1" if req.get("authorization") else ""))
            if req["contact"].startswith("<sip:old-contact@"):
                assert req["expires"] == "0"
        old = [i for i, (c, _) in enumerate(seen) if c.startswith("<sip:old-contact@")]
        new = [i for i, (c, _) in enumerate(seen) if c.startswith("<sip:new-contact@")]
        assert old and new and max(old) < min(new)  # unregistered before the new binding
        assert seen[-1][0] == f"<sip:new-contact@127.0.0.1:{trunks_port}>"
    finally:
        reg.close()


def test_local_sockets_of_carriers_and_ddi_providers(
        brand: tuple[Api, str], agent: Callable[..., tuple[Proc, int]], db: Engine) -> None:
    """Proxy trunks addresses (spec 8.14.2, docs/sip-agent.md §7): a DDI provider with a proxy
    trunks address registers from it (source address and Via) with the Contact
    ``<that address>:<proxy-trunks port>`` (its ``advertisedIp`` when the row has one); a carrier
    with one is pinged from it; a carrier without one from the main address, as is a carrier
    whose address this host cannot bind (fallback, warning). Each address gets its own socket
    on a free port (Linux routes all of 127/8 on ``lo``)."""
    api, tok = brand
    # the global operator adds the addresses and assigns them to the brand
    god = api.login("platform", "admin", "changeme")
    brand_id = int(api.get("platform", "/brands", god).json()[0]["id"])
    trunks = {}
    for name, ip, advertised in (("second", "127.0.0.2", None), ("natted", "127.0.0.3", "203.0.113.5"),
                                 ("foreign", "192.0.2.77", None)):
        r = api.post("platform", "/proxy_trunks", god, {"name": name, "ip": ip, "advertisedIp": advertised})
        assert r.status_code == 201, r.text
        trunks[name] = int(r.json()["id"])
    assigned = api.get("platform", f"/brands/{brand_id}", god).json()["proxyTrunks"]
    r = api.put("platform", f"/brands/{brand_id}", god, {"proxyTrunks": [*assigned, *trunks.values()]})
    assert r.status_code == 200, r.text
    registrars = {name: Registrar(password="pw") for name in ("second", "natted", "main")}
    carriers = {name: UA(f"carrier-{name}", "127.0.0.1", ("127.0.0.1", 9)) for name in ("second", "main", "foreign")}
    try:
        for name, reg in registrars.items():
            provider = {"name": f"provider-{name}", "description": "", "transformationRuleSet": _rule_set(api, tok)}
            if name != "main":
                provider["proxyTrunk"] = trunks[name]
            r = api.post("brand", "/ddi_providers", tok, provider)
            assert r.status_code == 201, r.text
            r = api.post("brand", "/ddi_provider_registrations", tok, {
                "ddiProvider": r.json()["id"], "username": f"user-{name}", "domain": f"127.0.0.1:{reg.ua.port}",
                "realm": "", "authUsername": "", "authPassword": "pw", "authProxy": "", "expires": 120,
                "contactUsername": f"in-{name}"})
            assert r.status_code == 201, r.text
        for name, ua in carriers.items():
            carrier = {"name": f"carrier-{name}", "description": "", "transformationRuleSet": _rule_set(api, tok)}
            if name != "main":
                carrier["proxyTrunk"] = trunks[name]
            r = api.post("brand", "/carriers", tok, carrier)
            assert r.status_code == 201, r.text
            r = api.post("brand", "/carrier_servers", tok, {"carrier": r.json()["id"], "ip": "127.0.0.1",
                                                            "port": ua.port, "transport": 1, "uriScheme": 1,
                                                            "authNeeded": "no"})
            assert r.status_code == 201, r.text
        proc, trunks_port = agent()

        expected = {"second": ("127.0.0.2", "127.0.0.2"), "natted": ("127.0.0.3", "203.0.113.5"),
                    "main": ("127.0.0.1", "127.0.0.1")}
        for name, reg in registrars.items():
            src, contact_host = expected[name]
            first = reg.handle()  # challenged
            assert first.source[0] == src, (name, first.source)
            assert first["via"].startswith(f"SIP/2.0/UDP {src}:{first.source[1]};"), first["via"]
            assert first["contact"] == f"<sip:in-{name}@{contact_host}:{trunks_port}>"
            second = reg.handle()  # authenticated, from the same socket
            assert second.source == first.source and second.call_id == first.call_id
        for name, ua in carriers.items():
            req = ua.request("OPTIONS", timeout=WAIT)
            want = "127.0.0.2" if name == "second" else "127.0.0.1"  # foreign: cannot bind -> main
            assert req.source[0] == want, (name, req.source)
            assert req["via"].startswith(f"SIP/2.0/UDP {want}:{req.source[1]};")
            ua.respond(req, 200, "OK")
        wait_for(lambda: "cannot bind 192.0.2.77" in proc.tail(200), "warning about the unbindable address", proc)
    finally:
        for reg in registrars.values():
            reg.close()
        for ua in carriers.values():
            ua.close()
