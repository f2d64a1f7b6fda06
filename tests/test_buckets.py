import urllib.request
import uuid

import pytest
from botocore.exceptions import ClientError

from conftest import error_code, status


def name():
    return "b-" + uuid.uuid4().hex[:12]


def test_health_endpoints_need_no_credentials(server):
    for path in ("/_/live", "/_/ready"):
        with urllib.request.urlopen(server.endpoint + path) as r:
            assert r.status == 200


def test_create_head_list_delete(s3):
    b = name()
    s3.create_bucket(Bucket=b)
    s3.head_bucket(Bucket=b)
    listed = s3.list_buckets()
    assert b in [x["Name"] for x in listed["Buckets"]]
    assert listed["Owner"]["DisplayName"] == "root"
    assert s3.get_bucket_location(Bucket=b).get("LocationConstraint") in (None, "")
    s3.delete_bucket(Bucket=b)
    with pytest.raises(ClientError) as e:
        s3.head_bucket(Bucket=b)
    assert status(e) == 404


@pytest.mark.parametrize("bad", ["ab", "UPPER", "-lead", "trail-", "a..b", "192.168.1.1", "a_b", "sthree-x", "abc-s3alias",
                                 "abc--ol-s3"])
def test_invalid_bucket_names(s3, bad):
    with pytest.raises(ClientError) as e:
        s3.create_bucket(Bucket=bad)
    assert error_code(e) == "InvalidBucketName"


def test_location_constraint_must_name_a_location(s3):
    with pytest.raises(ClientError) as e:
        s3.create_bucket(Bucket=name(), CreateBucketConfiguration={"LocationConstraint": "nowhere"})
    assert error_code(e) == "InvalidLocationConstraint"
    b = name()
    # `local` is the built-in default location, which answers like us-east-1
    s3.create_bucket(Bucket=b, CreateBucketConfiguration={"LocationConstraint": "local"})
    assert s3.get_bucket_location(Bucket=b).get("LocationConstraint") in (None, "")
    s3.delete_bucket(Bucket=b)


def test_bucket_ownership_between_accounts(s3, s3_alt):
    b = name()
    s3.create_bucket(Bucket=b)
    s3.create_bucket(Bucket=b)  # us-east-1 lets the owner create it again
    with pytest.raises(ClientError) as e:
        s3_alt.create_bucket(Bucket=b)
    assert error_code(e) == "BucketAlreadyExists"
    assert b not in [x["Name"] for x in s3_alt.list_buckets()["Buckets"]]
    with pytest.raises(ClientError) as e:
        s3_alt.put_object(Bucket=b, Key="k", Body=b"x")
    assert error_code(e) == "AccessDenied"
    s3.delete_bucket(Bucket=b)


def test_delete_non_empty_bucket_is_refused(s3, bucket):
    s3.put_object(Bucket=bucket, Key="k", Body=b"x")
    with pytest.raises(ClientError) as e:
        s3.delete_bucket(Bucket=bucket)
    assert error_code(e) == "BucketNotEmpty"


def test_unknown_bucket(s3):
    with pytest.raises(ClientError) as e:
        s3.list_objects_v2(Bucket=name())
    assert error_code(e) == "NoSuchBucket"


def test_virtual_host_addressing_with_path_style_fallback(make_server):
    import urllib3
    server = make_server(extra_env={"STRATA_DOMAINS": "s3.strata.test"})
    server.client().create_bucket(Bucket="vhost")
    server.client().put_object(Bucket="vhost", Key="k", Body=b"virtual")
    # Sign for bucket.s3.strata.test, deliver to 127.0.0.1 with that Host header.
    from conftest import s3_client
    virtual = s3_client(f"http://s3.strata.test:{server.port}", s3={"addressing_style": "virtual"})
    url = virtual.generate_presigned_url("get_object", Params={"Bucket": "vhost", "Key": "k"})
    assert url.startswith(f"http://vhost.s3.strata.test:{server.port}/k?")
    pool = urllib3.HTTPConnectionPool("127.0.0.1", server.port)
    r = pool.request("GET", url.split(str(server.port), 1)[1], headers={"Host": f"vhost.s3.strata.test:{server.port}"})
    assert r.status == 200 and r.data == b"virtual"
    # an unknown Host falls back to path-style
    assert server.client().get_object(Bucket="vhost", Key="k")["Body"].read() == b"virtual"


def test_recreating_an_owned_bucket_outside_us_east_1(make_server):
    server = make_server(extra_env={"STRATA_REGION": "eu-west-1"})
    s3 = server.client()
    s3.create_bucket(Bucket="mine")
    with pytest.raises(ClientError) as e:
        s3.create_bucket(Bucket="mine")
    assert error_code(e) == "BucketAlreadyOwnedByYou" and status(e) == 409


def test_list_buckets_paginated(make_server):
    s3 = make_server().client()
    assert s3.list_buckets(MaxBuckets=1)["Buckets"] == []
    for b in ("pg-a", "pg-b", "pg-c"):
        s3.create_bucket(Bucket=b)
    first = s3.list_buckets(MaxBuckets=2)
    assert [b["Name"] for b in first["Buckets"]] == ["pg-a", "pg-b"]
    rest = s3.list_buckets(MaxBuckets=2, ContinuationToken=first["ContinuationToken"])
    assert [b["Name"] for b in rest["Buckets"]] == ["pg-c"] and "ContinuationToken" not in rest
    assert [b["Name"] for b in s3.list_buckets(Prefix="pg-b")["Buckets"]] == ["pg-b"]


def test_unfinished_uploads_do_not_keep_a_bucket(s3):
    b = name()
    s3.create_bucket(Bucket=b)
    uid = s3.create_multipart_upload(Bucket=b, Key="k")["UploadId"]
    s3.upload_part(Bucket=b, Key="k", UploadId=uid, PartNumber=1, Body=b"part")
    s3.delete_bucket(Bucket=b)
    with pytest.raises(ClientError) as e:
        s3.head_bucket(Bucket=b)
    assert status(e) == 404
