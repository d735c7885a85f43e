"""Senders: a folder of .eml files (the embedded default, so `make run` needs no mail
server) or an SMTP server. Each logs one line per message: its id, kind and where it went,
never its body or its recipient."""

from __future__ import annotations

import logging
import os
import smtplib
import ssl
from email.message import EmailMessage
from email.utils import format_datetime, getaddresses, parseaddr
from pathlib import Path

from schemas.events import utcnow
from services.notifier.domain.messages import PermanentSendError, TransientSendError
from services.notifier.ports import Mail, Sender
from services.notifier.settings import NotifierSettings, SmtpSettings

log = logging.getLogger(__name__)


def to_email(mail: Mail, from_address: str) -> EmailMessage:
    """The e-mail, plain text with its HTML alternative; its Message-ID is the message's id,
    so a copy sent again can be recognised by the receiving side."""
    domain = parseaddr(from_address)[1].rpartition("@")[2] or "localhost"
    email = EmailMessage()
    email["Message-ID"] = f"<{mail.message_id}@{domain}>"
    email["Date"] = format_datetime(utcnow())
    email["From"] = from_address
    email["To"] = mail.to
    if [address for _, address in getaddresses([str(email["To"])])] != [mail.to]:
        # The header would carry another address than the one stored: never sent elsewhere.
        raise PermanentSendError("the address does not survive the To header unchanged")
    email["Subject"] = mail.rendered.subject
    email["Auto-Submitted"] = "auto-generated"  # RFC 3834: no automatic replies
    email.set_content(mail.rendered.text)
    email.add_alternative(mail.rendered.html, subtype="html")
    return email


class FileSender:
    """Writes each message to `<directory>/<message id>.eml`; writing one again replaces it,
    so a message is never there twice."""

    def __init__(self, directory: Path, from_address: str) -> None:
        self.directory = directory
        self.from_address = from_address

    def send(self, mail: Mail) -> None:
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            path = self.directory / f"{mail.message_id}.eml"
            partial = path.with_suffix(".eml.part")
            partial.write_bytes(to_email(mail, self.from_address).as_bytes())
            os.replace(partial, path)
        except OSError as exc:
            raise TransientSendError(f"cannot write ({exc.strerror})", unavailable=True) from exc
        log.info("message=%s kind=%s written to %s", mail.message_id, mail.kind, path)

    def close(self) -> None:
        pass


class SmtpSender:
    """Sends through one SMTP connection, opened when needed and kept for the pass."""

    def __init__(self, settings: SmtpSettings, from_address: str) -> None:
        self.settings = settings
        self.from_address = from_address
        self._smtp: smtplib.SMTP | None = None

    def _connect(self) -> smtplib.SMTP:
        s = self.settings
        smtp = smtplib.SMTP(s.host, s.port, timeout=s.timeout_seconds)
        try:
            smtp.ehlo()
            if s.starttls:
                smtp.starttls(context=ssl.create_default_context())
                smtp.ehlo()
            if s.username:
                password = s.password.get_secret_value() if s.password else ""
                smtp.login(s.username, password)
        except BaseException:
            smtp.close()
            raise
        return smtp

    def send(self, mail: Mail) -> None:
        email = to_email(mail, self.from_address)
        try:
            if self._smtp is None:
                self._smtp = self._connect()
            self._smtp.send_message(email)
        except smtplib.SMTPRecipientsRefused as exc:
            codes = sorted({code for code, _ in exc.recipients.values()})
            if all(code >= 500 for code in codes):
                raise PermanentSendError(f"recipient refused ({codes})") from exc
            raise TransientSendError(f"recipient deferred ({codes})") from exc
        except smtplib.SMTPDataError as exc:
            if exc.smtp_code >= 500:
                raise PermanentSendError(f"message refused ({exc.smtp_code})") from exc
            raise TransientSendError(f"message deferred ({exc.smtp_code})") from exc
        except smtplib.SMTPNotSupportedError as exc:
            # This message needs what the server does not offer (SMTPUTF8 for an address in
            # another alphabet): a failure of this message, not of the server.
            raise PermanentSendError(f"not supported by the server ({exc})") from exc
        except smtplib.SMTPResponseException as exc:
            # The server or our account, not this message: sender refused, authentication...
            self.close()
            raise TransientSendError(f"server answered {exc.smtp_code}", unavailable=True) from exc
        except OSError as exc:  # unreachable, timed out, disconnected (smtplib's too)
            self.close()
            raise TransientSendError(type(exc).__name__, unavailable=True) from exc
        log.info(
            "message=%s kind=%s sent to %s:%d",
            mail.message_id,
            mail.kind,
            self.settings.host,
            self.settings.port,
        )

    def close(self) -> None:
        smtp, self._smtp = self._smtp, None
        if smtp is None:
            return
        try:
            smtp.quit()
        except (OSError, smtplib.SMTPException):
            smtp.close()


def make_sender(settings: NotifierSettings) -> Sender:
    if settings.sender == "smtp":
        return SmtpSender(settings.smtp, settings.from_address)
    return FileSender(settings.mail_dir, settings.from_address)
