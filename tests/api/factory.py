"""Test helpers for the API suite: a module-scoped application and a payload factory.

``Factory`` builds a minimal valid create-body for any resource at any level from the
contract declarations (``EXPOSURE``: required write fields) and the model (``ENTITY``:
type, enum, length, minimum of each field). References are satisfied by creating the
target through the API with the same token, or by picking a row the token can see, or,
when the level can neither create nor see one, by creating it one level up (the parent
token, owner set to the child's tenant). A few resources carry spec rules a generic value
cannot meet (routing tag ``12#``, portal URL ``https://...``, extensions of >= 2 digits,
rating plans timed ``always``...): ``OVERRIDES`` gives them per resource.

The ``mod_*`` fixtures give one database copy and one application per test module, so
that the parametrized suites do not pay ~1 s of application start and logins per test.
"""

from __future__ import annotations

import itertools
import shutil
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, create_engine, text

from polyvox.api.app import create_app
from polyvox.api.engine import Resource, resources_for
from polyvox.db.contract_decl import EXPOSURE
from polyvox.db.engine import make_engine
from polyvox.db.model import ENTITY, FieldDef
from polyvox.db.policy import GLOBAL
from tests.api.conftest import SECRET, Api
from tests.conftest import PG_ADMIN_URL, backend

LEVELS = ("platform", "brand", "client", "user")
PARENT = {"user": "client", "client": "brand", "brand": "platform"}
DEMO_LOGINS = {"platform": ("admin", "changeme"), "brand": ("demo", "changeme"),
               "client": ("democompany", "changeme"), "user": ("alice@democompany.com", "alice")}

_counter = itertools.count(1)


def unique() -> int:
    return next(_counter)


# ---------------------------------------------------------------------------------------------
# declarations


_VIEWS: dict[str, dict[str, Resource]] = {}


def exposure(level: str, resource: str) -> dict[str, Any]:
    """The resource as the engine serves it at ``level`` (the contract, less what policy withholds)."""
    if level not in _VIEWS:
        _VIEWS[level] = resources_for(level)
    res = _VIEWS[level].get(resource)
    if res is None:
        return {"ops": (), "collection": (), "item": (), "write": (), "required": ()}
    return {"ops": res.ops, "collection": res.collection, "item": res.item, "write": res.write,
            "required": res.required}


def ops(level: str, resource: str) -> tuple[str, ...]:
    return tuple(exposure(level, resource)["ops"])


def path_of(resource: str) -> str:
    return "/" + ENTITY[resource].path


def fdef(resource: str, name: str) -> FieldDef | None:
    return ENTITY[resource].fields.get(name)


def resources(level: str, op: str | None = None) -> list[str]:
    return sorted(n for n in EXPOSURE[level] if n in ENTITY and ops(level, n) and (op is None or op in ops(level, n)))


# ---------------------------------------------------------------------------------------------
# module-scoped database and application


