"""The sippy bridge: sippy's event loop in its own thread, call logic in asyncio.

* sippy (``ED2``, transactions, UA state machines) runs in a dedicated thread. Every sippy
  module is imported **inside** that thread, so the ``ED2`` singleton binds to it
  (appserver-findings §1). The UDP transport and the transaction manager are the hardened
  subclasses of :mod:`~polyvox.appserver.runtime.sippy_transport` (one receiver and one sender
  thread: sippy's default pool of 3 reorders the messages of one transaction; every datagram
  screened by :mod:`~polyvox.appserver.runtime.sipguard` first).
* sippy → asyncio: each UA's event callback converts the ``CCEvent`` into a
  :mod:`~polyvox.appserver.runtime.legs` event and hands it to the loop with
  ``call_soon_threadsafe``.
* asyncio → sippy: every leg method posts a closure with ``ED2.callFromThread``.

Only this module knows sippy; the executor sees :class:`~polyvox.appserver.runtime.legs.Leg`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import Callable, Collection
from typing import Any

from polyvox.appserver.runtime.legs import (
    Acked,
    Answered,
    Ended,
    EventHandler,
    Failed,
    IncomingHandler,
    Info,
    InviteInfo,
    LegEvent,
    OutgoingCall,
    Progress,
    Refer,
    Reinvite,
    ReinviteDone,
)

log = logging.getLogger("polyvox.appserver.sip")


class _NullSipLog:
    """sippy's ``_sip_logger``: every message goes to Python logging at DEBUG level."""

    def write(self, *args: Any, **kwargs: Any) -> None:
        if log.isEnabledFor(logging.DEBUG):
            log.debug("%s", "".join(str(a) for a in args))


