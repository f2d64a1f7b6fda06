"""Bucket versioning with boto3: version ids, delete markers, suspended
buckets' null version, version-id reads, copies and deletes, and
ListObjectVersions paging."""
import pytest
from botocore.exceptions import ClientError

from conftest import error_code, status

BIG = b"v" * 100_000  # above the inline threshold: stored as a blob


def versions(s3, bucket, **kw):
    r = s3.list_object_versions(Bucket=bucket, **kw)
    return r, [(v["Key"], v["VersionId"], v["IsLatest"]) for v in r.get("Versions", [])], \
        [(m["Key"], m["VersionId"], m["IsLatest"]) for m in r.get("DeleteMarkers", [])]


def enable(s3, bucket, state="Enabled"):
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": state})


def test_versioning_configuration(s3, bucket):
    assert "Status" not in s3.get_bucket_versioning(Bucket=bucket)
    enable(s3, bucket)
    assert s3.get_bucket_versioning(Bucket=bucket)["Status"] == "Enabled"
    enable(s3, bucket, "Suspended")
    assert s3.get_bucket_versioning(Bucket=bucket)["Status"] == "Suspended"
    with pytest.raises(ClientError) as e:
        s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Sometimes"})
    assert error_code(e) == "MalformedXML"
    with pytest.raises(ClientError) as e:
        s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled", "MFADelete": "Enabled"},
                                 MFA="serial 123456")
    assert status(e) == 400
    assert s3.get_bucket_versioning(Bucket=bucket)["Status"] == "Suspended", "a refused change changes nothing"


def test_every_write_is_a_version(s3, bucket):
    s3.put_object(Bucket=bucket, Key="k", Body=b"before")  # the null version
    enable(s3, bucket)
    v1 = s3.put_object(Bucket=bucket, Key="k", Body=b"one")["VersionId"]
    v2 = s3.put_object(Bucket=bucket, Key="k", Body=BIG)["VersionId"]
    assert v1 != v2 and v1 != "null"
    assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == BIG
    got = s3.get_object(Bucket=bucket, Key="k", VersionId=v1)
    assert got["Body"].read() == b"one" and got["VersionId"] == v1
    assert s3.get_object(Bucket=bucket, Key="k", VersionId="null")["Body"].read() == b"before"
    assert s3.head_object(Bucket=bucket, Key="k", VersionId=v2)["ContentLength"] == len(BIG)
    _, vs, markers = versions(s3, bucket)
    assert vs == [("k", v2, True), ("k", v1, False), ("k", "null", False)]
    assert markers == []
    # ListObjects shows only the current version.
    listed = s3.list_objects_v2(Bucket=bucket)["Contents"]
    assert [(o["Key"], o["Size"]) for o in listed] == [("k", len(BIG))]


def test_delete_markers(s3, bucket):
    enable(s3, bucket)
    v1 = s3.put_object(Bucket=bucket, Key="k", Body=b"one")["VersionId"]
    d = s3.delete_object(Bucket=bucket, Key="k")
    assert d["DeleteMarker"] is True
    marker = d["VersionId"]
    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket=bucket, Key="k")
    assert error_code(e) == "NoSuchKey"
    assert e.value.response["ResponseMetadata"]["HTTPHeaders"]["x-amz-delete-marker"] == "true"
    with pytest.raises(ClientError) as e:
        s3.head_object(Bucket=bucket, Key="k", VersionId=marker)
    assert status(e) == 405
    assert "Contents" not in s3.list_objects_v2(Bucket=bucket)
    _, vs, markers = versions(s3, bucket)
    assert markers == [("k", marker, True)] and vs == [("k", v1, False)]
    # Removing the marker brings the object back.
    d = s3.delete_object(Bucket=bucket, Key="k", VersionId=marker)
    assert d["DeleteMarker"] is True and d["VersionId"] == marker
    assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == b"one"


def test_permanent_version_delete_promotes_the_previous(s3, bucket):
    enable(s3, bucket)
    v1 = s3.put_object(Bucket=bucket, Key="k", Body=b"one")["VersionId"]
    v2 = s3.put_object(Bucket=bucket, Key="k", Body=BIG)["VersionId"]
    s3.delete_object(Bucket=bucket, Key="k", VersionId=v2)
    assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == b"one"
    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket=bucket, Key="k", VersionId=v2)
    assert error_code(e) == "NoSuchVersion"
    s3.delete_object(Bucket=bucket, Key="k", VersionId=v1)
    _, vs, markers = versions(s3, bucket)
    assert vs == [] and markers == []


