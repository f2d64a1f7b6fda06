"""Bucket configuration documents through boto3: tagging, lifecycle,
replication, notification, default encryption, ownership controls, public
access block, and the small APIs clients probe (Terraform's read sequence)."""
import datetime

import pytest
from botocore.exceptions import ClientError

from conftest import error_code


def status(excinfo):
    return excinfo.value.response["ResponseMetadata"]["HTTPStatusCode"]


def refused(call, code, http_status=400, **kw):
    with pytest.raises(ClientError) as e:
        call(**kw)
    assert (error_code(e), status(e)) == (code, http_status), e.value.response["Error"]
    return e.value.response["Error"].get("Message", "")


# ------------------------------------------------------------------ tagging

def test_bucket_tagging_round_trip(s3, bucket):
    refused(s3.get_bucket_tagging, "NoSuchTagSet", 404, Bucket=bucket)
    tags = [{"Key": "team", "Value": "storage"}, {"Key": "empty", "Value": ""}]
    s3.put_bucket_tagging(Bucket=bucket, Tagging={"TagSet": tags})
    got = s3.get_bucket_tagging(Bucket=bucket)["TagSet"]
    assert sorted(got, key=lambda t: t["Key"]) == sorted(tags, key=lambda t: t["Key"])
    s3.delete_bucket_tagging(Bucket=bucket)
    refused(s3.get_bucket_tagging, "NoSuchTagSet", 404, Bucket=bucket)


@pytest.mark.parametrize("tags,message", [
    ([{"Key": f"k{i}", "Value": "v"} for i in range(51)], "Bucket tag count cannot be greater than 50"),
    ([{"Key": "k" * 129, "Value": "v"}], "The TagKey you have provided is invalid"),
    ([{"Key": "k", "Value": "v" * 257}], "The TagValue you have provided is invalid"),
    ([{"Key": "k", "Value": "1"}, {"Key": "k", "Value": "2"}], "Cannot provide multiple Tags with the same key"),
    ([{"Key": "aws:cloudformation:stack-name", "Value": "s"}], "System tags cannot be added/updated by requester"),
])
def test_bucket_tagging_limits(s3, bucket, tags, message):
    s3.put_bucket_tagging(Bucket=bucket, Tagging={"TagSet": [{"Key": "keep", "Value": "me"}]})
    assert refused(s3.put_bucket_tagging, "InvalidTag", Bucket=bucket, Tagging={"TagSet": tags}).startswith(message)
    assert s3.get_bucket_tagging(Bucket=bucket)["TagSet"] == [{"Key": "keep", "Value": "me"}]


def test_bucket_tagging_at_the_limits(s3, bucket):
    tags = [{"Key": f"{i:03d}" + "k" * 125, "Value": "v" * 256} for i in range(50)]
    s3.put_bucket_tagging(Bucket=bucket, Tagging={"TagSet": tags})
    assert len(s3.get_bucket_tagging(Bucket=bucket)["TagSet"]) == 50


def test_bucket_config_is_for_the_owner_only(s3_alt, bucket):
    refused(s3_alt.put_bucket_tagging, "AccessDenied", 403, Bucket=bucket,
            Tagging={"TagSet": [{"Key": "a", "Value": "b"}]})
    refused(s3_alt.get_bucket_lifecycle_configuration, "AccessDenied", 403, Bucket=bucket)


def test_bucket_config_of_missing_bucket(s3):
    refused(s3.get_bucket_tagging, "NoSuchBucket", 404, Bucket="no-such-bucket-cfg")


# ------------------------------------------------------------------ lifecycle

