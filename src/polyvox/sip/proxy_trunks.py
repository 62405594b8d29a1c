"""proxy-trunks routing script (Kamailio KEMI, runs inside app_python3).

The platform's edge towards carriers and DDI providers (spec 2.2, 6, 7, 9.2, 9.3, 9.6.3;
IvozProvider's KamTrunks). docs/sip.md §9 has the details.

- Outbound: INVITE from proxy-users or an application server with the ``X-Info-*`` context
  (brand, client, caller) and the E.164 callee in the R-URI -> own DDI? bounce internally ->
  concurrent call limits -> routing tag (dialled, else the presented DDI's) -> billing checks
  -> outgoing routing (RouteIndex,
  select_routes, carriers_for_call, failover_targets) -> carrier servers in failover order
  (timeout, 408, 5xx; not 486/480/603), carrier calleeout/callerout transformations, From
  user/domain, PAI/RPID, digest authentication on 401/407.
- Billing at call setup (spec 7.5, 8.9.1, 9.4.1, 12.6) with :func:`polyvox.domain.billing.may_start_call`:
  special numbers (no call record, no rating), billing method, max daily usage, balance of
  prepaid / pseudo-prepaid clients, a rate for the destination at this moment; the longest
  duration the balance pays for is enforced from the answer by the ``dlgcut`` timer (BYE both
  ways), with the dialog timeout as a safety net.
- Call control: ``polyvox.platform.control`` (JSON-RPC) lists the dialogs and schedules their end in
  ``dlgcut`` (``ksr_dlgcut`` writes the call record when Kamailio skips dialog:end).
- LCR: carriers ordered by the cost of a 5 minute call from their rating profile active now;
  carriers that cannot rate the destination are not used (spec 9.3.1).
- Inbound: INVITE from a DDI provider address -> provider detection and calleein/callerin
  transformations -> DDI -> the client's application servers (vPBX, residential) or
  proxy-users (retail accounts), with ``X-Info-*`` context.
- Call records: one row per dialog in ``kam_trunks_cdrs`` at dialog:end / dialog:failed.
- Local sockets (spec 8.14.2, docs/sip.md §9.11): an INVITE to a carrier leaves from its carrier's
  proxy trunks address (``$fs``); a DDI provider with one is expected on it (else 403); whatever
  goes to the inside leaves from the main address.
"""

from __future__ import annotations

import json
import random
import re
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import KSR  # type: ignore[import-not-found]  # provided by Kamailio's app_python3

from polyvox.domain import routing
from polyvox.domain.addresses import parse_host_port
from polyvox.domain.billing import (
    CallDecision,
    ClientType,
    DecisionReason,
    Direction,
    check_concurrent_calls,
    may_start_call,
)
from polyvox.domain.callflow.ddi_provider import DetectionOutcome, detect_ddi_provider
from polyvox.sip import dispatch
from polyvox.sip.kemi import (
    DialogContext,
    DialogGuard,
    initial_request,
    log_error,
    malformed_uris,
    pv,
    release_media,
    reply,
    sdp_invalid,
    stray_reply,
)
from polyvox.sip.trunks_repository import Ddi, TrunksRepository

REALM_RE = re.compile(r'realm="([^"]*)"', re.I)

# dialog variables kept in kam_dialogs (the call record's values, media): what in-dialog requests
# and the call record need after a restart (docs/sip.md §11)
DIALOG_VARS = ("direction", "brand", "company", "carrier", "cs", "provider", "ddi", "ep_type", "ep_id", "ep_name",
               "caller", "callee", "start", "answer", "callid", "code", "tag", "bounced", "nocdr", "maxdur",
               "obrand", "ocompany", "ocallee", "oddi", "otag", "mrs", "rtp_cid", "caller_tag")

DLG_TIMEOUT_MARGIN = 5  # seconds after the maximum duration: the dialog module's own timeout

# refusals of may_start_call (403 reason phrases)
REFUSALS = {
    DecisionReason.MAX_DAILY_USAGE: "Forbidden: max daily usage reached",
    DecisionReason.NO_BALANCE: "Forbidden: no balance left",
    DecisionReason.INSUFFICIENT_BALANCE: "Forbidden: insufficient balance",
    DecisionReason.CANNOT_RATE: "Forbidden: no rating plan for the destination",
}


