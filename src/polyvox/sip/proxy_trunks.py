"""proxy-trunks routing script (Kamailio KEMI, runs inside app_python3).

The platform's edge towards carriers and DDI providers (spec 2.2, 6, 7, 9.2, 9.3, 9.6.3;
IvozProvider's KamTrunks). docs/sip.md §9 has the details.

- Outbound: INVITE from proxy-users or an application server with the ``X-Info-*`` context
  (brand, client, caller) and the E.164 callee in the R-URI -> own DDI? bounce internally ->
  concurrent call limits -> "no rating plan, no call" -> outgoing routing (RouteIndex,
  select_routes, carriers_for_call, failover_targets) -> carrier servers in failover order
  (timeout, 408, 5xx; not 486/480/603), carrier calleeout/callerout transformations, From
  user/domain, PAI/RPID, digest authentication on 401/407.
- Inbound: INVITE from a DDI provider address -> provider detection and calleein/callerin
  transformations -> DDI -> the client's application servers (vPBX, residential) or
  proxy-users (retail accounts), with ``X-Info-*`` context.
- Call records: one row per dialog in ``kam_trunks_cdrs`` at dialog:end / dialog:failed.
"""

from __future__ import annotations

import json
import random
import re
import traceback
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import KSR  # type: ignore[import-not-found]  # provided by Kamailio's app_python3

from polyvox.domain import routing
from polyvox.domain.billing import ClientType, Direction, check_concurrent_calls
from polyvox.domain.callflow.ddi_provider import DetectionOutcome, detect_ddi_provider
from polyvox.sip import dispatch
from polyvox.sip.kemi import initial_request, reply
from polyvox.sip.trunks_repository import Ddi, TrunksRepository

