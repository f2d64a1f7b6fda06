"""Replication: one write, copies at a second Strata site, in moto (S3) and in
Azurite (Azure) at once, driven by the background engine.

Site A is a Strata server whose locations point at the three destinations;
every check reads the destination with its own client.
"""
import json
import os
import random
import subprocess
import threading
import time
import urllib.request
import uuid

import pytest
from botocore.exceptions import ClientError

from conftest import BIN, MAIN, Server, s3_client
from test_locations import AZURE_ACCOUNT, AZURE_KEY, TARGET, azurite, eventually, moto  # noqa: F401

MiB = 1 << 20
REPLICAS = "replicas"  # the bucket at site B


@pytest.fixture(scope="module")
def site_b(tmp_root):
    s = Server(tmp_root / "site-b").start()
    c = s.client()
    c.create_bucket(Bucket=REPLICAS)
    c.put_bucket_versioning(Bucket=REPLICAS, VersioningConfiguration={"Status": "Enabled"})
    yield s
    s.stop()


def site_a_config(site_b, moto, azurite, extra=""):
    return f"""
[engine]
replication_attempts = 3
replication_backoff_ms = 50

[[location]]
name = "site-b"
type = "s3"
endpoint = "{site_b.endpoint}"
bucket = "{REPLICAS}"
path_style = true
bucket_match = true
strata = true
access_key = "{MAIN[0]}"
secret_key = "{MAIN[1]}"
timeout_secs = 5
breaker_cooldown_secs = 1

[[location]]
name = "moto"
type = "s3"
endpoint = "{moto.endpoint}"
bucket = "{TARGET}"
path_style = true
bucket_match = true
access_key = "moto"
secret_key = "moto-secret"
timeout_secs = 5
breaker_cooldown_secs = 1

[[location]]
name = "azure"
type = "azure"
account = "{AZURE_ACCOUNT}"
endpoint = "{azurite.endpoint}"
container = "{TARGET}"
access_key = "{AZURE_KEY}"
timeout_secs = 5
breaker_cooldown_secs = 1
{extra}
"""


@pytest.fixture(scope="module")
def site_a(tmp_root, site_b, moto, azurite):
    config = tmp_root / "site-a.toml"
    config.write_text(site_a_config(site_b, moto, azurite, """
[[location]]
name = "missing"
type = "s3"
endpoint = "{moto}"
bucket = "created-later"
path_style = true
bucket_match = true
access_key = "moto"
secret_key = "moto-secret"
timeout_secs = 5
breaker_cooldown_secs = 1

[[location]]
name = "staging"
type = "fs"
path = "{staging}"
transient = true
""".replace("{moto}", moto.endpoint).replace("{staging}", str(tmp_root / "staging"))))
    s = Server(tmp_root / "site-a", extra_env={"STRATA_CONFIG": str(config)}).start()
    yield s
    s.stop()


def cli(site, *args, check=True):
    """Runs `strata replication …` against a site; returns stdout."""
    out = subprocess.run([BIN, "replication", "--endpoint", site.endpoint, "--data-dir", str(site.data_dir), *args],
                         capture_output=True, text=True, timeout=120)
    if check:
        assert out.returncode == 0, out.stderr
    return out.stdout


def replicated_bucket(client, storage_class, prefix=""):
    name = "src-" + uuid.uuid4().hex[:10]
    client.create_bucket(Bucket=name)
    client.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
    rule = {"ID": "r", "Status": "Enabled", "Prefix": prefix,
            "Destination": {"Bucket": "arn:aws:s3:::" + REPLICAS, "StorageClass": storage_class}}
    client.put_bucket_replication(Bucket=name, ReplicationConfiguration={"Role": "arn:aws:iam::1:role/r",
                                                                         "Rules": [rule]})
    return name


def status_of(client, bucket, key, version_id):
    return client.head_object(Bucket=bucket, Key=key, VersionId=version_id).get("ReplicationStatus")


