import datetime
import time
import uuid

import pytest
import urllib3
from botocore import UNSIGNED
from botocore.exceptions import ClientError

from conftest import MAIN, error_code, s3_client, status

http = urllib3.PoolManager()


def test_wrong_secret_and_unknown_key(server, bucket):
    with pytest.raises(ClientError) as e:
        s3_client(server.endpoint, (MAIN[0], "wrong-secret-000000")).list_objects_v2(Bucket=bucket)
    assert error_code(e) == "SignatureDoesNotMatch" and status(e) == 403
    with pytest.raises(ClientError) as e:
        s3_client(server.endpoint, ("NOSUCHKEY", "whatever-secret")).list_objects_v2(Bucket=bucket)
    assert error_code(e) == "InvalidAccessKeyId" and status(e) == 403


def test_anonymous_requests_are_denied(server, bucket):
    anon = s3_client(server.endpoint, ("x", "y"), signature_version=UNSIGNED)
    with pytest.raises(ClientError) as e:
        anon.list_objects_v2(Bucket=bucket)
    assert error_code(e) == "AccessDenied"
    with pytest.raises(ClientError) as e:
        anon.put_object(Bucket=bucket, Key="k", Body=b"x")
    assert error_code(e) == "AccessDenied"


def test_presigned_urls(s3, bucket):
    s3.put_object(Bucket=bucket, Key="k", Body=b"presigned")
    url = s3.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "k"}, ExpiresIn=60)
    r = http.request("GET", url)
    assert r.status == 200 and r.data == b"presigned"
    put = s3.generate_presigned_url("put_object", Params={"Bucket": bucket, "Key": "up"}, ExpiresIn=60)
    assert http.request("PUT", put, body=b"uploaded").status == 200
    assert s3.get_object(Bucket=bucket, Key="up")["Body"].read() == b"uploaded"
    expired = s3.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "k"}, ExpiresIn=1)
    time.sleep(2)
    r = http.request("GET", expired)
    assert r.status == 403 and b"AccessDenied" in r.data
    too_long = s3.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "k"}, ExpiresIn=604801)
    r = http.request("GET", too_long)
    assert r.status == 400 and b"AuthorizationQueryParametersError" in r.data


def test_sigv2_header_and_query(server, bucket):
    v2 = server.client(signature_version="s3")
    v2.put_object(Bucket=bucket, Key="v2", Body=b"old style")
    assert v2.get_object(Bucket=bucket, Key="v2")["Body"].read() == b"old style"
    url = v2.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "v2"}, ExpiresIn=60)
    assert http.request("GET", url).data == b"old style"


@pytest.mark.parametrize("date,code", [
    ("Bad Date", "AccessDenied"),
    ("", "AccessDenied"),
    ("Tue, 07 Jul 1950 21:53:04 GMT", "AccessDenied"),
    ("Tue, 07 Jul 2010 21:53:04 GMT", "RequestTimeTooSkewed"),
    ("Tue, 07 Jul 9999 21:53:04 GMT", "RequestTimeTooSkewed"),
])
def test_sigv2_dates_are_checked(server, bucket, date, code):
    v2 = server.client(signature_version="s3")
    v2.meta.events.register("before-sign.s3.PutObject",
                            lambda request, **_: request.headers.__setitem__("x-amz-date", date))
    with pytest.raises(ClientError) as e:
        v2.put_object(Bucket=bucket, Key="dated", Body=b"x")
    assert error_code(e) == code and e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    with pytest.raises(ClientError):
        server.client().head_object(Bucket=bucket, Key="dated")


def test_sigv2_bucket_requests(server):
    """SigV2 clients sign a path-style bucket request as `/bucket/` though they send `/bucket`."""
    v2 = server.client(signature_version="s3")
    name = f"v2-{uuid.uuid4().hex[:8]}"
    v2.create_bucket(Bucket=name)
    v2.put_object(Bucket=name, Key="k", Body=b"x")
    assert [o["Key"] for o in v2.list_objects(Bucket=name)["Contents"]] == ["k"]
    assert v2.get_bucket_location(Bucket=name)["LocationConstraint"] is None
    url = v2.generate_presigned_url("list_objects", Params={"Bucket": name}, ExpiresIn=60)
    listed = http.request("GET", url)
    assert listed.status == 200 and b"<Key>k</Key>" in listed.data
    v2.delete_object(Bucket=name, Key="k")
    v2.delete_bucket(Bucket=name)
    with pytest.raises(ClientError) as e:
        v2.head_bucket(Bucket=name)
    assert e.value.response["Error"]["Code"] in ("404", "NoSuchBucket")


@pytest.mark.parametrize("config", [
    {},  # current SDK default: STREAMING-UNSIGNED-PAYLOAD-TRAILER with a CRC32 trailer
    {"request_checksum_calculation": "when_required"},  # UNSIGNED-PAYLOAD / plain
    {"s3": {"addressing_style": "path", "payload_signing_enabled": True}, "request_checksum_calculation": "when_required"},
])
def test_payload_modes(server, bucket, config):
    client = server.client(**config)
    body = b"z" * 200_000
    client.put_object(Bucket=bucket, Key="k", Body=body)
    assert client.get_object(Bucket=bucket, Key="k")["Body"].read() == body


def test_clock_skew_is_refused(server, bucket, monkeypatch):
    import botocore.auth
    skewed = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(minutes=20)

    class Skewed(datetime.datetime):
        @classmethod
        def utcnow(cls):
            return skewed.replace(tzinfo=None)

        @classmethod
        def now(cls, tz=None):
            return skewed if tz else skewed.replace(tzinfo=None)

    monkeypatch.setattr(botocore.auth.datetime, "datetime", Skewed)
    with pytest.raises(ClientError) as e:
        server.client().list_objects_v2(Bucket=bucket)
    assert error_code(e) == "RequestTimeTooSkewed" and status(e) == 403
