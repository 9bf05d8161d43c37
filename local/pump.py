"""The event pump: what Lambda's SQS event source mapping does, done in-process for the local stack.

It polls each SQS queue the app maps to a function, invokes the Chalice handler with a real SQS
event, deletes the records that succeeded and leaves the reported failures on the queue, where they
reappear after the queue's visibility timeout and land in the DLQ after maxReceiveCount, as on AWS.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from types import ModuleType
from typing import Any

from chalice.app import SQSEventConfig
from chalice.local import LambdaContext

log = logging.getLogger("replydesk.local.pump")


@dataclass
class Mapping:
    """One event source mapping: a queue and the handler it feeds."""

    name: str
    queue_url: str
    queue_arn: str
    batch_size: int
    handler: Callable[[dict[str, Any], Any], Any]


def lambda_record(msg: dict[str, Any], queue_arn: str, region: str) -> dict[str, Any]:
    """One SQS message as Lambda hands it to a function (the shape of powertools/sqsEvent.json)."""
    attrs = {}
    for name, value in (msg.get("MessageAttributes") or {}).items():
        attrs[name] = {
            "stringValue": value.get("StringValue"),
            "binaryValue": value.get("BinaryValue"),
            "stringListValues": [],
            "binaryListValues": [],
            "dataType": value["DataType"],
        }
    body = msg["Body"]
    return {
        "messageId": msg["MessageId"],
        "receiptHandle": msg["ReceiptHandle"],
        "body": body,
        "attributes": msg.get("Attributes", {}),
        "messageAttributes": attrs,
        "md5OfBody": msg.get("MD5OfBody") or hashlib.md5(body.encode()).hexdigest(),  # noqa: S324
        "eventSource": "aws:sqs",
        "eventSourceARN": queue_arn,
        "awsRegion": region,
    }


def mappings_for(app_module: ModuleType, sqs: Any, region: str) -> list[Mapping]:
    """The app's SQS event sources, resolved to queue URLs in the emulator."""
    out = []
    for source in app_module.app.event_sources:
        if not isinstance(source, SQSEventConfig):
            continue
        url = sqs.get_queue_url(QueueName=source.queue)["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        handler_name = source.handler_string.split(".", 1)[1]
        out.append(
            Mapping(
                name=source.name,
                queue_url=url,
                queue_arn=arn,
                batch_size=source.batch_size,
                handler=getattr(app_module, handler_name),
            )
        )
    return out


# Concurrent batches per queue under `make run`: Lambda's SQS event source mapping runs at least two
# (its MaximumConcurrency floor) and scales up; on a laptop a few pollers per queue keep the acks
# coming while one batch waits on the emulator. `replydesk local --pump-concurrency N` changes it.
DEFAULT_CONCURRENCY = 4


class EventPump:
    def __init__(
        self,
        mappings: list[Mapping],
        sqs: Any,
        region: str,
        wait_seconds: int = 1,
        concurrency: int = DEFAULT_CONCURRENCY,
    ) -> None:
        if concurrency < 1:
            raise ValueError(f"pump concurrency must be at least 1, got {concurrency}")
        self.mappings = mappings
        self.sqs = sqs
        self.region = region
        self.wait_seconds = wait_seconds
        self.concurrency = concurrency
        self._count_lock = threading.Lock()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self.invocations = 0
        self.failures = 0
        # Lambda's function timeout; also how long an idempotency record stays "in progress".
        self.lambda_timeout_ms = 60_000
        # Redeliver failed records at once instead of after the queue's visibility timeout (tests): the
        # same as a redelivery after the timeout, since by then the failed invocation is long over.
        self.redeliver_failed = False
        self.redeliveries = 0

    def poll_once(self, mapping: Mapping, wait_seconds: int | None = None) -> int:
        """Receive one batch and invoke the handler; returns how many records were delivered."""
        resp = self.sqs.receive_message(
            QueueUrl=mapping.queue_url,
            MaxNumberOfMessages=mapping.batch_size,
            WaitTimeSeconds=self.wait_seconds if wait_seconds is None else wait_seconds,
            AttributeNames=["All"],
            MessageAttributeNames=["All"],
        )
        messages = resp.get("Messages", [])
        if not messages:
            return 0
        event = {"Records": [lambda_record(m, mapping.queue_arn, self.region) for m in messages]}
        context = LambdaContext(mapping.name, 512, max_runtime_ms=self.lambda_timeout_ms)
        context.aws_request_id = str(uuid.uuid4())
        context.invoked_function_arn = f"arn:aws:lambda:{self.region}:123456789012:function:{mapping.name}"
        self._add(invocations=1)
        try:
            result = mapping.handler(event, context) or {}
        except Exception:
            # A crashed invocation fails the whole batch: Lambda leaves every record on the queue.
            log.exception("handler %s raised; the batch stays on the queue", mapping.name)
            self._add(failures=len(messages))
            self._redeliver(mapping, messages)
            return len(messages)
        failed = {f["itemIdentifier"] for f in result.get("batchItemFailures", [])}
        self._add(failures=len(failed))
        self._redeliver(mapping, [m for m in messages if m["MessageId"] in failed])
        done = [m for m in messages if m["MessageId"] not in failed]
        for i in range(0, len(done), 10):
            self.sqs.delete_message_batch(
                QueueUrl=mapping.queue_url,
                Entries=[{"Id": str(n), "ReceiptHandle": m["ReceiptHandle"]} for n, m in enumerate(done[i : i + 10])],
            )
        return len(messages)

    def _add(self, *, invocations: int = 0, failures: int = 0, redeliveries: int = 0) -> None:
        with self._count_lock:  # pollers run concurrently
            self.invocations += invocations
            self.failures += failures
            self.redeliveries += redeliveries

    def _redeliver(self, mapping: Mapping, messages: list[dict[str, Any]]) -> None:
        if not self.redeliver_failed or not messages:
            return
        self._add(redeliveries=len(messages))
        for i in range(0, len(messages), 10):
            self.sqs.change_message_visibility_batch(
                QueueUrl=mapping.queue_url,
                Entries=[
                    {"Id": str(n), "ReceiptHandle": m["ReceiptHandle"], "VisibilityTimeout": 0}
                    for n, m in enumerate(messages[i : i + 10])
                ],
            )

    def drain(self, max_rounds: int = 100) -> int:
        """Deliver until every mapped queue is empty (tests use this instead of sleeping)."""
        total = 0
        for _ in range(max_rounds):
            delivered = sum(self.poll_once(m, wait_seconds=0) for m in self.mappings)
            total += delivered
            if delivered == 0:
                break
        return total

    def _loop(self, mapping: Mapping) -> None:
        while not self._stop.is_set():
            try:
                self.poll_once(mapping)
            except Exception:
                log.exception("polling %s failed", mapping.name)
                self._stop.wait(1)

    def start(self) -> None:
        """`concurrency` pollers per queue, each receiving and invoking one batch at a time."""
        for mapping in self.mappings:
            for n in range(self.concurrency):
                t = threading.Thread(target=self._loop, args=(mapping,), name=f"pump-{mapping.name}-{n}", daemon=True)
                t.start()
                self._threads.append(t)

    def stop(self) -> None:
        self._stop.set()
        for t in self._threads:
            t.join(timeout=5)
