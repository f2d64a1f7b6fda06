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