class SippyLeg:
    """One SIP leg (sippy ``UA``) seen from asyncio."""

    def __init__(self, stack: SippyStack, label: str = "") -> None:
        self.stack = stack
        self.label = label
        self.call_id = ""
        self.ua: Any = None
        self.handler: EventHandler | None = None
        self.confirmed = False  # 2xx sent (UAS) / received (UAC)
        self.ended = False
        self.incoming = False
        self._remote_sdp: str | None = None
        self._notify_cseq_sent = False

    # ------------------------------------------------------------------ asyncio side
    def set_handler(self, handler: EventHandler) -> None:
        self.handler = handler

    @property
    def remote_sdp(self) -> str | None:
        return self._remote_sdp

    def _post(self, fn: Callable[..., None], *args: Any) -> None:
        self.stack.in_sippy(fn, *args)

    def progress(self, code: int, reason: str, sdp: str | None = None) -> None:
        self._post(self._s_event, "ring", (code, reason, sdp))

    def answer(self, sdp: str | None) -> None:
        self.confirmed = True
        # late offer (the INVITE had no SDP): our 2xx carries the offer, the caller's ACK the answer,
        # which sippy hands over only after a "pre-connect"
        kind = "preconnect" if self.incoming and self._remote_sdp is None and sdp else "connect"
        self._post(self._s_event, kind, (200, "OK", sdp))

    def reject(self, code: int, reason: str) -> None:
        self.ended = True
        self._post(self._s_event, "fail", (code, reason))

    def hangup(self, reason: str | None = None) -> None:
        if self.ended:
            return
        self.ended = True
        if self.incoming and not self.confirmed:
            self._post(self._s_event, "fail", (487, "Request Terminated"))
        else:
            self._post(self._s_event, "disconnect", reason)

    def reinvite(self, sdp: str | None) -> None:
        self._post(self._s_event, "update", sdp)

    def ack(self, sdp: str) -> None:
        self._post(self._s_ack, sdp)

    def accept_reinvite(self, sdp: str | None) -> None:
        self._post(self._s_event, "connect", (200, "OK", sdp))

    def reject_reinvite(self, code: int, reason: str) -> None:
        self._post(self._s_event, "fail", (code, reason))

    def notify_refer(self, code: int, reason: str, final: bool) -> None:
        self._post(self._s_notify, code, reason, final)

    def info(self, content_type: str | None, body: str | None) -> None:
        self._post(self._s_info, content_type, body)

    def _deliver(self, event: LegEvent) -> None:
        if isinstance(event, (Failed, Ended)):
            self.ended = True
        if self.handler is not None:
            try:
                self.handler(self, event)
            except Exception:
                log.exception("call logic failed on %s of %s", type(event).__name__, self.call_id)

    # ------------------------------------------------------------------ sippy thread
    def _s_event(self, kind: str, data: Any) -> None:
        s = self.stack.s
        if self.ua is None:
            return
        body = s.MsgBody(data[2]) if kind in ("ring", "connect", "preconnect") and data[2] else None
        if kind == "ring":
            ev = s.CCEventRing((data[0], data[1], body))
        elif kind == "preconnect":
            ev = s.CCEventPreConnect((data[0], data[1], body))
        elif kind == "connect":
            ev = s.CCEventConnect((data[0], data[1], body))
        elif kind == "fail":
            ev = s.CCEventFail((data[0], data[1]))
        elif kind == "update":
            ev = s.CCEventUpdate(s.MsgBody(data) if data else None)
        else:
            ev = s.CCEventDisconnect()
            tr = getattr(self.ua, "tr", None)
            cancel = getattr(tr, "cancel", None)
            if data and not self.incoming and not self.confirmed and cancel is not None:
                # RFC 3326 Reason on the CANCEL of an unanswered UAC leg; set on the prepared CANCEL
                # itself, so that it is also there when sippy defers the CANCEL until a 1xx arrives
                cancel.appendHeader(s.header("Reason", str(data)))
        self.ua.recvEvent(ev)

    def _s_ack(self, sdp: str) -> None:
        ua = self.ua
        if ua is not None and ua.pending_tr is not None:  # 2xx with an offer waits for our answer
            ua.recvEvent(self.stack.s.CCEventConnect((200, "OK", self.stack.s.MsgBody(sdp))))

    def _s_info(self, content_type: str | None, body: str | None) -> None:
        s = self.stack.s
        if self.ua is None or not self.ua.isConnected():
            return
        msg = None
        if body is not None:
            ct = s.SipContentType(content_type or "application/octet-stream")
            ct.parse()
            msg = s.MsgBody(body, mtype=ct)
        self.ua.recvEvent(s.CCEventInfo(msg))

    def _s_notify(self, code: int, reason: str, final: bool) -> None:
        s = self.stack.s
        ua = self.ua
        if ua is None or not ua.isConnected():
            return
        body = s.MsgBody(f"SIP/2.0 {code} {reason}\r\n", mtype=s.sipfrag_type)
        state = "terminated;reason=noresource" if final else "active;expires=60"
        hdrs = (s.header("Event", "refer"), s.header("Subscription-State", state))
        req = ua.genRequest("NOTIFY", body, extra_headers=hdrs)
        ua.newTransaction(req)

    def _s_cb(self, event: Any, ua: Any) -> None:
        """sippy UA event callback (sippy thread)."""
        s = self.stack.s
        out: LegEvent | None = None
        data = event.getData()
        if isinstance(event, s.CCEventRefer):
            out = data
        elif isinstance(event, s.CCEventTry):
            return  # the incoming INVITE: handled by the transaction manager callback
        elif isinstance(event, s.CCEventRing):
            code, reason, body = data
            if code == 100:
                return
            sdp = str(body) if body is not None else None
            out = Progress(int(code), str(reason), sdp)
        elif isinstance(event, s.CCEventConnect):
            code, reason, body = data
            if code == "ACK":
                if body is not None:
                    self.stack.to_loop(self._deliver, Acked(str(body)))
                return
            sdp = str(body) if body is not None else None
            if self.confirmed or self.incoming:  # reply to a re-INVITE we sent
                out = ReinviteDone(int(code), str(reason), sdp)
                if sdp is not None and 200 <= int(code) < 300:
                    self._remote_sdp = sdp
            else:
                self.confirmed = True
                self._remote_sdp = sdp
                out = Answered(sdp)
        elif isinstance(event, s.CCEventPreConnect):
            code, reason, body = data  # 2xx with an offer (we sent none): ACK waits for ``ack``
            self.confirmed = True
            self._remote_sdp = str(body) if body is not None else None
            out = Answered(self._remote_sdp)
        elif isinstance(event, (s.CCEventFail, s.CCEventRedirect)):
            code, reason = int(data[0]), str(data[1])
            out = ReinviteDone(code, reason) if self.confirmed else Failed(code, reason)
        elif isinstance(event, s.CCEventDisconnect):
            if self.ua is not None and not self.ua.isConnected() and not self.incoming and not self.confirmed:
                out = Failed(408, "Request Timeout")
            else:
                out = Ended()
        elif isinstance(event, s.CCEventInfo):
            body = data
            ctype = body.getType() if body is not None and body.mtype is not None else None
            out = Info(ctype, str(body) if body is not None else None)
        elif isinstance(event, s.CCEventUpdate):
            body = data
            sdp = str(body) if body is not None else None
            out = Reinvite(sdp)
        if out is None:
            return
        if isinstance(out, Reinvite) and out.sdp is not None:
            self._remote_sdp = out.sdp
        self.stack.to_loop(self._deliver, out)


