"""The supervisor of ``polyvox up`` on dummy roles (real processes, real ports): a role whose
leader forks workers that hold its port, as Kamailio does (tests/resilience/dummy_role.py).

- kill -9 of the leader: the orphaned workers are stopped, the port is released, the role is
  restarted and serves the port again (issue 19 item 4: before, every restart failed with
  "Address already in use" and the supervisor looped);
- stopping ``polyvox up`` stops every process of every group, TERM then KILL;
- a role that cannot start is restarted with a growing back-off, and says so on the console;
- each role's output goes to its own rotating log file; only warnings and errors reach the console;
- ``polyvox status`` and ``polyvox logs`` read the state from another process;
- processes left by a supervisor that was itself killed are stopped by the next one.
"""

from __future__ import annotations

import io
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from polyvox import supervisor as sv
from polyvox.supervisor import Supervisor

DUMMY = str(Path(__file__).with_name("dummy_role.py"))
ROOT = Path(__file__).resolve().parents[2]


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def ask(port: int, timeout: float = 2.0) -> int | None:
    """The PID of the worker answering on UDP ``port``, None when nobody answers."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(timeout)
        s.sendto(b"who", ("127.0.0.1", port))
        try:
            return int(s.recv(100))
        except (TimeoutError, ConnectionRefusedError):
            return None


def until(sup: Supervisor, cond: Callable[[], bool], what: str, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        sup.tick()
        if cond():
            return
        time.sleep(0.05)
    raise AssertionError(f"{what} not reached in {timeout}s; console:\n{sup.console.getvalue()}")  # type: ignore[attr-defined]


@pytest.fixture()
def make(tmp_path: Path) -> Iterator[Callable[..., Supervisor]]:
    made: list[Supervisor] = []

    def _make(**kw: object) -> Supervisor:
        kw.setdefault("backoff", (0.1, 1.0))
        kw.setdefault("grace", 3.0)
        sup = Supervisor(tmp_path / "home", console=io.StringIO(), **kw)  # type: ignore[arg-type]
        made.append(sup)
        return sup

    yield _make
    for sup in made:
        sup.stopping = True
        sup.stop_all()


def dummy(sup: Supervisor, port: int, children: int = 3, *extra: str) -> sv.Role:
    sup.add("dummy", [sys.executable, DUMMY, str(port), str(children), *extra],
            ports=[("udp", "127.0.0.1", port, "dummy role")])
    role = sup.roles["dummy"]
    sup.start(role)
    until(sup, lambda: ask(port, 0.3) is not None, "the dummy answering")
    return role


def test_kill_9_of_the_leader_stops_its_orphans_and_the_restart_gets_the_port(make: Callable[..., Supervisor]) -> None:
    sup = make()
    port = free_udp_port()
    role = dummy(sup, port, 3)
    first_leader = role.pgid
    workers = [p for p in sv.group_members(first_leader) if p != first_leader]
    assert len(workers) == 3
    assert ask(port) in workers

    os.kill(first_leader, signal.SIGKILL)  # the leader only, as the OOM killer would
    until(sup, lambda: role.state == "running" and role.pgid != first_leader and ask(port, 0.3) is not None,
          "the restarted role answering")

    assert not any(sv.pid_alive(p) for p in workers)  # the orphans were stopped
    assert role.restarts == 1
    new_workers = [p for p in sv.group_members(role.pgid) if p != role.pgid]
    assert len(new_workers) == 3 and ask(port) in new_workers
    console = sup.console.getvalue()  # type: ignore[attr-defined]
    assert f"role dummy (pid {first_leader}) was killed by SIGKILL" in console
    assert "stopping the 3 processes left in its group" in console
    assert "restarting role dummy (restart 1)" in console
    assert "cannot bind" not in (sup.home / "log" / "dummy.log").read_text()  # no failed start


def test_stop_terminates_every_group_and_kills_what_ignores_sigterm(make: Callable[..., Supervisor]) -> None:
    sup = make(grace=1.0)
    port = free_udp_port()
    role = dummy(sup, port, 2, "--stubborn")
    members = sv.group_members(role.pgid)
    assert len(members) == 3
    sup.stopping = True
    sup.stop_all()
    assert sv.group_members(role.pgid) == []
    assert sv.port_free("udp", "127.0.0.1", port)
    assert "still running after SIGTERM, killed: dummy" in sup.console.getvalue()  # type: ignore[attr-defined]
    state = json.loads((sup.home / "run" / "supervisor.json").read_text())
    assert state["roles"]["dummy"]["state"] == "stopped"


def test_a_role_that_cannot_start_backs_off_and_says_so(make: Callable[..., Supervisor]) -> None:
    sup = make()
    sup.add("broken", [sys.executable, "-c", "import sys; print('ERROR: no configuration', flush=True); sys.exit(3)"])
    role = sup.roles["broken"]
    sup.start(role)
    until(sup, lambda: role.failures >= 4, "four failed starts")
    console = sup.console.getvalue()  # type: ignore[attr-defined]
    assert "role broken (pid" in console and "exited with status 3" in console
    assert "broken: ERROR: no configuration" in console  # the role's own reason, from its output
    # the delay doubles with each failure in a row (0.1, 0.2, 0.4, 0.8 s, at most 1 s here)
    assert "failed 2 times in a row; next start in 0.2 s" in console
    assert "failed 4 times in a row; next start in 0.8 s" in console


def test_role_output_goes_to_its_rotating_log_and_only_problems_to_the_console(
        make: Callable[..., Supervisor]) -> None:
    sup = make(log_max_bytes=4000, log_backups=2)
    script = ("import logging, sys\n"
              "logging.basicConfig(level=logging.INFO, format='%(levelname)s %(message)s')\n"
              "for i in range(200): logging.info('routine line %d', i)\n"
              "logging.warning('disk almost full')\n"
              "print(' 3(123) INFO: <core> [main.c:1]: kamailio info line', flush=True)\n"
              "print(' 3(123) ERROR: tm [t_fwd.c:2]: kamailio error line', flush=True)\n"
              "raise ValueError('boom')\n")
    sup.add("chatty", [sys.executable, "-c", script])
    role = sup.roles["chatty"]
    sup.start(role)
    until(sup, lambda: role.state != "running", "the role's exit")
    assert role.reader is not None
    role.reader.join(5)
    console = sup.console.getvalue()  # type: ignore[attr-defined]
    lines = [line for line in console.splitlines() if line.startswith("polyvox: chatty: ")]
    assert lines == ["polyvox: chatty: WARNING disk almost full",
                     "polyvox: chatty: 3(123) ERROR: tm [t_fwd.c:2]: kamailio error line",
                     "polyvox: chatty: Traceback (most recent call last):",
                     "polyvox: chatty: ValueError: boom"], console
    logs = sorted(p.name for p in (sup.home / "log").glob("chatty.log*"))
    assert logs == ["chatty.log", "chatty.log.1", "chatty.log.2"]  # rotated, two backups kept
    assert all((sup.home / "log" / name).stat().st_size <= 4000 + 200 for name in logs)
    text = (sup.home / "log" / "chatty.log").read_text()
    assert "kamailio info line" in text and "ValueError: boom" in text and 'line 7, in <module>' in text


def _polyvox(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("POLYVOX_")}
    env["POLYVOX_HOME"] = str(home)
    return subprocess.run([sys.executable, "-m", "polyvox.cli", *args], env=env, capture_output=True, text=True,
                          timeout=60, cwd=ROOT)


def test_status_and_logs_from_another_process(make: Callable[..., Supervisor]) -> None:
    sup = make()
    port = free_udp_port()
    role = dummy(sup, port, 1)
    os.kill(role.pgid, signal.SIGKILL)
    until(sup, lambda: role.state == "running" and role.restarts == 1 and ask(port, 0.3) is not None,
          "the restart")
    sup.write_state()

    st = _polyvox(sup.home, "status", "--json")
    assert st.returncode == 0, st.stderr
    data = json.loads(st.stdout)
    assert data["running"] is True and data["pid"] == os.getpid()
    d = data["roles"]["dummy"]
    assert (d["pid"], d["up"], d["restarts"], d["last_exit"]) == (role.pgid, True, 1, "was killed by SIGKILL")
    assert [(p["proto"], p["port"], p["listening"]) for p in d["ports"]] == [("udp", port, True)]
    text = _polyvox(sup.home, "status")
    assert text.returncode == 0 and "dummy" in text.stdout and "last exit: was killed by SIGKILL" in text.stdout

    logs = _polyvox(sup.home, "logs", "dum", "-n", "3")  # a unique prefix names the role
    assert logs.returncode == 0, logs.stderr
    assert logs.stdout.splitlines()[-1].endswith("WARNING: dummy role started"), logs.stdout
    assert _polyvox(sup.home, "logs", "nosuchrole").returncode == 2

    # follow: lines written after the start are printed
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("POLYVOX_")}, "POLYVOX_HOME": str(sup.home)}
    follower = subprocess.Popen([sys.executable, "-m", "polyvox.cli", "logs", "supervisor", "-f", "-n", "0"],
                                env=env, stdout=subprocess.PIPE, text=True, cwd=ROOT)
    try:
        time.sleep(2.0)  # the follower is reading
        sup.say("a line for the follower")
        assert follower.stdout is not None
        deadline = time.monotonic() + 10
        seen = ""
        while time.monotonic() < deadline and "a line for the follower" not in seen:
            seen += follower.stdout.readline()
        assert "a line for the follower" in seen
    finally:
        follower.send_signal(signal.SIGTERM)
        follower.wait(10)

    sup.stopping = True
    sup.stop_all()
    after = _polyvox(sup.home, "status", "--json")
    assert after.returncode == 3 and json.loads(after.stdout)["running"] is False


def test_processes_of_a_killed_supervisor_are_stopped_by_the_next_one(make: Callable[..., Supervisor]) -> None:
    sup = make()
    port = free_udp_port()
    role = dummy(sup, port, 2)
    members = sv.group_members(role.pgid)
    sup.write_state()
    assert sv.stop_leftovers(sup.home) == []  # its supervisor (this process) is alive: nothing to do
    # the supervisor "was killed": a state file whose PID no longer runs
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    path = sv.state_file(sup.home)
    state = json.loads(path.read_text())
    path.write_text(json.dumps({**state, "pid": gone.pid}))

    st = _polyvox(sup.home, "status", "--json")
    assert st.returncode == 3, st.stdout + st.stderr
    data = json.loads(st.stdout)
    assert data["running"] is False and data["roles"]["dummy"]["state"] == "orphaned", data

    stopped = sv.stop_leftovers(sup.home)
    assert sorted(stopped) == sorted(members)
    assert sv.group_members(role.pgid) == [] and sv.port_free("udp", "127.0.0.1", port)
