"""Signs requests with botocore, the AWS SDK for Python's signer: the oracle
for stampede's SigV4 signatures (engine/tests/sigv4_botocore.rs).

Reads a JSON list of cases on stdin, each {method, url, headers: [[name,
value], ...], body, access_key, secret_key, token, region, service,
sign_payload, unix_time, presign_expires}, and prints a JSON list of the
headers botocore adds (name -> value) for each. A case with presign_expires
(seconds) is signed in its query as a presigned URL is (S3SigV4QueryAuth,
what generate_presigned_url uses); its answer also has "url", the signed URL.
"""

import datetime
import json
import sys
from unittest import mock

from botocore.auth import S3SigV4Auth, S3SigV4QueryAuth, SigV4Auth, SigV4QueryAuth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials


def sign(case):
    creds = Credentials(case["access_key"], case["secret_key"], case.get("token"))
    expires = case.get("presign_expires")
    # A presigned URL is signed without its body (the body is sent later,
    # by whoever holds the URL; botocore's query signer would move a body
    # into the query). Its headers, Content-Length too, are signed.
    request = AWSRequest(
        method=case["method"],
        url=case["url"],
        data=b"" if expires is not None else case["body"].encode(),
        headers=dict(case["headers"]),
    )
    if expires is not None:
        query_auth = S3SigV4QueryAuth if case["service"] == "s3" else SigV4QueryAuth
        auth = query_auth(creds, case["service"], case["region"], expires=expires)
    elif case["service"] == "s3":
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
    added = {k.lower(): v for k, v in request.headers.items() if k.lower() not in given}
    if expires is not None:
        return {"headers": added, "url": request.url}
    return added


print(json.dumps([sign(case) for case in json.load(sys.stdin)]))
