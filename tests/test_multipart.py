import hashlib

import pytest
from botocore.exceptions import ClientError

from conftest import error_code

MIB = 1 << 20
P1, P2, P3 = b"a" * (5 * MIB), b"b" * (5 * MIB), b"c" * 1024


def upload(s3, bucket, key, parts):
    uid = s3.create_multipart_upload(Bucket=bucket, Key=key, Metadata={"m": "1"}, ContentType="app/x")["UploadId"]
    done = []
    for n, body in enumerate(parts, 1):
        done.append({"PartNumber": n, "ETag": s3.upload_part(Bucket=bucket, Key=key, UploadId=uid, PartNumber=n, Body=body)["ETag"]})
    return uid, done


def test_three_part_upload_round_trip(s3, bucket):
    uid, parts = upload(s3, bucket, "big", [P1, P2, P3])
    r = s3.complete_multipart_upload(Bucket=bucket, Key="big", UploadId=uid, MultipartUpload={"Parts": parts})
    md5s = b"".join(hashlib.md5(p).digest() for p in (P1, P2, P3))
    assert r["ETag"] == '"%s-3"' % hashlib.md5(md5s).hexdigest()
    data = P1 + P2 + P3
    g = s3.get_object(Bucket=bucket, Key="big")
    assert g["Body"].read() == data and g["Metadata"] == {"m": "1"} and g["ContentType"] == "app/x"
    edge = 5 * MIB
    assert s3.get_object(Bucket=bucket, Key="big", Range=f"bytes={edge - 10}-{edge + 9}")["Body"].read() == data[edge - 10:edge + 10]
    p2 = s3.get_object(Bucket=bucket, Key="big", PartNumber=2)
    assert p2["Body"].read() == P2 and p2["PartsCount"] == 3
    assert s3.head_object(Bucket=bucket, Key="big", PartNumber=3)["ContentLength"] == len(P3)
    with pytest.raises(ClientError) as e:
        s3.list_parts(Bucket=bucket, Key="big", UploadId=uid)
    assert error_code(e) == "NoSuchUpload"
    again = s3.complete_multipart_upload(Bucket=bucket, Key="big", UploadId=uid, MultipartUpload={"Parts": parts})
    assert again["ETag"] == r["ETag"], "completing twice answers with the completed object"


def test_complete_errors(s3, bucket):
    uid, parts = upload(s3, bucket, "k", [b"x" * 100, b"y" * 100])
    with pytest.raises(ClientError) as e:
        s3.complete_multipart_upload(Bucket=bucket, Key="k", UploadId=uid, MultipartUpload={"Parts": parts})
    assert error_code(e) == "EntityTooSmall"
    with pytest.raises(ClientError) as e:
        s3.complete_multipart_upload(Bucket=bucket, Key="k", UploadId=uid, MultipartUpload={"Parts": parts[::-1]})
    assert error_code(e) == "InvalidPartOrder"
    bad = [{"PartNumber": 1, "ETag": '"00000000000000000000000000000000"'}]
    with pytest.raises(ClientError) as e:
        s3.complete_multipart_upload(Bucket=bucket, Key="k", UploadId=uid, MultipartUpload={"Parts": bad})
    assert error_code(e) == "InvalidPart"
    with pytest.raises(ClientError) as e:
        s3.upload_part(Bucket=bucket, Key="k", UploadId=uid, PartNumber=10001, Body=b"x")
    assert error_code(e) == "InvalidArgument"
    # a failed completion leaves the upload usable
    r = s3.complete_multipart_upload(Bucket=bucket, Key="k", UploadId=uid, MultipartUpload={"Parts": parts[1:]})
    assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == b"y" * 100 and r["ETag"].endswith('-1"')