def wait_status(client, bucket, key, version_id, want="COMPLETED", timeout=30):
    def check():
        got = status_of(client, bucket, key, version_id)
        assert got == want, f"{key}: {got}"
    eventually(check, timeout)


def test_one_write_three_destinations(site_a, site_b, moto, azurite):
    a, b = site_a.client(), site_b.client()
    src = replicated_bucket(a, "site-b,moto,azure")
    key = f"{src}/doc.txt"  # keys are unique per test: destinations are shared
    body = b"hello replication " * 100
    put = a.put_object(Bucket=src, Key=key, Body=body, ContentType="text/plain",
                       Metadata={"color": "blue"}, Tagging="team=storage", ChecksumAlgorithm="CRC32")
    vid = put["VersionId"]
    assert status_of(a, src, key, vid) in ("PENDING", "PROCESSING", "COMPLETED")
    wait_status(a, src, key, vid)

    # Site B: same version id, bytes, metadata, tags and checksum; marked REPLICA.
    got = b.get_object(Bucket=REPLICAS, Key=key, VersionId=vid, ChecksumMode="ENABLED")
    assert got["Body"].read() == body
    assert got["ContentType"] == "text/plain"
    assert got["Metadata"] == {"color": "blue"}
    assert got["ReplicationStatus"] == "REPLICA"
    assert got["ETag"] == put["ETag"]
    assert got["ChecksumCRC32"] == put["ChecksumCRC32"]
    assert b.get_object_tagging(Bucket=REPLICAS, Key=key, VersionId=vid)["TagSet"] == [
        {"Key": "team", "Value": "storage"}]

    # moto: the object under its key, with Zenko's replica metadata.
    m = moto.client().get_object(Bucket=TARGET, Key=key)
    assert m["Body"].read() == body
    assert m["Metadata"]["scal-replication-status"] == "REPLICA"
    assert m["Metadata"]["scal-version-id"] == vid
    assert m["Metadata"]["color"] == "blue"
    assert moto.client().get_object_tagging(Bucket=TARGET, Key=key)["TagSet"] == [
        {"Key": "team", "Value": "storage"}]

    # Azurite: the blob, with the metadata (names with '_' for '-').
    blob = azurite.container.get_blob_client(key)
    assert blob.download_blob().readall() == body
    props = blob.get_blob_properties()
    assert props.metadata["scal_replication_status"] == "REPLICA"
    assert props.metadata["scal_version_id"] == vid
    assert props.content_settings.content_type == "text/plain"

    # A tag change replicates; an ACL change does not make it PENDING again.
    a.put_object_tagging(Bucket=src, Key=key, VersionId=vid,
                         Tagging={"TagSet": [{"Key": "team", "Value": "ops"}]})
    wait_status(a, src, key, vid)
    eventually(lambda: assert_tags(b, REPLICAS, key, vid, [{"Key": "team", "Value": "ops"}]))
    eventually(lambda: assert_tags(moto.client(), TARGET, key, None, [{"Key": "team", "Value": "ops"}]))

    # A delete marker: site B gets the same marker; moto loses its copy.
    marker = a.delete_object(Bucket=src, Key=key)["VersionId"]
    def marker_replicated():
        versions = b.list_object_versions(Bucket=REPLICAS, Prefix=key)
        assert [m["VersionId"] for m in versions.get("DeleteMarkers", [])] == [marker]
        with pytest.raises(ClientError):
            moto.client().head_object(Bucket=TARGET, Key=key)
    eventually(marker_replicated)
    # The replica's own replication never ping-pongs: site B has no rules, and
    # its version stays REPLICA.
    assert b.head_object(Bucket=REPLICAS, Key=key, VersionId=vid)["ReplicationStatus"] == "REPLICA"


def assert_tags(client, bucket, key, vid, want):
    kw = {"VersionId": vid} if vid else {}
    assert client.get_object_tagging(Bucket=bucket, Key=key, **kw)["TagSet"] == want


