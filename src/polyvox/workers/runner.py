"""The ``polyvox worker`` loop: billing passes every ``interval`` seconds.

Each tick: reset the daily usage of clients whose local midnight passed (every
``usage_every`` seconds), debit the running calls of prepaid clients (when proxy-trunks can
report them, every ``prepaid_every`` seconds), bill the pending call records, hang up the calls
of clients that must be cut, send queued e-mails. Any number of workers may run against the same
database (claims, see :mod:`polyvox.workers.billing`).
"""

from __future__ import annotations

import datetime as dt
import logging
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy.engine import Engine

from polyvox.platform import control
from polyvox.workers import billing, notify, rate_import

log = logging.getLogger("polyvox.workers")


@dataclass(frozen=True)
class WorkerOptions:
    interval: float = 1.0
    usage_every: float = 30.0
    prepaid_every: float = 5.0
    batch: int = 100


def sip_control(settings: Any) -> tuple[Callable[[int], int] | None, Callable[[], list[billing.RunningCall]] | None]:
    """``(hang up a client's calls, list running calls)`` through proxy-trunks' control client
    (``end_company_calls`` and ``active_calls`` of :mod:`polyvox.platform.control`; docs/billing.md,
    "Prepaid")."""

    def hangup(company_id: int) -> int:
        return int(control.end_company_calls(settings, company_id))

    def running() -> list[billing.RunningCall]:
        out = []
        for c in control.active_calls(settings):
            get = c.get
            callid, company_id = get("callId") or get("callid"), get("companyId")
            if get("direction") != "outbound" or company_id is None or not get("answerTime") or not callid:
                continue
            out.append(billing.RunningCall(callid=str(callid), company_id=int(company_id),
                                           callee=str(get("callee") or ""), start=_when(get("startTime")),
                                           answer=_when(get("answerTime")), routing_tag_id=get("routingTagId")))
        return out

    return hangup, running


def _when(value: Any) -> dt.datetime:
    if isinstance(value, dt.datetime):
        return value if value.tzinfo else value.replace(tzinfo=dt.UTC)
    parsed = dt.datetime.fromisoformat(str(value))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


class Worker:
    def __init__(self, engine: Engine, settings: Any = None, options: WorkerOptions | None = None,
                 smtp: notify.SmtpSettings | None = None) -> None:
        self.engine = engine
        self.options = options or WorkerOptions()
        self.smtp = smtp
        self.hangup, self.running = sip_control(settings)
        self.stop_event = threading.Event()
        self._last_usage = 0.0
        self._last_prepaid = 0.0

    def _cut(self, company_id: int) -> int:
        if self.hangup is None:
            log.warning("client %s must be cut (no balance / max daily usage) but proxy-trunks offers no "
                        "call control yet", company_id)
            return 0
        return self.hangup(company_id)

    def tick(self, now: dt.datetime | None = None) -> billing.PassResult:
        mono = time.monotonic()
        if mono - self._last_usage >= self.options.usage_every:
            billing.reset_daily_usage(self.engine, now)
            self._last_usage = mono
        cut: set[int] = set()
        if self.running is not None and mono - self._last_prepaid >= self.options.prepaid_every:
            self._last_prepaid = mono
            try:
                calls = self.running()
            except Exception as e:  # proxy-trunks unreachable (restarting): settle at hang-up
                # one line: while proxy-trunks restarts this repeats, a traceback would flood the console
                log.warning("cannot list the running calls of proxy-trunks: %s", e)
                calls = []
            cut |= billing.debit_running_calls(self.engine, calls, now)
            # sweep: a client whose balance or daily limit ran out through another path (a finished
            # call billed, an operator's balance change) must not keep its running calls
            running_clients = {c.company_id for c in calls}
            if running_clients:
                cut |= running_clients & billing.clients_to_cut(self.engine)
        result = billing.bill_pending(self.engine, now, batch=self.options.batch, hangup=None, smtp=self.smtp)
        try:  # destination rate CSV imports waiting for a worker (spec 9.4.3)
            rate_import.run_pending(self.engine)
        except Exception:
            log.exception("rate import pass failed")
        for company_id in sorted(cut | result.cut):
            try:
                result.hung_up += self._cut(company_id)
            except Exception:
                log.exception("hanging up the calls of client %s failed", company_id)
        result.cut |= cut
        return result

    def run(self) -> None:
        while not self.stop_event.is_set():
            try:
                r = self.tick()
                if r.billed or r.skipped:
                    log.info("billed %d call records (%d skipped), %d mails", r.billed, r.skipped, r.mails)
            except Exception:
                log.exception("billing pass failed")
            self.stop_event.wait(self.options.interval)

    def stop(self, *_a: Any) -> None:
        self.stop_event.set()


def run_forever(engine: Engine, settings: Any = None, options: WorkerOptions | None = None) -> int:
    worker = Worker(engine, settings, options)
    signal.signal(signal.SIGTERM, worker.stop)
    signal.signal(signal.SIGINT, worker.stop)
    worker.run()
    return 0
