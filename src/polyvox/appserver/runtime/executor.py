"""The executor: runs the dialplan's scripts over SIP legs (B2BUA call model).

One :class:`CallSession` per incoming INVITE: it builds the ``plan.IncomingCall``, asks the
dialplan for a script and runs its actions: :class:`~polyvox.appserver.plan.Dial` = parallel UAC
legs (first 2xx wins, the others are cancelled), :class:`~polyvox.appserver.plan.Reject` = final
response. Once bridged it relays BYE and re-INVITEs in both directions and handles blind
transfers (REFER). Everything runs on the asyncio loop; SIP is behind
:class:`~polyvox.appserver.runtime.legs.Leg`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import wait as wait_futures
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

from polyvox.appserver import active, journal, plan
from polyvox.appserver.runtime.legs import (
    Acked,
    Answered,
    Ended,
    Failed,
    Info,
    InviteInfo,
    Leg,
    LegEvent,
    OutgoingCall,
    Progress,
    Refer,
    Reinvite,
    ReinviteDone,
    SipStack,
)
from polyvox.appserver.runtime.presence import ActiveCalls

log = logging.getLogger("polyvox.appserver")
T = TypeVar("T")


class BadContext(ValueError):
    pass


@dataclass(frozen=True)
class Peers:
    """Where the application server sends calls: proxy-users and proxy-trunks (host, port), and
    its own address (From host of external calls)."""

    users: tuple[str, int]
    trunks: tuple[str, int]
    local: tuple[str, int]


def _int(headers: dict[str, str], name: str, required: bool = False) -> int | None:
    v = headers.get(name)
    if v is None or v == "":
        if required:
            raise BadContext(f"missing {name}")
        return None
    try:
        return int(v)
    except ValueError as e:
        raise BadContext(f"invalid {name}: {v!r}") from e


def incoming_call(info: InviteInfo, peers: Peers, now: datetime) -> plan.IncomingCall:
    """``plan.IncomingCall`` from an INVITE of proxy-users (ENDPOINT) or proxy-trunks (INBOUND /
    BOUNCED) and its ``X-Info-*`` headers (docs/sip.md §4, §9.4). Raises :class:`BadContext`."""
    xi = {k: v for k, v in info.headers.items() if k.startswith("x-info-")}
    if info.source == peers.users:
        origin = plan.Origin.ENDPOINT
    elif info.source == peers.trunks:
        origin = plan.Origin.BOUNCED if xi.get("x-info-bounced", "").lower() == "yes" else plan.Origin.INBOUND
    else:
        raise BadContext("unknown source")
    brand = _int(xi, "x-info-brandid", True)
    company = _int(xi, "x-info-companyid", True)
    assert brand is not None and company is not None
    if not info.ruri_user:
        raise BadContext("no user part in the Request-URI")
    return plan.IncomingCall(
        call_id=info.call_id, origin=origin, brand_id=brand, company_id=company,
        company_type=xi.get("x-info-type", ""), dialled=info.ruri_user,
        caller=xi.get("x-info-caller") or info.from_user, caller_name=info.from_name, now=now, headers=xi,
        endpoint_type=xi.get("x-info-endpointtype"), endpoint_id=_int(xi, "x-info-endpointid"),
        endpoint_name=xi.get("x-info-endpointname"), user_id=_int(xi, "x-info-userid"),
        ddi_id=_int(xi, "x-info-ddiid"), ddi=xi.get("x-info-ddi"), ddi_provider_id=_int(xi, "x-info-ddiproviderid"),
        diversion=info.diversion)


def display_name(name: str | None) -> str | None:
    """A display name safe in a quoted-string (From, P-Asserted-Identity): without quotes,
    backslashes and line breaks."""
    if name is None:
        return None
    return " ".join(name.translate({ord(c): " " for c in '"\\\r\n'}).split())


def asserted_identity(user: str, host: str, name: str | None) -> str:
    """``P-Asserted-Identity`` value (RFC 3325): ``"name" <sip:user@host>``, no display name when
    ``name`` is empty (as Asterisk's ``send_pai``: the From URI with the caller id)."""
    uri = f"<sip:{user}@{host}>"
    return f'"{name}" {uri}' if name else uri


def classify(codes: list[int]) -> tuple[plan.DialResult, int | None]:
    """Outcome of a dial whose branches all failed, from their final codes (best branch first:
    6xx, then busy, then the rest)."""
    if not codes:
        return plan.DialResult.UNAVAILABLE, None
    for c in codes:
        if c == 603:
            return plan.DialResult.REJECTED, c
    for c in codes:
        if c in (486, 600):
            return plan.DialResult.BUSY, c
    for c in codes:
        if c >= 600:
            return plan.DialResult.REJECTED, c
    best = min(codes, key=lambda c: (c // 100 != 4, c))
    return plan.DialResult.UNAVAILABLE, best


class Executor:
    def __init__(self, stack: SipStack, dialplan: plan.Dialplan, peers: Peers,
                 clock: Callable[[], datetime] = lambda: datetime.now(UTC),
                 presence: ActiveCalls | None = None, dialplan_timeout: float = 10.0,
                 active_calls: active.Publisher | None = None, call_journal: journal.Journal | None = None) -> None:
        self.stack = stack
        self.dialplan = dialplan
        self.peers = peers
        self.clock = clock
        self.presence = presence or ActiveCalls()
        self.sessions: set[CallSession] = set()
        self.started = self.answered = self.failed = 0
        # The dialplan (database reads) runs in one thread of its own, one call at a time, so that a
        # slow or unreachable database never freezes the signalling of calls already set up; a
        # dialplan call that takes longer than ``dialplan_timeout`` seconds fails the call (500).
        self.pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="dialplan")
        self.dialplan_timeout = dialplan_timeout
        self._tasks: set[asyncio.Future[Any]] = set()
        # call registry writes (CallScript.ended) not done yet: close() waits for them
        self._records: set[Future[None]] = set()
        # active calls (spec 10.1.14): snapshots of the calls, written by the publisher's DB thread
        self.active_calls = active_calls
        # answered calls, so that their records survive this process (docs/appserver.md §3.8)
        self.journal = call_journal

    def publish(self, session: CallSession) -> None:
        """The call's entries changed (new participant, ringing, answer, transfer, end)."""
        if self.active_calls is None:
            return
        try:
            self.active_calls.publish(session.snapshot())
        except Exception:  # active calls must never break a call
            log.exception("call %s: active calls snapshot failed", session.call.call_id)

    def ask(self, what: str, call_id: str, fn: Callable[[], T], then: Callable[[T], None],
            on_error: Callable[[], None]) -> None:
        """Runs ``fn`` (dialplan code) in the dialplan thread, then ``then(result)`` on the loop."""
        async def go() -> None:
            loop = asyncio.get_running_loop()
            try:
                result = await asyncio.wait_for(loop.run_in_executor(self.pool, fn), self.dialplan_timeout)
            except TimeoutError:
                log.error("call %s: %s took more than %s s", call_id, what, self.dialplan_timeout)
                on_error()
                return
            except Exception:
                log.exception("call %s: %s failed", call_id, what)
                on_error()
                return
            then(result)

        task = asyncio.ensure_future(go())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def tell(self, what: str, call_id: str, fn: Callable[[], None], keep: bool = False) -> None:
        """Runs ``fn`` (dialplan code whose result is not needed) in the dialplan thread; ``keep``:
        :meth:`close` waits for it (call registry writes)."""
        def safe() -> None:
            try:
                fn()
            except Exception:
                log.exception("call %s: %s failed", call_id, what)

        try:
            fut = self.pool.submit(safe)
        except RuntimeError:  # pool already shut down
            log.error("call %s: %s dropped (stopping)", call_id, what)
            return
        if keep:
            self._records.add(fut)
            fut.add_done_callback(self._records.discard)

    def close(self, record_timeout: float = 10.0) -> None:
        """Stops the dialplan thread once the call registry writes already queued are done."""
        pending = list(self._records)
        if pending:
            wait_futures(pending, timeout=record_timeout)
        self.pool.shutdown(wait=False, cancel_futures=True)

    def shutdown(self) -> int:
        """Ends every call in progress (BYE to both sides, 503 to callers still routing or ringing)
        so that the proxies' dialogs and media sessions are released; returns how many."""
        sessions = list(self.sessions)
        for s in sessions:
            s.stop()
        return len(sessions)

    def leg_by_call_id(self, call_id: str) -> tuple[CallSession, Leg] | None:
        """The bridged leg with this Call-ID (attended transfers' Replaces)."""
        for s in self.sessions:
            for leg in (s.a, s.b):
                if leg is not None and leg.call_id == call_id and not s.over:
                    return s, leg
        return None

    def on_incoming(self, leg: Leg, info: InviteInfo) -> None:
        self.started += 1
        try:
            call = incoming_call(info, self.peers, self.clock())
        except BadContext as e:
            log.warning("call %s from %s:%s refused: %s", info.call_id, *info.source, e)
            leg.reject(403, f"Forbidden: {e}")
            return
        log.info("call %s: %s %s → %s (company %s)", call.call_id, call.origin.value, call.caller, call.dialled,
                 call.company_id)
        session = CallSession(self, leg, call)
        self.sessions.add(session)
        session.start()

    # --------------------------------------------------------------- targets → SIP
    def outgoing(self, call: plan.IncomingCall, t: plan.Target, sdp: str | None) -> OutgoingCall:
        from_user = t.from_user or call.caller
        from_name = display_name(t.from_name if t.from_name is not None else call.caller_name)
        if t.kind == plan.TargetKind.ENDPOINT:
            host = t.domain or self.peers.users[0]
            ep_headers = t.headers
            if t.pai_user and not any(k.lower() == "p-asserted-identity" for k, _ in ep_headers):
                ep_headers = (*ep_headers, ("P-Asserted-Identity", asserted_identity(t.pai_user, host, from_name)))
            return OutgoingCall(next_hop=self.peers.users, ruri_user=t.ruri_user, ruri_host=host,
                                from_user=from_user, from_host=host, from_name=from_name, sdp=sdp,
                                headers=ep_headers, no_reply_timeout=32.0)
        headers = list(t.headers)
        names = {k.lower() for k, _ in headers}
        for name, value in (("X-Info-BrandId", str(call.brand_id)), ("X-Info-CompanyId", str(call.company_id)),
                            ("X-Info-Caller", from_user)):
            if name.lower() not in names:
                headers.append((name, value))
        th, tp = self.peers.trunks
        lh, lp = self.peers.local
        return OutgoingCall(next_hop=self.peers.trunks, ruri_user=t.ruri_user, ruri_host=f"{th}:{tp}",
                            from_user=from_user, from_host=f"{lh}:{lp}", from_name=from_name, sdp=sdp,
                            headers=tuple(headers), no_reply_timeout=32.0)


class DialRun:
    """One Dial action: parallel UAC legs towards its targets.

    A target with ``ring_timeout`` is cancelled alone after so many seconds (plain CANCEL) while
    the others keep ringing; its ``forward_no_answer`` / ``forward_busy`` target, if any, then
    rings in its place in the same dial. When the dial is answered, the losing branches are
    cancelled with ``Dial.cancel_reason`` as RFC 3326 Reason header.
    """

    def __init__(self, session: CallSession, dial: plan.Dial, sdp: str | None,
                 on_progress: Callable[[Progress], None], on_answer: Callable[[DialRun, Leg, plan.Target], None],
                 on_fail: Callable[[plan.DialOutcome], None]) -> None:
        self.session = session
        self.dial = dial
        self.sdp = sdp
        self.on_progress, self.on_answer, self.on_fail = on_progress, on_answer, on_fail
        self.legs: dict[Leg, plan.Target] = {}
        self.branch_timers: dict[Leg, asyncio.TimerHandle] = {}
        self.codes: list[tuple[int, plan.Target]] = []
        self.reasons: dict[int, str] = {}  # first reason phrase received for each final code
        self.timed_out: list[plan.Target] = []  # branches cancelled at their own ring_timeout
        self.done = False
        self.timer: asyncio.TimerHandle | None = None
        for t in dial.targets:
            self._start(t)
        if dial.timeout is not None:
            self.timer = asyncio.get_running_loop().call_later(dial.timeout, self.timeout)
        if not dial.targets:
            asyncio.get_running_loop().call_soon(self._maybe_failed)

    def _start(self, t: plan.Target) -> None:
        ex = self.session.ex
        leg = ex.stack.call(ex.outgoing(self.session.call, t, self.sdp), self.event, label=t.label)
        self.legs[leg] = t
        self.session.tried.append(t)
        self.session.joined(leg, active.TargetIdent(t, self.session.call.brand_id, self.session.call.company_id))
        ex.presence.add(t.user_id)
        if t.ring_timeout is not None and t.ring_timeout > 0:
            self.branch_timers[leg] = asyncio.get_running_loop().call_later(t.ring_timeout, self.branch_timeout,
                                                                             leg)

    def _release(self, leg: Leg) -> None:
        timer = self.branch_timers.pop(leg, None)
        if timer is not None:
            timer.cancel()
        t = self.legs.pop(leg, None)
        if t is not None:
            self.session.ex.presence.remove(t.user_id)
            self.session.ex.publish(self.session)

    def cancel(self, reason: str | None = None) -> None:
        """Stop every leg still ringing (CANCEL, with ``reason`` as Reason header if given)."""
        self.done = True
        if self.timer:
            self.timer.cancel()
        for leg in list(self.legs):
            leg.hangup(reason)
            self._release(leg)

    def timeout(self) -> None:
        if self.done:
            return
        self.cancel()
        self.on_fail(plan.DialOutcome(plan.DialResult.NO_ANSWER))

    def branch_timeout(self, leg: Leg) -> None:
        """A branch's own ring timeout: cancel it alone; its no-answer forward rings instead."""
        self.branch_timers.pop(leg, None)
        if self.done or leg not in self.legs:
            return
        t = self.legs[leg]
        log.info("call %s: branch %s not answered in %s s", self.session.call.call_id, t.label or t.ruri_user,
                 t.ring_timeout)
        leg.hangup()
        self._release(leg)
        if t.forward_no_answer is not None:
            self._start(t.forward_no_answer)
            return
        self.timed_out.append(t)
        self._maybe_failed()

    def event(self, leg: Leg, ev: LegEvent) -> None:
        if self.done or leg not in self.legs:
            if isinstance(ev, Answered):
                leg.hangup()  # answered after it lost: hang it up
            return
        if isinstance(ev, Progress):
            if leg not in self.session.ringing:
                self.session.ringing.add(leg)
                self.session.ex.publish(self.session)
            self.on_progress(ev)
        elif isinstance(ev, Answered):
            target = self.legs[leg]
            self.done = True
            if self.timer:
                self.timer.cancel()
            timer = self.branch_timers.pop(leg, None)
            if timer is not None:
                timer.cancel()
            del self.legs[leg]  # the winner keeps its presence until the call ends
            for other in list(self.legs):
                other.hangup(self.dial.cancel_reason)
                self._release(other)
            self.on_answer(self, leg, target)
        elif isinstance(ev, (Failed, Ended)):
            code = ev.code if isinstance(ev, Failed) else 480
            if isinstance(ev, Failed) and ev.reason:
                self.reasons.setdefault(code, ev.reason)
            t = self.legs[leg]
            self._release(leg)
            if code in (486, 600) and t.forward_busy is not None:
                self._start(t.forward_busy)
                return
            self.codes.append((code, t))
            self._maybe_failed()

    def _maybe_failed(self) -> None:
        if self.done or self.legs:
            return
        self.done = True
        if self.timer:
            self.timer.cancel()
        result, code = classify([c for c, _ in self.codes])
        target = next((t for c, t in self.codes if c == code), None)
        if self.timed_out and result is plan.DialResult.UNAVAILABLE:
            # some branches rang until their own timeout and no other said busy/declined
            result, code, target = plan.DialResult.NO_ANSWER, None, self.timed_out[0]
        self.on_fail(plan.DialOutcome(result, code, target, self.reasons.get(code) if code else None))


class CallSession:
    def __init__(self, ex: Executor, caller: Leg, call: plan.IncomingCall) -> None:
        self.ex = ex
        self.a = caller
        self.call = call
        self.script: plan.CallScript | None = None
        self.dial: DialRun | None = None
        self.b: Leg | None = None
        self.b_target: plan.Target | None = None
        self.rung = False
        self.over = False
        # bridged re-INVITE in progress: the leg that asked
        self.reinviting: Leg | None = None
        # blind transfer in progress
        self.xfer: Transfer | None = None
        # legs whose re-INVITE answer is ours to swallow
        self.swallow: set[Leg] = set()
        # answered targets still in the call (their users count as busy until the end)
        self.held: list[plan.Target] = []
        # blind... "blond" transfer waiting for this (ringing) call: its answer goes to that transfer
        self.blond: Transfer | None = None
        # call registry (CallScript.ended): every target dialled, when answered, the final code sent
        self.tried: list[plan.Target] = []
        self.answered_at: datetime | None = None
        self.final_code: int | None = None
        self.last_result: plan.DialResult | None = None
        self.handed_over = False  # the caller leg went to a blond transfer: that call is recorded there
        # active calls: who each leg is, when it joined, when it was answered, which legs ring
        self.key = ex.active_calls.session_key() if ex.active_calls is not None else call.call_id
        self.who: dict[Leg, active.Ident] = {caller: active.CallerIdent(call)}
        self.since: dict[Leg, datetime] = {caller: call.now}
        self.up: dict[Leg, datetime] = {}
        self.ringing: set[Leg] = set()
        caller.set_handler(self.event)

    # ------------------------------------------------------------------ active calls
    def joined(self, leg: Leg, who: active.Ident, since: datetime | None = None) -> None:
        self.who[leg] = who
        self.since[leg] = since or self.ex.clock()
        self.ex.publish(self)

    def snapshot(self) -> active.Snapshot:
        """One entry per participant (external ones are dropped when written): the caller side
        ``a`` and the bridged ``b``, every target still ringing (party: the side it rings for)."""
        trunk = tuple(sorted({leg.call_id for leg, w in self.who.items() if active.is_trunk_leg(w)}))
        if self.over:
            return active.Snapshot(self.key, self.call.call_id, (), trunk)
        entries: list[active.Entry] = []
        a_who, b_who = self.who.get(self.a), self.who.get(self.b) if self.b is not None else None
        if a_who is not None:
            state = "confirmed" if self.b is not None else "early" if self.rung else "trying"
            party: active.Ident | str = b_who if b_who is not None else self.call.dialled
            entries.append(active.Entry(a_who, state, party, self.since.get(self.a, self.call.now),
                                        self.up.get(self.a)))
        if self.b is not None and b_who is not None:
            entries.append(active.Entry(b_who, "confirmed", a_who if a_who is not None else self.call.caller,
                                        self.since.get(self.b, self.call.now), self.up.get(self.b)))
        runs: list[tuple[DialRun, Leg | None]] = []
        if self.dial is not None:
            runs.append((self.dial, self.a))
        if self.xfer is not None and self.xfer.dial is not None:
            runs.append((self.xfer.dial, self.xfer.y))
        for run, side in runs:
            side_who = self.who.get(side) if side is not None else None
            for leg in run.legs:
                w = self.who.get(leg)
                if w is None:
                    continue
                entries.append(active.Entry(w, "early" if leg in self.ringing else "trying",
                                            side_who if side_who is not None else self.call.caller,
                                            self.since.get(leg, self.call.now)))
        return active.Snapshot(self.key, self.call.call_id, tuple(entries), trunk)

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> None:
        self.ex.presence.add(self.call.user_id)
        self.ex.publish(self)
        dialplan, call, presence = self.ex.dialplan, self.call, self.ex.presence

        def open_script() -> tuple[plan.CallScript, plan.Action]:
            script = dialplan.script(call, presence)
            return script, script.first()

        def then(result: tuple[plan.CallScript, plan.Action]) -> None:
            self.script = result[0]
            self.run(result[1])

        self.ex.ask("dialplan", call.call_id, open_script, then, self.dialplan_error)

    def dialplan_error(self) -> None:
        if not self.over:
            self.fail(500, "Server Internal Error: dialplan failed")

    def run(self, action: plan.Action) -> None:
        if self.over:
            return
        if isinstance(action, plan.Reject):
            log.info("call %s: reject %s %s", self.call.call_id, action.code, action.reason)
            self.fail(action.code, action.reason)
            return
        log.info("call %s: dial %s (timeout %s)", self.call.call_id,
                 ", ".join(t.label or t.ruri_user for t in action.targets), action.timeout)
        if action.ring_back and not self.rung:
            self.rung = True
            self.a.progress(180, "Ringing")
        self.dial = DialRun(self, action, self.a.remote_sdp, self.relay_progress, self.answered, self.dial_failed)
        self.ex.publish(self)

    def stop(self) -> None:
        if self.over:
            return
        if self.xfer is not None:
            self.xfer.cancel()
            if not self.xfer.x_gone:
                self.xfer.x.hangup()
        if self.b is None:
            self.fail(503, "Service Unavailable: application server stopping")
            return
        self.a.hangup()
        self.b.hangup()
        self.finish()

    def fail(self, code: int, reason: str) -> None:
        if not 300 <= code <= 699:  # a dialplan bug must not answer or half-answer the call
            log.error("call %s: invalid reject code %s (%s)", self.call.call_id, code, reason)
            code, reason = 500, "Server Internal Error: invalid reject code"
        self.a.reject(code, reason)
        self.ex.failed += 1
        self.final_code = code
        self.finish()

    def finish(self) -> None:
        if self.over:
            return
        self.over = True
        if self.blond is not None:  # the ringing call a blond transfer waited for ended unanswered
            xfer, self.blond = self.blond, None
            if xfer.current():
                xfer.failed(480, "Temporarily Unavailable")
        if self.dial:
            self.dial.cancel()
        if self.xfer:
            self.xfer.cancel()
        self.ex.presence.remove(self.call.user_id)
        for t in self.held:
            self.ex.presence.remove(t.user_id)
        self.held.clear()
        self.ex.sessions.discard(self)
        self.ex.publish(self)
        self.record()

    def disposition(self) -> plan.Disposition:
        if self.answered_at is not None:
            return plan.Disposition.ANSWERED
        code = self.final_code
        if code is None or code == 487:
            return plan.Disposition.CANCELLED
        if code in (486, 600) or self.last_result is plan.DialResult.BUSY:
            return plan.Disposition.BUSY
        if self.last_result is plan.DialResult.NO_ANSWER:
            return plan.Disposition.NO_ANSWER
        return plan.Disposition.FAILED

    def journal_put(self) -> None:
        """The call is answered, or its answered party changed: its journal row says so."""
        if self.ex.journal is None or self.answered_at is None:
            return
        try:
            self.ex.journal.put(self.key, journal.Answered(self.call, self.answered_at, self.b_target,
                                                           tuple(self.tried)))
        except Exception:  # the journal must never break a call
            log.exception("call %s: journal entry failed", self.call.call_id)

    def record(self) -> None:
        """Tells the script how the call ended (call registry), in the dialplan thread; then the
        call's journal row goes (after the registry write: a crash in between leaves the row, and
        the dialplan's ``record_lost`` sees the rows already written)."""
        script = self.script
        ended = getattr(script, "ended", None)
        jr = self.ex.journal if self.answered_at is not None else None
        key = self.key
        if ended is None or self.handed_over:
            if jr is not None:
                jr.forget(key)
            return
        info = plan.CallEnded(self.disposition(), self.call.now, self.ex.clock(), self.answered_at, self.b_target,
                              self.final_code, tuple(self.tried))

        def write() -> None:
            ended(info)
            if jr is not None:
                jr.forget(key)

        self.ex.tell("script.ended", self.call.call_id, write, keep=True)

    # ------------------------------------------------------------------ dialing
    def relay_progress(self, ev: Progress) -> None:
        if self.b is not None:
            return
        if ev.sdp:
            self.a.progress(ev.code, ev.reason, ev.sdp)
        elif not self.rung:
            self.a.progress(180, "Ringing")
        else:
            return
        if not self.rung:
            self.rung = True
            self.ex.publish(self)

    def answered(self, run: DialRun, leg: Leg, target: plan.Target) -> None:
        self.dial = None
        xfer, self.blond = self.blond, None
        if xfer is not None and xfer.current():  # the transferor's caller leg gives way to the transferee
            self.a.reject(487, "Request Terminated: transferred")
            self.handed_over = True
            self.finish()
            xfer.answered(run, leg, target)
            xfer.s.swallow.add(leg)
            leg.reinvite(xfer.y.remote_sdp)  # the new party answered the transferor's offer
            return
        self.b, self.b_target = leg, target
        self.answered_at = self.ex.clock()
        self.up[leg] = self.up[self.a] = self.answered_at
        self.held.append(target)
        leg.set_handler(self.event)
        self.a.answer(leg.remote_sdp)
        self.ex.answered += 1
        self.ex.publish(self)
        self.journal_put()
        script = self.script
        if script is not None:
            self.ex.tell("script.answered", self.call.call_id, lambda: script.answered(target))

    def dial_failed(self, outcome: plan.DialOutcome) -> None:
        self.dial = None
        self.last_result = outcome.result
        log.info("call %s: dial ended %s %s", self.call.call_id, outcome.result.value, outcome.code or "")
        script = self.script
        if self.over or script is None:
            return
        self.ex.ask("script.after", self.call.call_id, lambda: script.after(outcome), self.run,
                    self.dialplan_error)

    def release(self, leg: Leg) -> None:
        """``leg`` leaves the call: its target's user is no longer busy with it."""
        if leg is self.b and self.b_target is not None and self.b_target in self.held:
            self.held.remove(self.b_target)
            self.ex.presence.remove(self.b_target.user_id)

    # ------------------------------------------------------------------ events of bridged legs
    def other(self, leg: Leg) -> Leg | None:
        if leg is self.a:
            return self.b
        if leg is self.b:
            return self.a
        return None

    def event(self, leg: Leg, ev: LegEvent) -> None:
        if self.over:
            return
        if self.xfer is not None and self.xfer.event(leg, ev):
            return
        if leg is not self.a and leg is not self.b:
            return  # a leg that left the call (transferor after a transfer)
        if isinstance(ev, Ended):
            if leg is self.a and self.b is None:  # CANCEL from the caller
                if self.dial is not None:
                    self.dial.cancel()
                self.finish()
                return
            other = self.other(leg)
            if other is not None:
                other.hangup()
            self.finish()
        elif isinstance(ev, Info):
            other = self.other(leg)
            if other is not None:
                other.info(ev.content_type, ev.body)  # SIP INFO (DTMF relay) passes through
        elif isinstance(ev, Acked):
            other = self.other(leg)
            if other is not None:
                other.ack(ev.sdp)  # late offer: the caller's answer goes in the callee's ACK
        elif isinstance(ev, Reinvite):
            other = self.other(leg)
            if other is None or self.reinviting is not None:
                leg.reject_reinvite(491, "Request Pending")
                return
            self.reinviting = leg
            other.reinvite(ev.sdp)
        elif isinstance(ev, ReinviteDone):
            if leg in self.swallow:  # answer to a re-INVITE of our own (transfer): nothing to relay
                self.swallow.discard(leg)
                return
            asker, self.reinviting = self.reinviting, None
            if asker is None or asker is leg:
                return
            if 200 <= ev.code < 300:
                asker.accept_reinvite(ev.sdp)
            else:
                asker.reject_reinvite(ev.code, ev.reason)
        elif isinstance(ev, Refer):
            other = self.other(leg)
            if other is None:
                leg.notify_refer(603, "Declined", True)
                return
            if ev.replaces:
                self.attended(leg, other, ev)
                return
            self.xfer = Transfer(self, transferor=leg, transferee=other, refer=ev)
            self.xfer.start()

    def attended(self, x: Leg, y: Leg, refer: Refer) -> None:
        """Attended transfer: ``x`` (transferor) asks to replace its other call (``Replaces``) by
        this one's party ``y``. Both calls must be handled by this process; the two remaining
        parties are re-INVITEd with each other's SDP and the transferor's two legs are released."""
        replaced_id = (refer.replaces or "").split(";", 1)[0].strip()
        found = self.ex.leg_by_call_id(replaced_id)
        if found is None or found[0] is self:
            x.notify_refer(481, "Call/Transaction Does Not Exist", True)
            return
        s2, x2 = found
        c = s2.other(x2)
        if c is None and x2 is s2.a and s2.dial is not None and s2.xfer is None and s2.blond is None:
            # "blond": the call to replace still rings; its target will be connected to y on answer
            log.info("call %s: blond transfer to the ringing call %s", self.call.call_id, replaced_id)
            self.xfer = Transfer(self, transferor=x, transferee=y, refer=refer)
            x.notify_refer(180, "Ringing", False)
            s2.blond = self.xfer
            return
        if c is None or s2.xfer is not None:
            x.notify_refer(481, "Call/Transaction Does Not Exist", True)
            return
        log.info("call %s: attended transfer, %s replaces %s", self.call.call_id, refer.target_user, replaced_id)
        c_target = s2.b_target if c is s2.b else None
        # end s2 without touching c (finish() only stops dials and counts); release the transferor
        x.notify_refer(200, "OK", True)
        x.hangup()
        x2.hangup()
        s2.finish()
        self.release(x)
        if c_target is not None:  # s2.finish() released it there
            self.ex.presence.add(c_target.user_id)
            self.held.append(c_target)
        if x is self.b:
            self.b, self.b_target = c, c_target
        else:
            self.a = c
        if c in s2.who:
            self.who[c], self.since[c] = s2.who[c], s2.since.get(c, s2.call.now)
        now = self.ex.clock()
        self.up[c] = self.up[y] = now
        c.set_handler(self.event)
        self.ex.publish(self)
        self.journal_put()
        self.swallow.update((c, y))
        c.reinvite(y.remote_sdp)
        y.reinvite(c.remote_sdp)


class Transfer:
    """Blind transfer: the transferee (the bridged party of the REFER's sender) is connected to
    what the dialplan makes of the Refer-To number; the transferor gets NOTIFY sipfrag."""

    def __init__(self, s: CallSession, transferor: Leg, transferee: Leg, refer: Refer) -> None:
        self.s = s
        self.x, self.y = transferor, transferee
        self.refer = refer
        self.x_gone = False
        self.dial: DialRun | None = None
        self.script: plan.CallScript | None = None
        self.new_target: plan.Target | None = None
        self.c: Leg | None = None

    def start(self) -> None:
        self.x.notify_refer(100, "Trying", False)
        transferor = self.s.b_target if self.x is self.s.b else None
        dialplan, call, presence, number = self.s.ex.dialplan, self.s.call, self.s.ex.presence, self.refer.target_user

        def open_script() -> tuple[plan.CallScript, plan.Action]:
            script = dialplan.transfer(call, presence, transferor, number)
            return script, script.first()

        def then(result: tuple[plan.CallScript, plan.Action]) -> None:
            self.script = result[0]
            self.run(result[1])

        self.s.ex.ask("dialplan transfer", call.call_id, open_script, then, self.dialplan_error)

    def current(self) -> bool:
        return not self.s.over and self.s.xfer is self

    def dialplan_error(self) -> None:
        if self.current():
            self.failed(500, "Server Internal Error")

    def run(self, action: plan.Action) -> None:
        if not self.current():
            return
        if isinstance(action, plan.Reject):
            self.failed(action.code, action.reason)
            return
        self.dial = DialRun(self.s, action, self.y.remote_sdp, lambda ev: None, self.answered, self.dial_failed)
        self.s.ex.publish(self.s)

    def dial_failed(self, outcome: plan.DialOutcome) -> None:
        self.dial = None
        script = self.script
        if script is None or not self.current():
            return
        self.s.ex.ask("transfer script.after", self.s.call.call_id, lambda: script.after(outcome), self.run,
                      self.dialplan_error)

    def failed(self, code: int, reason: str) -> None:
        """The transfer did not connect: the transferor is told; if it already left, the
        transferee is hung up."""
        s = self.s
        s.xfer = None
        if not self.x_gone:
            self.x.notify_refer(code, reason, True)
            return
        self.y.hangup()
        s.finish()

    def answered(self, run: DialRun, leg: Leg, target: plan.Target) -> None:
        s = self.s
        self.dial = None
        s.xfer = None
        if not self.x_gone:
            self.x.notify_refer(200, "OK", True)
            self.x.hangup()
        # new pair: transferee (keeps its role a/b) and the new leg
        s.release(self.x)
        s.held.append(target)
        if self.y is s.a:
            s.b, s.b_target = leg, target
        else:
            s.a, s.b = self.y, leg
            s.b_target = target
        if leg not in s.who:  # a blond transfer: the leg rang in another call
            s.who[leg], s.since[leg] = active.TargetIdent(target, s.call.brand_id, s.call.company_id), s.ex.clock()
        s.up[leg] = s.up[self.y] = s.ex.clock()
        leg.set_handler(s.event)
        s.ex.publish(s)
        s.journal_put()
        s.reinviting = self.y
        self.y.reinvite(leg.remote_sdp)
        script = self.script
        if script is not None:
            s.ex.tell("transfer script.answered", s.call.call_id, lambda: script.answered(target))

    def cancel(self) -> None:
        if self.dial is not None:
            self.dial.cancel()
            self.dial = None

    def event(self, leg: Leg, ev: LegEvent) -> bool:
        """Events of the bridged pair while the transfer runs; True = handled here."""
        if isinstance(ev, Ended) and leg is self.x:
            self.x_gone = True
            return True
        if isinstance(ev, Ended) and leg is self.y:
            self.cancel()
            self.s.xfer = None
            if not self.x_gone:
                self.x.hangup()
            self.s.finish()
            return True
        if isinstance(ev, Refer):
            leg.notify_refer(491, "Request Pending", True)
            return True
        return False
