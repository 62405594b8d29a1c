"""Authentication: JWT access tokens, refresh tokens, token exchange (portal emulation).

Levels: ``platform`` (global operator), ``brand`` (brand operator), ``client`` (client
operator) and ``user`` (final user). Administrators with neither brand nor company
are platform operators, with a brand only brand operators, with a company client
operators. A higher-level principal obtains a lower-level token with
``/token/exchange`` (spec 5.1.1: emulation); the token remembers on whose behalf.
"""

from __future__ import annotations

import datetime as dt
import re
import secrets
from dataclasses import asdict, dataclass, replace
from typing import Any

import bcrypt
import jwt
from sqlalchemy import select
from sqlalchemy.engine import Connection

from polyvox.api.errors import ApiError
from polyvox.db.model import ENTITY, refresh_tokens

LEVELS = ("platform", "brand", "client", "user")
ROLES = {"platform": "ROLE_SUPER_ADMIN", "brand": "ROLE_BRAND_ADMIN", "client": "ROLE_COMPANY_ADMIN",
         "user": "ROLE_COMPANY_USER"}


@dataclass(frozen=True)
class Principal:
    level: str
    username: str
    admin_id: int | None = None
    brand_id: int | None = None
    company_id: int | None = None
    user_id: int | None = None
    restricted: bool = False
    on_behalf_of: str | None = None
    timezone: str | None = None  # IANA name: date-times in requests and responses use it
    origin_level: str | None = None  # level of the administrator emulating this principal (spec 5.1.2)
    origin_admin_id: int | None = None  # administrator who logged in at the start of an exchange chain

    @property
    def is_global_operator(self) -> bool:
        """The global operator, directly or emulating a brand or client (spec 5.1.2)."""
        return self.level == "platform" or self.origin_level == "platform"

    def claims(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if v is not None}


def hash_password(password: str) -> str:
    return bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=10)).decode()


def check_password(password: str, hashed: str | None) -> bool:
    if not hashed:
        return False
    try:
        return bcrypt.checkpw(password.encode(), hashed.encode())
    except ValueError:
        return False


class TokenService:
    def __init__(self, secret: str, ttl: int = 3600, refresh_ttl: int = 30 * 24 * 3600) -> None:
        self.secret = secret
        self.ttl = ttl
        self.refresh_ttl = refresh_ttl

    def issue(self, conn: Connection, p: Principal, now: dt.datetime | None = None) -> dict[str, str]:
        now = now or dt.datetime.now(dt.UTC)
        payload = {**p.claims(), "roles": [ROLES[p.level]], "iat": int(now.timestamp()),
                   "exp": int(now.timestamp()) + self.ttl}
        token = jwt.encode(payload, self.secret, algorithm="HS256")
        refresh = secrets.token_hex(64)
        conn.execute(refresh_tokens.insert().values(
            refreshToken=refresh, username=p.username, payload=p.claims(),
            valid=(now + dt.timedelta(seconds=self.refresh_ttl)).replace(tzinfo=None)))
        return {"token": token, "refresh_token": refresh}

    def decode(self, token: str) -> Principal:
        try:
            data = jwt.decode(token, self.secret, algorithms=["HS256"])
        except jwt.ExpiredSignatureError as e:
            raise ApiError(401, "Expired JWT Token") from e
        except jwt.PyJWTError as e:
            raise ApiError(401, "Invalid JWT Token") from e
        fields = {k: data.get(k) for k in Principal.__dataclass_fields__}
        if fields.get("level") not in LEVELS or not fields.get("username"):
            raise ApiError(401, "Invalid JWT Token")
        return Principal(**fields)  # type: ignore[arg-type]

    def refresh(self, conn: Connection, refresh: str) -> dict[str, str]:
        row = conn.execute(select(refresh_tokens).where(refresh_tokens.c.refreshToken == refresh)).first()
        if row is None or row.valid < dt.datetime.now(dt.UTC).replace(tzinfo=None):
            raise ApiError(401, "Invalid refresh token")
        conn.execute(refresh_tokens.delete().where(refresh_tokens.c.id == row.id))
        p = Principal(**{k: row.payload.get(k) for k in Principal.__dataclass_fields__})  # type: ignore[arg-type]
        # the identity must still exist and be active
        _revalidate(conn, p)
        return self.issue(conn, p)


