"""Login throttling (issue 19, item 9): failed logins per account name and per address, kept in
the database, 429 with Retry-After; unknown names cost a bcrypt check like known ones."""

from __future__ import annotations

import datetime as dt
from typing import Any

import bcrypt
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from polyvox.api.app import create_app
from polyvox.api.auth import LoginThrottle, TokenService
from tests.api.conftest import SECRET, Api


class Clock:
    def __init__(self) -> None:
        self.now = dt.datetime(2026, 12, 7, 12, 0, 0)

    def __call__(self) -> dt.datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += dt.timedelta(seconds=seconds)


def _tokens(client: TestClient) -> TokenService:
    service: TokenService = client.app.state.levels["platform"].tokens  # type: ignore[attr-defined]
    return service


@pytest.fixture()
def clock(api: Api) -> Clock:
    """The provider defaults (5 failures per name, 20 per address, 15 min) on an injected clock."""
    c = Clock()
    _tokens(api.client).throttle = LoginThrottle(clock=c)
    return c


def _admin_login(client: TestClient, username: str, password: str, level: str = "platform") -> Any:
    return client.post(f"/api/{level}/admin_login", data={"username": username, "password": password})


def _user_login(client: TestClient, email: str, password: str) -> Any:
    return client.post("/api/user/user_login", data={"email": email, "password": password})


def _too_many(r: Any) -> int:
    assert r.status_code == 429, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    body = r.json()
    assert body["status"] == 429 and body["title"] == "Too Many Requests" and "Too many failed logins" in body["detail"]
    retry = int(r.headers["Retry-After"])
    assert retry > 0
    return retry


def test_five_failures_lock_the_account_until_the_lockout_ends(api: Api, clock: Clock) -> None:
    for _ in range(5):
        assert _admin_login(api.client, "admin", "wrong").status_code == 401
    # the right password does not help while locked: the password is not even checked
    retry = _too_many(_admin_login(api.client, "admin", "changeme"))
    assert retry == 900
    clock.advance(600)
    assert _too_many(_admin_login(api.client, "admin", "changeme")) == 300
    clock.advance(301)
    assert _admin_login(api.client, "admin", "changeme").status_code == 200


def test_the_lock_covers_every_level_and_leaves_other_accounts_alone(api: Api, clock: Clock) -> None:
    for _ in range(5):
        assert _admin_login(api.client, "demo", "wrong", level="brand").status_code == 401
    _too_many(_admin_login(api.client, "demo", "changeme", level="brand"))
    assert _admin_login(api.client, "democompany", "changeme", level="client").status_code == 200
    assert _admin_login(api.client, "admin", "changeme").status_code == 200


def test_unknown_names_are_locked_like_known_ones(api: Api, clock: Clock) -> None:
    """A 429 for known names only would tell which names exist."""
    for _ in range(5):
        assert _admin_login(api.client, "nosuchadmin", "wrong").status_code == 401
    _too_many(_admin_login(api.client, "nosuchadmin", "wrong"))
    for _ in range(5):
        assert _user_login(api.client, "nobody@example.com", "wrong").status_code == 401
    _too_many(_user_login(api.client, "nobody@example.com", "wrong"))


def test_a_successful_login_resets_the_account_counter(api: Api, clock: Clock) -> None:
    for _ in range(4):
        assert _user_login(api.client, "alice@democompany.com", "wrong").status_code == 401
    assert _user_login(api.client, "alice@democompany.com", "alice").status_code == 200
    for _ in range(4):
        assert _user_login(api.client, "alice@democompany.com", "wrong").status_code == 401
    assert _user_login(api.client, "alice@democompany.com", "alice").status_code == 200
    for _ in range(5):
        assert _user_login(api.client, "alice@democompany.com", "wrong").status_code == 401
    _too_many(_user_login(api.client, "alice@democompany.com", "alice"))


def test_failures_older_than_the_window_are_forgotten(api: Api, clock: Clock) -> None:
    for _ in range(4):
        assert _admin_login(api.client, "admin", "wrong").status_code == 401
    clock.advance(901)
    for _ in range(4):
        assert _admin_login(api.client, "admin", "wrong").status_code == 401
    assert _admin_login(api.client, "admin", "changeme").status_code == 200


