"""Users (rules.users): portal access, screen extension, boss-assistant and what goes with a
deleted user (IvozProvider User::sanitizeValues, Extension/UpdateByUser, User/UpdateByExtension,
User/UnsetBossAssistant, Voicemail/UpdateByUser)."""

from __future__ import annotations

from tests.api.write_path.conftest import W

BASE = {"lastname": "T", "doNotDisturb": False, "isBoss": False, "maxCalls": 0, "externalIpCalls": "0",
        "rejectCallMethod": "rfc", "multiContact": True, "gsQRCode": False, "useDefaultLocation": True}


def test_active_user_needs_email_and_password(w: W) -> None:
    w.refused("/users", "email", name="NoMail", active=True, **{"pass": "S3cret-pass"}, **BASE)
    w.refused("/users", "pass", name="NoPass", active=True, email=f"np{w.n()}@example.com", **BASE)


def test_new_user_with_email_and_password_is_active(w: W) -> None:
    u = w.user(active=False)
    assert u["active"] is True


def test_user_gets_the_client_timezone(w: W) -> None:
    u = w.user()
    row, company = w.row("User", u["id"]), w.row("Company", 1)
    assert row is not None and company is not None
    assert row["timezoneId"] == company["defaultTimezoneId"] is not None


def test_screen_extension_routes_to_the_user(w: W) -> None:
    u = w.user()
    ext = w.extension()
    w.update("/users", u["id"], extension=ext["id"])
    got = w.get("/extensions", ext["id"])
    assert got is not None and got["routeType"] == "user"
    assert (got["user"]["id"] if isinstance(got["user"], dict) else got["user"]) == u["id"]


def test_extension_routed_to_a_user_becomes_its_screen_extension(w: W) -> None:
    u = w.user()
    ext = w.extension(routeType="user", user=u["id"])
    assert w.row("User", u["id"])["extensionId"] == ext["id"]  # type: ignore[index]
    w.update("/extensions", ext["id"], routeType="number", numberValue="600000000", numberCountry=w.country())
    assert w.row("User", u["id"])["extensionId"] is None  # type: ignore[index]


def test_deleting_a_user_unlinks_and_cascades(w: W) -> None:
    u = w.user()
    ext = w.extension(routeType="user", user=u["id"])
    cfs = w.create("/call_forward_settings", user=u["id"], callForwardType="busy", callTypeFilter="both",
                   enabled=True, noAnswerTimeout=10, targetType="number", numberValue="600000000",
                   numberCountry=w.country())
    vm = w.row("User", u["id"])["voicemailId"]  # type: ignore[index]
    assert vm is not None
    w.delete("/users", u["id"])
    got = w.get("/extensions", ext["id"])
    assert got is not None and got["routeType"] is None and got["user"] is None
    assert w.get("/call_forward_settings", cfs["id"]) is None
    assert w.row("Voicemail", vm) is None


def test_a_users_own_voicemail_is_not_deleted_alone(w: W) -> None:
    u = w.user()
    vm = w.row("User", u["id"])["voicemailId"]  # type: ignore[index]
    r = w.api.delete("client", f"/voicemails/{vm}", w.tok("client"))
    assert r.status_code == 400, r.text
    assert w.get("/users", u["id"]) is not None and w.row("Voicemail", vm) is not None


def test_voicemail_follows_the_user_name(w: W) -> None:
    u = w.user()
    w.update("/users", u["id"], name="Renamed")
    vm = w.row("Voicemail", w.row("User", u["id"])["voicemailId"])  # type: ignore[index]
    assert vm is not None and vm["name"] == "Renamed Test"


def test_becoming_a_boss_unsets_being_an_assistant(w: W) -> None:
    assistant = w.user()
    boss = w.user(isBoss=True, bossAssistant=assistant["id"])
    w.update("/users", assistant["id"], isBoss=True)
    assert w.row("User", boss["id"])["bossAssistantId"] is None  # type: ignore[index]


def test_user_is_not_its_own_assistant(w: W) -> None:
    u = w.user()
    w.refused("/users", "bossAssistant", ident=u["id"], bossAssistant=u["id"])
