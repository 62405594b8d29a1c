"""Features a god operator grants to brands and a brand operator to clients (spec 8.1, 9.1).

Hand-maintained.  Ids, idens and the en/es/ca/it names loaded into the database are
IvozProvider's (``_ivozprovider.FEATURES``); this table adds what IvozProvider has no
equivalent for: the Basque name and the scope.  The en/es/ca/it texts here are Polyvox's
earlier wording, kept for reference.
scope: "client" = can also be assigned to clients; "client_type" = enables a
client type for the brand; "brand" = brand-only.
"""

# fmt: off

# (iden, scope, name_en, name_es, name_ca, name_it, name_eu)
FEATURES = (
    ("queues", "client", "Queues", "Colas", "Cues", "Code", "Ilarak"),
    ("recordings", "client", "Recordings", "Grabaciones", "Enregistraments", "Registrazioni", "Grabazioak"),
    ("faxes", "client", "Faxes", "Faxes", "Faxos", "Fax", "Faxak"),
    ("friends", "client", "Friends", "Friends", "Friends", "Friends", "Friends"),
    ("conferences", "client", "Conferences", "Conferencias", "Conferències", "Conferenze", "Konferentziak"),
    ("billing", "client", "Billing", "Tarificación", "Tarificació", "Tariffazione", "Tarifikazioa"),
    ("invoices", "client", "Invoices", "Facturas", "Factures", "Fatture", "Fakturak"),
    ("progress", "brand", "Voice notifications", "Notificaciones de voz", "Notificacions de veu", "Notifiche vocali", "Ahots-jakinarazpenak"),
    ("residential", "client_type", "Residential clients", "Clientes residenciales", "Clients residencials", "Clienti residenziali", "Etxeko bezeroak"),
    ("wholesale", "client_type", "Wholesale clients", "Clientes mayoristas", "Clients majoristes", "Clienti wholesale", "Handizkako bezeroak"),
    ("retail", "client_type", "Retail clients", "Clientes retail", "Clients retail", "Clienti retail", "Retail bezeroak"),
    ("vpbx", "client_type", "vPBX clients", "Clientes vPBX", "Clients vPBX", "Clienti vPBX", "vPBX bezeroak"),
    ("operatorPanel", "client", "Operator panel", "Panel de operador", "Panell d'operador", "Pannello operatore", "Operadore-panela"),
)
