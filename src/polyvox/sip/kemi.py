"""What both proxies' KEMI scripts do the same way (loaded inside Kamailio's app_python3).

- :func:`pv` is the one way the scripts read a pseudo-variable: header and URI values may hold
  bytes that are not UTF-8 (app_python3 would raise ``UnicodeDecodeError``), they come back with
  those bytes replaced by U+FFFD.
- :func:`initial_request`: the checks every request goes through first.
- :class:`DialogGuard`: in-dialog requests are relayed only within a dialog this proxy set up,
  from one of its parties (docs/sip.md §11): no open relay. Answered dialogs are also kept in
  ``kam_dialogs`` so that their in-dialog requests still pass after a restart of the proxy.
"""

from __future__ import annotations

import ipaddress
import json
import re
import traceback
from collections.abc import Callable, Iterable
from typing import Any

import KSR  # type: ignore[import-not-found]  # provided by Kamailio's app_python3

MAX_PEERS = 8
DIALOG_MAX_SECONDS = 10800 + 600  # the dialog module's default_timeout, plus a margin  # forked early dialogs add one address per answering branch


def pv(name: str) -> Any:
    """``KSR.pv.get(name)`` that never raises on undecodable bytes: the raw value is read again
    hex-encoded by Kamailio (``{s.encode.hexa}``) and decoded with U+FFFD for the bad bytes; NUL
    characters (which no ``KSR`` function accepts back) become U+FFFD too."""
    try:
        value = KSR.pv.get(name)
    except (UnicodeDecodeError, ValueError):
        hexa = f"{name[:-1]}{{s.encode.hexa}})" if name.startswith("$(") else f"$({name[1:]}{{s.encode.hexa}})"
        try:
            raw = KSR.pv.get(hexa) or ""
            value = bytes.fromhex(str(raw)).decode("utf-8", "replace")
        except (UnicodeDecodeError, ValueError):
            value = "\ufffd"
    if isinstance(value, str) and "\x00" in value:
        value = value.replace("\x00", "\ufffd")
    return value


def reply(code: int, reason: str) -> None:
    """Stateless reply with a reason phrase (tm replies statefully when a transaction exists)."""
    KSR.sl.send_reply(code, reason)


def log_error(what: str) -> None:
    """Logs the exception being handled, on one line (Kamailio's log is line oriented)."""
    KSR.err(f"polyvox: {what} error: " + traceback.format_exc().replace("\n", " | ") + "\n")


def printable(value: Any) -> bool:
    """A method / URI part a proxy can work with: decodable text without control characters."""
    text = str(value or "")
    return "\ufffd" not in text and not any(ord(c) < 32 or ord(c) == 127 for c in text)


def malformed_uris() -> str | None:
    """The first of R-URI, From and To whose user or host holds undecodable bytes or control
    characters (RFC 3261 URIs are ASCII with %-escapes), else None."""
    for what, names in (("R-URI", ("$rU", "$rd")), ("From", ("$fU", "$fd")), ("To", ("$tU", "$td"))):
        if not all(printable(pv(n)) for n in names):
            return what
    return None


MAX_RURI = 2048  # longer Request-URIs get 414 (a dialled number never needs that much)
CONTACT_URI = re.compile(r"<\s*(sips?:[^>]*)>|(?:^|,)\s*(sips?:[^;,\s]*)", re.I)
URI_HOSTPORT = re.compile(r"^sips?:(?:[^@]*@)?(\[[^\]]*\]|[^:;?]*)(?::([^;?]*))?", re.I)


