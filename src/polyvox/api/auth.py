"""Authentication: JWT access tokens, refresh tokens, token exchange (portal emulation).

Levels: ``platform`` (global operator), ``brand`` (brand operator), ``client`` (client
operator) and ``user`` (final user). Administrators with neither brand nor company
are platform operators, with a brand only brand operators, with a company client
operators. A higher-level principal obtains a lower-level token with
``/token/exchange`` (spec 5.1.1: emulation); the token remembers on whose behalf.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import ipaddress
import json
import logging
import math
import os
import re
import secrets
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, replace
from functools import cache
from typing import Any

import bcrypt
import jwt
from fastapi.responses import JSONResponse
from sqlalchemy import Engine as SqlEngine
from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Connection

from polyvox.api.errors import ApiError
from polyvox.db.model import ENTITY, TOKEN_VERSION, login_throttle, refresh_tokens

log = logging.getLogger("polyvox.api.auth")

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


@cache
def _dummy_hash() -> str:
    """A hash of the same cost as real ones, checked when the account does not exist, so
    that an unknown name answers as slowly as a wrong password (no user enumeration)."""
    return hash_password(secrets.token_hex(16))


def check_password(password: str, hashed: str | None) -> bool:
    """Whether ``password`` matches ``hashed``; without a hash (unknown account, no password)
    bcrypt still runs, against a dummy hash, and the answer is False."""
    try:
        if not hashed:
            bcrypt.checkpw(password.encode(), _dummy_hash().encode())
            return False
        return bcrypt.checkpw(password.encode(), hashed.encode())
    except ValueError:  # not a bcrypt hash, a password over 72 bytes, text that is not Unicode
        return False


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


# -- token claims

_INT_CLAIMS = ("admin_id", "brand_id", "company_id", "user_id", "origin_admin_id")
_TEXT_CLAIMS = ("username", "on_behalf_of", "timezone", "origin_level")
_VERSION_KEYS = ("admin", "origin", "user")
_MAX_ID = 2**63 - 1


def _bad_token(reason: str, refresh: bool = False) -> ApiError:
    return ApiError(401, f"Invalid refresh token: {reason}" if refresh else f"Invalid JWT Token: {reason}")


def principal_from_claims(data: Any, refresh: bool = False) -> tuple[Principal, dict[str, str]]:
    """The principal and the account token versions a token's claims name, every claim of
    the right type (anything else is a 401 naming the claim, never a 500)."""
    if not isinstance(data, dict):
        raise _bad_token("the payload is not an object", refresh)
    fields: dict[str, Any] = {}
    level = data.get("level")
    if not isinstance(level, str) or level not in LEVELS:
        raise _bad_token("claim 'level' must be one of " + ", ".join(LEVELS), refresh)
    fields["level"] = level
    for name in _TEXT_CLAIMS:
        value = data.get(name)
        if value is not None and (not isinstance(value, str) or not value or len(value) > 255):
            raise _bad_token(f"claim '{name}' must be a non-empty string", refresh)
        fields[name] = value
    if fields["username"] is None:
        raise _bad_token("claim 'username' is missing", refresh)
    if fields["origin_level"] is not None and fields["origin_level"] not in LEVELS:
        raise _bad_token("claim 'origin_level' must be one of " + ", ".join(LEVELS), refresh)
    for name in _INT_CLAIMS:
        value = data.get(name)
        if value is not None and (type(value) is not int or not 0 < value <= _MAX_ID):
            raise _bad_token(f"claim '{name}' must be a positive integer", refresh)
        fields[name] = value
    restricted = data.get("restricted", False)
    if type(restricted) is not bool:
        raise _bad_token("claim 'restricted' must be a boolean", refresh)
    fields["restricted"] = restricted
    ver = data.get("ver")
    if not isinstance(ver, dict) or not ver or any(
            k not in _VERSION_KEYS or not isinstance(v, str) or len(v) > 64 for k, v in ver.items()):
        raise _bad_token("claim 'ver' (the account's token version) is missing or malformed", refresh)
    return Principal(**fields), dict(ver)


def _accounts(p: Principal) -> list[tuple[str, str, int]]:
    """(version key, entity, id) of every account a token of ``p`` stands on: the logged-in
    or impersonated administrator, the administrator who started an exchange chain, the user."""
    out = []
    if p.admin_id is not None:
        out.append(("admin", "Administrator", p.admin_id))
    if p.origin_admin_id is not None and p.origin_admin_id != p.admin_id:
        out.append(("origin", "Administrator", p.origin_admin_id))
    if p.user_id is not None:
        out.append(("user", "User", p.user_id))
    return out


def token_versions(conn: Connection, p: Principal) -> dict[str, str]:
    """The current token versions of the accounts of ``p``, to put in its tokens."""
    out = {}
    for key, entity, ident in _accounts(p):
        t = ENTITY[entity].table
        version = conn.execute(select(t.c[TOKEN_VERSION]).where(t.c.id == ident)).scalar()
        if version is not None:
            out[key] = version
    return out


def check_versions(conn: Connection, p: Principal, ver: dict[str, str], refresh: bool = False) -> None:
    """Every account of the token still exists, is active and has the token version the token
    was issued with: a deleted, deactivated or re-passworded account's tokens are dead, and a
    new account that got the same id has another version."""
    accounts = _accounts(p)
    if not accounts:
        raise _bad_token("the token names no account", refresh)
    for key, entity, ident in accounts:
        t = ENTITY[entity].table
        row = conn.execute(select(t.c.active, t.c[TOKEN_VERSION]).where(t.c.id == ident)).first()
        version = ver.get(key)
        if row is None or not row.active or version is None or row[1] is None or \
                not secrets.compare_digest(str(row[1]), version):
            raise ApiError(401, "Revoked token: its account was deleted or disabled or changed its password"
                           if not refresh else "Invalid refresh token: its account was deleted or disabled "
                           "or changed its password")


# -- login throttling


class TooManyAttempts(ApiError):
    """429 with Retry-After (RFC 6585), as problem+json."""

    def __init__(self, detail: str, retry_after: int) -> None:
        super().__init__(429, detail)
        self.retry_after = max(1, retry_after)

    def response(self) -> JSONResponse:
        r = super().response()
        body = json.loads(bytes(r.body))
        body["title"] = "Too Many Requests"
        return JSONResponse(body, status_code=429, media_type="application/problem+json",
                            headers={"Retry-After": str(self.retry_after)})


def _env_int(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name)
    if raw in (None, ""):
        return default
    try:
        value = int(raw)
    except ValueError as e:
        raise ValueError(f"{name} must be an integer, not {raw!r}") from e
    if value < 0:
        raise ValueError(f"{name} must not be negative")
    return value


@dataclass
class LoginThrottle:
    """Failed logins counted per account name and per client address, in the database so that
    every API process of an installation shares them. ``max_failures`` failures of one name
    (``address_max_failures`` from one address) within ``window`` seconds lock further logins
    of that name (from that address) for ``lockout`` seconds: 429 with Retry-After, without
    checking the password. A limit of 0 turns that counter off. A successful login clears the
    name's counter (not the address's: one good account must not reset a guessing address)."""

    max_failures: int = 5
    address_max_failures: int = 20
    window: int = 900
    lockout: int = 900
    clock: Callable[[], dt.datetime] = _utcnow

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> LoginThrottle:
        env = os.environ if env is None else env
        d = cls()
        return cls(max_failures=_env_int(env, "POLYVOX_LOGIN_MAX_FAILURES", d.max_failures),
                   address_max_failures=_env_int(env, "POLYVOX_LOGIN_ADDRESS_MAX_FAILURES", d.address_max_failures),
                   window=_env_int(env, "POLYVOX_LOGIN_WINDOW", d.window),
                   lockout=_env_int(env, "POLYVOX_LOGIN_LOCKOUT", d.lockout))

    def subjects(self, level: str, name: str, address: str | None) -> list[tuple[str, str, int]]:
        """(scope, subject, limit) counted for one attempt. Administrators of every level
        share one name space (their usernames are unique), users have theirs (e-mails)."""
        kind = "user" if level == "user" else "admin"
        account = f"{kind}:{name}"
        if len(account) > 255:
            account = f"{kind}:sha256:{hashlib.sha256(name.encode()).hexdigest()}"
        out = [("account", account, self.max_failures)]
        if address:
            out.append(("address", _address_subject(address), self.address_max_failures))
        return [s for s in out if s[2] > 0]

    def attempt(self, conn: Connection, subjects: list[tuple[str, str, int]]) -> None:
        """Count an attempt before the password is checked (so that parallel attempts cannot
        overrun the limit), or refuse it with 429 when a subject is locked or has used its
        allowance."""
        now = self.clock()
        rows = [self._row(conn, scope, subject, now) for scope, subject, _limit in subjects]
        for (scope, _subject, limit), row in zip(subjects, rows, strict=True):
            what = "this account" if scope == "account" else "this address"
            if row.lockedUntil is not None and row.lockedUntil > now:
                raise TooManyAttempts(f"Too many failed logins for {what}; try again later.",
                                      _seconds(row.lockedUntil - now))
            if row.windowStart + dt.timedelta(seconds=self.window) > now and row.failures >= limit:
                raise TooManyAttempts(f"Too many failed logins for {what}; try again later.",
                                      _seconds(row.windowStart + dt.timedelta(seconds=self.window) - now))
        t = login_throttle
        for (scope, subject, _limit), row in zip(subjects, rows, strict=True):
            fresh = row.windowStart + dt.timedelta(seconds=self.window) <= now
            conn.execute(update(t).where(t.c.scope == scope, t.c.subject == subject).values(
                failures=1 if fresh else t.c.failures + 1, windowStart=now if fresh else row.windowStart,
                lockedUntil=None))

    def failed(self, conn: Connection, subjects: list[tuple[str, str, int]]) -> None:
        """The attempt failed: it stays counted; a subject at its limit is locked out."""
        now = self.clock()
        t = login_throttle
        for scope, subject, limit in subjects:
            row = self._row(conn, scope, subject, now)
            if row.failures >= limit:
                log.warning("login: %s %s locked for %d s after %d failed attempts", scope, subject,
                            self.lockout, row.failures)
                conn.execute(update(t).where(t.c.id == row.id).values(
                    failures=0, windowStart=now, lockedUntil=now + dt.timedelta(seconds=self.lockout)))

    def succeeded(self, conn: Connection, subjects: list[tuple[str, str, int]]) -> None:
        """The attempt succeeded: the account starts afresh; the address's count loses this
        attempt only."""
        t = login_throttle
        for scope, subject, _limit in subjects:
            if scope == "account":
                conn.execute(t.delete().where(t.c.scope == scope, t.c.subject == subject))
            else:
                self.release(conn, [(scope, subject, _limit)])

    def release(self, conn: Connection, subjects: list[tuple[str, str, int]]) -> None:
        """The attempt ended without a verdict on the password (an error): uncount it."""
        t = login_throttle
        for scope, subject, _limit in subjects:
            conn.execute(update(t).where(t.c.scope == scope, t.c.subject == subject, t.c.failures > 0)
                         .values(failures=t.c.failures - 1))

    @staticmethod
    def _row(conn: Connection, scope: str, subject: str, now: dt.datetime) -> Any:
        t = login_throttle
        insert = pg_insert if conn.dialect.name == "postgresql" else sqlite_insert
        conn.execute(insert(t).values(scope=scope, subject=subject, failures=0, windowStart=now)
                     .on_conflict_do_nothing(index_elements=["scope", "subject"]))
        return conn.execute(select(t).where(t.c.scope == scope, t.c.subject == subject).with_for_update()).one()


def clear_login_failures(conn: Connection, level: str, name: str) -> None:
    """Lift the lockout of one account name (``polyvox admin password`` does, with the new
    password). Address counters are left as they are."""
    subject = LoginThrottle().subjects(level, name, None)[0][1]
    conn.execute(login_throttle.delete().where(login_throttle.c.scope == "account",
                                               login_throttle.c.subject == subject))


def _seconds(delta: dt.timedelta) -> int:
    return max(1, math.ceil(delta.total_seconds()))


def _address_subject(address: str) -> str:
    """An IPv4 address, or the /64 of an IPv6 address (one host's usual allocation)."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address[:255]
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.ip_network(f"{ip}/64", strict=False))
    return str(ip)


