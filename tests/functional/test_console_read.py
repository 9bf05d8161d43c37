"""Console reads: queue pages by what is due first (Queries only, cursor, ETag), counts, detail, customer."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from chalice.test import Client

from chalicelib import store
from chalicelib.models import ConversationModel, CustomerModel, MessageModel
from tests import staffauth

pytestmark = pytest.mark.functional


@pytest.fixture(scope="module")
def agent(stack: Any) -> dict[str, str]:
    from chalicelib.runtime import get_runtime

    get_runtime()  # binds the models to the stack's tables, for the items these tests write
    return staffauth.bearer(staffauth.id_token(stack, "agent"))


def make_conversation(
    *,
    queue: str = "general",
    status: str = "open",
    due_in: timedelta = timedelta(hours=1),
    assignee: str | None = None,
    customer_id: str | None = None,
    created_ago: timedelta = timedelta(hours=1),
) -> ConversationModel:
    now = datetime.now(UTC)
    due = store.iso(now + due_in)
    ref = f"RD-T{uuid.uuid4().hex[:7].upper()}"
    conv = ConversationModel(
        conversation_id=ref,
        reference=ref,
        customer_id=customer_id or f"cus_{uuid.uuid4().hex[:10]}",
        channel="email",
        status=status,
        queue=queue,
        status_due=store.status_due(status, due),
        created_at=store.iso(now - created_ago),
        updated_at=store.iso(now),
        subject="Where is my order?",
        first_response_due=due,
        resolution_due=store.iso(now + due_in + timedelta(days=1)),
    )
    if assignee:
        conv.assignee = assignee
    conv.save()
    return conv


def pages(client: Client, headers: dict[str, str], query: str) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    cursor = ""
    for _ in range(200):
        resp = client.http.get(f"/api/conversations?{query}{'&cursor=' + cursor if cursor else ''}", headers=headers)
        assert resp.status_code == 200, resp.body
        rows += resp.json_body["items"]
        cursor = resp.json_body["next_cursor"]
        if not cursor:
            return rows
    raise AssertionError("pagination did not end")


def test_a_queue_pages_by_due_time_without_gaps_or_repeats(stack: Any, agent: dict[str, str]) -> None:
    # GIVEN open and new conversations in one queue with mixed deadlines, and some that are not work
    mine = [
        make_conversation(queue="refunds", status=s, due_in=timedelta(minutes=m))
        for s, m in [("open", 50), ("new", 10), ("open", -5), ("new", 70), ("open", 30), ("new", 20), ("open", 5)]
    ]
    resolved = make_conversation(queue="refunds", status="resolved", due_in=timedelta(minutes=1))
    with Client(stack.app_module.app) as client:
        # WHEN the queue is read three rows at a time
        rows = pages(client, agent, "view=queue&queue=refunds&limit=3")
    ids = [r["conversation_id"] for r in rows]
    # THEN every open/new conversation of the queue appears once, none that is resolved
    assert len(ids) == len(set(ids))
    assert {c.conversation_id for c in mine} <= set(ids) and resolved.conversation_id not in ids
    expected = {
        c.conversation_id
        for c in ConversationModel.scan()  # the test's oracle only; the API never scans
        if c.queue == "refunds" and c.status in ("new", "open")
    }
    assert set(ids) == expected
    # AND the rows come by what is due first, across both statuses
    mine_ids = {c.conversation_id for c in mine}
    dues = [r["sla"]["due"] for r in rows if r["conversation_id"] in mine_ids]
    assert dues == sorted(dues) and len(dues) == len(mine)
    # AND each row carries its SLA badge: the overdue one is breached with negative time left
    overdue = next(r for r in rows if r["conversation_id"] == mine[2].conversation_id)
    assert overdue["sla"]["state"] == "breached" and overdue["sla"]["remaining_seconds"] < 0
    assert overdue["sla"]["kind"] == "first_response" and overdue["version"] == 0


def test_badge_is_amber_under_a_quarter_of_the_target(stack: Any, agent: dict[str, str]) -> None:
    # GIVEN a conversation created 59 minutes ago, due in 1 minute, another with most of its time left
    amber = make_conversation(queue="urgent", due_in=timedelta(minutes=1), created_ago=timedelta(minutes=59))
    fine = make_conversation(queue="urgent", due_in=timedelta(minutes=50), created_ago=timedelta(minutes=10))
    with Client(stack.app_module.app) as client:
        rows = {r["conversation_id"]: r for r in pages(client, agent, "view=queue&queue=urgent&limit=100")}
    assert rows[amber.conversation_id]["sla"]["state"] == "warning"
    assert rows[fine.conversation_id]["sla"]["state"] == "ok"


def test_mine_unassigned_and_breached_views(stack: Any, agent: dict[str, str]) -> None:
    # GIVEN conversations assigned to the agent, to someone else, unassigned, and one overdue
    assigned = make_conversation(queue="retention", assignee="agent", due_in=timedelta(minutes=40))
    waiting = make_conversation(queue="retention", status="pending_customer", assignee="agent")
    other = make_conversation(queue="retention", assignee="agent2")
    free = make_conversation(queue="retention")
    late = make_conversation(queue="retention", due_in=timedelta(minutes=-3))
    with Client(stack.app_module.app) as client:
        mine = {r["conversation_id"] for r in pages(client, agent, "view=mine&limit=2")}
        unassigned = {r["conversation_id"] for r in pages(client, agent, "view=unassigned&queue=retention&limit=2")}
        breached = {r["conversation_id"] for r in pages(client, agent, "view=breached&limit=5")}
    # THEN Mine holds the agent's own (waiting on the customer included), nobody else's
    assert {assigned.conversation_id, waiting.conversation_id} <= mine and other.conversation_id not in mine
    # AND Unassigned holds only conversations without an assignee
    assert {free.conversation_id, late.conversation_id} <= unassigned
    assert not {assigned.conversation_id, other.conversation_id} & unassigned
    # AND Breached holds the overdue one and nothing still in time
    assert late.conversation_id in breached and free.conversation_id not in breached


def test_a_customer_without_a_name_is_listed_by_their_number(stack: Any, agent: dict[str, str]) -> None:
    # GIVEN an SMS customer, who gives no name, and one who wrote by mail with a name
    texter = f"cus_{uuid.uuid4().hex[:10]}"
    CustomerModel(customer_id=texter, identities={"phone#+46701112233"}, channels={"sms"}).save()
    named = f"cus_{uuid.uuid4().hex[:10]}"
    CustomerModel(customer_id=named, name="Maja", identities={"email#maja@customer.test"}).save()
    sms = make_conversation(queue="refunds", customer_id=texter)
    mail = make_conversation(queue="refunds", customer_id=named)
    # WHEN the agent lists the queue
    with Client(stack.app_module.app) as client:
        rows = {r["conversation_id"]: r["customer"] for r in pages(client, agent, "queue=refunds&limit=50")}
    # THEN the row carries the number to show instead of an internal id, and the name where there is one
    assert rows[sms.conversation_id] == {"customer_id": texter, "name": "", "contact": "+46701112233"}
    assert rows[mail.conversation_id]["name"] == "Maja"


def counts(client: Client, agent: dict[str, str]) -> dict[str, Any]:
    """The queue counts as of now: the minute's schedule refreshes the gauge, then the console reads it."""
    from chalicelib.console.gauge import scheduled_refresh

    scheduled_refresh()
    return {q["queue"]: q for q in client.http.get("/api/queues", headers=agent).json_body}


