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
- in-dialog requests follow the Record-Route; rtpengine answers/deletes on the way;
- issue 4 (docs/sip.md §10.8-§10.13): numeric transformations (rule set of the endpoint or the
  client), client/brand concurrent calls, retail call forwards (unconditional / unreachable, per
  DDI, back to proxy-trunks with Diversion), client IP filter + GeoIP + roadwarriors, brute-force
  bans (``banned_addresses``), TLS/WS/WSS transports, NAT pings, per-side rtpengine flags (SRTP,
  WebRTC) and codec transcoding.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import time
from pathlib import Path
from typing import Any

import KSR  # type: ignore[import-not-found]  # provided by Kamailio's app_python3

from polyvox.domain.numbering import to_e164, transform_number
from polyvox.domain.pbx import endpoint_clid, forward_number, pick_forward
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
from polyvox.sip.repository import CallForward, Company, Endpoint, Repository

FLT_NATS = 5  # request flag: the sender is behind NAT
FLB_NATB = 6  # branch flag: the destination is behind NAT (restored by lookup)
FLB_SIPPING = 7  # branch flag: NATed UDP contact kept open with OPTIONS pings (nathelper natping)

# dialog variables kept in kam_dialogs: what in-dialog requests need after a restart (§11)
DIALOG_VARS = ("mrs", "rtp_callee", "rtp_caller", "rtp_cid", "caller_tag")

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
        self.profiles: list[tuple[str, str]] = []  # dialog profiles the call joins at dlg_manage
        self.ban_threshold = int(settings.get("ban_threshold") or 100)
        self.ban_restart = int(settings.get("ban_restart") or 80)
        self.ban_seconds = int(settings.get("ban_seconds") or 43200)
        self.geoip: Any = None
        self.started = dt.datetime.now(dt.UTC).replace(tzinfo=None)
        self.dialogs = DialogGuard(self.repo.engine, f"{settings.get('name') or 'proxy-users'}@"
                                   f"{settings.get('host')}:{settings.get('port')}", self.is_inside,
                                   DIALOG_VARS, int(settings.get('port') or 5060),
                                   self.repo.begin_request)

    def is_inside(self, ip: str, port: int) -> bool:
        """An internal peer: proxy-trunks or an application server (trusted, inside traffic)."""
        return (ip, port) == self.trunks_addr or self.repo.application_server_at(ip, port) is not None

    # ------------------------------------------------------------------ process hooks
    def child_init(self, rank: int) -> int:
        return 0

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
        self.profiles = []
        source = (pv("$si"), int(pv("$sp")))
        if source == self.trunks_addr and method != "REGISTER":
            self.from_trunks(method)
            return
        app_server = self.repo.application_server_at(*source)
        if app_server is not None:
            self.from_application_server(method)
        else:
            if KSR.htable.sht_is_null("ipban", source[0]) < 0 and self.ban_still_listed(
                    "ipban", source[0], source[0], "", "antiflood"):
                return  # flooding source: ignored (no reply) until the ban ends
            if self.banned():
                reply(403, "Forbidden: banned source")
                return
            bad = malformed_uris()
            if bad is not None:
                if not self.flooding():  # counted like any unidentified request (12.2)
                    reply(400, f"Bad Request: invalid characters in {bad}")
                return
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
        src_ip, src_port = pv("$si") or "", int(pv("$sp") or 0)
        wholesale = self.repo.wholesale_at(src_ip, (pv("$pr") or "udp").lower(), pv("$fu") or "",
                                           pv("$ru") or "")
        if wholesale is not None:  # spec 9.1.4: IP authentication only, any SIP domain
            if KSR.corex.has_ruri_user() < 0:
                reply(484, "Address Incomplete")
                return
            if self.flooding():
                return
            rules = self.repo.rule_set(wholesale.rule_set_id)
            self.to_trunks(None, wholesale, transform_number(rules, "callerin", self.caller_number()), rules)
            return
        ep = self.repo.direct_endpoint_at(src_ip, src_port)
        if ep is None:
            found = self.authenticate(method)
            if found is None:
                return
            ep, _domain = found
            if self.repo.domain(pv("$rd") or "") is None and not KSR.is_myself_ruri():
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
        if not self.source_allowed(ep, company, is_call=True):
            return
        if self.flooding():
            return
        if ep.rtp_encryption and not self.offer_encrypted():
            reply(488, "Not Acceptable Here: RTP encryption required")
            return
        rules = self.repo.rule_set(ep.rule_set_id or company.rule_set_id)
        if ep.kind in ("retail", "residential"):
            clid = self.validated_clid(ep, company, rules)
            if clid is None:
                reply(403, "Forbidden: no valid caller id")
                return
        else:
            clid = self.caller_number()
            if not self.is_internal(clid, ep, company):
                clid = transform_number(rules, "callerin", clid)
        if not self.within_call_limit(ep):
            return
        if ep.kind == "retail":
            self.to_trunks(ep, company, clid, rules)
            return
        callee = pv("$rU") or ""
        if not self.is_internal(callee, ep, company):
            out = transform_number(rules, "calleein", callee)
            if out != callee:
                KSR.pv.sets("$rU", out)
        self.to_application_server(ep, company, clid)

    def within_call_limit(self, ep: Endpoint, inbound: bool = False) -> bool:
        """Per-endpoint maximum of simultaneous calls (residential devices' and users' maxCalls;
        0 = unlimited), counted with the dialog profile ``endpointCalls`` over the calls the
        endpoint makes and receives. The call joins the profile when its dialog is created
        (:meth:`manage_dialog`), so the count includes calls being set up. Refused: generated
        calls 403, received calls 486 (IvozProvider's ``MAXCALLS_USER``)."""
        if ep.max_calls <= 0:
            return True
        key = f"{ep.kind}:{ep.id}"
        KSR.dialog.get_profile_size("endpointCalls", key, "$var(pvx_calls)")
        if _int(pv("$var(pvx_calls)")) >= ep.max_calls:
            if inbound:
                reply(486, "Busy Here: maximum concurrent calls reached")
            else:
                reply(403, "Forbidden: maximum concurrent calls reached")
            return False
        self.profiles.append(("endpointCalls", key))
        return True

    def within_client_limits(self, company: Company, inbound: bool) -> bool:
        """Client and brand concurrent external calls (spec 12.5, ``check_concurrent_calls``):
        independent counters (dialog profiles ``company``/``brand``), 0 = unlimited; wholesale
        clients count outbound calls only. Refused: outbound 403, inbound 486."""
        from polyvox.domain.billing import ClientType, Direction, check_concurrent_calls

        KSR.dialog.get_profile_size("company", str(company.id), "$var(pvx_cc)")
        KSR.dialog.get_profile_size("brand", str(company.brand_id), "$var(pvx_bc)")
        try:
            client_type = ClientType(company.type)
        except ValueError:
            client_type = ClientType.VPBX
        decision = check_concurrent_calls(
            direction=Direction.INBOUND if inbound else Direction.OUTBOUND, client_type=client_type,
            brand_max_calls=max(0, self.repo.brand_max_calls(company.brand_id)),
            brand_active_calls=max(0, _int(pv("$var(pvx_bc)"))),
            client_max_calls=max(0, company.max_calls), client_active_calls=max(0, _int(pv("$var(pvx_cc)"))))
        if not decision.allowed:
            who = "client" if decision.reason.value.startswith("client") else "brand"
            if inbound:
                reply(486, f"Busy Here: {who} maximum concurrent calls reached")
            else:
                reply(403, f"Forbidden: {who} maximum concurrent calls reached")
            return False
        if decision.counted:
            self.profiles += [("company", str(company.id)), ("brand", str(company.brand_id))]
        return True

    def manage_dialog(self, keepalive: str = "") -> None:
        """Creates the call's dialog; ``keepalive`` "ka-src" / "ka-dst" names the side that is an
        application server: in-dialog OPTIONS probe it and end the call when it is gone (§11.3)."""
        KSR.dialog.dlg_manage()
        self.dialogs.created()
        if keepalive and int(self.s.get("dialog_ka_interval") or 0) > 0:
            KSR.dialog.dlg_set_property(keepalive)
        for name, value in self.profiles:
            KSR.dialog.set_dlg_profile(name, value)
        self.profiles = []

    # ----- security: company IP filter / roadwarriors (12.3, 12.4), anti brute-force (12.7)
    def source_allowed(self, ep: Endpoint, company: Company, *, is_call: bool) -> bool:
        """The client's IP filter (authorized ranges + GeoIP countries; enabled with both lists
        empty refuses everything) through ``check_source``; users with *Calls from non-granted
        IPs* (``externalIpCalls`` 1..3) may place that many simultaneous calls from elsewhere
        (dialog profile ``roadwarrior``). Refused sources are listed in ``banned_addresses``
        (blocker ``ipfilter``)."""
        from polyvox.domain.billing import SourceReason, check_source

        if company.type == "wholesale":
            return True
        flt = self.repo.ip_filter(company)
        if not flt.enabled:
            return True
        src = pv("$si") or ""
        country = self.country_of(src) if flt.countries else None
        key = f"{ep.kind}:{ep.id}"
        xcalls = min(3, max(0, ep.external_ip_calls)) if ep.kind == "terminal" else 0
        active = 0
        if xcalls and is_call:
            KSR.dialog.get_profile_size("roadwarrior", key, "$var(pvx_rw)")
            active = max(0, _int(pv("$var(pvx_rw)")))
        decision = check_source(flt, src, country, external_ip_calls=xcalls, active_non_granted_calls=active,
                                is_call=is_call)
        if not decision.allowed:
            limit = decision.reason is SourceReason.ROADWARRIOR_LIMIT
            try:
                self.repo.ban(ip=src, aor=f"{ep.name}@{pv('$fd') or ''}", blocker="ipfilter",
                              description="roadwarrior call limit" if limit else "source not in the client's IP filter",
                              brand_id=company.brand_id, company_id=company.id)
            except Exception:
                log_error("banned address write")
            reply(403, "Forbidden: calls from non-granted addresses limit reached" if limit
                  else "Forbidden: source address not allowed")
            return False
        if decision.counted:
            self.profiles.append(("roadwarrior", key))
        return True

    def country_of(self, ip: str) -> str | None:
        if self.geoip is None:
            from polyvox.sip.repository import GeoIP

            self.geoip = GeoIP(self.s.get("geoip_db") or "", self.s.get("geoip_local") or "")
        return self.geoip.country(ip)  # type: ignore[no-any-return]

    def bruteforce_key(self) -> str:
        return f"{pv('$fU') or ''}@{pv('$fd') or ''}::{pv('$si') or ''}"

    def flooding(self) -> bool:
        """Spec 12.2: pike counts the requests of each source IP that failed identification
        (unknown domain or endpoint), failed authentication, and new calls of identified
        endpoints; above ``flood_density`` per ``flood_sampling`` s the IP is ignored for
        ``flood_ban_seconds`` (``htable ipban``) and listed in ``banned_addresses``
        (blocker ``antiflood``). True: drop this request."""
        if KSR.pike.pike_check_req() >= 0:
            return False
        ip = pv("$si") or ""
        if KSR.htable.sht_is_null("ipban", ip) > 0:
            KSR.htable.sht_seti("ipban", ip, -1)  # banned, row being written (see ban_still_listed)
            KSR.warn(f"polyvox: {ip} flooding, ignored for {self.s.get('flood_ban_seconds')} s\n")
            try:
                self.repo.ban(ip=ip, aor="", blocker="antiflood", description="request flood")
                KSR.htable.sht_seti("ipban", ip, int(time.time()))  # no row (write error): stays -1
            except Exception:
                log_error("banned address write")
        return True

    def ban_still_listed(self, table: str, key: str, ip: str, aor: str, blocker: str) -> bool:
        """A ban in ``table`` whose ``banned_addresses`` row was deleted (brand portal's unblock,
        docs/sip.md §10.12) is lifted here: the htable entry (and the failure counter) is removed.
        The row check is cached per ban and dropped with the configuration cache. A negative
        value marks a ban whose row is still being written by another worker: banned."""
        stamp = _int(KSR.htable.sht_get(table, key))
        if stamp <= 0:
            return True
        try:
            listed = self.repo.ban_listed(ip, aor, blocker, stamp)
        except Exception:
            log_error("banned address read")
            return True
        if listed:
            return True
        KSR.notice(f"polyvox: ban of {key} lifted (its banned_addresses row was deleted)\n")
        KSR.htable.sht_rm(table, key)
        if table == "srcban":
            KSR.htable.sht_rm("badauth", key)
        return False

    def banned(self) -> bool:
        """The source is banned (value = end of the ban, epoch seconds; the htable's autoexpire
        only cleans up)."""
        key = self.bruteforce_key()
        value = _int(KSR.htable.sht_get("srcban", key))
        until = abs(value)  # negative: the ban's row is being written
        if until <= 0:
            return False
        if until > time.time():
            if value < 0:
                return True
            aor = f"{pv('$fU') or ''}@{pv('$fd') or ''}"
            return self.ban_still_listed("srcban", key, pv("$si") or "", aor, "antibruteforce")
        KSR.htable.sht_rm("srcban", key)
        return False

    def bad_credentials(self) -> None:
        """Spec 12.7: failed authentications (unknown user, wrong password) counted per
        ``fromUser@fromDomain::source_ip``; at ``ban_threshold`` the source is refused for
        ``ban_seconds`` (``403 Forbidden: banned source``), listed in ``banned_addresses``
        (blocker ``antibruteforce``), and its counter restarts at ``ban_restart``."""
        key = self.bruteforce_key()
        count = _int(KSR.htable.sht_get("badauth", key)) + 1
        KSR.htable.sht_seti("badauth", key, count)
        if count < self.ban_threshold:
            return
        ip = pv("$si") or ""
        until = int(time.time()) + self.ban_seconds
        KSR.htable.sht_seti("srcban", key, -until)  # banned, row being written (see ban_still_listed)
        KSR.htable.sht_seti("badauth", key, self.ban_restart)
        KSR.warn(f"polyvox: {key} banned for {self.ban_seconds} s after {count} failed authentications\n")
        try:
            domain = self.repo.domain(pv("$fd") or "")
            company = self.repo.company(domain.company_id) if domain and domain.company_id else None
            self.repo.ban(ip=ip, aor=f"{pv('$fU') or ''}@{pv('$fd') or ''}", blocker="antibruteforce",
                          description=f"{count} failed authentications",
                          brand_id=(domain.brand_id if domain and domain.brand_id else None)
                          or (company.brand_id if company else None), company_id=company.id if company else None)
            KSR.htable.sht_seti("srcban", key, until)  # no row (write error): stays negative, still banned
        except Exception:
            log_error("banned address write")

    def is_internal(self, number: str, ep: Endpoint, company: Company) -> bool:
        """Numbers that skip transformations (9.7.3): service codes, and for vPBX clients the
        client's extensions and friends' patterns (unless alwaysApplyTransformations)."""
        from polyvox.domain.numbering import is_internal

        if company.type != "vpbx":
            return number.startswith("*")
        extensions, patterns = self.repo.internal_numbers(company.id)
        return is_internal(number, extensions, patterns, always_apply_transformations=ep.always_transform)

    # ----- caller identity (spec 10.3: retail/residential CLID must be one of the client's DDIs)
    def caller_number(self) -> str:
        """P-Asserted-Identity > P-Preferred-Identity > Remote-Party-ID > From user."""
        for var in ("$ai", "$pu", "$re"):
            user = uri_user(pv(var) or "")
            if user:
                return user
        return pv("$fU") or ""

    def validated_clid(self, ep: Endpoint, company: Company, rules: Any = None) -> str | None:
        presented = transform_number(rules, "callerin", self.caller_number())
        decision = endpoint_clid(to_e164(presented) if presented else None, self.repo.company_ddis(company.id),
                                 endpoint_ddi=self.repo.ddi_number(ep.outgoing_ddi_id),
                                 client_ddi=self.repo.ddi_number(company.outgoing_ddi_id))
        return decision.number

    # ----- retail and wholesale: straight to proxy-trunks
    def to_trunks(self, ep: Endpoint | None, company: Company, caller: str, rules: Any = None) -> None:
        from polyvox.domain.routing import extract_routing_tag

        raw = pv("$rU") or ""
        dialled = raw.replace("%23", "#")
        ext = extract_routing_tag(dialled, self.repo.routing_tags(company.brand_id),
                                  self.repo.enabled_tags(company.id))
        if ext.refused:
            reply(403, f"Forbidden: {ext.reason}")
            return
        callee = ext.number
        if not callee.startswith("*"):  # service codes are never transformed
            callee = transform_number(rules, "calleein", callee)
        if callee != raw:
            KSR.pv.sets("$rU", callee)
        if not self.within_client_limits(company, inbound=False):
            return
        self.manage_dialog()
        KSR.rr.record_route()
        self.media_set(company.media_relay_set_id)
        self.media_plan(self.endpoint_side(ep, True) if ep else "rtp", "rtp", self.repo.company_codecs(company.id))
        if not self.media_offer():
            return
        ddi_id = self.repo.ddi_id(company.id, caller) if ep is not None and caller.startswith("+") else None
        for name, value in trunk_headers(company, ep, callee=to_e164(callee), caller=caller, tag=ext.tag,
                                         ddi_id=ddi_id):
            KSR.hdr.append(f"{name}: {value}\r\n")
        KSR.pv.sets("$du", self.trunks_uri)
        KSR.tm.t_on_failure("ksr_failure_endpoint")
        KSR.tm.t_on_reply("ksr_onreply_media")
        self.relay()

    def authenticate(self, method: str) -> tuple[Endpoint, str] | None:
        """Domain, endpoint and digest check; sends the reply and returns None when refused."""
        register = method == "REGISTER"
        domain_name = (pv("$td") if register else pv("$fd")) or ""
        domain = self.repo.domain(domain_name)
        if domain is None:
            if self.flooding():
                return None
            reply(403, "Forbidden: unknown domain")
            return None
        username = (pv("$tU") if register else pv("$fU")) or ""
        ep = self.repo.endpoint(domain, username)
        if ep is None:
            self.bad_credentials()
            if self.flooding():
                return None
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
                           f"from {pv('$si')} ({rc})\n")
                self.bad_credentials()
                if self.flooding():
                    return None
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
        company = self.repo.company(ep.company_id)
        if company is not None and not self.source_allowed(ep, company, is_call=False):
            return
        if KSR.isflagset(FLT_NATS):
            KSR.setbflag(FLB_NATB)
            if (pv("$pr") or "").lower() == "udp":
                KSR.setbflag(FLB_SIPPING)
        flags = 0 if ep.multi_contact else 0x04  # 0x04: one contact per AoR, the newest wins
        aor = f"sip:{ep.name}@{domain}"
        if KSR.registrar.save_uri(self.location_table, flags, aor) < 0:
            return  # the registrar has answered (400 for "*" with expires, 503 for too many contacts...)
        self.persist_aor(ep.name, domain, aor)

    def persist_aor(self, username: str, domain: str, aor: str) -> None:
        """Writes the AoR's contacts, as usrloc now holds them, to kam_users_location."""
        try:
            contacts: list[dict[str, Any]] = []
            if KSR.registrar.reg_fetch_contacts(self.location_table, aor, "pvx") > 0:
                count = int(pv("$ulc(pvx=>count)") or 0)
                for i in range(count):
                    def g(key: str, i: int = i) -> Any:
                        return pv(f"$(ulc(pvx=>{key})[{i}])")
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
            log_error("location write")

    def ensure_location(self) -> None:
        """The registrations stored before this start are back in usrloc before any lookup: the
        timer process restores them on its first tick, and a SIP worker that looks up a contact
        before that does it itself (``ul.add`` of a contact already there only refreshes it). The
        htable ``pvstate`` says it is done, for every process."""
        if self.location_loaded:
            return
        if _int(KSR.htable.sht_get("pvstate", "ulrestored")) == 1:
            self.location_loaded = True
            return
        self.restore_location()
        KSR.htable.sht_seti("pvstate", "ulrestored", 1)
        self.location_loaded = True

    def restore_location(self) -> None:
        """Timer process, once at start: unexpired rows of kam_users_location back into usrloc."""
        from polyvox.platform.clock import utcnow

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
            if str(pv("$jsonrpl(code)")) == "200":
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
            counter = int(pv(f"$shtinc(asrr=>{key})") or 0)
        ordered = dispatch.order_servers(servers, company.distribute_method, company.id, counter, down)
        self.manage_dialog("ka-dst")
        KSR.rr.record_route()
        self.media_set(company.media_relay_set_id)
        self.media_plan(self.endpoint_side(ep, True), "rtp")
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
                self.rtp_manage("")
                return 1
            if KSR.tm.t_branch_timeout() > 0 and KSR.tm.t_branch_replied() < 0:
                failed = pv("$avp(as_cur)") or ""
                KSR.warn(f"polyvox: application server {failed} did not answer, failing over\n")
                if failed:
                    KSR.htable.sht_seti("asdown", failed, 1)
                rest = [k for k in (pv("$avp(as_next)") or "").split(",") if k]
                if rest:
                    KSR.pv.sets("$du", "sip:" + rest[0])
                    KSR.pv.sets("$avp(as_cur)", rest[0])
                    KSR.pv.sets("$avp(as_next)", ",".join(rest[1:]))
                    KSR.tm.t_on_failure("ksr_failure_as")
                    KSR.tm.t_on_reply("ksr_onreply_media")
                    if KSR.tm.t_relay() > 0:
                        return 1
                self.rtp_manage("")
                KSR.tm.t_reply(503, "Service Unavailable: application servers unreachable")
                return 1
            self.rtp_manage("")
        except Exception:
            log_error("failure route")
        return 1

    # ------------------------------------------------------------------ application servers -> endpoints
    def from_application_server(self, method: str) -> None:
        if method == "REGISTER":
            reply(403, "Forbidden: application servers do not register")
            return
        domain = self.repo.domain(pv("$rd") or "")
        if domain is None:
            reply(404, "Not Found: unknown domain")
            return
        ep = self.repo.endpoint(domain, pv("$rU") or "")
        if ep is None:
            reply(404, "Not Found: unknown endpoint")
            return
        company = self.repo.company(ep.company_id)
        # what the application server tells about this leg (docs/sip.md §3.3, appserver-dialplan §6):
        # X-Info-Callee = the number the endpoint must see (dialled number, friend value, called DDI),
        # X-Info-Ddi = the called DDI (older senders), X-Info-FromDomain = the friend's "From domain"
        callee = (pv("$hdr(X-Info-Callee)") or "").strip() or (pv("$hdr(X-Info-Ddi)") or "").strip()
        from_domain = (pv("$hdr(X-Info-FromDomain)") or "").strip() or (ep.from_domain or "")
        if ep.kind == "friend" and ep.connectivity == "intervpbx" and method == "INVITE":
            self.through_inter_vpbx_friend(ep, company, callee)
            return
        KSR.textops.remove_hf_re("^X-Info-")
        if ep.kind == "friend" and ep.connectivity == "intervpbx":
            reply(405, "Method Not Allowed")
            return
        if method == "INVITE":
            if not self.within_call_limit(ep, inbound=True):
                return
            self.manage_dialog("ka-src")
            KSR.rr.record_route()
            self.media_set(company.media_relay_set_id if company else None)
        if ep.direct:
            rc = 1 if ep.ip else -1
            if ep.ip:
                KSR.pv.sets("$du", f"sip:{ep.ip}:{ep.port or 5060}")
        else:
            self.ensure_location()
            rc = KSR.registrar.lookup_uri(self.location_table, f"sip:{ep.name}@{domain.name}")
        if rc < 0:
            if rc == -2:
                reply(405, "Method Not Allowed")
            else:
                reply(480, "Temporarily Unavailable")
            return
        if company is not None and method == "INVITE":
            self.branch_adaptations(ep, company, pv("$fU") or "", callee if ep.ddi_in else "",
                                    from_domain=from_domain)
        if method == "INVITE":
            self.media_plan("rtp", self.endpoint_side(ep, False))
            if not self.media_offer():
                return
            KSR.tm.t_on_failure("ksr_failure_endpoint")
        KSR.tm.t_on_reply("ksr_onreply_media")
        self.relay()

    def through_inter_vpbx_friend(self, friend: Endpoint, company: Company | None, callee: str) -> None:
        """A call from an application server to an inter-vPBX friend (spec 10.1.5 "Internal
        friends"): it enters the target client as a call from that client's inter-vPBX friend
        pointing back (IvozProvider loops it through KamUsers), so the **target client's**
        application server set routes the extension (``X-Info-Callee``, else the R-URI user) with
        that friend as the calling endpoint; the caller (From user) is kept. Both clients must be
        vPBX clients of the same corporation."""
        target = self.repo.company(friend.inter_company_id) if friend.inter_company_id else None
        number = callee or (pv("$rU") or "")
        KSR.textops.remove_hf_re("^X-Info-")
        if company is None or target is None or target.type != "vpbx":
            reply(404, "Not Found: inter-vPBX friend without target client")
            return
        if company.corporation_id is None or company.corporation_id != target.corporation_id:
            reply(403, "Forbidden: inter-vPBX friend to a client of another corporation")
            return
        peer = self.repo.inter_vpbx_peer(company.id, target.id)
        if peer is None:
            reply(404, f"Not Found: client {target.id} has no inter-vPBX friend back to client {company.id}")
            return
        domain = self.repo.company_domain(target.id) or (pv("$rd") or "")
        KSR.pv.sets("$ru", f"sip:{number}@{domain}")
        caller = pv("$fU") or ""
        self.to_application_server(peer, target, caller)

    def from_trunks(self, method: str) -> None:
        """Inbound call of a retail DDI from proxy-trunks: ``X-Info-RetailAccountId`` (else the
        R-URI user in the brand's domain) names the account; its registered contacts (or its
        fixed address) ring. Retail call forwards (spec 10.3.1) apply: unconditional at once,
        unreachable when the account has no registration or does not answer (timeout, 408)."""
        account_id = _int((pv("$hdr(X-Info-RetailAccountId)") or "").strip(), 0)
        ep = self.repo.endpoint_by_id("retail", account_id) if account_id else None
        if ep is None:
            domain = self.repo.domain(pv("$rd") or "")
            ep = self.repo.endpoint(domain, pv("$rU") or "") if domain is not None else None
        company = self.repo.company(ep.company_id) if ep is not None else None
        if ep is None or company is None:
            reply(404, "Not Found: unknown endpoint")
            return
        ddi = (pv("$hdr(X-Info-Ddi)") or "").strip()
        ddi_id = _int((pv("$hdr(X-Info-DdiId)") or "").strip(), 0) or None
        caller = (pv("$hdr(X-Info-Caller)") or "").strip() or (pv("$fU") or "")
        KSR.textops.remove_hf_re("^X-Info-")
        forwards = self.repo.call_forwards(ep.id) if method == "INVITE" else ()
        if method == "INVITE":
            if not self.within_client_limits(company, inbound=True):
                return
            self.manage_dialog()
            self.rtp_identity_inbound()
            KSR.rr.record_route()
            self.media_set(company.media_relay_set_id)
        unconditional = pick_forward(forwards, "inconditional", ddi_id)
        if unconditional is not None:
            self.call_forward(unconditional, ep, company, ddi, caller, "unconditional")
            return
        unreachable = pick_forward(forwards, "unreachable", ddi_id)
        if not self.ring_endpoint(ep, company, ddi, caller):
            if unreachable is not None:
                self.call_forward(unreachable, ep, company, ddi, caller, "unavailable")
            else:
                reply(480, "Temporarily Unavailable")
            return
        if method == "INVITE":
            self.media_plan("rtp", self.endpoint_side(ep, False), self.repo.company_codecs(company.id))
            if not self.media_offer():
                return
            if unreachable is not None:
                KSR.pv.seti("$avp(cfw_id)", unreachable.id)
                KSR.pv.seti("$avp(cfw_ep)", ep.id)
                KSR.pv.sets("$avp(cfw_ddi)", ddi)
                KSR.pv.sets("$avp(cfw_caller)", caller)
            KSR.tm.t_on_failure("ksr_failure_retail")
        KSR.tm.t_on_reply("ksr_onreply_media")
        self.relay()

    def ring_endpoint(self, ep: Endpoint, company: Company, ddi: str, caller: str) -> bool:
        """R-URI of a retail account (fixed address or every registered contact) and the
        per-branch outbound adaptations (callerout on the From user, ddiIn: R-URI user = the
        called DDI through calleeout). False when it cannot be reached."""
        if ep.direct:
            if not ep.ip:
                return False
            KSR.pv.sets("$ru", f"sip:{ep.name}@{ep.ip}:{ep.port or 5060}")
        else:
            domain_name = self.repo.brand_domain(company.brand_id) or ""
            self.ensure_location()
            if KSR.registrar.lookup_uri(self.location_table, f"sip:{ep.name}@{domain_name}") < 0:
                return False
        self.branch_adaptations(ep, company, caller, ddi if ep.ddi_in else "", from_domain=ep.from_domain or "")
        return True

    def branch_adaptations(self, ep: Endpoint, company: Company, caller: str, ddi: str = "",
                           from_domain: str = "") -> None:
        """Per-branch changes towards an endpoint (applied in ``ksr_branch_endpoint``): From user =
        ``callerout(caller)`` when the caller is E.164; with ``ddi`` (endpoints with DDI In) R-URI
        and To user = ``calleeout(ddi)`` (internal numbers as they are); From domain =
        ``from_domain`` when given."""
        from polyvox.domain.numbering import is_e164

        rules = self.repo.rule_set(ep.rule_set_id or company.rule_set_id)
        KSR.pv.sets("$avp(pvx_fdom)", from_domain)
        if rules is not None and caller and is_e164(caller):  # internal numbers (extensions) are never E.164
            out = rules.apply("callerout", caller)
            if out != (pv("$fU") or ""):
                KSR.pv.sets("$avp(pvx_from)", out)
        if ddi:
            internal = ep.kind in ("terminal", "friend") and self.is_internal(ddi, ep, company)
            KSR.pv.sets("$avp(pvx_ruser)", rules.apply("calleeout", ddi) if rules is not None and not internal
                        else ddi)
        if rules is not None or ddi or from_domain:
            KSR.tm.t_on_branch("ksr_branch_endpoint")

    def ksr_branch_endpoint(self, msg: Any) -> int:
        """Per branch towards an endpoint: the adapted R-URI/To user and From user/domain (uac,
        no restore: dialogs match on tags)."""
        try:
            ruser = pv("$avp(pvx_ruser)")
            if ruser:
                KSR.pv.sets("$rU", str(ruser))
                KSR.uac.uac_replace_to("", f"sip:{ruser}@{pv('$td')}")
            fuser = pv("$avp(pvx_from)")
            fdom = pv("$avp(pvx_fdom)")
            if fuser or fdom:
                KSR.uac.uac_replace_from("", f"sip:{fuser or pv('$fU')}@{fdom or pv('$fd')}")
        except Exception:
            log_error("branch route")
        return 1

    def call_forward(self, cfw: CallForward, ep: Endpoint, company: Company, ddi: str, caller: str,
                     reason: str, in_failure: bool = False) -> None:
        """Applies a retail call forward: to another retail account of the client (it rings
        instead) or to a number, sent back to proxy-trunks as an outbound call of the retail
        account with a ``Diversion`` header (the called DDI, ``reason``)."""
        send = KSR.tm.t_reply if in_failure else reply
        domain = self.repo.brand_domain(company.brand_id) or pv("$fd") or ""
        diversion = f"Diversion: <sip:{ddi or ep.name}@{domain}>;reason={reason};counter=1\r\n"
        if cfw.target_type == "retail":
            target = self.repo.endpoint_by_id("retail", cfw.retail_account_id or 0)
            if target is None or target.company_id != company.id:
                send(480, "Temporarily Unavailable: invalid call forward")
                return
            KSR.pv.sets("$avp(pvx_from)", "")
            KSR.pv.sets("$avp(pvx_ruser)", "")
            if not self.ring_endpoint(target, company, ddi, caller):
                send(480, "Temporarily Unavailable")
                return
            KSR.hdr.append(diversion)
            self.media_plan("rtp", self.endpoint_side(target, False), self.repo.company_codecs(company.id))
            if not in_failure and not self.media_offer():
                return
            KSR.tm.t_on_failure("ksr_failure_endpoint")
        else:
            number = forward_number(cfw.number, self.repo.country_prefix(cfw.number_country_id))
            if not number:
                send(480, "Temporarily Unavailable: invalid call forward")
                return
            KSR.pv.sets("$ru", f"sip:{number}@{self.trunks_addr[0]}")
            KSR.pv.sets("$du", self.trunks_uri)
            for name, value in trunk_headers(company, ep, callee=number, caller=caller):
                KSR.hdr.append(f"{name}: {value}\r\n")
            KSR.hdr.append(diversion)
            self.media_plan("rtp", "rtp", self.repo.company_codecs(company.id))
            if not in_failure and not self.media_offer():
                return
            KSR.tm.t_on_failure("ksr_failure_endpoint")
        KSR.tm.t_on_reply("ksr_onreply_media")
        if in_failure:
            if KSR.tm.t_relay() < 0:
                KSR.tm.t_reply(500, "Server Internal Error: call forward failed")
        else:
            self.relay()

    def ksr_failure_retail(self, msg: Any) -> int:
        """Unreachable retail call forward: no reply at all (timeout) or 408 from the account."""
        try:
            if KSR.tm.t_is_canceled() > 0:
                self.rtp_manage("")
                return 1
            cfw_id = _int(pv("$avp(cfw_id)"))
            timeout = KSR.tm.t_branch_timeout() > 0 or _int(pv("$T_reply_code")) == 408
            if cfw_id and timeout:
                ep = self.repo.endpoint_by_id("retail", _int(pv("$avp(cfw_ep)")))
                company = self.repo.company(ep.company_id) if ep is not None else None
                cfw = next((f for f in self.repo.call_forwards(ep.id) if f.id == cfw_id), None) if ep else None
                if ep is not None and company is not None and cfw is not None:
                    KSR.pv.sets("$avp(cfw_id)", "")
                    self.call_forward(cfw, ep, company, pv("$avp(cfw_ddi)") or "",
                                      pv("$avp(cfw_caller)") or "", "unavailable", in_failure=True)
                    return 1
            self.rtp_manage("")
        except Exception:
            log_error("failure route")
        return 1

    def ksr_failure_endpoint(self, msg: Any) -> int:
        try:
            self.rtp_manage("")
        except Exception:
            log_error("failure route")
        return 1

    # ------------------------------------------------------------------ dialogs, media, NAT
    def within_dialog(self, method: str) -> None:
        """In-dialog requests: relayed along the Record-Route only within a dialog of this proxy,
        from one of its parties (:class:`polyvox.sip.kemi.DialogGuard`, docs/sip.md §11)."""
        if method == "ACK" and KSR.tm.t_check_trans() == 0:
            return  # ACK of a negative reply: absorbed by its transaction
        ctx = self.dialogs.check(method, self.refused_in_dialog)
        if ctx is None:
            return
        if KSR.rr.loose_route() > 0:
            if not KSR.isdsturiset():
                KSR.nathelper.handle_ruri_alias()
            if not self.dialogs.destination_ok(method, ctx, self.refused_in_dialog):
                return
            KSR.textops.remove_hf_re("^X-Info-")  # context is set on initial requests only
            mrs = ctx.var("mrs")
            if mrs:
                KSR.pv.seti("$avp(mrs)", int(mrs))
            down = self.downstream(ctx)
            to_callee, to_caller = ctx.var("rtp_callee"), ctx.var("rtp_caller")
            offer, answer = (to_callee, to_caller) if down else (to_caller, to_callee)
            if offer:
                KSR.pv.sets("$avp(rtp_offer)", offer)
            if answer:
                KSR.pv.sets("$avp(rtp_answer)", answer)
            rtp_cid = ctx.var("rtp_cid")
            if rtp_cid:  # dialog received from proxy-trunks: its own rtpengine identity
                KSR.pv.sets("$avp(rtp_cid)", str(rtp_cid))
            if method in ("BYE", "CANCEL"):
                self.rtp_delete()
                if method == "BYE":
                    self.dialogs.forget(ctx)
            elif method in ("INVITE", "UPDATE", "ACK"):
                self.rtp_manage(offer or self.rtp_flags)
            if method in ("INVITE", "UPDATE"):
                KSR.tm.t_on_reply("ksr_onreply_media")
            self.relay()
            return
        if method == "ACK":
            if KSR.tm.t_check_trans() > 0:
                self.relay()
            return
        reply(404, "Not here")

    @staticmethod
    def downstream(ctx: DialogContext) -> bool:
        """The request goes from the caller to the callee (its From tag is the caller's)."""
        if ctx.restored:
            return str(pv("$ft") or "") == ctx.var("caller_tag")
        return KSR.rr.is_direction("downstream") > 0

    def refused_in_dialog(self) -> bool:
        """A refused in-dialog request of an outside source counts for anti-flood (12.2)."""
        return self.flooding()

    def ksr_dialog_event(self, msg: Any, evname: str = "") -> int:
        """dialog:start stores the answered dialog (restarts, §11); dialog:end drops it and, for
        dialogs ended by the dialog module (application server gone, timeout: no BYE crossed the
        request route), releases the media session."""
        try:
            if evname == "dialog:start":
                KSR.pv.sets("$dlg_var(caller_tag)", str(pv("$dlg(from_tag)") or ""))
                self.dialogs.started()
            elif evname == "dialog:failed":
                self.dialogs.ended(answered=False)
            elif evname == "dialog:end":
                self.dialogs.ended()
                if not (str(pv("$mt")) == "1" and pv("$rm") == "BYE"):
                    release_media(self.repo.rtpengine_nodes(),
                                  str(pv("$dlg_var(rtp_cid)") or pv("$dlg(callid)") or ""), pv("$dlg_var(mrs)"))
        except Exception:
            log_error("dialog event")
        return 1

    # rtpengine flags per side of the call (the SDP rtpengine writes towards that side)
    def side_flags(self, profile: str) -> str:
        if profile == "webrtc":  # WS/WSS endpoints: ICE + DTLS-SRTP, RTCP multiplexed
            return "replace-origin replace-session-connection ICE=force UDP/TLS/RTP/SAVPF rtcp-mux-offer SDES-off"
        if profile == "srtp":  # endpoints with rtpEncryption: SRTP with SDES keys
            return "replace-origin replace-session-connection ICE=remove RTP/SAVP"
        return str(self.rtp_flags)

    def media_plan(self, caller: str = "rtp", callee: str = "rtp", codecs: tuple[str, ...] = ()) -> None:
        """Flags of this call's rtpengine commands: offers towards the callee use the callee's
        side (plus ``codec-transcode-X`` for the client's enabled codecs), answers towards the
        caller the caller's side; kept in the dialog for re-INVITEs in both directions."""
        towards_callee = self.side_flags(callee)
        if caller == "webrtc" and callee != "webrtc":
            towards_callee += " rtcp-mux-demux"
        towards_callee += "".join(f" codec-transcode-{c}" for c in codecs)
        towards_caller = self.side_flags(caller)
        KSR.pv.sets("$avp(rtp_offer)", towards_callee)
        KSR.pv.sets("$avp(rtp_answer)", towards_caller)
        KSR.pv.sets("$dlg_var(rtp_callee)", towards_callee)
        KSR.pv.sets("$dlg_var(rtp_caller)", towards_caller)

    def offer_encrypted(self) -> bool:
        """The INVITE has no SDP (late offer) or offers SRTP (RTP/SAVP[F] with SDES keys or DTLS):
        endpoints with ``rtpEncryption`` must not talk plain RTP (spec 10.3.1)."""
        if KSR.textops.has_body_type("application/sdp") < 0:
            return True
        body = pv("$rb") or ""
        return "RTP/SAVP" in body and ("a=crypto:" in body or "a=fingerprint:" in body)

    def endpoint_side(self, ep: Endpoint | None, source: bool) -> str:
        """webrtc / srtp / rtp for an endpoint, from the request's transport (source) or the
        destination chosen by lookup."""
        if source:
            if (pv("$pr") or "").lower() in ("ws", "wss"):
                return "webrtc"
        else:
            dest = f"{pv('$du') or ''} {pv('$ru') or ''}".lower()
            if "transport=ws" in dest:
                return "webrtc"
        return "srtp" if ep is not None and ep.rtp_encryption else "rtp"

    def media_offer(self) -> bool:
        """rtpengine offer for an initial INVITE (late offers are handled by rtpengine_manage on
        the 200 OK / ACK). No relay reachable: the call is refused rather than sent with the
        endpoint's own media address to the inside."""
        flags = pv("$avp(rtp_offer)") or self.rtp_flags
        if self.rtp_manage(flags) < 0 and KSR.textops.has_body_type("application/sdp") > 0:
            if sdp_invalid(str(pv("$rb") or "")):
                reply(488, "Not Acceptable Here: invalid SDP")
                return False
            KSR.err("polyvox: rtpengine offer failed\n")
            reply(503, "Service Unavailable: media relay unavailable")
            return False
        return True

    def rtp_identity_inbound(self) -> None:
        """Dialogs received from proxy-trunks get their own identity at rtpengine,
        ``call-id=<Call-ID>-pvin`` (docs/sip.md §3.4): on a bounced retail call (retail account ->
        proxy-users -> proxy-trunks -> proxy-users -> retail account) proxy-users sees the same
        Call-ID and From tag on both of its legs, and rtpengine would take the second leg's offer
        for a re-offer of the first one. Kept in the transaction (``$avp``: replies, failure
        routes) and in the dialog (``$dlg_var``: in-dialog requests)."""
        rtp_cid = rtp_inbound_call_id(pv("$ci") or "")
        KSR.pv.sets("$avp(rtp_cid)", rtp_cid)
        KSR.pv.sets("$dlg_var(rtp_cid)", rtp_cid)

    def rtp_manage(self, flags: str) -> int:
        """``rtpengine_manage`` with the dialog's rtpengine identity (plain Call-ID, or
        ``<Call-ID>-pvin`` for dialogs received from proxy-trunks)."""
        return int(KSR.rtpengine.rtpengine_manage(with_rtp_identity(flags, pv("$avp(rtp_cid)"))))

    def rtp_delete(self) -> int:
        return int(KSR.rtpengine.rtpengine_delete(with_rtp_identity("", pv("$avp(rtp_cid)"))))

    def media_set(self, media_relay_set_id: int | None) -> None:
        if media_relay_set_id is not None:
            KSR.pv.seti("$avp(mrs)", int(media_relay_set_id))
            KSR.pv.sets("$dlg_var(mrs)", str(media_relay_set_id))

    def ksr_onreply_media(self, msg: Any) -> int:
        try:
            status = int(pv("$rs"))
            KSR.textops.remove_hf_re("^X-Info-")
            if 100 < status < 300:
                self.dialogs.answered_by(status)
                self.rtp_manage(pv("$avp(rtp_answer)") or self.rtp_flags)
                if KSR.isbflagset(FLB_NATB):
                    KSR.nathelper.set_contact_alias()
        except Exception:
            log_error("reply route")
        return 1

    def nat_detect(self, method: str) -> None:
        # 1 private Contact, 2 Via != source, 16 rport != Via port, 64 WebSocket connection
        if KSR.nathelper.nat_uac_test(83) > 0:
            if method == "REGISTER":
                KSR.nathelper.fix_nated_register()
            elif KSR.siputils.is_first_hop() > 0:
                KSR.nathelper.set_contact_alias()
            KSR.setflag(FLT_NATS)

    def relay(self) -> None:
        if KSR.tm.t_relay() < 0:
            KSR.sl.sl_reply_error()

    # ------------------------------------------------------------------ WebSocket handshakes
    def ksr_xhttp_event(self, msg: Any, evname: str = "") -> int:
        """HTTP requests on the WS/WSS ports: a ``GET`` with ``Upgrade: websocket`` becomes a
        SIP-over-WebSocket connection (RFC 7118); anything else gets 404."""
        try:
            port = _int(pv("$Rp"))
            upgrade = (pv("$hdr(Upgrade)") or "").lower()
            connection = (pv("$hdr(Connection)") or "").lower()
            if (port in (_int(self.s.get("ws_port")), _int(self.s.get("wss_port"))) and "websocket" in upgrade
                    and "upgrade" in connection and pv("$rm") == "GET"):
                KSR.websocket.handle_handshake()  # answers 101, or the error itself
                return 1
            KSR.xhttp.xhttp_reply(404, "Not Found", "text/plain", "SIP over WebSocket only\n")
        except Exception:
            log_error("xhttp")
        return 1

    # ------------------------------------------------------------------ timer process: config sync
    def ksr_cfgsync(self, msg: Any, evname: str = "") -> int:
        """Timer process, every ``sync_interval`` s: when config_version changed, rewrite the
        rtpengine table from the database and reload the rtpengine module's sets. The module
        refuses reloads closer than 10 s to the previous one (or to the start): the reload is
        then retried on the next ticks."""
        try:
            self.ensure_location()
            self.ticks = getattr(self, "ticks", 0) + 1
            if self.ticks % 10 == 0:
                self.repo.purge_expired()
            if self.ticks % 600 == 1:
                self.dialogs.purge()
            if self.ticks % 5 == 0:
                self.dialogs.sweep(self.started, lambda v: release_media(
                    self.repo.rtpengine_nodes(), v.get("rtp_cid") or "", v.get("mrs")))
        except Exception:
            log_error("location sync")
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
                if str(pv("$jsonrpl(code)")) == "200":
                    self.reload_pending = False
                    KSR.info("polyvox: rtpengine sets reloaded\n")
        except Exception:
            log_error("config sync")
        return 1


