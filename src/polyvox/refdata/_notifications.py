"""Default notification templates (spec 8.7, 9.7.4).

Hand-maintained, Polyvox's own wording.  The ``${VARIABLE}`` names are the
substitution variables each notification type offers (IvozProvider-compatible).
"""

DEFAULT_FROM_ADDRESS = "no-reply@example.com"
FROM_NAME = {"en": "Polyvox Notifications", "es": "Notificaciones Polyvox"}

# type -> substitution variables available in subject and body
VARIABLES = {
    "voicemail": (
        "VM_NAME",
        "VM_MAILBOX",
        "VM_CONTEXT",
        "VM_MSGNUM",
        "VM_CATEGORY",
        "VM_DUR",
        "VM_DATE",
        "VM_CALLERID",
        "VM_CIDNAME",
        "VM_CIDNUM",
    ),
    "fax": ("FAX_NAME", "FAX_SRC", "FAX_DST", "FAX_DATE", "FAX_PAGES", "FAX_PDFNAME"),
    "limit": (),
    "lowbalance": ("BALANCE_NAME", "BALANCE_AMOUNT"),
    "invoice": (
        "INVOICE_COMPANY",
        "INVOICE_DATE_IN",
        "INVOICE_DATE_OUT",
        "INVOICE_AMOUNT",
        "INVOICE_CURRENCY",
    ),
    "callCsv": ("CALLCSV_COMPANY", "CALLCSV_DATE_IN", "CALLCSV_DATE_OUT"),
    "maxDailyUsage": ("MAXDAILYUSAGE_COMPANY", "MAXDAILYUSAGE_AMOUNT"),
    "accessCredentials": ("USER", "PASSWORD"),
    "onDemandRecord": ("RECORD_COMPANY", "RECORD_CALLER", "RECORD_CALLEE", "RECORD_DATE", "RECORD_DURATION"),
}

FOOTER = {
    "en": "\n\n--\nThis message was sent automatically, please do not reply to it.\n",
    "es": "\n\n--\nEste mensaje se ha enviado automáticamente, por favor no lo responda.\n",
}

