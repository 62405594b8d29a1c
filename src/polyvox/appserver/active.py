"""Active calls of the application server (spec 10.1.14 "Active calls", docs/appserver.md §Active calls).

Every call handled by an application server worker is published here while it lasts, as one row
per *entity involved* (user, friend, residential device): the caller endpoint's ``outbound`` entry
from the moment the INVITE arrives, an ``inbound`` entry for every endpoint target while it rings
(the answered one stays), the party updated on answer and on transfers; the rows of a call go away
when it ends (table ``appserver_active_calls``, :mod:`polyvox.db.appserver_state`). ``/my/active_calls`` (``polyvox.api.custom.active_calls``) merges these rows with
proxy-trunks' dialogs.

Threads: the executor builds a :class:`Snapshot` of a call on the asyncio loop (pure values) and
hands it to :class:`Publisher`, whose own single database thread resolves the entities (owner
and number, cached) and rewrites the call's rows. Only the latest snapshot of a call waiting to
be written is kept, so a burst of events costs one write; snapshots of one call are written in
order. The sippy thread never touches the database.

Rows are keyed by the worker's address (``host:port``) and a per-process session number: a
worker deletes every row of its address when it starts (rows left by a crashed predecessor) and
when it stops.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, delete, select

from polyvox.appserver import plan
from polyvox.db.appserver_state import appserver_active_calls
from polyvox.db.model import ENTITY, fit

log = logging.getLogger("polyvox.appserver.active")


# ----------------------------------------------------------------------------- snapshots (loop side)
@dataclass(frozen=True)
class CallerIdent:
    """The participant that sent the call's INVITE (an endpoint, or an external caller)."""

    call: plan.IncomingCall


@dataclass(frozen=True)
class TargetIdent:
    """A participant reached by a dial (an endpoint, or an external number)."""

    target: plan.Target
    brand_id: int
    company_id: int


Ident = CallerIdent | TargetIdent


@dataclass(frozen=True)
class Entry:
    who: Ident
    state: str  # trying | early | confirmed
    party: Ident | str  # the other participant, or the number dialled while nobody answered
    start: datetime
    answer: datetime | None = None

    @property
    def direction(self) -> str:
        return "outbound" if isinstance(self.who, CallerIdent) else "inbound"


@dataclass(frozen=True)
class Snapshot:
    session: str
    call_id: str
    entries: tuple[Entry, ...] = ()  # empty: the call is over
    trunk_call_ids: tuple[str, ...] = ()


def is_trunk_leg(who: Ident) -> bool:
    """The leg of this participant goes through proxy-trunks."""
    if isinstance(who, CallerIdent):
        return who.call.origin is not plan.Origin.ENDPOINT
    return who.target.kind is plan.TargetKind.EXTERNAL


# ----------------------------------------------------------------------------- resolution (DB thread)
@dataclass(frozen=True)
class Owner:
    type: str
    id: int | None
    name: str | None
    brand_id: int | None
    company_id: int | None
    number: str | None


