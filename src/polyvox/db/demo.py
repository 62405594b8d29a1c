"""Demo data of the standalone platform (spec 5: internal calls walkthrough)."""

from __future__ import annotations

from sqlalchemy.engine import Connection

from polyvox import refdata
from polyvox.api.actions import set_privileges  # noqa: F401  (kept for restricted demo admins)
from polyvox.api.auth import hash_password
from polyvox.api.rules import create_user_voicemail
from polyvox.db.model import ENTITY
from polyvox.db.reference import load_brand_routing
from polyvox.db.seed import create_admin, find, insert

ADMIN = ("admin", "changeme")
BRAND_ADMIN = ("demo", "changeme")
CLIENT_ADMIN = ("democompany", "changeme")
USERS = (("Alice", "alice@democompany.com", "101", "alice", "alice"),
         ("Bob", "bob@democompany.com", "102", "bob", "bob"))


def credentials(host: str) -> list[str]:
    return [
        f"global operator   {ADMIN[0]} / {ADMIN[1]}          (POST /api/platform/admin_login)",
        f"brand operator    {BRAND_ADMIN[0]} / {BRAND_ADMIN[1]}           (DemoBrand, /api/brand/admin_login)",
        f"client operator   {CLIENT_ADMIN[0]} / {CLIENT_ADMIN[1]}    (DemoCompany, /api/client/admin_login)",
        *(f"user {name:12} {email} / {email.split('@')[0]}  (/api/user/user_login)" for name, email, *_ in USERS),
        *(f"SIP terminal {term}@{host} password {pw}, extension {ext}" for _n, _e, ext, term, pw in USERS),
    ]


def load(conn: Connection, host: str = "127.0.0.1", rtpengine: str = "udp:127.0.0.1:22222") -> list[str]:
    lang_en = find(conn, "Language", iden="en")
    eur = find(conn, "Currency", iden="EUR")
    madrid = find(conn, "Timezone", tz="Europe/Madrid")
    spain = find(conn, "Country", code="ES")
    spain_rules = find(conn, "TransformationRuleSet", country=spain)

    # platform infrastructure of the standalone host (spec 8.14)
    insert(conn, "ProxyUser", name="proxyusers", ip=host)
    trunk = insert(conn, "ProxyTrunk", name="proxytrunks", ip=host)
    app_set = insert(conn, "ApplicationServerSet", name="default", description="Standalone application servers",
                     distributeMethod="hash")
    as001 = insert(conn, "ApplicationServer", name="as001", ip=host)
    conn.execute(ENTITY["ApplicationServerSetRelApplicationServer"].table.insert().values(
        applicationServerSetId=app_set, applicationServerId=as001))
    relay_set = insert(conn, "MediaRelaySet", name="default", description="Standalone media relays")
    insert(conn, "Rtpengine", mediaRelaySet=relay_set, url=rtpengine, weight=1, disabled=False,
           description="standalone rtpengine")

    create_admin(conn, ADMIN[0], ADMIN[1], name="Global", lastname="Operator")

    brand = insert(conn, "Brand", name="DemoBrand", maxCalls=0, language=lang_en, defaultTimezone=madrid, currency=eur,
                   invoice={"nif": "12345678A", "postalAddress": "Demo street 1", "postalCode": "48001",
                            "town": "Bilbao", "province": "Bizkaia", "country": "Spain"})
    conn.execute(ENTITY["ProxyTrunksRelBrand"].table.insert().values(brandId=brand, proxyTrunkId=trunk))
    for f in refdata.features():
        conn.execute(ENTITY["FeaturesRelBrand"].table.insert().values(brandId=brand, featureId=find(conn, "Feature",
                                                                                                     iden=f.iden)))
    conn.execute(ENTITY["BrandsRelApplicationServerSet"].table.insert().values(brandId=brand,
                                                                                applicationServerSetId=app_set))
    conn.execute(ENTITY["BrandsRelMediaRelaySet"].table.insert().values(brandId=brand, mediaRelaySetId=relay_set))
    load_brand_routing(conn, brand)
    create_admin(conn, BRAND_ADMIN[0], BRAND_ADMIN[1], brand_id=brand, name="Demo", lastname="Brand operator")

    # DemoCompany: a virtual PBX whose SIP domain is the standalone host address (spec 5.2.1)
    company = insert(conn, "Company", type="vpbx", name="DemoCompany", domainUsers=host, brand=brand, country=spain,
                     language=lang_en, defaultTimezone=madrid, currency=eur, transformationRuleSet=spain_rules,
                     applicationServerSet=app_set, mediaRelaySet=relay_set, distributeMethod="hash",
                     maxCalls=0, maxDailyUsage=1000000, billingMethod="postpaid", balance=0, currentDayUsage=0,
                     ipfilter=False, onDemandRecord=0, allowRecordingRemoval=True, onDemandRecordEmail="disabled",
                     showInvoices=False,
                     invoicing={"nif": "87654321B", "postalAddress": "Company street 2", "postalCode": "48002",
                                "town": "Bilbao", "province": "Bizkaia", "countryName": "Spain"})
    domain = insert(conn, "Domain", domain=host, pointsTo="proxyusers", description="DemoCompany proxyusers domain",
                    brand=brand, company=company)
    create_admin(conn, CLIENT_ADMIN[0], CLIENT_ADMIN[1], brand_id=brand, company_id=company, name="Demo",
                 lastname="Client operator")
    for name, email, ext, term, password in USERS:
        tid = insert(conn, "Terminal", company=company, domain=domain, name=term, password=password, disallow="all",
                     allowAudio="alaw,ulaw", directMediaMethod="update", t38Passthrough="no", rtpEncryption=False)
        uid = int(conn.execute(ENTITY["User"].table.insert().values(
            companyId=company, name=name, lastname="Demo", email=email, **{"pass": hash_password(email.split("@")[0])},
            active=True, doNotDisturb=False, isBoss=False, maxCalls=0, externalIpCalls="0", rejectCallMethod="rfc",
            multiContact=True, gsQRCode=False, useDefaultLocation=True, terminalId=tid, languageId=lang_en,
            timezoneId=madrid)).inserted_primary_key[0])  # type: ignore[index]
        create_user_voicemail(conn, uid)
        eid = insert(conn, "Extension", company=company, number=ext, routeType="user", user=uid)
        conn.execute(ENTITY["User"].table.update().where(ENTITY["User"].table.c.id == uid).values(extensionId=eid))
    return credentials(host)
