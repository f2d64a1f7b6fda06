"""Replication: one write, copies at a second Strata site, in moto (S3) and in
Azurite (Azure) at once, driven by the background engine.

Site A is a Strata server whose locations point at the three destinations;
every check reads the destination with its own client.
"""
import base64
import datetime
import hashlib
import hmac
import json
import os
import random
import re
import subprocess
import threading
import time
import urllib.error
import urllib.request
import uuid

import pytest
from botocore.exceptions import ClientError

from conftest import BIN, MAIN, Server, error_code, free_port, s3_client
from test_locations import (TARGET, FaultyProxy, admin_online, azure_location, azurite,  # noqa: F401
                            eventually, moto, s3_location)

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
    quick_breaker = "timeout_secs = 5\nbreaker_cooldown_secs = 1"
    return f"""
[engine]
replication_attempts = 3
replication_backoff_ms = 50
{s3_location("site-b", site_b.endpoint, REPLICAS, keys=MAIN, strata=True)}
{s3_location("moto", moto.endpoint, TARGET)}
{azure_location("azure", azurite.endpoint, extra=quick_breaker)}
{s3_location("moto-parted", moto.endpoint, TARGET)}max_single_put_mib = 5
{s3_location("site-b-parted", site_b.endpoint, REPLICAS, keys=MAIN, strata=True)}max_single_put_mib = 5
{azure_location("azure-parted", azurite.endpoint, extra="max_single_put_mib = 5")}
{extra}
"""


@pytest.fixture(scope="module")
def site_a(tmp_root, site_b, moto, azurite):
    config = tmp_root / "site-a.toml"
    config.write_text(site_a_config(site_b, moto, azurite, s3_location("missing", moto.endpoint, "created-later") + f"""
[[location]]
name = "staging"
type = "fs"
path = "{tmp_root / 'staging'}"
transient = true
"""))
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


def replicated_bucket(client, storage_class, prefix="", location=None):
    name = "src-" + uuid.uuid4().hex[:10]
    placed = {"CreateBucketConfiguration": {"LocationConstraint": location}} if location else {}
    client.create_bucket(Bucket=name, **placed)
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
        assert_gone(moto.client(), TARGET, key)
    eventually(marker_replicated)
    # The replica's own replication never ping-pongs: site B has no rules, and
    # its version stays REPLICA.
    assert b.head_object(Bucket=REPLICAS, Key=key, VersionId=vid)["ReplicationStatus"] == "REPLICA"


def assert_gone(client, bucket, key):
    """An AssertionError (which `eventually` retries) while the object is there."""
    try:
        client.head_object(Bucket=bucket, Key=key)
    except ClientError as e:
        assert e.response["Error"]["Code"] in ("404", "NoSuchKey"), e
        return
    raise AssertionError(f"{bucket}/{key} is still there")


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


def test_copies_over_the_single_put_limit_go_in_parts_under_their_exact_names(site_a, site_b, moto, azurite):
    """Over a location's `max_single_put_mib` a copy is a multipart upload
    (S3, a Strata site) or a block list (Azure) of streamed parts, named
    exactly (an empty segment), with its metadata, content type and tags;
    a Strata site keeps the version id."""
    a = site_a.client()
    src = replicated_bucket(a, "moto-parted,azure-parted,site-b-parted")
    key = f"{src}/a//big.bin"
    body = os.urandom(12 * MiB + 3)
    vid = a.put_object(Bucket=src, Key=key, Body=body, ContentType="text/csv", Metadata={"kind": "big"},
                       Tagging="team=data")["VersionId"]
    wait_status(a, src, key, vid, timeout=60)
    at_moto = moto.client().get_object(Bucket=TARGET, Key=key)
    assert at_moto["Body"].read() == body
    assert at_moto["ETag"].endswith('-3"'), at_moto["ETag"]  # three 5 MiB parts
    assert at_moto["ContentType"] == "text/csv" and at_moto["Metadata"]["kind"] == "big"
    assert moto.client().get_object_tagging(Bucket=TARGET, Key=key)["TagSet"] == [{"Key": "team", "Value": "data"}]
    blob = azurite.container.get_blob_client(key)
    assert blob.download_blob().readall() == body
    properties = blob.get_blob_properties()
    assert properties.content_settings.content_type == "text/csv" and properties.metadata["kind"] == "big"
    assert blob.get_blob_tags() == {"team": "data"}
    committed, _ = blob.get_block_list()
    assert len(committed) == 3  # three 5 MiB blocks
    at_site_b = site_b.client().get_object(Bucket=REPLICAS, Key=key, VersionId=vid)
    # A replica keeps its source's ETag (so it cannot tell the parts).
    assert at_site_b["Body"].read() == body
    assert at_site_b["ETag"] == a.head_object(Bucket=src, Key=key, VersionId=vid)["ETag"]
    assert at_site_b["ReplicationStatus"] == "REPLICA" and at_site_b["Metadata"] == {"kind": "big"}


