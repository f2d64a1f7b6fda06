"""Locations: one S3 namespace, bytes in other clouds.

A Strata server is configured with three cloud locations backed by real peers
started here on 127.0.0.1: moto (S3), a second Strata (S3) and Azurite (Azure
Blob). Each test goes through Strata with boto3, then reads the backend
directly with its own client to prove where the bytes landed.
"""
import base64
import hashlib
import http.client
import json
import os
import shutil
import socket
import threading
import subprocess
import time
import urllib.parse
import urllib.request
import uuid

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from conftest import BIN, MAIN, Server, error_code, free_port, s3_client

AZURE_ACCOUNT = "devstoreaccount1"
# Azurite's published development key (not a secret).
AZURE_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
TARGET = "strata-target"
MiB = 1 << 20


def wait_port(port, up=True, timeout=30):
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                if up:
                    return
        except OSError:
            if not up:
                return
        time.sleep(0.1)
    raise RuntimeError(f"port {port} did not come {'up' if up else 'down'}")


class Peer:
    """A backend process that can be stopped and started again on its port."""

    def __init__(self, argv, port, log):
        self.argv, self.port, self.log, self.proc = argv, port, log, None

    def start(self):
        self.proc = subprocess.Popen(self.argv, stdout=open(self.log, "ab"), stderr=subprocess.STDOUT,
                                     start_new_session=True)
        wait_port(self.port)
        return self

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()  # Azurite saves its blob index on SIGTERM
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=15)
        wait_port(self.port, up=False)


def need(program, how):
    if shutil.which(program) is None:
        pytest.fail(f"{program} is not installed ({how}); .ci/run installs it")


@pytest.fixture(scope="module")
def moto(tmp_root):
    need("moto_server", "pip install 'moto[server]'")
    port = free_port()
    peer = Peer(["moto_server", "-H", "127.0.0.1", "-p", str(port)], port, tmp_root / "moto.log").start()
    peer.endpoint = f"http://127.0.0.1:{port}"
    peer.client = lambda: s3_client(peer.endpoint, ("moto", "moto-secret"))
    peer.client().create_bucket(Bucket=TARGET)
    yield peer
    peer.stop()


@pytest.fixture(scope="module")
def azurite(tmp_root):
    need("azurite-blob", "npm install -g azurite")
    from azure.storage.blob import BlobServiceClient

    port = free_port()
    data = tmp_root / f"azurite-{uuid.uuid4().hex[:8]}"  # one per module that uses it
    data.mkdir()
    peer = Peer(["azurite-blob", "--blobHost", "127.0.0.1", "--blobPort", str(port), "--location", str(data),
                 "--skipApiVersionCheck"], port, tmp_root / "azurite.log").start()
    peer.endpoint = f"http://127.0.0.1:{port}/{AZURE_ACCOUNT}"
    service = BlobServiceClient(account_url=peer.endpoint,
                                credential={"account_name": AZURE_ACCOUNT, "account_key": AZURE_KEY})
    service.create_container(TARGET)
    peer.container = service.get_container_client(TARGET)
    yield peer
    peer.stop()


@pytest.fixture(scope="module")
def peer(tmp_root):
    """A second Strata, used as an S3 backend."""
    s = Server(tmp_root / "peer").start()
    s.client().create_bucket(Bucket=TARGET)
    yield s
    s.stop()


def location_config(moto, peer, azurite):
    return f"""
[[location]]
name = "moto"
type = "s3"
endpoint = "{moto.endpoint}"
bucket = "{TARGET}"
path_style = true
access_key = "moto"
secret_key = "moto-secret"
timeout_secs = 5
breaker_cooldown_secs = 1

[[location]]
name = "peer"
type = "s3"
endpoint = "{peer.endpoint}"
bucket = "{TARGET}"
path_style = true
bucket_match = false
prefix = "from-strata"
access_key_env = "PEER_AK"
secret_key_env = "PEER_SK"
timeout_secs = 5
breaker_cooldown_secs = 1

[[location]]
name = "azure"
type = "azure"
account = "{AZURE_ACCOUNT}"
endpoint = "{azurite.endpoint}"
container = "{TARGET}"
access_key_env = "AZ_KEY"
transient = true
timeout_secs = 5
breaker_cooldown_secs = 1
"""


@pytest.fixture(scope="module")
def cloud(tmp_root, moto, peer, azurite):
    config = tmp_root / "cloud.toml"
    config.write_text(location_config(moto, peer, azurite))
    env = {"STRATA_CONFIG": str(config), "PEER_AK": MAIN[0], "PEER_SK": MAIN[1], "AZ_KEY": AZURE_KEY}
    s = Server(tmp_root / "cloud", extra_env=env).start()
    yield s
    s.stop()


@pytest.fixture(scope="module")
def c3(cloud):
    return cloud.client()


def s3_location(name, endpoint, bucket, keys=("moto", "moto-secret"), timeout=5, strata=False):
    """A `[[location]]` of type s3: copies under their own key, a breaker
    that closes again after a second."""
    return f"""
[[location]]
name = "{name}"
type = "s3"
endpoint = "{endpoint}"
bucket = "{bucket}"
path_style = true
bucket_match = true
strata = {str(strata).lower()}
access_key = "{keys[0]}"
secret_key = "{keys[1]}"
timeout_secs = {timeout}
breaker_cooldown_secs = 1
"""


def azure_location(name, endpoint, container=TARGET, extra=""):
    """A `[[location]]` of type azure on Azurite, with `extra` settings lines."""
    return f"""
[[location]]
name = "{name}"
type = "azure"
account = "{AZURE_ACCOUNT}"
endpoint = "{endpoint}"
container = "{container}"
access_key = "{AZURE_KEY}"
{extra}"""


def backend_blobs(location, moto, peer, azurite, needle):
    """{name: bytes} of backend blobs whose name contains `needle`, read with the backend's own client."""
    # A blob listed may be gone when it is read: the collector may be at work.
    out = {}
    if location == "azure":
        from azure.core.exceptions import ResourceNotFoundError

        for name in [b.name for b in azurite.container.list_blobs() if needle in b.name]:
            try:
                out[name] = azurite.container.download_blob(name).readall()
            except ResourceNotFoundError:
                pass
        return out
    client = moto.client() if location == "moto" else peer.client()
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=TARGET):
        for o in page.get("Contents", []):
            if needle in o["Key"]:
                try:
                    out[o["Key"]] = client.get_object(Bucket=TARGET, Key=o["Key"])["Body"].read()
                except client.exceptions.NoSuchKey:
                    pass
    return out


def eventually(check, timeout=20):
    deadline = time.time() + timeout
    while True:
        try:
            return check()
        except AssertionError:
            if time.time() > deadline:
                raise
            time.sleep(0.2)


def new_bucket(c3, location):
    name = f"loc-{location}-{uuid.uuid4().hex[:8]}"
    c3.create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": location})
    return name


