"""A kill -9 during a write load loses no acknowledged object and shows no partial one."""
import hashlib
import os
import random
import threading
import time

from botocore.exceptions import BotoCoreError, ClientError


def test_kill9_during_writes_loses_no_acknowledged_object(make_server):
    server = make_server()
    s3 = server.client()
    s3.create_bucket(Bucket="load")
    acked, lock, stop = {}, threading.Lock(), threading.Event()

    def writer(n):
        client = server.client()
        i = 0
        while not stop.is_set():
            key = f"w{n}/{i}"
            size = random.choice([10, 5000, 70_000, 300_000])
            body = os.urandom(size)
            try:
                client.put_object(Bucket="load", Key=key, Body=body)
            except (ClientError, BotoCoreError, OSError):
                return  # the server is gone
            with lock:
                acked[key] = hashlib.md5(body).hexdigest()
            i += 1

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    time.sleep(2.5)
    server.kill9()
    stop.set()
    for t in threads:
        t.join()
    assert len(acked) > 50, "the load ran"
    server.start()
    s3 = server.client()
    for key, md5 in acked.items():
        body = s3.get_object(Bucket="load", Key=key)["Body"].read()
        assert hashlib.md5(body).hexdigest() == md5, key
    listed = {}
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket="load"):
        for o in page.get("Contents", []):
            listed[o["Key"]] = o["ETag"].strip('"')
    for key, etag in listed.items():
        body = s3.get_object(Bucket="load", Key=key)["Body"].read()
        assert hashlib.md5(body).hexdigest() == etag, f"{key} is whole"
    assert set(acked) <= set(listed)


def test_graceful_restart_keeps_data(make_server):
    server = make_server()
    s3 = server.client()
    s3.create_bucket(Bucket="keep")
    s3.put_object(Bucket="keep", Key="k", Body=b"persisted")
    server.restart()
    assert server.client().get_object(Bucket="keep", Key="k")["Body"].read() == b"persisted"


def test_generated_root_credentials_are_printed_once(tmp_root):
    import subprocess
    from conftest import BIN, free_port
    data = tmp_root / "gen"
    env = {k: v for k, v in os.environ.items() if not k.startswith("STRATA_")}
    outputs = []
    for _ in range(2):
        p = subprocess.Popen([BIN, "server", "--data-dir", str(data), "--listen", f"127.0.0.1:{free_port()}"],
                             env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        line = ""
        while "S3 endpoint" not in line:
            line = p.stdout.readline()
            outputs.append(line)
            assert line, p.stderr.read()
        p.terminate()
        p.wait(timeout=30)
        outputs.append("--restart--")
    text = "".join(outputs)
    first, second = text.split("--restart--")[:2]
    assert "STRATA_SECRET_KEY=" in first and "STRATA_SECRET_KEY=" not in second
