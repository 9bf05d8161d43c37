"""`retire --aws`'s stack deletion, against moto's CloudFormation (only the resource types moto supports)."""

from __future__ import annotations

import json
import uuid

import boto3
import pytest

from chalicelib.campaign.retire import delete_cloudformation_stack

pytestmark = pytest.mark.integration


def test_delete_stack_waits_for_the_deletion_and_lists_what_the_retention_policy_keeps(moto_url: str) -> None:
    # GIVEN a CloudFormation stack with a queue (deleted with it) and a bucket the template retains
    suffix = uuid.uuid4().hex[:8]
    template = {
        "Resources": {
            "WorkQueue": {"Type": "AWS::SQS::Queue", "Properties": {"QueueName": f"retire-q-{suffix}"}},
            "RawBucket": {
                "Type": "AWS::S3::Bucket",
                "DeletionPolicy": "Retain",
                "Properties": {"BucketName": f"retire-raw-{suffix}"},
            },
        }
    }
    kwargs = {"region_name": "us-east-1", "endpoint_url": moto_url}
    cfn, sqs, s3 = (boto3.client(s, **kwargs) for s in ("cloudformation", "sqs", "s3"))  # type: ignore[call-overload]
    name = f"replydesk-retire-{suffix}"
    cfn.create_stack(StackName=name, TemplateBody=json.dumps(template))
    cfn.get_waiter("stack_create_complete").wait(StackName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 30})
    # WHEN the retire step deletes it
    done = delete_cloudformation_stack(cfn, name, template, delay=1, max_attempts=30)
    # THEN the stack is gone, with the queue, and the bucket is kept and named
    assert done.existed and done.status == "DELETE_COMPLETE"
    assert done.kept == (f"RawBucket (AWS::S3::Bucket): retire-raw-{suffix}",)
    assert [d.split(" ", 1)[0] for d in done.deleted] == ["WorkQueue"]
    assert not [u for u in sqs.list_queues().get("QueueUrls", []) if u.endswith(f"retire-q-{suffix}")]
    assert f"retire-raw-{suffix}" in {b["Name"] for b in s3.list_buckets()["Buckets"]}
    # AND a rerun finds no stack and does nothing
    again = delete_cloudformation_stack(cfn, name, template, delay=1, max_attempts=30)
    assert not again.existed and again.kept == ()