def test_queue_counts(stack: Any, agent: dict[str, str]) -> None:
    with Client(stack.app_module.app) as client:
        before = counts(client, agent)
        make_conversation(queue="supervisors", due_in=timedelta(minutes=-1))
        make_conversation(queue="supervisors", assignee="agent")
        after = counts(client, agent)
    assert after["supervisors"]["label"] == "Supervisors"
    assert after["supervisors"]["open"] == before["supervisors"]["open"] + 2
    assert after["supervisors"]["breached"] == before["supervisors"]["breached"] + 1
    assert after["supervisors"]["unassigned"] == before["supervisors"]["unassigned"] + 1


def test_queue_counts_are_a_gauge_read_with_one_call_and_recounted_when_stale(
    stack: Any, agent: dict[str, str]
) -> None:
    import json as _json

    from chalicelib.console import gauge

    table = stack.env["PRESENCE_TABLE"]
    ddb = stack.client("dynamodb")
    with Client(stack.app_module.app) as client:
        # GIVEN counts the schedule just took
        before = counts(client, agent)
        as_of = before["general"]["as_of"]
        # WHEN a conversation arrives and the console polls before the next refresh
        make_conversation(queue="general")
        polled = {q["queue"]: q for q in client.http.get("/api/queues", headers=agent).json_body}
        # THEN the poll is the gauge (same counts, the time they were taken), not a recount
        assert polled["general"]["open"] == before["general"]["open"] and polled["general"]["as_of"] == as_of
        # AND the next refresh counts it
        assert counts(client, agent)["general"]["open"] == before["general"]["open"] + 1
        # WHEN the gauge is older than the schedule would ever leave it (the schedule stopped)
        stale = [
            {**r, "open": 99999}
            for r in _json.loads(
                ddb.get_item(TableName=table, Key={"conversation_id": {"S": gauge.GAUGE_KEY}})["Item"]["counts"]["S"]
            )
        ]
        gauge.write(ddb, table, stale, datetime.now(UTC) - timedelta(seconds=gauge.MAX_AGE_SECONDS + 30))
        fresh = {q["queue"]: q for q in client.http.get("/api/queues", headers=agent).json_body}
    # THEN the request counts for itself and stores what it counted
    assert fresh["general"]["open"] == before["general"]["open"] + 1
    stored = gauge.read(ddb, table)
    assert stored is not None and (datetime.now(UTC) - stored[0]).total_seconds() < 60