def test_large_multipart_object_replicates(site_a, site_b, moto, azurite):
    a, b = site_a.client(), site_b.client()
    src = replicated_bucket(a, "site-b,moto,azure")
    key = f"{src}/big.bin"
    parts = [os.urandom(5 * MiB), os.urandom(5 * MiB), os.urandom(2 * MiB)]
    up = a.create_multipart_upload(Bucket=src, Key=key, Metadata={"kind": "big"})
    done = [{"PartNumber": i + 1, "ETag": a.upload_part(Bucket=src, Key=key, UploadId=up["UploadId"],
                                                           PartNumber=i + 1, Body=p)["ETag"]}
            for i, p in enumerate(parts)]
    vid = a.complete_multipart_upload(Bucket=src, Key=key, UploadId=up["UploadId"],
                                      MultipartUpload={"Parts": done})["VersionId"]
    wait_status(a, src, key, vid, timeout=60)
    whole = b"".join(parts)
    got = b.get_object(Bucket=REPLICAS, Key=key, VersionId=vid)
    assert got["Body"].read() == whole and got["Metadata"] == {"kind": "big"}
    assert moto.client().get_object(Bucket=TARGET, Key=key)["Body"].read() == whole
    assert azurite.container.get_blob_client(key).download_blob().readall() == whole


def test_destination_failure_lists_then_retry_completes(site_a, moto):
    a = site_a.client()
    src = replicated_bucket(a, "missing")
    key = f"{src}/k"
    vid = a.put_object(Bucket=src, Key=key, Body=b"x")["VersionId"]
    wait_status(a, src, key, vid, want="FAILED")
    failed = json.loads(cli(site_a, "failed", "--location", "missing"))["entries"]
    entry = next(e for e in failed if e["key"] == key)
    assert entry["version_id"] == vid and "missing" in entry["error"]
    # The source stays available while its destination fails.
    assert a.get_object(Bucket=src, Key=key)["Body"].read() == b"x"
    moto.client().create_bucket(Bucket="created-later")
    assert "1 entries sent again" in cli(site_a, "retry", "missing", src, key, vid)
    wait_status(a, src, key, vid)
    assert moto.client().get_object(Bucket="created-later", Key=key)["Body"].read() == b"x"
    assert not any(e["key"] == key for e in json.loads(cli(site_a, "failed"))["entries"])


def test_pause_and_resume(site_a, site_b):
    a, b = site_a.client(), site_b.client()
    src = replicated_bucket(a, "site-b")
    cli(site_a, "pause", "site-b")
    try:
        key = f"{src}/paused"
        vid = a.put_object(Bucket=src, Key=key, Body=b"later")["VersionId"]
        time.sleep(1.5)
        assert status_of(a, src, key, vid) == "PENDING"
        metrics = json.loads(cli(site_a, "status", "site-b"))
        assert metrics["paused"] is True and metrics["backlog"]["objects"] >= 1
        with pytest.raises(ClientError):
            b.head_object(Bucket=REPLICAS, Key=key, VersionId=vid)
    finally:
        cli(site_a, "resume", "site-b")
    wait_status(a, src, key, vid)
    assert b.get_object(Bucket=REPLICAS, Key=key, VersionId=vid)["Body"].read() == b"later"


def test_backfill_replicates_what_predates_the_rule(site_a, site_b):
    a, b = site_a.client(), site_b.client()
    name = "old-" + uuid.uuid4().hex[:10]
    a.create_bucket(Bucket=name)
    a.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
    vids = {f"{name}/o{i}": a.put_object(Bucket=name, Key=f"{name}/o{i}", Body=b"%d" % i)["VersionId"]
            for i in range(30)}
    a.put_bucket_replication(Bucket=name, ReplicationConfiguration={"Role": "r", "Rules": [
        {"ID": "r", "Status": "Enabled", "Prefix": "",
         "Destination": {"Bucket": "arn:aws:s3:::" + REPLICAS, "StorageClass": "site-b"}}]})
    assert status_of(a, name, f"{name}/o0", vids[f"{name}/o0"]) is None
    cli(site_a, "backfill", name)
    for key, vid in vids.items():
        wait_status(a, name, key, vid)
        assert b.head_object(Bucket=REPLICAS, Key=key, VersionId=vid)["ReplicationStatus"] == "REPLICA"