FULL_LIFECYCLE = [
    {"ID": "expire-logs", "Status": "Enabled", "Filter": {"Prefix": "logs/"}, "Expiration": {"Days": 30}},
    {"ID": "by-date", "Status": "Disabled", "Filter": {"Tag": {"Key": "tmp", "Value": "1"}},
     "Expiration": {"Date": datetime.datetime(2030, 1, 1, tzinfo=datetime.timezone.utc)}},
    {"ID": "markers", "Status": "Enabled", "Filter": {}, "Expiration": {"ExpiredObjectDeleteMarker": True},
     "NoncurrentVersionExpiration": {"NoncurrentDays": 10, "NewerNoncurrentVersions": 3}},
    {"ID": "move", "Status": "Enabled",
     "Filter": {"And": {"Prefix": "big/", "Tags": [{"Key": "a", "Value": "b"}],
                        "ObjectSizeGreaterThan": 1024, "ObjectSizeLessThan": 1 << 30}},
     "Transitions": [{"Days": 30, "StorageClass": "local"}],
     "NoncurrentVersionTransitions": [{"NoncurrentDays": 5, "StorageClass": "local"}]},
    {"ID": "uploads", "Status": "Enabled", "Filter": {"ObjectSizeGreaterThan": 10},
     "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 7}},
    {"ID": "legacy", "Status": "Enabled", "Prefix": "old/", "Expiration": {"Days": 1}},
]


def test_lifecycle_round_trip(s3, bucket):
    refused(s3.get_bucket_lifecycle_configuration, "NoSuchLifecycleConfiguration", 404, Bucket=bucket)
    s3.put_bucket_lifecycle_configuration(Bucket=bucket, LifecycleConfiguration={"Rules": FULL_LIFECYCLE})
    rules = s3.get_bucket_lifecycle_configuration(Bucket=bucket)["Rules"]
    assert [r["ID"] for r in rules] == [r["ID"] for r in FULL_LIFECYCLE]
    assert rules[0]["Expiration"] == {"Days": 30}
    assert rules[1]["Expiration"]["Date"] == datetime.datetime(2030, 1, 1, tzinfo=datetime.timezone.utc)
    assert rules[3]["Filter"]["And"]["ObjectSizeGreaterThan"] == 1024
    assert rules[3]["Transitions"] == [{"Days": 30, "StorageClass": "local"}]
    assert rules[4]["AbortIncompleteMultipartUpload"] == {"DaysAfterInitiation": 7}
    assert rules[5]["Prefix"] == "old/"
    # The pre-2016 API reads the same configuration.
    assert [r["ID"] for r in s3.get_bucket_lifecycle(Bucket=bucket)["Rules"]] == [r["ID"] for r in FULL_LIFECYCLE]
    s3.delete_bucket_lifecycle(Bucket=bucket)
    refused(s3.get_bucket_lifecycle_configuration, "NoSuchLifecycleConfiguration", 404, Bucket=bucket)


def rule(**kw):
    r = {"ID": "r", "Status": "Enabled", "Filter": {"Prefix": ""}, "Expiration": {"Days": 1}}
    r.update(kw)
    return r


@pytest.mark.parametrize("rules,code", [
    ([rule(Expiration={"Days": 0})], "InvalidArgument"),
    ([rule(Expiration={"Days": -3})], "InvalidArgument"),
    ([rule(Expiration={"Date": datetime.datetime(2030, 1, 1, 12, tzinfo=datetime.timezone.utc)})], "InvalidArgument"),
    ([rule(Status="enabled")], "MalformedXML"),
    ([rule(ID="x" * 256)], "InvalidArgument"),
    ([rule(), rule()], "InvalidArgument"),
    ([{"ID": "r", "Status": "Enabled", "Filter": {"Prefix": "a"}}], "InvalidRequest"),
    ([rule(Transitions=[{"Days": 30, "StorageClass": "GLACIER"}])], "InvalidStorageClass"),
    ([rule(NoncurrentVersionTransitions=[{"NoncurrentDays": 3, "StorageClass": "nowhere"}])], "InvalidStorageClass"),
    ([rule(NoncurrentVersionExpiration={"NoncurrentDays": 0})], "InvalidArgument"),
    ([rule(AbortIncompleteMultipartUpload={"DaysAfterInitiation": 0})], "InvalidArgument"),
    ([rule(Filter={"Prefix": "a", "ObjectSizeGreaterThan": 5})], "MalformedXML"),
    ([rule(Expiration={"Days": 1, "ExpiredObjectDeleteMarker": True})], "MalformedXML"),
    ([rule(ID=f"r{i}") for i in range(1001)], "InvalidRequest"),
])
def test_lifecycle_refused(s3, bucket, rules, code):
    s3.put_bucket_lifecycle_configuration(Bucket=bucket, LifecycleConfiguration={"Rules": [rule(ID="kept")]})
    refused(s3.put_bucket_lifecycle_configuration, code, Bucket=bucket, LifecycleConfiguration={"Rules": rules})
    assert [r["ID"] for r in s3.get_bucket_lifecycle_configuration(Bucket=bucket)["Rules"]] == ["kept"]


def test_lifecycle_malformed_xml(server, bucket):
    raw = server.client()
    def bad_body(request, **_):
        request.data = b"<LifecycleConfiguration><Rule><Status>Enabled</Rule></LifecycleConfiguration>"
    raw.meta.events.register("before-sign.s3.PutBucketLifecycleConfiguration", bad_body)
    refused(raw.put_bucket_lifecycle_configuration, "MalformedXML", Bucket=bucket,
            LifecycleConfiguration={"Rules": [rule()]})


# ------------------------------------------------------------------ replication

def replication(storage_class="local", **rule_kw):
    r = {"ID": "to-clouds", "Priority": 1, "Status": "Enabled", "Filter": {"Prefix": "docs/"},
         "DeleteMarkerReplication": {"Status": "Disabled"},
         "Destination": {"Bucket": "arn:aws:s3:::backup-bucket", "StorageClass": storage_class}}
    r.update(rule_kw)
    return {"Role": "arn:aws:iam::000000000000:role/replication", "Rules": [r]}


def test_replication_needs_versioning(s3, bucket):
    message = refused(s3.put_bucket_replication, "InvalidRequest", Bucket=bucket,
                      ReplicationConfiguration=replication())
    assert message == "Versioning must be 'Enabled' on the bucket to apply a replication configuration"
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Suspended"})
    refused(s3.put_bucket_replication, "InvalidRequest", Bucket=bucket, ReplicationConfiguration=replication())


def test_replication_round_trip(s3, bucket):
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    refused(s3.get_bucket_replication, "ReplicationConfigurationNotFoundError", 404, Bucket=bucket)
    s3.put_bucket_replication(Bucket=bucket, ReplicationConfiguration=replication())
    got = s3.get_bucket_replication(Bucket=bucket)["ReplicationConfiguration"]
    assert got["Role"] == "arn:aws:iam::000000000000:role/replication"
    assert got["Rules"][0]["Destination"] == {"Bucket": "arn:aws:s3:::backup-bucket", "StorageClass": "local"}
    assert got["Rules"][0]["Filter"] == {"Prefix": "docs/"}
    refused(s3.put_bucket_versioning, "InvalidBucketState", 409, Bucket=bucket,
            VersioningConfiguration={"Status": "Suspended"})
    s3.delete_bucket_replication(Bucket=bucket)
    refused(s3.get_bucket_replication, "ReplicationConfigurationNotFoundError", 404, Bucket=bucket)
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Suspended"})


def test_replication_several_locations_and_unknown_one(s3, bucket):
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    # Zenko's convention: StorageClass lists one or several locations; all must exist.
    message = refused(s3.put_bucket_replication, "InvalidStorageClass", Bucket=bucket,
                      ReplicationConfiguration=replication("local,azure-west"))
    assert "azure-west" in message
    refused(s3.get_bucket_replication, "ReplicationConfigurationNotFoundError", 404, Bucket=bucket)


@pytest.mark.parametrize("kw,code", [
    ({"Destination": {"Bucket": "backup-bucket"}}, "InvalidArgument"),
    ({"Destination": {"Bucket": "arn:aws:s3:::backup-bucket"}}, "InvalidRequest"),  # no location to send to
    ({"Status": "On"}, "MalformedXML"),
    ({"DeleteMarkerReplication": None}, "InvalidRequest"),
])
def test_replication_refused(s3, bucket, kw, code):
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    config = replication(**kw)
    config["Rules"][0] = {k: v for k, v in config["Rules"][0].items() if v is not None}
    refused(s3.put_bucket_replication, code, Bucket=bucket, ReplicationConfiguration=config)


def test_replication_legacy_prefix_and_many_rules(s3, bucket):
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    rules = [{"ID": f"r{i}", "Prefix": f"p{i}/", "Status": "Enabled",
              "Destination": {"Bucket": "arn:aws:s3:::dst", "StorageClass": "local"}} for i in range(3)]
    s3.put_bucket_replication(Bucket=bucket, ReplicationConfiguration={"Role": "", "Rules": rules})
    assert len(s3.get_bucket_replication(Bucket=bucket)["ReplicationConfiguration"]["Rules"]) == 3
    rules.append(dict(rules[0]))
    refused(s3.put_bucket_replication, "InvalidArgument", Bucket=bucket,
            ReplicationConfiguration={"Role": "", "Rules": rules})


# ------------------------------------------------------------------ notification

def test_notification_round_trip_and_clear(s3, bucket):
    assert "QueueConfigurations" not in s3.get_bucket_notification_configuration(Bucket=bucket)
    config = {
        "QueueConfigurations": [{
            "Id": "uploads", "QueueArn": "arn:aws:sqs:us-east-1:000000000000:uploads",
            "Events": ["s3:ObjectCreated:*"],
            "Filter": {"Key": {"FilterRules": [{"Name": "prefix", "Value": "in/"},
                                               {"Name": "suffix", "Value": ".jpg"}]}},
        }],
        "TopicConfigurations": [{"TopicArn": "arn:aws:sns:us-east-1:000000000000:t",
                                 "Events": ["s3:ObjectRemoved:Delete"]}],
    }
    s3.put_bucket_notification_configuration(Bucket=bucket, NotificationConfiguration=config)
    got = s3.get_bucket_notification_configuration(Bucket=bucket)
    assert got["QueueConfigurations"][0]["Events"] == ["s3:ObjectCreated:*"]
    assert got["QueueConfigurations"][0]["Filter"]["Key"]["FilterRules"][1]["Value"] == ".jpg"
    assert got["TopicConfigurations"][0]["Events"] == ["s3:ObjectRemoved:Delete"]
    s3.put_bucket_notification_configuration(Bucket=bucket, NotificationConfiguration={})
    got = s3.get_bucket_notification_configuration(Bucket=bucket)
    assert "QueueConfigurations" not in got and "TopicConfigurations" not in got


@pytest.mark.parametrize("events,rules", [
    (["s3:ObjectCreated:Bogus"], []),
    (["s3:ObjectCreated:*"], [{"Name": "middle", "Value": "x"}]),
])
def test_notification_refused(s3, bucket, events, rules):
    qc = {"QueueArn": "arn:aws:sqs:us-east-1:0:q", "Events": events}
    if rules:
        qc["Filter"] = {"Key": {"FilterRules": rules}}
    refused(s3.put_bucket_notification_configuration, "InvalidArgument", Bucket=bucket,
            NotificationConfiguration={"QueueConfigurations": [qc]})


# ------------------------------------------------------------------ encryption

def test_encryption_config(s3, bucket):
    refused(s3.get_bucket_encryption, "ServerSideEncryptionConfigurationNotFoundError", 404, Bucket=bucket)
    config = {"Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"},
                         "BucketKeyEnabled": False}]}
    s3.put_bucket_encryption(Bucket=bucket, ServerSideEncryptionConfiguration=config)
    got = s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]
    assert got["Rules"][0]["ApplyServerSideEncryptionByDefault"] == {"SSEAlgorithm": "AES256"}
    kms = {"Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": "k"}}]}
    s3.put_bucket_encryption(Bucket=bucket, ServerSideEncryptionConfiguration=kms)
    got = s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]
    assert got["Rules"][0]["ApplyServerSideEncryptionByDefault"] == kms["Rules"][0]["ApplyServerSideEncryptionByDefault"]
    refused(s3.put_bucket_encryption, "MalformedXML", Bucket=bucket,
            ServerSideEncryptionConfiguration={"Rules": [{"ApplyServerSideEncryptionByDefault": {
                "SSEAlgorithm": "rot13"}}]})
    s3.delete_bucket_encryption(Bucket=bucket)
    refused(s3.get_bucket_encryption, "ServerSideEncryptionConfigurationNotFoundError", 404, Bucket=bucket)


