from concurrent.futures import ThreadPoolExecutor

import pytest
from botocore.exceptions import ClientError

from conftest import error_code

KEYS = ["a", "b/1", "b/2", "b/c/3", "c", "d/x", "é", "fooabbar", "fooabbaz", "foocd"]


@pytest.fixture
def filled(s3, bucket):
    for k in KEYS:
        s3.put_object(Bucket=bucket, Key=k, Body=b"x")
    return bucket


def test_v2_order_prefix_delimiter(s3, filled):
    r = s3.list_objects_v2(Bucket=filled)
    assert [o["Key"] for o in r["Contents"]] == sorted(KEYS, key=lambda k: k.encode())
    r = s3.list_objects_v2(Bucket=filled, Delimiter="/")
    assert [p["Prefix"] for p in r["CommonPrefixes"]] == ["b/", "d/"]
    assert "b/1" not in [o["Key"] for o in r["Contents"]]
    r = s3.list_objects_v2(Bucket=filled, Prefix="b/", Delimiter="/")
    assert [o["Key"] for o in r["Contents"]] == ["b/1", "b/2"] and r["CommonPrefixes"] == [{"Prefix": "b/c/"}]
    r = s3.list_objects_v2(Bucket=filled, Delimiter="ab")
    assert [p["Prefix"] for p in r["CommonPrefixes"]] == ["fooab"]


def test_v2_paging_start_after_and_owner(s3, filled):
    seen, token = [], None
    while True:
        kw = {"ContinuationToken": token} if token else {}
        r = s3.list_objects_v2(Bucket=filled, MaxKeys=3, Delimiter="/", **kw)
        seen += [o["Key"] for o in r.get("Contents", [])] + [p["Prefix"] for p in r.get("CommonPrefixes", [])]
        assert r["KeyCount"] <= 3
        if not r["IsTruncated"]:
            break
        token = r["NextContinuationToken"]
    assert sorted(seen) == sorted(["a", "b/", "c", "d/", "é", "fooabbar", "fooabbaz", "foocd"])
    r = s3.list_objects_v2(Bucket=filled, StartAfter="c", FetchOwner=True)
    assert r["Contents"][0]["Key"] == "d/x" and r["Contents"][0]["Owner"]["DisplayName"] == "root"
    assert "Owner" not in s3.list_objects_v2(Bucket=filled)["Contents"][0]


def test_v1_marker_and_next_marker(s3, filled):
    r = s3.list_objects(Bucket=filled, MaxKeys=2, Delimiter="/")
    assert r["IsTruncated"] and r["NextMarker"] == "b/"
    r = s3.list_objects(Bucket=filled, Marker="b/", MaxKeys=2, Delimiter="/")
    assert [o["Key"] for o in r["Contents"]] == ["c"] and r["CommonPrefixes"] == [{"Prefix": "d/"}]
    r = s3.list_objects(Bucket=filled, MaxKeys=1)
    assert r["IsTruncated"] and "NextMarker" not in r


def test_url_encoding(s3, bucket):
    s3.put_object(Bucket=bucket, Key="a b/ü", Body=b"x")
    r = s3.list_objects_v2(Bucket=bucket, EncodingType="url", Delimiter="/")
    # boto3 leaves keys encoded when the caller asked for the encoding itself
    assert r["CommonPrefixes"][0]["Prefix"] == "a%20b/"
    r = s3.list_objects_v2(Bucket=bucket, EncodingType="url")
    assert r["Contents"][0]["Key"] == "a%20b/%C3%BC"


@pytest.mark.parametrize("value", ["abc", "-1"])
def test_bad_max_keys(server, bucket, value):
    # botocore validates max-keys itself: change the URL before it is signed.
    client = server.client()

    def tamper(request, **_):
        request.url = request.url.replace("max-keys=5", "max-keys=" + value)

    client.meta.events.register("before-sign.s3.ListObjectsV2", tamper)
    with pytest.raises(ClientError) as e:
        client.list_objects_v2(Bucket=bucket, MaxKeys=5)
    assert error_code(e) == "InvalidArgument"


def test_paging_over_1100_keys(s3, bucket):
    keys = ["k%05d" % i for i in range(1100)]
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda k: s3.put_object(Bucket=bucket, Key=k, Body=b""), keys))
    listed = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        listed += [o["Key"] for o in page["Contents"]]
    assert listed == keys
    listed = []
    for page in s3.get_paginator("list_objects").paginate(Bucket=bucket, PaginationConfig={"PageSize": 300}):
        listed += [o["Key"] for o in page["Contents"]]
    assert listed == keys


def test_missing_bucket_listing(s3):
    with pytest.raises(ClientError) as e:
        s3.list_objects(Bucket="no-such-bucket-here")
    assert error_code(e) == "NoSuchBucket"


def test_empty_delimiter_is_not_echoed(s3, filled):
    r = s3.list_objects_v2(Bucket=filled, Delimiter="")
    assert "Delimiter" not in r and len(r["Contents"]) == len(KEYS)
