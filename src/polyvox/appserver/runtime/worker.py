"""Application server processes: one worker = one sippy thread + one asyncio loop on one UDP port.

``polyvox appserver --workers N`` starts N workers on ports ``port .. port+N-1`` and restarts
any that dies; ``polyvox up`` supervises each worker as its own role instead.
"""

from __future__ import annotations

import asyncio
import importlib
import logging
import signal
import subprocess
import sys
import time
from typing import Any

from polyvox.appserver import plan
from polyvox.appserver.runtime.executor import Executor, Peers
from polyvox.appserver.runtime.settings import AppServerSettings

log = logging.getLogger("polyvox.appserver")


class _Unavailable:
    """Dialplan used when none can be loaded: every call is refused with the reason."""

    def __init__(self, why: str) -> None:
        self.why = why

    def script(self, call: plan.IncomingCall, presence: plan.Presence) -> plan.CallScript:
        return _RejectScript(plan.Reject(503, f"Service Unavailable: {self.why}"))

    def transfer(self, call: plan.IncomingCall, presence: plan.Presence, transferor: plan.Target | None,
                 refer_to: str) -> plan.CallScript:
        return _RejectScript(plan.Reject(503, f"Service Unavailable: {self.why}"))


class _RejectScript:
    def __init__(self, reject: plan.Reject) -> None:
        self.reject = reject

    def first(self) -> plan.Action:
        return self.reject

    def after(self, outcome: plan.DialOutcome) -> plan.Action:
        return self.reject

    def answered(self, target: plan.Target) -> None:
        return None


def load_dialplan(spec: str, engine: Any) -> plan.Dialplan:
    """``module:factory`` → ``factory(engine)``; a dialplan that cannot be loaded refuses calls
    with 503 (logged) instead of keeping the worker down."""
    mod_name, _, attr = spec.partition(":")
    try:
        factory = getattr(importlib.import_module(mod_name), attr or "make_dialplan")
        return factory(engine)  # type: ignore[no-any-return]
    except Exception as e:
        log.exception("dialplan %s could not be loaded", spec)
        return _Unavailable(f"no dialplan ({type(e).__name__})")


async def serve(s: AppServerSettings, port: int, stop: asyncio.Event | None = None) -> None:
    from polyvox.appserver.active import Publisher
    from polyvox.appserver.journal import Journal
    from polyvox.appserver.runtime.sippy_stack import SippyStack
    from polyvox.db.engine import make_engine

    loop = asyncio.get_running_loop()
    engine = make_engine(s.database_url)
    dialplan = load_dialplan(s.dialplan, engine)
    stack = SippyStack(s.host, port, trusted={s.users, s.trunks}, loop=loop)
    worker = f"{s.host}:{port}"
    # active calls (docs/appserver.md): this worker's rows, cleared at start (a crashed predecessor's)
    publisher = Publisher(engine, worker)
    await loop.run_in_executor(publisher.pool, publisher.start)
    # call journal (§3.8): this worker's answered calls, and those of dead workers finalised
    call_journal = Journal(engine, worker, heartbeat=s.heartbeat, stale_after=s.stale_after)
    ex = Executor(stack, dialplan, Peers(users=s.users, trunks=s.trunks, local=(s.host, port)),
                  dialplan_timeout=s.dialplan_timeout, active_calls=publisher, call_journal=call_journal)
    stack.start(ex.on_incoming)
    # once the port is ours (no other live process on this address): the calls its predecessor left
    record_lost = getattr(dialplan, "record_lost", None)
    await loop.run_in_executor(ex.pool, call_journal.recover, record_lost)
    watchdog = _watchdog(s, stack, loop, port)
    stop = stop or asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    housekeeping = asyncio.ensure_future(_housekeeping(s, ex, call_journal, record_lost))
    print(f"polyvox appserver: listening on udp {s.host}:{port}; proxy-users {s.users[0]}:{s.users[1]}, "
          f"proxy-trunks {s.trunks[0]}:{s.trunks[1]}", flush=True)
    try:
        await stop.wait()
        if watchdog is not None:
            watchdog.stop()
        housekeeping.cancel()
        ended = ex.shutdown()
        if ended:
            log.info("stopping: %d calls ended", ended)
            await asyncio.sleep(0.5)  # let sippy send the BYEs/503s (and retransmit once)
    finally:
        if watchdog is not None:
            watchdog.stop()
        stack.stop()
        ex.close()
        call_journal.close()
        publisher.close()
        engine.dispose()