@dataclass
class Resolver:
    """Entity behind a participant (owner) and the number it is shown as (party), with a short cache."""

    engine: Engine
    ttl: float = 30.0
    _cache: dict[tuple[Any, ...], tuple[float, Any]] = field(default_factory=dict)

    def _cached(self, key: tuple[Any, ...], fn: Callable[[], Any]) -> Any:
        now = time.monotonic()
        hit = self._cache.get(key)
        if hit is not None and now - hit[0] < self.ttl:
            return hit[1]
        value = fn()
        self._cache[key] = (now, value)
        return value

    def _brand(self, company_id: int | None) -> int | None:
        if company_id is None:
            return None
        c = ENTITY["Company"].table

        def load() -> int | None:
            with self.engine.connect() as conn:
                v = conn.execute(select(c.c.brandId).where(c.c.id == company_id)).scalar()
            return int(v) if v is not None else None

        return self._cached(("brand", company_id), load)  # type: ignore[no-any-return]

    def _user(self, where: Any) -> Owner | None:
        u, x = ENTITY["User"].table, ENTITY["Extension"].table
        with self.engine.connect() as conn:
            row = conn.execute(select(u.c.id, u.c.name, u.c.lastname, u.c.companyId, x.c.number)
                               .select_from(u.outerjoin(x, x.c.id == u.c.extensionId)).where(where)
                               .order_by(u.c.id)).first()
        if row is None:
            return None
        name = " ".join(str(p) for p in (row.name, row.lastname) if p)
        company = int(row.companyId) if row.companyId is not None else None
        number = row.number
        if number is None:  # no main extension: the first extension that routes to the user
            with self.engine.connect() as conn:
                number = conn.execute(select(x.c.number).where(x.c.userId == row.id, x.c.routeType == "user")
                                      .order_by(x.c.number)).scalar()
        return Owner("user", int(row.id), name or None, self._brand(company), company,
                     str(number) if number is not None else None)

    def _endpoint(self, kind: str, where: Any) -> Owner | None:
        entity = {"friend": "Friend", "residential": "ResidentialDevice", "retail": "RetailAccount"}[kind]
        t = ENTITY[entity].table
        with self.engine.connect() as conn:
            row = conn.execute(select(t.c.id, t.c.name, t.c.companyId).where(where).order_by(t.c.id)).first()
        if row is None:
            return None
        company = int(row.companyId) if row.companyId is not None else None
        return Owner(kind, int(row.id), str(row.name), self._brand(company), company, None)

    def caller(self, call: plan.IncomingCall) -> Owner | None:
        if call.origin is not plan.Origin.ENDPOINT:
            return None
        kind = call.endpoint_type or "terminal"

        def load() -> Owner | None:
            u, t = ENTITY["User"].table, ENTITY["Terminal"].table
            if kind == "terminal":
                if call.user_id is not None:
                    return self._user(u.c.id == call.user_id)
                if call.endpoint_id is not None:
                    return self._user(u.c.terminalId == call.endpoint_id)
                return self._user(u.c.terminalId.in_(select(t.c.id).where(
                    t.c.name == call.endpoint_name, t.c.companyId == call.company_id)))
            if kind not in ("friend", "residential", "retail"):
                return None
            e = ENTITY[{"friend": "Friend", "residential": "ResidentialDevice", "retail": "RetailAccount"}[kind]]
            if call.endpoint_id is not None:
                return self._endpoint(kind, e.table.c.id == call.endpoint_id)
            return self._endpoint(kind, (e.table.c.name == call.endpoint_name)
                                  & (e.table.c.companyId == call.company_id))

        owner: Owner | None = self._cached(("caller", kind, call.user_id, call.endpoint_id, call.endpoint_name,
                                            call.company_id), load)
        if owner is None:
            # an endpoint the database does not know (any more): shown as what proxy-users said
            return Owner("user" if kind == "terminal" else kind, call.user_id if kind == "terminal"
                         else call.endpoint_id, call.endpoint_name, call.brand_id, call.company_id, None)
        return owner

    def target(self, who: TargetIdent) -> Owner | None:
        """The endpoint a dial target rings: a terminal (its user), a friend or a residential
        device named ``ruri_user`` in the call's client (else anywhere, first match)."""
        t = who.target
        if t.kind is not plan.TargetKind.ENDPOINT:
            return None

        def load() -> Owner | None:
            u, term = ENTITY["User"].table, ENTITY["Terminal"].table
            if t.user_id is not None:
                found = self._user(u.c.id == t.user_id)
                if found is not None:
                    return found
            for scoped in (True, False):
                sub = select(term.c.id).where(term.c.name == t.ruri_user)
                if scoped:
                    sub = sub.where(term.c.companyId == who.company_id)
                found = self._user(u.c.terminalId.in_(sub))
                if found is not None:
                    return found
                for kind, entity in (("friend", "Friend"), ("residential", "ResidentialDevice"),
                                     ("retail", "RetailAccount")):
                    e = ENTITY[entity].table
                    where = e.c.name == t.ruri_user
                    if scoped:
                        where = where & (e.c.companyId == who.company_id)
                    found = self._endpoint(kind, where)
                    if found is not None:
                        return found
            return None

        return self._cached(("target", t.ruri_user, t.user_id, who.company_id), load)  # type: ignore[no-any-return]

    def owner(self, who: Ident) -> Owner | None:
        return self.caller(who.call) if isinstance(who, CallerIdent) else self.target(who)

    def number(self, who: Ident | str) -> str:
        """How a participant is shown as the party of another: a user's extension, else the number
        it called from / was called at (endpoint name for endpoints without a number)."""
        if isinstance(who, str):
            return who
        owner = self.owner(who)
        if owner is not None and owner.number:
            return owner.number
        if isinstance(who, CallerIdent):
            return who.call.caller
        return who.target.ruri_user

    def rows(self, worker: str, snap: Snapshot) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        trunk = " ".join(snap.trunk_call_ids) or None
        for e in snap.entries:
            owner = self.owner(e.who)
            if owner is None:
                continue  # an external participant: not an entity of the platform
            out.append({"worker": worker, "session": snap.session, "callId": snap.call_id,
                        "brandId": owner.brand_id, "companyId": owner.company_id, "direction": e.direction,
                        "ownerType": owner.type, "ownerId": owner.id, "ownerName": owner.name,
                        "ownerNumber": owner.number, "party": self.number(e.party), "state": e.state,
                        "startTime": e.start, "answerTime": e.answer, "trunkCallIds": trunk})
        return out


# ----------------------------------------------------------------------------- publisher
class Publisher:
    """Writes the snapshots of this worker's calls into ``appserver_active_calls`` (own DB thread)."""

    def __init__(self, engine: Engine, worker: str) -> None:
        self.engine = engine
        self.worker = worker
        self.resolver = Resolver(engine)
        self.pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="active-calls")
        self._lock = threading.Lock()
        self._pending: dict[str, Snapshot] = {}
        self._serial = itertools.count(1)

    def session_key(self) -> str:
        return str(next(self._serial))

    def start(self) -> None:
        """Deletes the rows a previous process on this address left (blocking, before any call)."""
        try:
            with self.engine.begin() as conn:
                conn.execute(delete(appserver_active_calls).where(appserver_active_calls.c.worker == self.worker))
        except Exception:
            log.exception("active calls: cannot clear the rows of %s", self.worker)

    def publish(self, snap: Snapshot) -> None:
        """Called on the event loop: the latest snapshot of the call is written soon."""
        with self._lock:
            first = snap.session not in self._pending
            self._pending[snap.session] = snap
        if first:
            with contextlib.suppress(RuntimeError):  # RuntimeError: stopping
                self.pool.submit(self._flush, snap.session)

    def _flush(self, session: str) -> None:
        with self._lock:
            snap = self._pending.pop(session, None)
        if snap is None:
            return
        try:
            rows = self.resolver.rows(self.worker, snap)
            t = appserver_active_calls
            with self.engine.begin() as conn:
                conn.execute(delete(t).where(t.c.worker == self.worker, t.c.session == snap.session))
                if rows:
                    conn.execute(t.insert(), [fit(t, r) for r in rows])
        except Exception:
            log.exception("active calls: call %s not published", snap.call_id)

    def close(self) -> None:
        """Writes what is pending, then deletes every row of this worker."""
        self.pool.shutdown(wait=True, cancel_futures=False)
        self.start()