@pytest.fixture(scope="module")
def mod_db(template_db: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    """One fresh copy of the template database for a whole test module."""
    if backend() == "postgresql":
        name = f"polyvox_m_{uuid.uuid4().hex[:10]}"
        tmpl = template_db.rsplit("/", 1)[1]
        admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
        with admin.connect() as c:
            c.execute(text(f'CREATE DATABASE "{name}" TEMPLATE "{tmpl}"'))
        eng = make_engine(PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}")
        yield eng
        eng.dispose()
        with admin.connect() as c:
            c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
    else:
        dst = tmp_path_factory.mktemp("moddb") / "module.sqlite3"
        shutil.copyfile(template_db[len("sqlite:///"):], dst)
        eng = make_engine(f"sqlite:///{dst}")
        yield eng
        eng.dispose()


@pytest.fixture(scope="module")
def mod_api(mod_db: Engine) -> Iterator[Api]:
    with TestClient(create_app(mod_db, SECRET)) as client:
        yield Api(client)


def demo_tokens(api: Api) -> dict[str, str]:
    return {level: api.login(level, *DEMO_LOGINS[level]) for level in LEVELS}


@pytest.fixture(scope="module")
def mod_tokens(mod_api: Api) -> dict[str, str]:
    return demo_tokens(mod_api)


@pytest.fixture(scope="module")
def mod_factory(mod_api: Api, mod_tokens: dict[str, str]) -> Factory:
    return Factory(mod_api, mod_tokens)


# ---------------------------------------------------------------------------------------------
# problem details


def assert_problem(r: httpx.Response, field: str | None = None, status: int | tuple[int, ...] = 400) -> dict[str, Any]:
    """A 4xx RFC 7807 answer; ``field`` must be named by a violation (or the detail)."""
    statuses = (status,) if isinstance(status, int) else status
    assert r.status_code in statuses, f"expected {statuses}, got {r.status_code}: {r.text}"
    assert r.headers["content-type"].startswith("application/problem+json"), r.headers["content-type"]
    body: dict[str, Any] = r.json()
    assert body["status"] == r.status_code
    if field is not None:
        paths = [v.get("propertyPath") for v in body.get("violations", [])]
        assert field in paths or str(body.get("detail", "")).startswith(f"{field}:"), \
            f"{field!r} not named in {body}"
    return body


# ---------------------------------------------------------------------------------------------
# the factory


@dataclass
class Ctx:
    """What a per-resource override sees."""

    factory: Factory
    level: str
    token: str
    n: int

    def ref(self, target: str) -> int:
        return self.factory.ref(self.level, target, self.token)

    def pick(self, target: str) -> int:
        found = self.factory.pick(self.level, target, self.token)
        assert found is not None, f"no visible {target} at {self.level}"
        return found

    def brand_ref(self, target: str) -> int:
        """A row of ``target`` created at the brand level for this (client) tenant."""
        return self.factory.ref_above(self.level, target, self.token)


Override = Callable[[Ctx], dict[str, Any]]


def rating_ready_group(c: Ctx) -> int:
    return c.factory.rating_ready_group(c.level, c.token)


def _urltype(level: str) -> str:
    return {"platform": "brand", "brand": "admin"}.get(level, "user")


# Spec rules the generic values cannot meet, and write-time couplings (rules.py).
OVERRIDES: dict[str, Override] = {
    # spec 9.3.4: 1 to 3 digits followed by '#'
    "RoutingTag": lambda c: {"tag": f"{c.n % 1000}#"},
    # outgoing DDI rules: prefix pattern is 1 to 3 digits followed by '*'
    "OutgoingDdiRulesPattern": lambda c: {"type": "prefix", "prefix": f"{c.n % 1000}*", "action": "keep"},
    # spec 8.11 / 9.7.1: portal URLs are HTTPS without trailing slash
    "WebPortal": lambda c: {"url": f"https://portal{c.n}.example.com", "urlType": _urltype(c.level),
                            "name": f"portal{c.n}", **({"brand": c.pick("Brand")} if c.level == "platform" else {})},
    # extensions have at least 2 digits
    "Extension": lambda c: {"number": str(1000 + c.n), "routeType": "number", "numberValue": "600000000",
                            "numberCountry": c.pick("Country")},
    # spec 9.4.3: a rating plan group must rate 24x7; a single plan timed 'always' does
    # (weights are unique within a group: IvozProvider's ratingPlan_ratingPlanGroup_weight key)
    "RatingPlan": lambda c: {"timingType": "always", "timeIn": "00:00:00", "weight": 10 + c.n},
    # a rating profile belongs to one client (or carrier), activation time explicit
    "RatingProfile": lambda c: {"company": c.pick("Company"), "activationTime": "2024-01-01 00:00:00",
                                "ratingPlanGroup": rating_ready_group(c)},
    "DestinationRate": lambda c: {"rateIncrement": "60s", "groupIntervalStart": "0s", "cost": 0.01,
                                  "connectFee": 0},
    "Destination": lambda c: {"prefix": f"+{990000 + c.n}", "name": {"en": f"dst{c.n}", "es": f"dst{c.n}"}},
    "RoutingPattern": lambda c: {"prefix": f"+{990000 + c.n}", "name": {"en": f"rp{c.n}", "es": f"rp{c.n}"}},
    "Ddi": lambda c: {"ddi": str(944000000 + c.n), "country": c.pick("Country")},
    "Schedule": lambda c: {"timeIn": "08:00:00", "timeout": "18:00:00"},
    "CalendarPeriod": lambda c: {"startDate": "2030-01-01", "endDate": "2030-01-31", "routeType": "number",
                                 "numberValue": "600000000", "numberCountry": c.pick("Country")},
    "Fax": lambda c: {"email": f"fax{c.n}@example.com"},
    "HolidayDate": lambda c: {"eventDate": "2030-12-25", "wholeDayEvent": True},
    "Currency": lambda c: {"iden": f"X{c.n % 100000:05d}"[:10], "symbol": "¤"},
    "Feature": lambda c: {"iden": f"feature{c.n}"},
    "HuntGroup": lambda c: {"strategy": "ringAll", "ringAllTimeout": 10},
    "Queue": lambda c: {"name": f"queue{c.n}", "strategy": "ringall"},
    # a new user with an e-mail and a password is active (IvozProvider User::sanitizeNew)
    "User": lambda c: {"email": f"user{c.n}@example.com", "pass": "S3cret-pass", "active": True},
    "Administrator": lambda c: {"username": f"admin{c.n}", "pass": "S3cret-pass", "email": f"admin{c.n}@example.com"},
    # IvozProvider's strong SIP passwords: 3 upper, 3 lower, 3 digits, one of + * _ -
    "Terminal": lambda c: {"name": f"term{c.n}", "password": "ABCdef123+xyz"},
    # direct connectivity needs transport, address and port (IvozProvider sanitizeValues)
    "Friend": lambda c: {"transport": "udp", "ip": "192.0.2.10", "port": 5060, "priority": c.n},
    "RetailAccount": lambda c: {"transport": "udp", "ip": "192.0.2.11", "port": 5060},
    "ResidentialDevice": lambda c: {"transport": "udp", "ip": "192.0.2.12", "port": 5060},
    "FriendsPattern": lambda c: {"regExp": "^1.*$"},
    # the target of the chosen route type is demanded, a number with its country (rules.targets)
    "MatchListPattern": lambda c: {"type": "number", "numbervalue": "600000000", "numberCountry": c.pick("Country")},
    "IvrEntry": lambda c: {"entry": str(c.n % 10), "routeType": "number", "numberValue": "600000000",
                           "numberCountry": c.pick("Country")},
    "HuntGroupMember": lambda c: {"routeType": "number", "numberValue": "600000000", "numberCountry": c.pick("Country")},
    "BrandService": lambda c: {"code": f"{c.n % 1000:03d}"},
    "SpecialNumber": lambda c: {"number": str(8000 + c.n)},
    "CallForwardSetting": lambda c: {"callForwardType": "noAnswer", "callTypeFilter": "both", "targetType": "number",
                                     "numberValue": "600000000", "numberCountry": c.pick("Country"),
                                     "user": c.ref("User")},
    "Webhook": lambda c: {"uri": f"https://hooks{c.n}.example.com/x", "template": "{}", "eventStart": True},
    "TerminalModel": lambda c: {"iden": f"model{c.n}"},
    "TerminalManufacturer": lambda c: {"iden": f"maker{c.n}"},
    # brand and platform write rules (src/polyvox/api/rules: carriers, companies, routing, ...)
    "Rtpengine": lambda c: {"url": f"udp:127.0.0.1:{20000 + c.n % 10000}"},
    "BalanceNotification": lambda c: {"company": c.pick("Company"), "toAddress": f"bn{c.n}@example.com"},
    "CarrierServer": lambda c: {"authNeeded": "no", "sipProxy": f"192.0.2.{c.n % 250 + 1}:5060"},
    "Company": lambda c: {"domainUsers": f"company{c.n}.example.com"},
    "DdiProviderAddress": lambda c: {"ip": f"198.51.100.{c.n % 250 + 1}"},
    "FixedCost": lambda c: {"cost": 1.5},
    # a past period of its own per invoice: invoices of a client never overlap
    "Invoice": lambda c: {"number": f"INV{c.n}", "taxRate": 21, "inDate": _day(c.n), "outDate": _day(c.n + 1)},
    "OutgoingRouting": lambda c: {"type": "pattern", "routingPattern": c.pick("RoutingPattern"),
                                  "routingMode": "static", "carrier": c.ref("Carrier")},
    "TransformationRule": lambda c: {"matchExpr": "^([0-9]+)$", "replaceExpr": "+34\\1", "priority": 1},
    # a new vPBX client inherits its brand's service codes: a service still free for the client
    "CompanyService": lambda c: {"code": f"{c.n % 1000:03d}", "service": _free_service(c)},
}


def _day(n: int) -> str:
    import datetime as dt

    return (dt.date(2000, 1, 1) + dt.timedelta(days=n)).isoformat() + " 00:00:00"


def _free_service(c: Ctx) -> int:
    r = c.factory.api.get(c.level, "/services", c.token, params={"_itemsPerPage": 1000})
    assert r.status_code == 200 and r.json(), r.text
    # one code per service and client (IvozProvider's companyService_company_service key)
    used = {x["service"] for x in c.factory.api.get(c.level, "/company_services", c.token,
                                                     params={"_itemsPerPage": 1000}).json()}
    return int(next(x["id"] for x in r.json() if x["id"] not in used))

# Targets picked among visible rows rather than created (shared or heavy to create).
PICK_FIRST = set(GLOBAL) | {"Brand", "Company", "Service", "Country", "Language", "Timezone", "Currency",
                            "Codec", "Feature", "InvoiceTemplate"}


class Factory:
    """Builds and posts minimal valid bodies for any (level, resource)."""

    def __init__(self, api: Api, tokens: dict[str, str]) -> None:
        self.api = api
        self.tokens = dict(tokens)
        self.parent: dict[str, str] = {}  # token -> the token one level up owning the same tenant
        self.level_of: dict[str, str] = {}
        self._picks: dict[tuple[str, str, str], int] = {}
        for level, tok in tokens.items():
            self.level_of[tok] = level
            if level in PARENT and PARENT[level] in tokens:
                self.parent[tok] = tokens[PARENT[level]]

    def register(self, level: str, token: str, parent: str | None = None) -> str:
        self.level_of[token] = level
        if parent is not None:
            self.parent[token] = parent
        return token

    def token(self, level: str, token: str | None = None) -> str:
        return token or self.tokens[level]

    @staticmethod
    def profile(level: str, token: str) -> dict[str, Any]:
        """The token's claims: level, username, admin_id, brand_id, company_id, user_id."""
        claims: dict[str, Any] = jwt.decode(token, options={"verify_signature": False})
        return claims

    # -- values
    def scalar(self, resource: str, name: str, f: FieldDef, n: int) -> Any:
        if f.enum:
            if f.default is not None and str(f.default) in f.enum:
                return int(f.default) if f.type == "integer" else f.default
            return int(f.enum[0]) if f.type == "integer" else f.enum[0]
        t = f.type
        if t == "boolean":
            return bool(f.default) if f.default is not None else False
        if t == "integer":
            if f.default is not None and isinstance(f.default, int):
                return f.default
            return int(max(f.minimum or 0, 1))
        if t == "number":
            return float(f.default) if isinstance(f.default, (int, float)) else 1.0
        if t == "date-time":
            return "2024-01-01 00:00:00"
        if t == "date":
            return "2024-01-01"
        if t == "time":
            return "00:00:00"
        return self.string(name, f, n)

    @staticmethod
    def string(name: str, f: FieldDef, n: int) -> str:
        low = name.lower()
        if "email" in low:
            v = f"t{n}@example.com"
        elif low in ("ip", "srcip", "sourceaddress") or low.endswith("ip"):
            v = f"10.{n // 65536 % 256}.{n // 256 % 256}.{n % 256}"
        elif low in ("url", "uri"):
            v = f"https://t{n}.example.com"
        elif "domain" in low or low in ("hostname", "proxy", "authproxy", "realm"):
            v = f"t{n}.example.com"
        elif low in ("ddi", "number", "prefix", "code", "extension"):
            v = str(100000000 + n)
        else:
            v = f"{name[:8]}{n}"
        if f.max_length is not None and len(v) > f.max_length:
            v = v[-f.max_length:]
        return v

    # -- references
    def pick(self, level: str, target: str, token: str) -> int | None:
        """The first row of ``target`` the token sees (own rows before shared ones)."""
        key = (level, target, token)
        if key in self._picks:
            return self._picks[key]
        if "list" not in ops(level, target):
            return None
        r = self.api.get(level, path_of(target), token, params={"_itemsPerPage": 50})
        assert r.status_code == 200, r.text
        rows = r.json()
        if not rows:
            return None
        prof = self.profile(level, token)
        own = [x for x in rows if prof.get("brand_id") is not None and x.get("brand") == prof.get("brand_id")]
        ident = int((own or rows)[0]["id"])
        self._picks[key] = ident
        return ident

    def ref(self, level: str, target: str, token: str, depth: int = 0) -> int:
        if target not in PICK_FIRST and "create" in ops(level, target):
            return int(self.create(level, target, token, _depth=depth + 1)["id"])
        found = self.pick(level, target, token)
        if found is not None:
            return found
        if "create" in ops(level, target):
            return int(self.create(level, target, token, _depth=depth + 1)["id"])
        return self.ref_above(level, target, token, depth)

    def ref_above(self, level: str, target: str, token: str, depth: int = 0) -> int:
        """Create ``target`` one level up, owned by this token's tenant."""
        up = PARENT.get(level)
        assert up is not None and token in self.parent, f"cannot provide a {target} at {level}"
        up_token = self.parent[token]
        extra: dict[str, Any] = {}
        prof = self.profile(level, token)
        write = exposure(up, target)["write"]
        for fname, claim in (("company", "company_id"), ("brand", "brand_id"), ("user", "user_id")):
            if fname in write and prof.get(claim) is not None:
                extra[fname] = prof[claim]
        if "create" in ops(up, target):
            return int(self.create(up, target, up_token, _depth=depth + 1, **extra)["id"])
        return self.ref_above(up, target, up_token, depth + 1)

    # -- bodies
    def body(self, level: str, resource: str, token: str | None = None, *, _depth: int = 0,
             **overrides: Any) -> dict[str, Any]:
        assert _depth < 8, f"reference chain too deep building {resource}"
        token = self.token(level, token)
        exp = exposure(level, resource)
        write = set(exp["write"])
        n = unique()
        ctx = Ctx(self, level, token, n)
        special = OVERRIDES[resource](ctx) if resource in OVERRIDES else {}
        body: dict[str, Any] = {}
        wanted = list(exp["required"])
        # a name makes rows recognisable, even where the contract does not require one
        for extra in ("name", "description"):
            if extra in write and extra not in wanted:
                wanted.append(extra)
        for name in wanted:
            if name not in write or name in overrides or name in special:
                continue
            f = fdef(resource, name)
            if f is None:
                continue
            if f.kind == "scalar":
                body[name] = self.scalar(resource, name, f, n)
            elif f.kind == "group":
                body[name] = {m: self.scalar(resource, m, mf, n) for m, mf in f.members.items()
                              if mf.type == "string" and not mf.enum}
            elif f.kind == "ref":
                assert f.target
                body[name] = self.ref(level, f.target, token, _depth)
        body.update({k: v for k, v in special.items() if k in write})
        body.update(overrides)
        if resource == "User" and not body.get("email") and "active" in write:
            body["active"] = False  # an active user needs an e-mail (IvozProvider User::sanitizeValues)
        return body

    def post(self, level: str, resource: str, token: str | None, body: Any) -> httpx.Response:
        return self.api.post(level, path_of(resource), self.token(level, token), body)

    def rating_ready_group(self, level: str, token: str | None = None, group: int | None = None,
                           currency: int | None = None) -> int:
        """A rating plan group that rates calls 24x7 (spec 9.4.3), as a rating profile needs it:
        one destination rate group (of the group's currency) timed 'always'."""
        cur = {"currency": currency} if currency is not None else {}
        if group is None:
            group = int(self.create(level, "RatingPlanGroup", token, **cur)["id"])
        drg = self.create(level, "DestinationRateGroup", token, **cur)["id"]
        self.create(level, "RatingPlan", token, ratingPlanGroup=group, destinationRateGroup=drg)
        return group

    def create(self, level: str, resource: str, token: str | None = None, *, _depth: int = 0,
               **overrides: Any) -> dict[str, Any]:
        token = self.token(level, token)
        body = self.body(level, resource, token, _depth=_depth, **overrides)
        r = self.post(level, resource, token, body)
        assert r.status_code == 201, f"POST {level} {resource} {body}: {r.status_code} {r.text}"
        item: dict[str, Any] = r.json()
        return item

    def count(self, level: str, resource: str, token: str | None = None, **params: Any) -> int:
        r = self.api.get(level, path_of(resource), self.token(level, token), params={"_itemsPerPage": 1, **params})
        assert r.status_code == 200, r.text
        return int(r.headers["X-Total-Items"])


def contract_dir() -> Path | None:
    """IvozProvider's API contract: beside the checkout (../shared), or the workplace's copy when the
    checkout lives elsewhere (CI clones)."""
    rel = Path("shared") / "reference" / "ivozprovider-api"
    for d in (Path(__file__).resolve().parents[3] / rel, Path("/work") / rel):
        if d.is_dir():
            return d
    return None


# ---------------------------------------------------------------------------------------------
# a second tenant, built through the API


@dataclass
class Tenant:
    """A brand with one client, its operators and one user, each with a logged-in token."""

    brand_id: int
    company_id: int
    user_id: int
    user_email: str
    tokens: dict[str, str]


def make_client(factory: Factory, brand_token: str, password: str = "S3cret-pass") -> tuple[int, str]:
    """A new client of the token's brand and a logged-in (non restricted) client operator."""
    n = unique()
    company = factory.create("brand", "Company", brand_token, name=f"Company{n}", type="vpbx")
    factory.create("brand", "Administrator", brand_token, company=company["id"], username=f"clientop{n}",
                   email=f"c{n}@example.com", restricted=False, canImpersonate=True, active=True,
                   **{"pass": password})
    token = factory.register("client", factory.api.login("client", f"clientop{n}", password), brand_token)
    return int(company["id"]), token


def make_user(factory: Factory, client_token: str, password: str = "S3cret-pass") -> tuple[int, str, str]:
    """A new active user of the token's client, logged in: (id, e-mail, token)."""
    n = unique()
    email = f"user{n}@tenant{n}.example.com"
    user = factory.create("client", "User", client_token, email=email, active=True, **{"pass": password})
    token = factory.register("user", factory.api.login("user", email, password), client_token)
    return int(user["id"]), email, token


def make_tenant(factory: Factory, password: str = "S3cret-pass") -> Tenant:
    """A new brand (created by the platform) with an operator, one client, its operator and a user."""
    api, n = factory.api, unique()
    brand = factory.create("platform", "Brand", name=f"Brand{n}")
    factory.create("platform", "Administrator", brand=brand["id"], username=f"brandop{n}", email=f"b{n}@example.com",
                   restricted=False, canImpersonate=True, active=True, **{"pass": password})
    btok = factory.register("brand", api.login("brand", f"brandop{n}", password), factory.tokens["platform"])
    company, ctok = make_client(factory, btok, password)
    user, email, utok = make_user(factory, ctok, password)
    return Tenant(int(brand["id"]), company, user, email,
                  {"platform": factory.tokens["platform"], "brand": btok, "client": ctok, "user": utok})


def insert_row(engine: Engine, entity: str, **data: Any) -> int:
    """A row the API cannot create (CDRs, recordings...), written straight to the database."""
    from polyvox.db.seed import insert

    fields = ENTITY[entity].fields
    with engine.begin() as conn:
        return insert(conn, entity, **{k: v for k, v in data.items() if k in fields})
