"""Object Lock with boto3: buckets created with it, default retention,
per-version retention and legal hold, and the deletes they refuse."""
import datetime
import json
import uuid

import pytest
from botocore.exceptions import ClientError

from conftest import empty_bucket, error_code, status


def later(days=1):
    return datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(days=days)


@pytest.fixture
def locked_bucket(s3):
    name = "t-lock-" + uuid.uuid4().hex[:8]
    s3.create_bucket(Bucket=name, ObjectLockEnabledForBucket=True)
    yield name
    # Lift what the tests set so the bucket can go.
    for v in s3.list_object_versions(Bucket=name).get("Versions", []):
        s3.put_object_legal_hold(Bucket=name, Key=v["Key"], VersionId=v["VersionId"], LegalHold={"Status": "OFF"})
        try:
            s3.delete_object(Bucket=name, Key=v["Key"], VersionId=v["VersionId"], BypassGovernanceRetention=True)
        except ClientError:
            pass  # COMPLIANCE versions outlive the test; the bucket stays
    try:
        empty_bucket(s3, name)
        s3.delete_bucket(Bucket=name)
    except ClientError:
        pass


def test_lock_configuration(s3, locked_bucket, bucket):
    assert s3.get_bucket_versioning(Bucket=locked_bucket)["Status"] == "Enabled"
    conf = {"ObjectLockEnabled": "Enabled", "Rule": {"DefaultRetention": {"Mode": "GOVERNANCE", "Days": 2}}}
    s3.put_object_lock_configuration(Bucket=locked_bucket, ObjectLockConfiguration=conf)
    assert s3.get_object_lock_configuration(Bucket=locked_bucket)["ObjectLockConfiguration"] == conf
    with pytest.raises(ClientError) as e:
        s3.put_bucket_versioning(Bucket=locked_bucket, VersioningConfiguration={"Status": "Suspended"})
    assert error_code(e) == "InvalidBucketState"
    # Defaults reach new versions.
    s3.put_object(Bucket=locked_bucket, Key="k", Body=b"x")
    head = s3.head_object(Bucket=locked_bucket, Key="k")
    assert head["ObjectLockMode"] == "GOVERNANCE"
    assert head["ObjectLockRetainUntilDate"] > later(1)
    # A plain bucket has none, and gets one only once it versions.
    with pytest.raises(ClientError) as e:
        s3.get_object_lock_configuration(Bucket=bucket)
    assert error_code(e) == "ObjectLockConfigurationNotFoundError"
    with pytest.raises(ClientError) as e:
        s3.put_object_lock_configuration(Bucket=bucket, ObjectLockConfiguration=conf)
    assert (status(e), error_code(e)) == (409, "InvalidBucketState")


@pytest.mark.parametrize("rule, code", [
    ({"Mode": "GOVERNANCE", "Days": 1, "Years": 1}, "MalformedXML"),
    ({"Mode": "GOVERNANCE", "Days": 0}, "InvalidRetentionPeriod"),
    ({"Mode": "SOMETIMES", "Days": 1}, "MalformedXML"),
])
def test_bad_lock_configurations(s3, locked_bucket, rule, code):
    with pytest.raises(ClientError) as e:
        s3.put_object_lock_configuration(
            Bucket=locked_bucket,
            ObjectLockConfiguration={"ObjectLockEnabled": "Enabled", "Rule": {"DefaultRetention": rule}})
    assert (status(e), error_code(e)) == (400, code)


def test_retention_protects_a_version(s3, locked_bucket):
    v = s3.put_object(Bucket=locked_bucket, Key="k", Body=b"x", ObjectLockMode="GOVERNANCE",
                      ObjectLockRetainUntilDate=later(1))["VersionId"]
    with pytest.raises(ClientError) as e:
        s3.delete_object(Bucket=locked_bucket, Key="k", VersionId=v)
    assert (status(e), error_code(e)) == (403, "AccessDenied")
    # A delete marker hides it but destroys nothing.
    s3.delete_object(Bucket=locked_bucket, Key="k")
    # Shortening GOVERNANCE needs the bypass; lengthening does not.
    s3.put_object_retention(Bucket=locked_bucket, Key="k", VersionId=v,
                            Retention={"Mode": "GOVERNANCE", "RetainUntilDate": later(3)})
    with pytest.raises(ClientError) as e:
        s3.put_object_retention(Bucket=locked_bucket, Key="k", VersionId=v,
                                Retention={"Mode": "GOVERNANCE", "RetainUntilDate": later(2)})
    assert error_code(e) == "AccessDenied"
    s3.put_object_retention(Bucket=locked_bucket, Key="k", VersionId=v, BypassGovernanceRetention=True,
                            Retention={"Mode": "GOVERNANCE", "RetainUntilDate": later(2)})
    got = s3.get_object_retention(Bucket=locked_bucket, Key="k", VersionId=v)["Retention"]
    assert got["Mode"] == "GOVERNANCE"
    s3.delete_object(Bucket=locked_bucket, Key="k", VersionId=v, BypassGovernanceRetention=True)


