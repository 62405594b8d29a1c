"""Services reachable by dialling ``*`` + code from a terminal (spec 8.5, 9.7.6, 10.1.10).

Hand-maintained.  Ids, idens, default codes, ``extraArgs`` and the en/es/ca/it names
and descriptions loaded into the database are IvozProvider's (``_ivozprovider.SERVICES``,
QueuePause and QueueUnpause included, as IvozProvider 3.4.1's migrations add them);
this table adds the Basque name and description.  The en/es/ca/it texts here are
Polyvox's earlier wording, kept for reference.
"""

# fmt: off

# (iden, default_code, extra_args, name_en, name_es, name_ca, name_it, name_eu,
#  description_en, description_es, description_ca, description_it, description_eu)
SERVICES = (
    ("DirectPickUp", "94", True, "Direct pickup", "Captura directa", "Captura directa", "Risposta diretta", "Dei-hartze zuzena",
     "Answer a call ringing on another extension: dial the code followed by that extension",
     "Contesta una llamada que suena en otra extensión: marque el código seguido de esa extensión",
     "Contesta una trucada que sona en una altra extensió: marqueu el codi seguit d'aquesta extensió",
     "Risponde a una chiamata che squilla su un altro interno: comporre il codice seguito dall'interno",
     "Beste luzapen batean jotzen ari den deia hartu: markatu kodea eta ondoren luzapena"),
    ("GroupPickUp", "95", False, "Group pickup", "Captura de grupo", "Captura de grup", "Risposta di gruppo", "Talde-dei-hartzea",
     "Answer a call ringing for any member of your pickup groups",
     "Contesta una llamada que suena para cualquier miembro de sus grupos de captura",
     "Contesta una trucada que sona per a qualsevol membre dels vostres grups de captura",
     "Risponde a una chiamata che squilla per un membro dei propri gruppi di risposta",
     "Zure hartze-taldeetako edozein kideri jotzen ari zaion deia hartu"),
    ("Voicemail", "93", True, "Check voicemail", "Consultar buzón de voz", "Consultar la bústia de veu", "Ascolta segreteria", "Ahots-postontzia kontsultatu",
     "Listen to and manage your voicemail; optionally dial another extension after the code",
     "Escuche y gestione su buzón de voz; opcionalmente marque otra extensión tras el código",
     "Escolteu i gestioneu la bústia de veu; opcionalment marqueu una altra extensió després del codi",
     "Ascolta e gestisci la segreteria; facoltativamente componi un altro interno dopo il codice",
     "Entzun eta kudeatu ahots-postontzia; nahi izanez gero, markatu beste luzapen bat kodearen ondoren"),
    ("RecordLocution", "00", True, "Record locution", "Grabar locución", "Enregistrar locució", "Registra messaggio", "Lokuzioa grabatu",
     "Record a client locution: dial the code followed by the locution id",
     "Grabe una locución del cliente: marque el código seguido del identificador de la locución",
     "Enregistreu una locució del client: marqueu el codi seguit de l'identificador de la locució",
     "Registra un messaggio del cliente: componi il codice seguito dall'identificativo del messaggio",
     "Bezeroaren lokuzio bat grabatu: markatu kodea eta ondoren lokuzioaren identifikatzailea"),
    ("CloseLock", "70", True, "Close lock", "Cerrar candado", "Tancar cadenat", "Chiudi blocco", "Giltzarrapoa itxi",
     "Set a route lock to closed: dial the code followed by the lock id",
     "Cierra un candado de ruta: marque el código seguido del identificador del candado",
     "Tanca un cadenat de ruta: marqueu el codi seguit de l'identificador del cadenat",
     "Chiude un blocco di instradamento: componi il codice seguito dall'identificativo del blocco",
     "Bide-giltzarrapo bat itxi: markatu kodea eta ondoren giltzarrapoaren identifikatzailea"),
    ("OpenLock", "71", True, "Open lock", "Abrir candado", "Obrir cadenat", "Apri blocco", "Giltzarrapoa ireki",
     "Set a route lock to opened: dial the code followed by the lock id",
     "Abre un candado de ruta: marque el código seguido del identificador del candado",
     "Obre un cadenat de ruta: marqueu el codi seguit de l'identificador del cadenat",
     "Apre un blocco di instradamento: componi il codice seguito dall'identificativo del blocco",
     "Bide-giltzarrapo bat ireki: markatu kodea eta ondoren giltzarrapoaren identifikatzailea"),
    ("ToggleLock", "72", True, "Toggle lock", "Alternar candado", "Alternar cadenat", "Commuta blocco", "Giltzarrapoa txandakatu",
     "Switch a route lock between opened and closed: dial the code followed by the lock id",
     "Alterna un candado de ruta entre abierto y cerrado: marque el código seguido del identificador del candado",
     "Alterna un cadenat de ruta entre obert i tancat: marqueu el codi seguit de l'identificador del cadenat",
     "Commuta un blocco di instradamento tra aperto e chiuso: componi il codice seguito dall'identificativo del blocco",
     "Bide-giltzarrapo baten egoera aldatu (irekita/itxita): markatu kodea eta ondoren giltzarrapoaren identifikatzailea"),
    ("CallForwardInconditional", "80", True, "Unconditional call forward", "Desvío incondicional", "Desviament incondicional", "Inoltro incondizionato", "Baldintzarik gabeko desbideratzea",
     "Residential clients: code + national number or * (voicemail) enables it; the code alone disables it",
     "Clientes residenciales: código + número nacional o * (buzón) lo activa; solo el código lo desactiva",
     "Clients residencials: codi + número nacional o * (bústia) l'activa; només el codi el desactiva",
     "Clienti residenziali: codice + numero nazionale o * (segreteria) lo attiva; il solo codice lo disattiva",
     "Etxeko bezeroak: kodea + zenbaki nazionala edo * (postontzia) aktibatzeko; kodea soilik desaktibatzeko"),
    ("CallForwardBusy", "81", True, "Busy call forward", "Desvío si ocupado", "Desviament si ocupat", "Inoltro se occupato", "Desbideratzea okupatuta badago",
     "Residential clients: code + national number or * (voicemail) enables it; the code alone disables it",
     "Clientes residenciales: código + número nacional o * (buzón) lo activa; solo el código lo desactiva",
     "Clients residencials: codi + número nacional o * (bústia) l'activa; només el codi el desactiva",
     "Clienti residenziali: codice + numero nazionale o * (segreteria) lo attiva; il solo codice lo disattiva",
     "Etxeko bezeroak: kodea + zenbaki nazionala edo * (postontzia) aktibatzeko; kodea soilik desaktibatzeko"),
    ("CallForwardNoAnswer", "82", True, "No answer call forward", "Desvío si no contesta", "Desviament si no contesta", "Inoltro se non risponde", "Desbideratzea erantzunik ez badago",
     "Residential clients: code + national number or * (voicemail) enables it; the code alone disables it",
     "Clientes residenciales: código + número nacional o * (buzón) lo activa; solo el código lo desactiva",
     "Clients residencials: codi + número nacional o * (bústia) l'activa; només el codi el desactiva",
     "Clienti residenziali: codice + numero nazionale o * (segreteria) lo attiva; il solo codice lo disattiva",
     "Etxeko bezeroak: kodea + zenbaki nazionala edo * (postontzia) aktibatzeko; kodea soilik desaktibatzeko"),
    ("CallForwardUnreachable", "83", True, "Unreachable call forward", "Desvío si no disponible", "Desviament si no disponible", "Inoltro se non raggiungibile", "Desbideratzea eskuragarri ez badago",
     "Residential clients: code + national number or * (voicemail) enables it; the code alone disables it",
     "Clientes residenciales: código + número nacional o * (buzón) lo activa; solo el código lo desactiva",
     "Clients residencials: codi + número nacional o * (bústia) l'activa; només el codi el desactiva",
     "Clienti residenziali: codice + numero nazionale o * (segreteria) lo attiva; il solo codice lo disattiva",
     "Etxeko bezeroak: kodea + zenbaki nazionala edo * (postontzia) aktibatzeko; kodea soilik desaktibatzeko"),
)

