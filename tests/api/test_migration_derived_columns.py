"""Migration 0004: rows an earlier Polyvox wrote without their derived columns get them."""

from __future__ import annotations

from sqlalchemy import insert, select

from polyvox.db.engine import make_engine, upgrade
from polyvox.db.model import ENTITY


def test_missing_domains_and_ddi_numbers_are_filled(empty_url: str) -> None:
    upgrade(empty_url, "0003")
    t = {name: ENTITY[name].table for name in ("Country", "Currency", "Language", "Brand", "Company", "Domain",
                                               "Terminal", "RetailAccount", "Ddi")}
    eng = make_engine(empty_url)
    with eng.begin() as c:
        spain = c.execute(select(t["Country"].c.id).where(t["Country"].c.code == "ES")).scalar()
        if spain is None:  # the reference rows are loaded by first start, not by the migrations
            spain = c.execute(insert(t["Country"]).values(code="ES", countryCode="+34", nameEn="Spain")
                              ).inserted_primary_key[0]
        brand = c.execute(insert(t["Brand"]).values(name="OldBrand")).inserted_primary_key[0]
        vpbx = c.execute(insert(t["Company"]).values(name="OldPbx", type="vpbx", brandId=brand, countryId=spain,
                                                     domainUsers="pbx.example.com")).inserted_primary_key[0]
        retail = c.execute(insert(t["Company"]).values(name="OldRetail", type="retail", brandId=brand,
                                                       countryId=spain)).inserted_primary_key[0]
        pbx_domain = c.execute(insert(t["Domain"]).values(domain="pbx.example.com", brandId=brand, companyId=vpbx,
                                                          pointsTo="proxyusers")).inserted_primary_key[0]
        brand_domain = c.execute(insert(t["Domain"]).values(domain="brand.example.com", brandId=brand,
                                                            pointsTo="proxyusers")).inserted_primary_key[0]
        term = c.execute(insert(t["Terminal"]).values(name="old", companyId=vpbx)).inserted_primary_key[0]
        account = c.execute(insert(t["RetailAccount"]).values(name="acc", companyId=retail)
                            ).inserted_primary_key[0]
        ddi = c.execute(insert(t["Ddi"]).values(ddi="944000001", companyId=vpbx)).inserted_primary_key[0]
        kept = c.execute(insert(t["Ddi"]).values(ddi="944000002", companyId=vpbx, countryId=spain, brandId=brand,
                                                 ddie164="+34944000002")).inserted_primary_key[0]
    upgrade(empty_url)
    with eng.connect() as c:
        assert c.execute(select(t["Terminal"].c.domainId).where(t["Terminal"].c.id == term)).scalar() == pbx_domain
        assert c.execute(select(t["RetailAccount"].c.domainId).where(t["RetailAccount"].c.id == account)
                         ).scalar() == brand_domain
        d = t["Ddi"]
        assert tuple(c.execute(select(d.c.ddie164, d.c.countryId, d.c.brandId).where(d.c.id == ddi)).one()) == \
            ("+34944000001", spain, brand)
        assert c.execute(select(d.c.ddie164).where(d.c.id == kept)).scalar() == "+34944000002"
    eng.dispose()
