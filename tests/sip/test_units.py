"""Pure parts of the SIP edge (no Kamailio needed): application-server ordering, NG bencode,
rendering, and the repository's version-based cache invalidation."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select

from polyvox.api.app import create_app
from polyvox.api.seeding import USERS as DEMO_USERS
from polyvox.db.model import ENTITY
from polyvox.domain.addresses import parse_host_port
from polyvox.media.ng import bdecode, bencode, parse_url
from polyvox.media.rtpengine import RtpengineSettings, argv
from polyvox.platform.proxy_settings import ProxySettings
from polyvox.sip import dispatch, render
from polyvox.sip.dispatch import AppServer, order_servers
from polyvox.sip.repository import Repository
from tests.provision import Provisioner
from tests.sip.fixtures_endpoints import client_body

S = [AppServer(1, "a", "10.0.0.1", 6060), AppServer(2, "b", "10.0.0.2", 6060), AppServer(3, "c", "10.0.0.3", 6061)]


@pytest.mark.parametrize(("value", "expected"), [
    ("10.0.0.1", ("10.0.0.1", 6060)),
    ("10.0.0.1:6070", ("10.0.0.1", 6070)),
    ("[2001:db8::1]:6070", ("2001:db8::1", 6070)),
    ("[2001:db8::1]", ("2001:db8::1", 6060)),
    ("2001:db8::1", ("2001:db8::1", 6060)),
    ("as1.example.com", ("as1.example.com", 6060)),
])
def test_parse_host_port(value: str, expected: tuple[str, int]) -> None:
    assert parse_host_port(value, 6060) == expected


def test_static_starts_at_first_and_fails_over_in_order() -> None:
    assert [s.id for s in order_servers(S, "static", 7, 0)] == [1, 2, 3]
    assert [s.id for s in order_servers(S, "static", 7, 0, down=["10.0.0.1:6060"])] == [2, 3]


def test_round_robin_rotates_with_counter() -> None:
    assert [order_servers(S, "rr", 1, c)[0].id for c in range(6)] == [1, 2, 3, 1, 2, 3]
    assert [s.id for s in order_servers(S, "rr", 1, 1)] == [2, 3, 1]


def test_hash_is_stable_per_client_and_keeps_client_when_another_server_fails() -> None:
    for company in range(1, 50):
        first = order_servers(S, "hash", company, 0)
        assert first == order_servers(S, "hash", company, 99)  # counter ignored
        other = next(s for s in S if s != first[0])
        assert order_servers(S, "hash", company, 0, down=[other.key])[0] == first[0]
        assert order_servers(S, "hash", company, 0, down=[first[0].key])[0] == first[1]
    starts = {order_servers(S, "hash", c, 0)[0].id for c in range(1, 50)}
    assert starts == {1, 2, 3}  # clients spread over the set


def test_all_down_tries_everything() -> None:
    assert len(order_servers(S, "hash", 1, 0, down=[s.key for s in S])) == 3
    assert order_servers([], "hash", 1, 0) == []


def test_endpoint_id_and_headers() -> None:
    assert dispatch.endpoint_id(1, 2, "terminal", 3, "alice") == "b1c2t3_alice"
    hdrs = dict(dispatch.info_headers(brand_id=1, company_id=2, company_type="vpbx", kind="terminal", ident=3,
                                      name="alice", user_id=None, media_relay_set_id=4))
    assert hdrs == {"X-Info-BrandId": "1", "X-Info-CompanyId": "2", "X-Info-Type": "vpbx",
                    "X-Info-Endpoint": "b1c2t3_alice", "X-Info-EndpointType": "terminal", "X-Info-EndpointId": "3",
                    "X-Info-MediaRelaySetId": "4"}


def test_bencode_round_trip() -> None:
    value = {"command": "offer", "flags": ["trust-address", "ICE=remove"], "n": 3, "sdp": "v=0\r\n",
             "nested": {"b": [1, "x"]}}
    raw = bencode(value)
    assert raw.startswith(b"d7:command5:offer")
    assert bdecode(raw) == value
    assert bencode({"b": 1, "a": 2}) == b"d1:ai2e1:bi1ee"  # keys sorted
    with pytest.raises(ValueError):
        bdecode(b"i1ee")


def test_ng_url_and_rtpengine_argv() -> None:
    assert parse_url("udp:127.0.0.1:22222") == ("127.0.0.1", 22222)
    assert parse_url("udp6:[::1]:2223") == ("::1", 2223)
    args = argv(RtpengineSettings(interface="10.0.0.5", ng_listen="127.0.0.1:2300", port_min=1000, port_max=2000))
    assert "--table=-1" in args and "--interface=10.0.0.5" in args and "--listen-ng=127.0.0.1:2300" in args
    assert "--foreground" in args and "--port-min=1000" in args


def test_rtpengine_table_escaping(tmp_path: Path) -> None:
    assert render.write_rtpengine_table(tmp_path, [(2, "udp:10.0.0.1:22222", 1, False), (1, "udp:b:1", 3, True)])
    text = (tmp_path / "rtpengine").read_text().splitlines()
    assert text == ["setid(int) url(str) weight(int) disabled(int) stamp(int)", "1:udp\\:b\\:1:3:1:0",
                    "2:udp\\:10.0.0.1\\:22222:1:0:0"]
    assert (tmp_path / "version").read_text().endswith("rtpengine:1\n")
    assert not render.write_rtpengine_table(tmp_path, [(1, "udp:b:1", 3, True), (2, "udp:10.0.0.1:22222", 1, False)])


def test_render(tmp_path: Path) -> None:
    s = ProxySettings(home=tmp_path, database_url="sqlite:///x.db", host="10.1.2.3", port=5070,
                      advertise="203.0.113.9", children=3)
    r = render.render(s, nodes=[(1, "udp:127.0.0.1:22222", 1, False)])
    cfg = r.cfg.read_text()
    assert "listen=udp:10.1.2.3:5070 advertise 203.0.113.9:5070" in cfg
    assert "listen=tcp:10.1.2.3:5070 advertise 203.0.113.9:5070" in cfg
    assert "children=3" in cfg and "{{" not in cfg
    assert 'modparam("rtpengine", "setid_default", 1)' in cfg
    compile(r.kemi.read_text(), str(r.kemi), "exec")  # valid Python for the embedded interpreter
    assert "polyvox.sip.proxy_users" in r.kemi.read_text()
    assert r.argv[1:4] == ["-f", str(r.cfg), "-DD"] and "-Y" in r.argv


ALICE_PW = next(pw for _n, _e, _x, terminal, pw, _w in DEMO_USERS if terminal == "alice")
NAMES = ("en", "es", "ca", "it", "eu")


@pytest.fixture()
def prov(db: Engine) -> Iterator[Provisioner]:
    """The API over the test's database: the rows the repository reads are written by it, each
    level with its own token."""
    with TestClient(create_app(db, "sip-units-jwt-secret-0123456789abcdef")) as http:
        yield Provisioner(http)


def new_client(prov: Provisioner, brand: int, kind: str, name: str, **fields: Any) -> int:
    """A client created by the brand operator (DemoCompany's sets and regional settings)."""
    return int(prov.brand(brand).post("companies", client_body(prov, brand, kind, name, **fields))["id"])


def demo_company(db: Engine) -> dict[str, Any]:
    c = ENTITY["Company"].table
    with db.connect() as conn:
        return dict(conn.execute(select(c.c.id, c.c.brandId).where(c.c.name == "DemoCompany")).one()._mapping)


def test_repository_reads_demo_data_and_invalidates_on_version(db: Engine, prov: Provisioner) -> None:
    repo = Repository(str(db.url), engine=db)
    repo.begin_request()
    dom = repo.domain("127.0.0.1")
    assert dom is not None and dom.company_id
    alice = repo.terminal(dom.id, "alice")
    assert alice is not None and alice.password == ALICE_PW and alice.user_id and alice.multi_contact
    assert repo.terminal(dom.id, "nobody") is None
    assert repo.domain("UNKNOWN.example") is None
    company = repo.company(alice.company_id)
    assert company is not None and company.type == "vpbx" and company.distribute_method == "hash"
    servers = repo.application_servers(company.application_server_set_id)
    assert [(s.host, s.port) for s in servers] == [("127.0.0.1", 6060)]
    assert repo.application_server_at("127.0.0.1", 6060) == servers[0]
    assert repo.application_server_at("127.0.0.1", 5060) is None
    assert repo.rtpengine_nodes() == [(company.media_relay_set_id, "udp:127.0.0.1:22222", 1, False)]

    queries = repo.stats["queries"]
    repo.begin_request()
    assert repo.terminal(dom.id, "alice") == alice  # cached
    assert repo.stats["queries"] == queries

    prov.update("Terminal", alice.id, owner={"company": alice.company_id}, password="CHANGEDpwd+123")
    # the request under way keeps the rows it started with; the next one sees the new version
    assert repo.terminal(dom.id, "alice").password == ALICE_PW  # type: ignore[union-attr]
    repo.begin_request()
    assert repo.terminal(dom.id, "alice").password == "CHANGEDpwd+123"  # type: ignore[union-attr]
    assert repo.stats["invalidations"] == 1
    repo.close()


def test_repository_version_check_interval(db: Engine) -> None:
    now = [100.0]
    repo = Repository(str(db.url), engine=db, check_interval=1.0, clock=lambda: now[0])
    repo.begin_request()
    repo.begin_request()
    now[0] += 0.5
    repo.begin_request()
    assert repo.stats["version_reads"] == 1
    now[0] += 0.6
    repo.begin_request()
    assert repo.stats["version_reads"] == 2
    repo.close()


# ----------------------------------------------------------------- issue 4: numbering, filters, forwards
def test_geoip_lookup() -> None:
    from polyvox.sip.repository import GeoIP

    g = GeoIP(local="127.0.0.0/8=es, 10.1.0.0/16=FR, garbage")
    assert g.country("127.0.0.8") == "ES" and g.country("10.1.2.3") == "FR"
    assert g.country("not-an-ip") is None
    if not g.available:
        pytest.skip("Debian package geoip-database (libgeoip1) not installed")
    assert g.country("8.8.8.8") == "US"
    assert g.country("10.2.0.1") is None  # private, unknown to the database


def test_repository_features_lookups(db: Engine, prov: Provisioner) -> None:
    demo = demo_company(db)
    prov.platform.put(f"brands/{demo['brandId']}", {"domainUsers": "units.example"})  # retail endpoints' domain
    brand = prov.brand(demo["brandId"])
    rs = brand.post("transformation_rule_sets", {"name": {k: "u" for k in NAMES}, "description": "u",
                                                 "generateRules": False})["id"]
    brand.post("transformation_rules", {"transformationRuleSet": rs, "type": "calleein", "priority": 1,
                                        "matchExpr": r"^0([0-9]+)$", "replaceExpr": r"+34\1", "description": ""})
    es = next(c["id"] for c in brand.list("countries") if c["code"] == "ES")
    pcma = next(c["id"] for c in brand.list("codecs") if c["iden"] == "PCMA")
    company = new_client(prov, demo["brandId"], "retail", "R-units", ipfilter=True, geoIpAllowedCountries=[es],
                         codecIds=[pcma])
    brand.post("users_addresses", {"company": company, "sourceAddress": "192.0.2.0/24", "description": ""})
    ra = prov.create("RetailAccount", company=company, name="ra1", password="RETail+123", description="",
                     directConnectivity="no", ddiIn="yes", multiContact=True, rtpEncryption=False,
                     t38Passthrough="no")
    # retail accounts forward unconditionally or when not registered (IvozProvider CallForwardSetting)
    for kind, enabled, number in (("inconditional", True, "600"), ("userNotRegistered", False, "700"),
                                  ("userNotRegistered", True, "600")):
        prov.create("CallForwardSetting", company=company, retailAccount=ra, callForwardType=kind, enabled=enabled,
                    callTypeFilter="both", targetType="number", numberValue=number, numberCountry=es,
                    noAnswerTimeout=0)
    repo = Repository(str(db.url), engine=db)
    repo.begin_request()
    assert repo.rule_set(rs).apply("calleein", "0911") == "+34911"
    assert repo.rule_set(None) is None
    comp = repo.company(company)
    assert comp is not None and comp.ipfilter
    flt = repo.ip_filter(comp)
    assert flt.enabled and flt.countries == frozenset({"ES"}) and [str(n) for n in flt.ranges] == ["192.0.2.0/24"]
    assert [(f.type, f.number) for f in repo.call_forwards(ra)] == [("inconditional", "600"), ("unreachable", "600")]
    assert repo.company_codecs(company) == ("PCMA",)
    # ban rows are proxy-users' own runtime state, written by the repository
    repo.ban(ip="192.0.2.9", aor="a@b", blocker="antibruteforce", description="x", brand_id=demo["brandId"])
    repo.ban(ip="192.0.2.9", aor="a@b", blocker="antibruteforce", description="again", brand_id=demo["brandId"])
    b = ENTITY["BannedAddress"].table
    with db.connect() as c:
        rows = c.execute(select(b.c.description, b.c.lastTimeBanned).where(b.c.ip == "192.0.2.9")).all()
    assert len(rows) == 1 and rows[0].description == "again" and rows[0].lastTimeBanned is not None
    repo.close()


def test_render_tls_ws_and_natping(tmp_path: Path) -> None:
    from polyvox.platform.proxy_settings import from_env, trunks_from_env
    from polyvox.sip import tls

    s = ProxySettings(home=tmp_path, database_url="sqlite://", port=5070, tls_port=5071, ws_port=10090,
                      wss_port=10091, natping_interval=15)
    cfg = render.render(s, nodes=[(1, "udp:127.0.0.1:22222", 1, False)]).cfg.read_text()
    for line in ("listen=tls:127.0.0.1:5071", "listen=tcp:127.0.0.1:10090", "listen=tls:127.0.0.1:10091",
                 "enable_tls=yes", 'loadmodule "websocket.so"', 'modparam("nathelper", "natping_interval", 15)'):
        assert line in cfg
    crt, key = tls.default_paths(tmp_path)
    assert crt.is_file() and key.is_file() and oct(key.stat().st_mode)[-3:] == "600"
    assert f"certificate = {crt}" in (s.rundir / "tls.cfg").read_text()
    plain = render.render(s.with_(tls_port=0, ws_port=0, wss_port=0), nodes=[]).cfg.read_text()
    assert "tls.so" not in plain and "enable_tls" not in plain and "websocket" not in plain
    with pytest.raises(tls.TlsError):
        tls.ensure_certificate(tmp_path, "127.0.0.1", cert=str(tmp_path / "missing.crt"), key=str(key))
    # a configured certificate that does not exist: TLS/WSS left out (warning), UDP/TCP/WS still start
    broken = render.render(s.with_(tls_cert=str(tmp_path / "missing.crt"), tls_key=str(key)), nodes=[]).cfg.read_text()
    assert "enable_tls" not in broken and "listen=tls:" not in broken and "listen=tcp:127.0.0.1:10090" in broken
    users = from_env(tmp_path, "sqlite://")
    assert (users.tls_port, users.ws_port, users.wss_port, users.natping_interval) == (5061, 10080, 10081, 30)
    trunks = trunks_from_env(tmp_path, "sqlite://")
    assert (trunks.tls_port, trunks.ws_port, trunks.wss_port, trunks.natping_interval) == (0, 0, 0, 0)


def test_trusted_rule_matching() -> None:
    from polyvox.sip.repository import TrustedRule, pick_trusted

    plain = TrustedRule(1, 10, "192.0.2.1")
    assert plain.matches("udp", "sip:a@x", "sip:b@y") and plain.matches("tls", "", "")
    tcp = TrustedRule(2, 11, "192.0.2.1", proto="TCP", from_pattern=r"@trunk\.example$", ruri_pattern=r"^sip:\+34")
    assert tcp.matches("tcp", "sip:+3491@trunk.example", "sip:+34911@x")
    assert not tcp.matches("udp", "sip:+3491@trunk.example", "sip:+34911@x")  # transport
    assert not tcp.matches("tcp", "sip:+3491@other.example", "sip:+34911@x")  # From pattern
    assert not tcp.matches("tcp", "sip:+3491@trunk.example", "sip:+44911@x")  # R-URI pattern
    assert not TrustedRule(3, 12, "192.0.2.1", from_pattern="([").matches("udp", "sip:a@x", "")  # invalid regex
    assert TrustedRule(4, 13, "192.0.2.1", proto="any").matches("ws", "", "")
    # higher priority first, then id
    vip = TrustedRule(5, 14, "192.0.2.1", from_pattern="^sip:vip", priority=10)
    assert pick_trusted([plain, vip], "udp", "sip:vip1@x", "sip:1@y") == vip
    assert pick_trusted([plain, vip], "udp", "sip:other@x", "sip:1@y") == plain
    assert pick_trusted([tcp], "udp", "sip:a@x", "sip:1@y") is None


def test_repository_trusted_ddis_inter_vpbx_and_ban_rows(db: Engine, prov: Provisioner) -> None:
    demo = demo_company(db)
    brand = prov.brand(demo["brandId"])
    ws = new_client(prov, demo["brandId"], "wholesale", "W")
    other = new_client(prov, demo["brandId"], "vpbx", "V2", domainUsers="v2.example")
    brand.post("trusteds", {"company": ws, "srcIp": "192.0.2.50", "proto": "udp", "fromPattern": "@t$", "priority": 0,
                            "description": ""})
    brand.post("trusteds", {"company": demo["id"], "srcIp": "192.0.2.50", "priority": 0,
                            "description": ""})  # not wholesale: ignored
    es = next(c["id"] for c in brand.list("countries") if c["code"] == "ES")
    d1 = prov.create("Ddi", brand=demo["brandId"], company=demo["id"], ddi="944111222", country=es, type="inout",
                     useDdiProviderRoutingTag=False)  # the API derives +34944111222
    # an inter-vPBX friend: no password; its name, its From domain (the other client's SIP domain)
    # and its twin in the other client are derived (IvozProvider Friend)
    prov.create("Friend", company=demo["id"], name="ignored", interCompany=other, directConnectivity="intervpbx",
                description="", priority=1)
    back = next(f for f in prov.client(other).list("friends"))
    name = f"InterCompany{min(demo['id'], other)}_{max(demo['id'], other)}"
    assert back["name"] == name
    repo = Repository(str(db.url), engine=db)
    repo.begin_request()
    w = repo.wholesale_at("192.0.2.50", "udp", "sip:a@t", "sip:1@x")
    assert w is not None and w.id == ws
    assert repo.wholesale_at("192.0.2.50", "tcp", "sip:a@t", "sip:1@x") is None
    assert repo.wholesale_at("192.0.2.50", "udp", "sip:a@u", "sip:1@x") is None
    assert repo.ddi_id(demo["id"], "+34944111222") == d1 and repo.ddi_id(demo["id"], "+34944111223") is None
    dom = repo.domain("127.0.0.1")
    assert dom is not None
    friend = repo.endpoint(dom, name)
    assert friend is not None and (friend.connectivity, friend.inter_company_id, friend.from_domain) == (
        "intervpbx", other, "v2.example") and not friend.direct
    peer = repo.inter_vpbx_peer(demo["id"], other)
    assert peer is not None and peer.id == back["id"]
    assert repo.inter_vpbx_peer(other, demo["id"]) == friend  # the other direction
    assert repo.inter_vpbx_peer(demo["id"], ws) is None
    # a ban (proxy-users' own row) stays while its banned_addresses row exists; the brand operator
    # unblocking the source through the API (spec 9.8.6) lifts it at the next request
    repo.ban(ip="192.0.2.60", aor="u@d", blocker="antibruteforce", description="x", brand_id=demo["brandId"])
    assert repo.ban_listed("192.0.2.60", "u@d", "antibruteforce", 1000)
    row = next(r for r in brand.list("banned_addresses") if r["ip"] == "192.0.2.60")
    brand.delete(f"banned_addresses/antibruteforce/{row['id']}")
    assert repo.ban_listed("192.0.2.60", "u@d", "antibruteforce", 1000)  # the request under way keeps its rows
    repo.begin_request()
    assert not repo.ban_listed("192.0.2.60", "u@d", "antibruteforce", 1000)
    repo.close()