def test_one_address_guessing_many_names_is_locked_and_others_are_not(api: Api) -> None:
    c = Clock()
    _tokens(api.client).throttle = LoginThrottle(max_failures=5, address_max_failures=3, clock=c)
    attacker = TestClient(api.client.app, client=("198.51.100.7", 40000))
    neighbour = TestClient(api.client.app, client=("198.51.100.8", 40000))
    for name in ("a1", "a2", "a3"):
        assert _admin_login(attacker, name, "wrong").status_code == 401
    assert "this address" in attacker.post("/api/platform/admin_login",
                                           data={"username": "admin", "password": "changeme"}).json()["detail"]
    _too_many(_user_login(attacker, "alice@democompany.com", "alice"))
    assert _admin_login(neighbour, "admin", "changeme").status_code == 200
    c.advance(901)
    assert _admin_login(attacker, "admin", "changeme").status_code == 200


def test_ipv6_addresses_count_per_64(api: Api) -> None:
    t = LoginThrottle()
    a = t.subjects("platform", "admin", "2001:db8:1:2::10")[1]
    b = t.subjects("platform", "admin", "2001:db8:1:2:ffff::1")[1]
    other = t.subjects("platform", "admin", "2001:db8:1:3::10")[1]
    assert a == b != other
    assert t.subjects("user", "x@example.com", "::ffff:192.0.2.1")[1] == ("address", "192.0.2.1", 20)


def test_the_state_is_shared_by_every_api_process(db: Engine, api: Api) -> None:
    """Two applications over one database (two API processes) count the same failures."""
    with TestClient(create_app(db, SECRET), client=("203.0.113.5", 1000)) as other:
        for _ in range(5):
            assert _admin_login(api.client, "admin", "wrong").status_code == 401
        _too_many(_admin_login(other, "admin", "changeme"))


def test_unknown_names_and_inactive_accounts_cost_a_bcrypt_check(api: Api, tokens: dict[str, str],
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """Equal response time for unknown names: bcrypt runs, at the cost of real hashes."""
    checked: list[bytes] = []
    real = bcrypt.checkpw

    def spy(password: bytes, hashed: bytes) -> bool:
        checked.append(hashed)
        return real(password, hashed)

    # an inactive user (the client operator disables Bob's portal access)
    bob = next(u for u in api.get("client", "/users", tokens["client"]).json() if u["name"] == "Bob")
    assert api.put("client", f"/users/{bob['id']}", tokens["client"], {"active": False}).status_code == 200
    monkeypatch.setattr(bcrypt, "checkpw", spy)
    attempts = [_admin_login(api.client, "admin", "wrong"), _admin_login(api.client, "nosuchadmin", "wrong"),
                _user_login(api.client, "alice@democompany.com", "wrong"),
                _user_login(api.client, "nobody@example.com", "wrong"),
                _user_login(api.client, "bob@democompany.com", "bob")]
    assert [r.status_code for r in attempts] == [401] * 5
    assert len(checked) == 5
    assert {h[:7] for h in checked} == {b"$2b$10$"}  # the same cost for the dummy hash as for real ones


def test_the_limits_are_configurable(monkeypatch: pytest.MonkeyPatch) -> None:
    t = LoginThrottle.from_env({"POLYVOX_LOGIN_MAX_FAILURES": "3", "POLYVOX_LOGIN_ADDRESS_MAX_FAILURES": "0",
                                "POLYVOX_LOGIN_WINDOW": "60", "POLYVOX_LOGIN_LOCKOUT": "120"})
    assert (t.max_failures, t.address_max_failures, t.window, t.lockout) == (3, 0, 60, 120)
    assert [s[0] for s in t.subjects("platform", "admin", "192.0.2.1")] == ["account"]  # 0: address counter off
    d = LoginThrottle.from_env({})
    assert (d.max_failures, d.address_max_failures, d.window, d.lockout) == (5, 20, 900, 900)
    with pytest.raises(ValueError, match="POLYVOX_LOGIN_WINDOW"):
        LoginThrottle.from_env({"POLYVOX_LOGIN_WINDOW": "soon"})
    monkeypatch.setenv("POLYVOX_LOGIN_MAX_FAILURES", "7")
    assert TokenService("s").throttle.max_failures == 7


def test_the_operators_password_reset_lifts_the_lockout(api: Api, clock: Clock, db: Engine) -> None:
    """`polyvox admin password NAME` is the way back in for a locked-out operator."""
    from polyvox.api import seeding

    issued = api.login("platform", "admin", "changeme")
    for _ in range(5):
        assert _admin_login(api.client, "admin", "wrong").status_code == 401
    _too_many(_admin_login(api.client, "admin", "changeme"))
    with db.begin() as conn:
        assert seeding.reset_password(conn, "admin", "N3w-changeme")
    assert _admin_login(api.client, "admin", "N3w-changeme").status_code == 200
    assert api.get("platform", "/brands", issued).status_code == 401  # the old password's tokens are dead
