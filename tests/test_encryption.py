"""Server-side encryption with boto3: SSE-S3, SSE-KMS with named keys, SSE-C,
bucket default encryption; bytes at rest are sealed, and encrypted objects
stay range-readable, multipart-capable and copyable."""
import base64
import hashlib
import os

import pytest
from botocore.exceptions import ClientError

from conftest import error_code, status
from test_locations import eventually

KEY = os.urandom(32)
SSE_C = {"SSECustomerAlgorithm": "AES256", "SSECustomerKey": base64.b64encode(KEY).decode(),
         "SSECustomerKeyMD5": base64.b64encode(hashlib.md5(KEY).digest()).decode()}
OTHER = os.urandom(32)
SSE_C_OTHER = {"SSECustomerAlgorithm": "AES256", "SSECustomerKey": base64.b64encode(OTHER).decode(),
               "SSECustomerKeyMD5": base64.b64encode(hashlib.md5(OTHER).digest()).decode()}
DATA = os.urandom(300_000)  # several 64 KiB segments, above the inline threshold


def files_containing(root, needle):
    found = []
    for dirpath, _, names in os.walk(root):
        for n in names:
            with open(os.path.join(dirpath, n), "rb") as f:
                if needle in f.read():
                    found.append(n)
    return found


def test_sse_s3_round_trip_and_ranges(s3, server, bucket):
    put = s3.put_object(Bucket=bucket, Key="k", Body=DATA, ServerSideEncryption="AES256")
    assert put["ServerSideEncryption"] == "AES256"
    assert put["ETag"] == '"%s"' % hashlib.md5(DATA).hexdigest()
    got = s3.get_object(Bucket=bucket, Key="k")
    assert got["ServerSideEncryption"] == "AES256" and got["Body"].read() == DATA
    for first, last in [(0, 0), (65_530, 65_540), (131_072, 200_000), (299_990, 299_999)]:
        r = s3.get_object(Bucket=bucket, Key="k", Range=f"bytes={first}-{last}")
        assert r["Body"].read() == DATA[first:last + 1]
    assert s3.head_object(Bucket=bucket, Key="k")["ServerSideEncryption"] == "AES256"
    # Nothing on disk holds the plaintext.
    assert files_containing(server.data_dir, DATA[100_000:100_064]) == []


def test_sse_kms_named_keys(s3, bucket):
    put = s3.put_object(Bucket=bucket, Key="k", Body=b"kms", ServerSideEncryption="aws:kms",
                        SSEKMSKeyId="testkey-1")
    assert put["ServerSideEncryption"] == "aws:kms" and put["SSEKMSKeyId"] == "testkey-1"
    got = s3.get_object(Bucket=bucket, Key="k")
    assert got["Body"].read() == b"kms" and got["SSEKMSKeyId"] == "testkey-1"


def test_sse_c(s3, bucket):
    put = s3.put_object(Bucket=bucket, Key="k", Body=DATA, **SSE_C)
    assert put["SSECustomerKeyMD5"] == SSE_C["SSECustomerKeyMD5"]
    assert s3.get_object(Bucket=bucket, Key="k", **SSE_C)["Body"].read() == DATA
    r = s3.get_object(Bucket=bucket, Key="k", Range="bytes=70000-70009", **SSE_C)
    assert r["Body"].read() == DATA[70000:70010]
    for call in [lambda: s3.get_object(Bucket=bucket, Key="k"),
                 lambda: s3.get_object(Bucket=bucket, Key="k", **SSE_C_OTHER),
                 lambda: s3.head_object(Bucket=bucket, Key="k")]:
        with pytest.raises(ClientError) as e:
            call()
        assert status(e) == 400
    bad_md5 = dict(SSE_C, SSECustomerKeyMD5=SSE_C_OTHER["SSECustomerKeyMD5"])
    with pytest.raises(ClientError) as e:
        s3.put_object(Bucket=bucket, Key="k2", Body=b"x", **bad_md5)
    assert error_code(e) == "InvalidArgument"
    with pytest.raises(ClientError) as e:
        s3.put_object(Bucket=bucket, Key="k2", Body=b"x", ServerSideEncryption="AES256", **SSE_C)
    assert error_code(e) == "InvalidArgument"
    # A plain object refuses a customer key.
    s3.put_object(Bucket=bucket, Key="plain", Body=b"x")
    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket=bucket, Key="plain", **SSE_C)
    assert status(e) == 400


