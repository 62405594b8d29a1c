"""Polyvox's dialplan: tenants' call logic for the application server (spec 10.1, 10.2).

Every decision is taken by the pure engines of :mod:`polyvox.domain` (call forwards, hunt
groups, friends routing, external call filters, conditional routes, ACLs, outgoing DDIs,
service codes, numeric transformations); this module reads the configuration through
:class:`~polyvox.appserver.repository.AppRepository` and turns decisions into the runtime's
plain actions (:mod:`polyvox.appserver.plan`). See ``docs/appserver-dialplan.md``.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from sqlalchemy import Engine, delete, insert, select, update

from polyvox.appserver.dialplan.registry import CallRegistry
from polyvox.appserver.dialplan.script import Flow, GeneratorScript, is_final
from polyvox.appserver.plan import (
    CallEnded,
    Dial,
    DialOutcome,
    DialResult,
    IncomingCall,
    Origin,
    Presence,
    Reject,
    Target,
    TargetKind,
)
from polyvox.appserver.repository import AppRepository, Row
from polyvox.domain import pbx
from polyvox.domain.callflow import (
    DIVERSION_REASON_TIME_OF_DAY,
    CallForwardChange,
    CallForwardOperation,
    ClientType,
    FilterAction,
    ForwardKind,
    InvalidServiceCall,
    Route,
    RouteLockChange,
    effective_service_codes,
    evaluate_call_acl,
    evaluate_conditional_route,
    evaluate_external_call_filter,
    evaluate_residential_call_filter,
    parse_service_code,
    select_outgoing_ddi,
    split_ddi_prefix,
)
from polyvox.domain.numbering import is_e164, to_e164

CallType = Literal["internal", "external"]
log = logging.getLogger("polyvox.appserver.dialplan")

#: pbx.DialOutcome for each runtime result
_OUTCOME: dict[DialResult, pbx.DialOutcome] = {
    DialResult.ANSWERED: "answer",
    DialResult.NO_ANSWER: "noanswer",
    DialResult.BUSY: "busy",
    DialResult.UNAVAILABLE: "unavailable",
    DialResult.REJECTED: "rejected",
    DialResult.CANCELLED: "cancel",
}

#: RFC 5806 Diversion reasons of IvozProvider's redirecting reasons
_DIVERSION_REASON = {"cfu": "unconditional", "cfb": "user-busy", "cfnr": "no-answer", "unavailable": "unavailable"}

#: Reason header of the CANCELs sent to the losing members of hunt groups that prevent missed calls
#: (RFC 3326: phones do not log a missed call, Asterisk's Dial ``c`` option)
ANSWERED_ELSEWHERE = 'SIP;cause=200;text="Call completed elsewhere"'

MAX_HOPS = 10  # forwards/extension redirections followed by one call (loops end with 482)

_FEATURES = {
    "ivr": "IVR", "queue": "queue", "conferenceRoom": "conference room", "voicemail": "voicemail",
    "locution": "locution", "fax": "virtual fax", "retail": "retail account",
    "DirectPickUp": "direct pickup", "GroupPickUp": "group pickup", "Voicemail": "voicemail",
    "RecordLocution": "locution recording", "QueuePause": "queue pause", "QueueUnpause": "queue unpause",
}


def not_available(feature: str, locution: int | None = None) -> Reject:
    """Placeholder of the media-terminated features (IVR, queues, voicemail...): until the media
    engine exists they answer ``503 Service Unavailable`` with the feature named."""
    return Reject(503, f"Service Unavailable: {_FEATURES.get(feature, feature)} not available yet", locution)


#: row column holding the object of each feature route (extensions, DDIs)
_FEATURE_COLUMN = {"ivr": "ivrId", "queue": "queueId", "conferenceRoom": "conferenceRoomId",
                   "voicemail": "voicemailId", "locution": "locutionId", "fax": "faxId",
                   "retail": "retailAccountId"}


@dataclass(frozen=True)
class FeatureRequest:
    """A call reaching a media-terminated feature (the media issue's entry point).

    ``kind``: ``ivr``, ``queue``, ``conferenceRoom``, ``voicemail``, ``locution``, ``fax``,
    ``retail``, or ``service:<Service iden>`` for service codes (``service:Voicemail``...);
    ``target``: the object's id (IVR id, voicemail id...) or the service code's argument.
    """

    kind: str
    target: int | str | None
    locution: int | None
    call: IncomingCall
    company_id: int
    caller: str  # number presented to internal targets (extension or E.164)
    caller_e164: str | None
    caller_user_id: int | None
    called_ddi: str | None
    diversions: tuple[str, ...]


FeatureHandler = Callable[[FeatureRequest], "Flow"]


@dataclass(frozen=True)
class Party:
    """Who is calling, as the dialplan sees it."""

    kind: Literal["terminal", "friend", "residential", "external"]
    number: str  # presented to internal targets (extension for users, caller as received otherwise)
    e164: str | None  # the caller in E.164 when known (filters, ACL of conditions, forwards)
    name: str | None = None
    user: Row | None = None
    endpoint: Row | None = None  # terminal / friend / residential device row

    @property
    def user_id(self) -> int | None:
        return int(self.user["id"]) if self.user else None


@dataclass
class Ctx:
    """One call being routed."""

    call: IncomingCall
    presence: Presence
    company: Row
    caller: Party
    call_type: CallType
    tz: str
    domain: str | None  # the client's SIP domain (vPBX)
    called_ddi: str | None = None  # E.164 DDI of an inbound call
    display_name: str | None = None  # DDI display name shown to internal targets
    shown: pbx.CallerId | None = None  # identity shown to internal targets instead of the caller's (transfers)
    diversions: tuple[str, ...] = ()  # Diversion header values to add to the next targets
    hops: int = 0
    visited: set[str] = field(default_factory=set)

    @property
    def company_id(self) -> int:
        return int(self.company["id"])

    @property
    def brand_id(self) -> int:
        return int(self.company["brandId"])


class PolyvoxDialplan:
    """:class:`polyvox.appserver.plan.Dialplan` over the platform database."""

    def __init__(self, engine: Engine, *, rng: random.Random | None = None, check_registrations: bool = True,
                 repository: AppRepository | None = None,
                 features: Mapping[str, FeatureHandler] | None = None) -> None:
        self.repo = repository or AppRepository(engine)
        #: media features by kind (see FeatureRequest); missing ones answer the 503 placeholder
        self.features: dict[str, FeatureHandler] = dict(features or {})
        self.rng = rng or random.Random()
        self.check_registrations = check_registrations
        #: round robin memory: hunt group id -> last member rung (per process, see the docs)
        self.round_robin: dict[int, int] = {}
        #: call registry (users_cdrs rows written when a call ends)
        self.registry = CallRegistry(self.repo)

    # ------------------------------------------------------------------ entry points
    def script(self, call: IncomingCall, presence: Presence) -> GeneratorScript:
        unavailable = self._begin()
        if unavailable is not None:
            return GeneratorScript(_one(unavailable), label=call.call_id)
        return GeneratorScript(self._main(call, presence), label=call.call_id,
                               on_end=lambda info: self.registry.record(call, info))

    def record_lost(self, call: IncomingCall, info: CallEnded) -> None:
        """Call registry rows of a call whose worker died while it was answered (``plan.RecoveringDialplan``);
        nothing when the call already has rows (its worker wrote them before dying)."""
        if self.repo.has_call_records(call.call_id[:255]):
            return
        self.registry.record(call, info)

    def _begin(self) -> Reject | None:
        """New call: check the configuration version (the database must answer)."""
        try:
            self.repo.begin_call()
        except Exception:
            log.exception("configuration database unreachable")
            self.repo.close()
            return Reject(503, "Service Unavailable: configuration database unreachable")
        return None

    def transfer(self, call: IncomingCall, presence: Presence, transferor: Target | None,
                 refer_to: str) -> GeneratorScript:
        """The transferor (a bridged party) calls ``refer_to``: the original caller when
        ``transferor`` is None, else the internal target that was bridged."""
        unavailable = self._begin()
        if unavailable is not None:
            return GeneratorScript(_one(unavailable), label=call.call_id)
        number = _refer_user(refer_to)
        if transferor is None:
            if call.origin is not Origin.ENDPOINT:
                return GeneratorScript(_one(Reject(403, "Forbidden: external callers cannot transfer")))
            new = replace(call, dialled=number, diversion=())
        elif transferor.user_id is not None:
            user = self.repo.user(transferor.user_id)
            if user is None or user.get("terminalId") is None:
                return GeneratorScript(_one(Reject(404, "Not Found: transferor unknown")))
            term = self.repo.terminal(int(user["terminalId"]))
            new = replace(call, origin=Origin.ENDPOINT, dialled=number, caller=transferor.ruri_user,
                          endpoint_type="terminal", endpoint_id=int(user["terminalId"]),
                          endpoint_name=str(term["name"]) if term else None, user_id=int(user["id"]),
                          ddi_id=None, ddi=None, diversion=(), headers={})
            # the transferee (the original caller) stays the identity shown to internal targets,
            # as the transferred Asterisk channel keeps its CALLERID; the transferor's rules (ACL,
            # outgoing DDI) apply to the new call
            return GeneratorScript(self._main(new, presence, shown=self._shown_caller(call)),
                                   label=call.call_id + ":transfer")
        else:
            return GeneratorScript(_one(Reject(403, "Forbidden: this party cannot transfer")))
        return GeneratorScript(self._main(new, presence), label=call.call_id + ":transfer")

    # ------------------------------------------------------------------ main
    def _main(self, call: IncomingCall, presence: Presence, shown: pbx.CallerId | None = None) -> Flow:
        company = self.repo.company(call.company_id)
        if company is None:
            yield Reject(404, "Not Found: unknown client")
            return
        ctype = str(company.get("type") or call.company_type or "vpbx")
        if ctype not in ("vpbx", "residential"):
            yield Reject(403, f"Forbidden: {ctype} clients are not served by the application server")
            return
        tz = self.repo.timezone(company)
        domain = self.repo.company_domain(int(company["id"])) if ctype == "vpbx" else None
        if call.origin is Origin.ENDPOINT:
            party = self._endpoint_party(call, company)
            if party is None:
                yield Reject(403, "Forbidden: unknown calling endpoint")
                return
            ctx = Ctx(call, presence, company, party, "internal", tz, domain, diversions=call.diversion,
                      shown=shown)
            yield from self._from_endpoint(ctx)
        else:
            ctx = Ctx(call, presence, company, _external_party(call), "external", tz, domain,
                      diversions=call.diversion, shown=shown)
            yield from self._inbound(ctx)

    def _shown_caller(self, call: IncomingCall) -> pbx.CallerId | None:
        """The identity ``call``'s internal targets were shown (before the callee's format)."""
        company = self.repo.company(call.company_id)
        if company is None:
            return None
        if call.origin is Origin.ENDPOINT:
            party = self._endpoint_party(call, company)
            return pbx.CallerId(party.number, party.name) if party is not None else None
        party = _external_party(call)
        ddi = self._called_ddi(call, int(company["brandId"]))
        name = str(ddi["displayName"]) if ddi is not None and ddi.get("displayName") else None
        return pbx.presented_caller("external", pbx.CallerId(party.number, party.name), e164=party.e164,
                                    ddi_display_name=name)

    def _called_ddi(self, call: IncomingCall, brand_id: int) -> Row | None:
        """The DDI an inbound call was made to (``ddi_id``, else its E.164 number in the brand)."""
        ddi = self.repo.ddi(call.ddi_id) if call.ddi_id is not None else None
        if ddi is None:
            number = call.ddi or call.dialled
            ddi = self.repo.ddi_by_number(brand_id, to_e164(number) or number)
        return ddi

    def _endpoint_party(self, call: IncomingCall, company: Row) -> Party | None:
        """The calling endpoint, which must belong to the call's client."""
        party = self._endpoint_party_of(call)
        if party is None or party.endpoint is None or party.endpoint.get("companyId") != company["id"]:
            return None
        return party

    def _endpoint_party_of(self, call: IncomingCall) -> Party | None:
        repo = self.repo
        kind = call.endpoint_type or "terminal"
        if kind == "terminal":
            term = repo.terminal(call.endpoint_id) if call.endpoint_id is not None else None
            user = repo.user(call.user_id) if call.user_id is not None else None
            if term is None and user is not None:
                term = repo.terminal(user.get("terminalId"))
            if term is not None and (user is None or user.get("terminalId") != term["id"]):
                user = repo.user_of_terminal(int(term["id"]))  # the terminal's owner, whatever was sent
            shown = pbx.CallerId(call.caller, call.caller_name)
            if user is not None:  # its screen extension and "name lastname" (IvozProvider's endpoint callerid)
                ext = repo.extension(user.get("extensionId"))
                shown = pbx.presented_caller("user", shown, extension=str(ext["number"]) if ext else None,
                                             user_name=pbx.full_name(user.get("name"), user.get("lastname")))
            return Party("terminal", shown.number, to_e164(call.caller) if call.caller.startswith("+") else None,
                         shown.name, user, term)
        if kind == "friend":
            friend = repo.friend(call.endpoint_id)
            if friend is None:
                return None
            return Party("friend", call.caller, to_e164(call.caller) if call.caller.startswith("+") else None,
                         call.caller_name, None, friend)
        if kind == "residential":
            dev = repo.residential_device(call.endpoint_id)
            if dev is None:
                return None
            return Party("residential", call.caller, to_e164(call.caller) if call.caller else None, call.caller_name,
                         None, dev)
        return None

    # ------------------------------------------------------------------ calls from endpoints
    def _from_endpoint(self, ctx: Ctx) -> Flow:
        call, company = ctx.call, ctx.company
        dialled = call.dialled.strip()
        if not dialled:
            yield Reject(484, "Address Incomplete: nothing dialled")
            return
        if dialled.startswith("*"):
            yield from self._service(ctx, dialled)
            return
        if company.get("type") == "vpbx":
            ext = self.repo.extensions(ctx.company_id).get(dialled)
            calling_friend = int(ctx.caller.endpoint["id"]) if ctx.caller.kind == "friend" and ctx.caller.endpoint \
                else None
            routes = [pbx.FriendRoute(int(f["id"]), int(f.get("priority") or 1), f["patterns"],
                                      self._inter_vpbx_check(f))
                      for f in self.repo.friends(ctx.company_id)]
            decision = pbx.route_dialled_number(dialled, lambda n: ext is not None, routes,
                                                calling_friend_id=calling_friend)
            if decision.kind == "extension" and ext is not None:
                yield from self._extension(ctx, ext)
                return
            if decision.kind == "friend" and decision.friend_id is not None:
                friend = self.repo.friend(decision.friend_id)
                if friend is not None:
                    yield from self._friend(ctx, friend, dialled)
                    return
        yield from self._dial_external_number(ctx, dialled)

    def _inter_vpbx_check(self, friend: Row) -> Callable[[str], bool] | None:
        if friend.get("directConnectivity") != "intervpbx" or friend.get("interCompanyId") is None:
            return None
        target = int(friend["interCompanyId"])
        return lambda number: number in self.repo.extensions(target)

    def _rule_set_id(self, ctx: Ctx) -> int | None:
        ep = ctx.caller.user or ctx.caller.endpoint
        if ep is not None and ep.get("transformationRuleSetId") is not None:
            return int(ep["transformationRuleSetId"])
        rs = ctx.company.get("transformationRuleSetId")
        return int(rs) if rs is not None else None

    def _dial_external_number(self, ctx: Ctx, dialled: str) -> Flow:
        """A number dialled by an endpoint that is neither an extension nor a friend's: an external
        call (spec 7.4, 10.1.7): numeric transformation (callee in), call ACL, outgoing DDI."""
        caller = ctx.caller
        rule = None
        prefix = ""
        if caller.kind == "terminal" and caller.user is not None:
            rule = self.repo.outgoing_ddi_rule(caller.user.get("outgoingDdiRuleId")) or \
                self.repo.outgoing_ddi_rule(ctx.company.get("outgoingDdiRuleId"))
            prefix, dialled = split_ddi_prefix(rule, dialled)
        number = self.repo.rule_set(self._rule_set_id(ctx)).apply("calleein", dialled)
        if not is_e164(number):
            yield Reject(484, f"Address Incomplete: cannot convert {dialled!r} to E.164")
            return
        acl_id = (caller.user or {}).get("callAclId") if caller.kind == "terminal" else \
            (caller.endpoint or {}).get("callAclId")
        acl = self.repo.call_acl(acl_id)
        verdict = evaluate_call_acl(acl, number)
        if not verdict.allowed:
            yield Reject(403, f"Forbidden: {number} not allowed by call ACL '{acl.name if acl else ''}'")
            return
        yield from self._external(ctx, number, prefix=prefix)

    def _outgoing_caller(self, ctx: Ctx, destination: str, prefix: str = "") -> tuple[str | None, str]:
        """(E.164 number presented on an external call, why). Users: outgoing DDI (user → client,
        outgoing DDI rules); friends and residential devices: CLID validation with fallback DDI;
        external callers (forwards, hunt groups, filters): the original caller is kept."""
        caller, company, repo = ctx.caller, ctx.company, self.repo
        client_ddi = repo.ddi_number(company.get("outgoingDdiId"))
        if caller.kind == "external":
            return caller.e164, "original caller"
        if caller.kind == "terminal":
            user = caller.user or {}
            sel = select_outgoing_ddi(
                destination, endpoint_ddi=repo.ddi_number(user.get("outgoingDdiId")), client_ddi=client_ddi,
                endpoint_rule=repo.outgoing_ddi_rule(user.get("outgoingDdiRuleId")),
                client_rule=repo.outgoing_ddi_rule(company.get("outgoingDdiRuleId")), prefix=prefix)
            return sel.ddi, "outgoing DDI"
        ep = caller.endpoint or {}
        diversion = _diversion_number(ctx.call.diversion[0]) if ctx.call.diversion else None
        clid = pbx.endpoint_clid(caller.e164, repo.company_ddis(ctx.company_id),
                                 endpoint_ddi=repo.ddi_number(ep.get("outgoingDdiId")), client_ddi=client_ddi,
                                 diversion=diversion)
        return clid.number, str(clid.source)

    def _external_target(self, ctx: Ctx, number: str, caller_number: str, label: str,
                         diversions: tuple[str, ...] = ()) -> Target:
        call, company = ctx.call, ctx.company
        headers: list[tuple[str, str]] = [
            ("X-Info-BrandId", str(ctx.brand_id)),
            ("X-Info-CompanyId", str(ctx.company_id)),
            ("X-Info-Type", str(company.get("type") or "vpbx")),
            ("X-Info-Caller", caller_number),
            ("X-Info-Callee", number),
        ]
        ep = ctx.caller.endpoint
        if ctx.caller.kind != "external" and ep is not None:
            letter = {"terminal": "t", "friend": "f", "residential": "r"}[ctx.caller.kind]
            endpoint = call.headers.get("x-info-endpoint") or \
                f"b{ctx.brand_id}c{ctx.company_id}{letter}{ep['id']}_{ep['name']}"
            headers += [("X-Info-EndpointType", ctx.caller.kind), ("X-Info-EndpointId", str(ep["id"])),
                        ("X-Info-Endpoint", endpoint)]
        tag = call.headers.get("x-info-routingtagid")
        if tag:
            headers.append(("X-Info-RoutingTagId", tag))
        if ctx.called_ddi and ctx.caller.kind == "external":
            headers.append(("X-Info-Ddi", ctx.called_ddi))
        headers += [("Diversion", d) for d in diversions]
        return Target(TargetKind.EXTERNAL, number, None, caller_number, ctx.caller.name if ctx.caller.kind
                      == "external" else None, tuple(headers), label)

    def _external(self, ctx: Ctx, number: str, *, prefix: str = "", label: str | None = None) -> Flow:
        """Dial an external number (E.164) through proxy-trunks."""
        caller_number, _why = self._outgoing_caller(ctx, number, prefix)
        if not caller_number:
            yield Reject(403, "Forbidden: no outgoing DDI for external calls")
            return
        target = self._external_target(ctx, number, caller_number, label or f"external:{number}", ctx.diversions)
        outcome = yield Dial((target,), None)
        if is_final(outcome):
            return
        if outcome.code and 400 <= outcome.code < 700 and outcome.reason:
            yield Reject(outcome.code, outcome.reason)  # proxy-trunks says why (no rating plan, no route...)
            return
        yield _failed(outcome, "external call failed")

    # ------------------------------------------------------------------ extensions and routes
    def _hop(self, ctx: Ctx, key: str) -> Reject | None:
        ctx.hops += 1
        if ctx.hops > MAX_HOPS or key in ctx.visited:
            return Reject(482, "Loop Detected: too many forwards")
        ctx.visited.add(key)
        return None

    def _feature(self, ctx: Ctx, kind: str, target: int | str | None, locution: int | None = None) -> Flow:
        """A media feature: its registered handler, else the 503 placeholder."""
        handler = self.features.get(kind)
        if handler is None:
            feature = kind.split(":", 1)[1] if kind.startswith("service:") else kind
            yield not_available(feature, locution)
            return
        yield from handler(FeatureRequest(kind, target, locution, ctx.call, ctx.company_id, self._presented(ctx).number,
                                          ctx.caller.e164, ctx.caller.user_id, ctx.called_ddi, ctx.diversions))

    def _extension(self, ctx: Ctx, ext: Row) -> Flow:
        """An extension of the client (spec 10.1.4), by route type."""
        loop = self._hop(ctx, f"ext:{ext['id']}")
        if loop is not None:
            yield loop
            return
        kind = str(ext.get("routeType") or "")
        if kind == "user" and ext.get("userId") is not None:
            yield from self._user(ctx, int(ext["userId"]))
        elif kind == "number" and ext.get("numberValue"):
            yield from self._external(ctx, self.repo.number_e164(ext.get("numberCountryId"), str(ext["numberValue"])))
        elif kind == "huntGroup" and ext.get("huntGroupId") is not None:
            yield from self._hunt_group(ctx, int(ext["huntGroupId"]))
        elif kind == "friend" and ext.get("friendValue"):
            yield from self._friend_by_number(ctx, str(ext["friendValue"]))
        elif kind == "conditional" and ext.get("conditionalRouteId") is not None:
            yield from self._conditional(ctx, int(ext["conditionalRouteId"]))
        elif kind in _FEATURE_COLUMN:
            yield from self._feature(ctx, kind, ext.get(_FEATURE_COLUMN[kind]), ext.get("locutionId"))
        else:
            yield Reject(404, f"Not Found: extension {ext['number']} has no route")

    def _extension_number(self, ctx: Ctx, number: str) -> Flow:
        ext = self.repo.extensions(ctx.company_id).get(number)
        if ext is None:
            yield Reject(404, f"Not Found: extension {number}")
            return
        yield from self._extension(ctx, ext)

    def _route(self, ctx: Ctx, route: Route) -> Flow:
        """A generic route (conditional routes and their conditions)."""
        kind, target = route.route_type, route.target
        if kind == "user" and target is not None:
            yield from self._user(ctx, int(target))
        elif kind == "number" and target:
            yield from self._external(ctx, str(target))
        elif kind == "huntGroup" and target is not None:
            yield from self._hunt_group(ctx, int(target))
        elif kind == "friend" and target:
            yield from self._friend_by_number(ctx, str(target))
        elif kind == "extension" and target is not None:
            ext = self.repo.extension(int(target))
            if ext is None:
                yield Reject(404, "Not Found: extension of the route is gone")
            else:
                yield from self._extension(ctx, ext)
        elif kind in _FEATURE_COLUMN:
            yield from self._feature(ctx, kind, target, route.locution_id)
        else:
            yield Reject(404, f"Not Found: route {kind or 'none'} has no target")

    def _forward_target(self, ctx: Ctx, kind: str, value: str, diversion: str | None) -> Flow:
        """Number / extension / voicemail targets of filters, hunt groups and call forwards."""
        if diversion is not None:
            ctx.diversions = (diversion, *ctx.diversions)
        if kind == "number":
            loop = self._hop(ctx, f"num:{value}")
            if loop is not None:
                yield loop
                return
            yield from self._external(ctx, value)
        elif kind == "extension":
            yield from self._extension_number(ctx, value)
        else:
            yield from self._feature(ctx, kind, value or None)

    # ------------------------------------------------------------------ users
    def _user_profile(self, user: Row) -> pbx.UserProfile:
        repo = self.repo
        forwards = tuple(s for s in (self._cfw(r) for r in repo.call_forwards("userId", int(user["id"]))) if s)
        assistant = repo.user(user.get("bossAssistantId")) if user.get("bossAssistantId") else None
        assistant_ext = repo.extension(assistant.get("extensionId")) if assistant else None
        whitelist = None
        if user.get("bossAssistantWhiteListId") is not None:
            ml = repo.match_list(int(user["bossAssistantWhiteListId"]))
            whitelist = ml.matches
        return pbx.UserProfile(
            user_id=int(user["id"]), call_forwards=forwards, do_not_disturb=bool(user.get("doNotDisturb")),
            max_calls=int(user.get("maxCalls") or 0),
            reject_call_method=user.get("rejectCallMethod") or "rfc",
            multi_contact=True if user.get("multiContact") is None else bool(user["multiContact"]),
            has_terminal=user.get("terminalId") is not None, is_boss=bool(user.get("isBoss")),
            assistant_id=int(assistant["id"]) if assistant else None,
            assistant_extension=str(assistant_ext["number"]) if assistant_ext else None,
            boss_whitelist=whitelist)

    def _cfw(self, r: Row) -> pbx.CallForwardSetting | None:
        kind = r.get("targetType")
        value: str | None = None
        if kind == "number" and r.get("numberValue"):
            value = self.repo.number_e164(r.get("numberCountryId"), str(r["numberValue"]))
        elif kind == "extension" and r.get("extensionId") is not None:
            ext = self.repo.extension(int(r["extensionId"]))
            value = str(ext["number"]) if ext else None
        elif kind == "voicemail":
            value = str(r.get("voicemailId") or "")
        elif kind == "retail" and r.get("cfwToRetailAccountId") is not None:
            value = str(r["cfwToRetailAccountId"])
        if value is None or r.get("callForwardType") not in ("inconditional", "noAnswer", "busy", "userNotRegistered"):
            return None
        return pbx.CallForwardSetting(
            forward_type=r["callForwardType"], target=pbx.Target(kind, value),  # type: ignore[arg-type]
            call_type_filter=r.get("callTypeFilter") or "both", no_answer_timeout=int(r.get("noAnswerTimeout") or 10),
            enabled=True if r.get("enabled") is None else bool(r["enabled"]), setting_id=int(r["id"]))

    def _presented(self, ctx: Ctx) -> pbx.CallerId:
        """The caller identity shown to internal targets (``pbx.presented_caller``, docs
        appserver-dialplan §3.1): a user's extension and full name (``Party`` already holds them),
        a friend / device as received, an external caller in E.164 with the called DDI's display
        name. Forwards, hunt groups and transfers keep it: the original caller stays."""
        if ctx.shown is not None:
            return ctx.shown
        caller = ctx.caller
        received = pbx.CallerId(caller.number, caller.name)
        if caller.kind == "external":
            return pbx.presented_caller("external", received, e164=caller.e164, ddi_display_name=ctx.display_name)
        return received

    def _identity_for(self, ctx: Ctx, callee: Row) -> pbx.CallerId:
        """The presented caller as the callee endpoint sees it: E.164 numbers in its format (the
        ``callerout`` rules of ``callee`` — a user, friend or residential device — else of its
        client), internal numbers as they are."""
        rs = callee.get("transformationRuleSetId") or ctx.company.get("transformationRuleSetId")
        return pbx.caller_for_endpoint(self._presented(ctx), self.repo.rule_set(int(rs) if rs is not None else None))

    def _terminal_target(self, ctx: Ctx, user: Row, label: str) -> Target | None:
        term = self.repo.terminal(user.get("terminalId"))
        if term is None:
            return None
        domain = self.repo.domain_name(term.get("domainId")) or ctx.domain
        shown = self._identity_for(ctx, user)
        headers = tuple(("Diversion", d) for d in ctx.diversions)
        return Target(TargetKind.ENDPOINT, str(term["name"]), domain, shown.number, shown.name or "", headers, label,
                      int(user["id"]), pai_user=shown.number)

    def _registered(self, ep_name: str, domain: str | None, ctx: Ctx) -> bool:
        if not self.check_registrations:
            return True
        return self.repo.registered(ep_name, domain, ctx.call.now)

    def _user(self, ctx: Ctx, user_id: int) -> Flow:
        """A call to a user (spec 10.1.1): unconditional forward, DND, boss–assistant, not registered,
        call waiting, ring with the no-answer timeout, then busy / no answer / unavailable forwards."""
        user = self.repo.user(user_id)
        if user is None:
            yield Reject(404, "Not Found: user")
            return
        profile = self._user_profile(user)
        inc = pbx.IncomingCall(ctx.call_type, ctx.caller.e164 or ctx.caller.number if ctx.caller.kind == "external"
                               else ctx.caller.number, ctx.caller.user_id)
        registered = True
        term = self.repo.terminal(user.get("terminalId"))
        if term is not None and pbx.applicable_forward(profile.call_forwards, "userNotRegistered",
                                                       ctx.call_type) is not None:
            registered = self._registered(str(term["name"]), self.repo.domain_name(term.get("domainId")) or ctx.domain,
                                          ctx)
        state = pbx.EndpointPresence(registered, ctx.presence.user_active_calls(user_id))
        decision = pbx.decide_user_call(profile, state, inc)
        while True:
            if isinstance(decision, pbx.ForwardCall):
                yield from self._user_forward(ctx, user, decision)
                return
            if isinstance(decision, pbx.RouteToAssistant):
                loop = self._hop(ctx, f"assistant:{decision.assistant_id}")
                if loop is not None:
                    yield loop
                    return
                yield from self._user(ctx, decision.assistant_id)
                return
            if isinstance(decision, pbx.SignalBusy):
                why = {"dnd": "do not disturb", "call_waiting": "call waiting limit reached", "busy": "user busy",
                       "rejected": "call rejected"}[decision.reason]
                yield Reject(486, f"Busy Here: {why}")
                return
            if isinstance(decision, pbx.SignalUnavailable):
                why = "user has no terminal" if decision.reason == "no_terminal" else "user not registered"
                yield Reject(480, f"Temporarily Unavailable: {why}")
                return
            if isinstance(decision, pbx.HangupCall):
                yield Reject(480, "Temporarily Unavailable: no answer")
                return
            if isinstance(decision, pbx.AnsweredCall):
                return
            assert isinstance(decision, pbx.RingEndpoint)
            target = self._terminal_target(ctx, user, f"user:{user_id}")
            if target is None:
                yield Reject(480, "Temporarily Unavailable: user has no terminal")
                return
            outcome = yield Dial((target,), float(decision.timeout) if decision.timeout else None)
            if is_final(outcome):
                return
            decision = pbx.user_dial_result(profile, inc, _OUTCOME[outcome.result])
            if isinstance(decision, pbx.SignalBusy) and outcome.code in (600, 603):
                yield Reject(outcome.code, "Decline" if outcome.code == 603 else "Busy Everywhere")
                return

    def _diversion_header(self, ctx: Ctx, number: str | None, reason: str) -> str | None:
        if not number:
            return None
        host = ctx.domain or self.repo.brand_domain(ctx.brand_id) or "localhost"
        return f"<sip:{number}@{host}>;reason={reason}"

    def _user_forward(self, ctx: Ctx, user: Row, fwd: pbx.ForwardCall) -> Flow:
        """Call forward of a user: internal targets see the forwarding user's extension in the
        Diversion; external targets its outgoing DDI (else the called DDI)."""
        loop = self._hop(ctx, f"cfw:{fwd.setting.setting_id}")
        if loop is not None:
            yield loop
            return
        reason = _DIVERSION_REASON[fwd.reason]
        target = fwd.target
        if target.kind == "number":
            number = self.repo.ddi_number(user.get("outgoingDdiId")) or ctx.called_ddi or \
                self.repo.ddi_number(ctx.company.get("outgoingDdiId"))
        else:
            ext = self.repo.extension(user.get("extensionId"))
            number = str(ext["number"]) if ext else None
        yield from self._forward_target(ctx, target.kind, target.value, self._diversion_header(ctx, number, reason))

    # ------------------------------------------------------------------ hunt groups
    def _hunt_group(self, ctx: Ctx, hg_id: int) -> Flow:
        """Hunt groups (spec 10.1.5): ringAll, linear, roundRobin (looping, memory per process),
        random (injected generator); members are users or external numbers."""
        repo = self.repo
        row = repo.hunt_group(hg_id)
        if row is None:
            yield Reject(404, "Not Found: hunt group")
            return
        members = []
        for m in repo.hunt_group_members(hg_id):
            is_user = m.get("routeType") == "user" or (m.get("routeType") is None and m.get("userId"))
            if is_user and m.get("userId") is not None:
                u = repo.user(int(m["userId"]))
                members.append(pbx.HuntGroupMember(int(m["id"]), user_id=int(m["userId"]),
                                                   priority=_int(m.get("priority")),
                                                   timeout=_int(m.get("timeoutTime")) or None,
                                                   has_terminal=bool(u and u.get("terminalId"))))
            elif m.get("numberValue"):
                members.append(pbx.HuntGroupMember(int(m["id"]), number=repo.number_e164(
                    m.get("numberCountryId"), str(m["numberValue"])), priority=_int(m.get("priority")),
                    timeout=_int(m.get("timeoutTime")) or None))
        no_answer = None
        kind = row.get("noAnswerTargetType")
        if kind == "number" and row.get("noAnswerNumberValue"):
            no_answer = pbx.Target("number", repo.number_e164(row.get("noAnswerNumberCountryId"),
                                                              str(row["noAnswerNumberValue"])))
        elif kind == "extension" and row.get("noAnswerExtensionId") is not None:
            ext = repo.extension(int(row["noAnswerExtensionId"]))
            if ext is not None:
                no_answer = pbx.Target("extension", str(ext["number"]))
        elif kind == "voicemail":
            no_answer = pbx.Target("voicemail", str(row.get("noAnswerVoicemailId") or ""))
        try:
            group = pbx.HuntGroup(row.get("strategy") or "ringAll", tuple(members),
                                  _int(row.get("ringAllTimeout")) or None, no_answer,
                                  bool(row.get("preventMissedCalls")), bool(row.get("allowCallForwards")))
            plan = pbx.plan_hunt_group(group, rng=self.rng, last_member_id=self.round_robin.get(hg_id))
        except ValueError as exc:
            yield Reject(500, f"Server Internal Error: hunt group misconfigured ({exc})")
            return
        nxt = pbx.hunt_group_start(plan)
        cancel_reason = ANSWERED_ELSEWHERE if plan.cancel_as_answered_elsewhere else None
        while nxt.kind == "ring":
            step = nxt.pending[0]
            targets = tuple(t for t in (self._member_target(ctx, hg_id, m, plan, step.timeout)
                                        for m in step.members) if t)
            if plan.strategy == "roundRobin" and step.members:
                self.round_robin[hg_id] = step.members[-1].member_id
            if not targets:
                nxt = pbx.hunt_group_after_dial(plan, nxt.pending, "unavailable")
                continue
            outcome = yield Dial(targets, float(step.timeout), cancel_reason=cancel_reason)
            if is_final(outcome):
                return
            nxt = pbx.hunt_group_after_dial(plan, nxt.pending, _OUTCOME[outcome.result])
        if nxt.kind == "no_answer":
            if nxt.target is None:
                yield Reject(480, "Temporarily Unavailable: nobody in the hunt group answered")
                return
            yield from self._forward_target(ctx, nxt.target.kind, nxt.target.value, None)

    def _member_target(self, ctx: Ctx, hg_id: int, member: pbx.HuntGroupMember, plan: pbx.HuntGroupPlan,
                       step_timeout: int | None = None) -> Target | None:
        """The branch of one member in a ring step. A ringAll member with its own timeout
        (``timeoutTime``) shorter than the group's ``ringAllTimeout`` is cancelled alone at it
        (``Target.ring_timeout``). With "allow call forwards" the member's user logic applies:
        unconditional forward / DND / boss–assistant before dialling, and its no-answer and busy
        forwards as ``forward_no_answer`` / ``forward_busy`` of the branch."""
        label = f"hg:{hg_id}/member:{member.member_id}"
        own = float(member.timeout) if plan.strategy == "ringAll" and member.timeout and \
            (step_timeout is None or member.timeout < step_timeout) else None
        if member.number is not None:
            caller, _ = self._outgoing_caller(ctx, member.number)
            if not caller:
                return None
            return replace(self._external_target(ctx, member.number, caller, label, ctx.diversions), ring_timeout=own)
        assert member.user_id is not None
        user = self.repo.user(member.user_id)
        if user is None:
            return None
        if not plan.apply_user_logic:
            if pbx.exceeds_call_waiting(ctx.presence.user_active_calls(member.user_id),
                                        int(user.get("maxCalls") or 0)):
                return None
            t = self._terminal_target(ctx, user, label)
            return replace(t, ring_timeout=own) if t else None
        # Pre-dial user logic (unconditional forward, DND, call waiting, boss): a forward to a number
        # or to a user's extension replaces the member; busy/unavailable members are skipped.
        profile = self._user_profile(user)
        inc = pbx.IncomingCall(ctx.call_type, ctx.caller.number, ctx.caller.user_id)
        decision = pbx.decide_user_call(profile, pbx.EndpointPresence(
            True, ctx.presence.user_active_calls(member.user_id)), inc)
        if isinstance(decision, pbx.ForwardCall):
            return self._member_forward(ctx, decision, label + "/cfw", own)
        if isinstance(decision, pbx.RouteToAssistant):
            assistant = self.repo.user(decision.assistant_id)
            t = self._terminal_target(ctx, assistant, label + "/assistant") if assistant else None
            return replace(t, ring_timeout=own) if t else None
        if not isinstance(decision, pbx.RingEndpoint):
            return None
        t = self._terminal_target(ctx, user, label)
        if t is None:
            return None
        ring_timeout = own
        on_no_answer = on_busy = None
        if decision.status_required:
            fwd = pbx.user_dial_result(profile, inc, "noanswer")
            if isinstance(fwd, pbx.ForwardCall) and decision.timeout and (own is None or decision.timeout <= own) \
                    and (step_timeout is None or decision.timeout < step_timeout):
                on_no_answer = self._member_forward(ctx, fwd, label + "/cfw-noanswer", None)
                if on_no_answer is not None:
                    ring_timeout = float(decision.timeout)
            fwd = pbx.user_dial_result(profile, inc, "busy")
            if isinstance(fwd, pbx.ForwardCall):
                on_busy = self._member_forward(ctx, fwd, label + "/cfw-busy", None)
        return replace(t, ring_timeout=ring_timeout, forward_no_answer=on_no_answer, forward_busy=on_busy)

    def _member_forward(self, ctx: Ctx, fwd: pbx.ForwardCall, label: str, ring_timeout: float | None
                        ) -> Target | None:
        """A hunt group member's call forward as a branch: a number (through proxy-trunks) or an
        extension routed to a user; other targets (voicemail...) cannot ring in a parallel dial."""
        t = fwd.target
        if t.kind == "number":
            caller, _ = self._outgoing_caller(ctx, t.value)
            if not caller:
                return None
            return replace(self._external_target(ctx, t.value, caller, label, ctx.diversions),
                           ring_timeout=ring_timeout)
        if t.kind == "extension":
            ext = self.repo.extensions(ctx.company_id).get(t.value)
            if ext is not None and ext.get("routeType") == "user" and ext.get("userId") is not None:
                other = self.repo.user(int(ext["userId"]))
                target = self._terminal_target(ctx, other, label) if other else None
                return replace(target, ring_timeout=ring_timeout) if target else None
        return None

    # ------------------------------------------------------------------ friends
    def _friend_by_number(self, ctx: Ctx, number: str) -> Flow:
        """An extension / DDI / route to a friend with a number (``friendValue``)."""
        routes = [pbx.FriendRoute(int(f["id"]), int(f.get("priority") or 1), f["patterns"], self._inter_vpbx_check(f))
                  for f in self.repo.friends(ctx.company_id)]
        decision = pbx.route_dialled_number(number, lambda n: False, routes)
        friend = self.repo.friend(decision.friend_id) if decision.friend_id is not None else None
        if friend is None:
            yield Reject(404, f"Not Found: no friend routes {number}")
            return
        yield from self._friend(ctx, friend, number)

    def _friend(self, ctx: Ctx, friend: Row, number: str) -> Flow:
        """A call to a friend (spec 10.1.5): inter-vPBX friends reach the other client's extension;
        others ring the friend (``X-Info-Callee`` carries the number for it), with its forwards."""
        loop = self._hop(ctx, f"friend:{friend['id']}:{number}")
        if loop is not None:
            yield loop
            return
        if friend.get("directConnectivity") == "intervpbx" and friend.get("interCompanyId") is not None:
            other = self.repo.company(int(friend["interCompanyId"]))
            ext = self.repo.extensions(int(friend["interCompanyId"])).get(number) if other else None
            if other is None or ext is None:
                yield Reject(404, f"Not Found: extension {number} in the other client")
                return
            inner = replace(ctx, company=other, domain=self.repo.company_domain(int(other["id"])),
                            tz=self.repo.timezone(other))
            yield from self._extension(inner, ext)
            return
        forwards = tuple(s for s in (self._cfw(r) for r in self.repo.call_forwards("friendId", int(friend["id"])))
                         if s)
        profile = pbx.FriendProfile(int(friend["id"]), forwards,
                                    True if friend.get("multiContact") is None else bool(friend["multiContact"]))
        inc = pbx.IncomingCall(ctx.call_type, ctx.caller.number, ctx.caller.user_id)
        domain = self.repo.domain_name(friend.get("domainId")) or ctx.domain

        def target() -> Target:
            shown = self._identity_for(ctx, friend)
            callee = number
            if ctx.called_ddi and friend.get("ddiIn") == "yes":
                callee = ctx.called_ddi
            # the friend's "From user" replaces the From user only; the PAI keeps the caller
            from_user = str(friend["fromUser"]) if friend.get("fromUser") else shown.number
            headers = [("X-Info-Callee", callee)]
            if friend.get("fromDomain"):
                headers.append(("X-Info-FromDomain", str(friend["fromDomain"])))
            headers += [("Diversion", d) for d in ctx.diversions]
            return Target(TargetKind.ENDPOINT, str(friend["name"]), domain, from_user, shown.name or "",
                          tuple(headers), f"friend:{friend['id']}", pai_user=shown.number)

        yield from self._ring_endpoint(ctx, friend, "friend", profile, inc, domain, number, target)

    def _ring_endpoint(self, ctx: Ctx, row: Row, noun: str, profile: pbx.FriendProfile, inc: pbx.IncomingCall,
                       domain: str | None, diverted: str | None, target: Callable[[], Target]) -> Flow:
        """A friend's or residential device's own call forwards, then ringing it (spec 10.1.5, 10.2):
        ``decide_friend_call`` / ``friend_dial_result`` decide; ``diverted`` is the number the
        Diversion header of a forward names, ``target`` builds the branch to ring."""
        registered = True
        if row.get("directConnectivity") != "yes" and pbx.applicable_forward(
                profile.call_forwards, "userNotRegistered", ctx.call_type) is not None:
            registered = self._registered(str(row["name"]), domain, ctx)
        decision = pbx.decide_friend_call(profile, pbx.EndpointPresence(registered, 0), inc)
        while True:
            if isinstance(decision, pbx.ForwardCall):
                div = self._diversion_header(ctx, diverted, _DIVERSION_REASON[decision.reason])
                yield from self._forward_target(ctx, decision.target.kind, decision.target.value, div)
                return
            if isinstance(decision, pbx.SignalBusy):
                yield Reject(486, f"Busy Here: {noun} busy")
                return
            if isinstance(decision, pbx.SignalUnavailable):
                yield Reject(480, f"Temporarily Unavailable: {noun} not registered")
                return
            if isinstance(decision, pbx.HangupCall):
                yield Reject(480, "Temporarily Unavailable: no answer")
                return
            if not isinstance(decision, pbx.RingEndpoint):
                return
            outcome = yield Dial((target(),), float(decision.timeout) if decision.timeout else None)
            if is_final(outcome):
                return
            decision = pbx.friend_dial_result(profile, inc, _OUTCOME[outcome.result])

    # ------------------------------------------------------------------ residential devices
    def _residential(self, ctx: Ctx, device_id: int) -> Flow:
        """A DDI routed to a residential device (spec 10.2): its call forwards, then ring it."""
        dev = self.repo.residential_device(device_id)
        if dev is None:
            yield Reject(404, "Not Found: residential device")
            return
        forwards = tuple(s for s in (self._cfw(r) for r in self.repo.call_forwards("residentialDeviceId", device_id))
                         if s)
        profile = pbx.FriendProfile(device_id, forwards,
                                    True if dev.get("multiContact") is None else bool(dev["multiContact"]))
        inc = pbx.IncomingCall(ctx.call_type, ctx.caller.number, None)
        domain = self.repo.domain_name(dev.get("domainId")) or self.repo.brand_domain(ctx.brand_id)

        def target() -> Target:
            shown = self._identity_for(ctx, dev)
            headers = [("X-Info-Callee", ctx.called_ddi or ctx.call.dialled)]
            headers += [("Diversion", d) for d in ctx.diversions]
            return Target(TargetKind.ENDPOINT, str(dev["name"]), domain, shown.number, shown.name or "",
                          tuple(headers), f"residential:{device_id}", pai_user=shown.number)

        yield from self._ring_endpoint(ctx, dev, "device", profile, inc, domain, ctx.called_ddi, target)

    # ------------------------------------------------------------------ conditional routes
    def _conditional(self, ctx: Ctx, route_id: int) -> Flow:
        """Conditional routes (spec 10.1.6), evaluated at call time (``IncomingCall.now``)."""
        loop = self._hop(ctx, f"cr:{route_id}")
        if loop is not None:
            yield loop
            return
        cr = self.repo.conditional_route(route_id)
        if cr is None:
            yield Reject(404, "Not Found: conditional route")
            return
        caller = ctx.caller.e164 or ctx.caller.number
        decision = evaluate_conditional_route(cr, caller, ctx.call.now, ctx.tz, self.repo.route_locks(ctx.company_id))
        yield from self._route(ctx, decision.route)

    # ------------------------------------------------------------------ inbound DDI calls
    def _inbound(self, ctx: Ctx) -> Flow:
        """An external call to a DDI (spec 6, 10.1.6 external call filters, 10.2.3)."""
        call, repo = ctx.call, self.repo
        ddi = self._called_ddi(call, ctx.brand_id)
        if ddi is None or int(ddi.get("companyId") or 0) != ctx.company_id:
            yield Reject(404, "Not Found: unknown DDI")
            return
        ctx.called_ddi = to_e164(ddi["ddie164"]) if ddi["ddie164"] else None
        ctx.display_name = str(ddi["displayName"]) if ddi.get("displayName") else None
        caller = ctx.caller.e164 or ctx.caller.number
        if ctx.company.get("type") == "residential":
            decision = evaluate_residential_call_filter(repo.residential_call_filter(ddi.get("externalCallFilterId")),
                                                        caller, ctx.called_ddi)
        else:
            decision = evaluate_external_call_filter(repo.external_call_filter(ddi.get("externalCallFilterId")),
                                                     caller, call.now, ctx.tz, ctx.called_ddi)
        if decision.action is FilterAction.REJECT:
            yield Reject(403, "Forbidden: caller blocked by the external call filter")
            return
        if decision.action is FilterAction.HANGUP:
            yield Reject(480, f"Temporarily Unavailable: {decision.reason.value.replace('_', ' ')}",
                         decision.locution_id)
            return
        if decision.action is FilterAction.FORWARD and decision.target is not None:
            div = None
            if decision.diversion is not None:
                div = self._diversion_header(ctx, decision.diversion.number, decision.diversion.reason
                                             if decision.diversion.reason != DIVERSION_REASON_TIME_OF_DAY
                                             else "time-of-day")
            kind = {ForwardKind.NUMBER: "number", ForwardKind.EXTENSION: "extension",
                    ForwardKind.VOICEMAIL: "voicemail"}[decision.target.kind]
            yield from self._forward_target(ctx, kind, decision.target.value, div)
            return
        yield from self._ddi_route(ctx, ddi)

    def _ddi_route(self, ctx: Ctx, ddi: Row) -> Flow:
        kind = str(ddi.get("routeType") or "")
        if kind == "user" and ddi.get("userId") is not None:
            yield from self._user(ctx, int(ddi["userId"]))
        elif kind == "huntGroup" and ddi.get("huntGroupId") is not None:
            yield from self._hunt_group(ctx, int(ddi["huntGroupId"]))
        elif kind == "friend" and ddi.get("friendValue"):
            yield from self._friend_by_number(ctx, str(ddi["friendValue"]))
        elif kind == "conditional" and ddi.get("conditionalRouteId") is not None:
            yield from self._conditional(ctx, int(ddi["conditionalRouteId"]))
        elif kind == "residential" and ddi.get("residentialDeviceId") is not None:
            yield from self._residential(ctx, int(ddi["residentialDeviceId"]))
        elif kind in _FEATURE_COLUMN:
            yield from self._feature(ctx, kind, ddi.get(_FEATURE_COLUMN[kind]), ddi.get("locutionId"))
        else:
            yield Reject(480, f"Temporarily Unavailable: DDI {ctx.called_ddi} has no route")

    # ------------------------------------------------------------------ service codes (9.7.6)
    def _service(self, ctx: Ctx, dialled: str) -> Flow:
        """``*``-codes: route locks (vPBX) and residential call forwards are applied here, through the
        database, and the call ends with ``603 Decline`` and a reason phrase saying what was done
        (IvozProvider answers and plays a confirmation; no media yet)."""
        company = ctx.company
        ctype = ClientType(str(company.get("type") or "vpbx"))
        brand_codes, client_codes = self.repo.service_codes(ctx.brand_id, ctx.company_id)
        codes = effective_service_codes(ctype, brand_codes, client_codes)
        sc = parse_service_code(dialled, codes)
        if sc is None:
            yield Reject(404, f"Not Found: unknown service code {dialled}")
            return
        if isinstance(sc, InvalidServiceCall):
            yield Reject(484, f"Address Incomplete: {sc.reason}")
            return
        if isinstance(sc, RouteLockChange):
            yield self._route_lock(ctx, sc)
            return
        if isinstance(sc, CallForwardChange):
            yield self._residential_forward(ctx, sc)
            return
        argument: str | int | None = getattr(sc, "extension", None) or getattr(sc, "locution_id", None)
        yield from self._feature(ctx, f"service:{sc.service.value}", argument)

    def _route_lock(self, ctx: Ctx, sc: RouteLockChange) -> Reject:
        locks = self.repo.route_locks(ctx.company_id)
        if sc.lock_id not in locks:
            return Reject(404, f"Not Found: route lock {sc.lock_id}")
        new = sc.operation.apply(locks[sc.lock_id])
        from polyvox.db.model import ENTITY

        t = ENTITY["RouteLock"].table
        self.repo.write([update(t).where(t.c.id == sc.lock_id).values(open=new)])
        return Reject(603, f"Decline: service done, route lock {sc.lock_id} {'opened' if new else 'closed'}")

    def _residential_forward(self, ctx: Ctx, sc: CallForwardChange) -> Reject:
        from polyvox.db.model import ENTITY

        dev = ctx.caller.endpoint if ctx.caller.kind == "residential" else None
        if dev is None:
            return Reject(403, "Forbidden: call forward codes are for residential devices")
        t = ENTITY["CallForwardSetting"].table
        ftype = sc.forward_type.value
        where = (t.c.residentialDeviceId == dev["id"]) & (t.c.callForwardType == ftype)
        if sc.operation is CallForwardOperation.DISABLE:
            self.repo.write([delete(t).where(where)])
            return Reject(603, f"Decline: service done, {ftype} call forward disabled")
        values: dict[str, Any] = {"enabled": True, "callTypeFilter": "both", "numberValue": None,
                                  "numberCountryId": None, "voicemailId": None, "extensionId": None}
        if sc.operation is CallForwardOperation.ENABLE_VOICEMAIL:
            vm = self._device_voicemail(int(dev["id"]))
            if vm is None:
                return Reject(404, "Not Found: the device has no voicemail")
            values.update(targetType="voicemail", voicemailId=vm)
            what = "to voicemail"
        else:
            values.update(targetType="number", numberValue=sc.number, numberCountryId=ctx.company.get("countryId"))
            what = f"to {sc.number}"
        existing = self.repo._rows(select(t.c.id).where(where).order_by(t.c.id))
        stmts: list[Any]
        if existing:
            stmts = [update(t).where(t.c.id == existing[0]["id"]).values(**values)]
            stmts += [delete(t).where(t.c.id == r["id"]) for r in existing[1:]]
        else:
            values.update(residentialDeviceId=dev["id"], callForwardType=ftype, noAnswerTimeout=10,
                          companyId=ctx.company_id)
            stmts = [insert(t).values(**{k: v for k, v in values.items() if k in t.c})]
        self.repo.write(stmts)
        return Reject(603, f"Decline: service done, {ftype} call forward {what}")

    def _device_voicemail(self, device_id: int) -> int | None:
        from polyvox.db.model import ENTITY

        t = ENTITY["Voicemail"].table
        v = self.repo._exec(select(t.c.id).where(t.c.residentialDeviceId == device_id).limit(1)).scalar()
        return int(v) if v is not None else None


