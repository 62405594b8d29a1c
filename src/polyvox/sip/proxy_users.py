"""proxy-users routing script (Kamailio KEMI, runs inside app_python3).

Thin on purpose: it reads the request, asks :mod:`polyvox.sip.repository` (cached, invalidated by
``config_version``) and :mod:`polyvox.sip.dispatch` (pure rules), and acts with ``KSR.*``.
One instance per Kamailio process (created in the main process, copied by fork).

Flows (docs/sip.md has the details):

- REGISTER from a terminal: SIP domain (To) -> terminal -> digest auth -> usrloc
  (``multiContact`` off: the new contact replaces the others);
- INVITE from a terminal (vPBX/residential client): domain (From) -> terminal -> digest auth ->
  rtpengine offer -> ``X-Info-*`` context headers -> the client's application server set
  (hash/rr/static) with fail-over to the next server when one does not answer;
- INVITE from an application server to ``user@domain``: usrloc lookup, every registered contact
  rings in parallel;
- in-dialog requests follow the Record-Route; rtpengine answers/deletes on the way.
"""

from __future__ import annotations

import json
import os
import traceback
from pathlib import Path
from typing import Any

import KSR  # type: ignore[import-not-found]  # provided by Kamailio's app_python3

from polyvox.sip import dispatch
from polyvox.sip.kemi import initial_request, reply
from polyvox.sip.repository import Company, Endpoint, Repository, e164

FLT_NATS = 5  # request flag: the sender is behind NAT
FLB_NATB = 6  # branch flag: the destination is behind NAT (restored by lookup)

AUTH_WRONG = (-2, -8)  # invalid password, auth user differs from From/To user
AUTH_STALE = (-4, -6)  # nonce expired, nonce reused


