import os
import socket
import time
import uuid

import pytest
import urllib3
from botocore.exceptions import ClientError

from conftest import error_code
from test_locations import eventually

http = urllib3.PoolManager()


def signed(s3, method, bucket, key, params, body):
    """A request signed by botocore with a body and query of our choosing."""
    from botocore.auth import S3SigV4Auth
    from botocore.awsrequest import AWSRequest
    url = f"{s3.meta.endpoint_url}/{bucket}/{key}" + ("?" + params if params else "")
    req = AWSRequest(method=method, url=url, data=body)
    S3SigV4Auth(s3._request_signer._credentials, "s3", "us-east-1").add_auth(req)
    return http.request(method, url, body=body, headers=dict(req.headers.items()))


def signed_chunked(s3, method, bucket, params, body):
    """As `signed`, but the body is sent chunked, without a Content-Length."""
    from botocore.auth import S3SigV4Auth
    from botocore.awsrequest import AWSRequest
    url = f"{s3.meta.endpoint_url}/{bucket}" + ("?" + params if params else "")
    req = AWSRequest(method=method, url=url, data=body)
    S3SigV4Auth(s3._request_signer._credentials, "s3", "us-east-1").add_auth(req)
    headers = {k: v for k, v in req.headers.items() if k.lower() != "content-length"}
    pieces = (body[i:i + (1 << 20)] for i in range(0, len(body), 1 << 20))
    return http.request(method, url, body=pieces, headers=headers, chunked=True)


def test_malformed_xml(s3, bucket):
    r = signed(s3, "POST", bucket, "", "delete", b"<Delete><Object><Key>a</Key></Obj")
    assert r.status == 400 and b"MalformedXML" in r.data
    uid = s3.create_multipart_upload(Bucket=bucket, Key="k")["UploadId"]
    r = signed(s3, "POST", bucket, "k", f"uploadId={uid}", b"<CompleteMultipartUpload><Part>")
    assert r.status == 400 and b"MalformedXML" in r.data
    s3.list_parts(Bucket=bucket, Key="k", UploadId=uid)  # the upload is untouched


def test_invalid_part_numbers(s3, bucket):
    uid = s3.create_multipart_upload(Bucket=bucket, Key="k")["UploadId"]
    for n in (0, 10001):
        with pytest.raises(ClientError) as e:
            s3.upload_part(Bucket=bucket, Key="k", UploadId=uid, PartNumber=n, Body=b"x")
        assert error_code(e) == "InvalidArgument"


def signed_head(server, s3, bucket, key, body, method="PUT", query=""):
    """The request line and headers of a request with `body`, signed as
    botocore signs it (the payload's hash included), to send by hand."""
    from botocore.auth import S3SigV4Auth
    from botocore.awsrequest import AWSRequest
    path = f"/{bucket}/{key}" + (f"?{query}" if query else "")
    req = AWSRequest(method=method, url=server.endpoint + path, data=body)
    S3SigV4Auth(s3._request_signer._credentials, "s3", "us-east-1").add_auth(req)
    headers = dict(req.headers.items(), Host=f"127.0.0.1:{server.port}", **{"Content-Length": str(len(body))})
    return (f"{method} {path} HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers.items())
            + "\r\n").encode()


def assert_absent(s3, bucket, key):
    with pytest.raises(ClientError) as e:
        s3.head_object(Bucket=bucket, Key=key)
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404


def no_temp_data(server):
    def check():
        assert not list((server.data_dir / "data" / "tmp").iterdir()), "no temp data is left behind"
    return check


def test_truncated_body_stores_nothing(server, s3, bucket):
    body = b"x" * 1_000_000
    with socket.create_connection(("127.0.0.1", server.port)) as sock:
        sock.sendall(signed_head(server, s3, bucket, "cut", body) + body[:300_000])
    assert_absent(s3, bucket, "cut")
    s3.put_object(Bucket=bucket, Key="after", Body=b"still serving")
    eventually(no_temp_data(server))


