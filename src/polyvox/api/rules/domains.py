"""SIP domains (spec 8.10): rows that follow the brands' and vPBX clients' ``domainUsers``.

IvozProvider services Domain/UpdateByBrand, UpdateByCompany, DeleteByBrand, DeleteByCompany: a
brand's domain serves its retail and residential clients, a vPBX client's domain its terminals
and friends. A domain name is used by one owner only.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.engine import Connection

from polyvox.api.errors import invalid
from polyvox.api.rules._base import table


def sync_domain(conn: Connection, domain: str | None, brand_id: int | None, company_id: int | None,
                owner_name: str) -> None:
    """Create, rename or delete the domain row owned by a brand (``company_id`` None) or a client."""
    d = table("Domain")
    owned = d.c.companyId == company_id if company_id is not None else (d.c.brandId == brand_id) & d.c.companyId.is_(None)
    current = conn.execute(select(d.c.id, d.c.domain).where(owned)).first()
    if not domain:
        if current is not None:
            conn.execute(d.delete().where(d.c.id == current.id))
        return
    other = conn.execute(select(d.c.id).where(d.c.domain == domain)).scalar()
    if other is not None and (current is None or other != current.id):
        raise invalid("domainUsers", f"SIP domain {domain} is already used by another brand or client.")
    description = f"{owner_name} proxyusers domain"
    if current is None:
        conn.execute(d.insert().values(domain=domain, pointsTo="proxyusers", brandId=brand_id, companyId=company_id,
                                       description=description))
    else:
        conn.execute(d.update().where(d.c.id == current.id).values(domain=domain, description=description))


def domain_of_company(conn: Connection, company_id: int | None) -> int | None:
    """The SIP domain of a client's endpoints: its own for a vPBX, its brand's for retail and
    residential clients (IvozProvider Company::sanitizeValues)."""
    if company_id is None:
        return None
    c, d = table("Company"), table("Domain")
    row: Any = conn.execute(select(c.c.type, c.c.brandId).where(c.c.id == company_id)).first()
    if row is None:
        return None
    if row.type == "vpbx":
        q = select(d.c.id).where(d.c.companyId == company_id)
    else:
        q = select(d.c.id).where(d.c.brandId == row.brandId, d.c.companyId.is_(None))
    return conn.execute(q.order_by(d.c.id).limit(1)).scalar()