# ---------------------------------------------------------------------- helpers
def _one(action: Reject) -> Flow:
    yield action


def _external_party(call: IncomingCall) -> Party:
    """The caller of an inbound (or bounced) call."""
    caller = call.caller
    return Party("external", caller, caller if is_e164(caller) else to_e164(caller) if caller else None,
                 call.caller_name)


def _int(value: Any) -> int | None:
    return int(value) if value is not None and str(value) != "" else None


def _failed(outcome: DialOutcome, what: str) -> Reject:
    code = outcome.code or {DialResult.BUSY: 486, DialResult.REJECTED: 603, DialResult.NO_ANSWER: 480}.get(
        outcome.result, 480)
    phrase = {486: "Busy Here", 600: "Busy Everywhere", 603: "Decline", 404: "Not Found", 403: "Forbidden",
              408: "Request Timeout", 480: "Temporarily Unavailable", 484: "Address Incomplete",
              503: "Service Unavailable"}.get(code, "Call failed")
    return Reject(code if 400 <= code < 700 else 480, f"{phrase}: {what}")


def _refer_user(refer_to: str) -> str:
    """The user part of a Refer-To value (``<sip:102@host;transport=udp>`` → ``102``)."""
    v = refer_to.strip().strip("<>")
    if ":" in v and v.split(":", 1)[0].lower() in ("sip", "sips", "tel"):
        v = v.split(":", 1)[1]
    return v.split("@", 1)[0].split(";", 1)[0].split("?", 1)[0]


def _diversion_number(value: str) -> str | None:
    v = value.split(";", 1)[0].strip().strip("<>")
    if ":" in v:
        v = v.split(":", 1)[1]
    n = v.split("@", 1)[0]
    return to_e164(n) if n else None
