"""DDIs, brand side (rules.ddis): Ddi sanitizeValues and platform-wide E.164 uniqueness."""

from __future__ import annotations

from tests.api.write_path.conftest import W
from tests.api.write_path.test_ddi_providers import provider


def test_e164_from_the_clients_country(w: W) -> None:
    d = w.create("/ddis", "brand", company=1, ddi=f"9440{w.n():05d}")
    got = w.get("/ddis", d["id"], "brand")
    assert got is not None and got["ddie164"] == "+34" + d["ddi"]


def test_ddi_is_digits(w: W) -> None:
    w.refused("/ddis", "ddi", "brand", company=1, ddi="+34944")


def test_unique_on_the_platform_in_e164(w: W) -> None:
    number = f"9441{w.n():05d}"
    w.create("/ddis", "brand", company=1, ddi=number)
    w.refused("/ddis", "ddie164", "brand", company=1, ddi=number)


def test_no_client_move(w: W) -> None:
    from tests.api.factory import Factory, make_client

    other, _tok = make_client(Factory(w.api, w.tokens), w.tok("brand"))
    d = w.create("/ddis", "brand", company=1, ddi=f"9442{w.n():05d}")
    w.refused("/ddis", "company", "brand", ident=d["id"], status=403, company=other)


def test_outbound_only_ddi_has_no_provider(w: W) -> None:
    p = provider(w)
    d = w.create("/ddis", "brand", company=1, ddi=f"9443{w.n():05d}", type="out", ddiProvider=p["id"])
    assert d["ddiProvider"] is None