def test_suspended_bucket_overwrites_the_null_version(s3, bucket):
    enable(s3, bucket)
    v1 = s3.put_object(Bucket=bucket, Key="k", Body=b"one")["VersionId"]
    enable(s3, bucket, "Suspended")
    s3.put_object(Bucket=bucket, Key="k", Body=b"null-1")
    s3.put_object(Bucket=bucket, Key="k", Body=b"null-2")
    _, vs, _ = versions(s3, bucket)
    assert vs == [("k", "null", True), ("k", v1, False)]
    assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == b"null-2"
    # A delete in a suspended bucket is a null delete marker.
    d = s3.delete_object(Bucket=bucket, Key="k")
    assert d["DeleteMarker"] is True and d["VersionId"] == "null"
    _, vs, markers = versions(s3, bucket)
    assert vs == [("k", v1, False)] and markers == [("k", "null", True)]


def test_copy_and_multipart_versions(s3, bucket):
    enable(s3, bucket)
    v1 = s3.put_object(Bucket=bucket, Key="src", Body=b"first")["VersionId"]
    s3.put_object(Bucket=bucket, Key="src", Body=b"second")
    copied = s3.copy_object(Bucket=bucket, Key="dst", CopySource={"Bucket": bucket, "Key": "src", "VersionId": v1})
    assert copied["CopySourceVersionId"] == v1 and copied["VersionId"]
    assert s3.get_object(Bucket=bucket, Key="dst")["Body"].read() == b"first"
    # A copy onto itself in a versioning bucket is a new version with its own bytes.
    s3.copy_object(Bucket=bucket, Key="src", CopySource={"Bucket": bucket, "Key": "src"},
                   MetadataDirective="REPLACE", Metadata={"m": "1"})
    _, vs, _ = versions(s3, bucket, Prefix="src")
    assert len(vs) == 3
    s3.delete_object(Bucket=bucket, Key="src", VersionId=vs[1][1])
    assert s3.get_object(Bucket=bucket, Key="src")["Body"].read() == b"second"
    up = s3.create_multipart_upload(Bucket=bucket, Key="mp")
    etag = s3.upload_part(Bucket=bucket, Key="mp", UploadId=up["UploadId"], PartNumber=1, Body=b"p")["ETag"]
    done = s3.complete_multipart_upload(Bucket=bucket, Key="mp", UploadId=up["UploadId"],
                                        MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": etag}]})
    assert s3.head_object(Bucket=bucket, Key="mp")["VersionId"] == done["VersionId"]


def test_list_versions_pages_and_prefixes(s3, bucket):
    enable(s3, bucket)
    expected = []
    for key in ["a", "d/x", "d/y", "z"]:
        ids = [s3.put_object(Bucket=bucket, Key=key, Body=str(i).encode())["VersionId"] for i in range(3)]
        expected += [(key, vid) for vid in reversed(ids)]
    seen = []
    kw = {"MaxKeys": 4}
    while True:
        r, vs, _ = versions(s3, bucket, **kw)
        seen += [(k, v) for k, v, _ in vs]
        if not r["IsTruncated"]:
            break
        kw.update(KeyMarker=r["NextKeyMarker"], VersionIdMarker=r["NextVersionIdMarker"])
    assert seen == expected
    r, vs, _ = versions(s3, bucket, Delimiter="/")
    assert [p["Prefix"] for p in r["CommonPrefixes"]] == ["d/"]
    assert {k for k, _, _ in vs} == {"a", "z"}


def test_deleting_versions_in_bulk(s3, bucket):
    enable(s3, bucket)
    v = s3.put_object(Bucket=bucket, Key="k", Body=b"x")["VersionId"]
    r = s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": "k"}, {"Key": "k", "VersionId": v}]})
    by_version = {d.get("VersionId"): d for d in r["Deleted"]}
    assert by_version[None]["DeleteMarker"] is True and by_version[None]["DeleteMarkerVersionId"]
    assert by_version[v]["VersionId"] == v
    _, vs, markers = versions(s3, bucket)
    assert vs == [] and len(markers) == 1


def test_bad_version_ids(s3, bucket):
    enable(s3, bucket)
    s3.put_object(Bucket=bucket, Key="k", Body=b"x")
    for bad in ["nonsense", "1234"]:
        with pytest.raises(ClientError) as e:
            s3.get_object(Bucket=bucket, Key="k", VersionId=bad)
        assert error_code(e) == "InvalidArgument"
    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket=bucket, Key="k", VersionId="0" * 32)
    assert error_code(e) == "NoSuchVersion"
    with pytest.raises(ClientError) as e:
        s3.list_object_versions(Bucket=bucket, VersionIdMarker="null")
    assert error_code(e) == "InvalidArgument"


