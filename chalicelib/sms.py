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

# Opt-out (and help) words per language, in that language's script, for the campaign's languages
# only: carriers match the English list, customers write in their own. ("STOPP" is Swedish and
# German; a campaign without either does not treat it as STOP.)
LANGUAGE_OPT_OUT_WORDS: dict[str, tuple[str, ...]] = {
    "sv": ("STOPP", "AVSLUTA", "AVREGISTRERA", "SLUTA"),
    "da": ("STOP", "AFMELD", "STOPP"),
    "nb": ("STOPP", "AVSLUTT", "AVMELD"),
    "no": ("STOPP", "AVSLUTT", "AVMELD"),
    "fi": ("LOPETA", "PERU"),
    "de": ("STOPP", "ABMELDEN", "HALT", "ENDE", "ABBESTELLEN"),
    "nl": ("STOPPEN", "AFMELDEN", "UITSCHRIJVEN"),
    "fr": ("ARRET", "ARRETER", "DESABONNER", "DESINSCRIRE", "STOP"),
    "es": ("PARAR", "BAJA", "ALTO", "CANCELAR", "DETENER"),
    "pt": ("PARAR", "SAIR", "CANCELAR"),
    "it": ("FERMA", "BASTA", "CANCELLA", "DISISCRIVI"),
    "pl": ("STOP", "WYPISZ", "REZYGNUJE"),
    "ru": ("СТОП", "ОТПИСАТЬСЯ", "ОТПИСКА", "ХВАТИТ"),
    "uk": ("СТОП", "ВІДПИСАТИСЯ"),
    "el": ("ΣΤΟΠ", "ΔΙΑΓΡΑΦΗ"),
    "ar": ("توقف", "إلغاء", "الغاء"),
    "he": ("הסר", "עצור"),
    "tr": ("DUR", "IPTAL"),
    "zh": ("退订", "取消订阅", "停止"),
    "ja": ("停止", "配信停止"),
    "ko": ("중지", "수신거부"),
}
LANGUAGE_HELP_WORDS: dict[str, tuple[str, ...]] = {
    "sv": ("HJÄLP",),
    "de": ("HILFE",),
    "fr": ("AIDE",),
    "es": ("AYUDA",),
    "ru": ("ПОМОЩЬ",),
}

# Quotes and punctuation people wrap a keyword in: "Stop." / 'STOP!' / «arrêt».
_WRAPPING = "\"'`´‘’‚‛“”„‟«»‹›.,;:!?¡¿()[]{}<>*~-_ \t\r\n\u00a0\u200b"
_INNER_SEPARATORS = re.compile(r"[\s\-_.]+")
# Where a signature starts: the RFC 3676 "-- " line and the phones' "Sent from my ..." lines.
_SIGNATURE_START = re.compile(
    r"^\s*(?:--\s*|—\s*|sent from my\b.*|skickat från\b.*|von meinem\b.*|envoyé de\b.*|enviado desde\b.*)$",
    re.IGNORECASE,
)
# A line that is only a name ("Anna", "- Ann Berg", "/J. Smith"): 1-3 capitalised words.
_NAME_LINE = re.compile(r"^\s*[-/~]*\s*(?:[A-ZÀ-ÞĀ-ſ][\w'.]*\s*){1,3}$")
_MAX_KEYWORD_TEXT = 200


def keyword_key(text: str) -> str:
    """The form keywords are compared in: accents, case, wrapping punctuation and inner spaces removed.

    So "  stop. ", "Opt out", "opt-out" and "Arrêt" all become STOP, OPTOUT, OPTOUT and ARRET.
    """
    decomposed = unicodedata.normalize("NFKD", text)
    bare = "".join(c for c in decomposed if not unicodedata.combining(c))
    return _INNER_SEPARATORS.sub("", bare.strip(_WRAPPING)).casefold().upper()