def _text(value: str, field: str) -> str:
    try:
        value.encode()
    except UnicodeEncodeError as e:
        raise ApiError(400, "This value is not valid Unicode text.", field=field) from e
    return value


# -- tokens


class TokenService:
    """Issues and checks tokens. With ``db`` (the API's), every decoded token is checked
    against its accounts' token versions, and ``login`` throttles failed logins."""

    def __init__(self, secret: str, ttl: int = 3600, refresh_ttl: int = 30 * 24 * 3600,
                 db: SqlEngine | None = None, throttle: LoginThrottle | None = None) -> None:
        self.secret = secret
        self.ttl = ttl
        self.refresh_ttl = refresh_ttl
        self.db = db
        self.throttle = throttle if throttle is not None else LoginThrottle.from_env()

    def issue(self, conn: Connection, p: Principal, now: dt.datetime | None = None) -> dict[str, str]:
        now = now or dt.datetime.now(dt.UTC)
        ver = token_versions(conn, p)
        payload = {**p.claims(), "ver": ver, "roles": [ROLES[p.level]], "iat": int(now.timestamp()),
                   "exp": int(now.timestamp()) + self.ttl}
        token = jwt.encode(payload, self.secret, algorithm="HS256")
        refresh = secrets.token_hex(64)
        conn.execute(refresh_tokens.insert().values(
            refreshToken=refresh, username=p.username, payload={**p.claims(), "ver": ver},
            valid=(now + dt.timedelta(seconds=self.refresh_ttl)).replace(tzinfo=None)))
        return {"token": token, "refresh_token": refresh}

    def verify(self, token: str) -> tuple[Principal, dict[str, str]]:
        """Signature, expiry and claims of a JWT, without the database."""
        try:
            data = jwt.decode(token, self.secret, algorithms=["HS256"], options={"require": ["exp", "iat"]})
        except jwt.ExpiredSignatureError as e:
            raise ApiError(401, "Expired JWT Token") from e
        except jwt.PyJWTError as e:
            raise _bad_token(str(e) or type(e).__name__) from e
        except (ValueError, TypeError, RecursionError) as e:  # text that is not Unicode, absurd nesting
            raise _bad_token("the token is not readable") from e
        return principal_from_claims(data)

    def decode(self, token: str) -> Principal:
        p, ver = self.verify(token)
        if self.db is not None:
            with self.db.connect() as conn:
                check_versions(conn, p, ver)
        return p

    def refresh(self, conn: Connection, refresh: str) -> dict[str, str]:
        if not isinstance(refresh, str) or len(refresh) > 128:
            raise ApiError(401, "Invalid refresh token")
        _text(refresh, "refresh_token")
        row = conn.execute(select(refresh_tokens).where(refresh_tokens.c.refreshToken == refresh)).first()
        if row is None or row.valid < _utcnow():
            raise ApiError(401, "Invalid refresh token")
        conn.execute(refresh_tokens.delete().where(refresh_tokens.c.id == row.id))
        p, ver = principal_from_claims(row.payload, refresh=True)
        check_versions(conn, p, ver, refresh=True)
        return self.issue(conn, p)

    def login(self, level: str, name: str, password: str, address: str | None) -> dict[str, str]:
        """A login at ``level`` (administrator username, or user e-mail at level ``user``), with
        throttling: the attempt is counted, checked and recorded in transactions of its own, as
        the failed login's own transaction is rolled back."""
        assert self.db is not None, "TokenService.login needs the database"
        _text(name, "email" if level == "user" else "username")
        _text(password, "password")
        subjects = self.throttle.subjects(level, name, address)
        with self.db.begin() as conn:
            self.throttle.attempt(conn, subjects)
        try:
            with self.db.begin() as conn:
                p = login_user(conn, name, password) if level == "user" else login_admin(conn, level, name, password)
                issued = self.issue(conn, p)
        except ApiError as e:
            with self.db.begin() as conn:
                if e.status == 401:
                    self.throttle.failed(conn, subjects)
                else:
                    self.throttle.release(conn, subjects)
            raise
        except BaseException:
            with self.db.begin() as conn:
                self.throttle.release(conn, subjects)
            raise
        with self.db.begin() as conn:
            self.throttle.succeeded(conn, subjects)
        return issued


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
    # bcrypt runs whatever the account: unknown names answer as slowly as wrong passwords
    matches = check_password(password, row._mapping["pass"] if row is not None else None)
    if row is None or not matches or not row.active or admin_level(row) != level:
        raise ApiError(401, "Bad credentials.")
    return admin_principal(conn, row)


def login_user(conn: Connection, email: str, password: str) -> Principal:
    t = ENTITY["User"].table
    row = conn.execute(select(t).where(t.c.email == email)).first()
    matches = check_password(password, row._mapping["pass"] if row is not None else None)
    if row is None or not matches or not row.active:
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
