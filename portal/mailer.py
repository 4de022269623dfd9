"""Sending the portal's few e-mails (verify address, reset password) over SMTP."""

from __future__ import annotations

import logging
import smtplib
from email.message import EmailMessage
from email.utils import make_msgid

from portal.config import SmtpSettings
from vpanel_core.errors import DomainError

log = logging.getLogger(__name__)


class MailFailed(DomainError):
    code = "MAIL_FAILED"
    http_status = 503

    def __init__(self) -> None:
        super().__init__("we could not send the e-mail right now; please try again later")


class Mailer:
    def __init__(self, settings: SmtpSettings) -> None:
        self.settings = settings

    def send(self, to: str, subject: str, body: str) -> None:
        """Send a plain-text mail; failures become one clear error, never a stack trace."""
        s = self.settings
        if not s.host:
            # Development without SMTP: say so without printing the (secret) link.
            log.warning("SMTP is not configured; mail %r to a user was not sent", subject)
            raise MailFailed()
        message = EmailMessage()
        message["From"] = s.sender
        message["To"] = to
        message["Subject"] = subject
        message["Message-ID"] = make_msgid(domain=s.sender.rpartition("@")[2] or "localhost")
        message.set_content(body)
        client_type = smtplib.SMTP_SSL if s.use_ssl else smtplib.SMTP
        try:
            with client_type(s.host, s.port, timeout=s.timeout) as client:
                if s.starttls and not s.use_ssl:
                    client.starttls()
                if s.username:
                    client.login(s.username, s.password)
                client.send_message(message)
        except (OSError, smtplib.SMTPException) as exc:
            log.error("sending mail %r failed: %s", subject, type(exc).__name__)
            raise MailFailed() from None
