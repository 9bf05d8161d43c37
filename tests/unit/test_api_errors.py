"""Every domain error has one HTTP status, and 5xx answers say nothing about internals."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError

from chalicelib import errors
from chalicelib.api.errors import http_errors, to_http

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("error", "status"),
    [
        (errors.ValidationError("'text' is required", field="text"), 400),
        (errors.PayloadTooLarge("too big"), 413),
        (errors.TooManyRequests("slow down"), 429),
        (errors.SegmentBudgetExceeded(encoding="GSM-7", units=400, segments=3, budget=2), 400),
        (errors.InvalidInput("bad"), 400),
        (errors.Unauthorized("sign in first"), 401),
        (errors.Forbidden("this needs the admin role"), 403),
        (errors.NotFound("no conversation RD-X"), 404),
        (errors.Conflict("changed by someone else"), 409),
        (errors.NotImplementedFeature("not yet"), 501),
        (errors.DeliveryError("SES said MessageRejected for a@b.c"), 502),
        (errors.TransientError("throttled"), 503),
        (errors.ConfigError("environment", ["X is not set"]), 500),
        (errors.CampaignClosed("The campaign has ended."), 410),
        (errors.MissingArtefact("topic model of campaign demo"), 500),
    ],
)
def test_each_domain_error_has_its_status(error: errors.ReplydeskError, status: int) -> None:
    status_code = to_http(error).STATUS_CODE
    assert status_code == status


def test_every_error_class_of_the_tree_is_translated_on_purpose() -> None:
    # GIVEN every error class replydesk defines (a new one must be placed here too)
    classes = [c for c in vars(errors).values() if isinstance(c, type) and issubclass(c, errors.ReplydeskError)]
    # A missing packaged artefact (the topic model) is a broken deployment: a 500 on purpose.
    known_500 = {errors.ReplydeskError, errors.ConfigError, errors.MissingArtefact}
    for cls in classes:
        if cls in known_500:
            continue
        exc = cls.__new__(cls)
        Exception.__init__(exc, "x")
        # THEN it does not fall through to the generic 500
        assert to_http(exc).STATUS_CODE != 500, cls.__name__


def test_server_side_failures_hide_their_details() -> None:
    # GIVEN errors whose text names an address or an AWS detail
    delivery = to_http(errors.DeliveryError("SES refused mail to maja@example.com"))
    transient = to_http(errors.TransientError("ThrottlingException on table replydesk-demo-dev-messages"))
    # THEN the caller gets a fixed sentence
    assert "maja@example.com" not in str(delivery) and "replydesk-demo" not in str(transient)


def test_a_throttled_aws_call_is_503_through_the_context_manager() -> None:
    boto = ClientError({"Error": {"Code": "ThrottlingException", "Message": "slow"}}, "Query")
    with pytest.raises(Exception) as raised, http_errors():
        raise errors.TransientError("throttled") from boto
    assert getattr(raised.value, "STATUS_CODE", None) == 503
