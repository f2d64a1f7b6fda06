"""Access control with boto3: anonymous requests, canned and explicit ACLs
on buckets and objects, bucket policies with conditions, and the order AWS
evaluates them in (an explicit Deny wins)."""
import json
import urllib.error
import urllib.request

import pytest
from botocore import UNSIGNED
from botocore.config import Config
from botocore.exceptions import ClientError

from conftest import ALT, error_code, status

ALL_USERS = "http://acs.amazonaws.com/groups/global/AllUsers"


@pytest.fixture(scope="module")
def anon(server):
    return server.client(signature_version=UNSIGNED)


def account_id(client, bucket):
    return client.get_bucket_acl(Bucket=bucket)["Owner"]["ID"]


def denied(call):
    with pytest.raises(ClientError) as e:
        call()
    assert (status(e), error_code(e)) == (403, "AccessDenied")


def test_private_by_default(s3, s3_alt, anon, bucket):
    s3.put_object(Bucket=bucket, Key="k", Body=b"secret")
    denied(lambda: s3_alt.get_object(Bucket=bucket, Key="k"))
    denied(lambda: anon.get_object(Bucket=bucket, Key="k"))
    denied(lambda: s3_alt.list_objects_v2(Bucket=bucket))
    denied(lambda: s3_alt.put_object(Bucket=bucket, Key="x", Body=b"x"))
    denied(lambda: s3_alt.delete_bucket(Bucket=bucket))
    acl = s3.get_bucket_acl(Bucket=bucket)
    assert [(g["Grantee"]["ID"], g["Permission"]) for g in acl["Grants"]] == [(acl["Owner"]["ID"], "FULL_CONTROL")]


def test_canned_acls(s3, s3_alt, anon, bucket):
    s3.put_object(Bucket=bucket, Key="pub", Body=b"hello", ACL="public-read")
    s3.put_object(Bucket=bucket, Key="auth", Body=b"signed", ACL="authenticated-read")
    assert anon.get_object(Bucket=bucket, Key="pub")["Body"].read() == b"hello"
    # A plain HTTP GET, as a browser would.
    with urllib.request.urlopen(f"{s3.meta.endpoint_url}/{bucket}/pub") as r:
        assert r.read() == b"hello"
    assert s3_alt.get_object(Bucket=bucket, Key="auth")["Body"].read() == b"signed"
    denied(lambda: anon.get_object(Bucket=bucket, Key="auth"))
    grants = s3.get_object_acl(Bucket=bucket, Key="pub")["Grants"]
    assert {"Type": "Group", "URI": ALL_USERS} in [g["Grantee"] for g in grants]
    s3.put_object_acl(Bucket=bucket, Key="pub", ACL="private")
    denied(lambda: anon.get_object(Bucket=bucket, Key="pub"))


def test_public_read_write_bucket(s3, s3_alt, anon, bucket):
    s3.put_bucket_acl(Bucket=bucket, ACL="public-read-write")
    s3_alt.put_object(Bucket=bucket, Key="from-alt", Body=b"a")
    assert [o["Key"] for o in anon.list_objects_v2(Bucket=bucket)["Contents"]] == ["from-alt"]
    # The writer owns what it wrote: the bucket owner may not read it unasked.
    denied(lambda: s3.get_object_acl(Bucket=bucket, Key="from-alt"))
    alt_id = s3_alt.get_object_acl(Bucket=bucket, Key="from-alt")["Owner"]["ID"]
    assert alt_id != account_id(s3, bucket)
    s3.delete_object(Bucket=bucket, Key="from-alt")


def test_explicit_grants(s3, s3_alt, bucket):
    alt_bucket = "t-alt-" + bucket[2:]
    s3_alt.create_bucket(Bucket=alt_bucket)
    try:
        alt_id = account_id(s3_alt, alt_bucket)
    finally:
        s3_alt.delete_bucket(Bucket=alt_bucket)
    s3.put_object(Bucket=bucket, Key="k", Body=b"x", GrantRead=f'id="{alt_id}"')
    assert s3_alt.get_object(Bucket=bucket, Key="k")["Body"].read() == b"x"
    denied(lambda: s3_alt.get_object_acl(Bucket=bucket, Key="k"))
    owner = s3.get_bucket_acl(Bucket=bucket)["Owner"]
    s3.put_bucket_acl(Bucket=bucket, AccessControlPolicy={
        "Owner": owner,
        "Grants": [{"Grantee": {"Type": "CanonicalUser", "ID": owner["ID"]}, "Permission": "FULL_CONTROL"},
                   {"Grantee": {"Type": "CanonicalUser", "ID": alt_id}, "Permission": "READ"}]})
    assert s3_alt.list_objects_v2(Bucket=bucket)["KeyCount"] == 1
    with pytest.raises(ClientError) as e:
        s3.put_object(Bucket=bucket, Key="k", Body=b"x", ACL="private", GrantRead=f'id="{alt_id}"')
    assert error_code(e) == "InvalidRequest"
    with pytest.raises(ClientError) as e:
        s3.put_object(Bucket=bucket, Key="k2", Body=b"x", GrantRead='id="no-such-account"')
    assert error_code(e) == "InvalidArgument"