def test_abort_list_parts_and_uploads(s3, bucket):
    uid, _ = upload(s3, bucket, "dir/a", [b"1", b"2", b"3"])
    uid2 = s3.create_multipart_upload(Bucket=bucket, Key="dir/b")["UploadId"]
    s3.create_multipart_upload(Bucket=bucket, Key="other/c")
    parts = s3.list_parts(Bucket=bucket, Key="dir/a", UploadId=uid, MaxParts=2)
    assert [p["PartNumber"] for p in parts["Parts"]] == [1, 2] and parts["IsTruncated"]
    rest = s3.list_parts(Bucket=bucket, Key="dir/a", UploadId=uid, PartNumberMarker=parts["NextPartNumberMarker"])
    assert [p["PartNumber"] for p in rest["Parts"]] == [3]
    ups = s3.list_multipart_uploads(Bucket=bucket, Prefix="dir/")
    assert [(u["Key"], u["UploadId"]) for u in ups["Uploads"]] == [("dir/a", uid), ("dir/b", uid2)]
    ups = s3.list_multipart_uploads(Bucket=bucket, Delimiter="/")
    assert [p["Prefix"] for p in ups["CommonPrefixes"]] == ["dir/", "other/"]
    ups = s3.list_multipart_uploads(Bucket=bucket, KeyMarker="dir/a")
    assert [u["Key"] for u in ups["Uploads"]] == ["dir/b", "other/c"]
    s3.abort_multipart_upload(Bucket=bucket, Key="dir/a", UploadId=uid)
    with pytest.raises(ClientError) as e:
        s3.upload_part(Bucket=bucket, Key="dir/a", UploadId=uid, PartNumber=1, Body=b"x")
    assert error_code(e) == "NoSuchUpload"


def test_upload_part_copy_with_range(s3, bucket):
    src = bytes(range(256)) * (6 * 4096)  # 6 MiB
    s3.put_object(Bucket=bucket, Key="src", Body=src)
    uid = s3.create_multipart_upload(Bucket=bucket, Key="dst")["UploadId"]
    p1 = s3.upload_part_copy(Bucket=bucket, Key="dst", UploadId=uid, PartNumber=1, CopySource=f"{bucket}/src",
                             CopySourceRange=f"bytes=0-{5 * MIB - 1}")
    p2 = s3.upload_part_copy(Bucket=bucket, Key="dst", UploadId=uid, PartNumber=2, CopySource=f"{bucket}/src",
                             CopySourceRange="bytes=10-19")
    parts = [{"PartNumber": 1, "ETag": p1["CopyPartResult"]["ETag"]}, {"PartNumber": 2, "ETag": p2["CopyPartResult"]["ETag"]}]
    s3.complete_multipart_upload(Bucket=bucket, Key="dst", UploadId=uid, MultipartUpload={"Parts": parts})
    assert s3.get_object(Bucket=bucket, Key="dst")["Body"].read() == src[:5 * MIB] + src[10:20]


def test_checksummed_multipart(s3, bucket):
    uid = s3.create_multipart_upload(Bucket=bucket, Key="k", ChecksumAlgorithm="SHA256")["UploadId"]
    parts = []
    for n, body in enumerate([P1, P3], 1):
        r = s3.upload_part(Bucket=bucket, Key="k", UploadId=uid, PartNumber=n, Body=body, ChecksumAlgorithm="SHA256")
        parts.append({"PartNumber": n, "ETag": r["ETag"], "ChecksumSHA256": r["ChecksumSHA256"]})
    r = s3.complete_multipart_upload(Bucket=bucket, Key="k", UploadId=uid, MultipartUpload={"Parts": parts})
    assert r["ChecksumSHA256"].endswith("-2")
    assert s3.head_object(Bucket=bucket, Key="k", ChecksumMode="ENABLED")["ChecksumSHA256"] == r["ChecksumSHA256"]


def test_upload_part_copy_range_must_lie_inside_the_source(s3, bucket):
    s3.put_object(Bucket=bucket, Key="src", Body=b"x" * 20)
    uid = s3.create_multipart_upload(Bucket=bucket, Key="dst")["UploadId"]
    with pytest.raises(ClientError) as e:
        s3.upload_part_copy(Bucket=bucket, Key="dst", UploadId=uid, PartNumber=1, CopySource=f"{bucket}/src",
                            CopySourceRange="bytes=0-21")
    assert error_code(e) == "InvalidRange"
