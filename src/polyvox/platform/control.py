"""Client of proxy-trunks' Kamailio JSON-RPC (``jsonrpcs``): active calls and ending calls.

Used by the API (active calls, spec 8.12 / 9.6.1) and by the billing worker (cut the calls of a
prepaid client whose balance reached zero, or of a client that reached its max daily usage,
spec 9.4.1 / 12.6). docs/sip.md §9.9 has the details.

Where proxy-trunks listens (``target``):

- ``fifo:/path/kamailio_rpc.fifo`` — the FIFO in proxy-trunks' run directory (default: same host;
  no size limit on replies);
- ``unix:/path/kamailio_rpc.sock`` — the UNIX datagram socket in the run directory;
- ``udp:HOST:PORT`` — the datagram socket of a proxy-trunks started with
  ``POLYVOX_SIP_TRUNKS_RPC_LISTEN=udp:HOST:PORT`` (distributed profile: the API and the workers
  on other hosts; a reply must fit in one datagram, about 64 KB, ~150 calls).

``POLYVOX_SIP_TRUNKS_RPC`` (environment) gives the target; otherwise the FIFO of the
:class:`~polyvox.platform.proxy_settings.ProxySettings` passed in, else ``$POLYVOX_HOME/run/proxy-trunks``.
Several proxy-trunks: a comma-separated list of targets (every one is asked).
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import socket
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

__all__ = ["RpcError", "active_calls", "end_call", "end_company_calls", "rpc", "targets"]

ENV_TARGET = "POLYVOX_SIP_TRUNKS_RPC"
# the reply FIFO is created next to the request FIFO: proxy-trunks' fifo_reply_dir is its run directory

# Kamailio dialog states -> RFC 4235 states (spec 8.12.1)
STATES = {1: "trying", 2: "early", 3: "confirmed", 4: "confirmed", 5: "terminated"}


class RpcError(RuntimeError):
    """proxy-trunks unreachable, or an RPC error reply."""


def targets(settings: Any = None) -> list[str]:
    """The RPC endpoints to ask (see the module documentation)."""
    env = os.environ.get(ENV_TARGET, "").strip()
    if env:
        return [t.strip() for t in env.split(",") if t.strip()]
    if isinstance(settings, str) and settings:
        return [t.strip() for t in settings.split(",") if t.strip()]
    rundir: Path | None = None
    if settings is not None and hasattr(settings, "rundir"):
        rundir = Path(settings.rundir)
    if rundir is None:
        home = Path(os.environ.get("POLYVOX_HOME", Path.cwd() / "var")).resolve()
        rundir = home / "run" / "proxy-trunks"
    return [f"fifo:{rundir / 'kamailio_rpc.fifo'}"]


def rpc(target: str, method: str, *params: Any, timeout: float = 5.0) -> Any:
    """One JSON-RPC call; returns ``result`` or raises :class:`RpcError`."""
    request: dict[str, Any] = {"jsonrpc": "2.0", "method": method, "id": uuid.uuid4().int % 1_000_000}
    if params:
        request["params"] = list(params)
    kind, _, where = target.partition(":")
    if kind == "fifo":
        raw = _fifo(where, request, timeout)
    elif kind in ("unix", "udp"):
        raw = _dgram(kind, where, request, timeout)
    else:
        raise RpcError(f"unknown RPC target {target!r} (fifo:PATH, unix:PATH or udp:HOST:PORT)")
    try:
        reply = json.loads(raw)
    except ValueError as e:
        raise RpcError(f"{method}: malformed reply from {target}: {raw[:200]!r}") from e
    if "error" in reply:
        err = reply["error"]
        raise RpcError(f"{method}: {err.get('code')} {err.get('message')}" if isinstance(err, dict) else str(err))
    return reply.get("result")


def _fifo(path: str, request: dict[str, Any], timeout: float) -> bytes:
    name = f"polyvox_rpc_{os.getpid()}_{uuid.uuid4().hex[:10]}"
    reply_path = os.path.join(os.path.dirname(path), name)
    request["reply_name"] = name
    os.mkfifo(reply_path, 0o600)
    rfd = -1
    try:
        rfd = os.open(reply_path, os.O_RDONLY | os.O_NONBLOCK)  # before the request: Kamailio opens it to write
        try:
            wfd = os.open(path, os.O_WRONLY | os.O_NONBLOCK)
        except OSError as e:
            raise RpcError(f"proxy-trunks RPC FIFO {path} not available: {e}") from e
        try:
            os.write(wfd, json.dumps(request).encode() + b"\n")
        finally:
            os.close(wfd)
        chunks: list[bytes] = []
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise RpcError(f"no reply from proxy-trunks ({path}) within {timeout}s")
            ready, _, _ = select.select([rfd], [], [], left)
            if not ready:
                continue
            try:
                data = os.read(rfd, 65536)
            except BlockingIOError:  # select woke up on a writer connecting before it wrote
                time.sleep(0.005)
                continue
            if not data:
                if chunks:
                    break
                time.sleep(0.01)  # writer not connected yet
                continue
            chunks.append(data)
            if _complete(b"".join(chunks)):
                break
        return b"".join(chunks)
    finally:
        if rfd >= 0:
            os.close(rfd)
        with contextlib.suppress(OSError):
            os.unlink(reply_path)


def _complete(data: bytes) -> bool:
    try:
        json.loads(data)
        return True
    except ValueError:
        return False


def _dgram(kind: str, where: str, request: dict[str, Any], timeout: float) -> bytes:
    payload = json.dumps(request).encode()
    if kind == "unix":
        local = os.path.join(tempfile.gettempdir(), f"polyvox_rpc_{os.getpid()}_{uuid.uuid4().hex[:8]}.sock")
        s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        try:
            s.bind(local)
            s.settimeout(timeout)
            s.sendto(payload, where)
            return s.recv(1 << 20)
        except OSError as e:
            raise RpcError(f"proxy-trunks RPC socket {where}: {e}") from e
        finally:
            s.close()
            with contextlib.suppress(OSError):
                os.unlink(local)
    host, _, port = where.rpartition(":")
    host = host.strip("[]")
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    s = socket.socket(family, socket.SOCK_DGRAM)
    try:
        s.settimeout(timeout)
        s.sendto(payload, (host, int(port)))
        return s.recv(1 << 20)
    except OSError as e:
        raise RpcError(f"proxy-trunks RPC {where}: {e}") from e
    finally:
        s.close()


# ------------------------------------------------------------------------------------ dialogs
def _dialogs(target: str) -> list[dict[str, Any]]:
    result = rpc(target, "dlg.list_ctx")
    if result is None:
        return []
    if isinstance(result, dict):
        result = [result]
    return [d for d in result if isinstance(d, dict)]


def _vars(dialog: dict[str, Any]) -> dict[str, str]:
    out: dict[str, str] = {}
    ctx = dialog.get("context") or {}
    for item in ctx.get("variables") or dialog.get("variables") or []:
        if isinstance(item, dict):
            for k, v in item.items():
                out[str(k)] = str(v)
    return out


def _int(value: str | None) -> int | None:
    try:
        return int(value) if value not in (None, "") else None
    except ValueError:
        return None


def _call(target: str, dialog: dict[str, Any]) -> dict[str, Any] | None:
    v = _vars(dialog)
    if not v.get("direction"):
        return None
    state = STATES.get(int(dialog.get("state") or 0), "trying")
    if state == "terminated":
        return None
    start = v.get("start") or ""
    answer = None
    if state == "confirmed":
        answer = v.get("answer") or (datetime.fromtimestamp(int(dialog["start_ts"]), UTC).isoformat()
                                     if dialog.get("start_ts") else None)
    return {
        "callId": dialog.get("call-id") or v.get("callid") or "",
        "direction": v.get("direction"),
        "state": state,
        "brandId": _int(v.get("brand")),
        "companyId": _int(v.get("company")),
        "carrierId": _int(v.get("carrier")),
        "ddiProviderId": _int(v.get("provider")),
        "caller": v.get("caller", ""),
        "callee": v.get("callee", ""),
        "startTime": start,
        "answerTime": answer,
        "maxDuration": _int(v.get("maxdur")),
        "routingTagId": _int(v.get("tag")),
        "endpointType": v.get("ep_type") or None,
        "endpointId": _int(v.get("ep_id")),
        "endpointName": v.get("ep_name") or None,
        "disableCdr": bool(v.get("nocdr")),
        "ref": f"{target}|{dialog.get('h_entry')}|{dialog.get('h_id')}",
    }


def _all_calls(settings: Any) -> list[dict[str, Any]]:
    calls: list[dict[str, Any]] = []
    for target in targets(settings):
        for dialog in _dialogs(target):
            call = _call(target, dialog)
            if call is not None:
                calls.append(call)
    return calls


def active_calls(settings: Any = None, *, include_disabled_cdr: bool = False) -> list[dict[str, Any]]:
    """External calls going through proxy-trunks now (one item per dialog, spec 8.12):
    ``callId, direction (inbound|outbound), state (trying|early|confirmed), brandId, companyId,
    carrierId, ddiProviderId, caller, callee (E.164), startTime, answerTime (ISO 8601, UTC),
    maxDuration`` (seconds, prepaid / pseudo-prepaid calls), ``routingTagId`` (the tag the call was
    routed and rated with). Calls to special numbers with
    *Disable CDR* are not listed (8.9.1) unless ``include_disabled_cdr``."""
    calls = _all_calls(settings)
    out = [{k: v for k, v in c.items() if k != "ref"} for c in calls if include_disabled_cdr or not c["disableCdr"]]
    return sorted(out, key=lambda c: c["startTime"])


def _end(call: dict[str, Any]) -> bool:
    """Schedules the end of an established call: its dialog goes into proxy-trunks' ``dlgcut``
    table with deadline 0, and proxy-trunks' timer process (every 0.2 s) sends BYE to both sides
    and makes sure the call record is written (docs/sip.md §9.9)."""
    if call["state"] != "confirmed":
        return False  # no BYE before the answer
    target, h_entry, h_id = call["ref"].split("|")
    try:
        rpc(target, "htable.sets", "dlgcut", f"{int(h_entry)}:{int(h_id)}", "0")
        return True
    except (RpcError, ValueError):
        return False


def end_call(settings: Any, callid: str) -> bool:
    """Hangs up the established call with this Call-ID (BYE to both sides, within a fraction of a
    second); False when there is none or it is not answered yet."""
    return any([_end(c) for c in _all_calls(settings) if c["callId"] == callid])


def end_company_calls(settings: Any, company_id: int) -> int:
    """Hangs up every established call of the client (inbound and outbound; spec 9.4.1 prepaid
    balance at zero, 12.6 max daily usage reached); returns how many are being ended. Calls
    not answered yet are left alone (new calls are refused by the billing checks)."""
    return sum(1 for c in _all_calls(settings) if c["companyId"] == company_id and _end(c))
