"""Read-side repository of the SIP proxies, with per-process caches.

Each Kamailio process (the SIP workers and the timer process) holds one :class:`Repository`.
Lookups are read lazily from the database (SQLAlchemy Core, SQLite or PostgreSQL) and kept in
a per-process dictionary, negative answers included. The whole cache is dropped when
``config_version.version`` changes; the API bumps it in the same transaction as any change
(ARCHITECTURE §3), so a change is effective for the next call without any reload.

When is the version read? :meth:`Repository.begin_request` is called once at the start of every
initial request (REGISTER, INVITE... never for retransmissions, in-dialog requests or ACK):

- ``check_interval == 0`` (default): the version is read by that call, i.e. exactly once per
  initial request (one primary-key SELECT of a one-row table);
- ``check_interval > 0``: it is read at most once every ``check_interval`` seconds per process,
  so a change may take that long to be seen by a given worker.

The engine is created lazily in the process that uses it (never inherited through Kamailio's
fork).
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Engine, bindparam, create_engine, func, select
from sqlalchemy.exc import DBAPIError

from polyvox.sip.dispatch import AppServer, parse_host_port

MAX_ENTRIES = 100_000
VERSION_SQL = "SELECT max(version) FROM config_version"


@dataclass(frozen=True)
class Domain:
    id: int
    name: str
    brand_id: int | None
    company_id: int | None


@dataclass(frozen=True)
class Endpoint:
    kind: str  # terminal (friends, retail accounts and residential devices come later)
    id: int
    name: str
    password: str
    company_id: int
    domain_id: int
    user_id: int | None
    multi_contact: bool


@dataclass(frozen=True)
class Company:
    id: int
    brand_id: int
    type: str
    name: str
    application_server_set_id: int | None
    media_relay_set_id: int | None
    distribute_method: str


def make_engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        from polyvox.db.engine import make_engine as _make

        return _make(url)
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://"):]
    return create_engine(url, pool_pre_ping=True, pool_size=1, max_overflow=4, pool_recycle=3600)


def _tables() -> dict[str, Any]:
    from polyvox.db.model import ENTITY, config_version

    return {
        "domain": ENTITY["Domain"].table,
        "terminal": ENTITY["Terminal"].table,
        "user": ENTITY["User"].table,
        "company": ENTITY["Company"].table,
        "app_server": ENTITY["ApplicationServer"].table,
        "rtpengine": ENTITY["Rtpengine"].table,
        "config_version": config_version,
    }


class Repository:
    def __init__(self, url: str, *, check_interval: float = 0.0, default_as_port: int = 6060,
                 clock: Callable[[], float] = time.monotonic, engine: Engine | None = None) -> None:
        self.url = url
        self.check_interval = check_interval
        self.default_as_port = default_as_port
        self.clock = clock
        self.t = t = _tables()
        self._engine = engine
        self._pid = os.getpid() if engine is not None else 0
        self._conn: Connection | None = None
        self._cache: dict[tuple[Any, ...], Any] = {}
        self.version: int | None = None
        self._checked_at = float("-inf")
        self.stats = {"version_reads": 0, "queries": 0, "invalidations": 0}
        # statements built once (SQLAlchemy then reuses their compiled form)
        d, te, u, c, a, r = t["domain"], t["terminal"], t["user"], t["company"], t["app_server"], t["rtpengine"]
        self._q_domain = (select(d.c.id, d.c.domain, d.c.brandId, d.c.companyId)
                          .where(func.lower(d.c.domain) == bindparam("name"), d.c.pointsTo == "proxyusers")
                          .order_by(d.c.id).limit(1))
        self._q_terminal = (select(te.c.id, te.c.name, te.c.password, te.c.companyId, te.c.domainId,
                                   u.c.id.label("userId"), u.c.multiContact)
                            .select_from(te.outerjoin(u, u.c.terminalId == te.c.id))
                            .where(te.c.domainId == bindparam("domain_id"), te.c.name == bindparam("name"))
                            .order_by(te.c.id, u.c.id).limit(1))
        self._q_company = select(c.c.id, c.c.brandId, c.c.type, c.c.name, c.c.applicationServerSetId,
                                 c.c.mediaRelaySetId, c.c.distributeMethod).where(c.c.id == bindparam("id"))
        self._q_app_servers = select(a.c.id, a.c.name, a.c.ip).order_by(a.c.id)
        self._q_rtpengines = select(r.c.mediaRelaySetId, r.c.setid, r.c.url, r.c.weight, r.c.disabled).order_by(r.c.id)

    # ----- connections and cache control
    @property
    def engine(self) -> Engine:
        if self._engine is None or self._pid != os.getpid():
            self._engine = make_engine(self.url)
            self._pid = os.getpid()
            self._conn = None
        return self._engine

    @property
    def conn(self) -> Connection:
        """One connection per process, in autocommit mode: every statement sees the latest
        committed data and no transaction stays open between requests."""
        engine = self.engine
        if self._conn is None:
            self._conn = engine.connect().execution_options(isolation_level="AUTOCOMMIT")
        return self._conn

    def _execute(self, stmt: Any, params: dict[str, Any] | None = None) -> Any:
        try:
            return self.conn.execute(stmt, params or {})
        except DBAPIError:
            # broken connection (database restarted, network): reconnect once
            self.close()
            return self.conn.execute(stmt, params or {})

    def close(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(Exception):
                self._conn.close()
            self._conn = None

    def read_version(self) -> int:
        """One-row read on the driver's connection directly (the hot path of every initial
        request: ~10 µs on SQLite instead of ~80 µs through SQLAlchemy's execution layer)."""
        self.stats["version_reads"] += 1
        for attempt in (1, 2):
            try:
                cur = self.conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
                try:
                    cur.execute(VERSION_SQL)
                    row = cur.fetchone()
                finally:
                    cur.close()
                return int(row[0] or 0) if row else 0
            except Exception:
                self.close()
                if attempt == 2:
                    raise
        return 0

    def begin_request(self) -> None:
        """Called once per initial request: drops the caches if the configuration changed."""
        now = self.clock()
        if self.check_interval > 0 and now - self._checked_at < self.check_interval:
            return
        self._checked_at = now
        v = self.read_version()
        if v != self.version:
            if self.version is not None:
                self.stats["invalidations"] += 1
            self._cache.clear()
            self.version = v

    def invalidate(self) -> None:
        self._cache.clear()
        self.version = None

    def _cached(self, key: tuple[Any, ...], load: Callable[[], Any]) -> Any:
        try:
            return self._cache[key]
        except KeyError:
            pass
        if len(self._cache) >= MAX_ENTRIES:
            self._cache.clear()
        self.stats["queries"] += 1
        value = load()
        self._cache[key] = value
        return value

    # ----- lookups
    def domain(self, name: str) -> Domain | None:
        """A SIP domain pointing to proxy-users (vPBX client domain or brand domain)."""
        name = (name or "").lower()
        if not name:
            return None

        def load() -> Domain | None:
            row = self._execute(self._q_domain, {"name": name}).first()
            return Domain(row.id, row.domain.lower(), row.brandId, row.companyId) if row else None

        return self._cached(("domain", name), load)  # type: ignore[no-any-return]

    def terminal(self, domain_id: int, name: str) -> Endpoint | None:
        def load() -> Endpoint | None:
            row = self._execute(self._q_terminal, {"domain_id": domain_id, "name": name}).first()
            if row is None:
                return None
            return Endpoint(kind="terminal", id=row.id, name=row.name, password=row.password or "",
                            company_id=row.companyId, domain_id=row.domainId, user_id=row.userId,
                            multi_contact=True if row.multiContact is None else bool(row.multiContact))

        return self._cached(("terminal", domain_id, name), load)  # type: ignore[no-any-return]

    def company(self, company_id: int) -> Company | None:
        def load() -> Company | None:
            row = self._execute(self._q_company, {"id": company_id}).first()
            if row is None:
                return None
            return Company(id=row.id, brand_id=row.brandId, type=row.type or "vpbx", name=row.name,
                           application_server_set_id=row.applicationServerSetId,
                           media_relay_set_id=row.mediaRelaySetId, distribute_method=row.distributeMethod or "hash")

        return self._cached(("company", company_id), load)  # type: ignore[no-any-return]

    def all_application_servers(self) -> tuple[AppServer, ...]:
        def load() -> tuple[AppServer, ...]:
            out = []
            for row in self._execute(self._q_app_servers).all():
                if not row.ip:
                    continue
                host, port = parse_host_port(row.ip, self.default_as_port)
                out.append(AppServer(row.id, row.name, host, port))
            return tuple(out)

        return self._cached(("app_servers",), load)  # type: ignore[no-any-return]

    def application_servers(self, set_id: int | None) -> tuple[AppServer, ...]:
        """Members of an application server set, ordered by id.

        A set without members uses every application server: as spec 8.14.4 says, as soon as
        an application server is added the proxies balance load using it.
        """
        if set_id is None:
            return self.all_application_servers()

        def load() -> tuple[AppServer, ...]:
            from polyvox.db.model import ENTITY

            rel = ENTITY["ApplicationServerSetRelApplicationServer"].table
            ids = {r[0] for r in self._execute(select(rel.c.applicationServerId)
                                               .where(rel.c.applicationServerSetId == set_id)).all()}
            every = self.all_application_servers()
            members = tuple(s for s in every if s.id in ids)
            return members or every

        return self._cached(("set_members", set_id), load)  # type: ignore[no-any-return]

    def application_server_at(self, host: str, port: int) -> AppServer | None:
        """The application server sending from ``host:port``, if any (trusted, inside traffic)."""
        def load() -> AppServer | None:
            for s in self.all_application_servers():
                if s.host == host and s.port == port:
                    return s
            return None

        return self._cached(("as_at", host, port), load)  # type: ignore[no-any-return]

    def rtpengine_nodes(self) -> list[tuple[int, str, int, bool]]:
        """(set id, NG url, weight, disabled) of every media relay; set id = mediaRelaySetId."""
        out = []
        for row in self._execute(self._q_rtpengines).all():
            if not row.url:
                continue
            setid = row.mediaRelaySetId if row.mediaRelaySetId is not None else (row.setid or 0)
            out.append((int(setid), row.url, int(row.weight if row.weight is not None else 1), bool(row.disabled)))
        return out


def load_rtpengine_nodes(url: str) -> list[tuple[int, str, int, bool]]:
    repo = Repository(url)
    try:
        return repo.rtpengine_nodes()
    finally:
        repo.close()
        repo.engine.dispose()
