"""Uniqueness of the client-level entities: IvozProvider's unique constraints (Doctrine mappings
``<unique-constraint>``) and its CheckUniqueness services across entities.

As in IvozProvider's database, a constraint applies only when every column of it has a value
(a NULL never collides): e.g. members of a ringAll hunt group without a priority.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select

from polyvox.api.errors import invalid
from polyvox.api.lifecycle import WriteContext, pre_persist
from polyvox.db.model import ENTITY


@dataclass(frozen=True)
class Key:
    fields: tuple[str, ...]  # API field names; the first is the one the 400 names
    message: str


KEYS: dict[str, tuple[Key, ...]] = {
    "Calendar": (Key(("name", "company"), "There is already a calendar with this name."),),
    "CallAcl": (Key(("name", "company"), "There is already a call ACL with this name."),),
    "CallAclRelMatchList": (Key(("priority", "callAcl"), "There is already a rule with this priority in this call ACL."),),
    "CompanyService": (Key(("service", "company"), "This service already has a code for this client."),),
    "ConditionalRoutesCondition": (Key(("priority", "conditionalRoute"),
                                       "There is already a condition with this priority in this conditional route."),),
    "ConferenceRoom": (Key(("name", "company"), "There is already a conference room with this name."),),
    "Fax": (Key(("name", "company"), "There is already a virtual fax with this name."),),
    "Friend": (Key(("name", "domain"), "There is already a friend with this name in this SIP domain."),
               Key(("interCompany", "company"), "There is already a friend connecting to this client."),
               Key(("priority", "company"), "There is already a friend with this priority.")),
    "HuntGroup": (Key(("name", "company"), "There is already a hunt group with this name."),),
    "HuntGroupMember": (Key(("user", "huntGroup"), "This user is already a member of the hunt group."),
                        Key(("priority", "huntGroup"), "There is already a member with this priority in the hunt group.")),
    "Ivr": (Key(("name", "company"), "There is already an IVR with this name."),),
    "IvrEntry": (Key(("entry", "ivr"), "This IVR already has an entry for this input."),),
    "IvrExcludedExtension": (Key(("extension", "ivr"), "This extension is already excluded from the IVR."),),
    "Locution": (Key(("name", "company"), "There is already a locution with this name."),),
    "MatchList": (Key(("name", "brand", "company"), "There is already a match list with this name."),),
    "MusicOnHold": (Key(("name", "company"), "There is already a music on hold with this name."),),
    "OutgoingDdiRule": (Key(("name", "company"), "There is already an outgoing DDI rule with this name."),),
    "OutgoingDdiRulesPattern": (Key(("priority", "outgoingDdiRule"),
                                    "There is already a pattern with this priority in this outgoing DDI rule."),),
    "PickUpGroup": (Key(("name", "company"), "There is already a pick up group with this name."),),
    "Queue": (Key(("name", "company"), "There is already a queue with this name."),),
    "Schedule": (Key(("name", "company"), "There is already a schedule with this name."),),
    "Terminal": (Key(("mac", ), "There is already a terminal with this MAC address."),),
    "User": (Key(("terminal",), "This terminal is already used by another user."),
             Key(("extension",), "This extension is already the screen extension of another user.")),
    "Voicemail": (Key(("user",), "This user already has a voicemail."),
                  Key(("residentialDevice",), "This residential device already has a voicemail.")),
}

# IvozProvider Terminal/CheckUniqueness, Friend/CheckUniqueness, RetailAccount/CheckUniqueness,
# ResidentialDevice/CheckUniqueness: SIP usernames of one domain are unique across entities
SIP_NAME_SIBLINGS = {"Terminal": ("Friend",), "Friend": ("Terminal",), "RetailAccount": ("ResidentialDevice",),
                     "ResidentialDevice": ("RetailAccount",)}
LABEL = {"Terminal": "terminal", "Friend": "friend", "RetailAccount": "retail account",
         "ResidentialDevice": "residential device"}


def check_key(ctx: WriteContext, key: Key) -> None:
    ent = ctx.resource.ent
    t = ent.table
    conds = []
    for name in key.fields:
        f = ent.fields.get(name)
        if f is None or f.column is None:
            return
        v = ctx.new.get(f.column)
        if v is None or v == "":
            return
        conds.append(t.c[f.column] == v)
    q = select(t.c.id).where(*conds)
    if ctx.old is not None:
        q = q.where(t.c.id != ctx.old["id"])
    if ctx.conn.execute(q.limit(1)).first() is not None:
        raise invalid(key.fields[0], key.message)


def unique_keys(ctx: WriteContext) -> None:
    for key in KEYS.get(ctx.entity, ()):
        check_key(ctx, key)


def sip_name_siblings(ctx: WriteContext) -> None:
    """Within the SIP domain; endpoints without one (direct connectivity with no client or brand
    domain yet) within the client (terminals, friends) or the brand (retail, residential)."""
    name, domain = ctx.value("name"), ctx.value("domainId")
    if not name:
        return
    for other in SIP_NAME_SIBLINGS[ctx.entity]:
        t = ENTITY[other].table
        q = select(t.c.id).where(t.c.name == name)
        if domain is not None:
            q = q.where(t.c.domainId == domain)
        elif ctx.entity in ("Terminal", "Friend"):
            q = q.where(t.c.companyId == ctx.value("companyId"), t.c.domainId.is_(None))
        else:
            c = ENTITY["Company"].table
            brand = select(c.c.brandId).where(c.c.id == ctx.value("companyId")).scalar_subquery()
            q = q.where(t.c.companyId.in_(select(c.c.id).where(c.c.brandId == brand)))
        if ctx.conn.execute(q.limit(1)).first():
            raise invalid("name", f"There is already a {LABEL[other]} with this name in this SIP domain.")


for _entity in KEYS:
    pre_persist(_entity)(unique_keys)
for _entity in SIP_NAME_SIBLINGS:
    pre_persist(_entity)(sip_name_siblings)