# (type, template name, {lang: (subject, body)}); bodies get the footer appended.
TEMPLATES = (
    (
        "voicemail",
        "Default voicemail notification",
        {
            "en": (
                "New voicemail from ${VM_CIDNAME} (${VM_CIDNUM})",
                "Hello ${VM_NAME},\n\n"
                "A new message (#${VM_MSGNUM}) has been left in your voicemail ${VM_MAILBOX}.\n\n"
                "From: ${VM_CIDNAME} (${VM_CIDNUM})\n"
                "Date: ${VM_DATE}\n"
                "Duration: ${VM_DUR}\n\n"
                "If the recording is attached you can play it from this email; you can also dial the "
                "voicemail service code from your phone.",
            ),
            "es": (
                "Nuevo mensaje de voz de ${VM_CIDNAME} (${VM_CIDNUM})",
                "Hola ${VM_NAME}:\n\n"
                "Tiene un nuevo mensaje (n.º ${VM_MSGNUM}) en su buzón de voz ${VM_MAILBOX}.\n\n"
                "De: ${VM_CIDNAME} (${VM_CIDNUM})\n"
                "Fecha: ${VM_DATE}\n"
                "Duración: ${VM_DUR}\n\n"
                "Si la grabación va adjunta puede escucharla desde este correo; también puede marcar el "
                "código del servicio de buzón de voz desde su teléfono.",
            ),
        },
    ),
    (
        "fax",
        "Default fax notification",
        {
            "en": (
                "New fax from ${FAX_SRC} received in ${FAX_NAME} (${FAX_DST})",
                "Hello,\n\n"
                "The virtual fax ${FAX_NAME} (${FAX_DST}) has received a new document.\n\n"
                "From: ${FAX_SRC}\n"
                "Date: ${FAX_DATE}\n"
                "Pages: ${FAX_PAGES}\n\n"
                "The document is attached to this email as ${FAX_PDFNAME}.",
            ),
            "es": (
                "Nuevo fax de ${FAX_SRC} recibido en ${FAX_NAME} (${FAX_DST})",
                "Hola:\n\n"
                "El fax virtual ${FAX_NAME} (${FAX_DST}) ha recibido un nuevo documento.\n\n"
                "De: ${FAX_SRC}\n"
                "Fecha: ${FAX_DATE}\n"
                "Páginas: ${FAX_PAGES}\n\n"
                "El documento se adjunta a este correo como ${FAX_PDFNAME}.",
            ),
        },
    ),
    (
        "lowbalance",
        "Default low balance notification",
        {
            "en": (
                "Low balance alert for ${BALANCE_NAME}",
                "Hello,\n\n"
                "The balance of ${BALANCE_NAME} has dropped below the configured threshold.\n\n"
                "Current balance: ${BALANCE_AMOUNT}\n\n"
                "Please top up the account to avoid interruptions of outgoing external calls.",
            ),
            "es": (
                "Aviso de saldo bajo de ${BALANCE_NAME}",
                "Hola:\n\n"
                "El saldo de ${BALANCE_NAME} ha bajado del umbral configurado.\n\n"
                "Saldo actual: ${BALANCE_AMOUNT}\n\n"
                "Recargue la cuenta para evitar que se interrumpan las llamadas externas salientes.",
            ),
        },
    ),
    (
        "invoice",
        "Default invoice notification",
        {
            "en": (
                "New invoice for ${INVOICE_COMPANY}",
                "Hello,\n\n"
                "A new invoice for ${INVOICE_COMPANY} is available.\n\n"
                "Period: ${INVOICE_DATE_IN} - ${INVOICE_DATE_OUT}\n"
                "Total: ${INVOICE_AMOUNT} ${INVOICE_CURRENCY}\n\n"
                "The invoice is attached to this email.",
            ),
            "es": (
                "Nueva factura para ${INVOICE_COMPANY}",
                "Hola:\n\n"
                "Hay una nueva factura disponible para ${INVOICE_COMPANY}.\n\n"
                "Periodo: ${INVOICE_DATE_IN} - ${INVOICE_DATE_OUT}\n"
                "Total: ${INVOICE_AMOUNT} ${INVOICE_CURRENCY}\n\n"
                "La factura se adjunta a este correo.",
            ),
        },
    ),
    (
        "callCsv",
        "Default call CSV notification",
        {
            "en": (
                "Call report for ${CALLCSV_COMPANY}",
                "Hello,\n\n"
                "The scheduled call report for ${CALLCSV_COMPANY} is ready.\n\n"
                "Period: ${CALLCSV_DATE_IN} - ${CALLCSV_DATE_OUT}\n\n"
                "The report is attached to this email as a CSV file.",
            ),
            "es": (
                "Informe de llamadas de ${CALLCSV_COMPANY}",
                "Hola:\n\n"
                "El informe de llamadas programado de ${CALLCSV_COMPANY} está listo.\n\n"
                "Periodo: ${CALLCSV_DATE_IN} - ${CALLCSV_DATE_OUT}\n\n"
                "El informe se adjunta a este correo como fichero CSV.",
            ),
        },
    ),
    (
        "maxDailyUsage",
        "Default max daily usage notification",
        {
            "en": (
                "Maximum daily usage reached by ${MAXDAILYUSAGE_COMPANY}",
                "Hello,\n\n"
                "${MAXDAILYUSAGE_COMPANY} has reached its maximum daily usage of ${MAXDAILYUSAGE_AMOUNT}.\n\n"
                "Outgoing external calls are blocked until midnight, when the counter is reset. Raising "
                "the maximum daily usage above today's usage re-enables them immediately.",
            ),
            "es": (
                "${MAXDAILYUSAGE_COMPANY} ha alcanzado su consumo diario máximo",
                "Hola:\n\n"
                "${MAXDAILYUSAGE_COMPANY} ha alcanzado su consumo diario máximo de ${MAXDAILYUSAGE_AMOUNT}.\n\n"
                "Las llamadas externas salientes quedan bloqueadas hasta medianoche, cuando se reinicia el "
                "contador. Si aumenta el consumo diario máximo por encima del consumo de hoy se "
                "desbloquean inmediatamente.",
            ),
        },
    ),
    (
        "accessCredentials",
        "Default access credentials notification",
        {
            "en": (
                "Your portal access credentials",
                "Hello,\n\n"
                "These are your credentials for the administration portal:\n\n"
                "User: ${USER}\n"
                "Password: ${PASSWORD}\n\n"
                "Please change the password after your first login.",
            ),
            "es": (
                "Sus credenciales de acceso al portal",
                "Hola:\n\n"
                "Estas son sus credenciales para el portal de administración:\n\n"
                "Usuario: ${USER}\n"
                "Contraseña: ${PASSWORD}\n\n"
                "Cambie la contraseña tras su primer acceso.",
            ),
        },
    ),
    (
        "onDemandRecord",
        "Default on-demand recording notification",
        {
            "en": (
                "New call recording for ${RECORD_COMPANY}",
                "Hello,\n\n"
                "An on-demand call recording has been saved.\n\n"
                "Caller: ${RECORD_CALLER}\n"
                "Callee: ${RECORD_CALLEE}\n"
                "Date: ${RECORD_DATE}\n"
                "Duration: ${RECORD_DURATION}\n\n"
                "The recording is attached to this email.",
            ),
            "es": (
                "Nueva grabación de llamada de ${RECORD_COMPANY}",
                "Hola:\n\n"
                "Se ha guardado una grabación de llamada bajo demanda.\n\n"
                "Origen: ${RECORD_CALLER}\n"
                "Destino: ${RECORD_CALLEE}\n"
                "Fecha: ${RECORD_DATE}\n"
                "Duración: ${RECORD_DURATION}\n\n"
                "La grabación se adjunta a este correo.",
            ),
        },
    ),
)