class ProxyUsers:
    def __init__(self, settings: dict[str, Any]) -> None:
        self.s = settings
        self.repo = Repository(settings["database_url"], check_interval=float(settings["version_check_interval"]),
                               default_as_port=int(settings["as_default_port"]))
        self.rtp_flags = settings["rtpengine_flags"]
        self.as_timeout_ms = int(settings["as_timeout_ms"])
        self.fr_inv_timer = int(settings["fr_inv_timer"])
        self.rundir = settings["rundir"]
        self.sync_version: int | None = None
        self.reload_pending = False
        trunks_port = settings.get("trunks_port") or os.environ.get("POLYVOX_SIP_TRUNKS_PORT") or 7060
        trunks_host = settings.get("trunks_host") or settings.get("host") or "127.0.0.1"
        self.trunks_uri = f"sip:{trunks_host}:{int(trunks_port)}"
        self.trunks_addr = (str(trunks_host), int(trunks_port))
        self.location_table = "location"
        self.location_loaded = False
        self.profile_key = ""

    # ------------------------------------------------------------------ process hooks
    def child_init(self, rank: int) -> int:
        return 0

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
        source = (KSR.pv.get("$si"), int(KSR.pv.get("$sp")))
        if source == self.trunks_addr and method != "REGISTER":
            self.from_trunks(method)
            return
        app_server = self.repo.application_server_at(*source)
        if app_server is not None:
            self.from_application_server(method)
        else:
            self.nat_detect(method)
            KSR.textops.remove_hf_re("^X-Info-")
            self.from_endpoint(method)

    # ------------------------------------------------------------------ endpoints -> platform
    def from_endpoint(self, method: str) -> None:
        if method == "REGISTER":
            self.register()
            return
        if method in ("SUBSCRIBE", "PUBLISH", "MESSAGE", "NOTIFY", "REFER"):
            reply(501, "Not Implemented")
            return
        if method != "INVITE":
            reply(405, "Method Not Allowed")
            return
        src_ip, src_port = KSR.pv.get("$si") or "", int(KSR.pv.get("$sp") or 0)
        self.profile_key = ""
        wholesale = self.repo.wholesale_at(src_ip)
        if wholesale is not None:  # spec 9.1.4: IP authentication only, any SIP domain
            if KSR.corex.has_ruri_user() < 0:
                reply(484, "Address Incomplete")
                return
            self.to_trunks(None, wholesale, self.caller_number())
            return
        ep = self.repo.direct_endpoint_at(src_ip, src_port)
        if ep is None:
            found = self.authenticate(method)
            if found is None:
                return
            ep, _domain = found
            if self.repo.domain(KSR.pv.get("$rd") or "") is None and not KSR.is_myself_ruri():
                reply(404, "Not Found: invalid domain in R-URI")
                return
        if KSR.corex.has_ruri_user() < 0:
            reply(484, "Address Incomplete")
            return
        company = self.repo.company(ep.company_id)
        if company is None:
            reply(403, "Forbidden: endpoint without client")
            return
        expected = {"terminal": ("vpbx",), "friend": ("vpbx",), "residential": ("residential",),
                    "retail": ("retail",)}[ep.kind]
        if company.type not in expected:
            reply(403, f"Forbidden: {ep.kind} of a {company.type} client")
            return
        if ep.kind in ("retail", "residential"):
            clid = self.validated_clid(ep, company)
            if clid is None:
                reply(403, "Forbidden: no valid caller id")
                return
        else:
            clid = self.caller_number()
        if not self.within_call_limit(ep):
            return
        if ep.kind == "retail":
            self.to_trunks(ep, company, clid)
            return
        self.to_application_server(ep, company, clid)

    def within_call_limit(self, ep: Endpoint) -> bool:
        """Per-endpoint maximum of simultaneous calls (residential devices' and users' maxCalls;
        0 = unlimited), counted with the dialog profile ``endpointCalls``. The call joins the
        profile when its dialog is created (:meth:`manage_dialog`), so the count includes calls
        being set up."""
        self.profile_key = ""
        if ep.max_calls <= 0:
            return True
        key = f"{ep.kind}:{ep.id}"
        KSR.dialog.get_profile_size("endpointCalls", key, "$var(pvx_calls)")
        if _int(KSR.pv.get("$var(pvx_calls)")) >= ep.max_calls:
            reply(403, "Forbidden: maximum concurrent calls reached")
            return False
        self.profile_key = key
        return True

    def manage_dialog(self) -> None:
        KSR.dialog.dlg_manage()
        if self.profile_key:
            KSR.dialog.set_dlg_profile("endpointCalls", self.profile_key)
            self.profile_key = ""

    # ----- caller identity (spec 10.3: retail/residential CLID must be one of the client's DDIs)
    def caller_number(self) -> str:
        """P-Asserted-Identity > P-Preferred-Identity > Remote-Party-ID > From user."""
        for var in ("$ai", "$pu", "$re"):
            user = uri_user(KSR.pv.get(var) or "")
            if user:
                return user
        return KSR.pv.get("$fU") or ""

    def validated_clid(self, ep: Endpoint, company: Company) -> str | None:
        from polyvox.domain.callflow import fallback_outgoing_ddi, validate_clid

        presented = self.caller_number()
        fallback = fallback_outgoing_ddi(self.repo.ddi_number(ep.outgoing_ddi_id),
                                         self.repo.ddi_number(company.outgoing_ddi_id))
        decision = validate_clid(e164(presented) if presented else None, self.repo.company_ddis(company.id), fallback)
        return decision.number

    # ----- retail and wholesale: straight to proxy-trunks
    def to_trunks(self, ep: Endpoint | None, company: Company, caller: str) -> None:
        from polyvox.domain.routing import extract_routing_tag

        raw = KSR.pv.get("$rU") or ""
        dialled = raw.replace("%23", "#")
        ext = extract_routing_tag(dialled, self.repo.routing_tags(company.brand_id),
                                  self.repo.enabled_tags(company.id))
        if ext.refused:
            reply(403, f"Forbidden: {ext.reason}")
            return
        if ext.number != raw:
            KSR.pv.sets("$rU", ext.number)
        self.manage_dialog()
        KSR.rr.record_route()
        self.media_set(company.media_relay_set_id)
        if not self.media_offer():
            return
        for name, value in trunk_headers(company, ep, callee=e164(ext.number), caller=caller, tag=ext.tag):
            KSR.hdr.append(f"{name}: {value}\r\n")
        KSR.pv.sets("$du", self.trunks_uri)
        KSR.tm.t_on_failure("ksr_failure_endpoint")
        KSR.tm.t_on_reply("ksr_onreply_media")
        self.relay()

    def authenticate(self, method: str) -> tuple[Endpoint, str] | None:
        """Domain, endpoint and digest check; sends the reply and returns None when refused."""
        register = method == "REGISTER"
        domain_name = (KSR.pv.get("$td") if register else KSR.pv.get("$fd")) or ""
        domain = self.repo.domain(domain_name)
        if domain is None:
            reply(403, "Forbidden: unknown domain")
            return None
        username = (KSR.pv.get("$tU") if register else KSR.pv.get("$fU")) or ""
        ep = self.repo.endpoint(domain, username)
        if ep is None:
            reply(404, "Not Found: unknown endpoint")
            return None
        if ep.direct:
            reply(403, "Forbidden: direct connectivity endpoint" + (" does not register" if register
                                                                     else ", unexpected source address"))
            return None
        if not ep.password:
            reply(403, "Forbidden: endpoint without password")
            return None
        rc = KSR.auth.pv_auth_check(domain.name, ep.password, 0, 1)
        if rc < 0:
            if rc in AUTH_WRONG:
                KSR.notice(f"polyvox: wrong credentials for {username}@{domain.name} "
                           f"from {KSR.pv.get('$si')} ({rc})\n")
                reply(403, "Forbidden: wrong credentials")
                return None
            KSR.auth.auth_challenge(domain.name, 1 | (16 if rc in AUTH_STALE else 0))
            return None
        KSR.auth.consume_credentials()
        return ep, domain.name

    def register(self) -> None:
        found = self.authenticate("REGISTER")
        if found is None:
            return
        ep, domain = found
        if KSR.isflagset(FLT_NATS):
            KSR.setbflag(FLB_NATB)
        flags = 0 if ep.multi_contact else 0x04  # 0x04: one contact per AoR, the newest wins
        aor = f"sip:{ep.name}@{domain}"
        if KSR.registrar.save_uri(self.location_table, flags, aor) < 0:
            KSR.sl.sl_reply_error()
            return
        self.persist_aor(ep.name, domain, aor)

    def persist_aor(self, username: str, domain: str, aor: str) -> None:
        """Writes the AoR's contacts, as usrloc now holds them, to kam_users_location."""
        try:
            contacts: list[dict[str, Any]] = []
            if KSR.registrar.reg_fetch_contacts(self.location_table, aor, "pvx") > 0:
                count = int(KSR.pv.get("$ulc(pvx=>count)") or 0)
                for i in range(count):
                    def g(key: str, i: int = i) -> Any:
                        return KSR.pv.get(f"$(ulc(pvx=>{key})[{i}])")
                    q = g("q")
                    contacts.append({
                        "contact": g("addr"), "expires": _int(g("expires")), "received": g("received"),
                        "path": g("path"), "q": (_int(q) / 1000.0) if q not in (None, "", -1) else 1.0,
                        "callid": g("callid"), "cseq": _int(g("cseq")), "flags": _int(g("flags")),
                        "cflags": _int(g("cflags")), "user_agent": g("user_agent"), "socket": g("socket"),
                        "methods": _int(g("methods"), 0xFFFFFFFF), "ruid": g("ruid"), "instance": g("instance"),
                        "reg_id": _int(g("regid")),
                    })
                KSR.registrar.reg_free_contacts("pvx")
            self.repo.store_contacts(username, domain, contacts)
        except Exception:
            KSR.err("polyvox: location write error: " + traceback.format_exc().replace("\n", " | ") + "\n")

    def restore_location(self) -> None:
        """Timer process, once at start: unexpired rows of kam_users_location back into usrloc."""
        from polyvox.sip.repository import utcnow

        now = utcnow()
        restored = 0
        for row in self.repo.live_contacts():
            left = int((row.expires - now).total_seconds())
            if left <= 0:
                continue
            methods = (row.methods if row.methods is not None else -1) & 0xFFFFFFFF
            params = [self.location_table, f"{row.username}@{row.domain}", row.contact, left,
                      float(row.q if row.q is not None else 1.0), row.path or "0", int(row.flags or 0),
                      int(row.cflags or 0), methods]
            KSR.jsonrpcs.exec(json.dumps({"jsonrpc": "2.0", "method": "ul.add", "params": params, "id": 1}))
            if str(KSR.pv.get("$jsonrpl(code)")) == "200":
                restored += 1
        KSR.info(f"polyvox: {restored} registrations restored from kam_users_location\n")

    def to_application_server(self, ep: Endpoint, company: Company, caller: str = "") -> None:
        servers = self.repo.application_servers(company.application_server_set_id)
        if not servers:
            reply(503, "Service Unavailable: no application server")
            return
        down = [s.key for s in servers if KSR.htable.sht_is_null("asdown", s.key) < 0]
        counter = 0
        if company.distribute_method == "rr":
            key = str(company.application_server_set_id or 0)
            if KSR.htable.sht_is_null("asrr", key) > 0:  # $shtinc does not create missing items
                KSR.htable.sht_seti("asrr", key, 0)
            counter = int(KSR.pv.get(f"$shtinc(asrr=>{key})") or 0)
        ordered = dispatch.order_servers(servers, company.distribute_method, company.id, counter, down)
        self.manage_dialog()
        KSR.rr.record_route()
        self.media_set(company.media_relay_set_id)
        if not self.media_offer():
            return
        for name, value in dispatch.info_headers(
                brand_id=company.brand_id, company_id=company.id, company_type=company.type, kind=ep.kind,
                ident=ep.id, name=ep.name, user_id=ep.user_id, media_relay_set_id=company.media_relay_set_id):
            KSR.hdr.append(f"{name}: {value}\r\n")
        KSR.hdr.append(f"X-Info-EndpointName: {ep.name}\r\n")
        if caller:
            KSR.hdr.append(f"X-Info-Caller: {caller}\r\n")
        first, rest = ordered[0], ordered[1:]
        KSR.pv.sets("$du", first.uri)
        KSR.pv.sets("$avp(as_cur)", first.key)
        KSR.pv.sets("$avp(as_next)", ",".join(s.key for s in rest))
        KSR.tm.t_set_fr(self.fr_inv_timer, self.as_timeout_ms)
        KSR.tm.t_on_failure("ksr_failure_as")
        KSR.tm.t_on_reply("ksr_onreply_media")
        self.relay()

    def ksr_failure_as(self, msg: Any) -> int:
        """Fail-over: the application server did not answer at all -> the next one."""
        try:
            if KSR.tm.t_is_canceled() > 0:
                KSR.rtpengine.rtpengine_manage("")
                return 1
            if KSR.tm.t_branch_timeout() > 0 and KSR.tm.t_branch_replied() < 0:
                failed = KSR.pv.get("$avp(as_cur)") or ""
                KSR.warn(f"polyvox: application server {failed} did not answer, failing over\n")
                if failed:
                    KSR.htable.sht_seti("asdown", failed, 1)
                rest = [k for k in (KSR.pv.get("$avp(as_next)") or "").split(",") if k]
                if rest:
                    KSR.pv.sets("$du", "sip:" + rest[0])
                    KSR.pv.sets("$avp(as_cur)", rest[0])
                    KSR.pv.sets("$avp(as_next)", ",".join(rest[1:]))
                    KSR.tm.t_on_failure("ksr_failure_as")
                    KSR.tm.t_on_reply("ksr_onreply_media")
                    if KSR.tm.t_relay() > 0:
                        return 1
                KSR.rtpengine.rtpengine_manage("")
                KSR.tm.t_reply(503, "Service Unavailable: application servers unreachable")
                return 1
            KSR.rtpengine.rtpengine_manage("")
        except Exception:
            KSR.err("polyvox: failure route error: " + traceback.format_exc().replace("\n", " | ") + "\n")
        return 1

    # ------------------------------------------------------------------ application servers -> endpoints
    def from_application_server(self, method: str) -> None:
        if method == "REGISTER":
            reply(403, "Forbidden: application servers do not register")
            return
        domain = self.repo.domain(KSR.pv.get("$rd") or "")
        if domain is None:
            reply(404, "Not Found: unknown domain")
            return
        ep = self.repo.endpoint(domain, KSR.pv.get("$rU") or "")
        if ep is None:
            reply(404, "Not Found: unknown endpoint")
            return
        company = self.repo.company(ep.company_id)
        KSR.textops.remove_hf_re("^X-Info-")
        if method == "INVITE":
            KSR.dialog.dlg_manage()
            KSR.rr.record_route()
            self.media_set(company.media_relay_set_id if company else None)
        if ep.direct:
            rc = 1 if ep.ip else -1
            if ep.ip:
                KSR.pv.sets("$du", f"sip:{ep.ip}:{ep.port or 5060}")
        else:
            rc = KSR.registrar.lookup_uri(self.location_table, f"sip:{ep.name}@{domain.name}")
        if rc < 0:
            if rc == -2:
                reply(405, "Method Not Allowed")
            else:
                reply(480, "Temporarily Unavailable")
            return
        if method == "INVITE":
            if not self.media_offer():
                return
            KSR.tm.t_on_failure("ksr_failure_endpoint")
        KSR.tm.t_on_reply("ksr_onreply_media")
        self.relay()

    def from_trunks(self, method: str) -> None:
        """Inbound call of a retail DDI from proxy-trunks: ``X-Info-RetailAccountId`` (else the
        R-URI user in the brand's domain) names the account; its registered contacts (or its
        fixed address) ring."""
        account_id = _int((KSR.pv.get("$hdr(X-Info-RetailAccountId)") or "").strip(), 0)
        ep = self.repo.endpoint_by_id("retail", account_id) if account_id else None
        if ep is None:
            domain = self.repo.domain(KSR.pv.get("$rd") or "")
            ep = self.repo.endpoint(domain, KSR.pv.get("$rU") or "") if domain is not None else None
        company = self.repo.company(ep.company_id) if ep is not None else None
        if ep is None or company is None:
            reply(404, "Not Found: unknown endpoint")
            return
        KSR.textops.remove_hf_re("^X-Info-")
        if method == "INVITE":
            KSR.dialog.dlg_manage()
            KSR.rr.record_route()
            self.media_set(company.media_relay_set_id)
        if ep.direct:
            if not ep.ip:
                reply(480, "Temporarily Unavailable")
                return
            KSR.pv.sets("$ru", f"sip:{ep.name}@{ep.ip}:{ep.port or 5060}")
        else:
            domain_name = self.repo.brand_domain(company.brand_id) or ""
            rc = KSR.registrar.lookup_uri(self.location_table, f"sip:{ep.name}@{domain_name}")
            if rc < 0:
                reply(405 if rc == -2 else 480, "Method Not Allowed" if rc == -2 else "Temporarily Unavailable")
                return
        if method == "INVITE":
            if not self.media_offer():
                return
            KSR.tm.t_on_failure("ksr_failure_endpoint")
        KSR.tm.t_on_reply("ksr_onreply_media")
        self.relay()

    def ksr_failure_endpoint(self, msg: Any) -> int:
        try:
            KSR.rtpengine.rtpengine_manage("")
        except Exception:
            KSR.err("polyvox: failure route error: " + traceback.format_exc().replace("\n", " | ") + "\n")
        return 1

    # ------------------------------------------------------------------ dialogs, media, NAT
    def within_dialog(self, method: str) -> None:
        if KSR.rr.loose_route() > 0:
            KSR.textops.remove_hf_re("^X-Info-")  # context is set on initial requests only
            if not KSR.isdsturiset():
                KSR.nathelper.handle_ruri_alias()
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

    def media_offer(self) -> bool:
        """rtpengine offer for an initial INVITE (late offers are handled by rtpengine_manage on
        the 200 OK / ACK). No relay reachable: the call is refused rather than sent with the
        endpoint's own media address to the inside."""
        if KSR.rtpengine.rtpengine_manage(self.rtp_flags) < 0 and KSR.textops.has_body_type("application/sdp") > 0:
            KSR.err("polyvox: rtpengine offer failed\n")
            reply(503, "Service Unavailable: media relay unavailable")
            return False
        return True

    def media_set(self, media_relay_set_id: int | None) -> None:
        if media_relay_set_id is not None:
            KSR.pv.seti("$avp(mrs)", int(media_relay_set_id))
            KSR.pv.sets("$dlg_var(mrs)", str(media_relay_set_id))

    def ksr_onreply_media(self, msg: Any) -> int:
        try:
            status = int(KSR.pv.get("$rs"))
            KSR.textops.remove_hf_re("^X-Info-")
            if 100 < status < 300:
                KSR.rtpengine.rtpengine_manage(self.rtp_flags)
                if KSR.isbflagset(FLB_NATB):
                    KSR.nathelper.set_contact_alias()
        except Exception:
            KSR.err("polyvox: reply route error: " + traceback.format_exc().replace("\n", " | ") + "\n")
        return 1

    def nat_detect(self, method: str) -> None:
        if KSR.nathelper.nat_uac_test(19) > 0:
            if method == "REGISTER":
                KSR.nathelper.fix_nated_register()
            elif KSR.siputils.is_first_hop() > 0:
                KSR.nathelper.set_contact_alias()
            KSR.setflag(FLT_NATS)

    def relay(self) -> None:
        if KSR.tm.t_relay() < 0:
            KSR.sl.sl_reply_error()

    # ------------------------------------------------------------------ timer process: config sync
    def ksr_cfgsync(self, msg: Any, evname: str = "") -> int:
        """Timer process, every ``sync_interval`` s: when config_version changed, rewrite the
        rtpengine table from the database and reload the rtpengine module's sets. The module
        refuses reloads closer than 10 s to the previous one (or to the start): the reload is
        then retried on the next ticks."""
        try:
            if not self.location_loaded:
                self.location_loaded = True
                self.restore_location()
            self.ticks = getattr(self, "ticks", 0) + 1
            if self.ticks % 10 == 0:
                self.repo.purge_expired()
        except Exception:
            KSR.err("polyvox: location sync error: " + traceback.format_exc().replace("\n", " | ") + "\n")
        try:
            version = self.repo.read_version()
            if version != self.sync_version:
                from polyvox.sip.render import write_rtpengine_table

                nodes = self.repo.rtpengine_nodes()
                if write_rtpengine_table(Path(self.rundir, "db"), nodes):
                    KSR.info(f"polyvox: media relays changed ({len(nodes)} nodes), reloading rtpengine sets\n")
                    self.reload_pending = True
                self.sync_version = version
            if self.reload_pending:
                KSR.jsonrpcs.exec(json.dumps({"jsonrpc": "2.0", "method": "rtpengine.reload", "id": 1}))
                if str(KSR.pv.get("$jsonrpl(code)")) == "200":
                    self.reload_pending = False
                    KSR.info("polyvox: rtpengine sets reloaded\n")
        except Exception:
            KSR.err("polyvox: config sync error: " + traceback.format_exc().replace("\n", " | ") + "\n")
        return 1


