"""SMS rules: keywords (STOP/START/HELP), GSM-7 and UCS-2 segment counting, and sending through SNS."""

from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING

from botocore.exceptions import BotoCoreError, ClientError

from chalicelib.errors import DeliveryError, SegmentBudgetExceeded, SendNotAttempted, ValidationError
from chalicelib.observability import logger

if TYPE_CHECKING:
    from mypy_boto3_sns import SNSClient

    from chalicelib.config import Campaign

# --------------------------------------------------------------------------------------------
# Keywords


class Keyword(StrEnum):
    # Stored in DynamoDB: never rename.
    STOP = "STOP"
    START = "START"
    HELP = "HELP"


# Carrier opt-out words (CTIA and the AWS End User Messaging defaults) plus common translations.
OPT_OUT_WORDS = (
    "STOP",
    "STOPALL",
    "UNSUBSCRIBE",
    "CANCEL",
    "END",
    "QUIT",
    "OPTOUT",
    "OPT-OUT",
    "REMOVE",
    "ARRET",
    "ARRÊT",
)
OPT_IN_WORDS = ("START", "UNSTOP", "YES")
HELP_WORDS = ("HELP", "INFO", "AIDE", "HJÄLP", "HILFE", "AYUDA")

# Quotes and punctuation people wrap a keyword in: "Stop." / 'STOP!' / «arrêt».
_WRAPPING = "\"'`´‘’‚‛“”„‟«»‹›.,;:!?¡¿()[]{}<>*~-_ \t\r\n\u00a0\u200b"
_INNER_SEPARATORS = re.compile(r"[\s\-_.]+")


def keyword_key(text: str) -> str:
    """The form keywords are compared in: accents, case, wrapping punctuation and inner spaces removed.

    So "  stop. ", "Opt out", "opt-out" and "Arrêt" all become STOP, OPTOUT, OPTOUT and ARRET.
    """
    decomposed = unicodedata.normalize("NFKD", text)
    bare = "".join(c for c in decomposed if not unicodedata.combining(c))
    return _INNER_SEPARATORS.sub("", bare.strip(_WRAPPING)).casefold().upper()


@functools.lru_cache(maxsize=8)
def _table(extra_out: tuple[str, ...], extra_in: tuple[str, ...]) -> dict[str, Keyword]:
    table: dict[str, Keyword] = {}
    # Later assignments win, so the order makes opt-out beat opt-in beat help when a campaign word
    # collides with a default: failing to stop is the one mistake a carrier audit never forgives.
    for words, kw in (
        (HELP_WORDS, Keyword.HELP),
        ((*OPT_IN_WORDS, *extra_in), Keyword.START),
        ((*OPT_OUT_WORDS, *extra_out), Keyword.STOP),
    ):
        for word in words:
            key = keyword_key(word)
            if key:
                table[key] = kw
    return table


_DEFAULT_TABLE = _table((), ())


def detect_keyword(body: str, campaign: Campaign | None = None) -> Keyword | None:
    """The keyword the WHOLE message is, or None ("stop sending me offers" is a message, not STOP).

    Case, accents, surrounding whitespace, quotes and trailing punctuation are ignored, and so are
    spaces or hyphens inside ("opt out"). The campaign's `sms.opt_out_keywords` / `opt_in_keywords`
    add to the carrier defaults. A word listed both as opt-out and opt-in counts as opt-out.

    START/YES are only meaningful for a number that is opted out: the caller should treat them as
    an ordinary message otherwise (a "Yes" answering a staff question must not trigger a
    confirmation SMS).
    """
    key = keyword_key(body)
    if not key or len(key) > 40:  # no keyword is this long: skip building tables for real messages
        return None
    if campaign is not None and (campaign.sms.opt_out_keywords or campaign.sms.opt_in_keywords):
        table = _table(campaign.sms.opt_out_keywords, campaign.sms.opt_in_keywords)
    else:
        table = _DEFAULT_TABLE
    return table.get(key)


# --------------------------------------------------------------------------------------------
# Segments


class SmsEncoding(StrEnum):
    GSM7 = "GSM-7"
    UCS2 = "UCS-2"


