"""The console's full-text index in DynamoDB: words of every stored message -> conversation, words of
customer names -> customer. Written where messages and customers are stored, so results are fresh as
soon as the message is; no search cluster, nothing running while idle.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable

from pynamodb.exceptions import PynamoDBException

from chalicelib.models import SearchTokenModel
from chalicelib.observability import logger

WORD = "w#"
NAME = "n#"
MENTION = "m#"
# A username may hold dots and dashes, but a mention at the end of a sentence does not take its full stop.
MENTION_RE = re.compile(r"(?<![\w@])@([A-Za-z0-9](?:[A-Za-z0-9._-]{0,62}[A-Za-z0-9])?)")
MIN_LEN = 2
MAX_LEN = 40
# A long mail keeps its first distinct words; 300 words is 12 BatchWriteItem calls at most.
MAX_TOKENS = 300
_WORD_RE = re.compile(r"\w+", re.UNICODE)
_STOP = frozenset(
    [
        "the",
        "and",
        "for",
        "you",
        "your",
        "are",
        "was",
        "with",
        "this",
        "that",
        "have",
        "has",
        "not",
        "but",
        "our",
        "can",
        "from",
        "any",
        "all",
        "its",
        "just",
        "och",
        "att",
        "det",
        "som",
        "för",
        "med",
        "har",
        "den",
        "inte",
        "jag",
        "till",
        "der",
        "die",
        "das",
        "und",
        "ist",
        "ich",
        "nicht",
        "mit",
        "les",
        "des",
        "est",
        "une",
        "pas",
        "pour",
        "que",
        "qui",
        "los",
        "las",
        "por",
        "una",
        "que",
        "con",
    ]
)


def tokens(text: str) -> list[str]:
    """Case- and accent-folded words, in order of first appearance: 'Beställning' and 'bestallning' meet."""
    folded = unicodedata.normalize("NFKD", text or "").casefold()
    plain = "".join(ch for ch in folded if not unicodedata.combining(ch))
    out: dict[str, None] = {}
    for word in _WORD_RE.findall(plain):
        if MIN_LEN <= len(word) <= MAX_LEN and word not in _STOP:
            out.setdefault(word, None)  # order numbers are words too: "88812345" finds its conversation
        if len(out) >= MAX_TOKENS:
            break
    return list(out)


def _write(prefix: str, ref: str, words: Iterable[str], at: str | None) -> None:
    try:
        with SearchTokenModel.batch_write() as batch:
            for word in words:
                batch.save(SearchTokenModel(token=prefix + word, ref=ref, at=at))
    except PynamoDBException as exc:
        # The message or customer is stored already; a missing index entry costs a search hit, never
        # the message, so this is logged for the operator instead of failing the record.
        logger.warning("search index write failed", extra={"ref": ref, "error": type(exc).__name__})


def mentions(text: str) -> list[str]:
    return list(dict.fromkeys(m.group(1).lower() for m in MENTION_RE.finditer(text or "")))


def index_message(conversation_id: str, *, subject: str, text: str, at: str | None, note: bool = False) -> None:
    _write(WORD, conversation_id, tokens(f"{subject}\n{text}"), at)
    if note:
        # A colleague @mentioned in an internal note finds the conversation under Mentions.
        _write(MENTION, conversation_id, mentions(text), at)


def index_customer(customer_id: str, name: str) -> None:
    _write(NAME, customer_id, tokens(name), None)