def _revalidate(conn: Connection, p: Principal) -> None:
    for admin_id in {p.admin_id, p.origin_admin_id} - {None}:
        t = ENTITY["Administrator"].table
        row = conn.execute(select(t.c.active).where(t.c.id == admin_id)).first()
        if row is None or not row.active:
            raise ApiError(401, "Invalid refresh token")
    if p.level == "user" and p.user_id is not None:
        t = ENTITY["User"].table
        row = conn.execute(select(t.c.active).where(t.c.id == p.user_id)).first()
        if row is None or not row.active:
            raise ApiError(401, "Invalid refresh token")


def admin_level(row: Any) -> str:
    if row.companyId is not None:
        return "client"
    if row.brandId is not None:
        return "brand"
    return "platform"


def admin_principal(conn: Connection, row: Any) -> Principal:
    level = admin_level(row)
    brand_id = row.brandId
    if level == "client" and brand_id is None:
        c = ENTITY["Company"].table
        brand_id = conn.execute(select(c.c.brandId).where(c.c.id == row.companyId)).scalar()
    return Principal(level=level, username=row.username, admin_id=row.id, brand_id=brand_id,
                     company_id=row.companyId, restricted=bool(row.restricted),
                     timezone=_tz_name(conn, row.timezoneId))


def _tz_name(conn: Connection, tz_id: int | None) -> str | None:
    if tz_id is None:
        return None
    t = ENTITY["Timezone"].table
    return conn.execute(select(t.c.tz).where(t.c.id == tz_id)).scalar()


def login_admin(conn: Connection, level: str, username: str, password: str) -> Principal:
    t = ENTITY["Administrator"].table
    row = conn.execute(select(t).where(t.c.username == username)).first()
    if row is None or not check_password(password, row._mapping["pass"]):
        raise ApiError(401, "Bad credentials.")
    if not row.active:
        raise ApiError(401, "Bad credentials.")
    if admin_level(row) != level:
        raise ApiError(401, "Bad credentials.")
    return admin_principal(conn, row)


def login_user(conn: Connection, email: str, password: str) -> Principal:
    t = ENTITY["User"].table
    row = conn.execute(select(t).where(t.c.email == email)).first()
    if row is None or not row.active or not check_password(password, row._mapping["pass"]):
        raise ApiError(401, "Bad credentials.")
    return user_principal(conn, row)


def user_principal(conn: Connection, row: Any, on_behalf_of: str | None = None) -> Principal:
    c = ENTITY["Company"].table
    crow = conn.execute(select(c.c.brandId, c.c.defaultTimezoneId).where(c.c.id == row.companyId)).first()
    brand_id = crow.brandId if crow else None
    tz = _tz_name(conn, row.timezoneId) or _tz_name(conn, crow.defaultTimezoneId if crow else None)
    return Principal(level="user", username=row.email or f"user{row.id}", user_id=row.id,
                     company_id=row.companyId, brand_id=brand_id, on_behalf_of=on_behalf_of, timezone=tz)


_INTERNAL = {"brand": re.compile(r"__b(\d+)_internal"), "client": re.compile(r"__c(\d+)_internal")}