class _Sippy:
    """sippy classes and helpers, created inside the sippy thread."""

    def __init__(self) -> None:
        from sippy.CCEvents import (
            CCEventConnect,
            CCEventDisconnect,
            CCEventFail,
            CCEventGeneric,
            CCEventInfo,
            CCEventPreConnect,
            CCEventRedirect,
            CCEventRing,
            CCEventTry,
            CCEventUpdate,
        )
        from sippy.MsgBody import MsgBody
        from sippy.SipAddress import SipAddress
        from sippy.SipCallId import SipCallId
        from sippy.SipContentType import SipContentType
        from sippy.SipFrom import SipFrom
        from sippy.SipGenericHF import SipGenericHF
        from sippy.SipHeader import SipHeader
        from sippy.SipTo import SipTo
        from sippy.SipURL import SipURL
        from sippy.UA import UA
        from sippy.UaStateConnected import UaStateConnected

        self.CCEventConnect, self.CCEventDisconnect, self.CCEventFail = CCEventConnect, CCEventDisconnect, CCEventFail
        self.CCEventPreConnect, self.CCEventRedirect, self.CCEventRing = CCEventPreConnect, CCEventRedirect, CCEventRing
        self.CCEventTry, self.CCEventUpdate, self.MsgBody, self.SipCallId = CCEventTry, CCEventUpdate, MsgBody, SipCallId
        self.SipHeader = SipHeader
        self.CCEventInfo, self.SipContentType = CCEventInfo, SipContentType
        from sippy.SipContact import SipContact

        def contact() -> Any:
            """Our Contact, without sippy's default display name "Anonymous" (some UAs, sipp's
            [next_url] among them, copy the whole value into the Request-URI of ACK/BYE)."""
            return SipContact(address=SipAddress(url=SipURL(host=SipConf.my_address, port=SipConf.my_port)))

        from sippy.SipConf import SipConf

        self.contact = contact
        ct = SipContentType("message/sipfrag")
        ct.parse()
        self.sipfrag_type = ct

        class CCEventRefer(CCEventGeneric):  # type: ignore[misc]
            name = "CCEventRefer"

        self.CCEventRefer = CCEventRefer

        class NamedHF(SipGenericHF):  # type: ignore[misc]
            """A generic header that keeps its name's case (X-Info-CompanyId)."""

            def __init__(self, body: str, name: str | None = None) -> None:
                super().__init__(body, name)
                self.canon = name or ""

            def getCanName(self, name: str, compact: bool = False) -> str:
                return self.canon or str(name).capitalize()

            def getCopy(self) -> NamedHF:
                return NamedHF(self.body, self.canon)

        self.NamedHF = NamedHF

        def refer(state: Any, req: Any) -> None:
            if req.countHFs("refer-to") == 0:
                req.sendResponse(400, "Bad Request: no Refer-To")
                return None
            rt = req.getHFBody("refer-to")
            url = rt.getUrl()
            replaces = None
            for k, v in (getattr(url, "headers", None) or {}).items():  # already unquoted by sippy
                if str(k).lower() == "replaces":
                    replaces = str(v)
            req.sendResponse(202, "Accepted")
            user = str(url.username or "")
            state.ua.equeue.append(CCEventRefer(Refer(str(rt), user, replaces), rtime=req.rtime,
                                                origin=state.ua.origin))
            return None

        def notify(state: Any, req: Any) -> None:
            req.sendResponse(200, "OK")
            return None

        class Connected(UaStateConnected):  # type: ignore[misc]
            """Connected state whose REFER is handed to the call logic (sippy's own handler hangs
            the transferor up at once and sends no NOTIFY)."""

            recv_request_handlers = {**UaStateConnected.recv_request_handlers, "REFER": refer, "NOTIFY": notify}

        class PvUA(UA):  # type: ignore[misc]
            UaStateConnected = Connected

        self.UA = PvUA

        class Try(CCEventTry):  # type: ignore[misc]
            """INVITE whose R-URI/To/From hosts are ours to choose (sippy puts the next hop there)."""

            target: OutgoingCall | None = None

            def onUacSetupComplete(self, uac: Any) -> None:
                t = self.target
                if t is None:
                    return
                host, _, port = t.ruri_host.partition(":")
                uac.rTarget = SipURL(username=t.ruri_user, host=host, port=int(port) if port else None)
                uac.rUri = SipTo(address=SipAddress(url=SipURL(username=t.ruri_user, host=host,
                                                               port=int(port) if port else None), hadbrace=True))
                fhost, _, fport = t.from_host.partition(":")
                furl = SipURL(username=t.from_user, host=fhost, port=int(fport) if fport else None)
                uac.lUri = SipFrom(address=SipAddress(url=furl, hadbrace=True, name=t.from_name))
                uac.lUri.setTag(uac.lTag)

        self.Try = Try

    def header(self, name: str, value: str) -> Any:
        return self.SipHeader(name=name, body=self.NamedHF(value, name))