def policy(bucket, *statements):
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


def test_bucket_policy_allows_and_denies(s3, s3_alt, anon, bucket):
    s3.put_object(Bucket=bucket, Key="public/a", Body=b"a")
    s3.put_object(Bucket=bucket, Key="private/b", Body=b"b")
    doc = policy(bucket,
                 {"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject",
                  "Resource": f"arn:aws:s3:::{bucket}/public/*"},
                 {"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "s3:ListBucket",
                  "Resource": f"arn:aws:s3:::{bucket}", "Condition": {"StringLike": {"s3:prefix": "public/*"}}},
                 {"Effect": "Deny", "Principal": "*", "Action": "s3:DeleteObject",
                  "Resource": f"arn:aws:s3:::{bucket}/public/*"})
    s3.put_bucket_policy(Bucket=bucket, Policy=doc)
    assert json.loads(s3.get_bucket_policy(Bucket=bucket)["Policy"]) == json.loads(doc)
    assert anon.get_object(Bucket=bucket, Key="public/a")["Body"].read() == b"a"
    denied(lambda: anon.get_object(Bucket=bucket, Key="private/b"))
    assert anon.list_objects_v2(Bucket=bucket, Prefix="public/")["KeyCount"] == 1
    denied(lambda: anon.list_objects_v2(Bucket=bucket, Prefix="private/"))
    # A missing key under a listable prefix is a 404, elsewhere a 403.
    with pytest.raises(ClientError) as e:
        s3_alt.head_object(Bucket=bucket, Key="public/missing")
    assert status(e) == 404
    with pytest.raises(ClientError) as e:
        s3_alt.head_object(Bucket=bucket, Key="private/missing")
    assert status(e) == 403
    # An explicit Deny binds even the owner.
    denied(lambda: s3.delete_object(Bucket=bucket, Key="public/a"))
    assert s3.get_bucket_policy_status(Bucket=bucket)["PolicyStatus"]["IsPublic"] is True
    s3.delete_bucket_policy(Bucket=bucket)
    with pytest.raises(ClientError) as e:
        s3.get_bucket_policy(Bucket=bucket)
    assert error_code(e) == "NoSuchBucketPolicy"
    denied(lambda: anon.get_object(Bucket=bucket, Key="public/a"))


def test_policy_conditions_on_request_values(s3, s3_alt, bucket):
    s3.put_bucket_policy(Bucket=bucket, Policy=policy(
        bucket,
        {"Effect": "Allow", "Principal": {"AWS": [ALT[0], "*"]}, "Action": "s3:PutObject",
         "Resource": f"arn:aws:s3:::{bucket}/*",
         "Condition": {"StringEquals": {"s3:x-amz-acl": "bucket-owner-full-control"},
                       "IpAddress": {"aws:SourceIp": "127.0.0.0/8"}}}))
    denied(lambda: s3_alt.put_object(Bucket=bucket, Key="k", Body=b"x"))
    s3_alt.put_object(Bucket=bucket, Key="k", Body=b"x", ACL="bucket-owner-full-control")
    assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == b"x"


@pytest.mark.parametrize("doc", [
    "not json",
    '{"Statement": []}',
    '{"Statement": {"Effect": "Allow", "Principal": "*", "Action": "s3:Fly", "Resource": "*"}}',
    '{"Statement": {"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::elsewhere/*"}}',
    '{"Statement": {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}}',
])
def test_malformed_policies_are_refused(s3, bucket, doc):
    with pytest.raises(ClientError) as e:
        s3.put_bucket_policy(Bucket=bucket, Policy=doc)
    assert (status(e), error_code(e)) == (400, "MalformedPolicy")
    with pytest.raises(ClientError) as e:
        s3.get_bucket_policy(Bucket=bucket)
    assert error_code(e) == "NoSuchBucketPolicy", "a refused policy is not stored"


def test_anonymous_cannot_list_or_create_buckets(anon):
    denied(lambda: anon.list_buckets())
    denied(lambda: anon.create_bucket(Bucket="t-anon-create"))


def test_plain_http_anonymous_get_of_private_object(s3, bucket):
    s3.put_object(Bucket=bucket, Key="k", Body=b"x")
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(f"{s3.meta.endpoint_url}/{bucket}/k")
    assert e.value.code == 403


