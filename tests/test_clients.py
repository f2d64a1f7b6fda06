"""The aws CLI against Strata: mb, cp (multipart), ls, sync, rm, s3api."""
import json
import os
import subprocess
import uuid

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