def invalid_contacts() -> bool:
    """Some Contact URI of the request cannot be used to reach its sender: not printable, an
    unparsable host (IPv6 reference) or a port out of range. ``*`` (REGISTER) is fine."""
    value = str(pv("$(hdr(Contact)[*])") or "").strip()
    if not value or value == "*":
        return False
    if not printable(value):
        return True
    for bracketed, bare in CONTACT_URI.findall(value):
        m = URI_HOSTPORT.match(bracketed or bare)
        if m is None or not m.group(1):
            return True
        host, port = m.group(1), m.group(2)
        if host.startswith("["):
            try:
                ipaddress.IPv6Address(host[1:-1])
            except ValueError:
                return True
        if port is not None and (not port.isdigit() or not 0 < int(port) < 65536):
            return True
    return False


def sdp_invalid(body: str) -> bool:
    """An SDP body rtpengine cannot take (checked only after rtpengine refused an offer, to tell
    the caller's fault, 488, from a media relay that is down, 503): not ``v=0`` first, a line
    that is not ``x=value``, an unparsable ``c=`` address or an ``m=`` port out of range."""
    lines = [ln.strip() for ln in body.replace("\r", "").split("\n") if ln.strip()]
    if not lines or lines[0] != "v=0" or not printable("".join(lines)):
        return True
    for ln in lines:
        if len(ln) < 2 or ln[1] != "=":
            return True
        kind, value = ln[0], ln[2:].split()
        if kind == "c":
            if len(value) < 3 or value[0] != "IN":
                return True
            try:
                ipaddress.ip_address(value[2].split("/")[0])
            except ValueError:
                return True
        elif kind == "m":
            port = value[1].split("/")[0] if len(value) > 1 else ""
            if len(value) < 3 or not port.isdigit() or int(port) > 65535:
                return True
    return False


def nul_in_headers() -> bool:
    """The header section holds a NUL octet (Kamailio's parser stops a value there, so the rest of
    the value would be silently lost). Read hex-encoded: no text conversion can hide it."""
    try:
        raw = bytes.fromhex(str(KSR.pv.get("$(mb{s.encode.hexa})") or ""))
    except (UnicodeDecodeError, ValueError):
        return False
    return b"\x00" in raw.split(b"\r\n\r\n", 1)[0]


def initial_request(relay: Callable[[], None], within_dialog: Callable[[str], None]) -> str | None:
    """The checks every request goes through before a proxy's own routing.

    Max-Forwards, sanity, rport, keepalive OPTIONS, CANCEL and in-dialog requests (handed to
    ``relay`` / ``within_dialog``), retransmissions and stray ACKs. Returns the method of a new
    initial request left to route (its Route headers removed), or None when it was handled.
    """
    if KSR.maxfwd.process_maxfwd(10) < 0:
        reply(483, "Too Many Hops")
        return None
    if KSR.sanity.sanity_check(17895, 7) < 0:
        KSR.err(f"polyvox: malformed request from {pv('$si')}:{pv('$sp')}\n")
        return None
    if nul_in_headers():
        KSR.notice(f"polyvox: request with a NUL octet in its headers from {pv('$si')}:{pv('$sp')}\n")
        reply(400, "Bad Request: NUL in header")
        return None
    method = str(pv("$rm") or "")
    if not method or not printable(method) or not method.isascii() or " " in method:
        KSR.notice(f"polyvox: request with an invalid method from {pv('$si')}:{pv('$sp')}\n")
        reply(400, "Bad Request: invalid method")
        return None
    if len(str(pv("$ru") or "")) > MAX_RURI:
        reply(414, "Request-URI Too Long")
        return None
    if invalid_contacts():
        reply(400, "Bad Request: invalid Contact")
        return None
    KSR.force_rport()
    if method == "OPTIONS" and KSR.is_myself_ruri() and KSR.corex.has_ruri_user() < 0:
        reply(200, "Keepalive")
        return None
    if method == "CANCEL":
        if KSR.tm.t_check_trans() > 0:
            relay()
        return None
    if KSR.siputils.has_totag() > 0:
        within_dialog(method)
        return None
    if KSR.tmx.t_precheck_trans() > 0:
        KSR.tm.t_check_trans()
        return None
    if KSR.tm.t_check_trans() == 0 or method == "ACK":
        return None
    KSR.hdr.remove("Route")
    return method