def test_compliance_cannot_be_weakened(s3, locked_bucket):
    v = s3.put_object(Bucket=locked_bucket, Key="c", Body=b"x", ObjectLockMode="COMPLIANCE",
                      ObjectLockRetainUntilDate=later(1))["VersionId"]
    for retention, kw in [({"Mode": "GOVERNANCE", "RetainUntilDate": later(5)}, {}),
                          ({"Mode": "COMPLIANCE", "RetainUntilDate": later(0.5)}, {"BypassGovernanceRetention": True})]:
        with pytest.raises(ClientError) as e:
            s3.put_object_retention(Bucket=locked_bucket, Key="c", VersionId=v, Retention=retention, **kw)
        assert error_code(e) == "AccessDenied"
    with pytest.raises(ClientError) as e:
        s3.delete_object(Bucket=locked_bucket, Key="c", VersionId=v, BypassGovernanceRetention=True)
    assert error_code(e) == "AccessDenied"


def test_legal_hold(s3, locked_bucket):
    v = s3.put_object(Bucket=locked_bucket, Key="h", Body=b"x", ObjectLockLegalHoldStatus="ON")["VersionId"]
    assert s3.get_object_legal_hold(Bucket=locked_bucket, Key="h")["LegalHold"]["Status"] == "ON"
    with pytest.raises(ClientError) as e:
        s3.delete_object(Bucket=locked_bucket, Key="h", VersionId=v, BypassGovernanceRetention=True)
    assert error_code(e) == "AccessDenied"
    with pytest.raises(ClientError) as e:
        s3.put_object_legal_hold(Bucket=locked_bucket, Key="h", LegalHold={"Status": "MAYBE"})
    assert error_code(e) == "MalformedXML"
    s3.put_object_legal_hold(Bucket=locked_bucket, Key="h", LegalHold={"Status": "OFF"})
    s3.delete_object(Bucket=locked_bucket, Key="h", VersionId=v)


def test_lock_calls_need_a_locked_bucket(s3, bucket):
    s3.put_object(Bucket=bucket, Key="k", Body=b"x")
    for call in [lambda: s3.put_object_legal_hold(Bucket=bucket, Key="k", LegalHold={"Status": "ON"}),
                 lambda: s3.get_object_retention(Bucket=bucket, Key="k"),
                 lambda: s3.put_object(Bucket=bucket, Key="k2", Body=b"x", ObjectLockMode="GOVERNANCE",
                                       ObjectLockRetainUntilDate=later(1))]:
        with pytest.raises(ClientError) as e:
            call()
        assert (status(e), error_code(e)) == (400, "InvalidRequest")


def test_bad_retention_requests(s3, locked_bucket):
    with pytest.raises(ClientError) as e:
        s3.put_object(Bucket=locked_bucket, Key="k", Body=b"x", ObjectLockMode="GOVERNANCE")
    assert error_code(e) == "InvalidArgument"
    with pytest.raises(ClientError) as e:
        s3.put_object(Bucket=locked_bucket, Key="k", Body=b"x", ObjectLockMode="GOVERNANCE",
                      ObjectLockRetainUntilDate=later(-1))
    assert error_code(e) == "InvalidArgument"
    assert "Versions" not in s3.list_object_versions(Bucket=locked_bucket), "refused writes store nothing"


def test_bypassing_governance_is_a_permission(s3, s3_alt, locked_bucket):
    v = s3.put_object(Bucket=locked_bucket, Key="g", Body=b"x", ObjectLockMode="GOVERNANCE",
                      ObjectLockRetainUntilDate=later(1))["VersionId"]
    # alt may delete versions, but not lift a retention.
    s3.put_bucket_policy(Bucket=locked_bucket, Policy=json.dumps({"Statement": [{
        "Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "s3:DeleteObjectVersion",
        "Resource": f"arn:aws:s3:::{locked_bucket}/*"}]}))
    with pytest.raises(ClientError) as e:
        s3_alt.delete_object(Bucket=locked_bucket, Key="g", VersionId=v, BypassGovernanceRetention=True)
    assert error_code(e) == "AccessDenied"
    s3.delete_bucket_policy(Bucket=locked_bucket)
    s3.delete_object(Bucket=locked_bucket, Key="g", VersionId=v, BypassGovernanceRetention=True)
