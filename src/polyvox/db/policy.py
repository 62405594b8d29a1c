"""Hand-written policy on top of the contract declarations.

The contract (``contract_decl``) says which fields and operations each level serves.
This module says what the contract cannot: who owns each row (tenancy), which
fields are computed, which list fields are many-to-many relations, which columns
exist only internally (the owner columns the contract sets from the token), which
rows are shared read-only with lower levels, and the spec's write-time rules. Storage
(``polyvox.db.model`` builds the tables from it); the API engine reads it too (docs/layers.md).
"""

from __future__ import annotations

from dataclasses import dataclass, field

# Entities whose rows belong to a client although the contract's client level does not
# expose the owner field: the engine sets it from the token.
CLIENT_OWNED = {
    "Calendar", "CallAcl", "CallForwardSetting", "ConditionalRoute", "ConferenceRoom", "Contact",
    "ExternalCallFilter", "HuntGroup", "Ivr", "Locution", "MatchList", "MusicOnHold", "PickUpGroup",
    "Queue", "Recording", "RouteLock", "Schedule", "UsersCdr", "Domain", "CompanyService", "BalanceMovement",
    "BalanceNotification", "CallCsvScheduler", "Webhook", "Location", "OutgoingDdiRule", "CallCsvReport",
}
# Entities whose rows belong to a brand although the contract's brand level does not
# expose the owner field.
BRAND_OWNED = {
    "Corporation", "Destination", "DestinationRateGroup", "FixedCost", "InvoiceNumberSequence",
    "RatingPlanGroup", "RoutingPattern", "RoutingPatternGroup", "RoutingTag", "TransformationRuleSet",
    "Carrier", "DdiProvider", "OutgoingRouting", "Company", "InvoiceTemplate", "NotificationTemplate",
    "MatchList", "MusicOnHold", "SpecialNumber", "BannedAddress", "Contact", "BillableCall",
    "BalanceNotification", "CallCsvScheduler", "CallCsvReport", "Webhook", "Invoice", "Ddi",
    "InvoiceScheduler", "Administrator", "WebPortal", "ProxyTrunksRelBrand", "FeaturesRelBrand",
    "BrandService", "Recording", "UsersCdr", "RatingProfile", "CarrierServer", "Domain", "BalanceMovement",
}
# Entities whose ``company`` field is a criterion (e.g. "applies to client X"), not the owner.
COMPANY_NOT_OWNER = {"OutgoingRouting"}
# Entities whose ``company`` is an owner but optional: rows without one belong to the brand
# (a brand's own SIP domain, generic match lists, brand music on hold...).
# Rows with a NULL owner are platform-wide and visible (read-only) to lower levels.
SHARED_WHEN_OWNER_NULL = {
    "TransformationRuleSet", "NotificationTemplate", "InvoiceTemplate", "MatchList", "MusicOnHold",
    "SpecialNumber",
}
# Rows of these entities are global reference data: every level reads all of them.
GLOBAL = {
    "Country", "Currency", "Language", "Timezone", "Feature", "Service", "Codec", "PublicEntity",
    "TerminalManufacturer", "TerminalModel", "ApplicationServer", "ApplicationServerSet",
    "MediaRelaySet", "Rtpengine", "ProxyUser", "ProxyTrunk",
}

# Fields computed at read time (never stored).
COMPUTED = {
    ("Company", "domainName"), ("Company", "accountStatus"), ("Contact", "mobilePhoneE164"),
    ("Contact", "workPhoneE164"), ("DestinationRate", "currencySymbol"), ("Carrier", "hasServers"),
    ("Domain", "brandName"), ("Domain", "companyName"), ("InvoiceTemplate", "global"),
    ("MatchList", "generic"), ("SpecialNumber", "global"), ("RouteLock", "openExtension"),
    ("Terminal", "status"), ("User", "status"), ("Friend", "status"), ("ResidentialDevice", "status"),
    ("RetailAccount", "status"), ("User", "oldPass"),
    ("RouteLock", "closeExtension"), ("RouteLock", "toggleExtension"),
}


@dataclass(frozen=True)
class ManyToMany:
    """A list-of-ids field stored in a relation entity."""

    rel: str  # relation entity
    local: str  # relation field pointing at the owner
    remote: str  # relation field pointing at the listed entity
    target: str  # listed entity