# ------------------------------------------------------------------ ownership, public access block

def test_ownership_controls(s3, bucket):
    refused(s3.get_bucket_ownership_controls, "OwnershipControlsNotFoundError", 404, Bucket=bucket)
    s3.put_bucket_ownership_controls(Bucket=bucket, OwnershipControls={
        "Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]})
    got = s3.get_bucket_ownership_controls(Bucket=bucket)["OwnershipControls"]
    assert got == {"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]}
    refused(s3.put_bucket_ownership_controls, "MalformedXML", Bucket=bucket,
            OwnershipControls={"Rules": [{"ObjectOwnership": "Everyone"}]})
    s3.delete_bucket_ownership_controls(Bucket=bucket)
    refused(s3.get_bucket_ownership_controls, "OwnershipControlsNotFoundError", 404, Bucket=bucket)


def test_public_access_block(s3, bucket):
    refused(s3.get_public_access_block, "NoSuchPublicAccessBlockConfiguration", 404, Bucket=bucket)
    s3.put_public_access_block(Bucket=bucket, PublicAccessBlockConfiguration={
        "BlockPublicAcls": True, "RestrictPublicBuckets": True})
    got = s3.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"]
    assert got == {"BlockPublicAcls": True, "IgnorePublicAcls": False,
                   "BlockPublicPolicy": False, "RestrictPublicBuckets": True}
    s3.delete_public_access_block(Bucket=bucket)
    refused(s3.get_public_access_block, "NoSuchPublicAccessBlockConfiguration", 404, Bucket=bucket)


def test_request_payment(s3, bucket):
    assert s3.get_bucket_request_payment(Bucket=bucket)["Payer"] == "BucketOwner"
    s3.put_bucket_request_payment(Bucket=bucket, RequestPaymentConfiguration={"Payer": "BucketOwner"})
    refused(s3.put_bucket_request_payment, "NotImplemented", 501, Bucket=bucket,
            RequestPaymentConfiguration={"Payer": "Requester"})
    assert s3.get_bucket_request_payment(Bucket=bucket)["Payer"] == "BucketOwner"


def test_config_goes_with_the_bucket(s3):
    name = "cfg-gone-with-bucket"
    s3.create_bucket(Bucket=name)
    s3.put_bucket_tagging(Bucket=name, Tagging={"TagSet": [{"Key": "a", "Value": "b"}]})
    s3.delete_bucket(Bucket=name)
    s3.create_bucket(Bucket=name)
    try:
        refused(s3.get_bucket_tagging, "NoSuchTagSet", 404, Bucket=name)
    finally:
        s3.delete_bucket(Bucket=name)


# ------------------------------------------------------------------ Terraform's read sequence

def test_terraform_read_sequence_of_a_plain_bucket(s3, bucket):
    """What terraform-provider-aws's aws_s3_bucket reads after CreateBucket."""
    assert s3.get_bucket_acl(Bucket=bucket)["Grants"][0]["Permission"] == "FULL_CONTROL"
    refused(s3.get_bucket_cors, "NoSuchCORSConfiguration", 404, Bucket=bucket)
    refused(s3.get_bucket_website, "NoSuchWebsiteConfiguration", 404, Bucket=bucket)
    assert "Status" not in s3.get_bucket_versioning(Bucket=bucket)
    assert "Status" not in s3.get_bucket_accelerate_configuration(Bucket=bucket)
    assert s3.get_bucket_request_payment(Bucket=bucket)["Payer"] == "BucketOwner"
    assert "LoggingEnabled" not in s3.get_bucket_logging(Bucket=bucket)
    refused(s3.get_bucket_lifecycle_configuration, "NoSuchLifecycleConfiguration", 404, Bucket=bucket)
    refused(s3.get_bucket_replication, "ReplicationConfigurationNotFoundError", 404, Bucket=bucket)
    refused(s3.get_bucket_encryption, "ServerSideEncryptionConfigurationNotFoundError", 404, Bucket=bucket)
    refused(s3.get_object_lock_configuration, "ObjectLockConfigurationNotFoundError", 404, Bucket=bucket)
    assert s3.get_bucket_location(Bucket=bucket)["LocationConstraint"] is None
    refused(s3.get_bucket_tagging, "NoSuchTagSet", 404, Bucket=bucket)


def test_rules_without_id_get_one(s3, bucket):
    s3.put_bucket_lifecycle_configuration(Bucket=bucket, LifecycleConfiguration={
        "Rules": [{"Status": "Enabled", "Prefix": "a/", "Expiration": {"Days": 3}}]})
    (only,) = s3.get_bucket_lifecycle_configuration(Bucket=bucket)["Rules"]
    assert len(only["ID"]) > 0


def test_create_bucket_with_object_ownership(s3):
    name = "cfg-ownership-at-create"
    s3.create_bucket(Bucket=name, ObjectOwnership="ObjectWriter")
    try:
        got = s3.get_bucket_ownership_controls(Bucket=name)["OwnershipControls"]
        assert got == {"Rules": [{"ObjectOwnership": "ObjectWriter"}]}
    finally:
        s3.delete_bucket(Bucket=name)
    refused(s3.create_bucket, "InvalidArgument", Bucket=name, ObjectOwnership="Nobody")
    refused(s3.head_bucket, "404", 404, Bucket=name)
