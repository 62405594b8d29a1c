"""The trunks agent: OPTIONS pinging of carrier servers and DDI provider registrations.

One asyncio process on the proxy-trunks host, UDP sockets of its own: one per job on the main
address and, per job, one on each proxy trunks address (spec 8.14.2 "Local socket") used by a
carrier or a DDI provider with a registration. The configuration is re-read when ``config_version`` changes (checked every ``poll`` seconds); the
results go to :mod:`polyvox.db.agent_state`. Behaviour and decisions: docs/sip-agent.md.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine, delete, insert, select, update

from polyvox.db.agent_state import carrier_server_status, ddi_provider_registration_status
from polyvox.db.model import ENTITY, config_version
from polyvox.platform.clock import utcnow
from polyvox.sip.agent import sipmsg
from polyvox.sip.agent.transport import SocketPool, UdpTransport

log = logging.getLogger("polyvox.sip.agent")

UDP, TCP, TLS = 1, 2, 3


def is_alive(code: int | None) -> bool:
    """An OPTIONS reply that proves the carrier server is up: any final reply except ``408`` and
    the 5xx class (``501 Not Implemented`` counts as alive: the server answers but does not
    implement OPTIONS, as IvozProvider's ``ping_valid_reply_codes``). None = no reply."""
    if code is None or code == 408:
        return False
    return not (500 <= code < 600 and code != 501)


@dataclass(frozen=True)
class AgentSettings:
    host: str = "127.0.0.1"  # address the agent's sockets bind to (the proxy-trunks host)
    contact_host: str = "127.0.0.1"  # proxy-trunks' address written in REGISTER Contact
    contact_port: int = 7060  # proxy-trunks' port
    interval: float = 30.0  # seconds between two OPTIONS rounds
    ping_timeout: float = 5.0  # seconds without a final reply -> the server is down
    poll: float = 1.0  # seconds between two config_version checks
    register_timeout: float = 8.0  # seconds without a final reply to a REGISTER -> failure
    retry_min: float = 5.0  # first retry after a failed registration, doubled up to retry_max
    retry_max: float = 300.0
    default_expires: int = 3600  # when the row's expires is 0/empty


@dataclass(frozen=True)
class Server:
    id: int
    host: str
    port: int
    transport: int
    outbound_proxy: str
    local_ip: str = ""  # its carrier's proxy trunks address: pinged from it ("" = the main address)


@dataclass(frozen=True)
class RegRow:
    id: int
    username: str
    domain: str
    realm: str
    auth_username: str
    auth_password: str
    auth_proxy: str
    expires: int
    contact_username: str
    local_ip: str = ""  # its DDI provider's proxy trunks address: REGISTER sent from it ("" = main)
    contact_host: str = ""  # address in the Contact ("" = the agent's contact host)


# ----------------------------------------------------------------------------- database side
class Store:
    """Synchronous database access (run in a thread by the agent)."""

    def __init__(self, engine: Engine, clock: Callable[[], dt.datetime] = utcnow) -> None:
        self.engine, self.clock = engine, clock

    def version(self) -> int | None:
        with self.engine.connect() as c:
            v = c.execute(select(config_version.c.version).where(config_version.c.id == 1)).scalar()
            return None if v is None else int(v)

    def load(self, main_host: str = "") -> tuple[list[Server], list[RegRow], dict[int, str]]:
        """Carrier servers, registrations (with the proxy trunks address of their carrier / DDI
        provider, spec 8.14.2) and the contact users kept in the status table. ``main_host``: the
        agent's own address (a proxy trunks row with it uses the main socket and Contact)."""
        cs, r = ENTITY["CarrierServer"].table, ENTITY["DdiProviderRegistration"].table
        ca, dp, pt = ENTITY["Carrier"].table, ENTITY["DdiProvider"].table, ENTITY["ProxyTrunk"].table
        with self.engine.connect() as c:
            carrier_ip = {int(row.id): (row.ip or "").strip() for row in c.execute(
                select(ca.c.id, pt.c.ip).select_from(ca.join(pt, pt.c.id == ca.c.proxyTrunkId)))}
            provider_addr = {int(row.id): ((row.ip or "").strip(), (row.advertisedIp or "").strip())
                             for row in c.execute(select(dp.c.id, pt.c.ip, pt.c.advertisedIp)
                                                  .select_from(dp.join(pt, pt.c.id == dp.c.proxyTrunkId)))}

            def socket_of(ip: str) -> str:
                return "" if not ip or ip == main_host else ip

            def contact_of(ip: str, advertised: str) -> str:
                if advertised:
                    return advertised
                return "" if not ip or ip == main_host else ip

            servers = []
            for row in c.execute(select(cs).order_by(cs.c.id)):
                host, port = (row.ip or row.hostname or "").strip(), int(row.port or 5060)
                if not host and (row.sipProxy or "").strip():  # only "host[:port]" given
                    try:
                        host, port = sipmsg.parse_target(row.sipProxy, int(row.port or 5060))
                    except ValueError:
                        host = ""
                if not host:
                    continue
                servers.append(Server(int(row.id), host, port, int(row.transport or UDP),
                                      (row.outboundProxy or "").strip(),
                                      socket_of(carrier_ip.get(int(row.carrierId or 0), ""))))
            regs = []
            for row in c.execute(select(r).order_by(r.c.id)):
                ip, advertised = provider_addr.get(int(row.ddiProviderId or 0), ("", ""))
                regs.append(RegRow(int(row.id), row.username or "", (row.domain or "").strip(),
                                   (row.realm or "").strip(), row.authUsername or "", row.authPassword or "",
                                   (row.authProxy or "").strip(), int(row.expires or 0),
                                   (row.contactUsername or "").strip(), socket_of(ip), contact_of(ip, advertised)))
            st = ddi_provider_registration_status
            users = {int(row.ddiProviderRegistrationId): str(row.contactUser)
                     for row in c.execute(select(st.c.ddiProviderRegistrationId, st.c.contactUser))}
        return servers, regs, users

    def save_pings(self, results: dict[int, int | None], known: set[int]) -> None:
        """Writes one round of results and forgets servers that no longer exist."""
        t = carrier_server_status
        now = self.clock()
        with self.engine.begin() as c:
            present = set(c.execute(select(t.c.carrierServerId)).scalars())
            stale = present - known
            if stale:
                c.execute(delete(t).where(t.c.carrierServerId.in_(stale)))
            for sid, code in results.items():
                if sid not in known:
                    continue
                values: dict[str, Any] = {"active": is_alive(code), "lastCode": code, "updatedAt": now}
                if code is not None:
                    values["lastReply"] = now
                if sid in present:
                    c.execute(update(t).where(t.c.carrierServerId == sid).values(**values))
                else:
                    c.execute(insert(t).values(carrierServerId=sid, **values))

    def save_registration(self, rid: int, **values: Any) -> None:
        t = ddi_provider_registration_status
        values["updatedAt"] = self.clock()
        with self.engine.begin() as c:
            if c.execute(update(t).where(t.c.ddiProviderRegistrationId == rid).values(**values)).rowcount == 0:
                c.execute(insert(t).values(ddiProviderRegistrationId=rid, **values))

    def forget_registrations(self, keep: set[int]) -> None:
        t = ddi_provider_registration_status
        with self.engine.begin() as c:
            c.execute(delete(t).where(t.c.ddiProviderRegistrationId.not_in(keep)) if keep else delete(t))


# ----------------------------------------------------------------------------- OPTIONS pinging
class Pinger:
    def __init__(self, store: Store, settings: AgentSettings) -> None:
        self.store, self.settings = store, settings
        self.sockets = SocketPool()
        self.servers: list[Server] = []

    @property
    def udp(self) -> UdpTransport:
        """The socket on the main address."""
        return self.sockets.main

    async def ping(self, server: Server) -> int | None:
        """Status code of the final reply to one OPTIONS, None when there was none."""
        try:
            if server.outbound_proxy:
                dest = sipmsg.parse_target(server.outbound_proxy)
            else:
                dest = (server.host, server.port)
            udp = await self.sockets.get(server.local_ip)  # its carrier's proxy trunks address
            addr = await udp.resolve(*dest)
        except (OSError, ValueError) as e:
            log.warning("carrier server %s: cannot resolve %s (%s)", server.id, server.host, e)
            return None
        host = f"[{server.host}]" if ":" in server.host else server.host
        ruri = f"sip:{host}:{server.port}"
        branch = udp.new_branch()
        me = f"[{udp.host}]" if ":" in udp.host else udp.host
        data = sipmsg.build_request("OPTIONS", ruri, via_host=me, via_port=udp.port, branch=branch,
                                    from_uri=f"sip:ping@{me}:{udp.port}", from_tag=sipmsg.token(4),
                                    to_uri=ruri, call_id=f"{sipmsg.token(10)}@polyvox-agent", cseq=1)
        resp = await udp.transaction(data, branch, addr, self.settings.ping_timeout)
        return None if resp is None else resp.status

    async def round(self) -> dict[int, int | None]:
        servers = [s for s in self.servers if s.transport == UDP]
        sem = asyncio.Semaphore(200)

        async def one(s: Server) -> tuple[int, int | None]:
            async with sem:
                return s.id, await self.ping(s)

        results = dict(await asyncio.gather(*(one(s) for s in servers)))
        for sid, code in results.items():
            if not is_alive(code):
                log.info("carrier server %s inactive (%s)", sid, code or "no reply")
        await asyncio.to_thread(self.store.save_pings, results, {s.id for s in self.servers})
        return results


# ----------------------------------------------------------------------------- registrations
@dataclass
class Binding:
    row: RegRow
    contact_user: str
    call_id: str = field(default_factory=lambda: f"{sipmsg.token(10)}@polyvox-agent")
    from_tag: str = field(default_factory=lambda: sipmsg.token(4))
    cseq: int = 0
    task: asyncio.Task[None] | None = None
    registered: bool = False


class RegistrationError(Exception):
    def __init__(self, message: str, code: int | None = None) -> None:
        super().__init__(message)
        self.code = code


class Registrar:
    def __init__(self, store: Store, settings: AgentSettings, new_user: Callable[[], str] | None = None) -> None:
        self.store, self.settings = store, settings
        self.sockets = SocketPool()
        self.bindings: dict[int, Binding] = {}
        self.new_user = new_user or (lambda: "pv" + sipmsg.token(6))

    @property
    def udp(self) -> UdpTransport:
        """The socket on the main address."""
        return self.sockets.main

    async def sync(self, rows: list[RegRow], users: dict[int, str]) -> None:
        """Starts new registrations, restarts changed ones, unregisters removed ones."""
        wanted = {r.id: r for r in rows}
        for rid, b in list(self.bindings.items()):
            if wanted.get(rid) == b.row:
                continue
            await self._stop(b, unregister=True)
            del self.bindings[rid]
        await asyncio.to_thread(self.store.forget_registrations, set(wanted))
        for rid, row in wanted.items():
            if rid in self.bindings:
                continue
            user = row.contact_username or users.get(rid) or self.new_user()  # random: kept across restarts
            b = Binding(row, user)
            self.bindings[rid] = b
            b.task = asyncio.create_task(self._keep(b), name=f"registration-{rid}")

    async def stop(self) -> None:
        for b in self.bindings.values():
            await self._stop(b, unregister=False)

    async def _stop(self, b: Binding, unregister: bool) -> None:
        if b.task is not None:
            b.task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await b.task
        if unregister and b.cseq > 0:
            try:
                await self.register(b, 0)
                log.info("registration %s: unregistered", b.row.id)
            except RegistrationError as e:
                log.warning("registration %s: unregister failed: %s", b.row.id, e)

    def _expires(self, row: RegRow) -> int:
        return row.expires if row.expires > 0 else self.settings.default_expires

    async def _keep(self, b: Binding) -> None:
        backoff = self.settings.retry_min
        expires = self._expires(b.row)
        while True:
            await asyncio.to_thread(self.store.save_registration, b.row.id, inProgress=True,
                                    contactUser=b.contact_user)
            try:
                granted, code = await self.register(b, expires)
            except RegistrationError as e:
                b.registered = False
                log.warning("registration %s (%s@%s): %s", b.row.id, b.row.username, b.row.domain, e)
                await asyncio.to_thread(self.store.save_registration, b.row.id, registered=False, inProgress=False,
                                        expiresAt=None, lastCode=e.code, lastError=str(e)[:255],
                                        contactUser=b.contact_user)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, self.settings.retry_max)
                continue
            backoff = self.settings.retry_min
            b.registered = granted > 0
            now = self.store.clock()
            await asyncio.to_thread(self.store.save_registration, b.row.id, registered=granted > 0, inProgress=False,
                                    expiresAt=now + dt.timedelta(seconds=granted), lastCode=code, lastError=None,
                                    contactUser=b.contact_user)
            # refresh at 80 % of the granted time (at least 1 s before expiry when it is short)
            await asyncio.sleep(max(1.0, min(granted * 0.8, granted - 1.0)))

    async def register(self, b: Binding, expires: int) -> tuple[int, int]:
        """One REGISTER transaction (with digest authentication and 423 handling).
        Returns (granted expires, status code) or raises RegistrationError."""
        row = b.row
        if not row.domain or not row.username:
            raise RegistrationError("username and domain are required")
        udp = await self.sockets.get(row.local_ip)  # its DDI provider's proxy trunks address
        try:
            target = sipmsg.parse_target(row.auth_proxy or row.domain)
            addr = await udp.resolve(*target)
        except (OSError, ValueError) as e:
            raise RegistrationError(f"cannot resolve registrar {row.auth_proxy or row.domain}: {e}") from e
        ruri = row.domain if row.domain.lower().startswith("sip:") else f"sip:{row.domain}"
        aor = f"sip:{row.username}@{ruri[4:]}"
        contact_host = row.contact_host or self.settings.contact_host
        chost = f"[{contact_host}]" if ":" in contact_host else contact_host
        contact_uri = f"sip:{b.contact_user}@{chost}:{self.settings.contact_port}"
        me = f"[{udp.host}]" if ":" in udp.host else udp.host
        auth: str | None = None
        challenges = 0
        while True:
            b.cseq += 1
            branch = udp.new_branch()
            extra = [f"Expires: {expires}"] + ([auth] if auth else [])
            data = sipmsg.build_request("REGISTER", ruri, via_host=me, via_port=udp.port, branch=branch,
                                        from_uri=aor, from_tag=b.from_tag, to_uri=aor, call_id=b.call_id,
                                        cseq=b.cseq, extra=extra, contact=f"<{contact_uri}>")
            resp = await udp.transaction(data, branch, addr, self.settings.register_timeout)
            if resp is None:
                raise RegistrationError(f"no reply from registrar {addr[0]}:{addr[1]}")
            code = resp.status
            if 200 <= code < 300:
                return (0 if expires == 0 else sipmsg.granted_expires(resp, contact_uri, expires)), code
            if code in (401, 407):
                header = resp.get("www-authenticate" if code == 401 else "proxy-authenticate")
                try:
                    params = sipmsg.challenge_params(header or "")
                except ValueError as e:
                    raise RegistrationError(f"{code} {resp.reason}: {e}", code) from e
                stale = params.get("stale", "").lower() == "true"
                challenges += 1
                if challenges > 2 or (auth is not None and not stale):
                    raise RegistrationError(f"{code} {resp.reason}: authentication rejected", code)
                if row.realm and params.get("realm", "") != row.realm:
                    raise RegistrationError(f"{code} {resp.reason}: realm {params.get('realm')!r} is not the "
                                            f"configured {row.realm!r}", code)
                user = row.auth_username or row.username
                try:
                    value = sipmsg.digest_authorization(params, "REGISTER", ruri, user, row.auth_password)
                except ValueError as e:
                    raise RegistrationError(f"{code} {resp.reason}: {e}", code) from e
                auth = f"{'Authorization' if code == 401 else 'Proxy-Authorization'}: {value}"
                continue
            if code == 423 and expires > 0:
                minimum = (resp.get("min-expires") or "").strip()
                if minimum.isdigit() and int(minimum) > expires:
                    expires = int(minimum)
                    continue
            raise RegistrationError(f"{code} {resp.reason}", code)


