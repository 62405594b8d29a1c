"""The supervisor of ``polyvox up``: every role in its own process group, its output in its own
rotating log file, restarts with back-off, and a state file that ``polyvox status`` reads.

Why process groups: Kamailio's main process forks its SIP workers; when the main process dies
(kill -9, the OOM killer) the workers live on and keep the SIP port bound, so a plain restart
fails with "Address already in use" forever. Each role is started as the leader of a new
process group (same session as ``polyvox up``); when a leader dies, or when ``polyvox up`` is
stopped, the whole group is signalled (TERM, then KILL after a grace period) and the restart
waits until no process of the group is alive and the role's ports can be bound again.

Logs: each role's stdout and stderr go through a pipe to ``<home>/log/<role>.log`` (one line per
line, prefixed with the time; rotated by size, ``LOG_MAX_BYTES`` × ``LOG_BACKUPS``). Only lines
at warning level or above (Kamailio's ``WARNING:``/``ERROR:``, Python's ``WARNING``/``ERROR``
records and tracebacks, rtpengine's ``WARNING``/``ERR``) are echoed to the console, with the
role's name, at most ``CONSOLE_BURST`` lines per role every ``CONSOLE_WINDOW`` seconds. The
supervisor's own events (exits, restarts) go to the console and to ``<home>/log/supervisor.log``.

State: ``<home>/run/supervisor.json`` is rewritten (atomically) on every change and every
``STATE_EVERY`` seconds: the supervisor's PID and run id, and per role its PID, state, restarts,
last exit, ports and log file.

Processes left behind by a ``polyvox up`` that was itself killed (kill -9 leaves its roles
running) are recognised by the run id in their environment (``POLYVOX_SUPERVISOR_RUN``) and
stopped by the next ``polyvox up`` on the same home (:func:`stop_leftovers`).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import logging
import logging.handlers
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

LOG_MAX_BYTES = 10 * 1024 * 1024
LOG_BACKUPS = 5
CONSOLE_BURST = 20
CONSOLE_WINDOW = 10.0
STATE_EVERY = 2.0
RUN_ENV = "POLYVOX_SUPERVISOR_RUN"

# A port a role listens on: (tcp|udp, host, port, what it is / the variable that moves it)
Port = tuple[str, str, int, str]

_ERROR = re.compile(r"\b(ERROR|ERR|CRITICAL|CRIT|ALERT|EMERG|FATAL|Traceback)\b")
_WARNING = re.compile(r"\b(WARNING|WARN)\b")
# warnings every start prints and that need no action: log file only
_BENIGN = re.compile(r"openssl bug #1491")


def level_of(line: str) -> str | None:
    """``"error"``, ``"warning"`` or None (information, debug) for one line of a role's output;
    the one rule for what reaches the console and what ``polyvox status`` calls an error."""
    if _ERROR.search(line):
        return "error"
    if _WARNING.search(line) and not _BENIGN.search(line):
        return "warning"
    return None


def log_dir(home: Path) -> Path:
    return home / "log"


def state_file(home: Path) -> Path:
    return home / "run" / "supervisor.json"


def port_free(kind: str, host: str, port: int) -> bool:
    """True when ``port`` can be bound now (TCP with SO_REUSEADDR, as servers bind it)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM if kind == "tcp" else socket.SOCK_DGRAM)
    try:
        if kind == "tcp":
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
    except OSError:
        return False
    finally:
        sock.close()
    return True


def busy_ports(ports: Iterable[Port]) -> list[str]:
    """The ports that cannot be bound now, as messages naming the role and the variable."""
    out = []
    for kind, host, port, what in ports:
        if port > 0 and not port_free(kind, host, port):
            out.append(f"{kind.upper()} {host}:{port} ({what}) is not available")
    return out


def _proc_stat(pid: int) -> tuple[str, int, int] | None:
    """(state, ppid, pgrp) of a live process from /proc, None when it is gone."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = raw[raw.rfind(")") + 2:].split()
    return fields[0], int(fields[1]), int(fields[2])


def group_members(pgid: int) -> list[int]:
    """PIDs of the processes of a process group that still run (zombies excluded)."""
    out = []
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        st = _proc_stat(int(entry.name))
        if st is not None and st[2] == pgid and st[0] not in ("Z", "X"):
            out.append(int(entry.name))
    return out


def _environ_has(pid: int, marker: bytes) -> bool:
    try:
        return marker in Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    except OSError:
        return False


def pid_alive(pid: int) -> bool:
    st = _proc_stat(pid)
    return st is not None and st[0] not in ("Z", "X")


def start_ticks(pid: int) -> int:
    """When a process started (clock ticks since boot; /proc/PID/stat field 22), 0 when gone:
    with the PID it names a process, PIDs alone are reused."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0
    return int(raw[raw.rfind(")") + 2:].split()[19])