def test_versions_keep_the_bucket(s3):
    name = "t-keep-versions"
    s3.create_bucket(Bucket=name)
    enable(s3, name)
    v = s3.put_object(Bucket=name, Key="k", Body=BIG)["VersionId"]
    marker = s3.delete_object(Bucket=name, Key="k")["VersionId"]
    with pytest.raises(ClientError) as e:
        s3.delete_bucket(Bucket=name)
    assert error_code(e) == "BucketNotEmpty"
    s3.delete_object(Bucket=name, Key="k", VersionId=v)
    s3.delete_object(Bucket=name, Key="k", VersionId=marker)
    s3.delete_bucket(Bucket=name)


def test_object_tagging(s3, bucket):
    s3.put_object(Bucket=bucket, Key="k", Body=b"x", Tagging="color=blue&size=L%20XL")
    assert s3.head_object(Bucket=bucket, Key="k")["ResponseMetadata"]["HTTPHeaders"]["x-amz-tagging-count"] == "2"
    tags = s3.get_object_tagging(Bucket=bucket, Key="k")["TagSet"]
    assert tags == [{"Key": "color", "Value": "blue"}, {"Key": "size", "Value": "L XL"}]
    s3.put_object_tagging(Bucket=bucket, Key="k", Tagging={"TagSet": [{"Key": "a", "Value": "1"}]})
    assert s3.get_object(Bucket=bucket, Key="k")["TagCount"] == 1
    too_many = [{"Key": f"k{i}", "Value": "v"} for i in range(11)]
    for tag_set in [too_many, [{"Key": "x" * 129, "Value": "v"}], [{"Key": "k", "Value": "v" * 257}],
                    [{"Key": "k", "Value": "1"}, {"Key": "k", "Value": "2"}]]:
        with pytest.raises(ClientError) as e:
            s3.put_object_tagging(Bucket=bucket, Key="k", Tagging={"TagSet": tag_set})
        assert error_code(e) == "InvalidTag"
    assert s3.get_object_tagging(Bucket=bucket, Key="k")["TagSet"] == [{"Key": "a", "Value": "1"}], \
        "refused tag sets change nothing"
    # Copies keep tags unless told to replace them.
    s3.copy_object(Bucket=bucket, Key="c1", CopySource={"Bucket": bucket, "Key": "k"})
    assert s3.get_object_tagging(Bucket=bucket, Key="c1")["TagSet"] == [{"Key": "a", "Value": "1"}]
    s3.copy_object(Bucket=bucket, Key="c2", CopySource={"Bucket": bucket, "Key": "k"},
                   TaggingDirective="REPLACE", Tagging="b=2")
    assert s3.get_object_tagging(Bucket=bucket, Key="c2")["TagSet"] == [{"Key": "b", "Value": "2"}]
    s3.delete_object_tagging(Bucket=bucket, Key="k")
    assert s3.get_object_tagging(Bucket=bucket, Key="k")["TagSet"] == []
    with pytest.raises(ClientError) as e:
        s3.put_object(Bucket=bucket, Key="many", Body=b"x", Tagging="&".join(f"k{i}=v" for i in range(11)))
    assert error_code(e) == "InvalidTag"


def test_tags_belong_to_one_version(s3, bucket):
    enable(s3, bucket)
    v1 = s3.put_object(Bucket=bucket, Key="k", Body=b"1", Tagging="v=1")["VersionId"]
    s3.put_object(Bucket=bucket, Key="k", Body=b"2", Tagging="v=2")
    s3.put_object_tagging(Bucket=bucket, Key="k", VersionId=v1, Tagging={"TagSet": [{"Key": "v", "Value": "old"}]})
    assert s3.get_object_tagging(Bucket=bucket, Key="k")["TagSet"] == [{"Key": "v", "Value": "2"}]
    assert s3.get_object_tagging(Bucket=bucket, Key="k", VersionId=v1)["TagSet"] == [{"Key": "v", "Value": "old"}]
    up = s3.create_multipart_upload(Bucket=bucket, Key="mp", Tagging="from=upload")
    etag = s3.upload_part(Bucket=bucket, Key="mp", UploadId=up["UploadId"], PartNumber=1, Body=b"p")["ETag"]
    s3.complete_multipart_upload(Bucket=bucket, Key="mp", UploadId=up["UploadId"],
                                 MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": etag}]})
    assert s3.get_object_tagging(Bucket=bucket, Key="mp")["TagSet"] == [{"Key": "from", "Value": "upload"}]