RTP_INBOUND_SUFFIX = "-pvin"


def rtp_inbound_call_id(call_id: str) -> str:
    """proxy-users' identity at rtpengine for dialogs received from proxy-trunks (docs/sip.md §3.4;
    proxy-trunks uses ``<Call-ID>-pvtin`` / ``-pvtout``, §9.10)."""
    return f"{call_id}{RTP_INBOUND_SUFFIX}"


def with_rtp_identity(flags: str, rtp_cid: Any) -> str:
    """rtpengine module flags plus ``call-id=<rtp_cid>`` when the dialog has its own identity
    (Kamailio's rtpengine module then uses it instead of the message's Call-ID)."""
    if not rtp_cid:
        return flags
    return f"{flags} call-id={rtp_cid}".strip()


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
                  tag: Any = None, ddi_id: int | None = None) -> list[tuple[str, str]]:
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
    if ddi_id is not None:  # the presented caller is this DDI of the client (its routing tag, §9.3)
        hdrs.append(("X-Info-DdiId", str(ddi_id)))
    if tag is not None:  # polyvox.domain.routing.RoutingTag
        hdrs += [("X-Info-RoutingTag", tag.tag), ("X-Info-RoutingTagId", str(tag.id))]
    if company.media_relay_set_id is not None:
        hdrs.append(("X-Info-MediaRelaySetId", str(company.media_relay_set_id)))
    return hdrs



def mod_init(settings: dict[str, Any]) -> ProxyUsers:
    return ProxyUsers(settings)
