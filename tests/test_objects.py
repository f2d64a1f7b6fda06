import base64
import datetime
import hashlib

import pytest
from botocore.exceptions import ClientError

from conftest import error_code, status

DATA = bytes(range(256)) * 400  # 100 KiB: above the inline threshold


def test_put_get_head_delete_round_trip(s3, bucket):
    for key, body in [("small", b"hello"), ("large", DATA), ("empty", b""), ("dir/ünï©ødé key", b"u")]:
        put = s3.put_object(Bucket=bucket, Key=key, Body=body)
        assert put["ETag"] == '"%s"' % hashlib.md5(body).hexdigest()
        assert s3.get_object(Bucket=bucket, Key=key)["Body"].read() == body
        assert s3.head_object(Bucket=bucket, Key=key)["ContentLength"] == len(body)
    s3.delete_object(Bucket=bucket, Key="small")
    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket=bucket, Key="small")
    assert error_code(e) == "NoSuchKey"
    with pytest.raises(ClientError) as e:
        s3.head_object(Bucket=bucket, Key="small")
    assert status(e) == 404
    s3.delete_object(Bucket=bucket, Key="never-existed")  # deleting nothing succeeds


def test_every_answer_names_its_request(s3, bucket):
    """x-amz-request-id on every answer, distinct per request, and the same
    id in an error body's RequestId (what clients report of a failure)."""
    import re

    import requests

    put = s3.put_object(Bucket=bucket, Key="k", Body=b"x")["ResponseMetadata"]
    head = s3.head_object(Bucket=bucket, Key="k")["ResponseMetadata"]
    ids = [put["RequestId"], head["RequestId"]]
    assert all(re.fullmatch(r"[0-9A-F]{16}", i) for i in ids) and ids[0] != ids[1], ids
    assert put["HTTPHeaders"]["x-amz-id-2"] == put["RequestId"]
    url = s3.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "missing"}, ExpiresIn=60)
    missing = requests.get(url, timeout=10)
    assert missing.status_code == 404
    body_id = re.search(r"<RequestId>([0-9A-F]{16})</RequestId>", missing.text)
    assert body_id and "<Code>NoSuchKey</Code>" in missing.text, missing.text
    assert body_id.group(1) == missing.headers["x-amz-request-id"]
    assert int(missing.headers["Content-Length"]) == len(missing.content)
    assert missing.headers["Content-Type"] == "application/xml"
    with pytest.raises(ClientError) as e:
        s3.head_object(Bucket=bucket, Key="missing")
    assert re.fullmatch(r"[0-9A-F]{16}", e.value.response["ResponseMetadata"]["RequestId"])
    unsigned = requests.get(f"{s3.meta.endpoint_url}/{bucket}/k", timeout=10)
    assert unsigned.status_code == 403
    assert f"<RequestId>{unsigned.headers['x-amz-request-id']}</RequestId>" in unsigned.text


def test_overwrite_replaces_bytes(s3, bucket):
    s3.put_object(Bucket=bucket, Key="k", Body=DATA)
    s3.put_object(Bucket=bucket, Key="k", Body=b"short")
    assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == b"short"


def test_metadata_and_content_headers(s3, bucket):
    expires = datetime.datetime(2030, 1, 2, 3, 4, 5, tzinfo=datetime.timezone.utc)
    s3.put_object(Bucket=bucket, Key="k", Body=b"x", Metadata={"color": "blue", "n": "1"}, ContentType="text/x-test",
                  ContentEncoding="identity", ContentDisposition="attachment", ContentLanguage="fr",
                  CacheControl="max-age=60", Expires=expires)
    h = s3.head_object(Bucket=bucket, Key="k")
    assert h["Metadata"] == {"color": "blue", "n": "1"}
    assert (h["ContentType"], h["ContentEncoding"], h["ContentDisposition"]) == ("text/x-test", "identity", "attachment")
    assert (h["ContentLanguage"], h["CacheControl"]) == ("fr", "max-age=60")
    assert h["Expires"] == expires