def test_folder_markers_and_keys_a_path_would_alter_replicate(site_a, site_b, moto, azurite):
    """A console's `folder/` marker and a key with an empty segment reach
    every destination, S3 and Azure, under exactly their names (not refused
    as paths)."""
    a, b = site_a.client(), site_b.client()
    src = replicated_bucket(a, "site-b,moto,azure")
    keys = [f"{src}/photos/", f"{src}/a//b"]
    versions = {key: a.put_object(Bucket=src, Key=key, Body=key.encode())["VersionId"] for key in keys}
    for key, vid in versions.items():
        wait_status(a, src, key, vid)
        assert b.get_object(Bucket=REPLICAS, Key=key, VersionId=vid)["Body"].read() == key.encode()
        assert moto.client().get_object(Bucket=TARGET, Key=key)["Body"].read() == key.encode()
        assert azurite.container.get_blob_client(key).download_blob().readall() == key.encode()
    a.delete_object(Bucket=src, Key=keys[0])
    eventually(lambda: assert_gone(moto.client(), TARGET, keys[0]))
    eventually(lambda: assert_not_in_azure(azurite, keys[0]))


def assert_not_in_azure(azurite, name):
    assert name not in [b.name for b in azurite.container.list_blobs(name_starts_with=name)]


def test_destination_failure_lists_then_retry_completes(site_a, moto):
    a = site_a.client()
    src = replicated_bucket(a, "missing")
    key = f"{src}/k"
    vid = a.put_object(Bucket=src, Key=key, Body=b"x")["VersionId"]
    other = f"{src}/tagged-later"
    other_vid = a.put_object(Bucket=src, Key=other, Body=b"y")["VersionId"]
    wait_status(a, src, key, vid, want="FAILED")
    wait_status(a, src, other, other_vid, want="FAILED")
    failed = json.loads(cli(site_a, "failed", "--location", "missing"))["entries"]
    entry = next(e for e in failed if e["key"] == key)
    assert entry["version_id"] == vid and entry["error"].startswith("missing: ")
    assert "404 Not Found" in entry["error"] and "<Code>NoSuchBucket</Code>" in entry["error"], entry
    # The source stays available while its destination fails.
    assert a.get_object(Bucket=src, Key=key)["Body"].read() == b"x"
    moto.client().create_bucket(Bucket="created-later")
    assert "1 entries sent again" in cli(site_a, "retry", "missing", src, key, vid)
    wait_status(a, src, key, vid)
    assert moto.client().get_object(Bucket="created-later", Key=key)["Body"].read() == b"x"
    assert not any(e["key"] == key for e in json.loads(cli(site_a, "failed"))["entries"])
    # A version that completes without a retry (a tag change sends it again) leaves the list too.
    a.put_object_tagging(Bucket=src, Key=other, VersionId=other_vid,
                         Tagging={"TagSet": [{"Key": "t", "Value": "1"}]})
    wait_status(a, src, other, other_vid)
    def off_the_list():
        assert not any(e["key"] == other for e in json.loads(cli(site_a, "failed"))["entries"])
    eventually(off_the_list)


def test_pause_and_resume(site_a, site_b):
    a, b = site_a.client(), site_b.client()
    src = replicated_bucket(a, "site-b")
    cli(site_a, "pause", "site-b")
    try:
        before = json.loads(cli(site_a, "status", "site-b"))["backlog"]
        key = f"{src}/paused"
        vid = a.put_object(Bucket=src, Key=key, Body=b"later")["VersionId"]
        a.put_object(Bucket=src, Key=f"{src}/also-paused", Body=b"seven b")
        def queued():
            metrics = json.loads(cli(site_a, "status", "site-b"))
            assert metrics["paused"] is True
            backlog = metrics["backlog"]
            assert backlog["objects"] == before["objects"] + 2, backlog
            assert backlog["bytes"] == before["bytes"] + 12 and not backlog["capped"], backlog
        eventually(queued)
        time.sleep(1)
        assert status_of(a, src, key, vid) == "PENDING"
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
    name = replicated_bucket(a, "moto,site-b:preferred_read", location="staging")
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
    name = replicated_bucket(a, "moto", location="staging")
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
    destinations = status["destinations"]
    assert {m["location"] for m in destinations} >= {"site-b", "moto", "azure"}
    overall = status["overall"]
    for figure in ("completed_objects", "failed_objects", "failed_entries"):
        assert overall[figure] == sum(m[figure] for m in destinations), figure
    assert overall["backlog"]["objects"] == sum(m["backlog"]["objects"] for m in destinations)
    assert overall["rpo_seconds"] == max(m["rpo_seconds"] for m in destinations)
    text = urllib.request.urlopen(site_a.endpoint + "/metrics").read().decode()
    for name in ("s3_replication_backlog_objects", "s3_replication_rpo_seconds",
                 "s3_replication_completed_objects_total", "s3_replication_failed_objects_total"):
        assert f'{name}{{location="site-b"}}' in text


