"""Call journal: answered calls survive the death of their application server worker.

A call's call registry rows (``users_cdrs``, docs/appserver-dialplan.md §13) are written when it
ends. A worker killed during an answered call (kill -9, OOM, its watchdog) would lose them, so
every answered call has a row in ``appserver_call_journal`` (:mod:`polyvox.db.appserver_state`)
from its answer to the moment its registry rows are written:

* the worker writes the row at the answer (and rewrites it when a transfer changes the answered
  party), refreshes ``seenAt`` of all its rows every ``heartbeat`` seconds (one UPDATE per
  process), and deletes the row once the registry rows are written;
* a row belongs to a dead process when another process holds its worker address (a worker
  starting on that address: the port cannot be shared) or when its ``seenAt`` is older than
  ``stale_after`` seconds (a worker that never came back: any live worker takes it);
* such a row is claimed (one finaliser even with several live workers), handed to the dialplan's
  ``record_lost(call, info)`` with the call **ended at ``seenAt``** — the last heartbeat seen
  while the call was up — and deleted with the call's active-call entries. ``record_lost`` writes nothing when the call already has
  rows (the worker died after writing them but before deleting its journal row).

The recorded duration is therefore short by at most one heartbeat interval plus the time the
process took to die after its last heartbeat; never longer than the call.

Writes run in one thread of the journal's own (ordered per call, never in the sippy thread);
recovery runs in the dialplan thread (it calls the dialplan). Every database error is logged
and never reaches a call.
"""

from __future__ import annotations

import contextlib
import json
import logging
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Engine, and_, delete, or_, select, update

from polyvox.appserver import plan
from polyvox.db.appserver_state import appserver_active_calls
from polyvox.db.appserver_state import appserver_call_journal as journal_table
from polyvox.db.model import fit

log = logging.getLogger("polyvox.appserver.journal")

#: a claim older than this is taken over (its finaliser died too)
CLAIM_TIMEOUT = timedelta(seconds=120)

Recorder = Callable[[plan.IncomingCall, plan.CallEnded], None]


# ----------------------------------------------------------------------------- encoding
def _target(t: plan.Target | None) -> dict[str, Any] | None:
    if t is None:
        return None
    return {"kind": t.kind.value, "ruri_user": t.ruri_user, "domain": t.domain, "from_user": t.from_user,
            "from_name": t.from_name, "headers": [list(h) for h in t.headers], "label": t.label,
            "user_id": t.user_id, "ring_timeout": t.ring_timeout,
            "forward_no_answer": _target(t.forward_no_answer), "forward_busy": _target(t.forward_busy),
            "pai_user": t.pai_user}


def _untarget(d: dict[str, Any] | None) -> plan.Target | None:
    if d is None:
        return None
    return plan.Target(kind=plan.TargetKind(d["kind"]), ruri_user=d["ruri_user"], domain=d.get("domain"),
                       from_user=d.get("from_user"), from_name=d.get("from_name"),
                       headers=tuple((str(k), str(v)) for k, v in d.get("headers") or ()), label=d.get("label", ""),
                       user_id=d.get("user_id"), ring_timeout=d.get("ring_timeout"),
                       forward_no_answer=_untarget(d.get("forward_no_answer")),
                       forward_busy=_untarget(d.get("forward_busy")), pai_user=d.get("pai_user"))


@dataclass(frozen=True)
class Answered:
    """What the registry needs of an answered call besides its end."""

    call: plan.IncomingCall
    answered_at: datetime
    answered_by: plan.Target | None
    tried: tuple[plan.Target, ...]

    def ended(self, end: datetime) -> plan.CallEnded:
        return plan.CallEnded(plan.Disposition.ANSWERED, self.call.now, max(end, self.answered_at),
                              self.answered_at, self.answered_by, None, self.tried)


def encode(a: Answered) -> str:
    c = a.call
    return json.dumps({
        "v": 1,
        "call": {"call_id": c.call_id, "origin": c.origin.value, "brand_id": c.brand_id, "company_id": c.company_id,
                 "company_type": c.company_type, "dialled": c.dialled, "caller": c.caller,
                 "caller_name": c.caller_name, "now": c.now.isoformat(), "headers": dict(c.headers),
                 "endpoint_type": c.endpoint_type, "endpoint_id": c.endpoint_id, "endpoint_name": c.endpoint_name,
                 "user_id": c.user_id, "ddi_id": c.ddi_id, "ddi": c.ddi, "ddi_provider_id": c.ddi_provider_id,
                 "diversion": list(c.diversion)},
        "answered_at": a.answered_at.isoformat(), "answered_by": _target(a.answered_by),
        "tried": [_target(t) for t in a.tried]})


def _aware(value: str) -> datetime:
    d = datetime.fromisoformat(value)
    return d if d.tzinfo is not None else d.replace(tzinfo=UTC)