M2M: dict[tuple[str, str], ManyToMany] = {
    ("ApplicationServerSet", "applicationServers"): ManyToMany(
        "ApplicationServerSetRelApplicationServer", "applicationServerSet", "applicationServer", "ApplicationServer"),
    ("Brand", "features"): ManyToMany("FeaturesRelBrand", "brand", "feature", "Feature"),
    ("Brand", "proxyTrunks"): ManyToMany("ProxyTrunksRelBrand", "brand", "proxyTrunk", "ProxyTrunk"),
    ("Brand", "applicationServerSets"): ManyToMany(
        "BrandsRelApplicationServerSet", "brand", "applicationServerSet", "ApplicationServerSet"),
    ("Brand", "mediaRelaySets"): ManyToMany("BrandsRelMediaRelaySet", "brand", "mediaRelaySet", "MediaRelaySet"),
    ("CalendarPeriod", "scheduleIds"): ManyToMany("CalendarPeriodsRelSchedule", "calendarPeriod", "schedule", "Schedule"),
    ("Company", "codecIds"): ManyToMany("CompanyRelCodec", "company", "codec", "Codec"),
    ("Company", "featureIds"): ManyToMany("FeaturesRelCompany", "company", "feature", "Feature"),
    ("Company", "geoIpAllowedCountries"): ManyToMany("CompanyRelGeoIpCountry", "company", "country", "Country"),
    ("Company", "routingTagIds"): ManyToMany("CompanyRelRoutingTag", "company", "routingTag", "RoutingTag"),
    ("ConditionalRoutesCondition", "calendarIds"): ManyToMany(
        "ConditionalRoutesConditionsRelCalendar", "condition", "calendar", "Calendar"),
    ("ConditionalRoutesCondition", "matchListIds"): ManyToMany(
        "ConditionalRoutesConditionsRelMatchlist", "condition", "matchlist", "MatchList"),
    ("ConditionalRoutesCondition", "routeLockIds"): ManyToMany(
        "ConditionalRoutesConditionsRelRouteLock", "condition", "routeLock", "RouteLock"),
    ("ConditionalRoutesCondition", "scheduleIds"): ManyToMany(
        "ConditionalRoutesConditionsRelSchedule", "condition", "schedule", "Schedule"),
    ("ExternalCallFilter", "blackListIds"): ManyToMany("ExternalCallFilterBlackList", "filter", "matchlist", "MatchList"),
    ("ExternalCallFilter", "whiteListIds"): ManyToMany("ExternalCallFilterWhiteList", "filter", "matchlist", "MatchList"),
    ("ExternalCallFilter", "calendarIds"): ManyToMany("ExternalCallFilterRelCalendar", "filter", "calendar", "Calendar"),
    ("ExternalCallFilter", "scheduleIds"): ManyToMany("ExternalCallFilterRelSchedule", "filter", "schedule", "Schedule"),
    ("Fax", "relUserIds"): ManyToMany("FaxesRelUser", "fax", "user", "User"),
    ("Ivr", "excludedExtensionIds"): ManyToMany("IvrExcludedExtension", "ivr", "extension", "Extension"),
    ("Location", "userIds"): ManyToMany("UsersLocation", "location", "user", "User"),
    ("OutgoingRouting", "carrierIds"): ManyToMany("OutgoingRoutingRelCarrier", "outgoingRouting", "carrier", "Carrier"),
    ("PickUpGroup", "userIds"): ManyToMany("PickUpRelUser", "pickUpGroup", "user", "User"),
    ("RoutingPatternGroup", "patternIds"): ManyToMany(
        "RoutingPatternGroupsRelPattern", "routingPatternGroup", "routingPattern", "RoutingPattern"),
    ("User", "pickupGroupIds"): ManyToMany("PickUpRelUser", "user", "pickUpGroup", "PickUpGroup"),
    ("Voicemail", "relUserIds"): ManyToMany("VoicemailRelUser", "voicemail", "user", "User"),
}

# Relation entities that the contract does not expose but the model needs.
EXTRA_ENTITIES: dict[str, dict[str, str]] = {
    "ApplicationServerSetRelApplicationServer": {"applicationServerSet": "ApplicationServerSet",
                                                 "applicationServer": "ApplicationServer"},
    "BrandsRelApplicationServerSet": {"brand": "Brand", "applicationServerSet": "ApplicationServerSet"},
    "BrandsRelMediaRelaySet": {"brand": "Brand", "mediaRelaySet": "MediaRelaySet"},
    "CompanyRelGeoIpCountry": {"company": "Company", "country": "Country"},
    "CompanyRelRoutingTag": {"company": "Company", "routingTag": "RoutingTag"},
    "FaxesRelUser": {"fax": "Fax", "user": "User"},
    "UsersLocation": {"location": "Location", "user": "User"},
    "OutgoingRoutingRelCarrier": {"outgoingRouting": "OutgoingRouting", "carrier": "Carrier"},
}

# Extra internal columns: entity -> {field: (type, length)}.
EXTRA_COLUMNS: dict[str, dict[str, tuple[str, int]]] = {
    "Administrator": {"user": ("ref:User", 0)},
    # Sipwise C5 contacts (spec 004): the "External #" that tells apart the clients sharing one contact
    "Contact": {"externalNumber": ("string", 64)},
}

_CONTACT_FIELDS = ("name", "lastname", "email", "externalNumber", "workPhone", "workPhoneCountry", "mobilePhone",
                   "mobilePhoneCountry", "otherPhone")
