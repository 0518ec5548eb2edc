"""Signs requests with botocore, the AWS SDK for Python's signer: the oracle
for stampede's SigV4 signatures (engine/tests/sigv4_botocore.rs).

Reads a JSON list of cases on stdin, each {method, url, headers: [[name,
value], ...], body, access_key, secret_key, token, region, service,
sign_payload, unix_time}, and prints a JSON list of the headers botocore
adds (name -> value) for each.
"""

import datetime
import json
import sys
from unittest import mock

from botocore.auth import S3SigV4Auth, SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials


def sign(case):
    creds = Credentials(case["access_key"], case["secret_key"], case.get("token"))
    request = AWSRequest(
        method=case["method"],
        url=case["url"],
        data=case["body"].encode(),
        headers=dict(case["headers"]),
    )
    if case["service"] == "s3":
        request.context["client_config"] = Config(
            s3={"payload_signing_enabled": case["sign_payload"]}
        )
        auth = S3SigV4Auth(creds, case["service"], case["region"])
    else:
        auth = SigV4Auth(creds, case["service"], case["region"])
    now = datetime.datetime.fromtimestamp(case["unix_time"], datetime.timezone.utc)
    with mock.patch("botocore.auth.get_current_datetime", return_value=now):
        auth.add_auth(request)
    given = {name.lower() for name, _ in case["headers"]}
    return {k.lower(): v for k, v in request.headers.items() if k.lower() not in given}


print(json.dumps([sign(case) for case in json.load(sys.stdin)]))
