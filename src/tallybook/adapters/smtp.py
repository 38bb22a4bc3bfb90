"""``ports.MailTransport`` over SMTP (Python's ``smtplib``), configured by one URL.

``TALLYBOOK_SMTP_URL``: ``smtp://[user:password@]host[:port]`` (plain, port 25 by
default; add ``?starttls=true`` to upgrade with STARTTLS), ``smtp+starttls://...`` (port
587) or ``smtps://...`` (TLS from the start, port 465). User and password are URL-decoded.
Each message gets a ``Message-ID`` (returned) and a ``Date``; the PDF is attached.
"""

from __future__ import annotations

import smtplib
import ssl
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from urllib.parse import parse_qs, unquote, urlsplit

from tallybook.domain.finance.delivery import Mail

PORTS = {"smtp": 25, "smtp+starttls": 587, "smtps": 465}


@dataclass(frozen=True, slots=True)
class SmtpConfig:
    scheme: str
    host: str
    port: int
    username: str | None
    password: str | None
    starttls: bool

    @staticmethod
    def parse(url: str) -> SmtpConfig:
        """The settings in ``url``; ValueError for another scheme or no host."""
        parts = urlsplit(url)
        scheme = parts.scheme.lower()
        if scheme not in PORTS or not parts.hostname:
            raise ValueError("smtp_url must be smtp://, smtp+starttls:// or smtps://host[:port]")
        query = parse_qs(parts.query)
        starttls = scheme == "smtp+starttls" or query.get("starttls", ["false"])[0] == "true"
        return SmtpConfig(
            scheme,
            parts.hostname,
            parts.port or PORTS[scheme],
            unquote(parts.username) if parts.username else None,
            unquote(parts.password) if parts.password else None,
            starttls,
        )


class SmtpTransport:
    def __init__(self, url: str, timeout: float = 10.0):
        self._config = SmtpConfig.parse(url)
        self._timeout = timeout

    def send(self, mail: Mail) -> str:
        """Send ``mail``; its Message-ID. smtplib and socket errors propagate (retried)."""
        message = EmailMessage()
        message_id = make_msgid(domain=mail.sender.rsplit("@", 1)[-1])
        message["From"] = mail.sender
        message["To"] = ", ".join(mail.recipients)
        message["Subject"] = mail.subject
        message["Date"] = formatdate(localtime=False, usegmt=True)
        message["Message-ID"] = message_id
        for name, value in mail.headers:
            message[name] = value
        message.set_content(mail.text)
        for item in mail.attachments:
            main, _, sub = item.mime.partition("/")
            message.add_attachment(item.content, maintype=main, subtype=sub, filename=item.filename)
        config = self._config
        context = ssl.create_default_context()
        client: smtplib.SMTP
        if config.scheme == "smtps":
            client = smtplib.SMTP_SSL(
                config.host, config.port, timeout=self._timeout, context=context
            )
        else:
            client = smtplib.SMTP(config.host, config.port, timeout=self._timeout)
        with client:
            if config.starttls:
                client.starttls(context=context)
            if config.username is not None:
                client.login(config.username, config.password or "")
            client.send_message(message, from_addr=mail.sender, to_addrs=list(mail.recipients))
        return message_id
