"""Custom (non-CRUD) operations of the IvozProvider API contract, one module per area."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from polyvox.api.app import LevelApi


def register(api: LevelApi, add: Callable[[str, str, Any, str], None]) -> None:
    """Called once per level; ``add(method, path, handler, summary)`` registers a route."""
    from polyvox.api.custom import balances, imports, portal, provisioning, rating, unassigned, user_my

    for module in (unassigned, balances, rating, provisioning, imports, portal, user_my):
        module.register(api, add)
    __import__("polyvox.api.custom.status", fromlist=["register"]).register(api, add)  # SIP registration status
    __import__("polyvox.api.custom.rate_import", fromlist=["register"]).register(api, add)  # rate CSV import
    __import__("polyvox.api.custom.billing", fromlist=["register"]).register(api, add)  # rerate, external rating
    __import__("polyvox.api.custom.active_calls", fromlist=["register"]).register(api, add)  # proxy-trunks dialogs
    __import__("polyvox.api.custom.banned", fromlist=["register"]).register(api, add)  # unblock brute-force bans