def supervisor_running(state: dict[str, Any] | None) -> bool:
    """True when the ``polyvox up`` that wrote ``state`` still runs (same PID and start time)
    and is not stopping."""
    if not state or state.get("stopping"):
        return False
    pid = int(state.get("pid") or 0)
    return pid_alive(pid) and start_ticks(pid) == int(state.get("pid_start") or -1)


def read_state(home: Path) -> dict[str, Any] | None:
    try:
        return dict(json.loads(state_file(home).read_text()))
    except (OSError, ValueError):
        return None


def stop_leftovers(home: Path, grace: float = 5.0) -> list[int]:
    """Stops the processes of a previous ``polyvox up`` on this home that is no longer running
    (killed itself, so its roles were never stopped); returns their PIDs."""
    state = read_state(home)
    if not state or not state.get("run") or supervisor_running(state):
        return []
    marker = f"{RUN_ENV}={state['run']}".encode()
    me = os.getpid()
    found = [int(e.name) for e in os.scandir("/proc") if e.name.isdigit() and int(e.name) != me
             and pid_alive(int(e.name)) and _environ_has(int(e.name), marker)]
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for pid in found:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, sig)
        deadline = time.monotonic() + grace
        while any(pid_alive(p) for p in found) and time.monotonic() < deadline:
            time.sleep(0.1)
    return found


def describe_exit(code: int) -> str:
    if code < 0:
        try:
            return f"was killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"was killed by signal {-code}"
    return f"exited with status {code}"


@dataclass
class Role:
    name: str
    argv: list[str]
    ports: tuple[Port, ...] = ()
    proc: subprocess.Popen[bytes] | None = None
    pgid: int = 0
    state: str = "new"  # running | stopping | backoff | waiting-ports | stopped
    started: float = 0.0  # monotonic
    started_at: str = ""
    restarts: int = 0
    failures: int = 0  # consecutive short runs, for the back-off
    last_exit: str = ""
    last_exit_at: str = ""
    deadline: float = 0.0  # of the current stopping / back-off / port wait step
    killed: bool = False
    reader: threading.Thread | None = None
    log: logging.Logger | None = None
    console_times: list[float] = field(default_factory=list)
    console_dropped: int = 0


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


