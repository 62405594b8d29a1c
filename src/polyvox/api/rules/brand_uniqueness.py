"""Uniqueness of the brand- and platform-level entities: IvozProvider's unique constraints
(Doctrine mappings ``<unique-constraint>``). As in its database, a key applies only when every
column has a value (a NULL never collides: global rows have no brand)."""

from __future__ import annotations

from sqlalchemy import select

from polyvox.api.errors import invalid
from polyvox.api.lifecycle import WriteContext, pre_persist
from polyvox.db.model import ENTITY

# entity -> keys (API field names, the first is the one the 400 names) and their messages
KEYS: dict[str, tuple[tuple[tuple[str, ...], str], ...]] = {
    "Company": ((("name", "brand"), "There is already a client with this name in the brand."),),
    "Carrier": ((("name", "brand"), "There is already a carrier with this name in the brand."),),
    "DdiProvider": ((("name", "brand"), "There is already a DDI provider with this name in the brand."),),
    "DdiProviderRegistration": ((("username", "domain"), "There is already a registration of this user at this "
                                                         "domain."),),
    "RoutingPatternGroup": ((("name", "brand"), "There is already a routing pattern group with this name."),),
    "RoutingPatternGroupsRelPattern": ((("routingPattern", "routingPatternGroup"),
                                        "This routing pattern is already in the group."),),
    "DestinationRate": ((("destination", "destinationRateGroup"),
                         "This destination already has a rate in this destination rate group."),),
    "RatingPlan": ((("weight", "ratingPlanGroup"), "There is already a rating plan with this weight in the group."),),
    "RatingProfile": ((("activationTime", "company", "ratingPlanGroup", "routingTag"),
                       "This client already has this rating plan from this activation time."),),
    "WebPortal": ((("url",), "There is already a portal with this URL."),),
    "ApplicationServer": ((("ip",), "There is already an application server at this address."),
                          (("name",), "There is already an application server with this name.")),
    "MediaRelaySet": ((("name",), "There is already a media relay set with this name."),),
    "ProxyUser": ((("ip",), "There is already a proxy users address with this IP."),),
    "Invoice": ((("number", "brand"), "There is already an invoice with this number."),),
    "InvoiceNumberSequence": ((("name", "brand"), "There is already an invoice number sequence with this name."),),
    "InvoiceScheduler": ((("name", "brand"), "There is already an invoice scheduler with this name."),),
    "FixedCost": ((("name", "brand"), "There is already a fixed cost with this name."),),
    "NotificationTemplate": ((("name", "brand"), "There is already a notification template with this name."),),
    "InvoiceTemplate": ((("name", "brand"), "There is already an invoice template with this name."),),
    "Corporation": ((("name", "brand"), "There is already a corporation with this name."),),
    "AdministratorRelPublicEntity": ((("publicEntity", "administrator"),
                                      "This administrator already has privileges on this entity."),),
}


def unique_keys(ctx: WriteContext) -> None:
    ent = ENTITY[ctx.entity]
    t = ent.table
    for fields, message in KEYS[ctx.entity]:
        cols = [ent.fields[f].column for f in fields]
        values = [ctx.new.get(c) for c in cols if c]
        if len(values) != len(fields) or any(v is None or v == "" for v in values):
            continue
        q = select(t.c.id).where(*[t.c[c] == v for c, v in zip(cols, values, strict=True) if c])
        if ctx.old is not None:
            q = q.where(t.c.id != ctx.old["id"])
        if ctx.conn.execute(q.limit(1)).first() is not None:
            raise invalid(fields[0], message)


for _entity in KEYS:
    pre_persist(_entity)(unique_keys)