def test_an_unchanged_page_is_304_with_its_etag(stack: Any, agent: dict[str, str]) -> None:
    make_conversation(queue="general")
    with Client(stack.app_module.app) as client:
        first = client.http.get("/api/conversations?view=queue&queue=general&limit=5", headers=agent)
        tag = first.headers["ETag"]
        again = client.http.get(
            "/api/conversations?view=queue&queue=general&limit=5", headers={**agent, "If-None-Match": tag}
        )
        assert again.status_code == 304
        # WHEN a conversation due sooner than all others arrives
        make_conversation(queue="general", due_in=timedelta(minutes=-600))
        changed = client.http.get(
            "/api/conversations?view=queue&queue=general&limit=5", headers={**agent, "If-None-Match": tag}
        )
    assert changed.status_code == 200 and changed.headers["ETag"] != tag


@pytest.mark.parametrize(
    ("query", "words"),
    [
        ("view=queue", "'queue' is required"),
        ("view=queue&queue=nowhere", "unknown queue"),
        ("view=everything", "'view' must be one of"),
        ("view=mine&limit=1000", "'limit' must be between"),
        ("view=mine&cursor=%21%21garbage", "'cursor' is not one"),
    ],
)
def test_bad_list_parameters_are_400(stack: Any, agent: dict[str, str], query: str, words: str) -> None:
    with Client(stack.app_module.app) as client:
        resp = client.http.get(f"/api/conversations?{query}", headers=agent)
    assert resp.status_code == 400 and words in resp.json_body["Message"], resp.body


