"""Which failed sends the outbox may repeat: not sent (retry), outcome unknown (never repeat an ack), refused."""

from __future__ import annotations

from email.errors import HeaderParseError

import pytest
from botocore.exceptions import ClientError, ConnectTimeoutError, EndpointConnectionError, ReadTimeoutError
from jinja2 import UndefinedError

from chalicelib.errors import DeliveryError, NotFound, SendNotAttempted, TransientError
from chalicelib.outbox import EffectRefused, classify_failure, refusal_reason

pytestmark = pytest.mark.unit


def client_error(code: str, status: int) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": "x"}, "ResponseMetadata": {"HTTPStatusCode": status}}, "Op")


def wrapped(outer: Exception, cause: BaseException) -> Exception:
    outer.__cause__ = cause
    return outer


@pytest.mark.parametrize(
    ("exc", "verdict"),
    [
        # The service answered: the request arrived and nothing was done, so a retry is safe.
        (client_error("Throttling", 400), "not_sent"),
        # SNS's own throttle (ThrottledException), as send_sms wraps it: the ack waits, it is not dropped.
        (wrapped(DeliveryError("SNS refused the SMS"), client_error("Throttled", 429)), "not_sent"),
        (client_error("TooManyRequestsException", 429), "not_sent"),
        (client_error("ServiceUnavailable", 503), "not_sent"),
        (wrapped(DeliveryError("SES refused"), client_error("InternalFailure", 500)), "not_sent"),
        (wrapped(TransientError("SES is throttling"), client_error("Throttling", 400)), "not_sent"),
        (EndpointConnectionError(endpoint_url="https://x"), "not_sent"),
        (ConnectTimeoutError(endpoint_url="https://x"), "not_sent"),
        # The request left and its answer was lost: the send may have happened.
        (ReadTimeoutError(endpoint_url="https://x"), "unknown"),
        # ...unless what timed out was a check before the send.
        (wrapped(SendNotAttempted("opt-out check"), ReadTimeoutError(endpoint_url="https://x")), "not_sent"),
        # Never going to work: park it once.
        (wrapped(DeliveryError("SES refused"), client_error("MessageRejected", 400)), "refused"),
        (UndefinedError("'x' is undefined"), "refused"),
        (NotFound("no template"), "refused"),
        (EffectRefused("rate_limited"), "refused"),
        (ValueError("Header values may not contain linefeed or carriage return characters"), "refused"),
        (HeaderParseError("expected addr-spec"), "refused"),
    ],
    ids=lambda v: v if isinstance(v, str) else type(v).__name__,
)
def test_failures_are_classified_by_whether_the_send_can_have_happened(exc: Exception, verdict: str) -> None:
    # GIVEN a failure raised by a send WHEN classified THEN the verdict says whether to retry
    assert classify_failure(exc) == verdict


def test_a_refusal_reason_names_no_value_from_the_request() -> None:
    # GIVEN errors whose texts quote an address
    exc = wrapped(DeliveryError("SES refused ada@example.test"), client_error("MessageRejected", 400))
    # THEN the reason is the error's class and AWS code only
    assert refusal_reason(exc) == "DeliveryError:MessageRejected"
    assert refusal_reason(UndefinedError("'ada@example.test' is undefined")) == "template_error:UndefinedError"
    assert "ada@" not in refusal_reason(ValueError("bad header ada@example.test"))


@pytest.mark.parametrize(
    ("exc", "verdict"),
    [
        # A pre-send step's own write (START's opt-in) whose answer was lost: the send was never called.
        (wrapped(TransientError("DynamoDB write failed"), ReadTimeoutError(endpoint_url="https://x")), "not_sent"),
        (ReadTimeoutError(endpoint_url="https://x"), "not_sent"),
        (client_error("ProvisionedThroughputExceededException", 400), "not_sent"),
        # A refusal stays a refusal, whether or not the send was called.
        (EffectRefused("rate_limited"), "refused"),
    ],
    ids=lambda v: v if isinstance(v, str) else type(v).__name__,
)
def test_a_failure_before_the_send_was_called_is_never_an_unknown_outcome(exc: Exception, verdict: str) -> None:
    # GIVEN a failure raised before the provider call WHEN classified as such THEN nothing can have gone out
    assert classify_failure(exc, attempted=False) == verdict
