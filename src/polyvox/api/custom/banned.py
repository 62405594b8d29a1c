"""Unblocking a brute-force source (brand level ``DELETE /banned_addresses/antibruteforce/{id}``,
contract ``deleteBannedAddressItem``, spec 9.8.6).

Only rows of the caller's brand written by the anti-brute-force mechanism can be removed here (an
IP-filter or anti-flood row → 404). The configuration version is bumped in the same transaction,
so proxy-users drops its cached ban at its next request and the source may authenticate again.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from fastapi import Request
from fastapi.responses import Response
from sqlalchemy.engine import Connection

from polyvox.api.custom.common import Add, resource, route, scoped
from polyvox.api.engine import check_privilege, path_id
from polyvox.api.errors import ApiError

if TYPE_CHECKING:
    from polyvox.api.app import LevelApi


def register(api: LevelApi, add: Add) -> None:
    if api.level != "brand":
        return
    res = resource(api, "BannedAddress")

    async def handler(request: Request) -> Response:
        p = api.principal(request)
        raw = request.path_params["id"]
        ident = path_id(raw)

        def do(c: Connection) -> Any:
            check_privilege(c, p, res, "delete")
            t = res.table
            row = c.execute(scoped(api, "BannedAddress", p).where(t.c.id == ident,
                                                                   t.c.blocker == "antibruteforce")).first()
            if row is None:
                raise ApiError(404, "Not Found")
            api.engine.remove(c, res, p, row)
            return None

        api.run(do)
        return Response(status_code=204)

    route(api, add, "delete", "/banned_addresses/antibruteforce/{id}", handler,
          "Removes a brute-force ban of the brand (the source may authenticate again)",
          responses={"204": {"description": "BannedAddress resource deleted"},
                     "404": {"description": "Resource not found"}})
