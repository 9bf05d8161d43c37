"""One cached factory per AWS client; region and endpoint come from Settings, nothing is built at import."""

from __future__ import annotations

import functools
import hashlib
import json
import os
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

import botocore.session
from botocore.config import Config
from botocore.loaders import Loader

from chalicelib.config import get_settings

if TYPE_CHECKING:
    from mypy_boto3_cloudwatch import CloudWatchClient
    from mypy_boto3_cognito_idp import CognitoIdentityProviderClient
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_ses import SESClient
    from mypy_boto3_sns import SNSClient
    from mypy_boto3_sqs import SQSClient
    from mypy_boto3_stepfunctions import SFNClient

# Lambda retries the record anyway; keep SDK retries short so one slow call cannot eat the timeout.
_CONFIG = Config(retries={"max_attempts": 3, "mode": "standard"}, connect_timeout=5, read_timeout=15)
# The clients that send mail and SMS make one attempt per call: botocore retries a read timeout or a
# 5xx, and a SendRawEmail or Publish whose answer was lost after SES/SNS did the work would go out
# twice. The outbox decides what a failed send means (retry later, or outcome unknown).
SEND_CONFIG = _CONFIG.merge(Config(retries={"total_max_attempts": 1, "mode": "standard"}))


_SESSION_LOCK = threading.Lock()
# Service models cut to the operations our code calls, which `replydesk package` writes into the zip
# (cli/package_models.py): botocore decoding S3's whole 1.3 MB model was most of that client's cold start.
TRIMMED_MODELS = Path(__file__).parent / "sdkmodels"


def trimmed_models_path() -> str | None:
    """The package's cut service models, if each was cut from the very model file this botocore has."""
    cut = _trimmed_models()
    return None if cut is None else cut[0]


def _trimmed_models() -> tuple[str, tuple[str, ...]] | None:
    """(the cut's directory, the services the package makes clients for), if the cut is usable."""
    try:
        manifest = json.loads((TRIMMED_MODELS / "manifest.json").read_bytes())
    except FileNotFoundError:
        return None  # not a package (tests, the local stack): botocore's own models
    own = Path(botocore.__file__).parent / "data"
    for model in manifest["models"]:
        try:
            digest = hashlib.sha256((own / model["cut_from"]).read_bytes()).hexdigest()
        except OSError:
            return None
        if digest != model["sha256"]:
            return None  # another botocore than the package was built with, another model: the full one
    services = tuple(s for model in manifest["models"] for s in model.get("services", ()))
    return str(TRIMMED_MODELS), services


class _KnownServicesLoader(Loader):
    """botocore's loader, told which services the package makes clients for (the cut's manifest, made
    from this module's `_client` calls) instead of listing every model directory the runtime's botocore
    has (445, twice: for the service models and for the endpoint rules) to find out: about 10 ms of
    every cold start. Asked for another service, it answers as a botocore without its model would."""

    def __init__(self, services: tuple[str, ...], search_paths: list[str]) -> None:
        super().__init__(extra_search_paths=search_paths)
        self._services = services

    def list_available_services(self, type_name: str) -> list[str]:
        return sorted(s for s in self._services if self.list_api_versions(s, type_name))


@functools.cache
def _session() -> Any:
    # One botocore session for every client: each new one reads the endpoint rules and the list of
    # services from disk again, most of a cold start's first use. Clients are thread-safe; creating
    # them from one session is not, hence the lock in _client. botocore's own session, not boto3's:
    # the clients are the same objects, without importing boto3 and, for S3, s3transfer (the managed
    # transfer methods boto3 adds, which nothing here calls): tens of ms of every cold start (issue 13).
    session = botocore.session.get_session()
    cut = _trimmed_models()
    if cut is not None:
        trimmed, services = cut
        # First on the data path, so the cut model is found before botocore's own (AWS_DATA_PATH after it).
        existing = session.get_config_variable("data_path")
        paths = [p for p in (trimmed, *(existing or "").split(os.pathsep)) if p]
        session.set_config_variable("data_path", os.pathsep.join(paths))
        session.register_component("data_loader", _KnownServicesLoader(services, paths))
    return session


def _client(service: str, config: Config = _CONFIG) -> Any:
    s = get_settings()
    with _SESSION_LOCK:
        session: Any = _session()  # the typed overloads want a literal service name
        return session.create_client(service, region_name=s.region, endpoint_url=s.endpoint_url, config=config)


@functools.cache
def s3() -> S3Client:
    return _client("s3")  # type: ignore[no-any-return]


@functools.cache
def sqs() -> SQSClient:
    return _client("sqs")  # type: ignore[no-any-return]


@functools.cache
def sns() -> SNSClient:
    """The SMS sender (and its opt-out lookup): one attempt per call."""
    return _client("sns", SEND_CONFIG)  # type: ignore[no-any-return]


@functools.cache
def ses() -> SESClient:
    """The mail sender: one attempt per call."""
    return _client("ses", SEND_CONFIG)  # type: ignore[no-any-return]


@functools.cache
def dynamodb() -> DynamoDBClient:
    return _client("dynamodb")  # type: ignore[no-any-return]


@functools.cache
def stepfunctions() -> SFNClient:
    return _client("stepfunctions")  # type: ignore[no-any-return]


@functools.cache
def cloudwatch() -> CloudWatchClient:
    return _client("cloudwatch")  # type: ignore[no-any-return]


@functools.cache
def cognito_idp() -> CognitoIdentityProviderClient:
    return _client("cognito-idp")  # type: ignore[no-any-return]


@functools.cache
def secretsmanager() -> Any:  # its stubs are not a dependency
    return _client("secretsmanager")


def clear_caches() -> None:
    """Forget every client and the settings (tests, and the local stack after a reset)."""
    for factory in (s3, sqs, sns, ses, dynamodb, stepfunctions, cloudwatch, cognito_idp, secretsmanager, _session):
        factory.cache_clear()
    get_settings.cache_clear()
