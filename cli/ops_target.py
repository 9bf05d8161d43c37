"""How operator commands reach a stack: the local one (moto endpoint) or a deployed stage (AWS credentials)."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from chalicelib.ops.stack import StackNames

LOCAL_ENDPOINT = "http://127.0.0.1:5000"

T = TypeVar("T")


def add_target_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--campaign", default="demo")
    p.add_argument("--stage", default="dev")
    p.add_argument(
        "--endpoint",
        default=LOCAL_ENDPOINT,
        help="the local stack's moto endpoint (default %(default)s); ignored with --aws",
    )
    p.add_argument("--aws", action="store_true", help="the deployed stage, with your usual AWS credentials")
    p.add_argument("--region", default=None, help="AWS region (default: AWS_REGION, else us-east-1)")


@dataclass
class Target:
    """Clients and names for one stack; the local emulator takes fake credentials."""

    names: StackNames
    endpoint: str | None
    region: str

    def client(self, service: str) -> Any:
        import boto3

        session: Any = boto3.session.Session()
        if self.endpoint is None:
            return session.client(service, region_name=self.region)
        return session.client(
            service,
            region_name=self.region,
            endpoint_url=self.endpoint,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",  # noqa: S106 - fake, local emulator only
        )

    def bind_models(self) -> None:
        """Point the PynamoDB models at this stack's tables."""
        from chalicelib.ops.stack import bind_models_to

        bind_models_to(self.names, endpoint=self.endpoint, region=self.region)


def target_from(ns: argparse.Namespace) -> Target:
    region = ns.region or os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"
    endpoint = None if ns.aws else ns.endpoint
    probe = Target(StackNames(ns.campaign, ns.stage, region, "0"), endpoint, region)
    account = str(probe.client("sts").get_caller_identity()["Account"])
    return Target(StackNames(ns.campaign, ns.stage, region, account), endpoint, region)


def bound_stack(ns: argparse.Namespace) -> Target | None:
    """The stack the options name, with the PynamoDB models bound to its tables; None (said why) if it is not there."""

    def bound(target: Target) -> Target:
        target.bind_models()
        return target

    return reach(ns, bound)


def reach(ns: argparse.Namespace, use: Callable[[Target], T]) -> T | None:
    """`use` applied to the stack the options name, or None after saying on stderr that no such stack answers.

    Any failure while reaching it means "no such stack" to the operator: the exception's type is named,
    never its text, which may quote a table or an address.
    """
    try:
        return use(target_from(ns))
    except Exception as exc:  # noqa: BLE001 - see above
        where = "AWS" if ns.aws else ns.endpoint
        print(f"no {ns.campaign}/{ns.stage} stack answers at {where} ({type(exc).__name__})", file=sys.stderr)
        return None
