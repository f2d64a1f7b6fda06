"""Starts real `strata server` processes and hands tests real S3 clients.

One server (main + alt accounts) serves the whole session; tests that kill or
restart a server get their own through `make_server`.
"""
import os
import pathlib
import signal
import socket
import subprocess
import tempfile
import time
import urllib.request
import uuid

import boto3
import pytest
from botocore.config import Config

ROOT = pathlib.Path(__file__).resolve().parent.parent
BIN = os.environ.get("STRATA_BIN", str(ROOT / "target" / "debug" / "strata"))
MAIN = ("MAINACCESSKEY", "main-secret-key-0123456789")
ALT = ("ALTACCESSKEY", "alt-secret-key-0123456789")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """A `strata server` process on its own port and data dir."""

    def __init__(self, data_dir, extra_env=None, wait_for="/_/ready"):
        self.data_dir = pathlib.Path(data_dir)
        self.port = free_port()
        self.log_path = self.data_dir.parent / f"{self.data_dir.name}.log"
        self.accounts = self.data_dir.parent / f"{self.data_dir.name}-accounts.toml"
        self.accounts.write_text(
            f'[[account]]\nname = "alt"\naccess_key = "{ALT[0]}"\nsecret_key = "{ALT[1]}"\n'
        )
        self.extra_env = extra_env or {}
        # The health path start() waits for: "/_/live" for a server meant to
        # run with a location that does not answer (its /_/ready is then 503).
        self.wait_for = wait_for
        self.proc = None

    @property
    def endpoint(self):
        return f"http://127.0.0.1:{self.port}"

    def start(self):
        env = dict(os.environ, STRATA_ACCESS_KEY=MAIN[0], STRATA_SECRET_KEY=MAIN[1], **self.extra_env)
        log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            [BIN, "server", "--listen", f"127.0.0.1:{self.port}", "--data-dir", str(self.data_dir),
             "--accounts-file", str(self.accounts)],
            env=env, stdout=log, stderr=log, start_new_session=True)
        deadline = time.time() + 30
        while time.time() < deadline:
            if self.proc.poll() is not None:
                break
            try:
                with urllib.request.urlopen(self.endpoint + self.wait_for, timeout=1) as r:
                    if r.status == 200:
                        return self
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("strata did not become ready:\n" + self.log_path.read_text()[-3000:])

    def stop(self, sig=signal.SIGTERM):
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, sig)
            self.proc.wait(timeout=30)
        self.proc = None

    def kill9(self):
        self.stop(signal.SIGKILL)

    def restart(self):
        self.stop()
        return self.start()

    def client(self, keys=MAIN, **config):
        return s3_client(self.endpoint, keys, **config)


def s3_client(endpoint, keys=MAIN, **config):
    cfg = {"signature_version": "s3v4", "s3": {"addressing_style": "path"}, "retries": {"max_attempts": 1}}
    cfg.update(config)
    return boto3.client("s3", endpoint_url=endpoint, aws_access_key_id=keys[0], aws_secret_access_key=keys[1],
                        region_name="us-east-1", config=Config(**cfg))


@pytest.fixture(scope="session")
def tmp_root():
    with tempfile.TemporaryDirectory(prefix="strata-tests-") as d:
        yield pathlib.Path(d)


@pytest.fixture(scope="session")
def server(tmp_root):
    s = Server(tmp_root / "main").start()
    yield s
    s.stop()


@pytest.fixture
def make_server(tmp_root):
    made = []

    def make(**kw):
        s = Server(tmp_root / f"srv-{uuid.uuid4().hex[:8]}", **kw).start()
        made.append(s)
        return s

    yield make
    for s in made:
        s.stop(signal.SIGKILL)


@pytest.fixture(scope="session")
def s3(server):
    return server.client()


@pytest.fixture(scope="session")
def s3_alt(server):
    return server.client(ALT)


def empty_bucket(client, name):
    """Removes every version and delete marker, then unfinished uploads."""
    for page in client.get_paginator("list_object_versions").paginate(Bucket=name):
        keys = [{"Key": v["Key"], "VersionId": v["VersionId"]}
                for v in page.get("Versions", []) + page.get("DeleteMarkers", [])]
        if keys:
            client.delete_objects(Bucket=name, Delete={"Objects": keys, "Quiet": True})
    for up in client.list_multipart_uploads(Bucket=name).get("Uploads", []):
        client.abort_multipart_upload(Bucket=name, Key=up["Key"], UploadId=up["UploadId"])


@pytest.fixture
def bucket(s3):
    name = "t-" + uuid.uuid4().hex[:12]
    s3.create_bucket(Bucket=name)
    yield name
    empty_bucket(s3, name)
    s3.delete_bucket(Bucket=name)


def error_code(excinfo):
    return excinfo.value.response["Error"]["Code"]


def status(excinfo):
    return excinfo.value.response["ResponseMetadata"]["HTTPStatusCode"]
