import datetime
import re
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


def _hmac(key, text):
    import hashlib
    import hmac
    return hmac.new(key, text.encode(), hashlib.sha256)


def _sha(data):
    import hashlib
    return hashlib.sha256(data).hexdigest()


def signed_chunks_put(server, bucket, key, chunks, tamper=None, trailer=None):
    """A PUT in STREAMING-AWS4-HMAC-SHA256-PAYLOAD (each chunk signed, as the
    Java and Go SDKs send), or its -TRAILER variant with a signed CRC32
    trailer; `tamper` may change the chunks after signing."""
    import base64
    import zlib
    amz_date = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    scope = f"{amz_date[:8]}/us-east-1/s3/aws4_request"
    key_bytes = ("AWS4" + MAIN[1]).encode()
    for part in (amz_date[:8], "us-east-1", "s3", "aws4_request"):
        key_bytes = _hmac(key_bytes, part).digest()
    mode = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD" + ("-TRAILER" if trailer else "")
    frames = list(chunks) + [b""]
    trailer_line = ""
    if trailer:
        crc = base64.b64encode(zlib.crc32(b"".join(chunks)).to_bytes(4, "big")).decode()
        trailer_line = f"x-amz-checksum-crc32:{crc}"
    # Each frame's length is known before signing: a signature is 64 hex digits.
    encoded_len = sum(len(f"{len(c):x};chunk-signature={'0' * 64}\r\n") + len(c) + 2 for c in frames)
    if trailer:
        encoded_len += len(trailer_line) + 2 + len(f"x-amz-trailer-signature:{'0' * 64}\r\n\r\n") - 2
    headers = {
        "content-encoding": "aws-chunked",
        "content-length": str(encoded_len),
        "host": f"127.0.0.1:{server.port}",
        "x-amz-content-sha256": mode,
        "x-amz-date": amz_date,
        "x-amz-decoded-content-length": str(sum(len(c) for c in chunks)),
    }
    if trailer:
        headers["x-amz-trailer"] = "x-amz-checksum-crc32"
    names = sorted(headers)
    canonical = "\n".join(["PUT", f"/{bucket}/{key}", "", *[f"{n}:{headers[n]}" for n in names], "",
                           ";".join(names), mode])
    to_sign = f"AWS4-HMAC-SHA256\n{amz_date}\n{scope}\n{_sha(canonical.encode())}"
    signature = _hmac(key_bytes, to_sign).hexdigest()
    headers["authorization"] = (f"AWS4-HMAC-SHA256 Credential={MAIN[0]}/{scope}, "
                                f"SignedHeaders={';'.join(names)}, Signature={signature}")
    body = b""
    sent = list(tamper(frames[:-1])) + [b""] if tamper else frames
    for signed_frame, frame in zip(frames, sent):
        to_sign = f"AWS4-HMAC-SHA256-PAYLOAD\n{amz_date}\n{scope}\n{signature}\n{_sha(b'')}\n{_sha(signed_frame)}"
        signature = _hmac(key_bytes, to_sign).hexdigest()
        body += f"{len(frame):x};chunk-signature={signature}\r\n".encode() + frame
        if frame or not trailer:
            body += b"\r\n"
    if trailer:
        to_sign = f"AWS4-HMAC-SHA256-TRAILER\n{amz_date}\n{scope}\n{signature}\n{_sha((trailer_line + chr(10)).encode())}"
        body += f"{trailer_line}\r\nx-amz-trailer-signature:{_hmac(key_bytes, to_sign).hexdigest()}\r\n\r\n".encode()
    assert len(body) == encoded_len
    return http.request("PUT", f"{server.endpoint}/{bucket}/{key}", body=body, headers=headers, retries=False)


@pytest.mark.parametrize("trailer", [False, True])
def test_signed_chunks_are_verified(server, s3, bucket, trailer):
    chunks = [b"a" * 65536, b"b" * 1000]
    r = signed_chunks_put(server, bucket, "chunked", chunks, trailer=trailer)
    assert r.status == 200, r.data
    assert s3.get_object(Bucket=bucket, Key="chunked")["Body"].read() == b"".join(chunks)
    # A chunk changed after signing: S3's SignatureDoesNotMatch, and nothing stored.
    flipped = signed_chunks_put(server, bucket, "tampered", chunks, trailer=trailer,
                                tamper=lambda cs: [cs[0], b"B" + cs[1][1:]])
    assert flipped.status == 403 and b"<Code>SignatureDoesNotMatch</Code>" in flipped.data, flipped.data
    with pytest.raises(ClientError) as e:
        s3.head_object(Bucket=bucket, Key="tampered")
    assert status(e) == 404


def test_a_payload_that_is_not_the_signed_one_is_refused(server, s3, bucket):
    from botocore.auth import S3SigV4Auth
    from botocore.awsrequest import AWSRequest
    url = f"{server.endpoint}/{bucket}/swapped"
    req = AWSRequest(method="PUT", url=url, data=b"A" * 100)
    S3SigV4Auth(s3._request_signer._credentials, "s3", "us-east-1").add_auth(req)
    r = http.request("PUT", url, body=b"B" * 100, headers=dict(req.headers.items()), retries=False)
    assert r.status == 400 and b"<Code>XAmzContentSHA256Mismatch</Code>" in r.data, r.data
    with pytest.raises(ClientError) as e:
        s3.head_object(Bucket=bucket, Key="swapped")
    assert status(e) == 404


def admin(server, *args):
    import subprocess
    from conftest import BIN
    out = subprocess.run([BIN, "admin", "--data-dir", str(server.data_dir), *args],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    return out.stdout


def test_accounts_and_keys_from_the_cli_and_key_rotation(make_server):
    """`strata admin account|key` on a stopped server's data dir; a key the
    accounts file no longer names stops working at the next start, while
    keys made with `strata admin key create` stay."""
    from conftest import ALT
    s = make_server()
    s.stop()
    made = admin(s, "account", "create", "carol")
    carol = re.search(r"access key: (\S+)\s+secret key: (\S+)", made).groups()
    assert "carol" in admin(s, "account", "list")
    extra = re.search(r"access key: (\S+)\s+secret key: (\S+)", admin(s, "key", "create", "alt")).groups()
    keys = admin(s, "key", "list")
    assert f"{carol[0]}\tcarol" in keys and f"{extra[0]}\talt" in keys and carol[1] not in keys
    rotated = ("ALTROTATED", "alt-rotated-secret-0123")
    root_too = ("ROOTFROMFILE", "root-from-file-secret")

    def declare(*entries):
        s.accounts.write_text("".join(f'[[account]]\nname = "{name}"\naccess_key = "{ak}"\nsecret_key = "{sk}"\n'
                                      for name, (ak, sk) in entries))
    # Old and new key side by side, then the old one dropped.
    declare(("alt", ALT), ("alt", rotated), ("root", root_too))
    s.start()
    for keys in (ALT, rotated, root_too, MAIN):
        s.client(keys).list_buckets()
    s.stop()
    declare(("alt", rotated))
    s.start()
    for gone in (ALT, root_too):
        with pytest.raises(ClientError) as e:
            s.client(gone).list_buckets()
        assert error_code(e) == "InvalidAccessKeyId"
    for keys in (rotated, extra, carol, MAIN):
        s.client(keys).list_buckets()
    s.stop()
    admin(s, "key", "delete", extra[0])
    admin(s, "account", "delete", "carol")
    s.start()
    for gone in (extra, carol):
        with pytest.raises(ClientError) as e:
            s.client(gone).list_buckets()
        assert error_code(e) == "InvalidAccessKeyId"