def test_a_location_added_online_is_a_destination_at_once(tmp_root, site_b):
    """A location added through the admin API gets its data processor without
    a restart; removed, the processor ends; added again, a fresh one starts."""
    s = Server(tmp_root / "online-destination").start()
    a = s.client()
    settings = ["s3", f"endpoint={site_b.endpoint}", f"bucket={REPLICAS}", "path_style=true", "strata=true",
                f"access_key={MAIN[0]}", f"secret_key={MAIN[1]}"]
    try:
        for round_ in ("first", "second"):
            added = admin_online(s, "add", "late-b", *settings)
            assert added.returncode == 0, added.stderr
            src = replicated_bucket(a, "late-b")
            key = f"online-{round_}-{uuid.uuid4().hex[:6]}"
            vid = a.put_object(Bucket=src, Key=key, Body=round_.encode())["VersionId"]
            wait_status(a, src, key, vid)
            replica = site_b.client().get_object(Bucket=REPLICAS, Key=key, VersionId=vid)
            assert replica["Body"].read() == round_.encode()
            assert replica["ReplicationStatus"] == "REPLICA"
            if round_ == "first":
                # A removal refused (a rule sends data there) keeps one processor, not two.
                refused = admin_online(s, "remove", "late-b")
                assert refused.returncode != 0 and f"replication rules of bucket {src}" in refused.stderr
                time.sleep(1)  # a stopped processor ends and its successor starts
                key2 = key + "-after-refusal"
                vid2 = a.put_object(Bucket=src, Key=key2, Body=b"once")["VersionId"]
                wait_status(a, src, key2, vid2)
                time.sleep(1)  # a second processor's copy would be counted by now
                late = [m for m in json.loads(cli(s, "status"))["destinations"] if m["location"] == "late-b"]
                assert late[0]["completed_objects"] == 2, late
            if round_ == "second":
                # Nor while a version still waits for its copy there, rule or not.
                cli(s, "pause", "late-b")
                key3 = key + "-waiting"
                vid3 = a.put_object(Bucket=src, Key=key3, Body=b"waits")["VersionId"]
                a.delete_bucket_replication(Bucket=src)
                waiting = admin_online(s, "remove", "late-b")
                assert waiting.returncode != 0 and f"{src}/{key3} (still replicating to it)" in waiting.stderr
                cli(s, "resume", "late-b")
                wait_status(a, src, key3, vid3)
            a.delete_bucket_replication(Bucket=src)
            removed = admin_online(s, "remove", "late-b")
            assert removed.returncode == 0, removed.stderr

            def processor_ended():
                workers = {w["name"]: w["state"] for w in operator_get(s, "workers")}
                assert workers["replication-data late-b"] == "done", workers
            eventually(processor_ended)
    finally:
        s.stop()


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


def test_a_parted_copy_cut_short_by_a_crash_leaves_no_upload(tmp_root, site_b, moto, azurite):
    """A copy over a location's single-PUT limit is a multipart upload at the
    destination. Killed while it runs, the site aborts that upload once it is
    back (S3 would keep and bill its parts until a lifecycle rule ends them),
    then sends the version again."""
    config = tmp_root / "parted-crash.toml"
    config.write_text(site_a_config(site_b, moto, azurite))
    site = Server(tmp_root / "parted-crash-site", extra_env={"STRATA_CONFIG": str(config)}).start()
    a = site.client()
    src = replicated_bucket(a, "moto-parted,site-b-parted")
    key = f"{src}/big.bin"
    body = os.urandom(48 * MiB)
    vid = a.put_object(Bucket=src, Key=key, Body=body)["VersionId"]

    def open_uploads():
        """(client, bucket, upload id) of each upload of `key` at moto and site B."""
        found = []
        for client, bucket in ((moto.client(), TARGET), (site_b.client(), REPLICAS)):
            listing = client.list_multipart_uploads(Bucket=bucket, Prefix=key)
            found += [(client, bucket, u["UploadId"]) for u in listing.get("Uploads", [])]
        return found

    def has_parts(client, bucket, upload):
        try:
            return bool(client.list_parts(Bucket=bucket, Key=key, UploadId=upload).get("Parts"))
        except ClientError:
            return False  # completed meanwhile

    def under_way():
        uploads = open_uploads()
        return uploads and all(has_parts(*upload) for upload in uploads)

    # Killed once every open upload has a part: a copy records its upload
    # before its first part (a crash in the few milliseconds between the
    # upload's start and its record would leave it: docs/replication.md).
    deadline = time.time() + 60
    while not under_way():
        assert time.time() < deadline, "no copy got under way"
        time.sleep(0.05)
    site.kill9()
    assert open_uploads(), "the copies were cut short with their uploads open"
    site.start()
    wait_status(a, src, key, vid, timeout=120)
    assert moto.client().get_object(Bucket=TARGET, Key=key)["Body"].read() == body
    assert site_b.client().get_object(Bucket=REPLICAS, Key=key, VersionId=vid)["Body"].read() == body
    assert open_uploads() == []
    site.stop()