def stray_reply() -> bool:
    """Core reply route: a reply matching no transaction of this proxy is dropped instead of being
    forwarded statelessly to its second Via (anyone could make the proxy send replies anywhere)."""
    if KSR.tm.t_check_trans() < 0:
        KSR.set_drop()
        return True
    return False


# ---------------------------------------------------------------------------------- dialogs
PEERS_TABLE = "dlgpeers"  # htable: Call-ID -> source addresses of the parties of its dialogs


def next_hop() -> tuple[str, int]:
    """Host and port a request goes to after ``loose_route``: the destination URI, else the R-URI."""
    if pv("$du"):
        return str(pv("$dd") or ""), int(pv("$dp") or 5060)
    return str(pv("$rd") or ""), int(pv("$rp") or 5060)


class DialogContext:
    """The dialog an in-dialog request belongs to: Kamailio's dialog module holds it, or
    (``stored``) ``kam_dialogs`` does for a dialog answered before this proxy (re)started."""

    def __init__(self, peers: list[str], inside: bool, stored: dict[str, str] | None = None,
                 row_id: int | None = None) -> None:
        self.peers = peers
        self.inside = inside
        self.stored = stored
        self.row_id = row_id

    @property
    def restored(self) -> bool:
        return self.stored is not None

    def var(self, name: str) -> str:
        if self.stored is not None:
            return str(self.stored.get(name) or "")
        return str(pv(f"$dlg_var({name})") or "")


