"""Call logic of the application server (issue 5): ``make_dialplan(engine)`` builds the
:class:`polyvox.appserver.plan.Dialplan` the SIP runtime asks for a script per call.

See ``docs/appserver-dialplan.md``.
"""

from __future__ import annotations

import random
from collections.abc import Mapping

from sqlalchemy import Engine

from polyvox.appserver.dialplan.core import FeatureHandler, FeatureRequest, PolyvoxDialplan, not_available
from polyvox.appserver.dialplan.script import GeneratorScript

__all__ = ["FeatureHandler", "FeatureRequest", "GeneratorScript", "PolyvoxDialplan", "make_dialplan", "not_available"]


def make_dialplan(engine: Engine, *, rng: random.Random | None = None, check_registrations: bool = True,
                  features: Mapping[str, FeatureHandler] | None = None) -> PolyvoxDialplan:
    """The dialplan over the platform database ``engine`` (one per application server process).

    ``rng``: random generator of ``random`` hunt groups (injected in tests).
    ``check_registrations``: read ``kam_users_location`` to apply "not registered" call forwards
    before ringing (when False, they apply when the proxy answers 480/404 for the terminal).
    ``features``: handlers of the media features (IVR, queues, voicemail...) by kind, see
    :class:`FeatureRequest`; the missing ones answer ``503 Service Unavailable: <feature> not
    available yet``.
    """
    return PolyvoxDialplan(engine, rng=rng, check_registrations=check_registrations, features=features)