def test_a_stalled_upload_times_out_and_leaves_nothing(make_server):
    """A client that stops sending without closing its connection gets S3's
    RequestTimeout after the idle timeout; its partial data goes."""
    server = make_server(extra_env={"STRATA_IDLE_TIMEOUT_SECS": "2"})
    s3 = server.client()
    s3.create_bucket(Bucket="stalls")
    body = b"y" * 10_000_000
    with socket.create_connection(("127.0.0.1", server.port)) as sock:
        sock.sendall(signed_head(server, s3, "stalls", "stalled", body) + body[:2_000_000])
        sock.settimeout(15)
        started = time.time()
        answer = sock.recv(65536)
        assert time.time() - started < 10
    assert answer.startswith(b"HTTP/1.1 400") and b"<Code>RequestTimeout</Code>" in answer, answer
    assert_absent(s3, "stalls", "stalled")
    # An XML body (read whole, by s3s) that stalls gets the same answer.
    uid = s3.create_multipart_upload(Bucket="stalls", Key="mp")["UploadId"]
    xml = b"<CompleteMultipartUpload>" + b" " * 1000 + b"</CompleteMultipartUpload>"
    with socket.create_connection(("127.0.0.1", server.port)) as sock:
        sock.sendall(signed_head(server, s3, "stalls", "mp", xml, "POST", f"uploadId={uid}") + xml[:100])
        sock.settimeout(15)
        answer = sock.recv(65536)
    assert answer.startswith(b"HTTP/1.1 400") and b"<Code>RequestTimeout</Code>" in answer, answer
    assert_absent(s3, "stalls", "mp")
    eventually(no_temp_data(server))
    # Slow headers are cut off too.
    with socket.create_connection(("127.0.0.1", server.port)) as sock:
        sock.sendall(b"GET /stalls HTTP/1.1\r\nHost: x\r\n")
        sock.settimeout(15)
        started = time.time()
        try:
            rest = sock.recv(65536)
            while rest and not rest.endswith(b"\r\n\r\n") and b"</Error>" not in rest:
                rest += sock.recv(65536)
        except ConnectionResetError:
            pass
        assert time.time() - started < 10, "the connection was closed by the server"
    # A stop is not held up by a client that keeps a request open.
    stuck = socket.create_connection(("127.0.0.1", server.port))
    stuck.sendall(signed_head(server, s3, "stalls", "held", body) + body[:1000])
    time.sleep(0.2)
    started = time.time()
    server.stop()
    assert time.time() - started < 10
    stuck.close()


def test_header_flood_is_refused_cleanly(server, s3, bucket):
    headers = {f"x-flood-{i}": "v" * 100 for i in range(300)}
    try:
        r = http.request("GET", f"{server.endpoint}/{bucket}", headers=headers, retries=False)
        assert r.status in (400, 431)
    except urllib3.exceptions.ProtocolError:
        pass  # a clean close is fine too
    s3.list_objects_v2(Bucket=bucket)


def test_invalid_copy_source(s3, bucket):
    with pytest.raises(ClientError) as e:
        s3.copy_object(Bucket=bucket, Key="k", CopySource={"Bucket": bucket, "Key": "missing"})
    assert error_code(e) == "NoSuchKey"


def test_oversized_xml_and_invalid_keys_are_refused(server, s3, bucket):
    keys = b"".join(b"<Object><Key>k%d</Key></Object>" % i for i in range(1001))
    r = signed(s3, "POST", bucket, "", "delete", b"<Delete>" + keys + b"</Delete>")
    assert r.status == 400 and b"<Code>MalformedXML</Code>" in r.data
    rule = b"<CORSRule><AllowedMethod>GET</AllowedMethod><AllowedOrigin>*</AllowedOrigin></CORSRule>"
    huge = b"<CORSConfiguration>" + rule * 300_000 + b"</CORSConfiguration>"  # 26 MB
    r = signed(s3, "PUT", bucket, "", "cors", huge)
    assert r.status == 400 and b"<Code>MaxMessageLengthExceeded</Code>" in r.data, r.data[:300]
    # CreateBucket's body too: no bucket made
    created = f"huge-{uuid.uuid4().hex[:8]}"
    configuration = b"<CreateBucketConfiguration>" + b" " * (21 << 20) + b"</CreateBucketConfiguration>"
    r = signed(s3, "PUT", created, "", "", configuration)
    assert r.status == 400 and b"<Code>MaxMessageLengthExceeded</Code>" in r.data, r.data[:300]
    assert created not in [b["Name"] for b in s3.list_buckets()["Buckets"]]
    # Sent chunked, without a Content-Length, such a body is refused unread,
    # long, short or empty, as S3 does (411).
    for body in (huge, b"<CORSConfiguration>" + rule + b"</CORSConfiguration>"):
        r = signed_chunked(s3, "PUT", bucket, "cors", body)
        assert r.status == 411 and b"<Code>MissingContentLength</Code>" in r.data, r.data[:300]
    for body in (configuration, b""):
        r = signed_chunked(s3, "PUT", created, "", body)
        assert r.status == 411 and b"<Code>MissingContentLength</Code>" in r.data, r.data[:300]
        assert created not in [b["Name"] for b in s3.list_buckets()["Buckets"]]
    # ...while an object named "/" (path /bucket//) is an object, whatever its size
    big = os.urandom(21 << 20)
    s3.put_object(Bucket=bucket, Key="/", Body=big)
    assert s3.get_object(Bucket=bucket, Key="/")["Body"].read() == big
    s3.delete_object(Bucket=bucket, Key="/")
    for method in ("PUT", "GET"):
        r = signed(s3, method, bucket, "bad%FF%FEkey", "", b"x" if method == "PUT" else b"")
        assert r.status == 400 and b"<Code>InvalidURI</Code>" in r.data, r.data
    assert "Contents" not in s3.list_objects_v2(Bucket=bucket)
    with pytest.raises(ClientError):
        s3.get_bucket_cors(Bucket=bucket)


