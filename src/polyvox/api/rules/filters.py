"""External call filters (spec 10.1.6): IvozProvider's ExternalCallFilter ``sanitizeValues()``.
The holiday and out-of-schedule routes follow rules.targets."""

from __future__ import annotations

from polyvox.api.lifecycle import WriteContext, pre_persist
from polyvox.api.rules.match_lists import _list_usable

HOLIDAY = ("holidayLocutionId", "holidayTargetType", "holidayNumberCountryId", "holidayNumberValue",
           "holidayExtensionId", "holidayVoicemailId")
OUT_OF_SCHEDULE = ("outOfScheduleLocutionId", "outOfScheduleTargetType", "outOfScheduleNumberCountryId",
                   "outOfScheduleNumberValue", "outOfScheduleExtensionId", "outOfScheduleVoicemailId")


@pre_persist("ExternalCallFilter")
def external_call_filter_values(ctx: WriteContext) -> None:
    """Holiday filtering off clears its calendars, locution and route; out-of-schedule filtering
    off its schedules, locution and route. Black and white lists are the client's or generic."""
    if not ctx.value("holidayEnabled"):
        ctx.new.update(dict.fromkeys(HOLIDAY))
        ctx.m2m["calendarIds"] = []
    if not ctx.value("outOfScheduleEnabled"):
        ctx.new.update(dict.fromkeys(OUT_OF_SCHEDULE))
        ctx.m2m["scheduleIds"] = []
    for field in ("blackListIds", "whiteListIds"):
        for i, ident in enumerate(ctx.m2m.get(field, [])):
            _list_usable(ctx, f"{field}[{i}]", ident)
