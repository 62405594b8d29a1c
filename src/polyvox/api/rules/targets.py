"""Route targets: one rule for every entity that routes a call somewhere (spec 10.1.4-10.1.6).

IvozProvider's ``RoutableTrait::sanitizeRouteValues()``: an extension, a DDI, an IVR's no-input
and error routes, a hunt group's no-answer route, a queue's timeout and full routes, a
conditional route and its conditions, an external call filter's holiday and out-of-schedule
routes, a call forward, a holiday, a calendar period... each has a route type and one field
per type holding the target. Every write nulls the fields that do not belong to the chosen type
(what the portal sends for them is ignored) and Polyvox also demands the one that does, with a
400 naming it: the call path would otherwise drop the call ("has no route").

A target must be a row of the same client as the routing row (a brand writing a DDI could name
any of its clients' users). When a target is deleted, the routes that pointed at it lose their
route type (IvozProvider Ivr/UpdateByExtension, Ivr/UpdateByVoicemail, Extension/UpdateByUser
generalised); rows that are nothing but a route (IVR entries, call forwards) go with it.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.engine import Connection

from polyvox.api.engine import owner_company
from polyvox.api.errors import invalid
from polyvox.api.lifecycle import WriteContext, pre_persist, pre_remove
from polyvox.db.model import ENTITY, EntityDef

# kind -> the fields (API names, before the prefix) that hold its target
KIND_FIELDS: dict[str, tuple[str, ...]] = {
    "user": ("user",),
    "number": ("numberValue", "numberCountry"),
    "ivr": ("ivr",),
    "huntGroup": ("huntGroup",),
    "conferenceRoom": ("conferenceRoom",),
    "friend": ("friendValue",),
    "queue": ("queue",),
    "voicemail": ("voicemail",),
    "extension": ("extension",),
    "conditional": ("conditionalRoute",),
    "fax": ("fax",),
    "residential": ("residentialDevice",),
    "retail": ("retailAccount",),
    "locution": ("locution",),
}

WHAT = {"user": "a user", "numberValue": "a number", "numberCountry": "the number's country", "ivr": "an IVR",
        "huntGroup": "a hunt group", "conferenceRoom": "a conference room", "friendValue": "the number to call through the friend",
        "queue": "a queue", "voicemail": "a voicemail", "extension": "an extension",
        "conditionalRoute": "a conditional route", "fax": "a virtual fax", "residentialDevice": "a residential device",
        "retailAccount": "a retail account", "locution": "a locution", "cfwToRetailAccount": "a retail account"}


@dataclass(frozen=True)
class Route:
    """One route of an entity: its type field and, per type, the fields of the target.

    ``prefix``: IvozProvider's route prefix (``noAnswer``, ``timeout``...), prepended to the
    type field and to the target fields; ``rename``: fields whose API name does not follow the
    convention (``numbervalue`` of conditional routes); ``keep``: fields shared with other uses
    (a welcome locution) that are demanded for their type but never nulled.
    """

    type_field: str
    kinds: tuple[str, ...]
    prefix: str = ""
    rename: tuple[tuple[str, str], ...] = ()
    keep: tuple[str, ...] = ()
    extra: tuple[tuple[str, tuple[str, ...]], ...] = ()  # kind -> fields outside KIND_FIELDS

    def fields(self, kind: str) -> tuple[str, ...]:
        extra = dict(self.extra)
        names = extra[kind] if kind in extra else KIND_FIELDS.get(kind, ())
        ren = dict(self.rename)
        out = []
        for n in names:
            n = ren.get(n, n)
            out.append(self.prefix + n[0].upper() + n[1:] if self.prefix else n)
        return tuple(out)

    def all_fields(self) -> tuple[str, ...]:
        seen: dict[str, None] = {}
        for kind in self.kinds:
            for f in self.fields(kind):
                seen[f] = None
        return tuple(seen)


def _p(prefix: str, kinds: tuple[str, ...], type_suffix: str = "TargetType") -> Route:
    return Route(prefix + type_suffix, kinds, prefix)


NUM_EXT_VM = ("number", "extension", "voicemail")

ROUTES: dict[str, tuple[Route, ...]] = {
    "Extension": (Route("routeType", ("user", "number", "ivr", "huntGroup", "conferenceRoom", "friend", "queue",
                                      "conditional", "voicemail", "locution"), keep=("locution",)),),
    "Ddi": (Route("routeType", ("user", "ivr", "huntGroup", "fax", "conferenceRoom", "friend", "queue", "conditional",
                                "residential", "retail", "locution"), keep=("locution",)),),
    "IvrEntry": (Route("routeType", ("number", "extension", "voicemail", "conditional")),),
    "Ivr": (_p("noInput", NUM_EXT_VM, "RouteType"), _p("error", NUM_EXT_VM, "RouteType")),
    "HuntGroup": (_p("noAnswer", NUM_EXT_VM),),
    "HuntGroupMember": (Route("routeType", ("number", "user")),),
    "Queue": (_p("timeout", NUM_EXT_VM), _p("full", NUM_EXT_VM)),
    "ConditionalRoute": (Route("routetype", ("user", "number", "ivr", "huntGroup", "voicemail", "friend", "queue",
                                             "conferenceRoom", "extension"),
                               rename=(("numberValue", "numbervalue"), ("friendValue", "friendvalue"))),),
    "ConditionalRoutesCondition": (Route("routeType", ("user", "number", "ivr", "huntGroup", "voicemail", "friend",
                                                       "queue", "conferenceRoom", "extension")),),
    "ExternalCallFilter": (_p("holiday", NUM_EXT_VM), _p("outOfSchedule", NUM_EXT_VM)),
    "CallForwardSetting": (Route("targetType", ("number", "extension", "voicemail", "retail"),
                                 extra=(("retail", ("cfwToRetailAccount",)),)),),
    "HolidayDate": (Route("routeType", NUM_EXT_VM),),
    "CalendarPeriod": (Route("routeType", NUM_EXT_VM),),
}


def _col(ent: EntityDef, name: str) -> str | None:
    f = ent.fields.get(name)
    return f.column if f is not None else None


def same_client(ctx: WriteContext, field: str, ident: int | None, company: int | None) -> None:
    """A referenced row of a client-owned entity must belong to the routing row's client."""
    if ident is None or company is None:
        return
    f = ctx.resource.ent.fields[field]
    assert f.target
    target = ENTITY[f.target]
    if target.company_path is None or f.target == "Company":
        return
    row = ctx.conn.execute(select(target.table).where(target.table.c.id == ident)).first()
    if row is None:
        raise invalid(field, f"{f.target} #{ident} does not exist.")
    theirs = owner_company(ctx.conn, target, dict(row._mapping))
    if theirs is not None and theirs != company:
        raise invalid(field, f"{f.target} #{ident} belongs to another client.")