def test_metadata_over_2k_is_refused(s3, bucket):
    with pytest.raises(ClientError) as e:
        s3.put_object(Bucket=bucket, Key="k", Body=b"x", Metadata={"big": "v" * 2100})
    assert error_code(e) == "MetadataTooLarge"


def test_key_length_limit(s3, bucket):
    s3.put_object(Bucket=bucket, Key="k" * 1024, Body=b"x")
    with pytest.raises(ClientError) as e:
        s3.put_object(Bucket=bucket, Key="k" * 1025, Body=b"x")
    assert error_code(e) == "KeyTooLongError"


def test_ranges(s3, bucket):
    s3.put_object(Bucket=bucket, Key="k", Body=DATA)
    for header, want in [("bytes=0-9", DATA[:10]), ("bytes=-5", DATA[-5:]), ("bytes=100000-", DATA[100000:]),
                         ("bytes=102390-999999", DATA[102390:])]:
        r = s3.get_object(Bucket=bucket, Key="k", Range=header)
        assert r["Body"].read() == want, header
        assert r["ResponseMetadata"]["HTTPStatusCode"] == 206
        assert r["ContentRange"].endswith("/%d" % len(DATA))
    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket=bucket, Key="k", Range="bytes=200000-")
    assert error_code(e) == "InvalidRange" and status(e) == 416


def test_conditional_get_and_head(s3, bucket):
    etag = s3.put_object(Bucket=bucket, Key="k", Body=b"data")["ETag"]
    past = datetime.datetime(2000, 1, 1, tzinfo=datetime.timezone.utc)
    future = datetime.datetime(2100, 1, 1, tzinfo=datetime.timezone.utc)
    assert s3.get_object(Bucket=bucket, Key="k", IfMatch=etag)["Body"].read() == b"data"
    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket=bucket, Key="k", IfMatch='"nope"')
    assert status(e) == 412
    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket=bucket, Key="k", IfNoneMatch=etag)
    assert status(e) == 304
    with pytest.raises(ClientError) as e:
        s3.head_object(Bucket=bucket, Key="k", IfModifiedSince=future)
    assert status(e) == 304
    with pytest.raises(ClientError) as e:
        s3.head_object(Bucket=bucket, Key="k", IfUnmodifiedSince=past)
    assert status(e) == 412
    s3.head_object(Bucket=bucket, Key="k", IfModifiedSince=past, IfUnmodifiedSince=future)


def test_conditional_put(s3, bucket):
    s3.put_object(Bucket=bucket, Key="k", Body=b"1", IfNoneMatch="*")
    with pytest.raises(ClientError) as e:
        s3.put_object(Bucket=bucket, Key="k", Body=b"2", IfNoneMatch="*")
    assert status(e) == 412
    with pytest.raises(ClientError) as e:
        s3.put_object(Bucket=bucket, Key="k", Body=b"2", IfMatch='"0000"')
    assert status(e) == 412
    etag = s3.head_object(Bucket=bucket, Key="k")["ETag"]
    s3.put_object(Bucket=bucket, Key="k", Body=b"3", IfMatch=etag)
    assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == b"3"


def test_content_md5(s3, bucket):
    good = base64.b64encode(hashlib.md5(b"abc").digest()).decode()
    s3.put_object(Bucket=bucket, Key="k", Body=b"abc", ContentMD5=good)
    with pytest.raises(ClientError) as e:
        s3.put_object(Bucket=bucket, Key="k2", Body=b"abd", ContentMD5=good)
    assert error_code(e) == "BadDigest"
    with pytest.raises(ClientError) as e:
        s3.put_object(Bucket=bucket, Key="k2", Body=b"abd", ContentMD5="not-md5")
    assert error_code(e) == "InvalidDigest"
    with pytest.raises(ClientError):
        s3.head_object(Bucket=bucket, Key="k2")


