"""DDI Provider detection for inbound calls (spec 9.6.3).

1. The source IP is compared against the addresses of all DDI providers (of
   all brands). No match → the call is rejected.
2. The called number is transformed with the rules of each matching provider,
   lowest provider id first.
3. The first transformed number equal to an inbound DDI (E.164) of the
   provider's brand ends the loop and the call is accepted. No match → the
   call is rejected.

The provider that allowed the match is recorded, except when the matched DDI
is linked to another DDI provider that also matches the source IP: then the
linked provider is recorded instead.

The transformation is injected (``transform(provider_id, number) -> str``) so
this module stays independent of numeric transformations.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from enum import StrEnum

__all__ = [
    "DdiProviderCandidate",
    "DdiProviderDetection",
    "DetectionOutcome",
    "InboundDdi",
    "detect_ddi_provider",
]

Transform = Callable[[int, str], str]


@dataclass(frozen=True, slots=True)
class DdiProviderCandidate:
    """A DDI provider with the addresses it sends calls from."""

    id: int
    brand_id: int
    addresses: frozenset[str]


@dataclass(frozen=True, slots=True)
class InboundDdi:
    """A DDI as seen by detection. ``inbound`` is False for outbound-only DDIs."""

    id: int
    e164: str
    brand_id: int
    company_id: int | None = None
    ddi_provider_id: int | None = None
    inbound: bool = True


class DetectionOutcome(StrEnum):
    ACCEPTED = "accepted"
    UNKNOWN_SOURCE = "unknown_source"  # no provider address matches: reject (403)
    UNKNOWN_DDI = "unknown_ddi"  # no transformed number is a DDI: reject (404)


@dataclass(frozen=True, slots=True)
class DdiProviderDetection:
    outcome: DetectionOutcome
    ddi_provider_id: int | None = None
    ddi: InboundDdi | None = None
    transformed: str | None = None  # the E.164 number that matched

    @property
    def accepted(self) -> bool:
        return self.outcome is DetectionOutcome.ACCEPTED


def detect_ddi_provider(
    source_ip: str,
    called: str,
    providers: Iterable[DdiProviderCandidate],
    ddis: Iterable[InboundDdi],
    transform: Transform,
) -> DdiProviderDetection:
    """Detect the DDI provider and DDI of an inbound call from ``source_ip`` to ``called``."""
    candidates = sorted((p for p in providers if source_ip in p.addresses), key=lambda p: p.id)
    if not candidates:
        return DdiProviderDetection(DetectionOutcome.UNKNOWN_SOURCE)

    by_number: dict[tuple[int, str], InboundDdi] = {}
    for ddi in ddis:
        if ddi.inbound:
            by_number.setdefault((ddi.brand_id, ddi.e164), ddi)

    candidate_ids = {p.id for p in candidates}
    for provider in candidates:
        transformed = transform(provider.id, called)
        matched = by_number.get((provider.brand_id, transformed))
        if matched is None:
            continue
        chosen = provider.id
        linked = matched.ddi_provider_id
        if linked is not None and linked != provider.id and linked in candidate_ids:
            chosen = linked
        return DdiProviderDetection(DetectionOutcome.ACCEPTED, chosen, matched, transformed)
    return DdiProviderDetection(DetectionOutcome.UNKNOWN_DDI)