def decode(text: str) -> Answered:
    d = json.loads(text)
    c = d["call"]
    call = plan.IncomingCall(
        call_id=c["call_id"], origin=plan.Origin(c["origin"]), brand_id=int(c["brand_id"]),
        company_id=int(c["company_id"]), company_type=c.get("company_type", ""), dialled=c["dialled"],
        caller=c["caller"], caller_name=c.get("caller_name"), now=_aware(c["now"]), headers=dict(c.get("headers") or {}),
        endpoint_type=c.get("endpoint_type"), endpoint_id=c.get("endpoint_id"), endpoint_name=c.get("endpoint_name"),
        user_id=c.get("user_id"), ddi_id=c.get("ddi_id"), ddi=c.get("ddi"), ddi_provider_id=c.get("ddi_provider_id"),
        diversion=tuple(c.get("diversion") or ()))
    tried = tuple(t for t in (_untarget(x) for x in d.get("tried") or ()) if t is not None)
    return Answered(call, _aware(d["answered_at"]), _untarget(d.get("answered_by")), tried)


def _naive(d: datetime) -> datetime:
    return d.astimezone(UTC).replace(tzinfo=None)


# ----------------------------------------------------------------------------- journal
class Journal:
    """The journal rows of one worker process (``worker`` = its ``host:port``)."""

    def __init__(self, engine: Engine, worker: str, heartbeat: float = 5.0, stale_after: float = 60.0,
                 clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self.engine = engine
        self.worker = worker
        self.process = uuid.uuid4().hex
        self.heartbeat = heartbeat
        self.stale_after = stale_after
        self.clock = clock
        self.pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="journal")
        self.recovered = 0

    # --------------------------------------------------------------- this process's calls (any thread)
    def _submit(self, what: str, fn: Callable[[], None]) -> None:
        def safe() -> None:
            try:
                fn()
            except Exception:
                log.exception("call journal: %s failed", what)

        with contextlib.suppress(RuntimeError):  # RuntimeError: stopping
            self.pool.submit(safe)

    def put(self, session: str, answered: Answered) -> None:
        """The call is answered, or its answered party changed (transfer)."""
        t = journal_table
        at = _naive(answered.answered_at)  # seen up at its answer; heartbeats move seenAt on
        values = {"callId": answered.call.call_id[:255], "answerTime": at, "call": encode(answered)}

        def write() -> None:
            with self.engine.begin() as conn:
                res = conn.execute(update(t).where(t.c.process == self.process, t.c.session == session)
                                   .values(**values))
                if not res.rowcount:
                    conn.execute(t.insert().values(**fit(t, {"worker": self.worker, "process": self.process,
                                                             "session": session, "seenAt": at, **values})))

        self._submit(f"answer of {answered.call.call_id}", write)

    def forget(self, session: str) -> None:
        """The call's registry rows are written (or it needs none): its row goes."""
        t = journal_table

        def write() -> None:
            with self.engine.begin() as conn:
                conn.execute(delete(t).where(t.c.process == self.process, t.c.session == session))

        self._submit(f"end of session {session}", write)

    def beat(self) -> None:
        """Heartbeat: the calls of this process are still up."""
        t = journal_table
        now = _naive(self.clock())

        def write() -> None:
            with self.engine.begin() as conn:
                conn.execute(update(t).where(t.c.process == self.process).values(seenAt=now))

        self._submit("heartbeat", write)

    def close(self) -> None:
        self.pool.shutdown(wait=True, cancel_futures=False)

    # --------------------------------------------------------------- recovery (dialplan thread)
    def recover(self, record: Recorder | None) -> int:
        """Finalises the rows of dead processes (see the module docstring); how many."""
        t = journal_table
        now = _naive(self.clock())
        stale = now - timedelta(seconds=self.stale_after)
        claim_ok = or_(t.c.claimedBy.is_(None), t.c.claimedAt < now - CLAIM_TIMEOUT)
        dead = or_(and_(t.c.worker == self.worker, t.c.process != self.process), t.c.seenAt < stale)
        try:
            with self.engine.connect() as conn:
                rows = conn.execute(select(t.c.id, t.c.worker, t.c.session, t.c.callId, t.c.answerTime, t.c.seenAt,
                                           t.c.call)
                                    .where(dead, t.c.process != self.process, claim_ok).order_by(t.c.id)).all()
        except Exception:
            log.exception("call journal: cannot read the rows of dead workers")
            return 0
        done = 0
        for row in rows:
            try:
                with self.engine.begin() as conn:
                    claimed = conn.execute(update(t).where(t.c.id == row.id, claim_ok)
                                           .values(claimedBy=self.process, claimedAt=now)).rowcount
                if not claimed:
                    continue  # another worker finalises it
                answered = decode(row.call)
                end = row.seenAt.replace(tzinfo=UTC) if row.seenAt.tzinfo is None else row.seenAt
                info = answered.ended(end)
                if record is not None:
                    record(answered.call, info)
                else:
                    log.warning("call journal: the dialplan cannot record lost calls; %s dropped", row.callId)
                a = appserver_active_calls
                with self.engine.begin() as conn:
                    conn.execute(delete(t).where(t.c.id == row.id, t.c.claimedBy == self.process))
                    # its active-call entries (§3.7), which a worker that never returns would leave; a
                    # later process on that address numbers its sessions anew, but its calls started
                    # after this one was answered
                    conn.execute(delete(a).where(a.c.worker == row.worker, a.c.session == row.session,
                                                 a.c.startTime <= row.answerTime.replace(tzinfo=UTC)))
                done += 1
                log.warning("call %s: its worker died during the call; recorded as ended at %s (%.1f s answered)",
                            row.callId, info.end.isoformat(timespec="seconds"), info.duration)
            except Exception:
                log.exception("call journal: call %s not finalised (retried later)", row.callId)
        self.recovered += done
        return done