# ----------------------------------------------------------------------------- the process
def _log_failure(task: asyncio.Task[Any]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("trunks agent: ping round failed", exc_info=task.exception())


class Agent:
    def __init__(self, engine: Engine, settings: AgentSettings, clock: Callable[[], dt.datetime] = utcnow) -> None:
        self.store = Store(engine, clock)
        self.settings = settings
        self.pinger = Pinger(self.store, settings)
        self.registrar = Registrar(self.store, settings)
        self._stopping = asyncio.Event()

    def stop(self) -> None:
        self._stopping.set()

    async def run(self) -> None:
        await self.pinger.sockets.open(self.settings.host)
        await self.registrar.sockets.open(self.settings.host)
        log.info("trunks agent: pinging from %s:%s, registering from %s:%s (contact %s:%s)",
                 self.pinger.udp.host, self.pinger.udp.port, self.registrar.udp.host, self.registrar.udp.port,
                 self.settings.contact_host, self.settings.contact_port)
        loop = asyncio.get_running_loop()
        version: int | str | None = "unset"
        next_ping = 0.0
        round_task: asyncio.Task[dict[int, int | None]] | None = None
        try:
            while not self._stopping.is_set():
                try:
                    v = await asyncio.to_thread(self.store.version)
                    if v != version:
                        servers, regs, users = await asyncio.to_thread(self.store.load, self.pinger.udp.host)
                        version = v
                        self.pinger.servers = servers
                        await self.registrar.sync(regs, users)
                        next_ping = 0.0  # ping at once after a change
                    if loop.time() >= next_ping and (round_task is None or round_task.done()):
                        round_task = asyncio.create_task(self.pinger.round())
                        round_task.add_done_callback(_log_failure)
                        next_ping = loop.time() + self.settings.interval
                except Exception:  # database away: log and keep going
                    log.exception("trunks agent: cycle failed")
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stopping.wait(), self.settings.poll)
        finally:
            if round_task is not None and not round_task.done():
                round_task.cancel()
            await self.registrar.stop()
            self.pinger.sockets.close()
            self.registrar.sockets.close()
