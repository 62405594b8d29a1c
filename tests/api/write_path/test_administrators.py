"""Administrators (rules.administrators): Administrator sanitizeValues, RemoveAcls and the
privilege rows' AvoidUpdates."""

from __future__ import annotations

from typing import Any

from tests.api.write_path.conftest import W


def admin(w: W, level: str = "brand", **body: Any) -> dict[str, Any]:
    n = w.n()
    return w.create("/administrators", level, **{"username": f"adm{n}", "pass": "S3cret-pass",
                                                   "email": f"adm{n}@example.com", "active": True,
                                                   "restricted": False, "canImpersonate": False, **body})


def test_timezone_from_the_client_or_brand(w: W) -> None:
    a = admin(w, company=1)
    row, company = w.row("Administrator", int(a["id"])), w.row("Company", 1)
    assert row is not None and company is not None
    assert row["timezoneId"] == company["defaultTimezoneId"] and row["brandId"] == company["brandId"]
    b = admin(w, "platform", brand=1)
    row, brand = w.row("Administrator", int(b["id"])), w.row("Brand", 1)
    assert row is not None and brand is not None and row["timezoneId"] == brand["defaultTimezoneId"]


def test_unrestricted_administrator_has_no_privilege_rows(w: W) -> None:
    a = admin(w, company=1, restricted=True)
    from sqlalchemy import func, select

    from polyvox.db.model import ENTITY

    rel = ENTITY["AdministratorRelPublicEntity"].table

    def rows() -> int:
        with w.db.connect() as c:
            return int(c.execute(select(func.count()).select_from(rel).where(rel.c.administratorId == a["id"]))
                       .scalar() or 0)

    assert rows() > 0
    w.update("/administrators", int(a["id"]), "brand", restricted=False)
    assert rows() == 0