@pytest.mark.parametrize("algorithm", ["CRC32", "CRC32C", "CRC64NVME", "SHA1", "SHA256"])
def test_checksums_are_verified_stored_and_returned(s3, bucket, algorithm):
    put = s3.put_object(Bucket=bucket, Key="k", Body=DATA, ChecksumAlgorithm=algorithm)
    field = "Checksum" + algorithm
    assert put[field]
    h = s3.head_object(Bucket=bucket, Key="k", ChecksumMode="ENABLED")
    assert h[field] == put[field]
    g = s3.get_object(Bucket=bucket, Key="k", ChecksumMode="ENABLED")
    assert g[field] == put[field] and g["Body"].read() == DATA


def test_wrong_checksum_is_refused(s3, bucket):
    wrong = base64.b64encode(hashlib.sha256(b"other").digest()).decode()
    with pytest.raises(ClientError) as e:
        s3.put_object(Bucket=bucket, Key="k", Body=b"data", ChecksumSHA256=wrong)
    assert error_code(e) == "BadDigest"
    with pytest.raises(ClientError):
        s3.head_object(Bucket=bucket, Key="k")


def test_delete_objects_quiet_and_verbose(s3, bucket):
    for k in "abc":
        s3.put_object(Bucket=bucket, Key=k, Body=b"x")
    r = s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": "a"}, {"Key": "missing"}]})
    assert sorted(d["Key"] for d in r["Deleted"]) == ["a", "missing"]
    r = s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": "b"}, {"Key": "c"}], "Quiet": True})
    assert not r.get("Deleted")
    assert "Contents" not in s3.list_objects_v2(Bucket=bucket)


def test_copy_object(s3, bucket):
    s3.put_object(Bucket=bucket, Key="src", Body=DATA, Metadata={"a": "1"}, ContentType="text/a")
    s3.copy_object(Bucket=bucket, Key="copy", CopySource={"Bucket": bucket, "Key": "src"})
    c = s3.get_object(Bucket=bucket, Key="copy")
    assert c["Body"].read() == DATA and c["Metadata"] == {"a": "1"} and c["ContentType"] == "text/a"
    s3.copy_object(Bucket=bucket, Key="copy2", CopySource=f"{bucket}/src", MetadataDirective="REPLACE",
                   Metadata={"b": "2"}, ContentType="text/b")
    h = s3.head_object(Bucket=bucket, Key="copy2")
    assert h["Metadata"] == {"b": "2"} and h["ContentType"] == "text/b"


def test_copy_onto_itself_needs_replace(s3, bucket):
    s3.put_object(Bucket=bucket, Key="k", Body=DATA, Metadata={"v": "1"})
    with pytest.raises(ClientError) as e:
        s3.copy_object(Bucket=bucket, Key="k", CopySource=f"{bucket}/k")
    assert error_code(e) == "InvalidRequest"
    s3.copy_object(Bucket=bucket, Key="k", CopySource=f"{bucket}/k", MetadataDirective="REPLACE", Metadata={"v": "2"})
    g = s3.get_object(Bucket=bucket, Key="k")
    assert g["Metadata"] == {"v": "2"} and g["Body"].read() == DATA


def test_copy_source_conditions(s3, bucket):
    etag = s3.put_object(Bucket=bucket, Key="src", Body=b"x")["ETag"]
    s3.copy_object(Bucket=bucket, Key="a", CopySource=f"{bucket}/src", CopySourceIfMatch=etag)
    for kw in [{"CopySourceIfMatch": '"nope"'}, {"CopySourceIfNoneMatch": etag},
               {"CopySourceIfModifiedSince": datetime.datetime(2100, 1, 1)},
               {"CopySourceIfUnmodifiedSince": datetime.datetime(2000, 1, 1)}]:
        with pytest.raises(ClientError) as e:
            s3.copy_object(Bucket=bucket, Key="b", CopySource=f"{bucket}/src", **kw)
        assert status(e) == 412, kw