def stored_blobs(location_dir):
    return [p for p in (location_dir / "blobs").rglob("*") if p.is_file()]


def test_transient_source_lets_go_once_replicated(tmp_root, site_a, site_b, moto):
    """A bucket on a transient location: once every destination holds a
    version, the local bytes go and reads are served by the preferred
    destination's copy of that very version, even after newer versions."""
    a, b = site_a.client(), site_b.client()
    name = "transient-" + uuid.uuid4().hex[:8]
    a.create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": "staging"})
    a.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
    a.put_bucket_replication(Bucket=name, ReplicationConfiguration={"Role": "r", "Rules": [
        {"ID": "r", "Status": "Enabled", "Prefix": "",
         "Destination": {"Bucket": "arn:aws:s3:::" + REPLICAS, "StorageClass": "moto,site-b:preferred_read"}}]})
    key = f"{name}/doc"
    small, large = b"first version", os.urandom(3 * MiB)
    kept = len(stored_blobs(tmp_root / "staging"))  # other tests' blobs
    v1 = a.put_object(Bucket=name, Key=key, Body=small)["VersionId"]
    v2 = a.put_object(Bucket=name, Key=key, Body=large, ContentType="application/x-big")["VersionId"]
    for vid in (v1, v2):
        wait_status(a, name, key, vid)
    def let_go():
        assert len(stored_blobs(tmp_root / "staging")) == kept
    eventually(let_go, 40)

    # Served by site B's copies, whole and in ranges, each version its own bytes.
    assert a.get_object(Bucket=name, Key=key, VersionId=v1)["Body"].read() == small
    got = a.get_object(Bucket=name, Key=key)
    assert got["VersionId"] == v2 and got["ContentType"] == "application/x-big"
    assert got["Body"].read() == large
    part = a.get_object(Bucket=name, Key=key, Range="bytes=1000000-1000099")["Body"].read()
    assert part == large[1000000:1000100]
    # A newer version replaces the current copies; older ones still read.
    v3 = a.put_object(Bucket=name, Key=key, Body=b"third")["VersionId"]
    wait_status(a, name, key, v3)
    assert moto.client().get_object(Bucket=TARGET, Key=key)["Body"].read() == b"third"
    assert a.get_object(Bucket=name, Key=key, VersionId=v2)["Body"].read() == large
    assert a.get_object(Bucket=name, Key=key, VersionId=v1)["Body"].read() == small
    # Deleting a source version leaves the destination's replica alone.
    a.delete_object(Bucket=name, Key=key, VersionId=v1)
    assert b.get_object(Bucket=REPLICAS, Key=key, VersionId=v1)["Body"].read() == small


def test_transient_source_keeps_bytes_no_destination_can_pin(tmp_root, site_a, moto):
    """moto's bucket keeps no versions: a newer version would replace the only
    copy of an older one, so the transient source keeps its bytes."""
    a = site_a.client()
    name = "transient-" + uuid.uuid4().hex[:8]
    a.create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": "staging"})
    a.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
    a.put_bucket_replication(Bucket=name, ReplicationConfiguration={"Role": "r", "Rules": [
        {"ID": "r", "Status": "Enabled", "Prefix": "",
         "Destination": {"Bucket": "arn:aws:s3:::" + REPLICAS, "StorageClass": "moto"}}]})
    key = f"{name}/kept"
    body = os.urandom(2 * MiB)
    before = len(stored_blobs(tmp_root / "staging"))
    vid = a.put_object(Bucket=name, Key=key, Body=body)["VersionId"]
    wait_status(a, name, key, vid)
    a.put_object(Bucket=name, Key=key, Body=b"newer")
    time.sleep(1)
    assert len(stored_blobs(tmp_root / "staging")) == before + 1
    assert a.get_object(Bucket=name, Key=key, VersionId=vid)["Body"].read() == body


