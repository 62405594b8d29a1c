"""Call scripts written as generators.

A flow is a generator that yields :class:`~polyvox.appserver.plan.Action` values and receives the
:class:`~polyvox.appserver.plan.DialOutcome` of every :class:`Dial` it yielded (``outcome =
yield Dial(...)``). A :class:`Reject` ends the call; an answered dial ends the script (the runtime
bridges and never asks again). Sub-flows compose with ``yield from``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Generator
from typing import Any

from polyvox.appserver.plan import Action, CallEnded, Dial, DialOutcome, DialResult, Reject, Target

Flow = Generator[Action, DialOutcome, None]

#: what the caller gets when a flow ends without a final action (should not happen)
END_OF_FLOW = Reject(480, "Temporarily Unavailable: no route for the call")
#: what the caller gets when the call logic fails (a bug or the database unreachable)
INTERNAL_ERROR = Reject(500, "Server Internal Error: call logic failed")

log = logging.getLogger("polyvox.appserver.dialplan")


class GeneratorScript:
    """:class:`~polyvox.appserver.plan.CallScript` driving a flow generator."""

    def __init__(self, flow: Flow, label: str = "", on_end: Callable[[CallEnded], None] | None = None) -> None:
        self._flow = flow
        self._on_end = on_end
        self._started = False
        self._done = False
        self.label = label
        self.actions: list[Action] = []  # every action given to the runtime (logs, tests)
        self.answered_by: Target | None = None

    def _emit(self, action: Action) -> Action:
        self.actions.append(action)
        if isinstance(action, Reject):
            self._done = True
            self._flow.close()
        return action

    def first(self) -> Action:
        if self._started:
            raise RuntimeError("first() called twice on a call script")
        self._started = True
        try:
            return self._emit(next(self._flow))
        except StopIteration:
            self._done = True
            return self._emit(END_OF_FLOW)
        except Exception:
            log.exception("call %s: the dialplan failed", self.label)
            self._done = True
            return self._emit(INTERNAL_ERROR)

    def after(self, outcome: DialOutcome) -> Action:
        if not self._started:
            raise RuntimeError("after() called before first()")
        if self._done:
            raise RuntimeError("the call script already ended the call")
        try:
            return self._emit(self._flow.send(outcome))
        except StopIteration:
            self._done = True
            if outcome.result is DialResult.CANCELLED:
                return Reject(487, "Request Terminated")
            return self._emit(END_OF_FLOW)
        except Exception:
            log.exception("call %s: the dialplan failed", self.label)
            self._done = True
            return self._emit(INTERNAL_ERROR)

    def answered(self, target: Target) -> None:
        self.answered_by = target
        self._done = True
        self._flow.close()

    def ended(self, info: CallEnded) -> None:
        """The call is over (``plan.EndAwareScript``): the call registry is written."""
        self._done = True
        self._flow.close()
        if self._on_end is not None:
            on_end, self._on_end = self._on_end, None
            on_end(info)

    @property
    def done(self) -> bool:
        return self._done


def single(action: Action) -> Flow:
    """A flow made of one action."""
    yield action


def is_final(outcome: Any) -> bool:
    """The dial ended the call for the script: answered (bridged) or the caller hung up."""
    return isinstance(outcome, DialOutcome) and outcome.result in (DialResult.ANSWERED, DialResult.CANCELLED)


__all__ = ["END_OF_FLOW", "INTERNAL_ERROR", "Dial", "Flow", "GeneratorScript", "is_final", "single"]