# Bad destinations: wrong credentials, HTTP 500 on every request, a hang.
# They are locations of a site of their own (bad_site): the other sites stay
# ready, and each bad location's failures and breaker are its test's.

@pytest.fixture(scope="module")
def bad_site(tmp_root, site_b, moto, azurite):
    """A site A with, besides the good destinations, three bad ones:
    `wrong-key` (site B with a wrong secret key), `http-500` and `hangs` (moto
    behind a proxy that answers every request with a 500, or reads it and
    never answers). The proxies can be switched to pass requests through."""
    proxies = {"http-500": FaultyProxy(moto.port), "hangs": FaultyProxy(moto.port)}
    proxies["http-500"].mode, proxies["hangs"].mode = "500", "hang"
    bad = s3_location("wrong-key", site_b.endpoint, REPLICAS, keys=(MAIN[0], "not-the-secret-key"),
                      timeout=2, strata=True)
    bad += "".join(s3_location(name, f"http://127.0.0.1:{p.port}", TARGET, timeout=2) for name, p in proxies.items())
    config = tmp_root / "bad-site.toml"
    config.write_text(site_a_config(site_b, moto, azurite, bad))
    # Its /_/ready names the locations that do not answer; it serves.
    s = Server(tmp_root / "bad-site", extra_env={"STRATA_CONFIG": str(config)}, wait_for="/_/live").start()
    s.proxies = proxies
    yield s
    s.stop()
    for p in proxies.values():
        p.close()


def operator_get(site, path):
    """GET on the operator API, with the token derived from the site's master key."""
    master = base64.b64decode((site.data_dir / "master.key").read_text().strip())
    token = hmac.new(master, b"operator-api", hashlib.sha256).hexdigest()
    req = urllib.request.Request(f"{site.endpoint}/_/backbeat/api/{path}",
                                 headers={"Authorization": f"Bearer {token}"})
    return json.loads(urllib.request.urlopen(req, timeout=10).read())


def progress(site, bucket, key, version_id):
    """{location: (status, error)} of one version, from the operator API."""
    body = operator_get(site, f"metrics/crr/all/progress/{bucket}/{key}?versionId={version_id}")
    return {d["location"]: (d["status"], d.get("error")) for d in body["destinations"]}


def failed_entry(site, location, key):
    entries = [e for e in json.loads(cli(site, "failed", "--location", location))["entries"] if e["key"] == key]
    assert len(entries) == 1, entries
    return entries[0]


def metric(site, name, location):
    text = urllib.request.urlopen(site.endpoint + "/metrics", timeout=10).read().decode()
    found = re.search(rf'^{name}{{location="{location}"}} (\S+)$', text, re.M)
    assert found, f"{name} for {location} not in /metrics"
    return float(found.group(1))


def assert_source_serves(client, bucket, key, body):
    """The source answers while a destination misbehaves: the version waiting
    for it reads back, and a new object is written and read."""
    assert client.get_object(Bucket=bucket, Key=key)["Body"].read() == body
    other = f"not-replicated-{uuid.uuid4().hex[:6]}"
    client.put_object(Bucket=bucket, Key=other, Body=b"still here")
    assert client.get_object(Bucket=bucket, Key=other)["Body"].read() == b"still here"


def site_b_completed(site, bucket, key, version_id):
    """The version's progress, once its copy at site B is COMPLETED."""
    per = progress(site, bucket, key, version_id)
    assert per["site-b"] == ("COMPLETED", None), per
    return per


def failed_keys(site, location):
    return [e["key"] for e in json.loads(cli(site, "failed", "--location", location))["entries"]]


def retry_once_it_answers(site, proxy, location, bucket, key, version_id):
    """Switches the destination's proxy to pass requests, retries the failed
    entry and waits for COMPLETED."""
    proxy.mode = "pass"
    try:
        time.sleep(1.1)  # the location's breaker, if open, lets a call through again
        assert "1 entries sent again" in cli(site, "retry", location, bucket, key, version_id)
        wait_status(site.client(), bucket, key, version_id)
    finally:
        proxy.mode = {"http-500": "500", "hangs": "hang"}[location]
    assert key not in failed_keys(site, location)


# The rules below cover the prefix rep/ only: assert_source_serves writes
# beside it without sending the bad destination more versions (the 500 and
# hang tests send it one, so that its failures are that version's alone).