# 3GPP TS 23.038 default alphabet (ESC 0x1B left out: it only introduces the extension table).
GSM7_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
# The extension table: each of these is ESC + a septet, so it costs two septets.
GSM7_EXTENSION = frozenset("\f^{}\\[~]|€")

GSM7_SINGLE = 160
GSM7_PART = 153  # 7 septets of each part go to the concatenation header (UDH)
UCS2_SINGLE = 70
UCS2_PART = 67
# SNS refuses longer SMS publishes (and splits at most into 10 parts in practice).
MAX_SMS_CHARS = 1600


@dataclass(frozen=True, slots=True)
class SegmentCount:
    """How a text goes over the air: `units` are septets (GSM-7) or UTF-16 code units (UCS-2)."""

    encoding: SmsEncoding
    units: int
    segments: int


_NOT_GSM7 = re.compile("[^" + re.escape("".join(sorted(GSM7_BASIC | GSM7_EXTENSION))) + "]")
_GSM7_ESCAPED = re.compile("[" + re.escape("".join(sorted(GSM7_EXTENSION))) + "]")


def is_gsm7(text: str) -> bool:
    return _NOT_GSM7.search(text) is None


def _units(text: str, encoding: SmsEncoding) -> int:
    if encoding is SmsEncoding.GSM7:
        return len(text) + len(_GSM7_ESCAPED.findall(text))
    # Characters outside the BMP (most emoji) are a surrogate pair: two UTF-16 code units.
    return len(text.encode("utf-16-le")) // 2


def _costs(text: str, encoding: SmsEncoding) -> list[int]:
    if encoding is SmsEncoding.GSM7:
        return [2 if c in GSM7_EXTENSION else 1 for c in text]
    return [2 if ord(c) > 0xFFFF else 1 for c in text]


def split_segments(text: str) -> list[str]:
    """The parts a phone receives, in order; an empty text has none.

    A part never ends inside a GSM-7 escape sequence or a UTF-16 surrogate pair, which is why a
    multipart count can exceed ceil(units / 153) by one.
    """
    encoding = SmsEncoding.GSM7 if is_gsm7(text) else SmsEncoding.UCS2
    single, part = (GSM7_SINGLE, GSM7_PART) if encoding is SmsEncoding.GSM7 else (UCS2_SINGLE, UCS2_PART)
    if _units(text, encoding) <= single:
        return [text] if text else []
    costs = _costs(text, encoding)
    parts: list[str] = []
    start = used = 0
    for i, cost in enumerate(costs):
        if used + cost > part:
            parts.append(text[start:i])
            start, used = i, 0
        used += cost
    parts.append(text[start:])
    return parts