def _file_logger(name: str, path: Path, max_bytes: int, backups: int) -> logging.Logger:
    path.parent.mkdir(parents=True, exist_ok=True)
    logger = logging.getLogger(f"polyvox.supervisor.file.{name}.{uuid.uuid4().hex[:6]}")
    logger.propagate = False
    logger.setLevel(logging.INFO)
    handler = logging.handlers.RotatingFileHandler(path, maxBytes=max_bytes, backupCount=backups,
                                                   encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(message)s"))
    logger.addHandler(handler)
    return logger


class Supervisor:
    """Starts every role as the leader of its own process group and restarts the ones that die.

    ``grace``: seconds between TERM and KILL when stopping a group; ``backoff``: first and
    largest delay before a restart (doubling with each consecutive failure); ``stable``: a
    role that ran this long counts as healthy again (the back-off starts over); ``port_wait``:
    how long a restart waits for the role's ports to be released.
    """

    def __init__(self, home: Path, *, console: IO[str] | None = None, grace: float = 10.0,
                 restart_grace: float = 2.0, backoff: tuple[float, float] = (0.5, 30.0), stable: float = 30.0,
                 port_wait: float = 15.0, log_max_bytes: int = LOG_MAX_BYTES, log_backups: int = LOG_BACKUPS,
                 env: dict[str, str] | None = None) -> None:
        self.home = home
        self.console = console or sys.stdout
        self.grace, self.restart_grace = grace, restart_grace
        self.backoff, self.stable, self.port_wait = backoff, stable, port_wait
        self.log_max_bytes, self.log_backups = log_max_bytes, log_backups
        self.roles: dict[str, Role] = {}
        self.run_id = uuid.uuid4().hex
        self.env = {**(env if env is not None else os.environ), RUN_ENV: self.run_id}
        self.stopping = False
        self.started_at = _now()
        self._lock = threading.Lock()
        self._last_state = 0.0
        self._dirty = True
        self.events = _file_logger("supervisor", log_dir(home) / "supervisor.log", log_max_bytes, log_backups)

    # ------------------------------------------------------------------ roles
    def add(self, name: str, argv: Sequence[str], ports: Iterable[Port] = ()) -> None:
        self.roles[name] = Role(name=name, argv=list(argv), ports=tuple(ports))

    def say(self, text: str, level: int = logging.WARNING) -> None:
        """A supervisor event: console and supervisor.log."""
        self.events.log(level, text)
        self._print(f"polyvox: {text}")

    def _print(self, text: str) -> None:
        with self._lock, contextlib.suppress(OSError, ValueError):  # no console (closed terminal): logs only
            print(text, file=self.console, flush=True)

    def start(self, role: Role) -> None:
        if role.log is None:
            role.log = _file_logger(role.name, log_dir(self.home) / f"{role.name}.log", self.log_max_bytes,
                                    self.log_backups)
        role.log.info("---- polyvox: starting %s", " ".join(role.argv))
        try:
            proc = subprocess.Popen(role.argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                    stderr=subprocess.STDOUT, env=self.env, process_group=0)
        except OSError as e:
            role.last_exit, role.last_exit_at = f"could not be started: {e}", _now()
            self.say(f"role {role.name} could not be started: {e}", logging.ERROR)
            self._schedule_restart(role, time.monotonic())
            return
        role.proc, role.pgid, role.killed = proc, proc.pid, False
        role.state, role.started, role.started_at = "running", time.monotonic(), _now()
        role.reader = threading.Thread(target=self._pump, args=(role, proc), name=f"log-{role.name}", daemon=True)
        role.reader.start()
        self._dirty = True

    def _pump(self, role: Role, proc: subprocess.Popen[bytes]) -> None:
        """Copies a role's output into its log file; warnings and errors also to the console."""
        assert proc.stdout is not None and role.log is not None
        in_traceback = False
        for raw in iter(proc.stdout.readline, b""):
            line = raw.decode("utf-8", "replace").rstrip("\r\n")
            if not line.strip():
                continue
            role.log.info("%s", line)
            if line.startswith("Traceback (most recent call last)"):
                in_traceback = True
                self._echo(role, line)
                continue
            if in_traceback:
                if line[:1] in (" ", "\t"):
                    continue
                in_traceback = False
                self._echo(role, line)  # the exception itself
                continue
            if level_of(line) is not None:
                self._echo(role, line)
        proc.stdout.close()

    def _echo(self, role: Role, line: str) -> None:
        if self.stopping:
            return  # the roles' shutdown chatter (Kamailio's ALERT per exiting child) stays in the logs
        now = time.monotonic()
        with self._lock:
            role.console_times = [t for t in role.console_times if now - t < CONSOLE_WINDOW]
            if len(role.console_times) >= CONSOLE_BURST:
                role.console_dropped += 1
                return
            role.console_times.append(now)
            dropped, role.console_dropped = role.console_dropped, 0
        if dropped:
            self._print(f"polyvox: {role.name}: ({dropped} more lines in {log_dir(self.home) / (role.name + '.log')})")
        self._print(f"polyvox: {role.name}: {line.strip()}")

    # ------------------------------------------------------------------ the loop
    def run(self) -> int:
        # SIGHUP too: the roles are not in the terminal's foreground group, closing it must stop them
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            signal.signal(sig, self._stop)
        for role in self.roles.values():
            self.start(role)
        self.write_state()
        try:
            while not self.stopping:
                self.tick()
                time.sleep(0.2)
        finally:
            self.stop_all()
        return 0

    def tick(self) -> None:
        now = time.monotonic()
        for role in self.roles.values():
            if self.stopping:
                return
            self._step(role, now)
        if self._dirty or now - self._last_state >= STATE_EVERY:
            self.write_state()

    def _step(self, role: Role, now: float) -> None:
        if role.state == "running":
            assert role.proc is not None
            code = role.proc.poll()
            if code is None:
                return
            ran = now - role.started
            role.last_exit, role.last_exit_at = describe_exit(code), _now()
            left = group_members(role.pgid)
            self.say(f"role {role.name} (pid {role.pgid}) {role.last_exit} after {ran:.0f} s"
                     + (f"; stopping the {len(left)} processes left in its group" if left else ""),
                     logging.ERROR)
            if ran >= self.stable:
                role.failures = 0
            self._signal_group(role, signal.SIGTERM)
            role.state, role.deadline = "stopping", now + self.restart_grace
            self._dirty = True
        if role.state == "stopping":
            if group_members(role.pgid):
                if now < role.deadline:
                    return
                if not role.killed:
                    self._signal_group(role, signal.SIGKILL)
                    role.killed, role.deadline = True, now + 10.0
                    return
                self.say(f"role {role.name}: processes {group_members(role.pgid)} of its group survive SIGKILL",
                         logging.ERROR)
            self._schedule_restart(role, now)
        if role.state == "backoff" and now >= role.deadline:
            role.state, role.deadline = "waiting-ports", now + self.port_wait
            self._dirty = True
        if role.state == "waiting-ports":
            busy = busy_ports(role.ports)
            if busy and now < role.deadline:
                return
            if busy:
                self.say(f"role {role.name}: {'; '.join(busy)} after {self.port_wait:.0f} s; starting anyway",
                         logging.ERROR)
            role.restarts += 1
            self.say(f"restarting role {role.name} (restart {role.restarts})")
            self.start(role)

    def _schedule_restart(self, role: Role, now: float) -> None:
        role.failures += 1
        delay = min(self.backoff[1], self.backoff[0] * 2 ** (role.failures - 1))
        if role.failures > 1:
            self.say(f"role {role.name} failed {role.failures} times in a row; next start in {delay:.1f} s "
                     f"(log: {log_dir(self.home) / (role.name + '.log')})", logging.ERROR)
        role.state, role.deadline = "backoff", now + delay
        self._dirty = True

    def _signal_group(self, role: Role, sig: int) -> None:
        if role.pgid:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(role.pgid, sig)

    def _stop(self, *_a: Any) -> None:
        self.stopping = True

    def stop_all(self) -> None:
        """TERM to every group, KILL to what is left after ``grace``, then reap the leaders."""
        live = [r for r in self.roles.values() if r.pgid and group_members(r.pgid)]
        for role in live:
            role.state = "stopping"
            self._signal_group(role, signal.SIGTERM)
        self.write_state()
        self._wait_gone(live, self.grace)
        left = [r for r in live if group_members(r.pgid)]
        if left:
            self.say("still running after SIGTERM, killed: " + ", ".join(r.name for r in left))
            for role in left:
                self._signal_group(role, signal.SIGKILL)
            self._wait_gone(left, 10.0)
        for role in self.roles.values():
            if role.proc is not None:
                with contextlib.suppress(subprocess.TimeoutExpired):
                    role.proc.wait(timeout=5)
            if role.reader is not None:
                role.reader.join(timeout=2)
            role.state = "stopped"
        self.write_state()

    @staticmethod
    def _wait_gone(roles: list[Role], timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and any(group_members(r.pgid) for r in roles):
            for r in roles:
                if r.proc is not None:
                    r.proc.poll()  # reap the leader so that it stops counting
            time.sleep(0.1)

    # ------------------------------------------------------------------ state file
    def state(self) -> dict[str, Any]:
        return {
            "pid": os.getpid(), "pid_start": start_ticks(os.getpid()), "run": self.run_id, "started": self.started_at, "updated": _now(),
            "home": str(self.home), "stopping": self.stopping,
            "roles": {r.name: {"pid": r.proc.pid if r.proc is not None else None, "state": r.state,
                               "since": r.started_at, "restarts": r.restarts, "last_exit": r.last_exit,
                               "last_exit_at": r.last_exit_at, "ports": [list(p) for p in r.ports],
                               "log": str(log_dir(self.home) / f"{r.name}.log"), "argv": r.argv}
                      for r in self.roles.values()},
        }

    def write_state(self) -> None:
        path = state_file(self.home)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps(self.state(), indent=1))
        os.replace(tmp, path)
        self._last_state, self._dirty = time.monotonic(), False


# ---------------------------------------------------------------------- log files, for the CLI
def tail_lines(path: Path, n: int) -> list[str]:
    """The last ``n`` lines of a file (reads at most the last 4 MB)."""
    try:
        with path.open("rb") as f:
            f.seek(0, os.SEEK_END)
            size = f.tell()
            f.seek(max(0, size - 4 * 1024 * 1024))
            data = f.read()
    except OSError:
        return []
    lines = data.decode("utf-8", "replace").splitlines()
    if size > len(data):
        lines = lines[1:]  # the first one is cut
    return lines[-n:] if n > 0 else []


def last_errors(path: Path, n: int = 5, scan: int = 2000) -> list[str]:
    """The last ``n`` error lines among the last ``scan`` lines of a role's log."""
    return [line for line in tail_lines(path, scan) if level_of(line) == "error"][-n:]


def follow(path: Path, out: Callable[[str], None], stop: Callable[[], bool], poll: float = 0.3) -> None:
    """Writes the lines appended to ``path`` from now on, across rotations, until ``stop()``."""
    f = None
    ino = -1
    while not stop():
        try:
            st = path.stat()
        except OSError:
            st = None
        if st is not None and (f is None or st.st_ino != ino or st.st_size < f.tell()):
            if f is not None:
                _copy_lines(f, out, partial=True)  # the end of the rotated file
                f.close()
            f = path.open("rb")
            if ino == -1:
                f.seek(0, os.SEEK_END)
            ino = st.st_ino
        if f is not None and _copy_lines(f, out):
            continue
        time.sleep(poll)
    if f is not None:
        f.close()


def _copy_lines(f: IO[bytes], out: Callable[[str], None], partial: bool = False) -> bool:
    """Writes the complete lines readable from ``f`` (a line still being written is left for
    the next call, unless ``partial``); True when there was one."""
    got = False
    while True:
        pos = f.tell()
        line = f.readline()
        if not line:
            return got
        if not line.endswith(b"\n") and not partial:
            f.seek(pos)
            return got
        out(line.decode("utf-8", "replace").rstrip("\n"))
        got = True
