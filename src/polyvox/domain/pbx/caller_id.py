"""Caller identity presented on the legs towards internal targets (terminals, friends,
residential devices): the From user / display name and the P-Asserted-Identity.

IvozProvider (3.4) decides it in three places, reproduced here:

* the Asterisk PJSIP endpoint of every terminal has ``callerid = "<name> <lastname> <<extension>>"``
  (``Ast\\Domain\\Service\\PsEndpoint\\UpdateByUser`` / ``UpdateByExtension``: ``sprintf('%s <%s>',
  $user->getFullName(), $user->getExtensionNumber())``), so a user's calls carry its **screen
  extension** and its full name, whatever its phone put in From. A user without extension gets
  ``"Name Lastname <>"``: no number, and Asterisk (``res_pjsip_caller_id``) then takes number *and*
  display name from the From header the phone sent (through KamUsers: the terminal's name);
* friends and residential devices have no ``callerid`` (``trust_id_inbound = yes``): their
  identity is the one received (PAI/RPID, else From);
* external callers keep their number (E.164 after the DDI provider's ``callerin``), and the
  called DDI's display name replaces the caller's (``DdiAction``: ``CALLERID(name)`` = the DDI
  display name, set to empty when the DDI has none: the carrier's display name is not shown);
* forwards, hunt group members, call forwards of members, transfers... dial from the same channel:
  the caller identity never changes on the way (the original caller stays);
* retail accounts, residential devices and friends calling out present their own number only
  when it is one of their client's DDIs (spec 10.3), else a Diversion naming one, else their
  outgoing DDI (theirs, else the client's): :func:`endpoint_clid`, decided by proxy-users before
  the call reaches proxy-trunks or the application server, and again by the application server
  for the calls it places;
* KamUsers, on the way from the application server to the endpoint (``ADAPT_CALLER`` →
  ``SET_PAI``), leaves internal numbers as they are (``IS_INTERNAL``) and rewrites any other
  number with the **callee endpoint's** ``callerout`` rules, in the From user and in the PAI (the
  PAI keeps its display name; a friend's "From user" replaces the From user only).

Pure: no I/O; the rule set is the callee's, chosen by the caller of these functions.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, replace
from typing import Literal

from polyvox.domain.callflow.outgoing_ddi import ClidDecision, fallback_outgoing_ddi, validate_clid
from polyvox.domain.numbering import RuleSet, is_e164

__all__ = ["CallerId", "CallerKind", "caller_for_endpoint", "endpoint_clid", "full_name", "presented_caller"]

CallerKind = Literal["user", "friend", "residential", "external"]


@dataclass(frozen=True, slots=True)
class CallerId:
    """A caller identity: the number (SIP user part) and the display name (None: no display name)."""

    number: str
    name: str | None = None


def full_name(name: str | None, lastname: str | None) -> str | None:
    """IvozProvider's ``User::getFullName()`` ("name lastname"), without the blanks of a missing
    part; None when both are empty."""
    text = " ".join(p.strip() for p in (name, lastname) if p and p.strip())
    return text or None


def presented_caller(kind: CallerKind, received: CallerId, *, extension: str | None = None,
                     user_name: str | None = None, e164: str | None = None,
                     ddi_display_name: str | None = None) -> CallerId:
    """The identity shown to internal targets of a call, before the callee's formatting
    (:func:`caller_for_endpoint`).

    ``received``: the caller as it reached the application server (``X-Info-Caller`` / From user,
    From display name). ``kind``:

    * ``user`` (a terminal's owner): its screen ``extension`` and ``user_name`` ("name lastname");
      without extension, ``received`` unchanged (number and display name as the phone sent them);
    * ``friend`` / ``residential``: ``received`` unchanged;
    * ``external`` (inbound DDI call): the caller in ``e164`` (else as received) with the called
      DDI's ``ddi_display_name`` (no display name when the DDI has none).
    """
    if kind == "user":
        if extension:
            return CallerId(extension, user_name or None)
        return received
    if kind == "external":
        return CallerId(e164 or received.number, ddi_display_name or None)
    return received


def caller_for_endpoint(identity: CallerId, callee_rules: RuleSet) -> CallerId:
    """``identity`` as the callee endpoint must see it: internal numbers (extensions, endpoint
    names: never E.164) unchanged; an E.164 number through the callee's ``callerout`` rules
    (the endpoint's rule set, else its client's). The display name is kept."""
    if not is_e164(identity.number):
        return identity
    number = callee_rules.apply("callerout", identity.number)
    return replace(identity, number=number or identity.number)


def endpoint_clid(presented: str | None, client_ddis: Collection[str], *, endpoint_ddi: str | None,
                  client_ddi: str | None, diversion: str | None = None) -> ClidDecision:
    """Caller ID of an external call from a retail account, residential device or friend (spec
    10.3): ``presented`` (E.164, after the endpoint's ``callerin``) when it is one of the client's
    DDIs, else ``diversion`` when it is one, else the endpoint's outgoing DDI, else the client's
    (``client_ddi``); none of them: rejected."""
    return validate_clid(presented, client_ddis, fallback_outgoing_ddi(endpoint_ddi, client_ddi), diversion)