def count_segments(text: str) -> SegmentCount:
    encoding = SmsEncoding.GSM7 if is_gsm7(text) else SmsEncoding.UCS2
    units = _units(text, encoding)
    single, part = (GSM7_SINGLE, GSM7_PART) if encoding is SmsEncoding.GSM7 else (UCS2_SINGLE, UCS2_PART)
    if units <= single:
        segments = 1 if units else 0
    elif units == len(text):  # every character costs one unit, so no boundary can fall inside one
        segments = -(-units // part)
    else:
        segments = len(split_segments(text))
    return SegmentCount(encoding=encoding, units=units, segments=segments)


# Typographic punctuation that templates and word processors produce; any one of these turns a
# whole message into UCS-2 (70 instead of 160 characters per segment) for no visible gain.
_GSM_LOOKALIKES = str.maketrans(
    {
        "‘": "'",
        "’": "'",
        "‚": "'",
        "‛": "'",
        "′": "'",
        "´": "'",
        "`": "'",
        "“": '"',
        "”": '"',
        "„": '"',
        "‟": '"',
        "″": '"',
        "«": '"',
        "»": '"',
        "‐": "-",
        "‑": "-",
        "‒": "-",
        "–": "-",
        "—": "-",
        "―": "-",
        "−": "-",
        "\u00a0": " ",
        "\u2009": " ",
        "\u202f": " ",
        "\u2007": " ",
        "\u200b": "",
        "…": "...",
        "•": "-",
    }
)


def gsm_lookalikes(text: str) -> str:
    """Replace typographic quotes, dashes, ellipses and odd spaces by their plain GSM-7 forms."""
    return text.translate(_GSM_LOOKALIKES)


def fit_to_budget(text: str, budget: int) -> str:
    """The text to send for a rendered template, within `budget` segments, or SegmentBudgetExceeded.

    Surrounding whitespace is dropped (the renderer ends text with a newline, which costs a septet).
    When the text is over budget only because of typographic punctuation that forces UCS-2, the
    plain forms are used instead; letters are never changed. The text is never truncated: a cut
    acknowledgement loses its reference number or its opt-out line, so the template's author must
    shorten it (tests/unit/test_sms_templates.py shows which templates fit).
    """
    text = text.strip()
    count = count_segments(text)
    if count.segments <= budget:
        return text
    plain = gsm_lookalikes(text)
    plain_count = count_segments(plain)
    if plain_count.segments <= budget:
        return plain
    raise SegmentBudgetExceeded(
        encoding=count.encoding.value, units=count.units, segments=count.segments, budget=budget
    )


# --------------------------------------------------------------------------------------------
# Sending


class SmsSkipReason(StrEnum):
    # Metric dimension values and stored reasons: never rename.
    SUPPRESSED = "suppressed"
    OPTED_OUT = "opted_out"  # SNS's own opt-out list (the carrier told AWS)
    INVALID_PHONE = "invalid_phone"
    EMPTY = "empty"


@dataclass(frozen=True, slots=True)
class SmsSendResult:
    sent: bool
    reason: SmsSkipReason | None
    message_id: str | None
    segments: int


_E164 = re.compile(r"^\+[1-9]\d{6,14}$")


def send_sms(
    *,
    sns: SNSClient,
    phone: str,
    text: str,
    campaign: Campaign,
    suppressed: Callable[[str], bool],
    keyword_response: bool = False,
) -> SmsSendResult:
    """Publish one Transactional SMS from the campaign's number, unless the number must not get it.

    `phone` is E.164. `suppressed(phone)` gets that E.164 number (the caller adds the `phone#`
    identity prefix for its table) and is our own list (STOP, manual); it is skipped only when
    `keyword_response` is True, for the one STOP confirmation and HELP answers that carrier rules
    require even to an opted-out number. SNS's own opt-out list is always honoured. Raises
    DeliveryError from the SNS error when a call fails (retryable when AWS throttled).
    """
    count = count_segments(text)

    def skipped(reason: SmsSkipReason) -> SmsSendResult:
        logger.info("sms not sent", extra={"reason": reason.value, "keyword_response": keyword_response})
        return SmsSendResult(sent=False, reason=reason, message_id=None, segments=count.segments)

    if not _E164.match(phone):
        return skipped(SmsSkipReason.INVALID_PHONE)
    if not text.strip():
        return skipped(SmsSkipReason.EMPTY)
    if len(text) > MAX_SMS_CHARS:
        raise ValidationError(f"an SMS holds at most {MAX_SMS_CHARS} characters, this one {len(text)}", field="text")
    if not keyword_response and suppressed(phone):
        return skipped(SmsSkipReason.SUPPRESSED)
    try:
        opted_out = sns.check_if_phone_number_is_opted_out(phoneNumber=phone)["isOptedOut"]
    except (ClientError, BotoCoreError) as exc:  # a lost answer here still means nothing was sent
        raise SendNotAttempted("SNS could not check the SMS opt-out list") from exc
    if opted_out:
        return skipped(SmsSkipReason.OPTED_OUT)
    try:
        response = sns.publish(
            PhoneNumber=phone,
            Message=text,
            MessageAttributes={
                # Transactional: SNS optimises for reliability rather than cost, which is right for
                # a reply the customer is waiting for (Promotional is for marketing).
                "AWS.SNS.SMS.SMSType": {"DataType": "String", "StringValue": "Transactional"},
                "AWS.MM.SMS.OriginationNumber": {"DataType": "String", "StringValue": campaign.sms.number},
            },
        )
    except ClientError as exc:
        raise DeliveryError("SNS refused the SMS") from exc
    logger.info(
        "sms sent",
        extra={"segments": count.segments, "encoding": count.encoding.value, "keyword_response": keyword_response},
    )
    return SmsSendResult(sent=True, reason=None, message_id=response["MessageId"], segments=count.segments)
