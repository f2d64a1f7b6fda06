"""Real S3 command-line clients against Strata: the aws CLI, rclone and
s3cmd, each through a tour of what users do with it."""
import hashlib
import json
import os
import shutil
import subprocess
import urllib.request
import uuid

import pytest

from conftest import MAIN


def aws(server, tmp_path, *args):
    config = tmp_path / "aws-config"
    config.write_text("[default]\nregion = us-east-1\ns3 =\n    addressing_style = path\n")
    env = dict(os.environ, AWS_ACCESS_KEY_ID=MAIN[0], AWS_SECRET_ACCESS_KEY=MAIN[1], AWS_CONFIG_FILE=str(config),
               AWS_SHARED_CREDENTIALS_FILE=str(tmp_path / "none"))
    r = subprocess.run(["aws", "--endpoint-url", server.endpoint, *args], env=env, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    return r.stdout


def test_aws_cli_tour(server, tmp_path):
    b = "cli-" + uuid.uuid4().hex[:8]
    big = tmp_path / "big.bin"
    big.write_bytes(os.urandom(20 << 20))
    album = tmp_path / "album"
    album.mkdir()
    for i in range(5):
        (album / f"p{i}.txt").write_text(f"photo {i}")
    aws(server, tmp_path, "s3", "mb", f"s3://{b}")
    aws(server, tmp_path, "s3", "cp", str(big), f"s3://{b}/big.bin")
    head = json.loads(aws(server, tmp_path, "s3api", "head-object", "--bucket", b, "--key", "big.bin"))
    assert head["ContentLength"] == 20 << 20 and "-" in head["ETag"], "the CLI used a multipart upload"
    aws(server, tmp_path, "s3", "cp", f"s3://{b}/big.bin", str(tmp_path / "back.bin"))
    assert (tmp_path / "back.bin").read_bytes() == big.read_bytes()
    aws(server, tmp_path, "s3", "sync", str(album), f"s3://{b}/album")
    listing = aws(server, tmp_path, "s3", "ls", f"s3://{b}", "--recursive")
    assert listing.count("album/p") == 5
    aws(server, tmp_path, "s3", "rm", f"s3://{b}", "--recursive")
    aws(server, tmp_path, "s3", "rb", f"s3://{b}")


def client_env(**extra):
    # A CA bundle set for the machine's own registries makes rclone refuse
    # a plain-HTTP endpoint; neither client needs one here.
    env = {k: v for k, v in os.environ.items() if k != "AWS_CA_BUNDLE"}
    return dict(env, **extra)


def run(*args):
    r = subprocess.run(args, env=client_env(), capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, f"{args}: {r.stderr}"
    return r.stdout


def a_tree(root):
    """Small files in nested folders, an empty file and a 12 MiB one."""
    (root / "sub" / "deeper").mkdir(parents=True)
    for i in range(3):
        (root / f"f{i}.txt").write_text(f"file {i}")
    (root / "sub" / "deeper" / "deep.txt").write_text("deep")
    (root / "empty").write_bytes(b"")
    (root / "big.bin").write_bytes(os.urandom(12 << 20))
    return root


@pytest.mark.skipif(not shutil.which("rclone"), reason="rclone not installed (apt-get install rclone)")
def test_rclone_tour(server, tmp_path):
    config = tmp_path / "rclone.conf"
    config.write_text(f"""[st]
type = s3
provider = Other
access_key_id = {MAIN[0]}
secret_access_key = {MAIN[1]}
endpoint = {server.endpoint}
region = us-east-1
force_path_style = true
""")
    def rclone(*args):
        return run("rclone", "--config", str(config), *args)

    src = a_tree(tmp_path / "src")
    b = "rc-" + uuid.uuid4().hex[:8]
    rclone("mkdir", f"st:{b}")
    # Multipart above 5 MiB; rclone checks each file's size and MD5 after upload.
    rclone("sync", str(src), f"st:{b}/data", "--s3-upload-cutoff", "5M", "--s3-chunk-size", "5M")
    rclone("check", str(src), f"st:{b}/data", "--download")  # fails on any difference
    assert sorted(rclone("lsf", "-R", "--files-only", f"st:{b}/data").split()) == [
        "big.bin", "empty", "f0.txt", "f1.txt", "f2.txt", "sub/deeper/deep.txt"]
    assert rclone("lsf", f"st:{b}/data/sub").split() == ["deeper/"]
    big_md5 = hashlib.md5((src / "big.bin").read_bytes()).hexdigest()
    assert rclone("md5sum", f"st:{b}/data/big.bin").split()[0] == big_md5
    # Server-side copy and move, then a modification time set in place.
    rclone("copyto", f"st:{b}/data/f0.txt", f"st:{b}/copy.txt")
    rclone("moveto", f"st:{b}/data/f1.txt", f"st:{b}/moved.txt")
    assert rclone("cat", f"st:{b}/copy.txt") == "file 0"
    assert rclone("cat", f"st:{b}/moved.txt") == "file 1"
    rclone("touch", "-t", "2020-01-02T03:04:05", f"st:{b}/copy.txt")
    assert "2020-01-02 03:04:05" in rclone("lsl", f"st:{b}/copy.txt")
    back = tmp_path / "back"
    rclone("sync", f"st:{b}/data", str(back))
    assert (back / "big.bin").read_bytes() == (src / "big.bin").read_bytes()
    assert not (back / "f1.txt").exists() and (back / "sub" / "deeper" / "deep.txt").read_text() == "deep"
    rclone("delete", f"st:{b}", "--include", "*.txt")
    assert sorted(rclone("lsf", "-R", "--files-only", f"st:{b}").split()) == ["data/big.bin", "data/empty"]
    rclone("purge", f"st:{b}")
    assert b not in rclone("lsd", "st:")


@pytest.mark.skipif(not shutil.which("s3cmd"), reason="s3cmd not installed (pip install s3cmd)")
def test_s3cmd_tour(server, tmp_path):
    """s3cmd with its default configuration, which signs for the region `US`
    until S3's AuthorizationHeaderMalformed names the right one; then SigV2."""
    host = server.endpoint.removeprefix("http://")
    config = tmp_path / "s3cfg"
    config.write_text(f"""[default]
access_key = {MAIN[0]}
secret_key = {MAIN[1]}
host_base = {host}
host_bucket = {host}
use_https = False
""")
    def s3cmd(*args, conf=config):
        return run("s3cmd", "-c", str(conf), *args)

    src = a_tree(tmp_path / "src")
    b = "sc-" + uuid.uuid4().hex[:8]
    s3cmd("mb", f"s3://{b}")
    s3cmd("put", str(src / "big.bin"), f"s3://{b}/big.bin", "--multipart-chunk-size-mb=5")
    info = s3cmd("info", f"s3://{b}/big.bin")
    assert hashlib.md5((src / "big.bin").read_bytes()).hexdigest() in info
    assert "Location:  us-east-1" in s3cmd("info", f"s3://{b}")
    s3cmd("sync", f"{src}/", f"s3://{b}/tree/")
    back = tmp_path / "back"
    s3cmd("sync", f"s3://{b}/tree/", f"{back}/")
    assert (back / "sub" / "deeper" / "deep.txt").read_text() == "deep"
    assert (back / "big.bin").read_bytes() == (src / "big.bin").read_bytes()
    s3cmd("cp", f"s3://{b}/tree/f0.txt", f"s3://{b}/copy.txt")
    s3cmd("mv", f"s3://{b}/copy.txt", f"s3://{b}/moved.txt")
    s3cmd("modify", f"s3://{b}/moved.txt", "--add-header=Cache-Control:max-age=60")
    assert s3cmd("get", f"s3://{b}/moved.txt", "-") == "file 0"
    s3cmd("setacl", f"s3://{b}/moved.txt", "--acl-public")
    with urllib.request.urlopen(f"{server.endpoint}/{b}/moved.txt") as anonymous:
        assert anonymous.headers["Cache-Control"] == "max-age=60"
        assert anonymous.read() == b"file 0"
    with urllib.request.urlopen(s3cmd("signurl", f"s3://{b}/tree/f2.txt", "+600").strip()) as signed:
        assert signed.read() == b"file 2"
    listing = s3cmd("ls", "-r", f"s3://{b}")
    assert listing.count(f"s3://{b}/tree/") == 6 and f"s3://{b}/moved.txt" in listing
    # SigV2, as older setups still configure it.
    v2 = tmp_path / "s3cfg-v2"
    v2.write_text(config.read_text() + "signature_v2 = True\n")
    s3cmd("put", str(src / "big.bin"), f"s3://{b}/v2.bin", "--multipart-chunk-size-mb=5", conf=v2)
    s3cmd("get", f"s3://{b}/v2.bin", str(tmp_path / "v2.bin"), conf=v2)
    assert (tmp_path / "v2.bin").read_bytes() == (src / "big.bin").read_bytes()
    s3cmd("rb", "--recursive", "--force", f"s3://{b}")
    assert f"s3://{b}" not in s3cmd("ls")
