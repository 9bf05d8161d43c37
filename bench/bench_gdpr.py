"""GDPR export and erasure of one customer with 1,000 messages on a fresh local stack; asserts nothing.

The history is written straight into the stack's tables and raw bucket (10 conversations of 100
messages, each with its raw object, every tenth with an attachment), as the intake would have stored
it; pushing 1,000 messages through the intake is bench_web's and bench_sms's job. Then:
1. `export_customer` (JSON) and `export_zip` (with the objects): time and size;
2. `erase_customer`: total time and time per step, and what each step removed.

    .venv/bin/python bench/bench_gdpr.py [--messages 1000] [--conversations 10]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

EXPORT_TARGET_BYTES = 6 * 1024 * 1024  # a Lambda response (the admin API's export) is at most 6 MB
ERASE_TARGET_SECONDS = 60.0  # one invocation of the API function (its timeout); a rerun continues anyway


def seed(stack: object, *, messages: int, conversations: int) -> str:
    from chalicelib import store
    from chalicelib.inbound import Channel
    from chalicelib.models import ConversationModel, MessageModel

    s3 = stack.client("s3")  # type: ignore[attr-defined]
    bucket = stack.env["RAW_BUCKET"]  # type: ignore[attr-defined]
    email = f"bench-{uuid.uuid4().hex[:8]}@customer.test"
    now = datetime.now(UTC)
    customer = store.upsert_customer(f"email#{email}", name="Bench Person", channel=Channel.EMAIL, now=now)
    per = messages // conversations
    for c in range(conversations):
        conv_id = f"RD-B{uuid.uuid4().hex[:5].upper()}"
        created = store.iso(now - timedelta(days=c))
        ConversationModel(
            conversation_id=conv_id,
            reference=conv_id,
            customer_id=customer.customer_id,
            channel="email",
            queue="general",
            status_due=store.status_due("open", None),
            updated_at=created,
            created_at=created,
            subject=f"Order question {c}",
        ).save()
        with MessageModel.batch_write() as batch:
            for i in range(per):
                source_id = f"bench-{conv_id}-{i}"
                raw_key = f"raw/email/{source_id}"
                s3.put_object(Bucket=bucket, Key=raw_key, Body=f"From: {email}\r\n\r\nMessage {i} body text.".encode())
                attachments = []
                if i % 10 == 0:
                    att_key = f"attachments/{source_id}/000"
                    s3.put_object(Bucket=bucket, Key=att_key, Body=os.urandom(20_000))
                    attachments = [
                        {
                            "filename": "photo.jpg",
                            "content_type": "image/jpeg",
                            "size": 20_000,
                            "s3_key": att_key,
                            "inline": False,
                        }
                    ]
                at = store.iso(now - timedelta(days=c) + timedelta(seconds=i))
                mid = f"msg_{source_id}"
                batch.save(
                    MessageModel(
                        conversation_id=conv_id,
                        sort=store.message_sort(at, mid),
                        message_id=mid,
                        direction="in" if i % 2 == 0 else "out",
                        channel="email",
                        source_id=source_id,
                        sender=email if i % 2 == 0 else None,
                        raw_key=raw_key if i % 2 == 0 else None,
                        subject=f"Order question {c}",
                        text=f"Message {i}: where is my order? " * 8,
                        attachments=attachments,
                        created_at=at,
                    )
                )
    return email


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--messages", type=int, default=1000)
    parser.add_argument("--conversations", type=int, default=10)
    args = parser.parse_args()

    from chalicelib.gdpr import erase as erasure
    from chalicelib.gdpr.export import export_customer, export_zip
    from chalicelib.gdpr.subject import find_subject
    from chalicelib.ops.stack import StackNames, bind_models_to
    from local.stack import LocalStack

    stack = LocalStack(pump_threads=False, forward_metrics=False).start()
    try:
        names = StackNames(stack.campaign_name, stack.stage, stack.region, stack.env["RAW_BUCKET"].rsplit("-", 1)[-1])
        bind_models_to(names, endpoint=stack.endpoint, region=stack.region)
        t = time.perf_counter()
        email = seed(stack, messages=args.messages, conversations=args.conversations)
        seeded = time.perf_counter() - t
        print(
            f"cores: {os.cpu_count()}; customer with {args.messages} messages in {args.conversations} conversations "
            f"(seeded in {seeded:.1f} s)"
        )

        subject = find_subject(email=email)
        t = time.perf_counter()
        doc = export_customer(subject, campaign=stack.campaign_name, now=datetime.now(UTC))
        text = json.dumps(doc, indent=2, ensure_ascii=False).encode()
        export_s = time.perf_counter() - t
        t = time.perf_counter()
        zipped = export_zip(doc, s3=stack.client("s3"), bucket=names.raw_bucket)
        zip_s = time.perf_counter() - t
        target = f"target < {EXPORT_TARGET_BYTES / 1e6:.1f} MB"
        print(f"export JSON:  {len(text) / 1e6:.2f} MB in {export_s:.2f} s   ({target})")
        print(
            f"export zip:   {len(zipped) / 1e6:.2f} MB in {zip_s:.2f} s  "
            f"({len(doc['raw_objects'])} raw objects, {len(doc['attachments'])} attachments)"
        )

        clients = erasure.Clients(
            s3=stack.client("s3"),
            sqs=stack.client("sqs"),
            dynamodb=stack.client("dynamodb"),
            sfn=stack.client("stepfunctions"),
            names=names,
        )
        timings: dict[str, float] = {}

        def timed(step: erasure.Step) -> erasure.Step:
            def run(job: erasure.Job) -> int:
                t0 = time.perf_counter()
                n = step.run(job)
                timings[step.name] = time.perf_counter() - t0
                return n

            return erasure.Step(step.name, step.what, run)

        t = time.perf_counter()
        tomb = erasure.erase_customer(
            subject, actor="bench", now=datetime.now(UTC), clients=clients, steps=tuple(timed(s) for s in erasure.STEPS)
        )
        total = time.perf_counter() - t
        print(f"erasure:      {total:.2f} s for {args.messages} messages   (target < {ERASE_TARGET_SECONDS:.0f} s)")
        for name, removed in tomb.steps.items():
            print(f"  {name:<14}{timings.get(name, 0.0):7.2f} s  removed {removed}")
    finally:
        stack.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
