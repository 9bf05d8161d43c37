"""Separate the new part of an email reply from its quoted history and signature."""

from __future__ import annotations

import re
from dataclasses import dataclass

# "On <date>, <name> wrote:" in the languages of our campaigns and the common clients; the line may be
# wrapped over up to three lines (Android, Gmail with long names), so it is matched on joined lines.
_WROTE = re.compile(
    r"(?:\bwrote|\bwrites|schrieb|hat geschrieben|a écrit|escribió|skrev|schreef|scrisse|ha scritto|"
    r"napisał|kirjoitti|escreveu|написал[аи]?|пишет|писал|yazdı|napsal|írta|έγραψε|写道|のメッセージ)"
    r"\s*[:：]?\s*$",
    re.IGNORECASE,
)
# German, Swedish and others put the name after the verb: "Am 2. Mai schrieb Ann <a@b.c>:".
_WROTE_COLON = re.compile(
    r"(?:\bwrote|schrieb|skrev|a écrit|escribió|schreef|scrisse|ha scritto|napisał|kirjoitti|escreveu|"
    r"написал[аи]?)\b[^\n]{0,160}[:：]\s*$",
    re.IGNORECASE,
)
_WROTE_START = re.compile(
    r"^\s*(?:-{2,}\s*)?(?:on|am|le|el|den|op|il|w dniu|em|\d|>?\s*on|в|у|dne|\w+,)",
    re.IGNORECASE,
)
_ORIGINAL = re.compile(
    r"^\s*[-_=*]{2,}\s*(?:original message|original-nachricht|ursprüngliche nachricht|message d'origine|"
    r"mensaje original|ursprungligt meddelande|oorspronkelijk bericht|messaggio originale|"
    r"forwarded message|weitergeleitete nachricht|message transféré|mensaje reenviado|"
    r"vidarebefordrat meddelande|reply message)\s*[-_=*]{2,}\s*$",
    re.IGNORECASE,
)
_DIGIT = re.compile(r"\d")
_UNDERSCORES = re.compile(r"^\s*_{10,}\s*$")
_FROM = re.compile(r"^\s*\*?(?:from|von|de|från|van|da|od|fra|от)\s*:\*?\s*\S", re.IGNORECASE)
_HEADER_FIELD = re.compile(
    r"^\s*\*?(?:sent|date|to|subject|cc|gesendet|datum|an|betreff|envoyé|date|à|objet|enviado|fecha|para|"
    r"asunto|skickat|datum|till|ämne|verzonden|aan|onderwerp|inviato|oggetto|a)\s*:",
    re.IGNORECASE,
)
_SIGNATURE = re.compile(
    r"^\s*(?:--|—|-- )\s*$|"
    r"^\s*(?:sent from my|sent from (?:mail|outlook|yahoo)|sent with|sent via|get outlook for|"
    r"von meinem \S+ gesendet|gesendet von meinem|skickat från min|envoyé de mon|envoyé depuis mon|"
    r"enviado desde mi|enviado do meu|verzonden vanaf mijn|inviato da)\b",
    re.IGNORECASE,
)


@dataclass(frozen=True, slots=True)
class Reply:
    """`new_text` is what the sender wrote now; `quote` the history; `signature` what followed `-- `."""

    new_text: str
    quote: str = ""
    signature: str = ""


def _ends_in_wrote(joined: str) -> bool:
    # Only the tail can hold "wrote:"; searching whole long lines made big bodies slow.
    return bool(_WROTE.search(joined[-40:]) or _WROTE_COLON.search(joined[-200:]))


def _is_wrote_line(lines: list[str], i: int) -> int:
    """How many lines (1-3) the attribution line starting at `i` spans, or 0."""
    if not _WROTE_START.match(lines[i]):
        return 0
    for span in (1, 2, 3):
        if i + span > len(lines):
            break
        # A wrapped attribution has no blank line inside; joining across one glued a greeting
        # ("Thanks," / "Hi,") to the attribution below it and made the whole reply a quote.
        if span > 1 and not lines[i + span - 1].strip():
            break
        joined = " ".join(part.strip() for part in lines[i : i + span])
        if len(joined) > 300:
            break
        # A date or an address in the line tells an attribution from prose ending in "wrote:".
        if _ends_in_wrote(joined) and ("@" in joined or _DIGIT.search(joined)):
            # "Hi,\nOn Mon, 2 Apr ... wrote:": the attribution starts on a later line of the span.
            if any(_is_wrote_line(lines, j) for j in range(i + 1, i + span)):
                return 0
            return span
    return 0