class ProxyTrunks:
    def __init__(self, settings: dict[str, Any]) -> None:
        self.s = settings
        self.repo = TrunksRepository(settings["database_url"], check_interval=float(settings["version_check_interval"]),
                                     default_as_port=int(settings["as_default_port"]))
        self.as_timeout_ms = int(settings["as_timeout_ms"])
        self.carrier_timeout_ms = int(settings.get("carrier_timeout_ms") or 3000)
        self.fr_inv_timer = int(settings["fr_inv_timer"])
        self.rtp_flags = settings["rtpengine_flags"]
        up = settings.get("users_proxy") or ""
        self.users_proxy = parse_host_port(up, 5060) if up else None
        self.rng = random.Random()
        # local sockets (spec 8.14.2, docs/sip.md §9.11): the main address and the proxy_trunks
        # addresses listened on (read when Kamailio was started)
        self.host, self.port = str(settings.get("host") or "127.0.0.1"), int(settings.get("port") or 5060)
        self.tcp = bool(settings.get("tcp", True))
        self.trunk_addresses = frozenset(settings.get("trunk_addresses") or ())
        self._cdr_table: Any = None
        self.sync_version: int | None = None
        self.reload_pending = False
        self.ticks = 0
        self.started = datetime.now(UTC).replace(tzinfo=None)
        self.dialogs = DialogGuard(self.repo.engine, f"{settings.get('name') or 'proxy-trunks'}@{self.host}:{self.port}",
                                   self.is_inside, DIALOG_VARS, self.port,
                                   self.repo.begin_request)

    def is_inside(self, ip: str, port: int) -> bool:
        """An internal peer: proxy-users or an application server (trusted, inside traffic)."""
        return (self.users_proxy is not None and (ip, port) == self.users_proxy) \
            or self.repo.application_server_at(ip, port) is not None

    def keepalive(self, side: str) -> None:
        """In-dialog OPTIONS to the application server side of the dialog (``ka-src`` caller,
        ``ka-dst`` callee): when it is gone the dialog module ends the call (docs/sip.md §11.3)."""
        if int(self.s.get("dialog_ka_interval") or 0) > 0:
            KSR.dialog.dlg_set_property(side)

    # ------------------------------------------------------------------ request route
    def ksr_reply_route(self, msg: Any) -> int:
        """Every reply received: stray ones (no transaction) are dropped (:func:`stray_reply`)."""
        try:
            if stray_reply():
                return -255
        except Exception:
            log_error("reply route")
        return 1

    def ksr_request_route(self, msg: Any) -> int:
        try:
            self.route()
        except Exception:
            log_error("unhandled")
            reply(500, "Server Internal Error")
        return 1

    def route(self) -> None:
        method = initial_request(self.relay, self.within_dialog)
        if method is None:
            return
        self.repo.begin_request()
        si, sp = pv("$si"), int(pv("$sp"))
        if self.is_inside(si, sp):
            if method != "INVITE":
                reply(405, "Method Not Allowed")
                return
            self.outbound()
            return
        KSR.textops.remove_hf_re("^X-Info-")
        bad = malformed_uris()
        if bad is not None:
            reply(400, f"Bad Request: invalid characters in {bad}")
            return
        if not self.repo.is_ddi_provider_address(si):
            KSR.notice(f"polyvox: {method} from unknown source {si}:{sp}\n")
            reply(403, "Forbidden: unknown source")
            return
        if method != "INVITE":
            reply(405, "Method Not Allowed")
            return
        self.inbound(si)

    # ------------------------------------------------------------------ outbound (spec 7, 9.3)
    def outbound(self) -> None:
        brand_id, company_id = _int(hdr("X-Info-BrandId")), _int(hdr("X-Info-CompanyId"))
        company = self.repo.company(company_id) if company_id is not None else None
        if company is None or (brand_id is not None and brand_id != company.brand_id):
            reply(403, "Forbidden: missing call context")
            return
        brand_id = company.brand_id
        callee = hdr("X-Info-Callee") or pv("$rU") or ""
        caller = hdr("X-Info-Caller") or pv("$fU") or ""
        tag_id = _int(hdr("X-Info-RoutingTagId"))
        endpoint = (hdr("X-Info-EndpointType"), _int(hdr("X-Info-EndpointId")), hdr("X-Info-Endpoint"))
        if not callee:
            reply(484, "Address Incomplete")
            return
        presented = self.presented_ddi(brand_id, company.id, caller)
        if tag_id is None and presented is not None:
            tag_id = self.repo.ddi_routing_tag(presented)
        pddi = presented.id if presented is not None else None
        # a call to one of the platform's own DDIs never leaves it (spec 6/7)
        own = self.repo.ddi_by_number(brand_id, callee)
        if own is not None and own.inbound:
            KSR.textops.remove_hf_re("^X-Info-")
            KSR.info(f"polyvox: {callee} is DDI {own.id}: bounced internally\n")
            # the call record's outbound side: the calling client (billed as a bounced call)
            self.deliver_ddi(own, None, caller, bounced=True, origin={
                "obrand": brand_id, "ocompany": company.id, "ocallee": callee, "oddi": pddi, "otag": tag_id,
                "ep_type": endpoint[0], "ep_id": endpoint[1], "ep_name": endpoint[2]})
            return
        if not self.check_limits(company, Direction.OUTBOUND):
            return
        now = datetime.now(UTC)
        decision = self.billing(company, callee, tag_id, now)
        if decision is None:
            return
        selection = routing.select_routes(self.repo.routes(brand_id), company.id, callee, routing_tag=tag_id)
        if selection.blocked:
            reply(403, "Forbidden: call blocked by outgoing routing")
            return
        if not selection.routes:
            reply(404, "Not Found: No route")
            return
        carriers = routing.carriers_for_call(selection, callee, rng=self.rng,
                                             cost_of=lambda cid, number: self.repo.carrier_cost(cid, number, now))
        servers = [routing.CarrierServer(s.id, s.carrier_id, ip=s.host, port=s.port)
                   for s in self.repo.carrier_servers(brand_id)]
        targets = routing.failover_targets(carriers, servers, rng=None)
        # skip servers that failed their OPTIONS ping (trunks agent) or timed out recently,
        # unless that leaves nothing to try
        inactive = self.repo.inactive_carrier_servers()
        alive = [t for t in targets if t.server.id not in inactive
                 and KSR.htable.sht_is_null("asdown", f"cs:{t.server.id}") > 0] or list(targets)
        if not alive:
            reply(503, "Service Unavailable: no carrier server")
            return
        if decision.max_duration is not None:
            # BYE both ways at the dialog timeout (safety net): a context flag read when
            # dlg_manage creates the dialog (Kamailio 5.6 has no dlg_set_property("timeout-bye"))
            KSR.pv.seti("$dlg_ctx(timeout_bye)", 1)
        KSR.dialog.dlg_manage()
        self.dialogs.created()
        if self.repo.application_server_at(pv("$si"), int(pv("$sp"))) is not None:
            self.keepalive("ka-src")
        self.rtp_identity("outbound")
        KSR.rr.record_route()
        first = self.repo.carrier(alive[0].server.carrier_id)
        self.media_set(first.media_relay_set_id if first else None)
        if not self.media_offer():
            return
        self.count_call(company.brand_id, company.id)
        self.cdr_vars(direction="outbound", brand=brand_id, company=company.id, caller=caller, callee=callee,
                      ep_type=endpoint[0], ep_id=endpoint[1], ep_name=endpoint[2],
                      nocdr="1" if decision.disable_cdr else None, maxdur=decision.max_duration, tag=tag_id,
                      ddi=pddi)
        if decision.max_duration is not None:
            # 9.4.1: the call lasts at most what the balance pays for, counted from the answer:
            # ksr_dlgcut ends it on time; the dialog timeout is the safety net
            KSR.dialog.dlg_set_timeout(int(decision.max_duration) + DLG_TIMEOUT_MARGIN)
        KSR.textops.remove_hf_re("^X-Info-")
        KSR.pv.sets("$avp(targets)", ",".join(f"{t.server.id}/{t.choice.route.id}" for t in alive))
        KSR.pv.sets("$avp(caller)", caller)
        KSR.pv.sets("$avp(callee)", callee)
        KSR.pv.seti("$avp(brand)", brand_id)
        if not self.next_carrier():
            self.rtp_delete()
            reply(503, "Service Unavailable: no carrier server")

    def next_carrier(self) -> bool:
        """Prepares and relays the INVITE to the next carrier server of ``$avp(targets)``."""
        targets = [t for t in (pv("$avp(targets)") or "").split(",") if t]
        brand_id = int(pv("$avp(brand)") or 0)
        servers = {s.id: s for s in self.repo.carrier_servers(brand_id)}
        while targets:
            sid, rid = (int(x) for x in targets.pop(0).split("/"))
            KSR.pv.sets("$avp(targets)", ",".join(targets))
            server = servers.get(sid)
            if server is None:
                continue
            carrier = self.repo.carrier(server.carrier_id)
            route = next((r for r in self.repo.routes(brand_id).routes if r.id == rid), None)
            rules = self.repo.rule_set(carrier.rule_set_id if carrier else None)
            callee = rules.apply("calleeout", pv("$avp(callee)") or "")
            caller = rules.apply("callerout", pv("$avp(caller)") or "")
            if route is not None and route.force_clid and route.clid:
                caller = rules.apply("callerout", route.clid)
            if route is not None and route.prefix:
                callee = route.prefix + callee
            transport = ";transport=tcp" if server.transport == "tcp" else ""
            KSR.pv.sets("$ru", f"sip:{callee}@{server.host}:{server.port}{transport}")
            if server.outbound_proxy:
                op = server.outbound_proxy
                KSR.pv.sets("$du", op if op.startswith("sip:") else f"sip:{op}")
            else:
                KSR.pv.unset("$du")
            KSR.pv.sets("$avp(fuser)", server.from_user or caller)
            KSR.pv.sets("$avp(fdomain)", server.from_domain or server.host)
            KSR.pv.sets("$avp(fs)", self.carrier_socket(carrier, server.transport))
            self.force_socket()
            KSR.pv.sets("$avp(pai)", caller if server.send_pai else "")
            KSR.pv.sets("$avp(rpid)", caller if server.send_rpid else "")
            KSR.pv.seti("$avp(cs)", server.id)
            KSR.pv.sets("$avp(authed)", "")
            KSR.pv.sets("$dlg_var(carrier)", str(server.carrier_id))
            KSR.pv.sets("$dlg_var(cs)", str(server.id))
            KSR.tm.t_set_fr(self.fr_inv_timer, self.carrier_timeout_ms)
            KSR.tm.t_on_branch("ksr_branch_out")
            KSR.tm.t_on_failure("ksr_failure_carrier")
            KSR.tm.t_on_reply("ksr_onreply_media")
            if KSR.tm.t_relay() > 0:
                return True
        return False

    def ksr_branch_out(self, msg: Any) -> int:
        """Per branch: From user/domain, PAI / RPID of the carrier server (or the E.164 caller
        towards an application server)."""
        try:
            fuser, fdomain = pv("$avp(fuser)") or "", pv("$avp(fdomain)") or ""
            if fuser:
                KSR.uac.uac_replace_from("", f"sip:{fuser}@{fdomain or pv('$fd')}")
            pai, rpid = pv("$avp(pai)") or "", pv("$avp(rpid)") or ""
            if pai:
                KSR.hdr.remove("P-Asserted-Identity")
                KSR.hdr.append(f"P-Asserted-Identity: <sip:{pai}@{fdomain}>\r\n")
            if rpid:
                KSR.hdr.remove("Remote-Party-ID")
                KSR.hdr.append(f"Remote-Party-ID: <sip:{rpid}@{fdomain}>;party=calling;screen=yes;privacy=off\r\n")
        except Exception:
            log_error("branch route")
        return 1

    def ksr_failure_carrier(self, msg: Any) -> int:
        try:
            if KSR.tm.t_is_canceled() > 0:
                KSR.pv.sets("$dlg_var(code)", "487")
                self.rtp_delete()
                return 1
            self.repo.begin_request()  # this worker's cache may predate the request's configuration
            cs = int(pv("$avp(cs)") or 0)
            status = int(pv("$T_reply_code") or 0)
            timeout = KSR.tm.t_branch_timeout() > 0 and KSR.tm.t_branch_replied() < 0
            if timeout:
                status = 408
                KSR.warn(f"polyvox: carrier server {cs} did not answer, failing over\n")
                KSR.htable.sht_seti("asdown", f"cs:{cs}", 1)
            KSR.pv.sets("$dlg_var(code)", str(status))
            KSR.info(f"polyvox: carrier server {cs} failed with {status}, left: {pv('$avp(targets)')}\n")
            if status in (401, 407) and not pv("$avp(authed)"):
                server = next((s for s in self.repo.carrier_servers(int(pv("$avp(brand)") or 0))
                               if s.id == cs), None)
                if server is not None and server.auth_needed and server.auth_user:
                    challenge = pv("$T_rpl($hdr(WWW-Authenticate))" if status == 401 else
                                           "$T_rpl($hdr(Proxy-Authenticate))") or ""
                    m = REALM_RE.search(challenge)
                    KSR.pv.sets("$avp(auser)", server.auth_user)
                    KSR.pv.sets("$avp(apass)", server.auth_password)
                    KSR.pv.sets("$avp(arealm)", m.group(1) if m else "")
                    if KSR.uac.uac_auth() > 0:
                        KSR.pv.sets("$avp(authed)", "1")
                        self.force_socket()
                        KSR.tm.t_on_branch("ksr_branch_out")
                        KSR.tm.t_on_failure("ksr_failure_carrier")
                        KSR.tm.t_on_reply("ksr_onreply_media")
                        if KSR.tm.t_relay() > 0:
                            return 1
                self.rtp_delete()
                return 1
            if status == 408 or 500 <= status < 600:
                if self.next_carrier():
                    return 1
                if timeout:
                    KSR.tm.t_reply(503, "Service Unavailable: carriers unreachable")
            self.rtp_delete()
        except Exception:
            log_error("failure route")
        return 1

    def presented_ddi(self, brand_id: int, company_id: int, caller: str) -> Ddi | None:
        """The DDI presented as caller: ``X-Info-DdiId`` (sent by proxy-users / the application
        server), else the client's DDI whose number is the E.164 caller; a DDI of another client
        is ignored. Its routing tag is the call's when none was dialled (spec 9.3.4); its id is
        the outbound call record's ``ddiId``."""
        ddi_id = _int(hdr("X-Info-DdiId"))
        ddi = self.repo.ddi(ddi_id) if ddi_id is not None else None
        if ddi is None or ddi.company_id != company_id:
            ddi = self.repo.ddi_by_number(brand_id, caller) if caller else None
        if ddi is None or ddi.company_id != company_id:
            return None
        return ddi

    def billing(self, company: Any, callee: str, tag_id: int | None, now: datetime) -> CallDecision | None:
        """may_start_call with the client's billing state read now; replies and returns None when
        the call is refused."""
        account = self.repo.billing_account(company.id)
        rater = self.repo.rater("company", company.id)
        if account is None or rater is None:
            reply(403, "Forbidden: missing call context")
            return None
        decision = may_start_call(account, callee, now, routing_tag=str(tag_id) if tag_id is not None else None,
                                  special_numbers=self.repo.special_numbers(company.brand_id), tz=rater.tz)
        if decision.allowed:
            return decision
        KSR.notice(f"polyvox: client {company.id} call to {callee} refused: {decision.reason} {decision.detail}\n")
        reply(403, REFUSALS.get(decision.reason, "Forbidden: call not allowed by billing"))
        return None

    # ------------------------------------------------------------------ inbound (spec 6, 9.6.3)
    def inbound(self, si: str) -> None:
        providers, candidates = self.repo.ddi_providers()
        called = pv("$rU") or ""
        # a DDI provider is expected on its local socket only (IvozProvider's MATCH_DDI:
        # DDIProviderAddresses.ip = $si AND ProxyTrunks.ip = $Ri); none set is the main address
        local = pv("$Ri") or ""
        reached = tuple(c for c in candidates
                        if providers[c.id].proxy_trunk_ip in (None, local) or si not in c.addresses)
        if len(reached) != len(candidates) and not any(si in c.addresses for c in reached):
            KSR.notice(f"polyvox: DDI provider call from {si} reached {local}, not its local socket\n")
            reply(403, "Forbidden: DDI provider not expected on this address")
            return
        candidates = reached

        def transform(pid: int, number: str) -> str:
            return self.repo.rule_set(providers[pid].rule_set_id).apply("calleein", number)

        det = detect_ddi_provider(si, called, candidates, self.repo.inbound_ddis(), transform)
        if det.outcome is DetectionOutcome.UNKNOWN_SOURCE:
            reply(403, "Forbidden: unknown source")
            return
        if det.outcome is DetectionOutcome.UNKNOWN_DDI or det.ddi is None or det.ddi_provider_id is None:
            for c in candidates:
                if si in c.addresses:
                    d = self.repo.ddi_by_number(c.brand_id, transform(c.id, called))
                    if d is not None and not d.inbound:
                        reply(403, "Forbidden: outbound-only DDI")
                        return
            reply(404, "Not Found: unknown DDI")
            return
        provider = providers[det.ddi_provider_id]
        caller = self.repo.rule_set(provider.rule_set_id).apply("callerin", pv("$fU") or "")
        ddi = self.repo.ddi(det.ddi.id)
        if ddi is None:
            reply(404, "Not Found: unknown DDI")
            return
        self.deliver_ddi(ddi, provider.id, caller)

    def deliver_ddi(self, ddi: Ddi, provider_id: int | None, caller: str, bounced: bool = False,
                    origin: dict[str, Any] | None = None) -> None:
        company = self.repo.company(ddi.company_id) if ddi.company_id is not None else None
        if company is None:
            reply(404, "Not Found: DDI without client")
            return
        if not bounced and not self.check_limits(company, Direction.INBOUND):
            return
        headers = [("X-Info-BrandId", str(company.brand_id)), ("X-Info-CompanyId", str(company.id)),
                   ("X-Info-Type", company.type), ("X-Info-Direction", "inbound"), ("X-Info-Ddi", ddi.e164),
                   ("X-Info-DdiId", str(ddi.id)), ("X-Info-Caller", caller)]
        if provider_id is not None:
            headers.append(("X-Info-DdiProviderId", str(provider_id)))
        if bounced:
            headers.append(("X-Info-Bounced", "yes"))
        if company.type == "retail":
            account = self.repo.retail_account(ddi.retail_account_id) if ddi.retail_account_id else None
            if account is None or self.users_proxy is None:
                reply(404, "Not Found: DDI without retail account")
                return
            headers.append(("X-Info-RetailAccountId", str(ddi.retail_account_id)))
            host, port = self.users_proxy
            ruri, dst, rest = f"sip:{account[0]}@{account[1] or host}", f"sip:{host}:{port}", []
        else:
            servers = self.repo.application_servers(company.application_server_set_id)
            if not servers:
                reply(503, "Service Unavailable: no application server")
                return
            down = [s.key for s in servers if KSR.htable.sht_is_null("asdown", s.key) < 0]
            ordered = dispatch.order_servers(servers, company.distribute_method, company.id, 0, down)
            ruri, dst, rest = f"sip:{ddi.e164}@{ordered[0].key}", ordered[0].uri, [s.key for s in ordered[1:]]
            KSR.pv.sets("$avp(as_cur)", ordered[0].key)
        KSR.dialog.dlg_manage()
        self.dialogs.created()
        if company.type != "retail":
            self.keepalive("ka-dst")
        self.rtp_identity("inbound")
        KSR.rr.record_route()
        provider = self.repo.ddi_providers()[0].get(provider_id) if provider_id is not None else None
        self.media_set(provider.media_relay_set_id if provider and provider.media_relay_set_id
                       else company.media_relay_set_id)
        if not self.media_offer():
            return
        if not bounced:
            self.count_call(company.brand_id, company.id)
        self.cdr_vars(direction="inbound", brand=company.brand_id, company=company.id, caller=caller,
                      callee=ddi.e164, ddi=ddi.id, provider=provider_id, bounced="1" if bounced else None,
                      **(origin or {}))
        for name, value in headers:
            KSR.hdr.append(f"{name}: {value}\r\n")
        KSR.pv.sets("$ru", ruri)
        KSR.pv.sets("$du", dst)
        KSR.pv.sets("$avp(as_next)", ",".join(rest))
        KSR.pv.sets("$avp(fuser)", caller)
        KSR.pv.sets("$avp(fs)", self.main_socket())
        self.force_socket()
        KSR.tm.t_set_fr(self.fr_inv_timer, self.as_timeout_ms)
        KSR.tm.t_on_branch("ksr_branch_out")
        KSR.tm.t_on_failure("ksr_failure_as")
        KSR.tm.t_on_reply("ksr_onreply_media")
        self.relay()

    def ksr_failure_as(self, msg: Any) -> int:
        """Inbound call: the application server did not answer at all -> the next one."""
        try:
            if KSR.tm.t_is_canceled() > 0:
                KSR.pv.sets("$dlg_var(code)", "487")
                self.rtp_delete()
                return 1
            KSR.pv.sets("$dlg_var(code)", str(pv("$T_reply_code") or 0))
            if KSR.tm.t_branch_timeout() > 0 and KSR.tm.t_branch_replied() < 0:
                failed = pv("$avp(as_cur)") or ""
                if failed:
                    KSR.htable.sht_seti("asdown", failed, 1)
                rest = [k for k in (pv("$avp(as_next)") or "").split(",") if k]
                if rest:
                    KSR.pv.sets("$du", "sip:" + rest[0])
                    KSR.pv.sets("$avp(as_cur)", rest[0])
                    KSR.pv.sets("$avp(as_next)", ",".join(rest[1:]))
                    self.force_socket()
                    KSR.tm.t_on_branch("ksr_branch_out")
                    KSR.tm.t_on_failure("ksr_failure_as")
                    KSR.tm.t_on_reply("ksr_onreply_media")
                    if KSR.tm.t_relay() > 0:
                        return 1
                KSR.pv.sets("$dlg_var(code)", "503")
                KSR.tm.t_reply(503, "Service Unavailable: application servers unreachable")
            self.rtp_delete()
        except Exception:
            log_error("failure route")
        return 1

    # ------------------------------------------------------------------ local sockets (spec 8.14.2)
    def main_socket(self) -> str:
        """The main address: internal signalling (application servers, proxy-users) and carriers
        without a local socket. "" when listening on a wildcard (Kamailio chooses)."""
        if self.host in ("0.0.0.0", "::", "[::]", "*"):
            return ""
        return f"udp:{_hostport(self.host, self.port)}"

    def carrier_socket(self, carrier: Any, transport: str) -> str:
        """``proto:ip:port`` the INVITE to a carrier server leaves from: its carrier's proxy trunks
        address ("Local socket") when proxy-trunks listens on it, else the main address (an address
        added after the start needs a restart: logged)."""
        proto = "tcp" if transport == "tcp" and self.tcp else "udp"
        ip = carrier.proxy_trunk_ip if carrier is not None else None
        if ip and ip != self.host:
            if ip in self.trunk_addresses:
                return f"{proto}:{_hostport(ip, self.port)}"
            KSR.warn(f"polyvox: carrier {carrier.id}: local socket {ip} is not listened on (restart "
                     "proxy-trunks after adding a proxy trunks address), using the main address\n")
        main = self.main_socket()
        return f"{proto}:{main.partition(':')[2]}" if main else ""

    @staticmethod
    def force_socket() -> None:
        """Applies ``$avp(fs)`` to the branch about to be relayed (``$fs``; unset = Kamailio's
        choice). Without it a UDP request leaves from the address it was received on."""
        fs = pv("$avp(fs)") or ""
        if fs:
            KSR.pv.sets("$fs", fs)
        else:
            KSR.pv.unset("$fs")

    # ------------------------------------------------------------------ limits (spec 12.5)
    def check_limits(self, company: Any, direction: Direction) -> bool:
        limits = self.repo.limits(company.brand_id, company.id)
        if limits.brand_max_calls == 0 and limits.company_max_calls == 0:
            return True
        try:
            ctype = ClientType(company.type)
        except ValueError:
            ctype = ClientType.VPBX
        decision = check_concurrent_calls(
            direction=direction, client_type=ctype, brand_max_calls=limits.brand_max_calls,
            brand_active_calls=self.active("brand", company.brand_id), client_max_calls=limits.company_max_calls,
            client_active_calls=self.active("company", company.id))
        if decision.allowed:
            return True
        who = "client" if decision.reason.value.startswith("client") else "brand"
        reply(decision.sip_status or 403, f"Forbidden: {who} maximum concurrent calls reached"
              if (decision.sip_status or 403) == 403 else f"Busy Here: {who} maximum concurrent calls reached")
        return False

    def active(self, profile: str, value: int) -> int:
        KSR.dialog.get_profile_size(profile, str(value), "$var(psize)")
        return int(pv("$var(psize)") or 0)

    def count_call(self, brand_id: int, company_id: int) -> None:
        KSR.dialog.set_dlg_profile("brand", str(brand_id))
        KSR.dialog.set_dlg_profile("company", str(company_id))

    # ------------------------------------------------------------------ call records
    def cdr_vars(self, **values: Any) -> None:
        """Dialog variables: the call record's values, also read by ``polyvox.platform.control``
        (active calls: company, brand, direction, caller, callee, carrier, provider, start)."""
        KSR.pv.sets("$dlg_var(start)", datetime.now(UTC).isoformat())
        KSR.pv.sets("$dlg_var(callid)", pv("$ci") or "")
        for k, v in values.items():
            if v is not None and v != "":
                KSR.pv.sets(f"$dlg_var({k})", str(v))

    def ksr_dialog_event(self, msg: Any, evname: str = "") -> int:
        try:
            if evname == "dialog:start":
                KSR.pv.sets("$dlg_var(answer)", datetime.now(UTC).isoformat())
                KSR.pv.sets("$dlg_var(caller_tag)", str(pv("$dlg(from_tag)") or ""))
                self.dialogs.started()
                maxdur = _int(pv("$dlg_var(maxdur)"))
                if maxdur is not None:  # 9.4.1: hung up when the balance is used (ksr_dlgcut)
                    KSR.htable.sht_sets("dlgcut", self.dialog_key(), f"{time.time() + maxdur:.3f}")
            elif evname in ("dialog:end", "dialog:failed"):
                self.dialogs.ended(answered=evname == "dialog:end")
                key = self.dialog_key()
                KSR.htable.sht_rm("dlgcut", key)
                if evname == "dialog:end" and not (str(pv("$mt")) == "1" and pv("$rm") == "BYE"):
                    # ended by the dialog module (timeout, dlg.end_dlg): no BYE through the
                    # request route released the media session
                    self.media_release(dialog_rtp_id(lambda name: pv(f"$dlg_var({name})") or ""),
                                       pv("$dlg_var(mrs)"))
                if KSR.htable.sht_is_null("cdrdone", key) > 0:  # not written by ksr_dlgcut already
                    KSR.htable.sht_seti("cdrdone", key, 1)
                    self.write_cdr(lambda name: pv(f"$dlg_var({name})") or "",
                                   failed=evname == "dialog:failed")
        except Exception:
            log_error("call record")
        return 1

    @staticmethod
    def dialog_key() -> str:
        return f"{pv('$dlg(h_entry)')}:{pv('$dlg(h_id)')}"

    def ksr_dlgcut(self, msg: Any, evname: str = "") -> int:
        """Timer process (every 0.2 s): ends the dialogs that are due in the ``dlgcut`` table
        (deadline = answer + the duration the balance pays for, set at dialog:start; 0 = now, set
        by ``polyvox.platform.control`` to end a client's calls) with a BYE to both sides
        (:meth:`end_dialog`). The call record is written here from the dialog's variables (read
        with ``dlg.list_ctx`` before ending it) unless ``dialog:end`` wrote it already (htable
        ``cdrdone``). The dialog timeout set at setup (a few seconds after the maximum duration)
        is only a safety net."""
        try:
            if KSR.htable.sht_iterator_start("cut", "dlgcut") < 0:
                return 1
            now, due = time.time(), []
            try:
                while KSR.htable.sht_iterator_next("cut") > 0:
                    key, deadline = pv("$shtitkey(cut)"), pv("$shtitval(cut)")
                    try:
                        if float(deadline) <= now:
                            due.append(key)
                    except (TypeError, ValueError):
                        due.append(key)
            finally:
                KSR.htable.sht_iterator_end("cut")
            if not due:
                return 1
            dialogs = self.rpc("dlg.list_ctx") or []
            by_key = {f"{d.get('h_entry')}:{d.get('h_id')}": d for d in dialogs if isinstance(d, dict)}
            ended: set[str] = set()
            for key in due:
                dialog = by_key.get(key)
                if dialog is not None and int(dialog.get("state") or 0) == 3:
                    continue  # answered, ACK not seen yet: BYE is refused until then, next tick
                KSR.htable.sht_rm("dlgcut", key)
                if dialog is None or int(dialog.get("state") or 0) != 4:
                    continue
                if str(dialog.get("call-id") or "") in ended:
                    # the other crossing of a call forwarded back out (two dialogs, one Call-ID,
                    # docs/sip.md §9.10): the BYEs sent for the first one cross this one too
                    # (route set with its did), which ends it and writes its record
                    continue
                ended.add(str(dialog.get("call-id") or ""))
                h_entry, _, h_id = key.partition(":")
                KSR.notice(f"polyvox: dialog {key} ({dialog.get('call-id')}): ending it (maximum duration "
                           "or control request)\n")
                if not self.end_dialog(dialog):
                    KSR.err(f"polyvox: dialog {key} could not be ended, trying dlg.end_dlg\n")
                    self.rpc("dlg.end_dlg", int(h_entry), int(h_id))
                    if str(pv("$jsonrpl(code)")) != "200":
                        KSR.err(f"polyvox: dialog {key} could not be ended: {pv('$jsonrpl(body)')}\n")
                        continue
                values: dict[str, str] = {}
                for item in (dialog.get("variables") or []):
                    if isinstance(item, dict):
                        values.update({str(k): str(v) for k, v in item.items()})
                values.setdefault("callid", str(dialog.get("call-id") or ""))
                self.media_release(dialog_rtp_id(lambda name, v=values: v.get(name, "")), values.get("mrs"))
                if KSR.htable.sht_is_null("cdrdone", key) > 0:  # dialog:end did not run: write it here
                    KSR.htable.sht_seti("cdrdone", key, 1)
                    self.write_cdr(lambda name, v=values: v.get(name, ""), failed=False)
        except Exception:
            log_error("dialog cut")
        return 1

    def end_dialog(self, dialog: dict[str, Any]) -> bool:
        """Hangs up an answered dialog (from ``dlg.list_ctx``) with two BYEs built from its data
        (``tm.t_uac_send``), one per leg, each sent **through this proxy itself** (Route = our
        own address): they cross the request route like any in-dialog BYE, so the dialog module
        ends the dialog (``dialog:end``, call record) on the first and each one is relayed to its
        leg whatever the state of the dialog. ``dlg.end_dlg`` (``dlg_bye_all``) is not used: it
        sends the caller's BYE then the callee's from the dialog, and a caller's 200 processed in
        between deletes the dialog, so the carrier's BYE was never sent (docs/sip.md §9.8)."""
        caller, callee = dialog.get("caller") or {}, dialog.get("callee") or {}
        ftag, ttag = str(caller.get("tag") or ""), str(callee.get("tag") or "")
        call_id = str(dialog.get("call-id") or "")
        if not (ftag and ttag and call_id and caller.get("contact") and callee.get("contact")):
            return False
        sent = 0
        for leg, from_uri, from_tag, to_uri, to_tag, cseq_of in (
                (callee, dialog.get("from_uri"), ftag, dialog.get("to_uri"), ttag, caller),
                (caller, dialog.get("to_uri"), ttag, dialog.get("from_uri"), ftag, callee)):
            _proto, _, hostport = str(leg.get("socket") or "").partition(":")
            if not hostport:
                hostport = f"{self.s.get('host') or '127.0.0.1'}:{self.s.get('port') or 5060}"
            me = f"sip:{hostport}"
            did = f";did={did_param(dialog['h_entry'], dialog['h_id'])}" \
                if dialog.get("h_entry") is not None and dialog.get("h_id") is not None else ""
            routes = [f"<{me};lr;ftag={ftag}{did}>"] + [r.strip() for r in str(leg.get("route_set") or "").split(",")
                                                     if r.strip()]
            cseq = (_int(cseq_of.get("cseq")) or 0) + 1
            headers = (f"From: <{from_uri}>;tag={from_tag}\r\nTo: <{to_uri}>;tag={to_tag}\r\n"
                       f"Call-ID: {call_id}\r\nCSeq: {cseq} BYE\r\nRoute: {', '.join(routes)}\r\n"
                       "Max-Forwards: 70\r\nReason: SIP;cause=200;text=\"call ended by the platform\"\r\n")
            if KSR.tm.t_uac_send("BYE", str(leg.get("contact")), me, "", headers, "") > 0:
                sent += 1
            else:
                KSR.err(f"polyvox: BYE for {call_id} to {leg.get('contact')} could not be sent\n")
        return sent == 2

    @staticmethod
    def rpc(method: str, *params: Any) -> Any:
        """A JSON-RPC command run inside Kamailio (jsonrpcs); returns its result or None."""
        request: dict[str, Any] = {"jsonrpc": "2.0", "method": method, "id": 1}
        if params:
            request["params"] = list(params)
        KSR.jsonrpcs.exec(json.dumps(request))
        body = pv("$jsonrpl(body)") or ""
        try:
            return json.loads(body).get("result")
        except (ValueError, AttributeError):
            return None

    def write_cdr(self, var: Any, failed: bool) -> None:
        """One ``kam_trunks_cdrs`` row from the dialog's variables (``var(name) -> str``)."""
        if not var("direction") or var("nocdr"):
            return  # not ours, or a special number with Disable CDR (8.9.1)
        if self._cdr_table is None:
            from polyvox.db.cdr import kam_trunks_cdrs

            self._cdr_table = kam_trunks_cdrs
        now = datetime.now(UTC)
        start = datetime.fromisoformat(var("start")) if var("start") else now
        answer = datetime.fromisoformat(var("answer")) if var("answer") and not failed else None
        code = _int(var("code")) or (200 if answer else None)
        bounced = bool(var("bounced"))
        row = {"callid": var("callid"), "direction": var("direction"),
               "brandId": _int(var("brand")), "companyId": _int(var("company")), "carrierId": _int(var("carrier")),
               "carrierServerId": _int(var("cs")), "ddiProviderId": _int(var("provider")), "ddiId": _int(var("ddi")),
               "endpointType": var("ep_type") or None, "endpointId": _int(var("ep_id")),
               "endpointName": var("ep_name") or None, "caller": var("caller"), "callee": var("callee"),
               "startTime": start, "answerTime": answer, "endTime": now,
               "duration": round((now - answer).total_seconds(), 3) if answer else 0.0,
               "disconnectCode": code, "disconnectReason": "failed" if failed else "ended",
               "routingTagId": _int(var("tag")), "bounced": bounced}
        rows = [row]
        if bounced:
            # an outbound call to an own DDI: the calling client's outbound record (billed, cost 0,
            # no carrier) and the DDI's client's inbound record (listed, never priced)
            rows = [{**row, "direction": "outbound", "brandId": _int(var("obrand")),
                     "companyId": _int(var("ocompany")), "callee": var("ocallee") or row["callee"],
                     "ddiId": _int(var("oddi")), "routingTagId": _int(var("otag"))},
                    {**row, "endpointType": None, "endpointId": None, "endpointName": None}]
        with self.repo.engine.begin() as conn:
            conn.execute(self._cdr_table.insert(), rows)

    # ------------------------------------------------------------------ dialogs
    def within_dialog(self, method: str) -> None:
        """In-dialog requests: relayed along the Record-Route only within a dialog of this proxy,
        from one of its parties (:class:`polyvox.sip.kemi.DialogGuard`, docs/sip.md §11)."""
        if method == "ACK" and KSR.tm.t_check_trans() == 0:
            return  # ACK of a negative reply: absorbed by its transaction
        ctx = self.dialogs.check(method)
        if ctx is None:
            return
        if KSR.rr.loose_route() > 0:
            if not self.dialogs.destination_ok(method, ctx):
                return
            KSR.textops.remove_hf_re("^X-Info-")
            mrs = ctx.var("mrs")
            if mrs:
                KSR.pv.seti("$avp(mrs)", int(mrs))
            rtp_cid = ctx.var("rtp_cid")
            if rtp_cid:  # the dialog's own identity at rtpengine (-pvtin / -pvtout)
                KSR.pv.sets("$avp(rtp_cid)", str(rtp_cid))
            if method in ("BYE", "CANCEL"):
                self.rtp_delete()
                if method == "BYE" and ctx.restored:
                    self.end_restored(ctx)
            elif method in ("INVITE", "UPDATE", "ACK"):
                self.rtp_manage()
            if method in ("INVITE", "UPDATE"):
                KSR.tm.t_on_reply("ksr_onreply_media")
            self.relay()
            return
        if method == "ACK":
            if KSR.tm.t_check_trans() > 0:
                self.relay()
            return
        reply(404, "Not here")

    def finish_missed(self, values: dict[str, str]) -> None:
        """A dialog that ended without dialog:end (:meth:`DialogGuard.sweep`): media and record."""
        self.media_release(dialog_rtp_id(lambda name: values.get(name, "")), values.get("mrs"))
        self.write_cdr(lambda name: values.get(name, ""), failed=False)

    def end_restored(self, ctx: DialogContext) -> None:
        """BYE of a dialog answered before this proxy restarted: its call record is written from
        the stored values and the stored copy goes (no dialog:end runs for it)."""
        self.dialogs.forget(ctx)
        try:
            self.write_cdr(ctx.var, failed=False)
        except Exception:
            log_error("call record")

    # ------------------------------------------------------------------ media (rtpengine)
    def media_set(self, media_relay_set_id: int | None) -> None:
        if media_relay_set_id is not None:
            KSR.pv.seti("$avp(mrs)", int(media_relay_set_id))
            KSR.pv.sets("$dlg_var(mrs)", str(media_relay_set_id))

    @staticmethod
    def rtp_identity(direction: str) -> None:
        """The dialog's identity at rtpengine (docs/sip.md §9.10), right after ``dlg_manage``:
        ``$avp(rtp_cid)`` for this transaction (offer, replies, failure routes) and
        ``$dlg_var(rtp_cid)`` for the dialog's later requests (``within_dialog``), its
        ``dialog:end`` and the platform's hangups (``ksr_dlgcut``)."""
        rtp_cid = rtp_call_id(pv("$ci") or "", direction)
        KSR.pv.sets("$avp(rtp_cid)", rtp_cid)
        KSR.pv.sets("$dlg_var(rtp_cid)", rtp_cid)

    @staticmethod
    def current_rtp_id() -> str:
        """This request's / transaction's rtpengine identity (set by :meth:`rtp_identity` or
        copied from the dialog by ``within_dialog``); a request of no known dialog falls back to
        the outbound identity."""
        return str(pv("$avp(rtp_cid)") or "") or rtp_call_id(pv("$ci") or "", "outbound")

    def rtp_manage(self) -> int:
        return int(KSR.rtpengine.rtpengine_manage(f"{self.rtp_flags} call-id={self.current_rtp_id()}"))

    def rtp_delete(self) -> None:
        KSR.rtpengine.rtpengine_delete(f"call-id={self.current_rtp_id()}")

    def media_release(self, rtp_cid: str, mrs: str | None) -> None:
        """Deletes a dialog's media session (``rtp_cid``, see :func:`dialog_rtp_id`) for calls ended
        by the dialog module (:func:`polyvox.sip.kemi.release_media`)."""
        release_media(self.repo.rtpengine_nodes(), rtp_cid, mrs)

    def media_offer(self) -> bool:
        if self.rtp_manage() < 0 and KSR.textops.has_body_type("application/sdp") > 0:
            if sdp_invalid(str(pv("$rb") or "")):
                reply(488, "Not Acceptable Here: invalid SDP")
                return False
            KSR.err("polyvox: rtpengine offer failed\n")
            reply(503, "Service Unavailable: media relay unavailable")
            return False
        return True

    def ksr_onreply_media(self, msg: Any) -> int:
        try:
            KSR.textops.remove_hf_re("^X-Info-")
            status = int(pv("$rs"))
            if 100 < status < 300:
                self.dialogs.answered_by(status)
                self.rtp_manage()
        except Exception:
            log_error("reply route")
        return 1

    def relay(self) -> None:
        if KSR.tm.t_relay() < 0:
            KSR.sl.sl_reply_error()

    def child_init(self, rank: int) -> int:
        return 0

    def ksr_cfgsync(self, msg: Any, evname: str = "") -> int:
        """Timer process: media relay changes reach the rtpengine module (as in proxy-users)."""
        self.ticks += 1
        if self.ticks % 600 == 1:
            self.dialogs.purge()
        if self.ticks % 5 == 0:
            self.dialogs.sweep(self.started, self.finish_missed)
        try:
            version = self.repo.read_version()
            if version != self.sync_version:
                from polyvox.sip.render import write_rtpengine_table

                if write_rtpengine_table(Path(self.s["rundir"], "db"), self.repo.rtpengine_nodes()):
                    self.reload_pending = True
                self.sync_version = version
            if self.reload_pending:
                KSR.jsonrpcs.exec(json.dumps({"jsonrpc": "2.0", "method": "rtpengine.reload", "id": 1}))
                if str(pv("$jsonrpl(code)")) == "200":
                    self.reload_pending = False
        except Exception:
            log_error("config sync")
        return 1


