"""proxy-trunks parts that need no Kamailio: settings and rendering of the role, the trunks
repository (outgoing routes, rule sets, DDIs, rating check, limits) on a real database."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, insert, inspect, select

from polyvox.db.cdr import kam_trunks_cdrs
from polyvox.db.model import ENTITY
from polyvox.domain import routing
from polyvox.sip import render
from polyvox.sip.settings import ProxySettings, trunks_from_env
from polyvox.sip.trunks_repository import TrunksRepository
from polyvox.workers.billing import bill_pending
from tests.billing.conftest import Setup, bdb, setup  # noqa: F401 (fixtures)


def add(engine: Engine, entity: str, **values: Any) -> int:
    with engine.begin() as c:
        return int(c.execute(insert(ENTITY[entity].table).values(**values)).inserted_primary_key[0])


def demo_ids(engine: Engine) -> tuple[int, int]:
    c = ENTITY["Company"].table
    with engine.connect() as conn:
        row = conn.execute(select(c.c.id, c.c.brandId).where(c.c.name == "DemoCompany")).one()
    return int(row.brandId), int(row.id)


def test_trunks_settings_default_port_7060_same_address(monkeypatch, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.delenv("POLYVOX_SIP_TRUNKS_PORT", raising=False)
    monkeypatch.delenv("POLYVOX_SIP_USERS_PORT", raising=False)
    monkeypatch.setenv("POLYVOX_SIP_HOST", "10.1.2.3")
    s = trunks_from_env(tmp_path, "sqlite:///x")
    assert (s.name, s.host, s.port, s.users_proxy) == ("proxy-trunks", "10.1.2.3", 7060, "10.1.2.3:5060")
    assert s.rundir == tmp_path / "run" / "proxy-trunks"


def test_render_proxy_trunks(tmp_path: Path) -> None:
    s = ProxySettings(home=tmp_path, database_url="sqlite:///x", name="proxy-trunks", port=7060,
                      users_proxy="127.0.0.1:5060")
    r = render.render(s, nodes=[(1, "udp:127.0.0.1:22222", 1, False)])
    cfg = r.cfg.read_text()
    assert "listen=udp:127.0.0.1:7060" in cfg and 'loadmodule "uac.so"' in cfg
    assert "usrloc" not in cfg and "registrar" not in cfg
    assert '"event_callback", "ksr_dialog_event"' in cfg
    assert "import polyvox.sip.proxy_trunks as _proxy" in r.kemi.read_text()
    assert '"users_proxy": "127.0.0.1:5060"' in r.kemi.read_text()


def test_roles_include_proxy_trunks(monkeypatch, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from polyvox import config
    from polyvox.sip import cli

    if not render.kamailio_binary():
        pytest.skip("kamailio not installed: no SIP roles")
    monkeypatch.setenv("POLYVOX_HOME", str(tmp_path))
    roles, _ = cli.roles(config.load(), "127.0.0.1")
    names = [r.name for r in roles]
    assert "proxy-trunks" in names
    role = next(r for r in roles if r.name == "proxy-trunks")
    assert role.argv[-4:] == ["sip", "proxy-trunks", "--host", "127.0.0.1"]


def test_repository_routes_rules_ddis_rating(db: Engine) -> None:
    brand, company = demo_ids(db)
    rs = add(db, "TransformationRuleSet", brandId=brand, nameEn="out", generateRules=False)
    add(db, "TransformationRule", transformationRuleSetId=rs, type="calleeout", priority=1,
        matchExpr=r"^\+34([0-9]+)$", replaceExpr=r"\1")
    carrier = add(db, "Carrier", brandId=brand, name="c1", transformationRuleSetId=rs)
    add(db, "CarrierServer", brandId=brand, carrierId=carrier, ip="192.0.2.10", port=5070, authNeeded="yes",
        authUser="u", authPassword="p", transport=2, sendPAI=True, sendRPID=False, uriScheme=1)
    carrier2 = add(db, "Carrier", brandId=brand, name="c2")
    pat = add(db, "RoutingPattern", brandId=brand, prefix="+34", nameEn="Spain")
    grp = add(db, "RoutingPatternGroup", brandId=brand, name="Europe")
    add(db, "RoutingPatternGroupsRelPattern", routingPatternGroupId=grp, routingPatternId=pat)
    add(db, "OutgoingRouting", brandId=brand, type="pattern", routingPatternId=pat, priority=1, weight=1,
        routingMode="static", carrierId=carrier, stopper=False)
    lcr = add(db, "OutgoingRouting", brandId=brand, type="group", routingPatternGroupId=grp, priority=2, weight=1,
              routingMode="lcr", stopper=False)
    add(db, "OutgoingRoutingRelCarrier", outgoingRoutingId=lcr, carrierId=carrier2)
    add(db, "Ddi", brandId=brand, companyId=company, ddi="34955000111", ddie164="+34955000111", type="out")
    rpg = add(db, "RatingPlanGroup", brandId=brand, nameEn="rpg")
    drg = add(db, "DestinationRateGroup", brandId=brand, nameEn="drg")
    dest = add(db, "Destination", brandId=brand, prefix="+34", nameEn="es")
    add(db, "DestinationRate", destinationRateGroupId=drg, destinationId=dest, cost=1, connectFee=0,
        rateIncrement="1s", groupIntervalStart="0s")
    add(db, "RatingPlan", ratingPlanGroupId=rpg, destinationRateGroupId=drg, weight=10, timingType="always")
    add(db, "RatingProfile", brandId=brand, companyId=company, ratingPlanGroupId=rpg,
        activationTime=datetime.now(UTC) - timedelta(hours=1))

    repo = TrunksRepository(str(db.url), engine=db)
    repo.begin_request()
    (server,) = repo.carrier_servers(brand)
    assert (server.host, server.port, server.transport, server.auth_needed, server.send_pai) == \
        ("192.0.2.10", 5070, "tcp", True, True)
    assert repo.carrier_server_at("192.0.2.10", 5070) == server
    assert repo.rule_set(rs).apply("calleeout", "+34911234567") == "911234567"
    sel = routing.select_routes(repo.routes(brand), company, "+34911234567")
    assert [r.routing_mode for r in sel.routes] == ["static", "lcr"]
    assert sel.routes[1].carrier_ids == (carrier2,)
    (ddi,) = repo.ddis()
    assert not ddi.inbound and repo.ddi_by_number(brand, "+34955000111") == ddi
    assert repo.can_rate(company, "+34911234567")
    assert not repo.can_rate(company, "+33123456789")
    assert not repo.can_rate(company, "+34911234567", now=datetime.now(UTC) - timedelta(days=1))  # not active yet
    assert repo.limits(brand, company).company_max_calls == 0
    repo.close()


def test_cdr_table_is_in_the_migrated_schema(db: Engine) -> None:
    """Migrations 0001 + 0002 give ``kam_trunks_cdrs`` with ``routingTagId`` and ``bounced``."""
    assert {c["name"] for c in inspect(db).get_columns("kam_trunks_cdrs")} == {c.name for c in kam_trunks_cdrs.c}
    now = datetime.now(UTC)
    with db.begin() as c:
        c.execute(kam_trunks_cdrs.insert().values(callid="x", direction="outbound", startTime=now, endTime=now,
                                                  duration=0))
        assert c.execute(select(kam_trunks_cdrs.c.direction, kam_trunks_cdrs.c.bounced,
                                kam_trunks_cdrs.c.routingTagId)).one() == ("outbound", False, None)


def test_bounced_call_records_are_billed_once(setup: Setup) -> None:  # noqa: F811
    """The two records proxy-trunks writes for a bounced call (docs/sip.md §9.5): the worker
    prices the calling client's outbound one (cost 0, no carrier) and lists the DDI client's
    inbound one without price; ``bounced`` is read from the column."""
    from decimal import Decimal

    from tests.billing.conftest import add as badd

    s = setup
    ddi = badd(s.db, "Ddi", brand=s.brand, company=s.company, ddi="34944000111", ddie164="+34944000111",
               type="inout", routeType="user")
    t0 = datetime(2026, 3, 10, 10, 0, tzinfo=UTC)
    base = {"callid": "bounce-1", "brandId": s.brand, "companyId": s.company, "caller": "+34911000001",
            "callee": "+34944000111", "startTime": t0, "answerTime": t0 + timedelta(seconds=2),
            "endTime": t0 + timedelta(seconds=32), "duration": 30.0, "disconnectCode": 200,
            "disconnectReason": "ended", "bounced": True}
    with s.db.begin() as c:
        c.execute(insert(kam_trunks_cdrs).values(**base, direction="outbound", endpointType="terminal",
                                                 endpointId=s.alice_terminal))
        c.execute(insert(kam_trunks_cdrs).values(**base, direction="inbound", ddiId=ddi))
        # an ordinary inbound call without DDI provider is not taken for a bounced one any more
        c.execute(insert(kam_trunks_cdrs).values(**{**base, "callid": "in-1", "bounced": False},
                                                 direction="inbound", ddiId=ddi))
    result = bill_pending(s.db, t0 + timedelta(minutes=5), send_mail=False)
    assert result.billed == 3
    bc = ENTITY["BillableCall"].table
    with s.db.connect() as c:
        rows = {(r.callid, r.direction): r for r in c.execute(select(bc))}
    out, inb, plain = rows[("bounce-1", "outbound")], rows[("bounce-1", "inbound")], rows[("in-1", "inbound")]
    assert (out.companyId, out.price, out.cost, out.carrierId) == (s.company, Decimal("0.0300"), Decimal("0"), None)
    assert (inb.price, inb.cost, inb.ddiId) == (None, None, ddi)
    assert (plain.price, plain.cost) == (None, None)
