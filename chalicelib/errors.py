"""The one error tree of replydesk: every error raised on purpose, and whether a retry can help."""

from __future__ import annotations

from typing import ClassVar

from botocore.exceptions import ClientError


class ReplydeskError(Exception):
    """Root of every error replydesk raises on purpose."""

    retryable: ClassVar[bool] = False

    @property
    def aws_code(self) -> str | None:
        """The AWS error code of the botocore error this was raised from, if any."""
        cause = self.__cause__
        if isinstance(cause, ClientError):
            code = cause.response.get("Error", {}).get("Code")
            return str(code) if code is not None else None
        inner = getattr(cause, "cause_response_code", None)  # PynamoDB wraps botocore errors
        return str(inner) if inner else None


class ConfigError(ReplydeskError):
    """Raised at start-up when settings or a campaign file are missing or invalid."""

    def __init__(self, source: str, problems: list[str]) -> None:
        self.source = source
        self.problems = list(problems)
        super().__init__(f"{source} is invalid:\n  - " + "\n  - ".join(self.problems))


class ValidationError(ReplydeskError):
    """Raised when customer input is rejected (a 4xx for the web form)."""

    def __init__(self, message: str, *, field: str | None = None) -> None:
        self.field = field
        super().__init__(message)


class PayloadTooLarge(ValidationError):
    """Raised when a submission is larger than the channel accepts."""


class InvalidInput(ReplydeskError):
    """Raised when a stored raw input cannot be turned into an InboundMessage; it is parked in the DLQ."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)


class CampaignClosed(ReplydeskError):
    """Raised when a retired campaign's contact form is posted to (410, with the closing message)."""


class MissingArtefact(ReplydeskError):
    """Raised when the stack lacks a packaged artefact (the topic model): a retry cannot help, so it is parked once."""

    def __init__(self, artefact: str) -> None:
        self.artefact = artefact
        self.reason = f"missing_artefact: {artefact}"
        super().__init__(self.reason)


class TransientError(ReplydeskError):
    """Raised when an AWS call failed in a way a later retry can fix (throttling, 5xx)."""

    retryable = True


class DeliveryError(ReplydeskError):
    """Raised when SES or SNS refused an outbound message."""


class SendNotAttempted(DeliveryError):
    """Raised when a check before a send failed (e.g. SNS's opt-out lookup): nothing went out."""


class SegmentBudgetExceeded(ReplydeskError):
    """Raised when a rendered SMS needs more segments than the campaign allows: shorten the template."""

    def __init__(self, *, encoding: str, units: int, segments: int, budget: int) -> None:
        self.encoding = encoding
        self.units = units
        self.segments = segments
        self.budget = budget
        super().__init__(f"SMS needs {segments} {encoding} segments ({units} units), the budget is {budget}")


class NotFound(ReplydeskError):
    """Raised when a conversation, customer or template does not exist."""


class Unauthorized(ReplydeskError):
    """Raised when a staff request has no valid token (401): missing, forged, expired or another pool's."""


class Forbidden(ReplydeskError):
    """Raised when a valid staff token lacks the role a route needs (403)."""


class Conflict(ReplydeskError):
    """Raised when a write was based on a version someone else changed first (409)."""


class TooManyRequests(ValidationError):
    """Raised when a sender or client is over a rate limit (429)."""


class NotImplementedFeature(ReplydeskError):
    """Raised for a feature the README lists as not implemented yet."""


RETRYABLE_AWS_CODES = frozenset(
    {
        "Throttling",
        "ThrottlingException",
        # SNS throttles with `Throttled` (HTTP 429); the others are botocore's own list of throttle codes.
        "Throttled",
        "ThrottledException",
        "TooManyRequestsException",
        "RequestThrottled",
        "RequestThrottledException",
        "ProvisionedThroughputExceededException",
        "RequestLimitExceeded",
        "ServiceUnavailable",
        "InternalError",
        "InternalServerError",
        "TransactionConflictException",
        "SlowDown",
    }
)


def is_retryable(exc: BaseException) -> bool:
    """Whether a failed record should go back to the queue (True) or to the DLQ with its reason (False)."""
    if isinstance(exc, ReplydeskError):
        return exc.retryable or (exc.aws_code in RETRYABLE_AWS_CODES)
    if isinstance(exc, ClientError):
        return exc.response.get("Error", {}).get("Code") in RETRYABLE_AWS_CODES
    # Unknown errors are bugs or outages; retrying is the safe side until maxReceiveCount parks them.
    return True


def error_code(exc: BaseException) -> str | None:
    """The AWS code of a PynamoDB error, or None (PynamoDB's own property fails when the cause had no answer)."""
    response = getattr(getattr(exc, "cause", None), "response", None)
    if not isinstance(response, dict):
        return None
    code = response.get("Error", {}).get("Code")
    return str(code) if code else None