def test_wrong_credentials_fail_that_destination_only(bad_site, site_b):
    """A rule sends each version to site B twice over: with good keys and with
    a wrong secret. The good copies land once each, with the same version id
    and bytes; the others end FAILED, each with site B's refusal in its
    message (also those the location's breaker cut short)."""
    a, b = bad_site.client(), site_b.client()
    src = replicated_bucket(a, "site-b,wrong-key", prefix="rep/")
    bodies = {f"rep/{src}/creds{i}": os.urandom(1000 + i) for i in range(8)}
    vids = {key: a.put_object(Bucket=src, Key=key, Body=body)["VersionId"] for key, body in bodies.items()}
    for key, vid in vids.items():
        wait_status(a, src, key, vid, want="FAILED")
    first, first_vid = next(iter(vids.items()))
    assert_source_serves(a, src, first, bodies[first])

    for key, vid in vids.items():
        status, error = eventually(lambda: site_b_completed(bad_site, src, key, vid))["wrong-key"]
        assert status == "FAILED"
        assert error.startswith("wrong-key: ") and "403 Forbidden" in error, error
        assert "<Code>SignatureDoesNotMatch</Code>" in error, error
        entry = failed_entry(bad_site, "wrong-key", key)
        assert (entry["version_id"], entry["attempts"], entry["error"]) == (vid, 3, error)
        versions = b.list_object_versions(Bucket=REPLICAS, Prefix=key)
        assert [v["VersionId"] for v in versions.get("Versions", [])] == [vid]
        assert b.get_object(Bucket=REPLICAS, Key=key, VersionId=vid)["Body"].read() == bodies[key]
    assert not set(vids) & set(failed_keys(bad_site, "site-b"))
    assert metric(bad_site, "s3_replication_failed_objects_total", "wrong-key") >= len(vids)
    assert metric(bad_site, "s3_replication_failed_objects_total", "site-b") == 0

    # Retrying while the key is still wrong fails again and leaves site B's
    # copy alone: one version, the source's.
    assert "1 entries sent again" in cli(bad_site, "retry", "wrong-key", src, first, first_vid)
    eventually(lambda: failed_entry(bad_site, "wrong-key", first))
    wait_status(a, src, first, first_vid, want="FAILED")
    versions = b.list_object_versions(Bucket=REPLICAS, Prefix=first)
    assert [v["VersionId"] for v in versions.get("Versions", [])] == [first_vid]
    assert "DeleteMarkers" not in versions


def test_a_destination_answering_500_fails_clearly_then_catches_up(bad_site, moto):
    """A destination that answers every request with a 500 (its client
    retries, then the engine does): FAILED with the status in the message;
    once it answers again, a retry sends the version, nothing was lost."""
    a = bad_site.client()
    src = replicated_bucket(a, "http-500", prefix="rep/")
    key = f"rep/{src}/k"
    body = os.urandom(3000)
    vid = a.put_object(Bucket=src, Key=key, Body=body)["VersionId"]
    wait_status(a, src, key, vid, want="FAILED")
    assert_source_serves(a, src, key, body)
    status, error = progress(bad_site, src, key, vid)["http-500"]
    assert status == "FAILED"
    assert error.startswith("http-500: ") and "500 Internal Server Error" in error, error
    assert failed_entry(bad_site, "http-500", key)["error"] == error
    assert metric(bad_site, "s3_replication_failed_objects_total", "http-500") >= 1
    with pytest.raises(ClientError):
        moto.client().head_object(Bucket=TARGET, Key=key)

    retry_once_it_answers(bad_site, bad_site.proxies["http-500"], "http-500", src, key, vid)
    got = moto.client().get_object(Bucket=TARGET, Key=key)
    assert got["Body"].read() == body and got["Metadata"]["scal-version-id"] == vid


def test_an_open_breaker_fails_no_version_by_itself(bad_site, moto):
    """Versions meet a destination answering 500s for a few seconds. The
    first real failures open its breaker; a version the open breaker refuses
    was not tried, so it waits for the breaker instead of spending its
    attempts: only versions whose own attempts all failed end FAILED, and
    the others complete once the destination answers, with no retry by hand."""
    a = bad_site.client()
    src = replicated_bucket(a, "http-500", prefix="rep/")
    proxy = bad_site.proxies["http-500"]
    keys = [f"rep/{src}/k{i}" for i in range(12)]
    try:
        vids = {key: a.put_object(Bucket=src, Key=key, Body=key.encode())["VersionId"] for key in keys}
        time.sleep(3)
        proxy.mode = "pass"

        def settled():
            states = {key: status_of(a, src, key, vid) for key, vid in vids.items()}
            assert set(states.values()) <= {"COMPLETED", "FAILED"}, states
            return states
        states = eventually(settled, 60)
    finally:
        proxy.mode = "500"
    failed = [key for key, state in states.items() if state == "FAILED"]
    assert len(failed) < len(keys), "versions refused by the breaker waited for it"
    for key in failed:
        error = progress(bad_site, src, key, vids[key])["http-500"][1]
        assert "500 Internal Server Error" in error and "repeated failures" not in error, error
    for key, vid in vids.items():
        if key not in failed:
            assert moto.client().head_object(Bucket=TARGET, Key=key)["Metadata"]["scal-version-id"] == vid


