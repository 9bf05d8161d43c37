"""The shared raw-mail corpus: paths and rows of `email_labels.csv`, read as bytes, never copied."""

from __future__ import annotations

import csv
import functools
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from chalicelib.intake.email import ParsedEmail, parse_email

DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"
LABELS = DATA / "email_labels.csv"

# Labels whose messages must never be acknowledged (SOURCES.md, "Use").
NO_ACK_LABELS = frozenset({"bounce", "auto_reply", "complaint", "challenge_response", "delay_warning", "mdn", "spam"})
ACK_EXPECTED_LABELS = frozenset({"other", "reply", "not_bounce"})

# Files that are not an email at all: no header section (a bare body) or not MIME.
NOT_EMAIL = frozenset(
    {
        "emails_mail_parser/mail_outlook_1",  # Outlook .msg OLE2 binary
        "emails_cpython/msg_19.txt",  # a mailing-list digest body without any header
        "emails_enmime/mail/erroneous.raw",  # "// Not an RFC-822 Document"
        "emails_rt/lorem-ipsum",  # plain text, no header
    }
)

# Spam with no header signal at all: only a content filter (SES's spam verdict) can tell. They are
# checked with the verdict SES gives spam, FAIL, instead of being acked.
CONTENT_ONLY_SPAM = frozenset(
    {
        "bounces_bounceparser/spam-bogus-email-in-report.msg",
        "bounces_bounceparser/spam-with-badly-parsed-email.msg",
        "bounces_bounceparser/spam-with-image.msg",
        "emails_flanker/spam/broken-ctype.eml",
        "emails_flanker/spam/broken-headers.eml",
    }
)

RECEIVED_AT = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class Row:
    file: str
    label: str
    auto_submitted: str
    precedence: str
    list_id: str

    @property
    def path(self) -> Path:
        return DATA / self.file

    @property
    def must_not_ack(self) -> bool:
        """The label or the header facts say this is automated or list mail."""
        return (
            self.label in NO_ACK_LABELS
            or bool(self.list_id)
            or self.precedence.strip().lower() in ("bulk", "list", "junk")
            or (bool(self.auto_submitted) and self.auto_submitted.strip().lower() != "no")
        )


@functools.cache
def rows() -> tuple[Row, ...]:
    with LABELS.open(encoding="utf-8", newline="") as fh:
        return tuple(
            Row(r["file"], r["label"], r["auto_submitted"], r["precedence"], r["list_id"]) for r in csv.DictReader(fh)
        )


def parse_file(path: Path, **kwargs: object) -> ParsedEmail:
    return parse_email(
        path.read_bytes(),
        source_id=path.name,
        raw_key=f"raw/email/{path.name}",
        received_at=RECEIVED_AT,
        **kwargs,
    )  # type: ignore[arg-type]


def parse_bytes(raw: bytes, **kwargs: object) -> ParsedEmail:
    return parse_email(raw, source_id="test", raw_key="raw/email/test", received_at=RECEIVED_AT, **kwargs)  # type: ignore[arg-type]
