"""Write-time rules of every entity, one module per group of resources.

Importing this package registers every rule with ``polyvox.api.lifecycle``; the resource
engine runs them on each write. docs/write-path.md lists them with their sources.
"""

from polyvox.api.rules import (  # noqa: F401  (each module registers its hooks)
    administrators,
    brand_uniqueness,
    brands,
    calendars,
    call_forwards,
    carriers,
    client_misc,
    companies,
    contacts,
    ddi_providers,
    ddis,
    domains,
    endpoints,
    faxes,
    filters,
    hunt_groups,
    invoicing,
    ivrs,
    match_lists,
    outgoing_ddi_rules,
    platform,
    proxies,
    queues,
    rating,
    routing,
    targets,
    transformations,
    uniqueness,
    users,
    voicemails,
)