def test_a_hanging_destination_times_out_and_holds_up_nothing(bad_site, site_b, moto):
    """A destination that takes requests and never answers: each attempt ends
    at the location's timeout (2 s here); meanwhile the source serves and the
    version's other destination completes."""
    a, b = bad_site.client(), site_b.client()
    src = replicated_bucket(a, "site-b,hangs", prefix="rep/")
    key = f"rep/{src}/k"
    body = os.urandom(3000)
    vid = a.put_object(Bucket=src, Key=key, Body=body)["VersionId"]
    # Three attempts of 2 s each: site B is done long before.
    per = eventually(lambda: site_b_completed(bad_site, src, key, vid))
    assert per["hangs"][0] in ("PENDING", "PROCESSING"), per
    assert_source_serves(a, src, key, body)
    assert b.get_object(Bucket=REPLICAS, Key=key, VersionId=vid)["Body"].read() == body

    wait_status(a, src, key, vid, want="FAILED")
    status, error = progress(bad_site, src, key, vid)["hangs"]
    assert status == "FAILED"
    assert error.startswith("hangs: ") and "timed out after 2s" in error, error
    assert failed_entry(bad_site, "hangs", key)["error"] == error
    assert metric(bad_site, "s3_replication_failed_objects_total", "hangs") >= 1

    retry_once_it_answers(bad_site, bad_site.proxies["hangs"], "hangs", src, key, vid)
    got = moto.client().get_object(Bucket=TARGET, Key=key)
    assert got["Body"].read() == body and got["Metadata"]["scal-version-id"] == vid
    # The retry went to the failed destination only: site B still has one copy.
    versions = b.list_object_versions(Bucket=REPLICAS, Prefix=key)
    assert [v["VersionId"] for v in versions.get("Versions", [])] == [vid]


def test_a_hanging_destination_does_not_delay_the_start(tmp_root, make_server):
    """The start-up check of a location that hangs takes its whole timeout
    (30 s by default): it runs in the background, the server serves at once."""
    proxy = FaultyProxy(free_port())
    proxy.mode = "hang"
    config = tmp_root / f"hang-start-{uuid.uuid4().hex[:6]}.toml"
    config.write_text(s3_location("hangs", f"http://127.0.0.1:{proxy.port}", TARGET, timeout=30))
    try:
        started = time.time()
        site = make_server(extra_env={"STRATA_CONFIG": str(config)}, wait_for="/_/live")
        assert time.time() - started < 15, "the server waited for the hanging location"
        client = site.client()
        client.create_bucket(Bucket="fine")
        client.put_object(Bucket="fine", Key="k", Body=b"k")
        assert client.get_object(Bucket="fine", Key="k")["Body"].read() == b"k"
        # Ready all the same (a load balancer keeps it), naming what is wrong.
        started = time.time()
        ready = urllib.request.urlopen(site.endpoint + "/_/ready", timeout=10)
        assert ready.status == 200 and time.time() - started < 5
        assert ready.read() == b"ready; locations not answering: hangs\n"
    finally:
        proxy.close()


def test_extensions_are_enabled_by_config(tmp_root, site_b):
    """`[engine] extensions` names the extensions that run. Without
    replication, writes stay PENDING and its API says why; enabled again,
    a backfill queues what waited."""
    config = tmp_root / f"no-ext-{uuid.uuid4().hex[:6]}.toml"
    location = s3_location("site-b", site_b.endpoint, REPLICAS, keys=MAIN, strata=True)
    config.write_text("[engine]\nextensions = []\n" + location)
    s = Server(tmp_root / f"no-ext-{uuid.uuid4().hex[:6]}", extra_env={"STRATA_CONFIG": str(config)}).start()
    try:
        a = s.client()
        src = replicated_bucket(a, "site-b")
        vid = a.put_object(Bucket=src, Key=f"{src}/waits", Body=b"waits")["VersionId"]
        time.sleep(1)
        assert status_of(a, src, f"{src}/waits", vid) == "PENDING"
        with pytest.raises(urllib.error.HTTPError) as e:
            operator_get(s, "metrics/crr/all")
        assert b"replication extension is not enabled" in e.value.read()
        workers = [w["name"] for w in operator_get(s, "workers")]
        assert "populator" in " ".join(workers) and not any("replication" in w for w in workers), workers
        s.stop()
        config.write_text("[engine]\nextensions = [\"replication\"]\n" + location)
        s.start()
        cli(s, "backfill", src)
        wait_status(a, src, f"{src}/waits", vid)
        assert site_b.client().get_object(Bucket=REPLICAS, Key=f"{src}/waits", VersionId=vid)["Body"].read() == b"waits"
        s.stop()
        config.write_text("[engine]\nextensions = [\"lifecycle\"]\n" + location)
        with pytest.raises(RuntimeError):
            s.start()
        assert "unknown extension lifecycle (known: replication)" in s.log_path.read_text()
    finally:
        s.stop()


