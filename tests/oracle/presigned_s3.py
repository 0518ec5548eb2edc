"""A server that checks presigned (query) SigV4 signatures with botocore,
for stampede's `--aws-sigv4-mode query` tests (tests/tests/s3_moto.rs). moto's
server (5.2.5) cannot stand in: with request authentication on it answers
a presigned URL with 500 (it reads the Authorization header such a request
does not have), so this checks them as S3 does.

Usage: presigned_s3.py ACCESS_KEY SECRET_KEY REGION SIZE
Prints "listening on 127.0.0.1:PORT", then serves HTTP/1.1 (keep-alive):
  GET /__stats             -> {"accepted": N, "refused": N}
  any other GET            -> 200 with SIZE bytes when the query carries a
      signature botocore's S3 presigner makes for this request (method,
      path, the request's own query, the headers X-Amz-SignedHeaders
      names, with the request's X-Amz-Date and X-Amz-Expires) from the
      given keys and region, and the URL has not expired; else 403 with
      S3's SignatureDoesNotMatch (AccessDenied when expired) document.
"""

import datetime
import json
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from unittest import mock
from urllib.parse import unquote

from botocore.auth import S3SigV4QueryAuth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

ACCESS_KEY, SECRET_KEY, REGION, SIZE = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
COUNTS = {"accepted": 0, "refused": 0}
LOCK = threading.Lock()
# botocore's presigner reads the clock through this; each check pins it.
CLOCK = threading.Lock()


def expected_signature(method, path, own_query, headers, stamp, expires):
    url = f"http://{headers.get('host', '')}{path}" + (f"?{own_query}" if own_query else "")
    request = AWSRequest(method=method, url=url, headers=headers)
    auth = S3SigV4QueryAuth(Credentials(ACCESS_KEY, SECRET_KEY), "s3", REGION, expires=expires)
    with CLOCK, mock.patch("botocore.auth.get_current_datetime", return_value=stamp):
        auth.add_auth(request)
    return request.url.rsplit("&X-Amz-Signature=", 1)[1]


def check(handler):
    """None when the request's presigned signature is right, else the S3 error code."""
    path, _, query = handler.path.partition("?")
    own, auth = [], {}
    for pair in filter(None, query.split("&")):
        name, _, value = pair.partition("=")
        if name.startswith("X-Amz-"):
            auth[name] = unquote(value)
        else:
            own.append(pair)
    needed = ("X-Amz-Algorithm", "X-Amz-Credential", "X-Amz-Date", "X-Amz-Expires",
              "X-Amz-SignedHeaders", "X-Amz-Signature")
    if any(n not in auth for n in needed) or auth["X-Amz-Algorithm"] != "AWS4-HMAC-SHA256":
        return "AccessDenied"
    if not auth["X-Amz-Credential"].startswith(ACCESS_KEY + "/"):
        return "InvalidAccessKeyId"
    stamp = datetime.datetime.strptime(auth["X-Amz-Date"], "%Y%m%dT%H%M%SZ").replace(
        tzinfo=datetime.timezone.utc
    )
    expires = int(auth["X-Amz-Expires"])
    if datetime.datetime.now(datetime.timezone.utc) > stamp + datetime.timedelta(seconds=expires):
        return "AccessDenied"
    names = auth["X-Amz-SignedHeaders"].split(";")
    headers = {n: handler.headers.get(n, "") for n in names}
    signature = expected_signature(handler.command, path, "&".join(own), headers, stamp, expires)
    return None if signature == auth["X-Amz-Signature"] else "SignatureDoesNotMatch"


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self):
        if self.path == "/__stats":
            with LOCK:
                body = json.dumps(COUNTS).encode()
            return self.answer(200, body)
        error = check(self)
        with LOCK:
            COUNTS["refused" if error else "accepted"] += 1
        if error:
            body = (f'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>{error}</Code>'
                    f"<Message>refused</Message></Error>").encode()
            return self.answer(403, body, "application/xml")
        self.answer(200, b"s" * SIZE)

    def answer(self, status, body, content_type="application/octet-stream"):
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
print(f"listening on 127.0.0.1:{server.server_address[1]}", flush=True)
server.serve_forever()
