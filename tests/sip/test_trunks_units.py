"""proxy-trunks parts that need no Kamailio: settings and rendering of the role, the trunks
repository (outgoing routes, rule sets, DDIs, rating check, limits) on a real database."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, insert, inspect, select

from polyvox.api.app import create_app
from polyvox.db.cdr import kam_trunks_cdrs
from polyvox.db.model import ENTITY
from polyvox.domain import routing
from polyvox.platform.proxy_settings import ProxySettings, trunks_from_env
from polyvox.sip import render
from polyvox.sip.trunks_repository import TrunksRepository
from polyvox.workers.billing import bill_pending
from tests.api.conftest import SECRET, api  # noqa: F401 (api: fixture of setup)
from tests.billing.conftest import Setup, bdb, setup  # noqa: F401 (fixtures)
from tests.provision import Provisioner
from tests.sip.fixtures_endpoints import api_time, ml


@contextmanager
def provisioner(db: Engine) -> Iterator[Provisioner]:
    """The API over ``db``, driven as the operators drive it (each level with its own token)."""
    with TestClient(create_app(db, SECRET)) as http:
        yield Provisioner(http)


def demo_ids(prov: Provisioner) -> tuple[int, int]:
    company = next(c for c in prov.platform.list("companies") if c["name"] == "DemoCompany")["id"]
    return prov.brand_of(company), int(company)


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
    with provisioner(db) as prov:
        brand, company = demo_ids(prov)

        def add(entity: str, **body: Any) -> int:
            return prov.create(entity, brand=brand, **body)

        rs = add("TransformationRuleSet", name=ml("out"), description="", generateRules=False)
        add("TransformationRule", transformationRuleSet=rs, type="calleeout", priority=1,
            matchExpr=r"^\+34([0-9]+)$", replaceExpr=r"\1", description="")
        carrier = add("Carrier", name="c1", description="", transformationRuleSet=rs)
        add("CarrierServer", carrier=carrier, ip="192.0.2.10", port=5070, authNeeded="yes", authUser="u",
            authPassword="p", transport=2, sendPAI=True, sendRPID=False, uriScheme=1)
        carrier2 = add("Carrier", name="c2", description="", transformationRuleSet=rs)
        add("CarrierServer", carrier=carrier2, ip="192.0.2.11", port=5060, authNeeded="no", transport=1, uriScheme=1)
        pat = add("RoutingPattern", prefix="+34", name=ml("Spain"), description=ml(""))
        grp = add("RoutingPatternGroup", name="Spain and more", description="")
        add("RoutingPatternGroupsRelPattern", routingPatternGroup=grp, routingPattern=pat)
        add("OutgoingRouting", type="pattern", routingPattern=pat, priority=1, weight=1, routingMode="static",
            carrier=carrier, stopper=False, disableDiversion=False)
        add("OutgoingRouting", type="group", routingPatternGroup=grp, priority=2, weight=1, routingMode="lcr",
            carrierIds=[carrier2], stopper=False, disableDiversion=False)
        prov.create("Ddi", company=company, ddi="955000111", type="out", useDdiProviderRoutingTag=False)
        drg = add("DestinationRateGroup", name=ml("drg"), description=ml(""), deductibleConnectionFee=False)
        dest = add("Destination", prefix="+34", name=ml("es"))
        add("DestinationRate", destinationRateGroup=drg, destination=dest, cost="1", connectFee="0",
            rateIncrement="1s", groupIntervalStart="0s")
        rpg = add("RatingPlanGroup", name=ml("rpg"), description=ml(""))
        add("RatingPlan", ratingPlanGroup=rpg, destinationRateGroup=drg, weight=10, timingType="always",
            timeIn="00:00:00")
        add("RatingProfile", company=company, ratingPlanGroup=rpg,
            activationTime=api_time(datetime.now(UTC) - timedelta(hours=1)))

    repo = TrunksRepository(str(db.url), engine=db)
    repo.begin_request()
    server = next(s for s in repo.carrier_servers(brand) if s.carrier_id == carrier)
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

    s = setup
    ddi = s.prov.create("Ddi", company=s.company, ddi="944000111", type="inout", useDdiProviderRoutingTag=False)
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