@pytest.mark.parametrize("location", ["moto", "peer", "azure"])
def test_objects_live_in_the_location(location, c3, moto, peer, azurite):
    bucket = new_bucket(c3, location)
    assert c3.get_bucket_location(Bucket=bucket)["LocationConstraint"] == location
    small = b"small object bytes"
    large = os.urandom(20 * MiB + 123)
    c3.put_object(Bucket=bucket, Key="dir/small.txt", Body=small)
    c3.put_object(Bucket=bucket, Key="dir/large.bin", Body=large)
    assert c3.get_object(Bucket=bucket, Key="dir/small.txt")["Body"].read() == small
    assert c3.get_object(Bucket=bucket, Key="dir/large.bin")["Body"].read() == large
    got = c3.get_object(Bucket=bucket, Key="dir/large.bin", Range="bytes=9000000-12000000")
    assert got["Body"].read() == large[9000000:12000001]
    assert c3.head_object(Bucket=bucket, Key="dir/large.bin")["StorageClass"] == location
    assert c3.get_object(Bucket=bucket, Key="dir/small.txt")["StorageClass"] == location

    # multipart: parts on the location, read back whole and by part
    parts = [os.urandom(5 * MiB), os.urandom(MiB + 7)]
    up = c3.create_multipart_upload(Bucket=bucket, Key="mpu.bin")["UploadId"]
    etags = [c3.upload_part(Bucket=bucket, Key="mpu.bin", UploadId=up, PartNumber=i + 1, Body=p)["ETag"]
             for i, p in enumerate(parts)]
    c3.complete_multipart_upload(Bucket=bucket, Key="mpu.bin", UploadId=up, MultipartUpload={
        "Parts": [{"PartNumber": i + 1, "ETag": e} for i, e in enumerate(etags)]})
    assert c3.get_object(Bucket=bucket, Key="mpu.bin")["Body"].read() == b"".join(parts)
    assert c3.get_object(Bucket=bucket, Key="mpu.bin", PartNumber=2)["Body"].read() == parts[1]

    # copy inside the location (server-side in the backend)
    c3.copy_object(Bucket=bucket, Key="copy.bin", CopySource={"Bucket": bucket, "Key": "dir/large.bin"})
    copied = c3.head_object(Bucket=bucket, Key="copy.bin")
    assert copied["ETag"] == '"%s"' % hashlib.md5(large).hexdigest()
    assert c3.get_object(Bucket=bucket, Key="copy.bin")["Body"].read() == large

    # the bytes are in the backend, named after the object
    direct = backend_blobs(location, moto, peer, azurite, bucket if location == "peer" else "dir/")
    if location != "peer":  # peer shares its target with other buckets' keys under a prefix
        direct = {k: v for k, v in direct.items() if k.startswith("dir/")}
    names = sorted(direct)
    assert any(n.startswith(("dir/small.txt@", f"from-strata/{bucket}/dir/small.txt@")) for n in names), names
    assert small in direct.values() and large in direct.values()
    if location == "peer":
        assert all(n.startswith(f"from-strata/{bucket}/") for n in names), names
    # the multipart object is one backend object, assembled by the backend
    assert list(backend_blobs(location, moto, peer, azurite, "mpu.bin@").values()) == [b"".join(parts)]
    assert backend_blobs(location, moto, peer, azurite, "mpu.bin.part") == {}

    # deletes reach the backend through the garbage collector
    for key in ["dir/small.txt", "dir/large.bin", "mpu.bin", "copy.bin"]:
        c3.delete_object(Bucket=bucket, Key=key)
    eventually(lambda: _assert_gone(location, moto, peer, azurite, bucket))
    c3.delete_bucket(Bucket=bucket)


def _assert_gone(location, moto, peer, azurite, bucket):
    needle = bucket if location == "peer" else "dir/"
    left = [n for n in backend_blobs(location, moto, peer, azurite, needle) if "dir/" in n]
    left += list(backend_blobs(location, moto, peer, azurite, "mpu.bin@"))
    assert left == [], left


def backend_uploads(location, moto, peer, needle):
    """Keys of the unfinished multipart uploads in an S3 backend whose key contains `needle`."""
    client = moto.client() if location == "moto" else peer.client()
    return [u["Key"] for u in client.list_multipart_uploads(Bucket=TARGET).get("Uploads", []) if needle in u["Key"]]


@pytest.mark.parametrize("location", ["moto", "peer", "azure"])
def test_multipart_uploads_are_assembled_by_the_backend(location, c3, moto, peer, azurite):
    bucket = new_bucket(c3, location)
    key = f"assembled-{uuid.uuid4().hex[:6]}.bin"
    first, replaced, last = os.urandom(5 * MiB + 1), os.urandom(5 * MiB + 2), os.urandom(MiB)
    source = os.urandom(6 * MiB)
    c3.put_object(Bucket=bucket, Key="copy-source", Body=source)
    up = c3.create_multipart_upload(Bucket=bucket, Key=key)["UploadId"]
    if location != "azure":
        assert backend_uploads(location, moto, peer, key) != [], "the backend's upload starts with the client's"

    def part(number, body, **kw):
        return c3.upload_part(Bucket=bucket, Key=key, UploadId=up, PartNumber=number, Body=body, **kw)["ETag"]

    # part numbers with gaps, uploaded out of order; part 3 uploaded twice
    e7 = part(7, last)
    part(3, replaced)
    e3 = part(3, first)
    # a bad body never replaces the part before it, in Strata or in the backend
    with pytest.raises(ClientError) as e:
        part(3, replaced, ContentMD5=base64.b64encode(hashlib.md5(b"other").digest()).decode())
    assert error_code(e) == "BadDigest"
    e5 = c3.upload_part_copy(Bucket=bucket, Key=key, UploadId=up, PartNumber=5,
                             CopySource={"Bucket": bucket, "Key": "copy-source"},
                             CopySourceRange="bytes=0-5242879")["CopyPartResult"]["ETag"]
    listed = c3.list_parts(Bucket=bucket, Key=key, UploadId=up)["Parts"]
    assert [(p["PartNumber"], p["Size"]) for p in listed] == [(3, len(first)), (5, 5 * MiB), (7, len(last))]
    c3.complete_multipart_upload(Bucket=bucket, Key=key, UploadId=up, MultipartUpload={
        "Parts": [{"PartNumber": 3, "ETag": e3}, {"PartNumber": 5, "ETag": e5}, {"PartNumber": 7, "ETag": e7}]})
    whole = first + source[:5 * MiB] + last
    got = c3.get_object(Bucket=bucket, Key=key)
    assert got["Body"].read() == whole
    assert got["ETag"].endswith('-3"')
    assert c3.get_object(Bucket=bucket, Key=key, PartNumber=5)["Body"].read() == source[:5 * MiB]
    ranged = c3.get_object(Bucket=bucket, Key=key, Range=f"bytes={len(first) - 10}-{len(first) + 9}")
    assert ranged["Body"].read() == whole[len(first) - 10:len(first) + 10]
    # one object in the backend, holding the whole; no upload left there
    assert list(backend_blobs(location, moto, peer, azurite, f"{key}@").values()) == [whole]
    if location != "azure":
        assert backend_uploads(location, moto, peer, key) == []

    # an aborted upload leaves nothing in the backend once the collector ran
    up = c3.create_multipart_upload(Bucket=bucket, Key=key)["UploadId"]
    part(1, last)
    c3.abort_multipart_upload(Bucket=bucket, Key=key, UploadId=up)
    if location != "azure":
        eventually(lambda: _assert_no_upload(location, moto, peer, key))
    # a part without a length cannot be streamed to the backend
    up = c3.create_multipart_upload(Bucket=bucket, Key=key)["UploadId"]
    status, body = raw_put_without_length(c3, bucket, key, up)
    assert status == 411 and b"MissingContentLength" in body, (status, body)
    c3.abort_multipart_upload(Bucket=bucket, Key=key, UploadId=up)

    for k in [key, "copy-source"]:
        c3.delete_object(Bucket=bucket, Key=k)
    eventually(lambda: _assert_no_blob(location, moto, peer, azurite, f"{key}@"))
    c3.delete_bucket(Bucket=bucket)