class DialogGuard:
    """The relay decision for in-dialog requests (docs/sip.md §11).

    A request with a To tag is relayed only when it belongs to a dialog this proxy created
    (Kamailio's dialog module knows it, or it is an answered dialog stored in ``kam_dialogs``
    before a restart) and its source address is one of the dialog's parties (the caller's at
    creation, each answering callee's) or an internal peer (``internal(ip, port)``); both are
    checked *before* ``loose_route``, whose dialog callback would otherwise let anyone's BYE end
    the dialog. After ``loose_route``, a request of an outside party must go to an internal peer
    or to a party of the dialog. Otherwise: 481 (no such dialog) or 403, never relayed.

    The parties are kept per Call-ID (htable ``dlgpeers``): the two dialogs of a call that
    crosses a proxy twice (same Call-ID and tags) share them."""

    def __init__(self, engine: Any, proxy: str, internal: Callable[[str, int], bool],
                 stored_vars: Iterable[str], port: int, refresh: Callable[[], None] | None = None) -> None:
        self.engine = engine
        self.refresh = refresh  # brings the configuration cache up to date (application servers)
        self.refreshed = False
        self.port = port  # own listening port: requests from it come from this proxy itself
        self.proxy = proxy
        self.internal = internal
        self.stored_vars = tuple(stored_vars)

    # ----- dialog life
    @staticmethod
    def peers(call_id: str) -> list[str]:
        return [p for p in str(KSR.htable.sht_get(PEERS_TABLE, call_id) or "").split(",") if p]

    def add_peer(self, call_id: str, ip: str) -> None:
        peers = self.peers(call_id)
        if ip and ip not in peers and len(peers) < MAX_PEERS:
            KSR.htable.sht_sets(PEERS_TABLE, call_id, ",".join([*peers, ip]))

    def created(self) -> None:
        """Right after ``dlg_manage`` of an initial request: the sender is the caller party."""
        self.add_peer(str(pv("$ci") or ""), str(pv("$si") or ""))

    def answered_by(self, status: int) -> None:
        """Reply route of an INVITE: a callee answering (1xx with To tag, 2xx) is a party."""
        if 100 < status < 300 and KSR.siputils.has_totag() > 0:
            self.add_peer(str(pv("$ci") or ""), str(pv("$si") or ""))

    def started(self) -> None:
        """``dialog:start`` (the 2xx being processed): the callee is a party; the dialog is stored."""
        from polyvox.db.location import save_dialog

        call_id = str(pv("$dlg(callid)") or "")
        self.add_peer(call_id, str(pv("$si") or ""))
        values = {name: str(pv(f"$dlg_var({name})") or "") for name in self.stored_vars}
        values = {k: v for k, v in values.items() if v}
        try:
            # the dialog module sets its callee tag after dialog:start: the 2xx's To tag is it
            save_dialog(self.engine, proxy=self.proxy, callid=call_id,
                        caller_tag=str(pv("$dlg(from_tag)") or ""),
                        callee_tag=str(pv("$dlg(to_tag)") or pv("$tt") or ""),
                        peers=",".join(self.peers(call_id)), values=json.dumps(values))
        except Exception:
            log_error("dialog store")

    def ended(self, answered: bool = True) -> None:
        """``dialog:end`` / ``dialog:failed``: the parties and the stored copy go."""
        from polyvox.db.location import drop_dialog

        call_id = str(pv("$dlg(callid)") or "")
        KSR.htable.sht_rm(PEERS_TABLE, call_id)
        if not answered:
            return
        try:
            drop_dialog(self.engine, proxy=self.proxy, callid=call_id, caller_tag=str(pv("$dlg(from_tag)") or ""))
        except Exception:
            log_error("dialog store")

    def forget(self, ctx: DialogContext) -> None:
        """A restored dialog ended by its BYE."""
        from polyvox.db.location import drop_dialog_row

        if ctx.row_id is not None:
            try:
                drop_dialog_row(self.engine, ctx.row_id)
            except Exception:
                log_error("dialog store")

    def purge(self) -> None:
        """Stored dialogs older than the longest dialog (default_timeout): their end was missed."""
        import datetime as dt

        from polyvox.db.location import purge_dialogs

        try:
            purge_dialogs(self.engine, proxy=self.proxy, older_than=dt.timedelta(seconds=DIALOG_MAX_SECONDS))
        except Exception:
            log_error("dialog store")

    def sweep(self, since: Any, missed: Callable[[dict[str, str]], None]) -> None:
        """Timer process: stored dialogs created since this proxy started (``since``, naive UTC)
        that its dialog module no longer knows ended without ``dialog:end`` (the dialog module
        skips it when a BYE it sends itself is answered while it still sends the other one):
        ``missed(values)`` finishes them (call record, media) and the stored copy goes."""
        import datetime as dt

        from polyvox.db.location import dialogs_since, drop_dialog_row

        try:
            now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
            for row in dialogs_since(self.engine, proxy=self.proxy, since=since, before=now - dt.timedelta(seconds=5)):
                KSR.jsonrpcs.exec(json.dumps({"jsonrpc": "2.0", "method": "dlg.dlg_list",
                                              "params": [row.callid, row.caller_tag], "id": 1}))
                body = str(pv("$jsonrpl(body)") or "")
                try:
                    result = json.loads(body)
                except ValueError:
                    continue
                # the dialog module lists nothing for a dialog it does not know
                if not isinstance(result, dict) or result.get("result") or "error" in result:
                    continue
                try:
                    values = {str(k): str(v) for k, v in json.loads(row.vals or "{}").items()}
                except (ValueError, AttributeError):
                    values = {}
                KSR.notice(f"polyvox: dialog {row.callid} ended without dialog:end: finishing it\n")
                drop_dialog_row(self.engine, int(row.id))
                missed(values)
        except Exception:
            log_error("dialog sweep")

    # ----- the decision
    def is_internal(self, ip: str, port: int) -> bool:
        """An internal peer; the configuration cache is brought up to date (once per request)
        before saying no: an application server added a moment ago is inside too."""
        if self.internal(ip, port):
            return True
        if self.refresh is None or self.refreshed:
            return False
        self.refreshed = True
        self.refresh()
        return self.internal(ip, port)

    def check(self, method: str, refused: Callable[[], bool] | None = None) -> DialogContext | None:
        """Before ``loose_route``: the dialog context when the request may go on; None when it was
        refused (answered; ACKs are dropped). ``refused`` runs for refusals of outside senders
        (anti-flood count); True from it means: drop without a reply."""
        self.refreshed = False
        si, sp = str(pv("$si") or ""), int(pv("$sp") or 0)
        # requests the proxy sends itself (hangups of ksr_dlgcut through its own address) are inside
        myself = sp == self.port and KSR.is_myself_srcip() > 0
        ctx: DialogContext | None = None
        if KSR.dialog.is_known_dlg() > 0:
            ctx = DialogContext(self.peers(str(pv("$ci") or "")), myself)
        else:
            row = self.lookup()
            if row is not None:
                ctx = DialogContext([p for p in row[2].split(",") if p], myself, row[1], row[0])
        if ctx is None:
            if myself or self.is_internal(si, sp):
                return self.refuse(method, 481, "Call/Transaction Does Not Exist: unknown dialog", si, None)
            return self.refuse(method, 481, "Call/Transaction Does Not Exist: unknown dialog", si, refused)
        if not ctx.inside and si not in ctx.peers:
            ctx.inside = self.is_internal(si, sp)
            if not ctx.inside:
                return self.refuse(method, 403, "Forbidden: not a party of this dialog", si, refused)
        return ctx

    def destination_ok(self, method: str, ctx: DialogContext, refused: Callable[[], bool] | None = None) -> bool:
        """After ``loose_route`` (and NAT alias handling): an outside party's request goes to an
        internal peer or a party of the dialog."""
        if ctx.inside:
            return True
        host, port = next_hop()
        if host in ctx.peers or self.is_internal(host, port):
            return True
        si, sp = str(pv("$si") or ""), int(pv("$sp") or 0)
        if self.is_internal(si, sp):  # an internal peer that is also a party
            return True
        self.refuse(method, 403, "Forbidden: in-dialog destination outside the dialog", si, refused)
        return False

    def lookup(self) -> tuple[int, dict[str, str], str] | None:
        from polyvox.db.location import find_dialog

        try:
            found = find_dialog(self.engine, proxy=self.proxy, callid=str(pv("$ci") or ""),
                                tags=(str(pv("$ft") or ""), str(pv("$tt") or "")))
        except Exception:
            log_error("dialog store")
            return None
        if found is None:
            return None
        row_id, peers, values = found
        try:
            stored = {str(k): str(v) for k, v in json.loads(values or "{}").items()}
        except (ValueError, AttributeError):
            stored = {}
        return row_id, stored, peers

    def refuse(self, method: str, code: int, reason: str, si: str,
               refused: Callable[[], bool] | None) -> None:
        KSR.notice(f"polyvox: in-dialog {method} from {si}:{pv('$sp')} to {pv('$ru')} refused: {reason}\n")
        if refused is not None and refused():
            return None
        if method != "ACK":
            reply(code, reason)
        return None


def release_media(nodes: Iterable[tuple[int, str, int, bool]], rtp_cid: str, mrs: Any) -> None:
    """Deletes a dialog's media session (``rtp_cid``: its identity at rtpengine) on the relays of
    its set, straight over the NG protocol: for calls ended by the dialog module (dialog timeout,
    keepalive failure, ``dlg.end_dlg``) whose BYEs never cross the request route. An already
    deleted session (``Unknown call-id``) is fine."""
    from polyvox.media.ng import NGClient

    try:
        set_id: int | None = int(mrs)
    except (TypeError, ValueError):
        set_id = None
    for sid, url, _weight, disabled in nodes:
        if disabled or (set_id is not None and sid != set_id):
            continue
        try:
            with NGClient(url, timeout=0.5, retries=1) as ng:
                ng.delete(rtp_cid)
        except Exception as exc:
            KSR.dbg(f"polyvox: media release of {rtp_cid} on {url}: {exc}\n")