def _without_symbols(text: str) -> str:
    """Emoji, symbols and their modifiers (skin tones, ZWJ, variation selectors) become spaces."""
    return "".join(
        " " if unicodedata.category(c) in ("So", "Sk", "Sm", "Cf", "Cs", "Co", "Me") or c == "\ufe0f" else c
        for c in text
    )


def _keyword_line(body: str) -> str:
    """The one line that may be a keyword: the first non-empty one, if every later line is a signature."""
    lines = [line for line in body.splitlines() if line.strip()]
    if not lines:
        return ""
    rest = lines[1:]
    if rest and not _SIGNATURE_START.match(rest[0]) and not (len(rest) == 1 and _NAME_LINE.match(rest[0])):
        return body  # more than a keyword and a signature: the whole text is compared (and fails)
    return lines[0]


def _candidates(line: str) -> list[str]:
    """The keys a line may stand for: itself, and one unit of a repetition ("stop stop", "opt out opt out")."""
    words = [w for w in re.split(r"[\s,;.!?]+", _without_symbols(line)) if keyword_key(w)]
    out = [keyword_key(" ".join(words))]
    for period in (1, 2):
        if len(words) > period and len(words) % period == 0:
            unit = [keyword_key(w) for w in words[:period]]
            if all(keyword_key(w) == unit[i % period] for i, w in enumerate(words)):
                out.append("".join(unit))
    return out


@functools.lru_cache(maxsize=8)
def _table(
    extra_out: tuple[str, ...], extra_in: tuple[str, ...], extra_help: tuple[str, ...] = ()
) -> dict[str, Keyword]:
    table: dict[str, Keyword] = {}
    # Later assignments win, so the order makes opt-out beat opt-in beat help when a campaign word
    # collides with a default: failing to stop is the one mistake a carrier audit never forgives.
    for words, kw in (
        ((*HELP_WORDS, *extra_help), Keyword.HELP),
        ((*OPT_IN_WORDS, *extra_in), Keyword.START),
        ((*OPT_OUT_WORDS, *extra_out), Keyword.STOP),
    ):
        for word in words:
            key = keyword_key(word)
            if key:
                table[key] = kw
    return table


_DEFAULT_TABLE = _table((), ())


def _campaign_table(campaign: Campaign) -> dict[str, Keyword]:
    langs = campaign.languages
    out = tuple(w for lang in langs for w in LANGUAGE_OPT_OUT_WORDS.get(lang, ())) + campaign.sms.opt_out_keywords
    helps = tuple(w for lang in langs for w in LANGUAGE_HELP_WORDS.get(lang, ()))
    return _table(out, campaign.sms.opt_in_keywords, helps)


def detect_keyword(body: str, campaign: Campaign | None = None) -> Keyword | None:
    """The keyword the message is, or None ("stop sending me offers" is a message, not STOP).

    Case, accents, surrounding whitespace, quotes, punctuation, emoji and symbols are ignored, and
    so are spaces or hyphens inside ("opt out"), a keyword repeated ("stop stop STOP") and a
    signature after it (a "-- " or "Sent from my ..." block, or one line that is only a name).
    Any other word makes it an ordinary message. With a campaign, its languages' own words (in
    their scripts, `LANGUAGE_OPT_OUT_WORDS`) and its `sms.opt_out_keywords` / `opt_in_keywords`
    add to the carrier defaults. A word listed both as opt-out and opt-in counts as opt-out.

    START/YES are only meaningful for a number that is opted out: the caller should treat them as
    an ordinary message otherwise (a "Yes" answering a staff question must not trigger a
    confirmation SMS).
    """
    if len(body) > 2000:
        return None  # no keyword message is this long: skip the work for real messages
    line = _keyword_line(body)
    if not line.strip() or len(line) > _MAX_KEYWORD_TEXT:
        return None
    table = _campaign_table(campaign) if campaign is not None else _DEFAULT_TABLE
    for key in _candidates(line):
        if key and len(key) <= 40 and key in table:
            return table[key]
    return None


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
