"""The campaign's template library: Jinja2 templates loaded from the template bucket, rendered sandboxed."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError
from jinja2 import BaseLoader, StrictUndefined, TemplateNotFound, select_autoescape
from jinja2.sandbox import SandboxedEnvironment

from chalicelib.errors import NotFound

if TYPE_CHECKING:
    from jinja2 import Environment
    from mypy_boto3_s3 import S3Client

# Staff edit the library while the system runs; a short TTL picks edits up without a HEAD per render.
CACHE_SECONDS = 60.0


class S3Loader(BaseLoader):
    """Loads `<lang>/<purpose>.<channel>.<ext>` from the campaign's template bucket."""

    def __init__(
        self, s3: S3Client, bucket: str, prefix: str = "", clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.s3 = s3
        self.bucket = bucket
        self.prefix = prefix
        self.clock = clock

    def get_source(self, environment: Environment, template: str) -> tuple[str, str, Callable[[], bool]]:
        key = f"{self.prefix}{template}"
        try:
            obj = self.s3.get_object(Bucket=self.bucket, Key=key)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
                raise TemplateNotFound(template) from exc
            raise
        source = obj["Body"].read().decode("utf-8")
        loaded = self.clock()
        return source, key, lambda: self.clock() - loaded < CACHE_SECONDS


@dataclass(frozen=True, slots=True)
class Rendered:
    template: str
    language: str
    text: str
    # The library's id and version; file-based templates are `<purpose>.<channel>` version 0.
    template_id: str = ""
    version: int = 0


class TemplateStore:
    """Renders a purpose for a channel in the best language the library has."""

    def __init__(self, loader: BaseLoader, default_language: str) -> None:
        self.default_language = default_language
        self.env = SandboxedEnvironment(
            loader=loader,
            undefined=StrictUndefined,
            autoescape=select_autoescape(enabled_extensions=("html",), default_for_string=False),
            trim_blocks=True,
            lstrip_blocks=True,
            keep_trailing_newline=False,
            auto_reload=True,
        )

    def render(
        self, purpose: str, channel: str, ext: str, language: str | None, context: Mapping[str, Any]
    ) -> Rendered:
        """Render `<lang>/<purpose>.<channel>.<ext>`, falling back to the default language."""
        tried = []
        for lang in dict.fromkeys(filter(None, (language, self.default_language))):
            name = f"{lang}/{purpose}.{channel}.{ext}"
            tried.append(name)
            try:
                template = self.env.get_template(name)
            except TemplateNotFound:
                continue
            return Rendered(
                template=name,
                language=lang,
                text=template.render(**context).strip() + "\n",
                template_id=f"{purpose}.{channel}",
                version=0,
            )
        raise NotFound(f"no template {' or '.join(tried)} in the library")