def test_public_access_block_is_enforced(s3, s3_alt, anon, bucket):
    s3.put_object(Bucket=bucket, Key="k", Body=b"x", ACL="public-read")
    assert anon.get_object(Bucket=bucket, Key="k")["Body"].read() == b"x"
    s3.put_public_access_block(Bucket=bucket, PublicAccessBlockConfiguration={
        "BlockPublicAcls": True, "IgnorePublicAcls": True, "BlockPublicPolicy": True, "RestrictPublicBuckets": False})
    denied(lambda: anon.get_object(Bucket=bucket, Key="k"))  # IgnorePublicAcls
    denied(lambda: s3.put_object(Bucket=bucket, Key="k2", Body=b"x", ACL="public-read"))  # BlockPublicAcls
    denied(lambda: s3.put_bucket_acl(Bucket=bucket, ACL="authenticated-read"))
    public = policy(bucket, {"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject",
                             "Resource": f"arn:aws:s3:::{bucket}/*"})
    denied(lambda: s3.put_bucket_policy(Bucket=bucket, Policy=public))  # BlockPublicPolicy
    s3.put_public_access_block(Bucket=bucket, PublicAccessBlockConfiguration={
        "BlockPublicAcls": False, "IgnorePublicAcls": False, "BlockPublicPolicy": False, "RestrictPublicBuckets": True})
    s3.put_object_acl(Bucket=bucket, Key="k", ACL="private")
    s3.put_bucket_policy(Bucket=bucket, Policy=public)
    denied(lambda: anon.get_object(Bucket=bucket, Key="k"))  # RestrictPublicBuckets: the policy
    s3.delete_public_access_block(Bucket=bucket)
    assert anon.get_object(Bucket=bucket, Key="k")["Body"].read() == b"x"


def test_bucket_owner_enforced_turns_acls_off(s3, s3_alt, bucket):
    s3.put_bucket_acl(Bucket=bucket, ACL="public-read")
    enforced = {"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]}
    with pytest.raises(ClientError) as e:
        s3.put_bucket_ownership_controls(Bucket=bucket, OwnershipControls=enforced)
    assert error_code(e) == "InvalidBucketAclWithObjectOwnership"
    s3.put_bucket_acl(Bucket=bucket, ACL="private")
    s3.put_bucket_ownership_controls(Bucket=bucket, OwnershipControls=enforced)
    s3.put_bucket_policy(Bucket=bucket, Policy=policy(
        bucket, {"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "s3:*",
                 "Resource": [f"arn:aws:s3:::{bucket}", f"arn:aws:s3:::{bucket}/*"]}))
    s3_alt.put_object(Bucket=bucket, Key="from-alt", Body=b"a")
    owner = s3.get_bucket_acl(Bucket=bucket)["Owner"]["ID"]
    assert s3.get_object_acl(Bucket=bucket, Key="from-alt")["Owner"]["ID"] == owner
    for call in [lambda: s3_alt.put_object(Bucket=bucket, Key="k", Body=b"a", ACL="private"),
                 lambda: s3.put_object_acl(Bucket=bucket, Key="from-alt", ACL="public-read")]:
        with pytest.raises(ClientError) as e:
            call()
        assert (status(e), error_code(e)) == (400, "AccessControlListNotSupported")
    s3.delete_bucket_policy(Bucket=bucket)


def test_writing_a_replica_needs_replicate_object(s3, s3_alt, bucket):
    """A replica picks its own version id, so marking a write REPLICA is
    s3:ReplicateObject's, whichever way the metadata comes."""
    import requests
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    s3.put_bucket_policy(Bucket=bucket, Policy=policy(bucket, {
        "Effect": "Allow", "Principal": {"AWS": "*"}, "Action": ["s3:PutObject", "s3:GetObject"],
        "Resource": f"arn:aws:s3:::{bucket}/*"}))
    source_vid = s3.put_object(Bucket=bucket, Key="src", Body=b"source")["VersionId"]
    forged = {"scal-replication-status": "REPLICA", "scal-version-id": source_vid}
    denied(lambda: s3_alt.put_object(Bucket=bucket, Key="f1", Body=b"x", Metadata=forged))
    denied(lambda: s3_alt.copy_object(Bucket=bucket, Key="f2", CopySource={"Bucket": bucket, "Key": "src"},
                                      Metadata=forged, MetadataDirective="REPLACE"))
    denied(lambda: s3_alt.create_multipart_upload(Bucket=bucket, Key="f3", Metadata=forged))
    # A POST form's fields reach no header the access check reads: refused even for the owner.
    post = s3.generate_presigned_post(bucket, "f4", Fields={"x-amz-meta-" + k: v for k, v in forged.items()},
                                      Conditions=[{"x-amz-meta-" + k: v} for k, v in forged.items()],
                                      ExpiresIn=600)
    r = requests.post(post["url"], data=post["fields"], files={"file": ("f", b"x")})
    assert r.status_code == 403 and "AccessDenied" in r.text, r.text
    listed = s3.list_object_versions(Bucket=bucket, Prefix="f")
    assert "Versions" not in listed, "nothing forged was stored"
    # The bucket owner holds s3:ReplicateObject: a replica written as such keeps its version id.
    vid = s3.put_object(Bucket=bucket, Key="r", Body=b"replica", Metadata=forged)["VersionId"]
    assert vid == forged["scal-version-id"]
    assert s3.head_object(Bucket=bucket, Key="r")["ReplicationStatus"] == "REPLICA"
