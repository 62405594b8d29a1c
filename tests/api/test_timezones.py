"""Date-times are stored in UTC and read and written in the administrator's timezone
(or ``_timezone``), as IvozProvider's API does."""

from __future__ import annotations

from sqlalchemy import Engine, select

from polyvox.db.model import ENTITY
from tests.api.conftest import Api
from tests.api.factory import Factory

I18N = {"en": "g", "es": "g", "ca": "g", "it": "g", "eu": "g"}


def test_datetimes_follow_the_administrators_timezone(api: Api, tokens: dict[str, str], db: Engine) -> None:
    token = tokens["brand"]  # the demo brand operator's timezone is Europe/Madrid (UTC+1 in January)
    group = api.post("brand", "/rating_plan_groups", token, {"name": I18N, "description": I18N})
    assert group.status_code == 201, group.text
    Factory(api, tokens).rating_ready_group("brand", token, group=group.json()["id"])  # it rates 24x7
    r = api.post("brand", "/rating_profiles", token, {"company": 1, "ratingPlanGroup": group.json()["id"],
                                                     "activationTime": "2027-01-10 10:00:00"})
    assert r.status_code == 201, r.text
    created = r.json()
    assert created["activationTime"] == "2027-01-10 10:00:00"
    t = ENTITY["RatingProfile"].table
    with db.connect() as c:
        stored = c.execute(select(t.c.activationTime).where(t.c.id == created["id"])).scalar()
    assert stored is not None and stored.strftime("%H:%M") == "09:00"
    again = api.get("brand", f"/rating_profiles/{created['id']}?_timezone=UTC", token).json()
    assert again["activationTime"] == "2027-01-10 09:00:00"
    assert api.get("brand", "/rating_profiles?_timezone=Mars/Olympus", token).status_code == 400
