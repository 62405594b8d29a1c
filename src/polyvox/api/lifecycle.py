"""Write-time behaviour of the entities: the hooks every write runs, whoever the writer is.

IvozProvider keeps this behaviour in each entity's ``sanitizeValues()`` and in its lifecycle
services (pre-persist, post-persist, pre-remove, post-remove). Polyvox declares the same four
moments here; the rules themselves live in ``polyvox.api.rules``, one module per group of
resources, and register with the decorators below. The resource engine runs them for every
create, update and delete, inside the transaction that writes the row and bumps the
configuration version: API requests, the ``polyvox`` command, reference and demo seeding and
CSV imports all write through the engine (``polyvox.api.writer`` for writers without a
request).

- ``pre_persist``: defaults, derived columns (e.g. a terminal's SIP domain, a DDI's E.164),
  checks that refuse the write with a 400 naming the field. ``ctx.new`` is the row as it will
  be written and may be changed; ``ctx.old`` is the stored row on an update (None on create).
- ``post_persist``: the row is written (``ctx.id``); cascades to other rows, which go through
  the engine again with ``ctx.system`` so that their own rules run.
- ``pre_remove``: guards that refuse a delete, and unlinks that must happen before it.
- ``post_remove``: cascades after the row is gone.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sqlalchemy.engine import Connection

if TYPE_CHECKING:
    from polyvox.api.auth import Principal
    from polyvox.api.engine import Resource
    from polyvox.api.writer import Writer


@dataclass
class WriteContext:
    """What a hook sees: the resource, the connection, the principal, old and new values."""

    resource: Resource
    conn: Connection
    principal: Principal
    op: str  # create | update | delete
    old: dict[str, Any] | None  # stored row (update, delete)
    new: dict[str, Any]  # column -> value after the write (on delete: the stored row)
    m2m: dict[str, list[int]] = field(default_factory=dict)
    id: int | None = None

    def value(self, column: str) -> Any:
        return self.new.get(column)

    def changed(self, column: str) -> bool:
        """The column is set on a create, or differs from the stored value on an update."""
        if self.old is None:
            return self.new.get(column) is not None
        return bool(self.old.get(column) != self.new.get(column))

    @property
    def entity(self) -> str:
        return self.resource.name

    @property
    def system(self) -> Writer:
        """Writes on other entities, through the engine and their own rules, in this transaction."""
        from polyvox.api.writer import Writer

        return Writer(self.conn)


Hook = Callable[[WriteContext], None]

PRE_PERSIST: dict[str, list[Hook]] = {}
POST_PERSIST: dict[str, list[Hook]] = {}
PRE_REMOVE: dict[str, list[Hook]] = {}
POST_REMOVE: dict[str, list[Hook]] = {}


def _registrar(table: dict[str, list[Hook]]) -> Callable[..., Callable[[Hook], Hook]]:
    def register(*entities: str) -> Callable[[Hook], Hook]:
        def deco(fn: Hook) -> Hook:
            for e in entities:
                table.setdefault(e, []).append(fn)
            return fn
        return deco
    return register


pre_persist = _registrar(PRE_PERSIST)
post_persist = _registrar(POST_PERSIST)
pre_remove = _registrar(PRE_REMOVE)
post_remove = _registrar(POST_REMOVE)


def run(table: dict[str, list[Hook]], ctx: WriteContext) -> None:
    for hook in table.get(ctx.entity, ()):
        hook(ctx)


__all__ = ["POST_PERSIST", "POST_REMOVE", "PRE_PERSIST", "PRE_REMOVE", "WriteContext", "post_persist",
           "post_remove", "pre_persist", "pre_remove", "run"]