# Not listed in the 3.4 documentation (spec 8.5) but shipped by the IvozProvider
# 3.4.0 release (migration of 2023-11): queue member pause/unpause.  Not loaded
# by default; exposed through ``optional_services()``.
OPTIONAL_SERVICES = (
    ("QueuePause", "73", False, "Queue pause", "Pausa en colas", "Pausa a les cues", "Pausa nelle code", "Ilaretan pausa",
     "Pause the user in every queue so that no queue calls are delivered",
     "Pausa al usuario en todas las colas para que no reciba llamadas de cola",
     "Posa en pausa l'usuari a totes les cues perquè no rebi trucades de cua",
     "Mette in pausa l'utente in tutte le code per non ricevere chiamate di coda",
     "Erabiltzailea ilara guztietan pausatu, ilaretako deirik jaso ez dezan"),
    ("QueueUnpause", "74", False, "Queue unpause", "Reanudar en colas", "Reprendre a les cues", "Riprendi nelle code", "Ilaretan berrekin",
     "Resume the user in every queue so that queue calls are delivered again",
     "Reanuda al usuario en todas las colas para que vuelva a recibir llamadas de cola",
     "Reprèn l'usuari a totes les cues perquè torni a rebre trucades de cua",
     "Riprende l'utente in tutte le code per ricevere di nuovo chiamate di coda",
     "Erabiltzailea ilara guztietan berraktibatu, ilaretako deiak berriz jaso ditzan"),
)