# Resources Polyvox serves beyond IvozProvider's contract, per level (merged into the
# contract's declarations): Sipwise C5 contacts of brands and clients.
EXTRA_EXPOSURE: dict[str, dict[str, dict[str, tuple[str, ...]]]] = {
    "platform": {"Contact": {"ops": ("get", "list"), "collection": ("brand", "company", *_CONTACT_FIELDS),
                             "item": ("brand", "company", *_CONTACT_FIELDS), "write": (), "required": ()}},
    "brand": {"Company": {"extra_fields": ("distributeMethod",)},  # platform data, see GOD_ONLY
              "Contact": {"ops": ("create", "delete", "get", "list", "update"),
                          "collection": ("company", *_CONTACT_FIELDS), "item": ("company", *_CONTACT_FIELDS),
                          "write": ("company", *_CONTACT_FIELDS), "required": ("email",)}},
    "client": {"Contact": {"extra_fields": ("externalNumber",), "required": ("email",)}},
}


@dataclass(frozen=True)
class Unique:
    fields: tuple[str, ...]
    message: str
    scope: tuple[str, ...] = field(default=())


# Uniqueness rules checked by the engine before writing (spec 9.1.2, 9.1.3, 10.1.1 ...).
UNIQUE: dict[str, list[Unique]] = {
    "User": [Unique(("email",), "e-mail already in use by another user (user e-mails are globally unique)")],
    "Administrator": [Unique(("username",), "username already in use")],
    "Brand": [Unique(("name",), "a brand with this name already exists")],
    "ProxyTrunk": [Unique(("ip",), "this address is already a proxy trunks address")],
    "ResidentialDevice": [Unique(("name",), "name already in use within the brand", ("brand",))],
    "RetailAccount": [Unique(("name",), "name already in use within the brand", ("brand",))],
    "Terminal": [Unique(("name",), "name already in use within the domain", ("domain",))],
    "Extension": [Unique(("number",), "extension number already exists in this client", ("company",))],
    "Domain": [Unique(("domain",), "domain already in use")],
    "Country": [Unique(("code",), "country code already exists")],
    "Currency": [Unique(("iden",), "currency already exists")],
    "Ddi": [Unique(("ddie164",), "This DDI already exists on the platform (DDIs are unique in E.164 format)")],
    "RoutingTag": [Unique(("tag",), "routing tag already exists in this brand", ("brand",))],
    "Destination": [Unique(("prefix",), "a destination with this prefix already exists", ("brand",))],
}

# Secrets: stored hashed, never returned by the API.
PASSWORD_FIELDS = {("Administrator", "pass"), ("User", "pass")}

# Fields only the global operator sees and sets (spec 9.1.1 "Platform data", 9.2.1, 9.2.2):
# lower levels neither see their value nor write it; the platform defaults apply.
GOD_ONLY = {
    ("Company", "applicationServerSet"), ("Company", "mediaRelaySet"), ("Company", "distributeMethod"),
    ("Carrier", "mediaRelaySet"), ("DdiProvider", "mediaRelaySet"),
}

# "Display billing details to client" (Company.showInvoices, spec 8.13 / 9.1): when off, a
# client administrator sees neither these fields nor these resources.
BILLING_DETAIL_FIELDS = {
    ("BillableCall", "price"), ("BillableCall", "ratingPlanGroup"), ("BillableCall", "destination"),
    ("BillableCall", "priceDetails"), ("BillableCall", "invoice"),
    ("BillableCall", "destinationName"), ("BillableCall", "ratingPlanName"),
}
# Entities whose platform-level collection holds only the rows without a brand (spec 8.3: the
# anti-flood list; brute-force bans of a brand are the brand's, 9.8.6).
PLATFORM_OWNER_NULL = {"BannedAddress"}

BILLING_DETAIL_ENTITIES = {"Invoice", "RatingProfile", "RatingPlanGroup"}

# Fields the contract marks required that a provider does not have at creation time
# (a user's voicemail and contact are created with or after the user; a hunt group member
# routed to a number has no user: rules.targets demands the target of the chosen route type).
NOT_REQUIRED = {("User", "voicemail"), ("User", "contact"), ("HuntGroupMember", "user")}

# Rows whose owner is reached through this parent, not through another required relation: a
# hunt group member routed to a number has no user, it belongs to its hunt group's client.
OWNER_PARENT: dict[str, str] = {"HuntGroupMember": "huntGroup"}

# Brand rows a client administrator may read only when they are linked to the client:
# Platform-wide entities a brand only sees through its assignments: entity -> (linking entity,
# its field pointing at the row); the link has a brand field. Spec 8.14.2: a brand lists the
# proxy trunks addresses the platform assigned to it.
BRAND_VIA: dict[str, tuple[str, str]] = {
    "ProxyTrunk": ("ProxyTrunksRelBrand", "proxyTrunk"),
}

# entity -> (linking entity, its field pointing at the row). Rating plan groups through the
# client's rating profiles, routing tags through the tags enabled for the client.
CLIENT_VIA: dict[str, tuple[str, str]] = {
    "RatingPlanGroup": ("RatingProfile", "ratingPlanGroup"),
    "RoutingTag": ("CompanyRelRoutingTag", "routingTag"),
}