def test_operator_api_and_metrics(site_a):
    # The API wants its token; the metrics are plain Prometheus text.
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(site_a.endpoint + "/_/backbeat/api/crr/status")
    assert e.value.code == 403
    status = json.loads(cli(site_a, "status"))
    assert {m["location"] for m in status} >= {"site-b", "moto", "azure"}
    text = urllib.request.urlopen(site_a.endpoint + "/metrics").read().decode()
    for name in ("s3_replication_backlog_objects", "s3_replication_rpo_seconds",
                 "s3_replication_completed_objects_total", "s3_replication_failed_objects_total"):
        assert f'{name}{{location="site-b"}}' in text


def test_unknown_location_in_a_rule_is_refused(site_a):
    a = site_a.client()
    name = "bad-" + uuid.uuid4().hex[:10]
    a.create_bucket(Bucket=name)
    a.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
    with pytest.raises(ClientError) as e:
        a.put_bucket_replication(Bucket=name, ReplicationConfiguration={"Role": "r", "Rules": [
            {"ID": "r", "Status": "Enabled", "Prefix": "",
             "Destination": {"Bucket": "arn:aws:s3:::x", "StorageClass": "site-b,nowhere"}}]})
    assert e.value.response["Error"]["Code"] == "InvalidStorageClass"


def test_kill9_during_load_loses_nothing(tmp_root, site_b, moto, azurite):
    """1,000 PUTs while the replicating server is killed at random moments:
    after restart every version reaches COMPLETED and site B holds exactly
    the source's versions."""
    config = tmp_root / "crash.toml"
    config.write_text(site_a_config(site_b, moto, azurite))
    site = Server(tmp_root / "crash-site", extra_env={"STRATA_CONFIG": str(config)}).start()
    a = site.client()
    src = replicated_bucket(a, "site-b")
    acknowledged = {}
    lock = threading.Lock()
    todo = list(range(1000))

    def writer():
        client = s3_client(site.endpoint)
        while True:
            with lock:
                if not todo:
                    return
                i = todo.pop()
            key = f"{src}/k{i:04d}"
            while True:
                try:
                    vid = client.put_object(Bucket=src, Key=key, Body=b"v%d" % i)["VersionId"]
                    with lock:
                        acknowledged[key] = vid
                    break
                except Exception:
                    time.sleep(0.2)  # the server is down: try again once it is back

    threads = [threading.Thread(target=writer) for _ in range(8)]
    for t in threads:
        t.start()
    rng = random.Random(7)
    for _ in range(3):
        time.sleep(rng.uniform(0.5, 2.0))
        site.kill9()
        site.start()
    for t in threads:
        t.join()
    assert len(acknowledged) == 1000

    versions = []
    for page in a.get_paginator("list_object_versions").paginate(Bucket=src):
        versions += [(v["Key"], v["VersionId"]) for v in page.get("Versions", [])]
    assert set(acknowledged.items()) <= set(versions), "an acknowledged write was lost"

    def all_completed():
        pending = [k for k, v in versions if status_of(a, src, k, v) != "COMPLETED"]
        assert not pending, f"{len(pending)} not COMPLETED, e.g. {pending[:3]}"
    eventually(all_completed, timeout=180)
    replicas = []
    for page in site_b.client().get_paginator("list_object_versions").paginate(Bucket=REPLICAS, Prefix=src + "/"):
        replicas += [(v["Key"], v["VersionId"]) for v in page.get("Versions", [])]
    assert sorted(replicas) == sorted(versions), "site B must hold exactly the source's versions"
    site.stop()