def test_what_replicates_and_what_does_not(site_a, site_b):
    """A tag-filtered rule sends only matching versions; a copy into the
    bucket replicates; legal-hold and retention changes reach the replica;
    an ACL change sends nothing."""
    a, b = site_a.client(), site_b.client()
    name = "lock-" + uuid.uuid4().hex[:10]
    a.create_bucket(Bucket=name, ObjectLockEnabledForBucket=True)
    a.put_bucket_replication(Bucket=name, ReplicationConfiguration={"Role": "r", "Rules": [
        {"ID": "tagged", "Status": "Enabled", "Priority": 1, "DeleteMarkerReplication": {"Status": "Disabled"},
         "Filter": {"Tag": {"Key": "replicate", "Value": "yes"}},
         "Destination": {"Bucket": "arn:aws:s3:::" + REPLICAS, "StorageClass": "site-b"}}]})
    tagged, untagged, copied = f"{name}/tagged", f"{name}/untagged", f"{name}/copied"
    vid = a.put_object(Bucket=name, Key=tagged, Body=b"tagged", Tagging="replicate=yes")["VersionId"]
    other = a.put_object(Bucket=name, Key=untagged, Body=b"untagged")["VersionId"]
    wait_status(a, name, tagged, vid)
    assert status_of(a, name, untagged, other) is None
    cvid = a.copy_object(Bucket=name, Key=copied, CopySource={"Bucket": name, "Key": tagged})["VersionId"]
    wait_status(a, name, copied, cvid)
    assert b.get_object(Bucket=REPLICAS, Key=copied, VersionId=cvid)["Body"].read() == b"tagged"
    with pytest.raises(ClientError):
        b.head_object(Bucket=REPLICAS, Key=untagged)

    a.put_object_legal_hold(Bucket=name, Key=tagged, VersionId=vid, LegalHold={"Status": "ON"})
    until = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0) + datetime.timedelta(days=1)
    a.put_object_retention(Bucket=name, Key=tagged, VersionId=vid,
                           Retention={"Mode": "GOVERNANCE", "RetainUntilDate": until})
    def lock_replicated():
        replica = b.head_object(Bucket=REPLICAS, Key=tagged, VersionId=vid)
        assert replica.get("ObjectLockLegalHoldStatus") == "ON", replica
        assert replica.get("ObjectLockMode") == "GOVERNANCE" and replica["ObjectLockRetainUntilDate"] == until
    eventually(lock_replicated)
    wait_status(a, name, tagged, vid)

    def completed():
        return json.loads(cli(site_a, "status", "site-b"))["completed_objects"]
    before = completed()
    time.sleep(1)
    assert completed() == before, "nothing else is replicating to site-b"
    a.put_object_acl(Bucket=name, Key=tagged, VersionId=vid, ACL="public-read")
    time.sleep(1.5)
    assert completed() == before, "an ACL change sends nothing"
    assert status_of(a, name, tagged, vid) == "COMPLETED"
    a.put_object_legal_hold(Bucket=name, Key=tagged, VersionId=vid, LegalHold={"Status": "OFF"})


