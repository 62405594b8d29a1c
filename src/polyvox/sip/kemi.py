"""What both proxies' KEMI scripts do the same way (loaded inside Kamailio's app_python3)."""

from __future__ import annotations

import traceback
from collections.abc import Callable

import KSR  # type: ignore[import-not-found]  # provided by Kamailio's app_python3


def reply(code: int, reason: str) -> None:
    """Stateless reply with a reason phrase (tm replies statefully when a transaction exists)."""
    KSR.sl.send_reply(code, reason)


def log_error(what: str) -> None:
    """Logs the exception being handled, on one line (Kamailio's log is line oriented)."""
    KSR.err(f"polyvox: {what} error: " + traceback.format_exc().replace("\n", " | ") + "\n")


def initial_request(relay: Callable[[], None], within_dialog: Callable[[str], None]) -> str | None:
    """The checks every request goes through before a proxy's own routing.

    Max-Forwards, sanity, rport, keepalive OPTIONS, CANCEL and in-dialog requests (handed to
    ``relay`` / ``within_dialog``), retransmissions and stray ACKs. Returns the method of a new
    initial request left to route (its Route headers removed), or None when it was handled.
    """
    if KSR.maxfwd.process_maxfwd(10) < 0:
        reply(483, "Too Many Hops")
        return None
    if KSR.sanity.sanity_check(17895, 7) < 0:
        KSR.err(f"polyvox: malformed request from {KSR.pv.get('$si')}:{KSR.pv.get('$sp')}\n")
        return None
    KSR.force_rport()
    method: str = KSR.pv.get("$rm")
    if method == "OPTIONS" and KSR.is_myself_ruri() and KSR.corex.has_ruri_user() < 0:
        reply(200, "Keepalive")
        return None
    if method == "CANCEL":
        if KSR.tm.t_check_trans() > 0:
            relay()
        return None
    if KSR.siputils.has_totag() > 0:
        within_dialog(method)
        return None
    if KSR.tmx.t_precheck_trans() > 0:
        KSR.tm.t_check_trans()
        return None
    if KSR.tm.t_check_trans() == 0 or method == "ACK":
        return None
    KSR.hdr.remove("Route")
    return method