def _int(v: Any, default: int = 0) -> int:
    try:
        return int(v)
    except (TypeError, ValueError):
        return default


def uri_user(uri: str) -> str:
    """User part of a SIP/tel URI or name-addr (``"Bob" <sip:+34911@x;user=phone>`` -> ``+34911``)."""
    u = uri.strip()
    if "<" in u:
        u = u[u.index("<") + 1:].split(">", 1)[0]
    for scheme in ("sips:", "sip:", "tel:"):
        if u.lower().startswith(scheme):
            u = u[len(scheme):]
            break
    else:
        return ""
    if "@" in u:
        u = u.split("@", 1)[0]
    elif scheme != "tel:":
        return ""
    return u.split(";", 1)[0]


def trunk_headers(company: Company, ep: Endpoint | None, *, callee: str, caller: str,
                  tag: Any = None) -> list[tuple[str, str]]:
    """Context of a retail/wholesale call handed to proxy-trunks (docs/sip.md §9)."""
    hdrs = [("X-Info-BrandId", str(company.brand_id)), ("X-Info-CompanyId", str(company.id)),
            ("X-Info-Type", company.type)]
    if ep is not None:
        hdrs += [("X-Info-Endpoint", dispatch.endpoint_id(company.brand_id, company.id, ep.kind, ep.id, ep.name)),
                 ("X-Info-EndpointType", ep.kind), ("X-Info-EndpointId", str(ep.id)),
                 ("X-Info-EndpointName", ep.name)]
    else:
        hdrs.append(("X-Info-Endpoint", f"b{company.brand_id}c{company.id}"))
    hdrs += [("X-Info-Callee", callee), ("X-Info-Caller", caller)]
    if tag is not None:  # polyvox.domain.routing.RoutingTag
        hdrs += [("X-Info-RoutingTag", tag.tag), ("X-Info-RoutingTagId", str(tag.id))]
    if company.media_relay_set_id is not None:
        hdrs.append(("X-Info-MediaRelaySetId", str(company.media_relay_set_id)))
    return hdrs



def mod_init(settings: dict[str, Any]) -> ProxyUsers:
    return ProxyUsers(settings)