def test_sse_c_multipart_and_copies(s3, bucket):
    up = s3.create_multipart_upload(Bucket=bucket, Key="mp", **SSE_C)
    part = os.urandom(5 << 20)
    etags = []
    for n in (1, 2):
        etags.append(s3.upload_part(Bucket=bucket, Key="mp", UploadId=up["UploadId"], PartNumber=n,
                                    Body=part, **SSE_C)["ETag"])
    with pytest.raises(ClientError) as e:
        s3.upload_part(Bucket=bucket, Key="mp", UploadId=up["UploadId"], PartNumber=3, Body=b"x", **SSE_C_OTHER)
    assert status(e) == 400
    done = {"Parts": [{"PartNumber": n, "ETag": t} for n, t in zip((1, 2), etags)]}
    with pytest.raises(ClientError) as e:  # completing needs the upload's key too
        s3.complete_multipart_upload(Bucket=bucket, Key="mp", UploadId=up["UploadId"], MultipartUpload=done)
    assert status(e) == 400
    s3.complete_multipart_upload(Bucket=bucket, Key="mp", UploadId=up["UploadId"], MultipartUpload=done, **SSE_C)
    whole = part + part
    r = s3.get_object(Bucket=bucket, Key="mp", Range=f"bytes={len(part) - 5}-{len(part) + 4}", **SSE_C)
    assert r["Body"].read() == whole[len(part) - 5:len(part) + 5]
    assert s3.get_object(Bucket=bucket, Key="mp", PartNumber=2, **SSE_C)["Body"].read() == part
    # a part that does not exist is InvalidPart, key or not; one that does needs the key
    for sse in (SSE_C, {}):
        with pytest.raises(ClientError) as e:
            s3.get_object(Bucket=bucket, Key="mp", PartNumber=3, **sse)
        assert error_code(e) == "InvalidPart"
    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket=bucket, Key="mp", PartNumber=1)
    assert error_code(e) == "InvalidRequest"
    # SSE-C source to SSE-S3 copy, and back to plain.
    src = {"CopySourceSSECustomerAlgorithm": "AES256", "CopySourceSSECustomerKey": SSE_C["SSECustomerKey"],
           "CopySourceSSECustomerKeyMD5": SSE_C["SSECustomerKeyMD5"]}
    s3.copy_object(Bucket=bucket, Key="s3copy", CopySource={"Bucket": bucket, "Key": "mp"},
                   ServerSideEncryption="AES256", **src)
    assert s3.get_object(Bucket=bucket, Key="s3copy")["Body"].read() == whole
    s3.copy_object(Bucket=bucket, Key="plain", CopySource={"Bucket": bucket, "Key": "s3copy"})
    got = s3.get_object(Bucket=bucket, Key="plain")
    assert "ServerSideEncryption" not in got and got["Body"].read() == whole


def test_bucket_default_encryption(s3, bucket):
    s3.put_bucket_encryption(Bucket=bucket, ServerSideEncryptionConfiguration={
        "Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]})
    s3.put_object(Bucket=bucket, Key="k", Body=b"by default")
    got = s3.get_object(Bucket=bucket, Key="k")
    assert got["ServerSideEncryption"] == "AES256" and got["Body"].read() == b"by default"


def test_copies_into_a_default_encrypted_bucket_are_sealed(s3, server, bucket):
    """Plain objects written before the bucket's default encryption are
    sealed when copied (onto themselves too: S3's way to encrypt what is
    already there); the bytes at rest are never the plain ones."""
    plain = os.urandom(200_000)
    s3.put_object(Bucket=bucket, Key="before", Body=plain)
    s3.put_bucket_encryption(Bucket=bucket, ServerSideEncryptionConfiguration={
        "Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]})
    s3.copy_object(Bucket=bucket, Key="copy", CopySource={"Bucket": bucket, "Key": "before"})
    s3.copy_object(Bucket=bucket, Key="before", CopySource={"Bucket": bucket, "Key": "before"},
                   Metadata={"sealed": "yes"}, MetadataDirective="REPLACE")
    for key in ("copy", "before"):
        got = s3.get_object(Bucket=bucket, Key=key)
        assert got["ServerSideEncryption"] == "AES256", key
        assert got["Body"].read() == plain
    def sealed_at_rest():  # the replaced plain version's blob goes to the collector
        assert files_containing(server.data_dir, plain[:4096]) == [], "no plain copy of the bytes at rest"
    eventually(sealed_at_rest)


def test_no_secret_reaches_the_debug_log(make_server):
    """Even at STRATA_LOG=debug, neither an SSE-C key nor a secret key is
    logged (s3s's request dumps are kept out)."""
    server = make_server(extra_env={"STRATA_LOG": "debug"})
    s3 = server.client()
    s3.create_bucket(Bucket="logged")
    s3.put_object(Bucket="logged", Key="k", Body=b"secret bytes", **SSE_C)
    assert s3.get_object(Bucket="logged", Key="k", **SSE_C)["Body"].read() == b"secret bytes"
    log = server.log_path.read_text()
    assert "DEBUG" in log, "debug logging is on"
    from conftest import MAIN
    for secret in (SSE_C["SSECustomerKey"], MAIN[1]):
        assert secret not in log