def test_aws_chunked_is_not_stored_as_content_encoding(s3, bucket):
    # aws-chunked names the request's body framing, not the object's encoding
    for sent, kept in [("gzip", "gzip"), ("deflate, gzip", "deflate, gzip"), ("gzip, aws-chunked", "gzip"),
                       ("aws-chunked, gzip", "gzip"), ("aws-chunked", None)]:
        s3.put_object(Bucket=bucket, Key="enc", Body=b"x", ContentEncoding=sent)
        assert s3.head_object(Bucket=bucket, Key="enc").get("ContentEncoding") == kept, sent


def test_get_object_attributes(s3, bucket):
    part = b"p" * (5 << 20)
    up = s3.create_multipart_upload(Bucket=bucket, Key="mp", ChecksumAlgorithm="SHA256")
    parts = []
    for n in (1, 2, 3):
        r = s3.upload_part(Bucket=bucket, Key="mp", UploadId=up["UploadId"], PartNumber=n, Body=part,
                           ChecksumAlgorithm="SHA256")
        parts.append({"PartNumber": n, "ETag": r["ETag"], "ChecksumSHA256": r["ChecksumSHA256"]})
    done = s3.complete_multipart_upload(Bucket=bucket, Key="mp", UploadId=up["UploadId"],
                                        MultipartUpload={"Parts": parts})
    attrs = s3.get_object_attributes(Bucket=bucket, Key="mp", MaxParts=2,
                                     ObjectAttributes=["ETag", "Checksum", "ObjectParts", "StorageClass", "ObjectSize"])
    assert attrs["ETag"] == done["ETag"].strip('"'), "unquoted, unlike elsewhere"
    assert attrs["ObjectSize"] == 3 * len(part)
    assert attrs["StorageClass"] == "STANDARD"
    assert attrs["Checksum"]["ChecksumSHA256"] == done["ChecksumSHA256"]
    op = attrs["ObjectParts"]
    assert op["TotalPartsCount"] == 3 and op["IsTruncated"] is True and op["NextPartNumberMarker"] == 2
    assert [(p["PartNumber"], p["ChecksumSHA256"]) for p in op["Parts"]] == \
        [(p["PartNumber"], p["ChecksumSHA256"]) for p in parts[:2]]
    s3.put_object(Bucket=bucket, Key="small", Body=b"abc")
    attrs = s3.get_object_attributes(Bucket=bucket, Key="small", ObjectAttributes=["ObjectSize", "ObjectParts"])
    assert attrs["ObjectSize"] == 3 and "ObjectParts" not in attrs
    with pytest.raises(ClientError) as e:
        s3.get_object_attributes(Bucket=bucket, Key="missing", ObjectAttributes=["ETag"])
    assert error_code(e) == "NoSuchKey"


def test_conditional_put_on_a_missing_key_and_not_modified_etag(s3, bucket):
    with pytest.raises(ClientError) as e:
        s3.put_object(Bucket=bucket, Key="nothing-here", Body=b"x", IfMatch='"abc"')
    assert (status(e), error_code(e)) == (404, "NoSuchKey")
    etag = s3.put_object(Bucket=bucket, Key="k", Body=b"x")["ETag"]
    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket=bucket, Key="k", IfNoneMatch=etag)
    assert status(e) == 304
    assert e.value.response["ResponseMetadata"]["HTTPHeaders"]["etag"] == etag


def test_expected_bucket_owner(s3, bucket):
    owner = s3.get_bucket_acl(Bucket=bucket)["Owner"]["ID"]
    s3.list_objects_v2(Bucket=bucket, ExpectedBucketOwner=owner)
    with pytest.raises(ClientError) as e:
        s3.list_objects_v2(Bucket=bucket, ExpectedBucketOwner="0" * 64)
    assert (status(e), error_code(e)) == (403, "AccessDenied")
