"""Staff topic changes as training rows: the label from the raw bucket, the text from the messages table."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from chalicelib import store
from chalicelib.console.actions import RELABEL_PREFIX
from chalicelib.models import Direction

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client


def staff_relabels(*, s3: S3Client, bucket: str, topics: set[str]) -> tuple[list[str], list[str]]:
    """(texts, labels): each relabelled conversation's customer messages under the topic staff chose.

    Conversations erased since, and labels for topics the campaign no longer has, are left out.
    """
    texts: list[str] = []
    labels: list[str] = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=RELABEL_PREFIX):
        for obj in page.get("Contents", []):
            label = json.loads(s3.get_object(Bucket=bucket, Key=obj["Key"])["Body"].read())
            topic = str(label.get("topic", ""))
            if topic not in topics:
                continue
            inbound = [
                m.new_text or m.text
                for m in store.conversation_messages(str(label.get("conversation_id", "")))
                if m.direction == Direction.IN.value and (m.new_text or m.text)
            ]
            if inbound:
                texts.append("\n".join(inbound)[:5000])
                labels.append(topic)
    return texts, labels