REALM_RE = re.compile(r'realm="([^"]*)"', re.I)


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
        self.users_proxy = dispatch.parse_host_port(up, 5060) if up else None
        self.rng = random.Random()
        self._cdr_table: Any = None
        self.sync_version: int | None = None
        self.reload_pending = False

    # ------------------------------------------------------------------ request route
    def ksr_request_route(self, msg: Any) -> int:
        try:
            self.route()
        except Exception:
            KSR.err("polyvox: unhandled error: " + traceback.format_exc().replace("\n", " | ") + "\n")
            reply(500, "Server Internal Error")
        return 1

    def route(self) -> None:
        method = initial_request(self.relay, self.within_dialog)
        if method is None:
            return
        self.repo.begin_request()
        si, sp = KSR.pv.get("$si"), int(KSR.pv.get("$sp"))
        inside = (self.users_proxy is not None and (si, sp) == self.users_proxy) \
            or self.repo.application_server_at(si, sp) is not None
        if inside:
            if method != "INVITE":
                reply(405, "Method Not Allowed")
                return
            self.outbound()
            return
        KSR.textops.remove_hf_re("^X-Info-")
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
        callee = hdr("X-Info-Callee") or KSR.pv.get("$rU") or ""
        caller = hdr("X-Info-Caller") or KSR.pv.get("$fU") or ""
        tag_id = _int(hdr("X-Info-RoutingTagId"))
        endpoint = (hdr("X-Info-EndpointType"), _int(hdr("X-Info-EndpointId")), hdr("X-Info-Endpoint"))
        if not callee:
            reply(484, "Address Incomplete")
            return
        # a call to one of the platform's own DDIs never leaves it (spec 6/7)
        own = self.repo.ddi_by_number(brand_id, callee)
        if own is not None and own.inbound:
            KSR.textops.remove_hf_re("^X-Info-")
            KSR.info(f"polyvox: {callee} is DDI {own.id}: bounced internally\n")
            self.deliver_ddi(own, None, caller, bounced=True)
            return
        if not self.check_limits(company, Direction.OUTBOUND):
            return
        if not self.repo.can_rate(company.id, callee, tag_id):
            reply(403, "Forbidden: no rating plan for the destination")
            return
        selection = routing.select_routes(self.repo.routes(brand_id), company.id, callee, routing_tag=tag_id)
        if selection.blocked:
            reply(403, "Forbidden: call blocked by outgoing routing")
            return
        if not selection.routes:
            reply(404, "Not Found: No route")
            return
        carriers = routing.carriers_for_call(selection, callee, cost_of=lambda _c, _n: Decimal(0), rng=self.rng)
        servers = [routing.CarrierServer(s.id, s.carrier_id, ip=s.host, port=s.port)
                   for s in self.repo.carrier_servers(brand_id)]
        targets = routing.failover_targets(carriers, servers, rng=None)
        alive = [t for t in targets if KSR.htable.sht_is_null("asdown", f"cs:{t.server.id}") > 0] or list(targets)
        if not alive:
            reply(503, "Service Unavailable: no carrier server")
            return
        KSR.dialog.dlg_manage()
        KSR.rr.record_route()
        first = self.repo.carrier(alive[0].server.carrier_id)
        self.media_set(first.media_relay_set_id if first else None)
        if not self.media_offer():
            return
        self.count_call(company.brand_id, company.id)
        self.cdr_vars(direction="outbound", brand=brand_id, company=company.id, caller=caller, callee=callee,
                      ep_type=endpoint[0], ep_id=endpoint[1], ep_name=endpoint[2])
        KSR.textops.remove_hf_re("^X-Info-")
        KSR.pv.sets("$avp(targets)", ",".join(f"{t.server.id}/{t.choice.route.id}" for t in alive))
        KSR.pv.sets("$avp(caller)", caller)
        KSR.pv.sets("$avp(callee)", callee)
        KSR.pv.seti("$avp(brand)", brand_id)
        if not self.next_carrier():
            KSR.rtpengine.rtpengine_delete("")
            reply(503, "Service Unavailable: no carrier server")

    def next_carrier(self) -> bool:
        """Prepares and relays the INVITE to the next carrier server of ``$avp(targets)``."""
        targets = [t for t in (KSR.pv.get("$avp(targets)") or "").split(",") if t]
        brand_id = int(KSR.pv.get("$avp(brand)") or 0)
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
            callee = rules.apply("calleeout", KSR.pv.get("$avp(callee)") or "")
            caller = rules.apply("callerout", KSR.pv.get("$avp(caller)") or "")
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
            fuser, fdomain = KSR.pv.get("$avp(fuser)") or "", KSR.pv.get("$avp(fdomain)") or ""
            if fuser:
                KSR.uac.uac_replace_from("", f"sip:{fuser}@{fdomain or KSR.pv.get('$fd')}")
            pai, rpid = KSR.pv.get("$avp(pai)") or "", KSR.pv.get("$avp(rpid)") or ""
            if pai:
                KSR.hdr.remove("P-Asserted-Identity")
                KSR.hdr.append(f"P-Asserted-Identity: <sip:{pai}@{fdomain}>\r\n")
            if rpid:
                KSR.hdr.remove("Remote-Party-ID")
                KSR.hdr.append(f"Remote-Party-ID: <sip:{rpid}@{fdomain}>;party=calling;screen=yes;privacy=off\r\n")
        except Exception:
            KSR.err("polyvox: branch route error: " + traceback.format_exc().replace("\n", " | ") + "\n")
        return 1

    def ksr_failure_carrier(self, msg: Any) -> int:
        try:
            if KSR.tm.t_is_canceled() > 0:
                KSR.pv.sets("$dlg_var(code)", "487")
                KSR.rtpengine.rtpengine_delete("")
                return 1
            self.repo.begin_request()  # this worker's cache may predate the request's configuration
            cs = int(KSR.pv.get("$avp(cs)") or 0)
            status = int(KSR.pv.get("$T_reply_code") or 0)
            timeout = KSR.tm.t_branch_timeout() > 0 and KSR.tm.t_branch_replied() < 0
            if timeout:
                status = 408
                KSR.warn(f"polyvox: carrier server {cs} did not answer, failing over\n")
                KSR.htable.sht_seti("asdown", f"cs:{cs}", 1)
            KSR.pv.sets("$dlg_var(code)", str(status))
            KSR.info(f"polyvox: carrier server {cs} failed with {status}, left: {KSR.pv.get('$avp(targets)')}\n")
            if status in (401, 407) and not KSR.pv.get("$avp(authed)"):
                server = next((s for s in self.repo.carrier_servers(int(KSR.pv.get("$avp(brand)") or 0))
                               if s.id == cs), None)
                if server is not None and server.auth_needed and server.auth_user:
                    challenge = KSR.pv.get("$T_rpl($hdr(WWW-Authenticate))" if status == 401 else
                                           "$T_rpl($hdr(Proxy-Authenticate))") or ""
                    m = REALM_RE.search(challenge)
                    KSR.pv.sets("$avp(auser)", server.auth_user)
                    KSR.pv.sets("$avp(apass)", server.auth_password)
                    KSR.pv.sets("$avp(arealm)", m.group(1) if m else "")
                    if KSR.uac.uac_auth() > 0:
                        KSR.pv.sets("$avp(authed)", "1")
                        KSR.tm.t_on_branch("ksr_branch_out")
                        KSR.tm.t_on_failure("ksr_failure_carrier")
                        KSR.tm.t_on_reply("ksr_onreply_media")
                        if KSR.tm.t_relay() > 0:
                            return 1
                KSR.rtpengine.rtpengine_delete("")
                return 1
            if status == 408 or 500 <= status < 600:
                if self.next_carrier():
                    return 1
                if timeout:
                    KSR.tm.t_reply(503, "Service Unavailable: carriers unreachable")
            KSR.rtpengine.rtpengine_delete("")
        except Exception:
            KSR.err("polyvox: failure route error: " + traceback.format_exc().replace("\n", " | ") + "\n")
        return 1

    # ------------------------------------------------------------------ inbound (spec 6, 9.6.3)
    def inbound(self, si: str) -> None:
        providers, candidates = self.repo.ddi_providers()
        called = KSR.pv.get("$rU") or ""

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
        caller = self.repo.rule_set(provider.rule_set_id).apply("callerin", KSR.pv.get("$fU") or "")
        ddi = self.repo.ddi(det.ddi.id)
        if ddi is None:
            reply(404, "Not Found: unknown DDI")
            return
        self.deliver_ddi(ddi, provider.id, caller)

    def deliver_ddi(self, ddi: Ddi, provider_id: int | None, caller: str, bounced: bool = False) -> None:
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
        KSR.rr.record_route()
        provider = self.repo.ddi_providers()[0].get(provider_id) if provider_id is not None else None
        self.media_set(provider.media_relay_set_id if provider and provider.media_relay_set_id
                       else company.media_relay_set_id)
        if not self.media_offer():
            return
        if not bounced:
            self.count_call(company.brand_id, company.id)
        self.cdr_vars(direction="inbound", brand=company.brand_id, company=company.id, caller=caller,
                      callee=ddi.e164, ddi=ddi.id, provider=provider_id)
        for name, value in headers:
            KSR.hdr.append(f"{name}: {value}\r\n")
        KSR.pv.sets("$ru", ruri)
        KSR.pv.sets("$du", dst)
        KSR.pv.sets("$avp(as_next)", ",".join(rest))
        KSR.pv.sets("$avp(fuser)", caller)
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
                KSR.rtpengine.rtpengine_delete("")
                return 1
            KSR.pv.sets("$dlg_var(code)", str(KSR.pv.get("$T_reply_code") or 0))
            if KSR.tm.t_branch_timeout() > 0 and KSR.tm.t_branch_replied() < 0:
                failed = KSR.pv.get("$avp(as_cur)") or ""
                if failed:
                    KSR.htable.sht_seti("asdown", failed, 1)
                rest = [k for k in (KSR.pv.get("$avp(as_next)") or "").split(",") if k]
                if rest:
                    KSR.pv.sets("$du", "sip:" + rest[0])
                    KSR.pv.sets("$avp(as_cur)", rest[0])
                    KSR.pv.sets("$avp(as_next)", ",".join(rest[1:]))
                    KSR.tm.t_on_branch("ksr_branch_out")
                    KSR.tm.t_on_failure("ksr_failure_as")
                    KSR.tm.t_on_reply("ksr_onreply_media")
                    if KSR.tm.t_relay() > 0:
                        return 1
                KSR.pv.sets("$dlg_var(code)", "503")
                KSR.tm.t_reply(503, "Service Unavailable: application servers unreachable")
            KSR.rtpengine.rtpengine_delete("")
        except Exception:
            KSR.err("polyvox: failure route error: " + traceback.format_exc().replace("\n", " | ") + "\n")
        return 1

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
        return int(KSR.pv.get("$var(psize)") or 0)

    def count_call(self, brand_id: int, company_id: int) -> None:
        KSR.dialog.set_dlg_profile("brand", str(brand_id))
        KSR.dialog.set_dlg_profile("company", str(company_id))

    # ------------------------------------------------------------------ call records
    def cdr_vars(self, **values: Any) -> None:
        KSR.pv.sets("$dlg_var(start)", datetime.now(UTC).isoformat())
        for k, v in values.items():
            if v is not None and v != "":
                KSR.pv.sets(f"$dlg_var({k})", str(v))

    def ksr_dialog_event(self, msg: Any, evname: str = "") -> int:
        try:
            if evname == "dialog:start":
                KSR.pv.sets("$dlg_var(answer)", datetime.now(UTC).isoformat())
            elif evname in ("dialog:end", "dialog:failed"):
                self.write_cdr(failed=evname == "dialog:failed")
        except Exception:
            KSR.err("polyvox: call record error: " + traceback.format_exc().replace("\n", " | ") + "\n")
        return 1

    def write_cdr(self, failed: bool) -> None:
        def var(name: str) -> str:
            return KSR.pv.get(f"$dlg_var({name})") or ""

        if not var("direction"):
            return
        if self._cdr_table is None:
            from polyvox.db.cdr import kam_trunks_cdrs

            self._cdr_table = kam_trunks_cdrs
        now = datetime.now(UTC)
        start = datetime.fromisoformat(var("start")) if var("start") else now
        answer = datetime.fromisoformat(var("answer")) if var("answer") and not failed else None
        code = _int(var("code")) or (200 if answer else None)
        row = {"callid": KSR.pv.get("$ci") or var("callid"), "direction": var("direction"),
               "brandId": _int(var("brand")), "companyId": _int(var("company")), "carrierId": _int(var("carrier")),
               "carrierServerId": _int(var("cs")), "ddiProviderId": _int(var("provider")), "ddiId": _int(var("ddi")),
               "endpointType": var("ep_type") or None, "endpointId": _int(var("ep_id")),
               "endpointName": var("ep_name") or None, "caller": var("caller"), "callee": var("callee"),
               "startTime": start, "answerTime": answer, "endTime": now,
               "duration": round((now - answer).total_seconds(), 3) if answer else 0.0,
               "disconnectCode": code, "disconnectReason": "failed" if failed else "ended"}
        with self.repo.engine.begin() as conn:
            conn.execute(self._cdr_table.insert().values(**row))

    # ------------------------------------------------------------------ dialogs
    def within_dialog(self, method: str) -> None:
        if KSR.rr.loose_route() > 0:
            KSR.textops.remove_hf_re("^X-Info-")
            mrs = KSR.pv.get("$dlg_var(mrs)")
            if mrs:
                KSR.pv.seti("$avp(mrs)", int(mrs))
            if method in ("BYE", "CANCEL"):
                KSR.rtpengine.rtpengine_delete("")
            elif method in ("INVITE", "UPDATE", "ACK"):
                KSR.rtpengine.rtpengine_manage(self.rtp_flags)
            if method in ("INVITE", "UPDATE"):
                KSR.tm.t_on_reply("ksr_onreply_media")
            self.relay()
            return
        if method == "ACK":
            if KSR.tm.t_check_trans() > 0:
                self.relay()
            return
        reply(404, "Not here")

    # ------------------------------------------------------------------ media (rtpengine)
    def media_set(self, media_relay_set_id: int | None) -> None:
        if media_relay_set_id is not None:
            KSR.pv.seti("$avp(mrs)", int(media_relay_set_id))
            KSR.pv.sets("$dlg_var(mrs)", str(media_relay_set_id))

    def media_offer(self) -> bool:
        if KSR.rtpengine.rtpengine_manage(self.rtp_flags) < 0 and KSR.textops.has_body_type("application/sdp") > 0:
            KSR.err("polyvox: rtpengine offer failed\n")
            reply(503, "Service Unavailable: media relay unavailable")
            return False
        return True

    def ksr_onreply_media(self, msg: Any) -> int:
        try:
            KSR.textops.remove_hf_re("^X-Info-")
            status = int(KSR.pv.get("$rs"))
            if 100 < status < 300:
                KSR.rtpengine.rtpengine_manage(self.rtp_flags)
        except Exception:
            KSR.err("polyvox: reply route error: " + traceback.format_exc().replace("\n", " | ") + "\n")
        return 1

    def relay(self) -> None:
        if KSR.tm.t_relay() < 0:
            KSR.sl.sl_reply_error()

    def child_init(self, rank: int) -> int:
        return 0

    def ksr_cfgsync(self, msg: Any, evname: str = "") -> int:
        """Timer process: media relay changes reach the rtpengine module (as in proxy-users)."""
        try:
            version = self.repo.read_version()
            if version != self.sync_version:
                from polyvox.sip.render import write_rtpengine_table

                if write_rtpengine_table(Path(self.s["rundir"], "db"), self.repo.rtpengine_nodes()):
                    self.reload_pending = True
                self.sync_version = version
            if self.reload_pending:
                KSR.jsonrpcs.exec(json.dumps({"jsonrpc": "2.0", "method": "rtpengine.reload", "id": 1}))
                if str(KSR.pv.get("$jsonrpl(code)")) == "200":
                    self.reload_pending = False
        except Exception:
            KSR.err("polyvox: config sync error: " + traceback.format_exc().replace("\n", " | ") + "\n")
        return 1


def hdr(name: str) -> str:
    return (KSR.pv.get(f"$hdr({name})") or "").strip()


def _int(value: Any) -> int | None:
    try:
        return int(str(value).strip())
    except (TypeError, ValueError):
        return None



def mod_init(settings: dict[str, Any]) -> ProxyTrunks:
    return ProxyTrunks(settings)
