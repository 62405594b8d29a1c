"""Pure parts of the SIP edge (no Kamailio needed): application-server ordering, NG bencode,
rendering, and the repository's version-based cache invalidation."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import Engine, insert, update

from polyvox.db.model import ENTITY, config_version
from polyvox.media.ng import bdecode, bencode, parse_url
from polyvox.media.rtpengine import RtpengineSettings, argv
from polyvox.sip import dispatch, render
from polyvox.sip.dispatch import AppServer, order_servers, parse_host_port
from polyvox.sip.repository import Repository
from polyvox.sip.settings import ProxySettings

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


def _bump(engine: Engine) -> None:
    with engine.begin() as c:
        if c.execute(update(config_version).values(version=config_version.c.version + 1)).rowcount == 0:
            c.execute(insert(config_version).values(id=1, version=1))


def test_repository_reads_demo_data_and_invalidates_on_version(db: Engine) -> None:
    repo = Repository(str(db.url), engine=db)
    repo.begin_request()
    dom = repo.domain("127.0.0.1")
    assert dom is not None and dom.company_id
    alice = repo.terminal(dom.id, "alice")
    assert alice is not None and alice.password == "alice" and alice.user_id and alice.multi_contact
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

    t = ENTITY["Terminal"].table
    with db.begin() as c:
        c.execute(update(t).where(t.c.id == alice.id).values(password="changed"))
    repo.begin_request()
    assert repo.terminal(dom.id, "alice").password == "alice"  # type: ignore[union-attr]  # no bump yet
    _bump(db)
    repo.begin_request()
    assert repo.terminal(dom.id, "alice").password == "changed"  # type: ignore[union-attr]
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
