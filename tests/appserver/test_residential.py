"""Residential clients (spec 10.2): devices in and out, DDIs, filters, call forwards and their
service codes (spec 9.7.6 "Call forward services")."""

from __future__ import annotations

import pytest

from polyvox.appserver.plan import DialResult, IncomingCall, TargetKind
from tests.appserver.conftest import SIP_PW, World, header, only, rejected


class Home:
    """A residential client of DemoBrand (spec 10.2): its device registers in the brand's SIP
    domain, its DDI rings the device, the device calls out with that DDI."""

    def __init__(self, world: World) -> None:
        self.world = w = world
        w.prov.update("Brand", w.brand, domainUsers="users.demobrand.example.com")  # the global operator's
        self.company = w.client("Home", "residential")
        self.ddi = w.ddi("955000001", company=self.company)
        self.device = w.create("ResidentialDevice", company=self.company, name="home1", password=SIP_PW,
                               description="", transport="udp", allow="alaw", directConnectivity="no", ddiIn="yes",
                               multiContact=True, rtpEncryption=False, t38Passthrough="no", trustSDP=False, maxCalls=0,
                               outgoingDdi=self.ddi)
        w.set("Ddi", self.ddi, company=self.company, routeType="residential", residentialDevice=self.device)

    @property
    def voicemail(self) -> int:
        """The device's own voicemail, created with the device (IvozProvider
        Voicemail/UpdateByResidentialDevice)."""
        (vm,) = self.world.rows("Voicemail", residentialDeviceId=self.device)
        return int(vm["id"])

    def inbound(self, caller: str = "+34666777888") -> IncomingCall:
        return self.world.inbound(self.ddi, caller, company=self.company, company_type="residential")

    def dial(self, dialled: str, caller: str = "+34955000001") -> IncomingCall:
        return self.world.from_endpoint("residential", self.device, dialled, caller, company=self.company,
                                        company_type="residential")


@pytest.fixture()
def home(world: World) -> Home:
    return Home(world)


def test_10_2_2_ddi_rings_the_residential_device(world: World, home: Home) -> None:
    t = only(world.run(home.inbound())[0])
    assert (t.kind, t.ruri_user, t.domain) == (TargetKind.ENDPOINT, "home1", "users.demobrand.example.com")
    assert t.from_user == "666777888" and header(t, "X-Info-Callee") == ["+34955000001"]


def test_10_2_1_device_calls_out_with_valid_clid_or_fallback(world: World, home: Home) -> None:
    """CLID validation: a client DDI is kept, anything else becomes the device's fallback DDI."""
    t = only(world.run(home.dial("911234567"))[0])
    assert (t.kind, t.ruri_user, t.from_user) == (TargetKind.EXTERNAL, "+34911234567", "+34955000001")
    assert header(t, "X-Info-EndpointType") == ["residential"]
    t = only(world.run(home.dial("911234567", caller="+34600000000"))[0])
    assert t.from_user == "+34955000001"
    world.set("ResidentialDevice", home.device, company=home.company, outgoingDdi=None)
    rejected(world.run(home.dial("911234567", caller="+34600000000"))[0], 403,
             "no outgoing DDI")


def test_10_2_3_filter_blacklist_and_unconditional_forward(world: World, home: Home) -> None:
    """Residential filters: black list first, then the unconditional forward to a number keeping the
    caller with a Diversion."""
    flt = world.create("ExternalCallFilter", company=home.company, name="away", holidayEnabled=False,
                       outOfScheduleEnabled=True, outOfScheduleTargetType="number",
                       outOfScheduleNumberCountry=world.spain, outOfScheduleNumberValue="600000001")
    world.create("ExternalCallFilterBlackList", company=home.company, filter=flt,
                 matchlist=world.match_list("+34666000000", company=home.company))
    world.set("Ddi", home.ddi, company=home.company, externalCallFilter=flt)
    rejected(world.run(home.inbound("+34666000000"))[0], 403)
    t = only(world.run(home.inbound())[0])
    assert (t.kind, t.ruri_user, t.from_user) == (TargetKind.EXTERNAL, "+34600000001", "+34666777888")
    assert header(t, "Diversion")[0].startswith("<sip:+34955000001@") and "reason=unconditional" in \
        header(t, "Diversion")[0]


def test_10_2_call_forwards_of_the_device(world: World, home: Home) -> None:
    """Device call forwards: busy → number (presenting the original caller, Diversion = the DDI)."""
    world.forward("residentialDevice", home.device, "busy", "number", "600000002", company=home.company)
    first, second = world.run(home.inbound(), DialResult.BUSY)
    assert only(first).ruri_user == "home1"
    t = only(second)
    assert (t.ruri_user, t.from_user) == ("+34600000002", "+34666777888")
    assert header(t, "Diversion")[0].endswith(";reason=user-busy")


def test_9_7_6_service_codes_write_call_forwards(world: World, home: Home) -> None:
    """9.7.6: code + national number creates (or modifies) the forward; code + * forwards to the
    voicemail; the code alone deletes the forwards of that type. The call ends with 603 and a reason
    saying what was done; the next call uses the new setting."""
    rejected(world.run(home.dial("*80600000001"))[0], 603, "inconditional call forward to 600000001")
    rows = world.rows("CallForwardSetting", residentialDeviceId=home.device)
    assert [(r["callForwardType"], r["targetType"], r["numberValue"], r["numberCountryId"]) for r in rows] == \
        [("inconditional", "number", "600000001", world.spain)]
    t = only(world.run(home.inbound())[0])
    assert (t.kind, t.ruri_user) == (TargetKind.EXTERNAL, "+34600000001")
    rejected(world.run(home.dial("*80600000002"))[0], 603)
    rows = world.rows("CallForwardSetting", residentialDeviceId=home.device)
    assert [r["numberValue"] for r in rows] == ["600000002"]  # modified, not duplicated
    rejected(world.run(home.dial("*81*"))[0], 603, "busy call forward to voicemail")
    busy = world.rows("CallForwardSetting", residentialDeviceId=home.device, callForwardType="busy")
    assert [(r["targetType"], r["voicemailId"]) for r in busy] == [("voicemail", home.voicemail)]
    rejected(world.run(home.dial("*80"))[0], 603, "disabled")
    assert [r["callForwardType"] for r in world.rows("CallForwardSetting", residentialDeviceId=home.device)] == \
        ["busy"]
    assert only(world.run(home.inbound())[0]).ruri_user == "home1"


def test_9_7_6_invalid_and_unknown_service_codes(world: World, home: Home) -> None:
    rejected(world.run(home.dial("*8212ab"))[0], 484, "national number")
    rejected(world.run(home.dial("*99"))[0], 404, "unknown service code")
    # route locks are vPBX services: not a residential code
    rejected(world.run(home.dial("*711"))[0], 404)
    rejected(world.run(home.dial("*93"))[0], 503, "not available yet")
