"""Browser POST uploads with boto3's presigned POST (SigV4 policy) and plain
HTTP form posts: conditions, success_action_status and _redirect, refusals."""
import pytest
import requests


def test_presigned_post_uploads(s3, bucket):
    post = s3.generate_presigned_post(
        bucket, "uploads/${filename}",
        Fields={"success_action_status": "201", "Content-Type": "text/plain"},
        Conditions=[["starts-with", "$key", "uploads/"], {"success_action_status": "201"},
                    {"Content-Type": "text/plain"}, ["content-length-range", 1, 1024]],
        ExpiresIn=600)
    fields = dict(post["fields"], key="uploads/note.txt")
    r = requests.post(post["url"], data=fields, files={"file": ("note.txt", b"hello form")})
    assert r.status_code == 201, r.text
    assert "<Key>uploads/note.txt</Key>" in r.text
    got = s3.get_object(Bucket=bucket, Key="uploads/note.txt")
    assert got["Body"].read() == b"hello form" and got["ContentType"] == "text/plain"


def test_post_refuses_what_the_policy_does_not_allow(s3, bucket):
    post = s3.generate_presigned_post(bucket, "only/here", Conditions=[["content-length-range", 1, 4]],
                                      ExpiresIn=600)
    too_big = requests.post(post["url"], data=post["fields"], files={"file": ("f", b"far too long")})
    assert too_big.status_code in (400, 403)
    elsewhere = requests.post(post["url"], data=dict(post["fields"], key="other"), files={"file": ("f", b"ok")})
    assert elsewhere.status_code in (400, 403)
    assert "Contents" not in s3.list_objects_v2(Bucket=bucket), "refused posts store nothing"


def test_post_redirects_on_success(s3, bucket):
    target = "http://example.invalid/done"
    post = s3.generate_presigned_post(bucket, "r", Fields={"success_action_redirect": target},
                                      Conditions=[{"success_action_redirect": target}], ExpiresIn=600)
    r = requests.post(post["url"], data=post["fields"], files={"file": ("f", b"x")}, allow_redirects=False)
    assert r.status_code == 303
    assert r.headers["Location"].startswith(target)
    assert s3.get_object(Bucket=bucket, Key="r")["Body"].read() == b"x"


def test_post_signed_with_sigv2(s3, server, bucket):
    import base64
    import datetime
    import hashlib
    import hmac
    import json

    from conftest import MAIN
    expires = (datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(minutes=10))
    policy = base64.b64encode(json.dumps({
        "expiration": expires.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "conditions": [{"bucket": bucket}, ["starts-with", "$key", "v2/"], {"acl": "private"},
                       ["content-length-range", 0, 1024]],
    }).encode()).decode()
    signature = base64.b64encode(hmac.new(MAIN[1].encode(), policy.encode(), hashlib.sha1).digest()).decode()
    fields = {"key": "v2/form.txt", "acl": "private", "AWSAccessKeyId": MAIN[0], "policy": policy,
              "signature": signature}
    r = requests.post(f"{server.endpoint}/{bucket}", data=fields, files={"file": ("f", b"sigv2 form")})
    assert r.status_code == 204, r.text
    assert s3.get_object(Bucket=bucket, Key="v2/form.txt")["Body"].read() == b"sigv2 form"
    forged = dict(fields, signature=base64.b64encode(b"x" * 20).decode())
    r = requests.post(f"{server.endpoint}/{bucket}", data=forged, files={"file": ("f", b"nope")})
    assert r.status_code == 403
