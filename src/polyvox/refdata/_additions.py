"""Polyvox's additions to IvozProvider's reference rows (hand-maintained).

IvozProvider names its rows in en/es/ca/it only and leaves time-zone labels empty;
Polyvox adds Basque names (most come from CLDR through the generated ``_countries``,
``_continents``... modules) and CLDR exemplar-city labels. These are the few values
CLDR has no entry for.
"""

# Basque name of each IvozProvider ``Countries.zone`` (keyed by its English name).
ZONE_EU = {
    "Africa": "Afrika",
    "Antarctica": "Antartika",
    "Asia": "Asia",
    "Europe": "Europa",
    "North america": "Ipar Amerika",
    "Oceania": "Ozeania",
    "South america": "Hego Amerika",
    "Universal": "Unibertsala",
}

# Basque names of IvozProvider countries that are not ISO 3166-1 entries.
COUNTRY_EU = {
    "UIFN": "Doako nazioarteko zenbaki unibertsala",
}

# Basque names of the brand-less transformation rule sets without a country (keyed by name_en).
RULE_SET_EU = {
    "E.164": "E.164",
    "E.164 (w/o plus)": "E.164 (+ gabe)",
}

# IvozProvider keeps the zone names of an older zone.tab; where IANA has since
# renamed a zone, its CLDR label is the new name's. Other retired zones are labelled with
# their own city.
TIMEZONE_RENAMED = {
    "America/Godthab": "America/Nuuk",
    "Asia/Rangoon": "Asia/Yangon",
    "Europe/Kiev": "Europe/Kyiv",
    "Pacific/Enderbury": "Pacific/Kanton",
}
