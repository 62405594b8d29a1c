"""File fields: multipart upload on create/update and download (IvozProvider's file sub-resources)."""

from __future__ import annotations

import json

from tests.api.conftest import Api


def test_locution_upload_and_download(api: Api, tokens: dict[str, str]) -> None:
    token = tokens["client"]
    wav = b"RIFF\x24\x00\x00\x00WAVEfmt " + bytes(28)
    r = api.client.post("/api/client/locutions", headers={"Authorization": f"Bearer {token}"},
                        data={"locution": json.dumps({"name": "welcome"})},
                        files={"OriginalFile": ("welcome.wav", wav, "audio/wav")})
    assert r.status_code == 201, r.text
    item = r.json()
    assert item["originalFile"] == {"baseName": "welcome.wav", "fileSize": len(wav), "mimeType": "audio/wav"}
    d = api.get("client", f"/locutions/{item['id']}/originalfile", token)
    assert d.status_code == 200
    assert d.content == wav
    assert d.headers["content-type"] == "audio/wav"
    assert 'filename="welcome.wav"' in d.headers["content-disposition"]
    # no encoded file yet: 404 with a reason
    assert api.get("client", f"/locutions/{item['id']}/encodedfile", token).status_code == 404


def test_upload_to_unknown_file_field_is_refused(api: Api, tokens: dict[str, str]) -> None:
    r = api.client.post("/api/client/locutions", headers={"Authorization": f"Bearer {tokens['client']}"},
                        data={"locution": json.dumps({"name": "x"})}, files={"Logo": ("a.png", b"x", "image/png")})
    assert r.status_code == 400
    assert "Logo" in r.json()["detail"]
    assert api.get("client", "/locutions?name=x", tokens["client"]).json() == []


def test_download_needs_the_row_in_scope(api: Api, tokens: dict[str, str]) -> None:
    r = api.client.post("/api/brand/music_on_holds", headers={"Authorization": f"Bearer {tokens['brand']}"},
                        data={"musicOnHold": json.dumps({"name": "brand moh"})},
                        files={"OriginalFile": ("m.wav", b"abc", "audio/wav")})
    assert r.status_code == 201, r.text
    ident = r.json()["id"]
    assert api.get("brand", f"/music_on_holds/{ident}/originalfile", tokens["brand"]).content == b"abc"
    god = tokens["platform"]
    other = api.post("platform", "/brands", god, {"name": "Other", "language": 1, "defaultTimezone": 1,
                                                  "currency": 1, "maxCalls": 0,
                                                  "invoice": {"nif": "1", "postalAddress": "a", "postalCode": "1",
                                                              "town": "t", "province": "p", "country": "c"}})
    assert other.status_code == 201, other.text
    other_token = api.exchange("brand", god, brandId=other.json()["id"])
    assert api.get("brand", f"/music_on_holds/{ident}/originalfile", other_token).status_code == 404
