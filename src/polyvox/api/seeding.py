"""First start of a platform: reference data, then the demo platform of spec 5, and the
administrators the ``polyvox`` command creates.

Everything but the static reference tables is written through the resource engine
(``polyvox.api.writer``), so the demo rows get the same derived columns, defaults and cascades
as rows an operator creates through the API.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.engine import Connection

from polyvox import refdata
from polyvox.api.auth import clear_login_failures
from polyvox.api.errors import ApiError
from polyvox.api.writer import Writer
from polyvox.db.seed import find, is_empty, load_public_entities

ADMIN = ("admin", "changeme")
BRAND_ADMIN = ("demo", "changeme")
CLIENT_ADMIN = ("democompany", "changeme")
# name, e-mail, extension, terminal, terminal password (IvozProvider demands strong SIP
# passwords), portal password
USERS = (("Alice", "alice@democompany.com", "101", "alice", "DEMOalice+101", "alice"),
         ("Bob", "bob@democompany.com", "102", "bob", "DEMObob+1020", "bob"))


def credentials(host: str) -> list[str]:
    return [
        f"global operator   {ADMIN[0]} / {ADMIN[1]}          (POST /api/platform/admin_login)",
        f"brand operator    {BRAND_ADMIN[0]} / {BRAND_ADMIN[1]}           (DemoBrand, /api/brand/admin_login)",
        f"client operator   {CLIENT_ADMIN[0]} / {CLIENT_ADMIN[1]}    (DemoCompany, /api/client/admin_login)",
        *(f"user {name:12} {email} / {web}  (/api/user/user_login)" for name, email, _x, _t, _p, web in USERS),
        *(f"SIP terminal {term}@{host} password {pw}, extension {ext}" for _n, _e, ext, term, pw, _w in USERS),
    ]


def create_admin(conn: Connection, username: str, password: str, *, brand_id: int | None = None,
                 company_id: int | None = None, email: str | None = None, name: str = "", lastname: str = "",
                 restricted: bool = False) -> int:
    if find(conn, "Administrator", username=username) is not None:
        raise SystemExit(f"administrator {username} already exists")
    try:
        return Writer(conn).create(
            "Administrator", username=username, **{"pass": password}, email=email or f"{username}@example.com",
            active=True, restricted=restricted, name=name or username, lastname=lastname, brand=brand_id,
            company=company_id, timezone=find(conn, "Timezone", tz="Europe/Madrid"), canImpersonate=True)
    except ApiError as e:
        raise SystemExit(f"administrator {username} not created: {e.detail}") from e


def reset_password(conn: Connection, username: str, password: str) -> bool:
    """A new password for an administrator (the operator's way back in): its tokens are revoked
    (the write rules give it a new token version) and a login lockout of its name is lifted."""
    ident = find(conn, "Administrator", username=username)
    if ident is None:
        return False
    Writer(conn).update("Administrator", ident, **{"pass": password})
    clear_login_failures(conn, "platform", username)
    return True


def load_demo(conn: Connection, host: str = "127.0.0.1", rtpengine: str = "udp:127.0.0.1:22222") -> list[str]:
    """The standalone platform of spec 5: its infrastructure rows, DemoBrand, DemoCompany (a
    vPBX whose SIP domain is the host address, "the DNS trick" of 5.2.1), Alice and Bob."""
    w = Writer(conn)
    lang_en = find(conn, "Language", iden="en")
    eur = find(conn, "Currency", iden="EUR")
    madrid = find(conn, "Timezone", tz="Europe/Madrid")
    spain = find(conn, "Country", code="ES")
    spain_rules = find(conn, "TransformationRuleSet", country=spain)

    # platform infrastructure of the standalone host (spec 8.14)
    w.create("ProxyUser", name="proxyusers", ip=host)
    w.create("ProxyTrunk", name="proxytrunks", ip=host)
    as001 = w.create("ApplicationServer", name="as001", ip=host)
    app_set = w.create("ApplicationServerSet", name="default", description="Standalone application servers",
                       distributeMethod="hash", applicationServers=[as001])
    relay_set = w.create("MediaRelaySet", name="default", description="Standalone media relays")
    w.create("Rtpengine", mediaRelaySet=relay_set, url=rtpengine, weight=1, disabled=False,
             description="standalone rtpengine")
    create_admin(conn, ADMIN[0], ADMIN[1], name="Global", lastname="Operator")

    features = [find(conn, "Feature", iden=f.iden) for f in refdata.features()]
    brand = w.create("Brand", name="DemoBrand", maxCalls=0, language=lang_en, defaultTimezone=madrid, currency=eur,
                     features=features, applicationServerSets=[app_set], mediaRelaySets=[relay_set],
                     invoice={"nif": "12345678A", "postalAddress": "Demo street 1", "postalCode": "48001",
                              "town": "Bilbao", "province": "Bizkaia", "country": "Spain"})
    create_admin(conn, BRAND_ADMIN[0], BRAND_ADMIN[1], brand_id=brand, name="Demo", lastname="Brand operator")

    company = w.create("Company", type="vpbx", name="DemoCompany", domainUsers=host, brand=brand, country=spain,
                       language=lang_en, defaultTimezone=madrid, currency=eur, transformationRuleSet=spain_rules,
                       applicationServerSet=app_set, mediaRelaySet=relay_set, distributeMethod="hash",
                       maxCalls=0, maxDailyUsage=1000000, billingMethod="postpaid", balance=0, currentDayUsage=0,
                       ipfilter=False, onDemandRecord=0, allowRecordingRemoval=True, onDemandRecordEmail="disabled",
                       showInvoices=False,
                       invoicing={"nif": "87654321B", "postalAddress": "Company street 2", "postalCode": "48002",
                                  "town": "Bilbao", "province": "Bizkaia", "countryName": "Spain"})
    create_admin(conn, CLIENT_ADMIN[0], CLIENT_ADMIN[1], brand_id=brand, company_id=company, name="Demo",
                 lastname="Client operator")
    for name, email, ext, term, password, web in USERS:
        tid = w.create("Terminal", company=company, name=term, password=password, disallow="all",
                       allowAudio="alaw,ulaw", directMediaMethod="update", t38Passthrough="no", rtpEncryption=False)
        uid = w.create("User", company=company, name=name, lastname="Demo", email=email, **{"pass": web},
                       active=True, doNotDisturb=False, isBoss=False, maxCalls=0, externalIpCalls="0",
                       rejectCallMethod="rfc", multiContact=True, gsQRCode=False, useDefaultLocation=True,
                       terminal=tid, language=lang_en, timezone=madrid)
        eid = w.create("Extension", company=company, number=ext, routeType="user", user=uid)
        w.update("User", uid, extension=eid)
    return credentials(host)


def first_start(conn: Connection, demo: bool = True, host: str = "127.0.0.1",
                rtpengine: str = "udp:127.0.0.1:22222") -> dict[str, Any]:
    """Load reference data (and demo data) when the database is new. Idempotent. ``host`` is the
    standalone SIP address written in the demo rows (proxies, app server, SIP domain),
    ``rtpengine`` the NG url of the demo media relay."""
    from polyvox.db import reference

    info: dict[str, Any] = {}
    if is_empty(conn):
        reference.load(conn)
        load_public_entities(conn)
        if demo:
            info["demo"] = load_demo(conn, host=host, rtpengine=rtpengine)
    elif demo and find(conn, "Brand", name="DemoBrand") is not None:
        info["demo"] = credentials(host)
    return info