def test_a_get_may_read_from_a_replica_location(site_a, site_b, moto):
    """`x-amz-location-constraint` on a GET reads the bytes from the named
    location: the source's own, or a destination holding a COMPLETED copy of
    that very version (pinned by version at a Strata site; a foreign
    cloud's current copy only while the version is the newest)."""
    a = site_a.client()
    src = replicated_bucket(a, "site-b,moto")
    key = f"{src}/doc"
    v1 = a.put_object(Bucket=src, Key=key, Body=b"first version")["VersionId"]
    v2 = a.put_object(Bucket=src, Key=key, Body=b"second version")["VersionId"]
    for vid in (v1, v2):
        wait_status(a, src, key, vid)

    def reading_from(location):
        client = site_a.client()
        client.meta.events.register("before-sign.s3.GetObject", lambda request, **_: request.headers.__setitem__(
            "x-amz-location-constraint", location))
        return client
    assert reading_from("moto").get_object(Bucket=src, Key=key)["Body"].read() == b"second version"
    part = reading_from("moto").get_object(Bucket=src, Key=key, Range="bytes=0-5")
    assert part["Body"].read() == b"second" and part["ContentRange"] == "bytes 0-5/14"
    assert reading_from("site-b").get_object(Bucket=src, Key=key, VersionId=v1)["Body"].read() == b"first version"
    part = reading_from("site-b").get_object(Bucket=src, Key=key, VersionId=v2, Range="bytes=7-13")
    assert part["Body"].read() == b"version" and part["ContentRange"] == "bytes 7-13/14"
    assert reading_from("local").get_object(Bucket=src, Key=key, VersionId=v1)["Body"].read() == b"first version"
    def refused(location, version, **ranged):
        with pytest.raises(ClientError) as e:
            reading_from(location).get_object(Bucket=src, Key=key, VersionId=version, **ranged)
        assert error_code(e) == "InvalidArgument", e.value.response
        assert f"location {location} holds no copy of this version" in e.value.response["Error"]["Message"]
    refused("moto", v1)
    refused("azure", v2)
    # v2 deleted for good (which no destination is told of): v1 is the newest,
    # but moto's copy is still v2's, and says so.
    a.delete_object(Bucket=src, Key=key, VersionId=v2)
    refused("moto", v1)
    # moto's copy is now a shorter version's: a range of v1 past its end
    # still finds it is not v1's.
    v3 = a.put_object(Bucket=src, Key=key, Body=b"3")["VersionId"]
    wait_status(a, src, key, v3)
    refused("moto", v1, Range="bytes=5-8")


def test_a_scheduled_resume(site_a, site_b):
    """`resume --in-hours H` resumes a paused destination at that time; on a
    destination that is not paused it is refused (it must not pause it)."""
    a, b = site_a.client(), site_b.client()
    refused = subprocess.run([BIN, "replication", "--endpoint", site_a.endpoint, "--data-dir", str(site_a.data_dir),
                              "resume", "site-b", "--in-hours", "1"], capture_output=True, text=True, timeout=60)
    assert refused.returncode != 0 and "not paused" in refused.stderr, refused.stderr
    assert json.loads(cli(site_a, "status", "site-b"))["paused"] is False
    src = replicated_bucket(a, "site-b")
    cli(site_a, "pause", "site-b")
    key = f"{src}/scheduled"
    vid = a.put_object(Bucket=src, Key=key, Body=b"on schedule")["VersionId"]
    cli(site_a, "resume", "site-b", "--in-hours", str(3 / 3600))  # in three seconds
    metrics = json.loads(cli(site_a, "status", "site-b"))
    assert metrics["paused"] is True and metrics["resume_at_ms"] > time.time() * 1000
    time.sleep(1)
    assert status_of(a, src, key, vid) == "PENDING"
    wait_status(a, src, key, vid)
    assert b.get_object(Bucket=REPLICAS, Key=key, VersionId=vid)["Body"].read() == b"on schedule"
    assert json.loads(cli(site_a, "status", "site-b"))["paused"] is False


def test_a_destination_bucket_that_disappears(site_a, moto):
    """The destination's bucket is deleted while replication runs: new
    versions end FAILED naming NoSuchBucket, the source serves on; once the
    bucket is back, a retry completes them."""
    a, m = site_a.client(), moto.client()
    target = "vanishing-" + uuid.uuid4().hex[:6]
    m.create_bucket(Bucket=target)
    added = admin_online(site_a, "add", "vanishing", "s3", f"endpoint={moto.endpoint}", f"bucket={target}",
                         "path_style=true", "bucket_match=true", "access_key=moto", "secret_key=moto-secret")
    assert added.returncode == 0, added.stderr
    src = replicated_bucket(a, "vanishing")
    first = a.put_object(Bucket=src, Key=f"{src}/first", Body=b"1")["VersionId"]
    wait_status(a, src, f"{src}/first", first)
    m.delete_object(Bucket=target, Key=f"{src}/first")
    m.delete_bucket(Bucket=target)
    second = a.put_object(Bucket=src, Key=f"{src}/second", Body=b"2")["VersionId"]
    wait_status(a, src, f"{src}/second", second, want="FAILED")
    entry = next(e for e in json.loads(cli(site_a, "failed", "--location", "vanishing"))["entries"]
                 if e["key"] == f"{src}/second")
    assert "NoSuchBucket" in entry["error"], entry
    assert a.get_object(Bucket=src, Key=f"{src}/second")["Body"].read() == b"2"
    m.create_bucket(Bucket=target)
    assert "1 entries sent again" in cli(site_a, "retry", "vanishing", src, f"{src}/second", second)
    wait_status(a, src, f"{src}/second", second)
    assert m.get_object(Bucket=target, Key=f"{src}/second")["Body"].read() == b"2"
    a.delete_bucket_replication(Bucket=src)
    eventually(lambda: _removed(site_a, "vanishing"))


def _removed(site, location):
    out = admin_online(site, "remove", location)
    assert out.returncode == 0, out.stderr