def _attribution_before(lines: list[str], i: int) -> int | None:
    """Where the attribution line above the `>` quote at `i` starts, if there is one.

    Right before a quote, "On Tue, Northwind wrote:" or "At 14:56, you wrote:" is an attribution
    even without a date or address (which `_is_wrote_line` needs to tell it from prose).
    """
    j = i
    while j > 0 and not lines[j - 1].strip():
        j -= 1
    for start in range(j - 1, max(j - 3, 0) - 1, -1):
        if not lines[start].strip():
            break
        joined = " ".join(part.strip() for part in lines[start:j])
        if len(joined) > 300:
            break
        if _ends_in_wrote(joined) and lines[j - 1].rstrip().endswith((":", "：")):
            return start
    return None


def _is_header_block(lines: list[str], i: int) -> bool:
    """An Outlook-style `From: ... Sent: ... To: ... Subject:` block starting at `i`."""
    if not _FROM.match(lines[i]):
        return False
    fields = 0
    for line in lines[i + 1 : i + 7]:
        if not line.strip():
            continue
        if _HEADER_FIELD.match(line):
            fields += 1
        if fields >= 2:
            return True
    return False


def _quote_start(lines: list[str]) -> tuple[int, int] | None:
    """Where the quoted history starts, and how many lines its attribution takes (0: none)."""
    for i, line in enumerate(lines):
        stripped = line.strip()
        if stripped.startswith(">"):
            start = _attribution_before(lines, i)
            return (i, 0) if start is None else (start, i - start)
        span = _is_wrote_line(lines, i)
        if span:
            return i, span
        if _ORIGINAL.match(line):
            return i, 0
        if _UNDERSCORES.match(line) and i + 1 < len(lines) and any(_FROM.match(x) for x in lines[i + 1 : i + 3]):
            return i, 0
        if _is_header_block(lines, i):
            return i, 0
    return None


def _cut_signature(lines: list[str]) -> tuple[list[str], list[str]]:
    for i, line in enumerate(lines):
        if _SIGNATURE.match(line):
            return lines[:i], lines[i:]
    return lines, []


def _clean(lines: list[str]) -> str:
    return "\n".join(line.rstrip() for line in lines).strip()


def split_reply(text: str) -> Reply:
    """Split a plain-text reply into new text, quoted history and signature; never raises.

    Top-posted replies keep what is above the first quote marker. A bottom-posted reply (the quote
    comes first) keeps the unquoted lines after the quote. Text without any marker is all new.
    """
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    found = _quote_start(lines)
    if found is None:
        new, sig = _cut_signature(lines)
        return Reply(new_text=_clean(new), signature=_clean(sig))
    start, span = found
    above, sig = _cut_signature(lines[:start])
    rest = lines[start:]
    if _clean(above):
        return Reply(new_text=_clean(above), quote=_clean(rest), signature=_clean(sig))
    # Bottom-posting: skip the attribution and the quoted block, keep what the sender added below.
    body = rest[span:]
    quoted: list[str] = []
    new_lines: list[str] = []
    for line in body:
        if line.strip().startswith(">") and not new_lines:
            quoted.append(line)
        elif new_lines or line.strip():
            if line.strip().startswith(">"):
                quoted.append(line)
            else:
                new_lines.append(line)
    if not quoted:
        # Not a `>` quote (an Outlook header block first): nothing new can be told apart.
        return Reply(new_text="", quote=_clean(rest), signature=_clean(sig))
    new, sig2 = _cut_signature(new_lines)
    return Reply(new_text=_clean(new), quote=_clean(rest[:span] + quoted), signature=_clean(sig2))
