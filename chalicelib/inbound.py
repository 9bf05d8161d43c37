"""The channel-neutral inbound message: the only thing guard, classify and route ever see."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum


class Channel(StrEnum):
    # Stored in DynamoDB: never rename.
    EMAIL = "email"
    SMS = "sms"
    WEB = "web"


@dataclass(frozen=True, slots=True)
class TemplateRef:
    """Which library template an outbound message was rendered from: id, immutable version, language used."""

    id: str
    version: int
    language: str


@dataclass(frozen=True, slots=True)
class Attachment:
    filename: str
    content_type: str
    size: int
    s3_key: str | None = None
    inline: bool = False
    content_id: str | None = None


@dataclass(frozen=True, slots=True)
class InboundMessage:
    """One customer message after its channel's intake parsed it.

    `sender` is the normalised identity value (lower-case email or E.164 phone); it is empty when
    the channel could not establish one, and then `problems` says why and no ack is sent.
    """

    channel: Channel
    source_id: str
    raw_key: str
    received_at: datetime
    sender: str
    text: str
    sender_name: str = ""
    phone: str | None = None
    recipients: tuple[str, ...] = ()
    subject: str = ""
    new_text: str | None = None
    html: str | None = None
    topic_hint: str | None = None
    language_hint: str | None = None
    message_id: str | None = None
    in_reply_to: tuple[str, ...] = ()
    references: tuple[str, ...] = ()
    headers: Mapping[str, str] = field(default_factory=dict)
    content_types: tuple[str, ...] = ()
    return_path: str | None = None
    verdicts: Mapping[str, str] = field(default_factory=dict)
    attachments: tuple[Attachment, ...] = ()
    consent: bool = False
    # Marketing accepted explicitly (the contact form's optional box); nothing else opts a customer in.
    marketing_opt_in: bool = False
    keyword: str | None = None
    # A reference handed out at intake (web form), used for the conversation it opens.
    reference: str | None = None
    problems: tuple[str, ...] = ()

    @property
    def body(self) -> str:
        """The text to classify: the new part of a reply when known, else the whole text."""
        return self.new_text if self.new_text else self.text

    def identity(self) -> str | None:
        if not self.sender:
            return None
        prefix = "phone" if self.channel is Channel.SMS else "email"
        return f"{prefix}#{self.sender}"