def test_detail_and_customer_sidebar(stack: Any, agent: dict[str, str]) -> None:
    # GIVEN a customer with an earlier SMS conversation and a new email one with a sneaky HTML body
    cid = f"cus_{uuid.uuid4().hex[:10]}"
    CustomerModel(
        customer_id=cid,
        name="Maja Svensson",
        language="sv",
        identities={"email#maja@customer.test", "phone#+46701234567"},
        tags={"vip"},
        marketing_opt_out=False,
    ).save()
    earlier = make_conversation(customer_id=cid, status="resolved")
    earlier.channel = "sms"
    earlier.save()
    conv = make_conversation(customer_id=cid)
    now = store.iso(datetime.now(UTC))
    MessageModel(
        conversation_id=conv.conversation_id,
        sort=store.message_sort(now, "msg_1"),
        message_id="msg_1",
        direction="in",
        channel="email",
        source_id=f"src-{uuid.uuid4().hex}",
        text="My order 88812345 has not arrived.",
        html='<p>My order</p><img src=x onerror="alert(1)"><script>alert(2)</script>',
        created_at=now,
    ).save()
    with Client(stack.app_module.app) as client:
        view = client.http.get(f"/api/conversations/{conv.conversation_id}", headers=agent).json_body
        sidebar = client.http.get(f"/api/customers/{cid}", headers=agent).json_body
    # THEN the timeline has the message with its HTML sanitised, and the deadline entries
    message = next(e for e in view["timeline"] if e["kind"] == "message")
    assert (
        "onerror" not in message["html"] and "<script" not in message["html"] and "<p>My order</p>" in message["html"]
    )
    assert {"created", "first_response_due"} <= {e["kind"] for e in view["timeline"]}
    assert view["version"] == 0 and view["classification"]["reasons"] == []
    # AND the sidebar names the customer, identities, tags, opt-out, both conversations and the order number
    assert sidebar["name"] == "Maja Svensson" and sidebar["tags"] == ["vip"] and sidebar["marketing_opt_out"] is False
    assert {"kind": "phone", "value": "+46701234567"} in sidebar["identities"]
    channels = {c["conversation_id"]: c["channel"] for c in sidebar["conversations"]}
    assert channels[earlier.conversation_id] == "sms" and conv.conversation_id in channels
    assert sidebar["order_references"] == ["88812345"]


def test_presence_is_shown_in_the_list_and_the_detail(stack: Any, agent: dict[str, str]) -> None:
    conv = make_conversation(queue="general", due_in=timedelta(minutes=-900))
    other = staffauth.bearer(staffauth.id_token(stack, "supervisor"))
    with Client(stack.app_module.app) as client:
        # WHEN the agent views and the supervisor composes
        client.http.post(
            f"/api/conversations/{conv.conversation_id}/presence", headers=agent, body='{"state": "viewing"}'
        )
        resp = client.http.post(
            f"/api/conversations/{conv.conversation_id}/presence", headers=other, body='{"state": "composing"}'
        )
        assert resp.status_code == 200
        assert {(v["username"], v["state"]) for v in resp.json_body["viewers"]} == {
            ("agent", "viewing"),
            ("supervisor", "composing"),
        }
        # THEN the list row and the detail show both
        rows = client.http.get("/api/conversations?view=queue&queue=general&limit=100", headers=agent).json_body
        row = next(r for r in rows["items"] if r["conversation_id"] == conv.conversation_id)
        assert {v["username"] for v in row["viewers"]} == {"agent", "supervisor"}
        detail = client.http.get(f"/api/conversations/{conv.conversation_id}", headers=agent).json_body
        assert {v["name"] for v in detail["viewers"]} == {"Alex Agent", "Sam Supervisor"}
        # AND leaving removes the supervisor
        left = client.http.post(
            f"/api/conversations/{conv.conversation_id}/presence", headers=other, body='{"state": "left"}'
        )
        assert [v["username"] for v in left.json_body["viewers"]] == ["agent"]
        bad = client.http.post(
            f"/api/conversations/{conv.conversation_id}/presence", headers=other, body='{"state": "dancing"}'
        )
        assert bad.status_code == 400


def test_a_met_first_response_is_not_breached(stack: Any, agent: dict[str, str]) -> None:
    # GIVEN an answered conversation whose key still carries its (passed) first-response deadline
    conv = make_conversation(queue="supervisors", due_in=timedelta(minutes=-30))
    conv.first_response_at = store.iso(datetime.now(UTC) - timedelta(minutes=45))
    conv.save()
    with Client(stack.app_module.app) as client:
        before = counts(client, agent)
        breached = {r["conversation_id"] for r in pages(client, agent, "view=breached&queue=supervisors&limit=50")}
        late = make_conversation(queue="supervisors", due_in=timedelta(minutes=-30))
        after = counts(client, agent)
        breached_after = {
            r["conversation_id"] for r in pages(client, agent, "view=breached&queue=supervisors&limit=50")
        }
    # THEN it is neither listed nor counted as breached; an unanswered one with the same deadline is
    assert conv.conversation_id not in breached | breached_after and late.conversation_id in breached_after
    assert after["supervisors"]["breached"] == before["supervisors"]["breached"] + 1
