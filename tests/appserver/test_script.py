"""The script protocol (plan.py) and failures of the call logic: clear SIP errors, never a hang."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import text

from polyvox.appserver.dialplan import make_dialplan
from polyvox.appserver.plan import DialOutcome, DialResult
from polyvox.db.engine import make_engine
from tests.appserver.conftest import World, only, rejected
from tests.provision import ApiRefused


def test_database_unreachable_is_503(world: World, tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'missing' / 'nothing.sqlite3'}")
    dialplan = make_dialplan(engine)
    script = dialplan.script(world.from_user(world.alice, "102"), world.presence)
    rejected(script.first(), 503, "configuration database unreachable")
    engine.dispose()


def test_failure_inside_the_logic_is_500(world: World) -> None:
    """A broken configuration read (here: a table gone) ends the call with 500, logged."""
    world.dialplan.repo.begin_call()
    with world.engine.begin() as conn:
        conn.execute(text("DROP TABLE hunt_group_members"))
    hg = world.create("HuntGroup", company=world.company, name="hg", description="", strategy="ringAll",
                      ringAllTimeout=10, preventMissedCalls=1, allowCallForwards=0)
    world.create("Extension", company=world.company, number="200", routeType="huntGroup", huntGroup=hg)
    rejected(world.run(world.from_user(world.alice, "200"))[0], 500, "call logic failed")


def test_hunt_group_that_cannot_ring_is_refused_when_written(world: World) -> None:
    """A ringAll group without its ring time could not ring (the dialplan would end its calls
    with 500): the API refuses it, naming the field (IvozProvider "Empty ring all timeout")."""
    with pytest.raises(ApiRefused, match="ringAllTimeout"):
        world.create("HuntGroup", company=world.company, name="hg", description="", strategy="ringAll",
                     preventMissedCalls=1, allowCallForwards=0)
    assert world.rows("HuntGroup", name="hg") == []


def test_script_protocol(world: World) -> None:
    script = world.dialplan.script(world.from_user(world.alice, "102"), world.presence)
    with pytest.raises(RuntimeError):
        script.after(DialOutcome(DialResult.BUSY))
    target = only(script.first())
    with pytest.raises(RuntimeError):
        script.first()
    script.answered(target)
    assert script.done and script.answered_by == target
    with pytest.raises(RuntimeError):
        script.after(DialOutcome(DialResult.BUSY))


def test_calling_endpoint_must_belong_to_the_client(world: World) -> None:
    """A call whose endpoint is not the client's (or unknown) is refused, never routed."""
    from dataclasses import replace

    call = world.from_user(world.alice, "102")
    rejected(world.run(replace(call, company_id=call.company_id + 1000))[0], 404, "unknown client")
    rejected(world.run(replace(call, endpoint_id=99999, user_id=None))[0], 403, "unknown calling endpoint")
    # only the user id: the terminal is the user's
    assert only(world.run(replace(call, endpoint_id=None))[0]).from_user == "101"
