"""Drives a moto server (the AWS mock, run with request authentication on)
for stampede's S3 tests (tests/src/moto.rs): makes an IAM user with an
access key, creates a bucket, and lists what the bucket holds, all through
boto3, so the server side of every count comes from the AWS SDK.

Usage:
  moto_s3.py setup ENDPOINT BUCKET   -> {"access_key": ..., "secret_key": ...}
      Takes exactly 3 of the server's unauthenticated actions
      (INITIAL_NO_AUTH_ACTION_COUNT=3): create the user, give it a policy
      allowing everything, create its access key. The bucket is created
      with that key, so it is already a signed request.
  moto_s3.py list ENDPOINT BUCKET PREFIX  -> {"count": N, "bytes": B, "keys": {key: size}}
      Every object under PREFIX (all pages), signed with AWS_ACCESS_KEY_ID
      and AWS_SECRET_ACCESS_KEY from the environment.
  moto_s3.py put ENDPOINT BUCKET KEY SIZE  -> {"key": KEY, "size": SIZE}
      Puts SIZE bytes at KEY, signed the same way.
"""

import json
import os
import sys

import boto3
from botocore.config import Config

REGION = "us-east-1"


def client(service, endpoint, access_key, secret_key):
    return boto3.client(
        service,
        endpoint_url=endpoint,
        region_name=REGION,
        aws_access_key_id=access_key,
        aws_secret_access_key=secret_key,
        config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1}),
    )


def setup(endpoint, bucket):
    # These three calls are the server's free actions: any keys will do.
    iam = client("iam", endpoint, "AKIDBOOTSTRAP", "bootstrap-secret")
    iam.create_user(UserName="stampede")
    iam.put_user_policy(
        UserName="stampede",
        PolicyName="everything",
        PolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}],
            }
        ),
    )
    key = iam.create_access_key(UserName="stampede")["AccessKey"]
    s3 = client("s3", endpoint, key["AccessKeyId"], key["SecretAccessKey"])
    s3.create_bucket(Bucket=bucket)
    return {"access_key": key["AccessKeyId"], "secret_key": key["SecretAccessKey"]}


def user_client(endpoint):
    return client(
        "s3", endpoint, os.environ["AWS_ACCESS_KEY_ID"], os.environ["AWS_SECRET_ACCESS_KEY"]
    )


def put_object(endpoint, bucket, key, size):
    user_client(endpoint).put_object(Bucket=bucket, Key=key, Body=b"s" * size)
    return {"key": key, "size": size}


def list_objects(endpoint, bucket, prefix):
    s3 = user_client(endpoint)
    keys = {}
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for obj in page.get("Contents", []):
            keys[obj["Key"]] = obj["Size"]
    return {"count": len(keys), "bytes": sum(keys.values()), "keys": keys}


def main(argv):
    if len(argv) == 4 and argv[1] == "setup":
        result = setup(argv[2], argv[3])
    elif len(argv) == 5 and argv[1] == "list":
        result = list_objects(argv[2], argv[3], argv[4])
    elif len(argv) == 6 and argv[1] == "put":
        result = put_object(argv[2], argv[3], argv[4], int(argv[5]))
    else:
        sys.exit(__doc__)
    print(json.dumps(result))


if __name__ == "__main__":
    main(sys.argv)
