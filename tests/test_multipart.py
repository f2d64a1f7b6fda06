import base64
import hashlib
import io
import zlib

import pytest
from boto3.s3.transfer import TransferConfig
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
        s3.get_object(Bucket=bucket, Key="big", PartNumber=2, Range="bytes=0-9")
    assert error_code(e) == "InvalidRequest", "a part and a range cannot both be asked for"
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


def crc(algorithm, data):
    """The base64 CRC S3 shows, computed here: zlib for CRC32, awscrt (which
    botocore[crt] installs) for CRC32C and CRC64NVME; None without awscrt."""
    if algorithm == "CRC32":
        return base64.b64encode(zlib.crc32(data).to_bytes(4, "big")).decode()
    try:
        from awscrt import checksums
    except ImportError:
        return None
    if algorithm == "CRC32C":
        return base64.b64encode(checksums.crc32c(data).to_bytes(4, "big")).decode()
    return base64.b64encode(checksums.crc64nvme(data).to_bytes(8, "big")).decode()


# Three parts that differ, so a wrong combination order would show.
F1, F2, F3 = bytes(range(256)) * (5 * 4096), b"q" * (5 * MIB), b"tail" * 300


def checksummed_upload(s3, bucket, key, algorithm, parts, checksum_type=None):
    extra = {"ChecksumType": checksum_type} if checksum_type else {}
    r = s3.create_multipart_upload(Bucket=bucket, Key=key, ChecksumAlgorithm=algorithm, **extra)
    uid, done = r["UploadId"], []
    for n, body in enumerate(parts, 1):
        p = s3.upload_part(Bucket=bucket, Key=key, UploadId=uid, PartNumber=n, Body=body, ChecksumAlgorithm=algorithm)
        done.append({"PartNumber": n, "ETag": p["ETag"], f"Checksum{algorithm}": p[f"Checksum{algorithm}"]})
    return r, uid, done


@pytest.mark.parametrize("algorithm,checksum_type", [
    ("CRC32", "FULL_OBJECT"), ("CRC32C", "FULL_OBJECT"), ("CRC64NVME", "FULL_OBJECT"),
    ("CRC64NVME", None),  # CRC64NVME is FULL_OBJECT by default
])
def test_full_object_checksum(s3, bucket, algorithm, checksum_type):
    data = F1 + F2 + F3
    created, uid, parts = checksummed_upload(s3, bucket, "full", algorithm, [F1, F2, F3], checksum_type)
    assert created["ChecksumAlgorithm"] == algorithm and created["ChecksumType"] == "FULL_OBJECT"
    listed = s3.list_parts(Bucket=bucket, Key="full", UploadId=uid)
    assert listed["ChecksumAlgorithm"] == algorithm and listed["ChecksumType"] == "FULL_OBJECT"
    uploads = s3.list_multipart_uploads(Bucket=bucket)["Uploads"]
    assert [(u["ChecksumAlgorithm"], u["ChecksumType"]) for u in uploads] == [(algorithm, "FULL_OBJECT")]
    done = s3.complete_multipart_upload(Bucket=bucket, Key="full", UploadId=uid, MultipartUpload={"Parts": parts})
    whole = done[f"Checksum{algorithm}"]
    assert done["ChecksumType"] == "FULL_OBJECT" and "-" not in whole
    # The CRC of the whole object: computed here, and as the server computes
    # it for a single PUT of the same bytes.
    single = s3.put_object(Bucket=bucket, Key="single", Body=data, ChecksumAlgorithm=algorithm)
    assert whole == single[f"Checksum{algorithm}"]
    if crc(algorithm, data) is not None:
        assert whole == crc(algorithm, data)
    head = s3.head_object(Bucket=bucket, Key="full", ChecksumMode="ENABLED")
    assert head[f"Checksum{algorithm}"] == whole and head["ChecksumType"] == "FULL_OBJECT"
    got = s3.get_object(Bucket=bucket, Key="full", ChecksumMode="ENABLED")
    assert got["Body"].read() == data and got["ChecksumType"] == "FULL_OBJECT"
    attrs = s3.get_object_attributes(Bucket=bucket, Key="full", ObjectAttributes=["Checksum"])["Checksum"]
    assert attrs[f"Checksum{algorithm}"] == whole and attrs["ChecksumType"] == "FULL_OBJECT"
    # A part read by number comes with its own checksum, as S3 sends it.
    for n, body in enumerate([F1, F2, F3], 1):
        part = s3.get_object(Bucket=bucket, Key="full", PartNumber=n)
        assert part["Body"].read() == body and part["ChecksumType"] == "FULL_OBJECT"
        assert part[f"Checksum{algorithm}"] == parts[n - 1][f"Checksum{algorithm}"]


def test_full_object_checksum_stated_on_complete(s3, bucket):
    data = F1 + F3
    _, uid, parts = checksummed_upload(s3, bucket, "k", "CRC32C", [F1, F3], "FULL_OBJECT")
    complete = dict(Bucket=bucket, Key="k", UploadId=uid, MultipartUpload={"Parts": parts})
    wrong = crc("CRC32", data)  # a CRC32 where the CRC32C belongs: well-formed, wrong value
    with pytest.raises(ClientError) as e:
        s3.complete_multipart_upload(**complete, ChecksumCRC32C=wrong, ChecksumType="FULL_OBJECT")
    assert error_code(e) == "BadDigest"
    with pytest.raises(ClientError) as e:
        s3.complete_multipart_upload(**complete, ChecksumType="COMPOSITE")
    assert error_code(e) == "BadDigest"
    with pytest.raises(ClientError) as e:
        s3.complete_multipart_upload(**complete, MpuObjectSize=len(data) + 1)
    assert error_code(e) == "InvalidRequest"
    # The refused completions left the upload usable; the right value passes.
    right = s3.put_object(Bucket=bucket, Key="single", Body=data, ChecksumAlgorithm="CRC32C")["ChecksumCRC32C"]
    done = s3.complete_multipart_upload(**complete, ChecksumCRC32C=right, ChecksumType="FULL_OBJECT",
                                        MpuObjectSize=len(data))
    assert done["ChecksumCRC32C"] == right and done["ChecksumType"] == "FULL_OBJECT"
    assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == data