class SippyStack:
    """The SIP stack of one application server process (one UDP socket)."""

    def __init__(self, host: str, port: int, trusted: Collection[tuple[str, int]],
                 loop: asyncio.AbstractEventLoop | None = None, user_agent: str = "Polyvox AS") -> None:
        self.host, self.port = host, port
        self.trusted = set(trusted)
        self.loop = loop
        self.user_agent = user_agent
        self.on_incoming: IncomingHandler | None = None
        self.s: Any = None
        self.ed2: Any = None
        self.gc: dict[str, Any] = {}
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._stopping = False
        self.tm: Any = None

    # ------------------------------------------------------------------ lifecycle
    def start(self, on_incoming: IncomingHandler) -> None:
        self.on_incoming = on_incoming
        if self.loop is None:
            self.loop = asyncio.get_running_loop()
        self._thread = threading.Thread(target=self._main, name="sippy", daemon=True)
        self._thread.start()
        self._ready.wait(15)
        if self._error is not None:
            raise RuntimeError(f"SIP stack could not start on {self.host}:{self.port}: {self._error}")
        if not self._ready.is_set():
            raise RuntimeError("SIP stack did not start")

    def stop(self) -> None:
        self._stopping = True
        if self.ed2 is not None:
            self.ed2.callFromThread(self.ed2.breakLoop)
        if self._thread is not None:
            self._thread.join(5)

    def _main(self) -> None:
        try:
            from sippy.Core.EventDispatcher import ED2  # binds ED2 to this thread
            from sippy.SipConf import SipConf

            from polyvox.appserver.runtime.sippy_transport import GuardedTransactionManager, route_sippy_dumps

            route_sippy_dumps()
            SipConf.my_address = self.host
            SipConf.my_port = self.port
            SipConf.my_uaname = self.user_agent
            self.s = _Sippy()
            self.ed2 = ED2
            self.gc = {"_sip_address": self.host, "_sip_port": self.port, "_sip_logger": _NullSipLog()}
            self.tm = GuardedTransactionManager(self.gc, self._s_request, self.trusted)
            self.gc["_sip_tm"] = self.tm
        except BaseException as e:
            self._error = e
            self._ready.set()
            return
        self._ready.set()
        try:
            ED2.loop()
        except BaseException:
            log.exception("sippy event loop failed")
        if not self._stopping:
            log.critical("sippy event loop ended while the worker runs")

    # ------------------------------------------------------------------ health (watchdog)
    def threads(self) -> list[threading.Thread]:
        """The threads without which the worker is deaf: sippy's loop, the UDP receiver and sender."""
        out: list[threading.Thread] = [self._thread] if self._thread is not None else []
        tm = self.tm
        if tm is not None:
            for server in tm.servers():
                out += server.threads()
        return out

    def responsive(self, timeout: float) -> bool:
        """sippy's event loop runs a posted call within ``timeout`` seconds."""
        if self.ed2 is None:
            return False
        done = threading.Event()
        self.ed2.callFromThread(done.set)
        return done.wait(timeout)

    # ------------------------------------------------------------------ thread hops
    def in_sippy(self, fn: Callable[..., None], *args: Any) -> None:
        self.ed2.callFromThread(fn, *args)

    def to_loop(self, fn: Callable[..., None], *args: Any) -> None:
        assert self.loop is not None
        with contextlib.suppress(RuntimeError):  # loop closed (shutting down)
            self.loop.call_soon_threadsafe(fn, *args)

    # ------------------------------------------------------------------ UAC
    def call(self, out: OutgoingCall, handler: EventHandler, label: str = "") -> SippyLeg:
        leg = SippyLeg(self, label)
        leg.set_handler(handler)
        leg.call_id = ""
        self.in_sippy(self._s_call, leg, out)
        return leg

    def _s_call(self, leg: SippyLeg, out: OutgoingCall) -> None:
        s = self.s
        ua = s.UA(self.gc, leg._s_cb, nh_address=out.next_hop)
        ua.lContact = s.contact()
        if out.no_reply_timeout:
            ua.no_reply_time = out.no_reply_timeout
        leg.ua = ua
        if leg.ended:  # cancelled before it was sent
            return
        cid = s.SipCallId()
        leg.call_id = str(cid)
        body = s.MsgBody(out.sdp) if out.sdp else None
        ev = s.Try((cid, out.from_user, out.ruri_user, body, None, out.from_name))
        ev.target = out
        if out.headers:
            ev.extra_headers = tuple(s.header(k, v) for k, v in out.headers)
        ua.recvEvent(ev)

    # ------------------------------------------------------------------ UAS
    def _s_request(self, req: Any, sip_t: Any) -> Any:
        try:
            return self._s_request_checked(req, sip_t)
        except Exception:
            log.exception("request %s failed", req.getMethod())
            return (req.genResponse(500, "Server Internal Error"), None, None)

    def _s_request_checked(self, req: Any, sip_t: Any) -> Any:
        method = req.getMethod()
        if req.getHFBody("to").getTag() is not None:
            return (req.genResponse(481, "Call Leg/Transaction Does Not Exist"), None, None)
        source = req.getSource()
        src = (str(source[0]), int(source[1]))
        if method == "OPTIONS":
            return (req.genResponse(200, "OK"), None, None)
        if method != "INVITE":
            return (req.genResponse(405, "Method Not Allowed"), None, None)
        if src not in self.trusted:
            log.warning("INVITE from untrusted %s:%s refused", *src)
            return (req.genResponse(403, "Forbidden: only the platform's proxies may call the application server"),
                    None, None)
        try:
            info = self._invite_info(req, src)
        except Exception as e:
            return (req.genResponse(400, f"Bad Request: {e}"), None, None)
        leg = SippyLeg(self, "caller")
        leg.incoming = True
        leg.call_id = info.call_id
        leg._remote_sdp = info.sdp
        ua = self.s.UA(self.gc, leg._s_cb)
        ua.lContact = self.s.contact()
        leg.ua = ua
        rval = ua.recvRequest(req, sip_t)
        self.to_loop(self._incoming, leg, info)
        return rval

    def _incoming(self, leg: SippyLeg, info: InviteInfo) -> None:
        if self.on_incoming is None:
            leg.reject(503, "Service Unavailable: application server starting")
            return
        try:
            self.on_incoming(leg, info)
        except Exception:
            log.exception("incoming call %s failed", info.call_id)
            leg.reject(500, "Server Internal Error: call logic failed")

    @staticmethod
    def _invite_info(req: Any, src: tuple[str, int]) -> InviteInfo:
        headers: dict[str, str] = {}
        diversion: list[str] = []
        for h in req.headers:
            name = str(h.name).lower()
            value = str(h.body)
            if name == "diversion":
                diversion.append(value)
            headers.setdefault(name, value)
        ruri = req.getRURI()
        fr = req.getHFBody("from")
        furl = fr.getUrl()
        name = fr.getUri().name
        body = req.getBody()
        return InviteInfo(call_id=str(req.getHFBody("call-id")), source=src, ruri_user=str(ruri.username or ""),
                          ruri_host=str(ruri.host), from_user=str(furl.username or ""), from_host=str(furl.host),
                          from_name=str(name) if name else None, sdp=str(body) if body is not None else None,
                          headers=headers, diversion=tuple(diversion))
