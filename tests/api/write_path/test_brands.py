"""Brands (rules.brands): BrandService/UpdateByBrand, FeaturesRelBrand guards, application
server and media relay sets of a brand, web portals and brand service codes."""

from __future__ import annotations

from typing import Any

from tests.api.write_path.conftest import W


def new_brand(w: W, **body: Any) -> dict[str, Any]:
    n = w.n()
    return w.create("/brands", "platform", **{"name": f"B{n}", "maxCalls": 0, "language": 1, "defaultTimezone": 1,
                                              "currency": 1, **body})


def _ids(value: Any) -> list[int]:
    return [v["id"] if isinstance(v, dict) else v for v in value]


def test_new_brand_gets_service_codes_and_sets(w: W) -> None:
    b = new_brand(w)
    services = w.api.get("platform", "/services", w.tok("platform"), params={"_pagination": "false"}).json()
    from sqlalchemy import select

    from polyvox.db.model import ENTITY

    bs = ENTITY["BrandService"].table
    with w.db.connect() as conn:
        rows = conn.execute(select(bs.c.serviceId, bs.c.code).where(bs.c.brandId == b["id"])).all()
    assert {r.serviceId for r in rows} == {s["id"] for s in services}
    got = w.get("/brands", b["id"], "platform")
    assert got is not None and _ids(got["applicationServerSets"]) and _ids(got["mediaRelaySets"])


def test_sets_cannot_be_emptied_nor_used_ones_removed(w: W) -> None:
    w.refused("/brands", "applicationServerSets", "platform", ident=1, applicationServerSets=[])
    w.refused("/brands", "mediaRelaySets", "platform", ident=1, mediaRelaySets=[])
    other = w.create("/media_relay_sets", "platform", name=f"mrs{w.n()}")
    # the demo client uses the brand's first media relay set
    w.refused("/brands", "mediaRelaySets", "platform", ident=1, mediaRelaySets=[other["id"]])


def test_features_in_use_stay(w: W) -> None:
    features = {f["iden"]: f["id"] for f in w.api.get("platform", "/features", w.tok("platform"),
                                                      params={"_pagination": "false"}).json()}
    brand = w.get("/brands", 1, "platform")
    assert brand is not None
    current = _ids(brand["features"])
    # the demo client has billing (postpaid); it is given queues
    w.update("/companies", 1, "brand", featureIds=[features["queues"]])
    w.refused("/brands", "features", "platform", ident=1, features=[f for f in current if f != features["billing"]])
    w.refused("/brands", "features", "platform", ident=1, features=[f for f in current if f != features["queues"]])


def test_web_portal_owner(w: W) -> None:
    n = w.n()
    w.refused("/web_portals", "brand", "platform", url=f"https://p{n}.example.com", urlType="brand", name="p",
              color="c", productName="p")
    god = w.create("/web_portals", "platform", url=f"https://g{n}.example.com", urlType="god", name="g", color="c",
                   productName="p", brand=1)
    assert god["brand"] is None


def test_brand_service_code(w: W) -> None:
    svc = w.api.get("brand", "/services", w.tok("brand"), params={"_itemsPerPage": 1}).json()
    w.refused("/brand_services", "code", "brand", service=svc[0]["id"] if svc else 1, code="1a")
