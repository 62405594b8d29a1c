"""E-mail notifications of the billing worker (spec 9.4.3 "Balance Notifications", 9.7.4
"Notification templates", 12.6 / client "Max daily usage" e-mail).

* Template: the one assigned (balance notification's template; client's max daily usage
  template), else the brand's template of that type (brands only have one for max daily usage),
  else the platform default of the type (``notification_templates.brandId IS NULL``).
* Contents: the language of the client (else its brand's, else English) for client
  notifications, the brand's for carrier notifications; a template lacking that language uses the
  default template's contents in that language ("default contents will be used"), then any
  English contents of the template, then its first contents.
* Variables ``${NAME}`` of the type (``lowbalance``: BALANCE_NAME, BALANCE_AMOUNT;
  ``maxDailyUsage``: MAXDAILYUSAGE_COMPANY, MAXDAILYUSAGE_AMOUNT) are replaced in subject and
  body; unknown ``${...}`` are left as written.
* Mails are queued in ``billing_mail_outbox`` inside the billing transaction and sent after the
  commit by :func:`send_pending` through SMTP (``POLYVOX_SMTP_HOST``/``POLYVOX_SMTP_PORT``,
  default 127.0.0.1:25); failures are retried on the next passes (at most ``MAX_ATTEMPTS``).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import re
import smtplib
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formataddr
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.engine import Connection, Engine

from polyvox.db.billing_state import billing_mail_outbox
from polyvox.db.model import ENTITY

MAX_ATTEMPTS = 10
DEFAULT_FROM = "no-reply@example.com"
_VAR = re.compile(r"\$\{([A-Z0-9_]+)\}")


def _t(name: str) -> Any:
    return ENTITY[name].table


@dataclass(frozen=True)
class SmtpSettings:
    host: str = "127.0.0.1"
    port: int = 25
    timeout: float = 10.0

    @classmethod
    def from_env(cls) -> SmtpSettings:
        return cls(os.environ.get("POLYVOX_SMTP_HOST", "127.0.0.1"), int(os.environ.get("POLYVOX_SMTP_PORT", "25")))


def render(text: str, variables: dict[str, str]) -> str:
    return _VAR.sub(lambda m: variables.get(m.group(1), m.group(0)), text or "")


def _language(conn: Connection, company_id: int | None, brand_id: int | None) -> int | None:
    if company_id is not None:
        co = _t("Company")
        lang = conn.execute(select(co.c.languageId).where(co.c.id == company_id)).scalar()
        if lang is not None:
            return int(lang)
    if brand_id is not None:
        b = _t("Brand")
        lang = conn.execute(select(b.c.languageId).where(b.c.id == brand_id)).scalar()
        if lang is not None:
            return int(lang)
    lt = _t("Language")
    found = conn.execute(select(lt.c.id).where(lt.c.iden == "en")).scalar()
    return int(found) if found is not None else None


def _default_template(conn: Connection, kind: str) -> int | None:
    nt = _t("NotificationTemplate")
    found = conn.execute(select(nt.c.id).where(nt.c.brandId.is_(None), nt.c.type == kind)
                         .order_by(nt.c.id).limit(1)).scalar()
    return int(found) if found is not None else None


def _content(conn: Connection, template_id: int | None, kind: str, language_id: int | None) -> Any:
    ntc, lt = _t("NotificationTemplateContent"), _t("Language")
    default_id = _default_template(conn, kind)
    en = conn.execute(select(lt.c.id).where(lt.c.iden == "en")).scalar()
    candidates: list[tuple[int | None, Any]] = [
        (template_id, ntc.c.languageId == language_id), (default_id, ntc.c.languageId == language_id),
        (template_id, ntc.c.languageId == en), (default_id, ntc.c.languageId == en),
        (template_id, ntc.c.id.isnot(None)), (default_id, ntc.c.id.isnot(None))]
    for tid, cond in candidates:
        if tid is None:
            continue
        row = conn.execute(select(ntc).where(ntc.c.notificationTemplateId == tid, cond).order_by(ntc.c.id)
                           .limit(1)).first()
        if row is not None:
            return row
    return None


def queue(conn: Connection, *, kind: str, to: str, template_id: int | None, company_id: int | None,
          brand_id: int | None, variables: dict[str, str], now: dt.datetime) -> bool:
    """Render the notification of ``kind`` and queue it; False when there is nothing to send
    (no address or no contents at all)."""
    addresses = [a.strip() for a in re.split(r"[,;]", to or "") if a.strip()]
    if not addresses:
        return False
    content = _content(conn, template_id, kind, _language(conn, company_id, brand_id))
    if content is None:
        return False
    conn.execute(billing_mail_outbox.insert().values(
        kind=kind, toAddress=", ".join(addresses), fromAddress=content.fromAddress or DEFAULT_FROM,
        fromName=content.fromName, subject=render(content.subject, variables)[:255],
        body=render(content.body, variables), bodyType=content.bodyType or "text/plain",
        createdAt=now.replace(tzinfo=None), attempts=0))
    return True


def send_pending(engine: Engine, smtp: SmtpSettings | None = None, now: dt.datetime | None = None,
                 limit: int = 50) -> int:
    """Send queued mails; returns how many were sent. Each mail is marked in its own
    transaction right after the SMTP server accepted it."""
    smtp = smtp or SmtpSettings.from_env()
    ob = billing_mail_outbox
    with engine.connect() as c:
        rows = list(c.execute(select(ob).where(ob.c.sentAt.is_(None), ob.c.attempts < MAX_ATTEMPTS)
                              .order_by(ob.c.id).limit(limit)))
    sent = 0
    if not rows:
        return 0
    try:
        client = smtplib.SMTP(smtp.host, smtp.port, timeout=smtp.timeout)
    except OSError as e:
        with engine.begin() as c:
            for r in rows:
                c.execute(update(ob).where(ob.c.id == r.id).values(attempts=r.attempts + 1,
                                                                     lastError=f"connect: {e}"[:500]))
        return 0
    try:
        for r in rows:
            msg = EmailMessage()
            msg["From"] = formataddr((r.fromName, r.fromAddress)) if r.fromName else r.fromAddress
            msg["To"] = r.toAddress
            msg["Subject"] = r.subject
            subtype = "html" if r.bodyType == "text/html" else "plain"
            msg.set_content(r.body, subtype=subtype)
            stamp = (now or dt.datetime.now(dt.UTC)).replace(tzinfo=None, microsecond=0)
            try:
                client.send_message(msg)
            except (smtplib.SMTPException, OSError) as e:
                with engine.begin() as c:
                    c.execute(update(ob).where(ob.c.id == r.id).values(attempts=r.attempts + 1,
                                                                         lastError=str(e)[:500]))
                continue
            with engine.begin() as c:
                c.execute(update(ob).where(ob.c.id == r.id).values(sentAt=stamp, attempts=r.attempts + 1))
            sent += 1
    finally:
        with contextlib.suppress(smtplib.SMTPException, OSError):
            client.quit()
    return sent
