"""Staff console reads with 10,000 conversations and 50,000 messages in the local tables; asserts nothing.

Bulk-loads the tables with BatchWriteItem, signs in as the demo agent, then times each view over HTTP
against the local stack's API (p50/p95 of --repeat requests) and counts the DynamoDB calls each request
makes (botocore's API-call entry patched to count, nothing else changed). A queue page must cost
O(page): the calls per page are printed for three page sizes and must not grow with the table.

    .venv/bin/python bench/bench_console.py [--conversations 10000] [--messages 5] [--repeat 8]
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import threading
import time
import urllib.request
import warnings
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchlib import percentile  # noqa: E402

TARGET_P95_MS = 500  # a view the agent waits on: well under a second, on the emulator's Python tables
STATUSES = ("new", "open", "open", "open", "pending_customer", "resolved", "closed")


class CallCounter:
    """Counts DynamoDB API calls made by any client in this process (the API server runs in-process)."""

    def __init__(self) -> None:
        import botocore.client

        self.lock = threading.Lock()
        self.counts: dict[str, int] = {}
        original = botocore.client.BaseClient._make_api_call
        counter = self

        def counted(client: Any, operation: str, params: Any) -> Any:
            if client.meta.service_model.service_name == "dynamodb":
                with counter.lock:
                    counter.counts[operation] = counter.counts.get(operation, 0) + 1
            return original(client, operation, params)

        botocore.client.BaseClient._make_api_call = counted  # type: ignore[method-assign]

    def take(self) -> dict[str, int]:
        with self.lock:
            out, self.counts = self.counts, {}
        return out


def iso(dt: datetime) -> str:
    return dt.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def load(stack: Any, conversations: int, per_conversation: int) -> tuple[list[str], list[str]]:
    """BatchWriteItem the tables full; returns conversation and customer ids."""
    ddb = stack.client("dynamodb")
    env = stack.env
    now = datetime.now(UTC)
    queues = list(stack.campaign.queues)
    customers = [f"cus_bench{i:05d}" for i in range(max(conversations // 10, 1))]
    rng = random.Random(7)

    def flush(table: str, items: list[dict[str, Any]]) -> None:
        for i in range(0, len(items), 25):
            request: Any = {table: [{"PutRequest": {"Item": it}} for it in items[i : i + 25]]}
            while request:
                request = ddb.batch_write_item(RequestItems=request).get("UnprocessedItems") or None

    flush(
        env["CUSTOMERS_TABLE"],
        [
            {
                "customer_id": {"S": c},
                "name": {"S": f"Bench Customer {i}"},
                "identities": {"SS": [f"email#bench{i}@customer.test"]},
                "channels": {"SS": ["email"]},
                "marketing_opt_out": {"BOOL": True},
            }
            for i, c in enumerate(customers)
        ],
    )
    conv_ids: list[str] = []
    convs: list[dict[str, Any]] = []
    msgs: list[dict[str, Any]] = []
    for i in range(conversations):
        cid = f"RD-B{i:06d}"
        conv_ids.append(cid)
        status = rng.choice(STATUSES)
        created = now - timedelta(minutes=rng.randint(1, 60 * 24 * 7))
        due = created + timedelta(hours=rng.randint(1, 48))
        item: dict[str, Any] = {
            "conversation_id": {"S": cid},
            "reference": {"S": cid},
            "customer_id": {"S": customers[i % len(customers)]},
            "channel": {"S": rng.choice(("email", "sms", "web"))},
            "status": {"S": status},
            "queue": {"S": queues[i % len(queues)]},
            "status_due": {"S": f"{status}#{iso(due)}"},
            "created_at": {"S": iso(created)},
            "updated_at": {"S": iso(created + timedelta(minutes=5))},
            "subject": {"S": f"Order question {i}"},
            "topic": {"S": "order_status"},
            "language": {"S": "en"},
            "urgency": {"S": "normal"},
            "first_response_due": {"S": iso(due)},
            "resolution_due": {"S": iso(due + timedelta(days=2))},
            "version": {"N": "0"},
        }
        if i % 3 == 0:
            item["assignee"] = {"S": "agent" if i % 9 == 0 else "agent2"}
        convs.append(item)
        for m in range(per_conversation):
            at = iso(created + timedelta(minutes=m))
            mid = f"msg_b{i:06d}_{m}"
            msgs.append(
                {
                    "conversation_id": {"S": cid},
                    "sort": {"S": f"{at}#{mid}"},
                    "message_id": {"S": mid},
                    "direction": {"S": "in" if m % 2 == 0 else "out"},
                    "channel": {"S": "email"},
                    "source_id": {"S": f"bench-{mid}"},
                    "subject": {"S": f"Order question {i}"},
                    "text": {"S": f"Message {m} about order {100000 + i}: where is my parcel?"},
                    "created_at": {"S": at},
                }
            )
    t0 = time.perf_counter()
    flush(env["CONVERSATIONS_TABLE"], convs)
    flush(env["MESSAGES_TABLE"], msgs)
    print(
        f"loaded {len(convs)} conversations, {len(msgs)} messages, {len(customers)} customers "
        f"in {time.perf_counter() - t0:.0f} s"
    )
    return conv_ids, customers


def get(url: str, token: str) -> tuple[float, dict[str, Any]]:
    req = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"})
    t0 = time.perf_counter()
    with urllib.request.urlopen(req, timeout=60) as resp:
        body = json.loads(resp.read())
    return (time.perf_counter() - t0) * 1000, body


def measure(name: str, urls: list[str], token: str, counter: CallCounter) -> dict[str, Any]:
    times, calls = [], []
    body: dict[str, Any] = {}
    for url in urls:
        counter.take()
        ms, body = get(url, token)
        times.append(ms)
        calls.append(sum(counter.take().values()))
    p50, p95 = statistics.median(times), percentile(times, 95)
    ok = "ok" if p95 <= TARGET_P95_MS else "over"
    print(
        f"  {name:<34} p50 {p50:6.0f} ms  p95 {p95:6.0f} ms  (target p95 <= {TARGET_P95_MS} ms: {ok})  "
        f"DynamoDB calls/request {min(calls)}-{max(calls)}"
    )
    return body


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--conversations", type=int, default=10_000)
    ap.add_argument("--messages", type=int, default=5, help="messages per conversation")
    ap.add_argument("--repeat", type=int, default=8)
    ns = ap.parse_args()

    from chalice.local import ChaliceRequestHandler

    from local.stack import DEMO_STAFF, LocalStack

    warnings.filterwarnings("ignore", "No application metrics to publish")
    ChaliceRequestHandler.log_message = lambda *_: None  # type: ignore[method-assign]  # one line per request

    stack = LocalStack(pump_threads=False, forward_metrics=False).start()
    try:
        conv_ids, customers = load(stack, ns.conversations, ns.messages)
        agent = next(u for u in DEMO_STAFF if u.username == "agent")
        token = stack.client("cognito-idp").initiate_auth(
            ClientId=stack.env["COGNITO_CLIENT_ID"],
            AuthFlow="USER_PASSWORD_AUTH",
            AuthParameters={"USERNAME": agent.username, "PASSWORD": agent.password},
        )["AuthenticationResult"]["IdToken"]
        counter = CallCounter()
        api = stack.api_url
        print(f"console views, {ns.repeat} requests each:")
        first = measure(
            "queue page (general, 50 rows)",
            [f"{api}/api/conversations?view=queue&queue=general&limit=50"] * ns.repeat,
            token,
            counter,
        )
        if first.get("next_cursor"):
            measure(
                "queue page 2 (cursor)",
                [f"{api}/api/conversations?view=queue&queue=general&limit=50&cursor={first['next_cursor']}"]
                * ns.repeat,
                token,
                counter,
            )
        measure("mine (50 rows)", [f"{api}/api/conversations?view=mine&limit=50"] * ns.repeat, token, counter)
        measure(
            "breached, all queues (50 rows)",
            [f"{api}/api/conversations?view=breached&limit=50"] * ns.repeat,
            token,
            counter,
        )
        measure(
            "unassigned, all queues (50 rows)",
            [f"{api}/api/conversations?view=unassigned&limit=50"] * ns.repeat,
            token,
            counter,
        )
        picks = random.Random(3).sample(conv_ids, ns.repeat)
        measure("conversation view", [f"{api}/api/conversations/{c}" for c in picks], token, counter)
        measure(
            "customer sidebar",
            [f"{api}/api/customers/{c}" for c in random.Random(4).sample(customers, ns.repeat)],
            token,
            counter,
        )
        # The counts are a gauge (chalicelib/console/gauge.py): the minute's schedule counts, every poll
        # reads one item. Timed apart: the refresh (off the agent's path), then the polls the agents make.
        from chalicelib.console.gauge import scheduled_refresh

        refreshes, refresh_calls = [], []
        for _ in range(3):
            counter.take()
            t0 = time.perf_counter()
            scheduled_refresh()
            refreshes.append((time.perf_counter() - t0) * 1000)
            refresh_calls.append(sum(counter.take().values()))
        print(
            f"  {'queue counts refresh (schedule, 1/min)':<34} p50 {statistics.median(refreshes):6.0f} ms  "
            f"max {max(refreshes):6.0f} ms  (off the request path: a request counts itself only when the "
            f"gauge is over 150 s old)  DynamoDB calls {max(refresh_calls)}"
        )
        measure("queue counts (all queues, gauge)", [f"{api}/api/queues"] * ns.repeat, token, counter)
        # The emulator answers a Query by walking its whole in-memory table, so its latency grows with
        # the table although the calls per page do not; one bare Query shows how much is the emulator's.
        ddb = stack.client("dynamodb")
        bare = []
        for _ in range(max(ns.repeat // 3, 3)):
            t0 = time.perf_counter()
            ddb.query(
                TableName=stack.env["CONVERSATIONS_TABLE"],
                IndexName="by_queue",
                KeyConditionExpression="#q = :q AND begins_with(status_due, :s)",
                ExpressionAttributeNames={"#q": "queue"},
                ExpressionAttributeValues={":q": {"S": "general"}, ":s": {"S": "open#"}},
                Limit=50,
            )
            bare.append((time.perf_counter() - t0) * 1000)
        print(
            f"  one bare by_queue Query (50 items) on the emulator: p50 {statistics.median(bare):.0f} ms "
            "- the view latencies above are mostly this, times the calls per request"
        )
        print("queue page cost by page size (O(page), not O(table)):")
        for limit in (10, 50, 100):
            counter.take()
            get(f"{api}/api/conversations?view=queue&queue=general&limit={limit}", token)
            calls = counter.take()
            print(f"  limit {limit:>3}: {sum(calls.values())} DynamoDB calls {dict(sorted(calls.items()))}")
    finally:
        stack.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
