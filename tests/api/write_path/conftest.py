"""Helpers of the write-path tests: every row is created through the API with a demo token."""

from __future__ import annotations

import itertools
from typing import Any

import pytest
from sqlalchemy import Engine, select

from polyvox.db.model import ENTITY
from tests.api.conftest import Api
from tests.api.factory import assert_problem

_n = itertools.count(1)


class W:
    """``w.create("/hunt_groups", name=...)`` as the demo client; ``w.refused(...)`` asserts a 400
    naming the field and that the collection did not change."""

    def __init__(self, api: Api, tokens: dict[str, str], db: Engine) -> None:
        self.api, self.tokens, self.db = api, tokens, db

    @staticmethod
    def n() -> int:
        return next(_n)

    def tok(self, level: str) -> str:
        return self.tokens[level]

    def create(self, path: str, level: str = "client", **body: Any) -> dict[str, Any]:
        r = self.api.post(level, path, self.tok(level), body)
        assert r.status_code == 201, f"POST {path} {body}: {r.status_code} {r.text}"
        out: dict[str, Any] = r.json()
        return out

    def update(self, path: str, ident: int, level: str = "client", **body: Any) -> dict[str, Any]:
        r = self.api.put(level, f"{path}/{ident}", self.tok(level), body)
        assert r.status_code == 200, f"PUT {path}/{ident} {body}: {r.status_code} {r.text}"
        out: dict[str, Any] = r.json()
        return out

    def get(self, path: str, ident: int, level: str = "client") -> dict[str, Any] | None:
        r = self.api.get(level, f"{path}/{ident}", self.tok(level))
        if r.status_code == 404:
            return None
        assert r.status_code == 200, r.text
        out: dict[str, Any] = r.json()
        return out

    def delete(self, path: str, ident: int, level: str = "client") -> None:
        r = self.api.delete(level, f"{path}/{ident}", self.tok(level))
        assert r.status_code == 204, f"DELETE {path}/{ident}: {r.status_code} {r.text}"

    def count(self, path: str, level: str = "client") -> int:
        r = self.api.get(level, path, self.tok(level), params={"_itemsPerPage": 1})
        assert r.status_code == 200, r.text
        return int(r.headers["X-Total-Items"])

    def refused(self, path: str, field: str, level: str = "client", ident: int | None = None,
                status: int = 400, **body: Any) -> dict[str, Any]:
        """POST (or PUT ``ident``) is refused naming ``field``; nothing is written."""
        before = self.count(path, level)
        old = self.get(path, ident, level) if ident is not None else None
        if ident is None:
            r = self.api.post(level, path, self.tok(level), body)
        else:
            r = self.api.put(level, f"{path}/{ident}", self.tok(level), body)
        problem = assert_problem(r, field, status)
        assert self.count(path, level) == before
        if ident is not None:
            assert self.get(path, ident, level) == old
        return problem

    def row(self, entity: str, ident: int) -> dict[str, Any] | None:
        """The stored row, for columns the API does not show."""
        t = ENTITY[entity].table
        with self.db.connect() as c:
            r = c.execute(select(t).where(t.c.id == ident)).first()
        return dict(r._mapping) if r is not None else None

    # -- common rows
    def country(self) -> int:
        r = self.api.get("client", "/countries", self.tok("client"), params={"code": "ES"})
        assert r.status_code == 200 and r.json(), r.text
        return int(r.json()[0]["id"])

    def user(self, **body: Any) -> dict[str, Any]:
        n = self.n()
        base = {"name": f"U{n}", "lastname": "Test", "email": f"wp{n}@example.com", "pass": "S3cret-pass",
                "active": True, "doNotDisturb": False, "isBoss": False, "maxCalls": 0, "externalIpCalls": "0",
                "rejectCallMethod": "rfc", "multiContact": True, "gsQRCode": False, "useDefaultLocation": True}
        return self.create("/users", **{**base, **body})

    def extension(self, **body: Any) -> dict[str, Any]:
        return self.create("/extensions", **{"number": str(5000 + self.n()), **body})

    def hunt_group(self, **body: Any) -> dict[str, Any]:
        base = {"name": f"hg{self.n()}", "description": "", "strategy": "ringAll", "ringAllTimeout": 20,
                "preventMissedCalls": 1, "allowCallForwards": 0}
        return self.create("/hunt_groups", **{**base, **body})

    def voicemail(self, **body: Any) -> dict[str, Any]:
        base = {"company": 1, "name": f"vm{self.n()}", "enabled": True, "sendMail": False, "attachSound": False}
        return self.create("/voicemails", **{**base, **body})

    def ivr(self, **body: Any) -> dict[str, Any]:
        base = {"name": f"ivr{self.n()}", "timeout": 5, "maxDigits": 0, "allowExtensions": False}
        return self.create("/ivrs", **{**base, **body})

    def calendar(self) -> dict[str, Any]:
        return self.create("/calendars", name=f"cal{self.n()}")


@pytest.fixture()
def w(api: Api, tokens: dict[str, str], db: Engine) -> W:
    return W(api, tokens, db)
