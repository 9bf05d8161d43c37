"""The one translation from replydesk's domain errors to Chalice's HTTP errors (status as a class attribute)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from chalice.app import (
    BadRequestError,
    ChaliceViewError,
    ConflictError,
    ForbiddenError,
    NotFoundError,
    TooManyRequestsError,
    UnauthorizedError,
)

from chalicelib.errors import (
    CampaignClosed,
    Conflict,
    DeliveryError,
    Forbidden,
    InvalidInput,
    NotFound,
    NotImplementedFeature,
    PayloadTooLarge,
    ReplydeskError,
    SegmentBudgetExceeded,
    TooManyRequests,
    TransientError,
    Unauthorized,
    ValidationError,
)
from chalicelib.observability import logger


class PayloadTooLargeError(ChaliceViewError):
    STATUS_CODE = 413


class NotImplementedYetError(ChaliceViewError):
    STATUS_CODE = 501


class BadGatewayError(ChaliceViewError):
    STATUS_CODE = 502


class ServiceUnavailableError(ChaliceViewError):
    STATUS_CODE = 503


class GoneError(ChaliceViewError):
    STATUS_CODE = 410


# The lookup walks each error's MRO, so a subclass (PayloadTooLarge, TooManyRequests) finds its own
# entry before its parent's (ValidationError); messages of the others are written for the caller.
_HTTP: dict[type, type[ChaliceViewError]] = {
    ValidationError: BadRequestError,
    PayloadTooLarge: PayloadTooLargeError,
    TooManyRequests: TooManyRequestsError,
    SegmentBudgetExceeded: BadRequestError,
    InvalidInput: BadRequestError,
    Unauthorized: UnauthorizedError,
    Forbidden: ForbiddenError,
    NotFound: NotFoundError,
    Conflict: ConflictError,
    NotImplementedFeature: NotImplementedYetError,
    DeliveryError: BadGatewayError,
    TransientError: ServiceUnavailableError,
    CampaignClosed: GoneError,
}

# These two carry AWS details in their message; the caller gets a fixed sentence instead.
_FIXED_MESSAGE: dict[type, str] = {
    DeliveryError: "the message could not be delivered to the customer",
    TransientError: "a backing service is busy; try again in a moment",
}


def to_http(exc: ReplydeskError) -> ChaliceViewError:
    """The HTTP error for a domain error; unknown ones are a 500 that says nothing about internals."""
    for cls in type(exc).__mro__:
        http = _HTTP.get(cls)
        if http is not None:
            return http(_FIXED_MESSAGE.get(cls, str(exc)))
    if exc.retryable:
        return ServiceUnavailableError(_FIXED_MESSAGE[TransientError])
    return ChaliceViewError("internal error")


@contextmanager
def http_errors() -> Iterator[None]:
    """Run a view body; a domain error leaves it as the matching Chalice HTTP error."""
    try:
        yield
    except ReplydeskError as exc:
        http = to_http(exc)
        if http.STATUS_CODE >= 500:
            logger.warning("request failed", extra={"error": type(exc).__name__, "aws_code": exc.aws_code})
        raise http from exc
