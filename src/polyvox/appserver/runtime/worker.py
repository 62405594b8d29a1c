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
    from polyvox.appserver.runtime.sippy_stack import SippyStack
    from polyvox.db.engine import make_engine

    engine = make_engine(s.database_url)
    dialplan = load_dialplan(s.dialplan, engine)
    stack = SippyStack(s.host, port, trusted={s.users, s.trunks}, loop=asyncio.get_running_loop())
    # active calls (docs/appserver.md): this worker's rows, cleared at start (a crashed predecessor's)
    publisher = Publisher(engine, f"{s.host}:{port}")
    await asyncio.get_running_loop().run_in_executor(publisher.pool, publisher.start)
    ex = Executor(stack, dialplan, Peers(users=s.users, trunks=s.trunks, local=(s.host, port)),
                  dialplan_timeout=s.dialplan_timeout, active_calls=publisher)
    stack.start(ex.on_incoming)
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    print(f"polyvox appserver: listening on udp {s.host}:{port}; proxy-users {s.users[0]}:{s.users[1]}, "
          f"proxy-trunks {s.trunks[0]}:{s.trunks[1]}", flush=True)
    try:
        await stop.wait()
        ended = ex.shutdown()
        if ended:
            log.info("stopping: %d calls ended", ended)
            await asyncio.sleep(0.5)  # let sippy send the BYEs/503s (and retransmit once)
    finally:
        stack.stop()
        ex.close()
        publisher.close()
        engine.dispose()


def run_worker(s: AppServerSettings, port: int | None = None) -> int:
    import faulthandler
    import os

    level = os.environ.get("POLYVOX_AS_LOG_LEVEL", "INFO").upper()
    logging.basicConfig(level=getattr(logging, level, logging.INFO),
                        format="%(asctime)s %(name)s %(levelname)s %(message)s")
    faulthandler.register(signal.SIGUSR1, all_threads=True)  # kill -USR1 <pid>: every thread's stack
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