def test_a_body_longer_than_announced_stores_nothing(server, s3, bucket):
    """aws-chunked frames carrying more than x-amz-decoded-content-length."""
    body = b"x" * 100
    chunked = b"%x;chunk-signature=0\r\n" % len(body) + body + b"\r\n0;chunk-signature=0\r\n\r\n"
    from botocore.auth import S3SigV4Auth
    from botocore.awsrequest import AWSRequest
    url = f"{server.endpoint}/{bucket}/long"
    req = AWSRequest(method="PUT", url=url, data=chunked, headers={
        "x-amz-content-sha256": "STREAMING-UNSIGNED-PAYLOAD-TRAILER", "Content-Encoding": "aws-chunked",
        "x-amz-decoded-content-length": "10"})
    S3SigV4Auth(s3._request_signer._credentials, "s3", "us-east-1").add_auth(req)
    headers = dict(req.headers.items(), **{"x-amz-content-sha256": "STREAMING-UNSIGNED-PAYLOAD-TRAILER"})
    r = http.request("PUT", url, body=chunked, headers=headers, retries=False)
    assert r.status in (400, 403), r.data
    assert_absent(s3, bucket, "long")
    eventually(no_temp_data(server))


def test_a_part_cut_off_mid_upload_leaves_no_part(server, s3, bucket):
    uid = s3.create_multipart_upload(Bucket=bucket, Key="mp")["UploadId"]
    body = b"p" * 6_000_000
    from botocore.auth import S3SigV4Auth
    from botocore.awsrequest import AWSRequest
    path = f"/{bucket}/mp?partNumber=1&uploadId={uid}"
    req = AWSRequest(method="PUT", url=server.endpoint + path, data=body)
    S3SigV4Auth(s3._request_signer._credentials, "s3", "us-east-1").add_auth(req)
    headers = dict(req.headers.items(), Host=f"127.0.0.1:{server.port}", **{"Content-Length": str(len(body))})
    head = f"PUT {path} HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers.items()) + "\r\n"
    with socket.create_connection(("127.0.0.1", server.port)) as sock:
        sock.sendall(head.encode() + body[:2_000_000])
    def no_part():
        assert s3.list_parts(Bucket=bucket, Key="mp", UploadId=uid).get("Parts", []) == []
    eventually(no_part)
    eventually(no_temp_data(server))
    s3.abort_multipart_upload(Bucket=bucket, Key="mp", UploadId=uid)


def test_a_refusal_before_a_continue_closes_the_connection(server, s3, bucket):
    """A PUT with `Expect: 100-continue` refused before its body is read: the
    client may send the body anyway (botocore does, when the refusal races
    its wait), so the connection closes rather than read that body as the
    next request (which answered a later, valid request 400 Bad Request)."""
    head = signed_head(server, s3, bucket, "refused", b"x")
    head = head.replace(b"\r\n\r\n", b"\r\nExpect: 100-continue\r\nx-amz-server-side-encryption: bogus\r\n\r\n", 1)
    with socket.create_connection(("127.0.0.1", server.port)) as sock:
        sock.settimeout(10)
        sock.sendall(head)
        answer = b""
        while b"</Error>" not in answer:
            chunk = sock.recv(65536)
            assert chunk, answer
            answer += chunk
        assert answer.startswith(b"HTTP/1.1 400") and b"connection: close" in answer.lower(), answer
        # The late body and a next request on the same connection: never parsed.
        try:
            sock.sendall(b"x" + head)
            assert sock.recv(65536) == b""
        except (BrokenPipeError, ConnectionResetError):
            pass
    assert_absent(s3, bucket, "refused")