def exchange(conn: Connection, origin: Principal, target_level: str, *, username: str | None,
             brand_id: int | None, client_id: int | None) -> Principal:
    """A higher-level principal obtains a token of ``target_level`` (spec 5.1.1, IvozProvider's
    ``/token/exchange``).

    The target is an administrator of that level by ``username``, or (brand and client levels)
    the tenant itself by ``brandId``/``clientId`` or IvozProvider's internal administrator
    name ``__b<id>_internal``/``__c<id>_internal``; the id wins when both are given, as in
    IvozProvider. At user level ``username`` is the user's e-mail. A token obtained by
    exchange can be exchanged again, one level down at a time or more: the administrator
    who logged in at the start of the chain (``origin_admin_id``) is the one whose right to
    impersonate is checked, and the new token keeps him (``on_behalf_of``, ``origin_level``).
    """
    if LEVELS.index(origin.level) >= LEVELS.index(target_level):
        raise ApiError(403, f"a {origin.level} token cannot be exchanged for a {target_level} token")
    root = _chain_root(conn, origin)
    by = origin.on_behalf_of or origin.username
    origin_level = origin.origin_level or origin.level
    root_id = root.id if root is not None else None

    def chained(p: Principal) -> Principal:
        return replace(p, on_behalf_of=by, origin_level=origin_level, origin_admin_id=root_id)

    if target_level != "user" and username and (m := _INTERNAL[target_level].fullmatch(username.strip())):
        username = None
        if target_level == "brand":
            brand_id = brand_id if brand_id is not None else int(m.group(1))
        else:
            client_id = client_id if client_id is not None else int(m.group(1))
    tenant_id = brand_id if target_level == "brand" else client_id if target_level == "client" else None
    if tenant_id is None and not username:
        hint = {"brand": "username or brandId", "client": "username or clientId", "user": "username (the user's e-mail)"}
        raise ApiError(400, f"Either {hint[target_level]} must be set", field="username")
    if target_level == "user":
        u = ENTITY["User"].table
        row = conn.execute(select(u).where(u.c.email == username)).first()
        if row is None or not _within(origin, row.companyId, conn):
            raise ApiError(404, "user not found")
        if not row.active:
            raise ApiError(401, "Cannot impersonate inactive user")
        return chained(user_principal(conn, row))
    if tenant_id is None:
        a = ENTITY["Administrator"].table
        row = conn.execute(select(a).where(a.c.username == username)).first()
        if row is None or admin_level(row) != target_level:
            raise ApiError(404, f"{target_level} administrator not found")
        p = admin_principal(conn, row)
        if not _within(origin, p.company_id, conn, brand=p.brand_id):
            raise ApiError(404, f"{target_level} administrator not found")
        if not row.active:
            raise ApiError(401, "Cannot impersonate inactive administrator")
        return chained(p)
    # IvozProvider's internal administrator of the tenant: unrestricted, in the timezone of the
    # administrator who started the chain (UserTimezoneInjector)
    tz = (_tz_name(conn, root.timezoneId) if root is not None else None) or origin.timezone
    if target_level == "brand":
        b = ENTITY["Brand"].table
        if conn.execute(select(b.c.id).where(b.c.id == tenant_id)).first() is None or not _within_brand(origin, tenant_id):
            raise ApiError(404, "brand not found")
        return chained(Principal(level="brand", username=f"__b{tenant_id}_internal", brand_id=tenant_id, timezone=tz))
    c = ENTITY["Company"].table
    crow = conn.execute(select(c.c.id, c.c.brandId).where(c.c.id == tenant_id)).first()
    if crow is None or not _within(origin, crow.id, conn, brand=crow.brandId):
        raise ApiError(404, "client not found")
    return chained(Principal(level="client", username=f"__c{tenant_id}_internal", brand_id=crow.brandId,
                             company_id=tenant_id, timezone=tz))


def _chain_root(conn: Connection, origin: Principal) -> Any:
    """The administrator who logged in at the start of the exchange chain, checked: he must
    still be active and, when restricted, allowed to impersonate (IvozProvider's
    AssertAdministratorCanImpersonate: unrestricted administrators always may). None when
    the chain started with no administrator row (tokens issued before ``origin_admin_id``)."""
    a = ENTITY["Administrator"].table
    q = select(a.c.id, a.c.active, a.c.restricted, a.c.canImpersonate, a.c.timezoneId)
    if origin.origin_admin_id is not None:
        row = conn.execute(q.where(a.c.id == origin.origin_admin_id)).first()
    elif origin.on_behalf_of is None and origin.admin_id is not None:
        row = conn.execute(q.where(a.c.id == origin.admin_id)).first()
    elif origin.on_behalf_of is not None:
        row = conn.execute(q.where(a.c.username == origin.on_behalf_of)).first()
        if row is None:
            return None
    else:
        return None
    if row is None or not row.active:
        raise ApiError(401, "The administrator of this token no longer exists or is disabled")
    if row.restricted and not row.canImpersonate:
        raise ApiError(403, "this administrator is not allowed to impersonate")
    return row


def _within_brand(origin: Principal, brand_id: int) -> bool:
    return origin.level == "platform" or origin.brand_id == brand_id


def _within(origin: Principal, company_id: int | None, conn: Connection, brand: int | None = None) -> bool:
    if origin.level == "platform":
        return True
    if brand is None and company_id is not None:
        c = ENTITY["Company"].table
        brand = conn.execute(select(c.c.brandId).where(c.c.id == company_id)).scalar()
    if origin.level == "brand":
        return brand == origin.brand_id
    if origin.level == "client":
        return company_id == origin.company_id
    return False