def _watchdog(s: AppServerSettings, stack: Any, loop: asyncio.AbstractEventLoop, port: int) -> Any:
    """The worker's watchdog (``runtime/watchdog.py``): exits the process when it cannot answer SIP."""
    import threading

    from polyvox.appserver.runtime.watchdog import Watchdog, options_probe

    if s.watchdog_interval <= 0:
        return None
    timeout = max(3.0, s.watchdog_interval)

    def loop_runs() -> bool:
        done = threading.Event()
        loop.call_soon_threadsafe(done.set)
        return done.wait(timeout)

    wd = Watchdog(stack.threads, [("asyncio loop", loop_runs), ("sippy loop", lambda: stack.responsive(timeout)),
                                  ("OPTIONS to itself", lambda: options_probe(s.host, port, timeout))],
                  interval=s.watchdog_interval, failures=s.watchdog_failures)
    wd.start()
    return wd


async def _housekeeping(s: AppServerSettings, ex: Executor, call_journal: Any, record_lost: Any) -> None:
    """Journal heartbeats; now and then, the rows of workers that died for good (dialplan thread)."""
    every = max(1, round(s.stale_after / 2 / max(s.heartbeat, 0.1)))
    n = 0
    while True:
        await asyncio.sleep(s.heartbeat)
        call_journal.beat()
        n += 1
        if n % every == 0:

            def recover() -> None:
                call_journal.recover(record_lost)

            ex.tell("journal recovery", "-", recover)


def _log_thread_exception(args: Any) -> None:
    """An exception that ends a thread is logged (the watchdog decides whether the worker can go on)."""
    if args.exc_type is SystemExit:
        return
    log.critical("thread %s died", args.thread.name if args.thread is not None else "?",
                 exc_info=(args.exc_type, args.exc_value, args.exc_traceback))


def run_worker(s: AppServerSettings, port: int | None = None) -> int:
    import faulthandler
    import os
    import threading

    level = os.environ.get("POLYVOX_AS_LOG_LEVEL", "INFO").upper()
    logging.basicConfig(level=getattr(logging, level, logging.INFO),
                        format="%(asctime)s %(name)s %(levelname)s %(message)s")
    faulthandler.register(signal.SIGUSR1, all_threads=True)  # kill -USR1 <pid>: every thread's stack
    threading.excepthook = _log_thread_exception
    try:
        asyncio.run(serve(s, s.port if port is None else port))
    except RuntimeError as e:
        print(f"polyvox appserver: {e}", file=sys.stderr, flush=True)
        return 1
    return 0


def worker_argv(s: AppServerSettings, port: int) -> list[str]:
    return [sys.executable, "-m", "polyvox.cli", "appserver", "--host", s.host, "--port", str(port),
            "--workers", "1", "--dialplan", s.dialplan]


def run(s: AppServerSettings) -> int:
    """``polyvox appserver``: one worker in this process, or N supervised worker processes."""
    if s.workers <= 1:
        return run_worker(s)
    procs: dict[int, subprocess.Popen[bytes]] = {}
    stopping = False

    def _stop(*_a: Any) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    ports = [s.port + i for i in range(s.workers)]
    for p in ports:
        procs[p] = subprocess.Popen(worker_argv(s, p))
    restarts: dict[int, int] = {}
    while not stopping:
        time.sleep(0.5)
        for p, proc in list(procs.items()):
            if proc.poll() is not None and not stopping:
                n = restarts[p] = restarts.get(p, 0) + 1
                print(f"polyvox appserver: worker on port {p} exited with {proc.returncode}; restarting ({n})",
                      flush=True)
                time.sleep(min(5.0, 0.5 * n))
                procs[p] = subprocess.Popen(worker_argv(s, p))
    for proc in procs.values():
        if proc.poll() is None:
            proc.terminate()
    for proc in procs.values():
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
    return 0
