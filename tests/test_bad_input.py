import socket

import pytest
import urllib3
from botocore.exceptions import ClientError

from conftest import error_code

http = urllib3.PoolManager()


def signed(s3, method, bucket, key, params, body):
    """A request signed by botocore with a body and query of our choosing."""
    from botocore.auth import S3SigV4Auth
    from botocore.awsrequest import AWSRequest
    url = f"{s3.meta.endpoint_url}/{bucket}/{key}" + ("?" + params if params else "")
    req = AWSRequest(method=method, url=url, data=body)
    S3SigV4Auth(s3._request_signer._credentials, "s3", "us-east-1").add_auth(req)
    return http.request(method, url, body=body, headers=dict(req.headers.items()))


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


def test_truncated_body_stores_nothing(server, s3, bucket):
    from botocore.auth import S3SigV4Auth
    from botocore.awsrequest import AWSRequest
    url = f"{server.endpoint}/{bucket}/cut"
    req = AWSRequest(method="PUT", url=url, headers={"Content-Length": "1000000", "x-amz-content-sha256": "UNSIGNED-PAYLOAD"})
    S3SigV4Auth(s3._request_signer._credentials, "s3", "us-east-1").add_auth(req)
    with socket.create_connection(("127.0.0.1", server.port)) as sock:
        head = f"PUT /{bucket}/cut HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in req.headers.items()) + "\r\n"
        sock.sendall(head.encode() + b"x" * 300_000)
    with pytest.raises(ClientError) as e:
        s3.head_object(Bucket=bucket, Key="cut")
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404
    s3.put_object(Bucket=bucket, Key="after", Body=b"still serving")
    assert not list((server.data_dir / "data" / "tmp").iterdir()), "no temp data is left behind"


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
