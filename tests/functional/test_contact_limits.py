"""The contact route under abuse: per-IP and per-address counters (429), hostile bodies (400, never 500)."""

from __future__ import annotations

import dataclasses
import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from chalice.test import Client

from chalicelib.config import Campaign, RateLimit, WebFormLimits

pytestmark = pytest.mark.functional


def _strict(campaign: Campaign, *, per_ip: int = 5000, per_address: int = 10) -> Campaign:
    hour = timedelta(hours=1)
    limits = WebFormLimits(per_ip=RateLimit(per_ip, hour), per_address=RateLimit(per_address, hour))
    return dataclasses.replace(campaign, web_form=limits)


def _post(client: Client, body: Any) -> Any:
    raw = body if isinstance(body, str) else json.dumps(body)
    return client.http.post("/contact", headers={"Content-Type": "application/json"}, body=raw)


def test_address_over_its_limit_gets_429_with_a_clear_message(stack: Any, monkeypatch: Any) -> None:
    # GIVEN a campaign that takes one submission per address per hour
    from chalicelib import pages

    monkeypatch.setattr(pages, "get_campaign", lambda: _strict(stack.campaign, per_address=1))
    email = f"limit-{uuid.uuid4().hex[:10]}@customer.test"
    form = {"name": "Ada", "email": email, "message": "Where is my order?", "consent": True}
    with Client(stack.app_module.app) as client:
        # WHEN the same address submits twice
        first = _post(client, form)
        second = _post(client, form)
    # THEN the first is accepted and the second is refused with 429 saying why and what to do
    assert first.status_code == 202
    assert second.status_code == 429
    message = second.json_body["Message"]
    assert "too many submissions for this email address" in message and "try again later" in message
    stack.pump.drain()


def test_client_ip_counter_is_one_conditional_update_and_expires(stack: Any) -> None:
    # GIVEN a client IP and a limit of 3 per hour
    from chalicelib.config import get_settings
    from chalicelib.errors import TooManyRequests
    from chalicelib.guard import ratelimit
    from chalicelib.models import RateLimitModel, bind_models

    bind_models(get_settings())
    campaign = _strict(stack.campaign, per_ip=3)
    ip = f"198.51.100.{uuid.uuid4().int % 250}-{uuid.uuid4().hex[:6]}"
    now = datetime.now(UTC)
    # WHEN it submits 3 times THEN all pass; the 4th and 5th are refused and not counted
    for _ in range(3):
        ratelimit.check_client(ip, campaign, now=now)
    for _ in range(2):
        with pytest.raises(TooManyRequests) as exc:
            ratelimit.check_client(ip, campaign, now=now)
        assert "too many submissions from your network" in str(exc.value)
    # AND the counter holds exactly the 3 accepted hits, under a hashed key, with a TTL past the window
    items = [i for i in RateLimitModel.scan() if i.key.startswith("web-ip#")]
    assert ip not in "".join(i.key for i in items)
    (counter,) = [i for i in items if i.key == f"{ratelimit._subject_key('web-ip', ip)}#{_window(now)}"]
    assert counter.hits == 3
    assert counter.expires_at > now.timestamp() + 3600
    # AND the next window starts from zero
    ratelimit.check_client(ip, campaign, now=now + timedelta(hours=1))


def _window(now: datetime) -> int:
    return int(now.timestamp()) // 3600 * 3600


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ("[" * 10_000, "body"),
        ('{"name": "Ada", "x": ' + "[" * 5_000 + "]" * 5_000 + "}", "body"),
        (json.dumps({"name": "A\ud800", "email": "a@b.test", "message": "hi", "consent": True}), "name"),
        (json.dumps({"name": "Ada\r\nBcc: v@x.test", "email": "a@b.test", "message": "hi", "consent": True}), "name"),
        (json.dumps({"name": "Ada", "email": ".a@b.test", "message": "hi", "consent": True}), "email"),
    ],
    ids=["nested-array", "nested-field", "lone-surrogate", "crlf-name", "unsendable-address"],
)
def test_hostile_bodies_are_400_naming_the_problem(stack: Any, body: str, field: str) -> None:
    # GIVEN a body that used to crash the route (500) or poison the ack
    with Client(stack.app_module.app) as client:
        # WHEN it is posted
        resp = _post(client, body)
    # THEN it is a 400 whose message names the field
    assert resp.status_code == 400, resp.body
    assert f"'{field}'" in resp.json_body["Message"] or field in resp.json_body["Message"]
