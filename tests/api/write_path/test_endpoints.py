"""SIP endpoints (rules.endpoints, rules.uniqueness): terminals, friends, retail accounts and
residential devices (IvozProvider Terminal/Friend/RetailAccount/ResidentialDevice setters,
CheckUniqueness, AvoidUpdateCompany, DeleteInterVpbx, SanitizeInterVpbxPriority)."""

from __future__ import annotations

from typing import Any

from tests.api.factory import Factory, make_client
from tests.api.write_path.conftest import W

TERMINAL = {"disallow": "all", "allowAudio": "alaw", "directMediaMethod": "update", "t38Passthrough": "no",
            "rtpEncryption": False}
FRIEND = {"description": "", "directConnectivity": "yes", "transport": "udp", "ip": "192.0.2.50", "port": 5060}


def friend(w: W, **body: Any) -> dict[str, Any]:
    return w.create("/friends", level="brand", **{"company": 1, "name": f"fr{w.n()}", "priority": 100 + w.n(),
                                                   **FRIEND, **body})


def test_terminal_name_is_not_a_friend_name(w: W) -> None:
    """IvozProvider Terminal/CheckUniqueness: a SIP username of the domain is one endpoint."""
    f = friend(w)
    w.refused("/terminals", "name", name=f["name"], password="ABCdef123+xyz", **TERMINAL)


def test_friend_name_is_not_a_terminal_name(w: W) -> None:
    w.refused("/friends", "name", level="brand", company=1, name="alice", priority=999, **FRIEND)


def test_terminal_mac_is_normalised_and_unique(w: W) -> None:
    t = w.create("/terminals", name=f"t{w.n()}", password="ABCdef123+xyz", mac="AABBCCDDEE01", **TERMINAL)
    assert t["mac"] == "aabbccddee01"
    w.refused("/terminals", "mac", name=f"t{w.n()}", password="ABCdef123+xyz", mac="aabbccddee01", **TERMINAL)


def test_friend_priority_is_unique_in_the_client(w: W) -> None:
    f = friend(w)
    w.refused("/friends", "priority", level="brand", company=1, name=f"fr{w.n()}", priority=f["priority"], **FRIEND)


def test_friend_does_not_move_to_another_client(w: W) -> None:
    other, _tok = make_client(Factory(w.api, w.tokens), w.tok("brand"))
    f = friend(w)
    w.refused("/friends", "company", level="brand", ident=f["id"], company=other)


def test_friend_password_is_strong(w: W) -> None:
    w.refused("/friends", "password", level="brand", company=1, name=f"fr{w.n()}", priority=998,
              description="", directConnectivity="no", password="weak")


def test_inter_vpbx_friend_creates_and_deletes_its_twin(w: W) -> None:
    """The SIP proxy only connects two clients whose friends point at each other: the twin is
    created with the link and deleted with it (IvozProvider Friend/DeleteInterVpbx)."""
    other, other_tok = make_client(Factory(w.api, w.tokens), w.tok("brand"))
    f = w.create("/friends", level="brand", company=1, name="ignored", priority=500, description="",
                 directConnectivity="intervpbx", interCompany=other)
    assert f["name"] == f"InterCompany1_{other}"
    twins = [x for x in w.api.get("client", "/friends", other_tok).json() if x.get("interCompany") == 1]
    assert len(twins) == 1 and twins[0]["name"] == f["name"] and twins[0]["directConnectivity"] == "intervpbx"
    w.delete("/friends", f["id"], level="brand")
    assert w.row("Friend", twins[0]["id"]) is None


def test_retail_and_residential_names_do_not_collide(w: W) -> None:
    """IvozProvider RetailAccount/CheckUniqueness, ResidentialDevice/CheckUniqueness."""
    factory = Factory(w.api, w.tokens)
    n = w.n()
    retail = factory.create("brand", "Company", w.tok("brand"), name=f"Retail{n}", type="retail")
    resid = factory.create("brand", "Company", w.tok("brand"), name=f"Resid{n}", type="residential")
    base = {"description": "", "directConnectivity": "yes", "transport": "udp", "ip": "192.0.2.60", "port": 5060}
    ra = w.create("/retail_accounts", level="brand", company=retail["id"], name=f"acc{n}", **base)
    w.refused("/residential_devices", "name", level="brand", company=resid["id"], name=ra["name"], **base)
    w.refused("/retail_accounts", "name", level="brand", company=retail["id"], name="bad name", **base)


def test_residential_device_has_its_voicemail(w: W) -> None:
    """IvozProvider Voicemail/UpdateByResidentialDevice; the voicemail goes with the device."""
    factory = Factory(w.api, w.tokens)
    resid = factory.create("brand", "Company", w.tok("brand"), name=f"Home{w.n()}", type="residential")
    base = {"description": "", "directConnectivity": "yes", "transport": "udp", "ip": "192.0.2.70", "port": 5060}
    dev = w.create("/residential_devices", level="brand", company=resid["id"], name=f"home{w.n()}", **base)
    with w.db.connect() as c:
        from sqlalchemy import select

        from polyvox.db.model import ENTITY

        vm = ENTITY["Voicemail"].table
        own = c.execute(select(vm.c.id, vm.c.name).where(vm.c.residentialDeviceId == dev["id"])).first()
    assert own is not None and own.name == dev["name"]
    w.delete("/residential_devices", dev["id"], level="brand")
    assert w.row("Voicemail", own.id) is None


def test_inter_vpbx_link_created_from_both_ends(w: W) -> None:
    """An integration written for IvozProvider 3.4 posts both ends: the second post replaces the
    end created with the first one, the link stays one friend on each side."""
    other, other_tok = make_client(Factory(w.api, w.tokens), w.tok("brand"))
    mine = w.create("/friends", level="brand", company=1, name="x", priority=600, description="",
                    directConnectivity="intervpbx", interCompany=other)
    theirs = w.create("/friends", level="brand", company=other, name="y", priority=1, description="",
                      directConnectivity="intervpbx", interCompany=1)
    assert theirs["priority"] == 1
    links = [x["id"] for x in w.api.get("client", "/friends", other_tok).json() if x.get("interCompany") == 1]
    assert links == [theirs["id"]]
    assert w.get("/friends", mine["id"], level="brand") is not None


def test_friend_pattern_is_a_regular_expression(w: W) -> None:
    f = friend(w)
    w.refused("/friends_patterns", "regExp", name="p", friend=f["id"], regExp="^(9")


def test_friend_address_and_port(w: W) -> None:
    base = {"company": 1, "description": "", "directConnectivity": "yes", "transport": "udp"}
    w.refused("/friends", "ip", level="brand", name=f"fr{w.n()}", priority=997, ip="192.0.2", port=5060, **base)
    w.refused("/friends", "port", level="brand", name=f"fr{w.n()}", priority=996, ip="192.0.2.9", port=70000, **base)