def sanitize_route(ctx: WriteContext, route: Route) -> None:
    """Null the target fields of the other route types; demand those of the chosen one."""
    ent = ctx.resource.ent
    type_col = _col(ent, route.type_field)
    assert type_col, (ent.name, route.type_field)
    kind = ctx.new.get(type_col)
    if kind == "":
        kind = ctx.new[type_col] = None
    chosen = route.fields(kind) if kind in route.kinds else ()
    for name in route.all_fields():
        col = _col(ent, name)
        if col is None or name in chosen or name in route.keep:
            continue
        ctx.new[col] = None
    company = owner_company(ctx.conn, ent, ctx.new)
    for name in chosen:
        col = _col(ent, name)
        if col is None:
            continue
        value = ctx.new.get(col)
        if isinstance(value, str):
            value = value.strip() or None
            ctx.new[col] = value
        if value is None:
            raise invalid(name, f"This value should not be blank: route type '{kind}' needs {WHAT.get(_base(name), name)}.")
        if ent.fields[name].kind == "ref":
            same_client(ctx, name, value, company)


def _base(name: str) -> str:
    for base in WHAT:
        if name.lower().endswith(base.lower()):
            return base
    return name


def sanitize_routes(ctx: WriteContext) -> None:
    for route in ROUTES.get(ctx.entity, ()):
        sanitize_route(ctx, route)


for _entity in ROUTES:
    pre_persist(_entity)(sanitize_routes)


# --- targets going away

# rows that are nothing but their route: deleted with their target
DELETE_WITH_TARGET = {"IvrEntry", "CallForwardSetting"}


def routes_to(conn: Connection, target_entity: str, ident: int) -> list[tuple[str, int, Route, str]]:
    """(entity, id, route, kind) of every route whose chosen target is this row."""
    out = []
    for entity, routes in ROUTES.items():
        ent = ENTITY[entity]
        for route in routes:
            type_col = _col(ent, route.type_field)
            for kind in route.kinds:
                for name in route.fields(kind):
                    f = ent.fields.get(name)
                    if f is None or f.kind != "ref" or f.target != target_entity or \
                            (name in route.keep and route.fields(kind) != (name,)):
                        continue
                    t = ent.table
                    q = select(t.c.id).where(t.c[f.column] == ident, t.c[type_col] == kind)
                    out.extend((entity, int(r[0]), route, kind) for r in conn.execute(q))
    return out


def unlink_routes(ctx: WriteContext) -> None:
    """The routes that point at the deleted row lose their route type (or go, when they are only
    a route): what stays never names a target that is gone."""
    assert ctx.id is not None
    done: set[tuple[str, int]] = set()
    for entity, ident, route, _kind in routes_to(ctx.conn, ctx.entity, ctx.id):
        if (entity, ident) in done or ctx.system.get(entity, ident) is None:
            continue
        done.add((entity, ident))
        if entity in DELETE_WITH_TARGET or (entity == "HuntGroupMember"):
            ctx.system.delete(entity, ident)
        else:
            ctx.system.update(entity, ident, **{route.type_field: None})


TARGET_ENTITIES = sorted({ENTITY[e].fields[n].target for e, rs in ROUTES.items() for r in rs
                          for n in r.all_fields() if n in ENTITY[e].fields and ENTITY[e].fields[n].kind == "ref"}
                         - {"Country", None})  # type: ignore[arg-type]
for _entity in TARGET_ENTITIES:
    pre_remove(_entity)(unlink_routes)