def test_a_large_part_streams_to_the_backend_in_bounded_memory(c3, cloud, tmp_root, peer):
    bucket = new_bucket(c3, "peer")
    size = 256 * MiB
    path = tmp_root / "large-part.bin"
    with open(path, "wb") as f:
        for _ in range(size // MiB):
            f.write(os.urandom(MiB))
    # Linux resets the peak resident size when told to: what follows is this part's peak.
    with open(f"/proc/{cloud.proc.pid}/clear_refs", "w") as f:
        f.write("5")
    up = c3.create_multipart_upload(Bucket=bucket, Key="large")["UploadId"]
    with open(path, "rb") as body:
        etag = c3.upload_part(Bucket=bucket, Key="large", UploadId=up, PartNumber=1, Body=body)["ETag"]
    peak_kib = int(next(line.split()[1] for line in open(f"/proc/{cloud.proc.pid}/status")
                        if line.startswith("VmHWM")))
    assert peak_kib < 128 * 1024, f"peak RSS {peak_kib} KiB while a {size // MiB} MiB part streamed"
    c3.complete_multipart_upload(Bucket=bucket, Key="large", UploadId=up,
                                 MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": etag}]})
    assert c3.head_object(Bucket=bucket, Key="large")["ContentLength"] == size
    path.unlink()
    c3.delete_object(Bucket=bucket, Key="large")
    c3.delete_bucket(Bucket=bucket)


def _assert_no_upload(location, moto, peer, key):
    assert backend_uploads(location, moto, peer, key) == []


def raw_put_without_length(c3, bucket, key, upload_id):
    """An UploadPart sent with chunked transfer encoding and no Content-Length; (status, body)."""
    url = c3.generate_presigned_url("upload_part", Params={
        "Bucket": bucket, "Key": key, "UploadId": upload_id, "PartNumber": 1})
    parts = urllib.parse.urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    conn.putrequest("PUT", f"{parts.path}?{parts.query}")
    conn.putheader("Transfer-Encoding", "chunked")
    conn.endheaders()
    conn.send(b"5\r\nhello\r\n0\r\n\r\n")
    response = conn.getresponse()
    return response.status, response.read()


def test_an_object_may_choose_its_location(c3, cloud, moto, peer, azurite):
    bucket = f"override-{uuid.uuid4().hex[:8]}"
    c3.create_bucket(Bucket=bucket)
    body = b"to azure, although the bucket is local"
    c3.put_object(Bucket=bucket, Key="chosen", Body=body, Metadata={"scal-location-constraint": "azure"})
    assert c3.head_object(Bucket=bucket, Key="chosen")["StorageClass"] == "azure"
    assert body in backend_blobs("azure", moto, peer, azurite, "chosen@").values()
    c3.put_object(Bucket=bucket, Key="plain", Body=b"local")
    assert "StorageClass" not in c3.head_object(Bucket=bucket, Key="plain")
    with pytest.raises(ClientError) as e:
        c3.put_object(Bucket=bucket, Key="x", Body=b"x", Metadata={"scal-location-constraint": "nowhere"})
    assert error_code(e) == "InvalidArgument" and "nowhere" in e.value.response["Error"]["Message"]
    with pytest.raises(ClientError) as e:
        c3.create_bucket(Bucket=f"bad-{uuid.uuid4().hex[:8]}",
                         CreateBucketConfiguration={"LocationConstraint": "nowhere"})
    assert error_code(e) == "InvalidLocationConstraint"

    # GET may name the location holding the data
    def with_header(value):
        client = cloud.client()
        client.meta.events.register("before-sign.s3.GetObject",
                                    lambda request, **_: request.headers.__setitem__(
                                        "x-amz-location-constraint", value))
        return client
    assert with_header("azure").get_object(Bucket=bucket, Key="chosen")["Body"].read() == body
    with pytest.raises(ClientError) as e:
        with_header("moto").get_object(Bucket=bucket, Key="chosen")
    assert error_code(e) == "InvalidArgument" and "azure" in e.value.response["Error"]["Message"]
    with pytest.raises(ClientError) as e:
        with_header("nowhere").get_object(Bucket=bucket, Key="chosen")
    assert error_code(e) == "InvalidArgument" and "nowhere" in e.value.response["Error"]["Message"]
    for key in ["chosen", "plain"]:
        c3.delete_object(Bucket=bucket, Key=key)
    c3.delete_bucket(Bucket=bucket)


def test_a_failed_write_leaves_no_orphan_in_the_cloud(c3, moto, peer, azurite):
    bucket = new_bucket(c3, "moto")
    with pytest.raises(ClientError) as e:
        c3.put_object(Bucket=bucket, Key="orphan.bin", Body=os.urandom(MiB),
                      ContentMD5="AAAAAAAAAAAAAAAAAAAAAA==")
    assert error_code(e) == "BadDigest"
    eventually(lambda: _assert_no_blob("moto", moto, peer, azurite, "orphan.bin"))
    c3.delete_bucket(Bucket=bucket)


def _assert_no_blob(location, moto, peer, azurite, needle):
    left = backend_blobs(location, moto, peer, azurite, needle)
    assert left == {}, list(left)


@pytest.mark.parametrize("location", ["peer", "azure", "moto"])
def test_a_stopped_backend_gives_a_clear_error_then_recovers(location, c3, moto, peer, azurite):
    bucket = new_bucket(c3, location)
    local = f"still-local-{uuid.uuid4().hex[:8]}"
    c3.create_bucket(Bucket=local)
    kept = os.urandom(300_000)
    c3.put_object(Bucket=bucket, Key="kept", Body=kept)
    backend = {"peer": peer, "azure": azurite, "moto": moto}[location]
    backend.stop()
    try:
        for call in [lambda: c3.get_object(Bucket=bucket, Key="kept")["Body"].read(),
                     lambda: c3.put_object(Bucket=bucket, Key="new", Body=os.urandom(200_000)),
                     lambda: c3.copy_object(Bucket=local, Key="copied",
                                            CopySource={"Bucket": bucket, "Key": "kept"})]:
            started = time.time()
            with pytest.raises(ClientError) as e:
                call()
            assert time.time() - started < 10, "the error must come quickly"
            assert error_code(e) == "ServiceUnavailable", e.value.response
            assert f"location {location}" in e.value.response["Error"]["Message"]
        # the namespace is intact and other locations still serve
        assert c3.head_object(Bucket=bucket, Key="kept")["ContentLength"] == len(kept)
        c3.put_object(Bucket=local, Key="fine", Body=b"fine")
        assert c3.get_object(Bucket=local, Key="fine")["Body"].read() == b"fine"
        for b, k in [(bucket, "new"), (local, "copied")]:
            with pytest.raises(ClientError):
                c3.head_object(Bucket=b, Key=k)
    finally:
        backend.start()
    if location == "moto":  # moto keeps nothing across a restart
        moto.client().create_bucket(Bucket=TARGET)
    else:
        assert eventually(lambda: _get(c3, bucket, "kept")) == kept
    eventually(lambda: _put(c3, bucket, "after", b"after"))
    assert c3.get_object(Bucket=bucket, Key="after")["Body"].read() == b"after"
    for key in ["kept", "after"]:
        c3.delete_object(Bucket=bucket, Key=key)
    c3.delete_object(Bucket=local, Key="fine")
    c3.delete_bucket(Bucket=bucket)
    c3.delete_bucket(Bucket=local)


def _get(c3, bucket, key):
    try:
        return c3.get_object(Bucket=bucket, Key=key)["Body"].read()
    except ClientError as e:
        raise AssertionError(e)


def _put(c3, bucket, key, body):
    try:
        c3.put_object(Bucket=bucket, Key=key, Body=body)
    except ClientError as e:
        raise AssertionError(e)


def admin(data_dir, *args, env=None):
    return subprocess.run([BIN, "admin", "--data-dir", str(data_dir), "location", *args],
                          capture_output=True, text=True, env=dict(os.environ, **(env or {})), timeout=60)


def test_admin_location_commands(tmp_root, moto, azurite):
    data_dir = tmp_root / f"admin-{uuid.uuid4().hex[:8]}"
    ok = admin(data_dir, "add", "backup", "s3", f"endpoint={moto.endpoint}", f"bucket={TARGET}",
               "path_style=true", "access_key=moto", "secret_key=TOPSECRETVALUE", "--transient")
    assert ok.returncode == 0, ok.stderr
    assert "probe passed" in ok.stdout
    listed = admin(data_dir, "list")
    assert "backup\ts3\ttrue\tstrata admin" in listed.stdout and "local\tfs\tfalse\tbuilt-in" in listed.stdout
    shown = admin(data_dir, "show", "backup")
    assert shown.returncode == 0 and f"bucket = {TARGET}" in shown.stdout
    assert "TOPSECRETVALUE" not in shown.stdout + listed.stdout + ok.stdout + ok.stderr

    again = admin(data_dir, "add", "backup", "mem")
    assert again.returncode != 0 and "already exists" in again.stderr
    missing = admin(data_dir, "add", "nobucket", "s3", f"endpoint={moto.endpoint}")
    assert missing.returncode != 0 and "bucket" in missing.stderr
    dead = free_port()
    unreachable = admin(data_dir, "add", "gone", "s3", f"endpoint=http://127.0.0.1:{dead}", "bucket=b",
                        "path_style=true", "access_key=a", "secret_key=b", "timeout_secs=3")
    assert unreachable.returncode != 0 and "location gone refused" in unreachable.stderr
    wrong = admin(data_dir, "add", "az", "azure", f"endpoint={azurite.endpoint}", f"account={AZURE_ACCOUNT}",
                  f"container={TARGET}", "access_key=" + "d3Jvbmcga2V5" * 8, "timeout_secs=5")
    assert wrong.returncode != 0 and "location az refused" in wrong.stderr
    assert "d3Jvbmcga2V5" not in wrong.stderr
    env_missing = admin(data_dir, "add", "envy", "s3", "bucket=b", "access_key_env=STRATA_NOT_SET_AK",
                        "secret_key=x")
    assert env_missing.returncode != 0 and "STRATA_NOT_SET_AK" in env_missing.stderr

    # a location in use cannot be removed
    s = Server(data_dir).start()
    try:
        client = s.client()
        client.create_bucket(Bucket="uses-backup", CreateBucketConfiguration={"LocationConstraint": "backup"})
        client.put_object(Bucket="uses-backup", Key="k", Body=b"in backup")
        assert client.head_object(Bucket="uses-backup", Key="k")["StorageClass"] == "backup"
    finally:
        s.stop()
    refused = admin(data_dir, "remove", "backup")
    assert refused.returncode != 0 and "bucket uses-backup" in refused.stderr
    s.start()
    try:
        client = s.client()
        client.delete_object(Bucket="uses-backup", Key="k")
        client.delete_bucket(Bucket="uses-backup")
        time.sleep(1)  # let gc remove the deleted blob from the location
        # nor one a rule still sends data to
        client.create_bucket(Bucket="rules-backup")
        client.put_bucket_lifecycle_configuration(Bucket="rules-backup", LifecycleConfiguration={"Rules": [
            {"ID": "t", "Status": "Enabled", "Filter": {"Prefix": ""},
             "Transitions": [{"Days": 30, "StorageClass": "backup"}]}]})
    finally:
        s.stop()
    refused = admin(data_dir, "remove", "backup")
    assert refused.returncode != 0 and "lifecycle transitions of bucket rules-backup" in refused.stderr
    s.start()
    try:
        s.client().delete_bucket(Bucket="rules-backup")
    finally:
        s.stop()
    # nor the default location
    config = data_dir / "default-backup.toml"
    config.write_text('default_location = "backup"\n')
    as_default = subprocess.run([BIN, "admin", "--data-dir", str(data_dir), "--config", str(config),
                                 "location", "remove", "backup"], capture_output=True, text=True, timeout=60)
    assert as_default.returncode != 0 and "default location" in as_default.stderr, as_default.stderr
    by_env = admin(data_dir, "remove", "backup", env={"STRATA_DEFAULT_LOCATION": "backup"})
    assert by_env.returncode != 0 and "default location" in by_env.stderr, by_env.stderr
    removed = admin(data_dir, "remove", "backup")
    assert removed.returncode == 0, removed.stderr
    assert "backup" not in admin(data_dir, "list").stdout
    assert admin(data_dir, "remove", "local").returncode != 0


def test_s3_keys_from_an_aws_profile(tmp_root, peer):
    """An `s3` location may take its keys from a profile of the AWS shared
    files. The peer is a Strata, which checks every signature: the profile's
    keys are the ones used, from the credentials or the config file."""
    aws = tmp_root / f"aws-{uuid.uuid4().hex[:8]}"
    aws.mkdir()
    (aws / "credentials").write_text(
        f"[default]\naws_access_key_id = {MAIN[0]}\naws_secret_access_key = not-the-secret\n\n"
        f"[peer]\naws_access_key_id = {MAIN[0]}\naws_secret_access_key = {MAIN[1]}\n")
    (aws / "config").write_text(
        f"[profile from-config]\naws_access_key_id = {MAIN[0]}\naws_secret_access_key = {MAIN[1]}\n")
    env = {"AWS_SHARED_CREDENTIALS_FILE": str(aws / "credentials"), "AWS_CONFIG_FILE": str(aws / "config")}
    data_dir = tmp_root / f"profiles-{uuid.uuid4().hex[:8]}"
    target = [f"endpoint={peer.endpoint}", f"bucket={TARGET}", "path_style=true", "timeout_secs=5"]

    def add(name, *settings):
        return admin(data_dir, "add", name, "s3", *target, *settings, env=env)

    for name, profile in (("via-profile", "peer"), ("via-config", "from-config")):
        ok = add(name, f"profile={profile}")
        assert ok.returncode == 0 and "probe passed" in ok.stdout, ok.stderr
    wrong = add("wrong-secret", "profile=default")
    assert wrong.returncode != 0 and "SignatureDoesNotMatch" in wrong.stderr, wrong.stderr
    missing = add("no-profile", "profile=nosuch")
    assert missing.returncode != 0 and "no profile nosuch in" in missing.stderr, missing.stderr
    both = add("both", "profile=peer", "access_key=a", "secret_key=b")
    assert both.returncode != 0 and "not several" in both.stderr, both.stderr

    s = Server(data_dir, extra_env=env).start()
    try:
        client = s.client()
        client.create_bucket(Bucket="by-profile", CreateBucketConfiguration={"LocationConstraint": "via-profile"})
        client.put_object(Bucket="by-profile", Key="k", Body=b"signed by the profile")
        assert client.get_object(Bucket="by-profile", Key="k")["Body"].read() == b"signed by the profile"
        assert b"signed by the profile" in backend_blobs("peer", None, peer, None, "k@").values()
    finally:
        s.stop()


def admin_online(server, *args):
    return subprocess.run([BIN, "admin", "--data-dir", str(server.data_dir), "--endpoint", server.endpoint,
                           "location", *args], capture_output=True, text=True, timeout=60)


def admin_api(server, method, path, token):
    """A raw admin API call; (status, JSON answer)."""
    import json
    import urllib.error
    import urllib.request

    request = urllib.request.Request(server.endpoint + "/_/admin/" + path, method=method,
                                     headers={"Authorization": f"Bearer {token}"})
    try:
        with urllib.request.urlopen(request, timeout=60) as r:
            return r.status, json.loads(r.read() or b"null")
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"null")


def test_locations_are_managed_while_the_server_runs(make_server, moto):
    s = make_server()
    client = s.client()
    settings = ["s3", f"endpoint={moto.endpoint}", f"bucket={TARGET}", "path_style=true",
                "access_key=moto", "secret_key=TOPSECRETVALUE", "prefix=online"]
    added = admin_online(s, "add", "online", *settings)
    assert added.returncode == 0 and "probe passed" in added.stdout, added.stderr
    # usable at once, without a restart
    client.create_bucket(Bucket="online-bucket", CreateBucketConfiguration={"LocationConstraint": "online"})
    client.put_object(Bucket="online-bucket", Key="k", Body=b"placed online")
    assert client.head_object(Bucket="online-bucket", Key="k")["StorageClass"] == "online"
    assert b"placed online" in backend_blobs("moto", moto, None, None, "online/k@").values()
    listed = admin_online(s, "list")
    assert "online	s3	false	strata admin" in listed.stdout and "local	fs	false	built-in" in listed.stdout
    shown = admin_online(s, "show", "online")
    assert f"bucket = {TARGET}" in shown.stdout and "declared_in = strata admin" in shown.stdout
    assert "TOPSECRETVALUE" not in added.stdout + added.stderr + listed.stdout + shown.stdout

    again = admin_online(s, "add", "online", "mem")
    assert again.returncode != 0 and "409" in again.stderr and "online" in again.stderr
    dead = free_port()
    unreachable = admin_online(s, "add", "gone", "s3", f"endpoint=http://127.0.0.1:{dead}", "bucket=b",
                               "path_style=true", "access_key=a", "secret_key=b", "timeout_secs=2")
    assert unreachable.returncode != 0 and "location gone refused" in unreachable.stderr
    in_use = admin_online(s, "remove", "online")
    assert in_use.returncode != 0 and "409" in in_use.stderr and "online-bucket" in in_use.stderr
    assert admin_online(s, "remove", "local").returncode != 0
    assert admin_online(s, "show", "nowhere").returncode != 0

    # the API behind the CLI wants the operator's token
    status, answer = admin_api(s, "GET", "locations", token="wrong")
    assert status == 403 and answer["code"] == "AccessDenied"

    client.delete_object(Bucket="online-bucket", Key="k")
    client.delete_bucket(Bucket="online-bucket")
    # nor while a replication rule sends data there
    client.create_bucket(Bucket="replicates-online")
    client.put_bucket_versioning(Bucket="replicates-online", VersioningConfiguration={"Status": "Enabled"})
    client.put_bucket_replication(Bucket="replicates-online", ReplicationConfiguration={"Role": "r", "Rules": [
        {"ID": "r", "Status": "Enabled", "Prefix": "",
         "Destination": {"Bucket": "arn:aws:s3:::x", "StorageClass": "online"}}]})
    named = admin_online(s, "remove", "online")
    assert named.returncode != 0 and "replication rules of bucket replicates-online" in named.stderr, named.stderr
    client.delete_bucket_replication(Bucket="replicates-online")

    def removed():
        # Refused (409) until the collector has removed the deleted object's blob.
        done = admin_online(s, "remove", "online")
        assert done.returncode == 0, done.stderr
    eventually(removed)
    assert "online" not in admin_online(s, "list").stdout
    with pytest.raises(ClientError) as e:
        client.create_bucket(Bucket="late-bucket", CreateBucketConfiguration={"LocationConstraint": "online"})
    assert error_code(e) == "InvalidLocationConstraint"
    # and it stays removed after a restart
    s.stop()
    s.start()
    assert "online" not in admin_online(s, "list").stdout


class FaultyProxy:
    """An HTTP proxy in front of moto whose behaviour the test switches:
    pass (forward), 500 (every request fails), hang (never answers),
    garbage (200 with random bytes and no headers that matter)."""

    def __init__(self, target_port):
        import http.client
        import http.server
        import threading

        proxy = self
        self.mode = "pass"
        # How many CompleteMultipartUpload requests to come get a 500.
        self.completions_failing = 0
        # An ETag to answer PUTs with instead of the backend's.
        self.put_etag = None

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def handle_any(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                mode = proxy.mode
                if proxy.completions_failing and self.command == "POST" and "uploadId=" in self.path:
                    proxy.completions_failing -= 1
                    mode = "500"
                if mode == "hang":
                    time.sleep(30)
                    return
                if mode == "500":
                    reply = (b'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>InternalError</Code>'
                             b"<Message>We encountered an internal error. Please try again.</Message></Error>")
                    self.send_response(500)
                elif mode == "garbage":
                    reply = os.urandom(3000)
                    self.send_response(200)
                else:
                    conn = http.client.HTTPConnection("127.0.0.1", target_port, timeout=30)
                    conn.request(self.command, self.path, body=body, headers=dict(self.headers))
                    resp = conn.getresponse()
                    reply = resp.read()
                    self.send_response(resp.status)
                    for k, v in resp.getheaders():
                        if k.lower() == "etag" and self.command == "PUT" and proxy.put_etag:
                            v = proxy.put_etag
                        if k.lower() not in ("content-length", "transfer-encoding", "connection", "date", "server"):
                            self.send_header(k, v)
                    conn.close()
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(reply)

            do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = handle_any

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()


def test_a_broken_backend_gives_clear_errors_and_the_namespace_stays_consistent(tmp_root, moto, make_server):
    proxy = FaultyProxy(moto.port)
    config = tmp_root / f"flaky-{uuid.uuid4().hex[:6]}.toml"
    config.write_text(f"""
[[location]]
name = "flaky"
type = "s3"
endpoint = "http://127.0.0.1:{proxy.port}"
bucket = "{TARGET}"
path_style = true
access_key = "moto"
secret_key = "moto-secret"
timeout_secs = 2
retries = 1
breaker_cooldown_secs = 1
""")
    try:
        server = make_server(extra_env={"STRATA_CONFIG": str(config)})
        client = server.client()
        bucket = new_bucket(client, "flaky")
        good = os.urandom(200_000)
        client.put_object(Bucket=bucket, Key="good", Body=good)
        for mode in ["500", "hang", "garbage"]:
            proxy.mode = mode
            time.sleep(1.1)  # let the breaker's cool-down pass: every mode is met by the backend
            # Over 8 MiB a blob is one streamed PutObject of Strata's own.
            for call in [lambda: client.get_object(Bucket=bucket, Key="good")["Body"].read(),
                         lambda: client.put_object(Bucket=bucket, Key="good", Body=os.urandom(100_000)),
                         lambda: client.put_object(Bucket=bucket, Key="good", Body=os.urandom(9 << 20))]:
                started = time.time()
                with pytest.raises(ClientError) as e:
                    call()
                assert time.time() - started < 10, f"{mode}: the error must come quickly"
                assert error_code(e) == "ServiceUnavailable", (mode, e.value.response)
                assert "location flaky" in e.value.response["Error"]["Message"], mode
        # a multipart upload whose completion the backend answers with garbage
        proxy.mode = "pass"
        time.sleep(1.1)
        up = client.create_multipart_upload(Bucket=bucket, Key="good")
        part = client.upload_part(Bucket=bucket, Key="good", UploadId=up["UploadId"], PartNumber=1, Body=b"p")
        proxy.mode = "garbage"
        with pytest.raises(ClientError) as e:
            client.complete_multipart_upload(Bucket=bucket, Key="good", UploadId=up["UploadId"], MultipartUpload={
                "Parts": [{"PartNumber": 1, "ETag": part["ETag"]}]})
        assert error_code(e) == "ServiceUnavailable" and "location flaky" in e.value.response["Error"]["Message"], e.value.response
        proxy.mode = "pass"
        time.sleep(1.1)
        client.abort_multipart_upload(Bucket=bucket, Key="good", UploadId=up["UploadId"])
        # a completion answered 500 once is sent again (it completed nothing)
        up = client.create_multipart_upload(Bucket=bucket, Key="assembled")
        part = client.upload_part(Bucket=bucket, Key="assembled", UploadId=up["UploadId"], PartNumber=1, Body=b"p")
        proxy.completions_failing = 1
        once = server.client(retries={"total_max_attempts": 1})  # the client must not be the one retrying
        once.complete_multipart_upload(Bucket=bucket, Key="assembled", UploadId=up["UploadId"], MultipartUpload={
            "Parts": [{"PartNumber": 1, "ETag": part["ETag"]}]})
        assert proxy.completions_failing == 0
        assert _get(client, bucket, "assembled") == b"p"
        client.delete_object(Bucket=bucket, Key="assembled")
        # nothing the failures did is visible: the object is the one first written
        assert eventually(lambda: _get(client, bucket, "good")) == good
        keys = [o["Key"] for o in client.list_objects_v2(Bucket=bucket).get("Contents", [])]
        assert keys == ["good"]
        client.delete_object(Bucket=bucket, Key="good")
        client.delete_bucket(Bucket=bucket)
    finally:
        proxy.close()


def test_the_md5_behind_etags_may_come_from_the_backend(tmp_root, moto, peer, azurite, make_server):
    """With `md5_from_backend` (the default for a Strata site) large blobs
    and parts are not hashed by the front, nor large blobs in Azure (whose
    Put Blob answers with the MD5): their ETags are the backend's MD5s, a
    wrong Content-MD5 is still refused, and a backend answering with an
    ETag that is not an MD5 fails the write instead of giving a wrong ETag."""
    proxy = FaultyProxy(moto.port)
    config = tmp_root / f"md5-{uuid.uuid4().hex[:6]}.toml"
    config.write_text(s3_location("site", peer.endpoint, TARGET, keys=MAIN, strata=True)
                      + s3_location("proxied", f"http://127.0.0.1:{proxy.port}", TARGET)
                      + "md5_from_backend = true\n" + azure_location("az", azurite.endpoint))
    try:
        server = make_server(extra_env={"STRATA_CONFIG": str(config)})
        client = server.client()
        for location in ["site", "az", "proxied"]:
            bucket = new_bucket(client, location)
            body = os.urandom(9 * MiB)  # over 8 MiB: one streamed PutObject
            md5 = hashlib.md5(body)
            assert client.put_object(Bucket=bucket, Key="big", Body=body)["ETag"] == f'"{md5.hexdigest()}"'
            got = client.get_object(Bucket=bucket, Key="big")
            assert got["ETag"] == f'"{md5.hexdigest()}"' and got["Body"].read() == body
            with pytest.raises(ClientError) as e:
                client.put_object(Bucket=bucket, Key="bad", Body=body,
                                  ContentMD5=base64.b64encode(hashlib.md5(b"other").digest()).decode())
            assert error_code(e) == "BadDigest"
            up = client.create_multipart_upload(Bucket=bucket, Key="parts")["UploadId"]
            parts = [os.urandom(5 * MiB), os.urandom(MiB)]
            etags = [client.upload_part(Bucket=bucket, Key="parts", UploadId=up, PartNumber=n + 1,
                                        Body=part)["ETag"] for n, part in enumerate(parts)]
            assert etags == [f'"{hashlib.md5(part).hexdigest()}"' for part in parts]
            client.complete_multipart_upload(Bucket=bucket, Key="parts", UploadId=up, MultipartUpload={
                "Parts": [{"PartNumber": n + 1, "ETag": etag} for n, etag in enumerate(etags)]})
            assert _get(client, bucket, "parts") == b"".join(parts)
            keys = [o["Key"] for o in client.list_objects_v2(Bucket=bucket).get("Contents", [])]
            assert keys == ["big", "parts"]
        # An SSE-KMS bucket's ETags are not MD5s; one that cannot be one fails the write.
        proxy.put_etag = '"not-an-md5"'
        with pytest.raises(ClientError) as e:
            client.put_object(Bucket=bucket, Key="big", Body=os.urandom(9 * MiB))
        assert error_code(e) == "ServiceUnavailable", e.value.response
        assert "md5_from_backend" in e.value.response["Error"]["Message"]
        assert _get(client, bucket, "big") == body
        proxy.put_etag = None
        for key in ["big", "parts"]:
            client.delete_object(Bucket=bucket, Key=key)
    finally:
        proxy.close()


def test_bench_drives_a_location_directly(tmp_root, azurite):
    """`strata bench --location` runs the large phase through Strata's own
    client for a location (the direct side of scripts/bench-locations),
    leaving nothing behind."""
    config = tmp_root / "bench-location.toml"
    config.write_text(azure_location("az", azurite.endpoint))
    out = subprocess.run([BIN, "bench", "--location", "az", "--config", str(config), "--large-ops", "2"],
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    for phase in ["PUT 64 MiB", "GET 64 MiB", "DELETE 64 MiB"]:
        line = next(line for line in out.stdout.splitlines() if line.startswith(phase))
        assert " 2 ops " in line and "MiB/s" in line, line
    # 2 x 64 MiB written, then read back whole (the GET counts what it received)
    get = next(line for line in out.stdout.splitlines() if line.startswith("GET 64 MiB"))
    assert float(get.split("ops/s")[1].split("MiB/s")[0]) > 0, get
    assert [b.name for b in azurite.container.list_blobs() if b.name.startswith("large/")] == []
    missing = subprocess.run([BIN, "bench", "--location", "nowhere", "--config", str(config)],
                             capture_output=True, text=True, timeout=60)
    assert missing.returncode != 0 and "declares no location \"nowhere\"" in missing.stderr, missing.stderr


def test_default_location_from_the_config_file(tmp_root, azurite, make_server):
    config = tmp_root / f"default-{uuid.uuid4().hex[:6]}.toml"
    config.write_text('default_location = "blobs"\n'
                      + azure_location("blobs", azurite.endpoint, extra="bucket_match = false\n"))
    client = make_server(extra_env={"STRATA_CONFIG": str(config)}).client()
    bucket = f"dflt-{uuid.uuid4().hex[:8]}"
    client.create_bucket(Bucket=bucket)
    client.put_object(Bucket=bucket, Key="k", Body=b"by default in azure")
    # the default location is not shown as a storage class, but holds the bytes
    assert "StorageClass" not in client.head_object(Bucket=bucket, Key="k")
    names = [b.name for b in azurite.container.list_blobs(name_starts_with=f"{bucket}/k@")]
    assert len(names) == 1 and azurite.container.download_blob(names[0]).readall() == b"by default in azure"
    with pytest.raises(ClientError) as e:
        client.create_bucket(Bucket=f"x-{uuid.uuid4().hex[:8]}",
                             CreateBucketConfiguration={"LocationConstraint": "moto"})
    assert error_code(e) == "InvalidLocationConstraint"
    client.delete_object(Bucket=bucket, Key="k")
    client.delete_bucket(Bucket=bucket)


@pytest.mark.parametrize("backend", ["moto", "peer"])
def test_a_versioned_backend_bucket_serves_the_versions_written_and_keeps_no_deleted_bytes(
        backend, tmp_root, moto, peer, make_server):
    """Each blob's record keeps the version the backend gave it: reads ask
    for it, so bytes the backend's own tools put over a blob later are never
    served; the collector removes every version of a deleted blob, where a
    plain delete would only hide its bytes behind a delete marker."""
    target = f"versioned-{uuid.uuid4().hex[:8]}"
    direct = moto.client() if backend == "moto" else peer.client()
    direct.create_bucket(Bucket=target)
    direct.put_bucket_versioning(Bucket=target, VersioningConfiguration={"Status": "Enabled"})
    keys = ("moto", "moto-secret") if backend == "moto" else MAIN
    config = tmp_root / f"versioned-{uuid.uuid4().hex[:6]}.toml"
    config.write_text(s3_location("versioned", moto.endpoint if backend == "moto" else peer.endpoint,
                                  target, keys))
    client = make_server(extra_env={"STRATA_CONFIG": str(config)}).client()
    bucket = new_bucket(client, "versioned")
    written = {"small": b"small bytes", "large": os.urandom(9 * MiB + 5)}
    for key, body in written.items():
        client.put_object(Bucket=bucket, Key=key, Body=body)
    parts = [os.urandom(5 * MiB), b"last part"]
    up = client.create_multipart_upload(Bucket=bucket, Key="mpu")["UploadId"]
    etags = [client.upload_part(Bucket=bucket, Key="mpu", UploadId=up, PartNumber=i + 1, Body=b)["ETag"]
             for i, b in enumerate(parts)]
    client.complete_multipart_upload(Bucket=bucket, Key="mpu", UploadId=up, MultipartUpload={
        "Parts": [{"PartNumber": i + 1, "ETag": e} for i, e in enumerate(etags)]})
    written["mpu"] = b"".join(parts)
    client.copy_object(Bucket=bucket, Key="copy", CopySource={"Bucket": bucket, "Key": "small"})
    written["copy"] = written["small"]

    blobs = [o["Key"] for o in direct.list_objects_v2(Bucket=target).get("Contents", [])]
    assert sorted(b.split("@")[0] for b in blobs) == sorted(written), blobs
    for blob in blobs:
        direct.put_object(Bucket=target, Key=blob, Body=b"put over the blob by another tool")
    for key, body in written.items():
        assert client.get_object(Bucket=bucket, Key=key)["Body"].read() == body, key
    got = client.get_object(Bucket=bucket, Key="large", Range="bytes=100-199")["Body"].read()
    assert got == written["large"][100:200]

    for key in written:
        client.delete_object(Bucket=bucket, Key=key)
    def nothing_left():
        listed = direct.list_object_versions(Bucket=target)
        left = [v["Key"] for v in listed.get("Versions", []) + listed.get("DeleteMarkers", [])]
        assert left == [], left
    eventually(nothing_left)
    client.delete_bucket(Bucket=bucket)


def test_a_backend_refusing_version_deletes_leaves_the_blob_hidden_and_says_so(tmp_root, peer, make_server):
    """Credentials that may not delete versions: the collector's plain
    delete hides the blob behind a marker, says its bytes stay, and does not
    try again at every pass."""
    target = f"noversions-{uuid.uuid4().hex[:8]}"
    direct = peer.client()
    direct.create_bucket(Bucket=target)
    direct.put_bucket_versioning(Bucket=target, VersioningConfiguration={"Status": "Enabled"})
    direct.put_bucket_policy(Bucket=target, Policy=json.dumps({"Version": "2012-10-17", "Statement": [{
        "Effect": "Deny", "Principal": "*", "Action": "s3:DeleteObjectVersion",
        "Resource": f"arn:aws:s3:::{target}/*"}]}))
    config = tmp_root / f"noversions-{uuid.uuid4().hex[:6]}.toml"
    config.write_text(s3_location("noversions", peer.endpoint, target, MAIN))
    server = make_server(extra_env={"STRATA_CONFIG": str(config)})
    client = server.client()
    bucket = new_bucket(client, "noversions")
    def said(times):
        def check():
            assert server.log_path.read_text().count("earlier versions stay in the versioned bucket") == times
        eventually(check)
    for n, key in enumerate(["k", "k2"], start=1):
        # the second delete wakes the collector again: the first blob is not retried
        client.put_object(Bucket=bucket, Key=key, Body=b"bytes")
        client.delete_object(Bucket=bucket, Key=key)
        said(n)
    assert "Contents" not in direct.list_objects_v2(Bucket=target)  # hidden
    assert "could not remove a garbage blob" not in server.log_path.read_text()


def test_a_location_whose_bucket_is_missing_is_named_not_ready(tmp_root, moto, azurite, make_server):
    """The start-up and readiness check lists the bucket (container): a
    missing one is a location not answering, though a HEAD would say 404."""
    config = tmp_root / f"nobucket-{uuid.uuid4().hex[:6]}.toml"
    missing_container = azure_location("gone-container", azurite.endpoint, "no-such-container")
    config.write_text(s3_location("gone-bucket", moto.endpoint, f"no-such-bucket-{uuid.uuid4().hex[:6]}")
                      + missing_container + s3_location("fine", moto.endpoint, TARGET))
    s = make_server(extra_env={"STRATA_CONFIG": str(config)})
    ready = urllib.request.urlopen(s.endpoint + "/_/ready", timeout=10)
    assert ready.status == 200
    assert ready.read() == b"ready; locations not answering: gone-bucket, gone-container\n"
    def logged():
        assert "location does not answer" in s.log_path.read_text()
    eventually(logged)


def test_a_crash_mid_upload_leaves_no_backend_upload(tmp_root, peer, make_server):
    """A blob over 8 MiB that Strata encrypts goes to an `s3` location as the
    backend's multipart upload; a kill -9 while it streams leaves that upload
    open in the backend, and the next start's collector aborts it. (The
    backend is a second Strata: moto's DeleteObject drops a key's uploads
    too, which S3's does not.)"""
    bucket = f"crash-{uuid.uuid4().hex[:6]}"
    backend = peer.client()
    backend.create_bucket(Bucket=bucket)
    config = tmp_root / f"{bucket}.toml"
    config.write_text('default_location = "peer"\n' + s3_location("peer", peer.endpoint, bucket, keys=MAIN))
    s = make_server(extra_env={"STRATA_CONFIG": str(config)})
    c = s.client()
    c.create_bucket(Bucket="sealed")
    from botocore.auth import S3SigV4Auth
    from botocore.awsrequest import AWSRequest
    body = os.urandom(30 * MiB)
    req = AWSRequest(method="PUT", url=f"{s.endpoint}/sealed/big", data=body,
                     headers={"x-amz-server-side-encryption": "AES256"})
    S3SigV4Auth(c._request_signer._credentials, "s3", "us-east-1").add_auth(req)
    headers = dict(req.headers.items(), Host=f"127.0.0.1:{s.port}", **{"Content-Length": str(len(body))})
    head = "PUT /sealed/big HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers.items()) + "\r\n"
    with socket.create_connection(("127.0.0.1", s.port)) as sock:
        sock.sendall(head.encode() + body[:20 * MiB])
        eventually(lambda: backend.list_multipart_uploads(Bucket=bucket)["Uploads"])
        s.kill9()
    s.start()
    def aborted():
        assert not backend.list_multipart_uploads(Bucket=bucket).get("Uploads"), "the upload was aborted"
        assert not backend.list_objects_v2(Bucket=bucket).get("Contents"), "nothing was left"
    eventually(aborted, 30)


def test_a_location_dropped_from_the_config_while_a_bucket_uses_it_stops_the_start(tmp_root, make_server):
    config = tmp_root / f"dropped-{uuid.uuid4().hex[:6]}.toml"
    declared = f'[[location]]\nname = "extra"\ntype = "fs"\npath = "{tmp_root / "extra-fs"}"\n'
    config.write_text(declared)
    s = make_server(extra_env={"STRATA_CONFIG": str(config)})
    s.client().create_bucket(Bucket="on-extra", CreateBucketConfiguration={"LocationConstraint": "extra"})
    s.stop()
    config.write_text("")
    with pytest.raises(RuntimeError):
        s.start()
    assert "bucket on-extra keeps its data in location extra, which is no longer declared" in s.log_path.read_text()
    config.write_text(declared)
    s.start()
    assert s.client().head_bucket(Bucket="on-extra")


def test_a_backend_that_dies_mid_stream_fails_the_request_cleanly(tmp_root, make_server):
    """The backend (a second Strata) is killed while a 100 MiB PUT streams
    into it: the PUT fails naming the location, the version before stays
    whole, and once the backend is back the same PUT goes through."""
    bucket = "mid-stream"
    backend = make_server()
    backend.client().create_bucket(Bucket=bucket)
    config = tmp_root / f"{bucket}-{uuid.uuid4().hex[:6]}.toml"
    config.write_text(s3_location("dying", backend.endpoint, bucket, keys=MAIN, timeout=5))
    front = make_server(extra_env={"STRATA_CONFIG": str(config)})
    c = front.client()
    c.create_bucket(Bucket="front", CreateBucketConfiguration={"LocationConstraint": "dying"})
    before = os.urandom(300_000)
    c.put_object(Bucket="front", Key="k", Body=before)
    big = os.urandom(100 * MiB)
    killer = threading.Timer(0.3, backend.kill9)
    killer.start()
    started = time.time()
    with pytest.raises(ClientError) as e:
        c.put_object(Bucket="front", Key="k", Body=big)
    killer.join()
    assert time.time() - started < 20
    assert error_code(e) == "ServiceUnavailable" and "location dying" in e.value.response["Error"]["Message"]
    backend.start()
    assert eventually(lambda: _get(c, "front", "k")) == before, "the version before stays whole"
    eventually(lambda: _put(c, "front", "k", big), 30)
    assert c.get_object(Bucket="front", Key="k")["Body"].read() == big
