"""Registrations are stored with their real expiry (issue 19 item 6): a REGISTER with Expires N
through the real proxy-users gives a ``kam_users_location`` row expiring about N seconds from
now (not 57 years: usrloc reports the absolute expiry), the API's status endpoint lists the
contact while it lives and not once it has expired, and a stored dead contact is neither listed
nor restored."""

from __future__ import annotations

import datetime as dt
import time

from sqlalchemy import select

from polyvox.db.location import expiry, location
from tests.sip.conftest import DOMAIN, Platform
from tests.sip.ua import rand


def rows(pv: Platform, user: str, count: int | None = None) -> list[dict]:  # type: ignore[type-arg]
    """The user's rows; with ``count``, waits (bounded) until there are that many: the proxy writes
    them right after its 200 OK."""
    deadline = time.monotonic() + 5
    while True:
        with pv.engine.connect() as c:
            found = [dict(r._mapping) for r in c.execute(select(location).where(location.c.username == user))]
        if count is None or len(found) == count or time.monotonic() > deadline:
            return found
        time.sleep(0.1)


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


def terminal_status(pv: Platform, tid: int) -> list[dict]:  # type: ignore[type-arg]
    client = pv.prov.client(pv.company_id())
    return list(client.get(f"/terminals/{tid}/status")["status"])


def test_register_stores_the_real_expiry_and_status_shows_live_contacts_only(pv: Platform) -> None:
    name = f"exp{rand(4)}"
    tid, _uid = pv.add_terminal(name, "EXPiry+Pw123")
    ua = pv.ua(name, "EXPiry+Pw123")
    before = utcnow()
    r = ua.register(expires=120)
    assert r.status == 200
    (row,) = rows(pv, name, 1)
    assert row["domain"] == DOMAIN
    left = (row["expires"] - before).total_seconds()
    assert 110 <= left <= 135, row["expires"]
    assert [s["contact"] for s in terminal_status(pv, tid)] == [f"sip:{name}@127.0.0.1:{ua.port}"]

    # the shortest registration the proxy grants (min_expires 60 s) expires, then it is gone
    assert ua.register(expires=0).status == 200
    assert rows(pv, name, 0) == []
    r = ua.register(expires=pv.settings.min_expires)
    assert r.status == 200
    (row,) = rows(pv, name, 1)
    assert abs((row["expires"] - utcnow()).total_seconds() - pv.settings.min_expires) < 10
    with pv.engine.begin() as c:  # as if that registration had been made 61 s ago
        c.execute(location.update().where(location.c.username == name)
                  .values(expires=utcnow() - dt.timedelta(seconds=1)))
    assert terminal_status(pv, tid) == []
    deadline = time.monotonic() + 15  # the proxy's timer purges expired rows every 10 s
    while rows(pv, name) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert rows(pv, name) == []


def test_usrloc_expiry_is_absolute() -> None:
    now = dt.datetime(2026, 12, 7, 12, 0, 0)
    epoch = int(dt.datetime(2026, 12, 7, 12, 10, 0, tzinfo=dt.UTC).timestamp())
    assert expiry(epoch, now) == dt.datetime(2026, 12, 7, 12, 10, 0)
    assert expiry(0, now) == now
    assert expiry("garbage", now) == now