def test_full_object_checksum_of_an_upload_created_without_one(s3, bucket):
    """Parts sent with CRC32s (boto3 adds them by default) let a whole-object
    CRC32 stated on Complete be verified and kept, though Create named none."""
    data = F1 + F3
    uid = s3.create_multipart_upload(Bucket=bucket, Key="k")["UploadId"]
    parts = [{"PartNumber": n, "ETag": s3.upload_part(Bucket=bucket, Key="k", UploadId=uid, PartNumber=n, Body=b,
                                                      ChecksumAlgorithm="CRC32")["ETag"]}
             for n, b in enumerate([F1, F3], 1)]
    complete = dict(Bucket=bucket, Key="k", UploadId=uid, MultipartUpload={"Parts": parts})
    with pytest.raises(ClientError) as e:
        s3.complete_multipart_upload(**complete, ChecksumCRC32=crc("CRC32", data[1:]))
    assert error_code(e) == "BadDigest"
    done = s3.complete_multipart_upload(**complete, ChecksumCRC32=crc("CRC32", data))
    assert done["ChecksumCRC32"] == crc("CRC32", data) and done["ChecksumType"] == "FULL_OBJECT"


def test_composite_checksum_stated_on_complete(s3, bucket):
    created, uid, parts = checksummed_upload(s3, bucket, "k", "SHA256", [F1, F3])
    assert created["ChecksumType"] == "COMPOSITE"
    raw = b"".join(hashlib.sha256(p).digest() for p in (F1, F3))
    composite = base64.b64encode(hashlib.sha256(raw).digest()).decode() + "-2"
    complete = dict(Bucket=bucket, Key="k", UploadId=uid, MultipartUpload={"Parts": parts})
    with pytest.raises(ClientError) as e:
        s3.complete_multipart_upload(**complete, ChecksumSHA256=base64.b64encode(hashlib.sha256(F1 + F3).digest()).decode())
    assert error_code(e) == "BadDigest", "a SHA-256 of the whole object is not the composite one"
    done = s3.complete_multipart_upload(**complete, ChecksumSHA256=composite)
    assert done["ChecksumSHA256"] == composite and done["ChecksumType"] == "COMPOSITE"


@pytest.mark.parametrize("algorithm,checksum_type", [
    ("SHA256", "FULL_OBJECT"), ("SHA1", "FULL_OBJECT"), ("CRC64NVME", "COMPOSITE"),
])
def test_checksum_type_the_algorithm_cannot_have(s3, bucket, algorithm, checksum_type):
    with pytest.raises(ClientError) as e:
        s3.create_multipart_upload(Bucket=bucket, Key="k", ChecksumAlgorithm=algorithm, ChecksumType=checksum_type)
    assert error_code(e) == "InvalidRequest"
    assert s3.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []


def test_checksum_type_needs_an_algorithm(s3, bucket):
    with pytest.raises(ClientError) as e:
        s3.create_multipart_upload(Bucket=bucket, Key="k", ChecksumType="FULL_OBJECT")
    assert error_code(e) == "InvalidRequest"


SMALL_PARTS = TransferConfig(multipart_threshold=5 * MIB, multipart_chunksize=5 * MIB)


def test_boto3_upload_default_checksums(s3, bucket):
    """boto3's managed upload with default settings: CreateMultipartUpload with
    CRC32 (no type, so COMPOSITE) and a CRC32 on every part."""
    data = F1 + F2 + F3
    s3.upload_fileobj(io.BytesIO(data), bucket, "k", Config=SMALL_PARTS)
    head = s3.head_object(Bucket=bucket, Key="k", ChecksumMode="ENABLED")
    assert head["ChecksumType"] == "COMPOSITE" and head["ChecksumCRC32"].endswith("-3")
    assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == data


def test_boto3_upload_with_full_object_checksum(s3, bucket):
    """A checksum given to boto3's managed upload makes it a FULL_OBJECT upload
    whose Complete carries the whole-object CRC and x-amz-checksum-type."""
    data = F1 + F2 + F3
    s3.upload_fileobj(io.BytesIO(data), bucket, "k", Config=SMALL_PARTS,
                      ExtraArgs={"ChecksumCRC32": crc("CRC32", data)})
    head = s3.head_object(Bucket=bucket, Key="k", ChecksumMode="ENABLED")
    assert head["ChecksumType"] == "FULL_OBJECT" and head["ChecksumCRC32"] == crc("CRC32", data)
    with pytest.raises(Exception) as e:
        s3.upload_fileobj(io.BytesIO(data), bucket, "bad", Config=SMALL_PARTS,
                          ExtraArgs={"ChecksumCRC32": crc("CRC32", data[1:])})
    assert "BadDigest" in str(e.value)
    with pytest.raises(ClientError):
        s3.head_object(Bucket=bucket, Key="bad")