RTP_INBOUND_SUFFIX = "-pvtin"
RTP_OUTBOUND_SUFFIX = "-pvtout"


def rtp_call_id(call_id: str, direction: str) -> str:
    """proxy-trunks' own identity at the media relay for a dialog of ``direction`` (docs/sip.md
    §9.10). proxy-users engages the same rtpengine with the same Call-ID and From tag on retail
    calls (proxy-users -> proxy-trunks -> carrier and back): without a distinct Call-ID rtpengine
    would take proxy-trunks' offer for a re-offer of proxy-users' session (one session, peers
    pointing at rtpengine's own ports, no media). A call from a DDI provider forwarded by a
    retail account to an external number crosses proxy-trunks twice (inbound, then outbound)
    with the same Call-ID and From tag, so each direction has its own identity:
    ``<Call-ID>-pvtin`` for inbound dialogs (DDI providers, bounced calls), ``<Call-ID>-pvtout``
    for outbound ones (to carriers)."""
    return f"{call_id}{RTP_INBOUND_SUFFIX if direction == 'inbound' else RTP_OUTBOUND_SUFFIX}"


def dialog_rtp_id(var: Any) -> str:
    """The rtpengine identity of a dialog from its variables (``var(name) -> str``)."""
    return var("rtp_cid") or rtp_call_id(var("callid"), var("direction") or "outbound")


def did_param(h_entry: Any, h_id: Any) -> str:
    """The dialog module's ``did`` Record-Route parameter of a dialog (Kamailio's
    ``add_dlg_rr_param``: hash entry and id in hex with the least significant digit first, joined
    by ``.``): lets a request built by proxy-trunks find its dialog when two dialogs share the
    Call-ID and tags (a forwarded call crossing proxy-trunks twice)."""
    def rhex(value: Any) -> str:
        return format(int(value), "x")[::-1]
    return f"{rhex(h_entry)}.{rhex(h_id)}"


def _hostport(ip: str, port: int) -> str:
    return f"[{ip}]:{port}" if ":" in ip and not ip.startswith("[") else f"{ip}:{port}"


def hdr(name: str) -> str:
    return (pv(f"$hdr({name})") or "").strip()


def _int(value: Any) -> int | None:
    try:
        return int(str(value).strip())
    except (TypeError, ValueError):
        return None



def mod_init(settings: dict[str, Any]) -> ProxyTrunks:
    return ProxyTrunks(settings)
