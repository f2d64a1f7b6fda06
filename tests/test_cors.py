"""CORS: the configuration API through boto3, preflight OPTIONS requests
(no credentials) and the CORS headers of actual requests."""
import http.client
import urllib.parse

import pytest
from botocore.exceptions import ClientError

from conftest import error_code

RULES = [
    {"ID": "app", "AllowedOrigins": ["https://app.example"], "AllowedMethods": ["GET", "PUT"],
     "AllowedHeaders": ["x-amz-*", "content-type"], "ExposeHeaders": ["ETag"], "MaxAgeSeconds": 600},
    {"AllowedOrigins": ["*"], "AllowedMethods": ["GET"]},
    {"AllowedOrigins": ["http://*.test"], "AllowedMethods": ["DELETE"]},
]


def raw(server, method, path, headers=None):
    url = urllib.parse.urlparse(server.endpoint)
    conn = http.client.HTTPConnection(url.hostname, url.port, timeout=10)
    try:
        conn.request(method, path, headers=headers or {})
        resp = conn.getresponse()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read()
    finally:
        conn.close()


@pytest.fixture
def cors_bucket(s3, bucket):
    s3.put_bucket_cors(Bucket=bucket, CORSConfiguration={"CORSRules": RULES})
    return bucket


def test_cors_round_trip(s3, bucket):
    with pytest.raises(ClientError) as e:
        s3.get_bucket_cors(Bucket=bucket)
    assert error_code(e) == "NoSuchCORSConfiguration"
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404
    s3.put_bucket_cors(Bucket=bucket, CORSConfiguration={"CORSRules": RULES})
    got = s3.get_bucket_cors(Bucket=bucket)["CORSRules"]
    assert got[0] == RULES[0]
    assert got[1] == RULES[1]
    s3.delete_bucket_cors(Bucket=bucket)
    with pytest.raises(ClientError) as e:
        s3.get_bucket_cors(Bucket=bucket)
    assert error_code(e) == "NoSuchCORSConfiguration"


@pytest.mark.parametrize("rules,code", [
    ([{"AllowedOrigins": ["*"], "AllowedMethods": ["PATCH"]}], "InvalidRequest"),
    ([{"AllowedOrigins": ["http://*.*.example"], "AllowedMethods": ["GET"]}], "InvalidRequest"),
    ([{"AllowedOrigins": ["*"], "AllowedMethods": ["GET"], "AllowedHeaders": ["x-*-*"]}], "InvalidRequest"),
    ([{"AllowedOrigins": ["*"], "AllowedMethods": ["GET"]}] * 101, "InvalidRequest"),
    ([{"AllowedOrigins": [], "AllowedMethods": ["GET"]}], "MalformedXML"),
])
def test_cors_refused(s3, cors_bucket, rules, code):
    with pytest.raises(ClientError) as e:
        s3.put_bucket_cors(Bucket=cors_bucket, CORSConfiguration={"CORSRules": rules})
    assert error_code(e) == code
    assert len(s3.get_bucket_cors(Bucket=cors_bucket)["CORSRules"]) == len(RULES)


def test_preflight_allowed(server, cors_bucket):
    status, h, _ = raw(server, "OPTIONS", f"/{cors_bucket}/photo.jpg", {
        "Origin": "https://app.example", "Access-Control-Request-Method": "PUT",
        "Access-Control-Request-Headers": "X-Amz-Date, Content-Type"})
    assert status == 200
    assert h["access-control-allow-origin"] == "https://app.example"
    assert h["access-control-allow-methods"] == "GET, PUT"
    assert h["access-control-allow-headers"] == "x-amz-date, content-type"
    assert h["access-control-expose-headers"] == "ETag"
    assert h["access-control-max-age"] == "600"
    assert "Origin" in h["vary"]


def test_preflight_wildcards(server, cors_bucket):
    status, h, _ = raw(server, "OPTIONS", f"/{cors_bucket}/k", {
        "Origin": "https://anyone.example", "Access-Control-Request-Method": "GET"})
    assert (status, h["access-control-allow-origin"]) == (200, "*")
    status, h, _ = raw(server, "OPTIONS", f"/{cors_bucket}/k", {
        "Origin": "http://a.test", "Access-Control-Request-Method": "DELETE"})
    assert (status, h["access-control-allow-origin"]) == (200, "http://a.test")


@pytest.mark.parametrize("headers", [
    {"Origin": "https://anyone.example", "Access-Control-Request-Method": "PUT"},
    {"Origin": "https://app.example", "Access-Control-Request-Method": "PUT",
     "Access-Control-Request-Headers": "x-custom"},
])
def test_preflight_denied(server, cors_bucket, headers):
    status, h, body = raw(server, "OPTIONS", f"/{cors_bucket}/k", headers)
    assert status == 403
    assert b"CORSResponse: This CORS request is not allowed" in body
    assert "access-control-allow-origin" not in h


def test_preflight_needs_origin_and_method(server, cors_bucket):
    assert raw(server, "OPTIONS", f"/{cors_bucket}/k")[0] == 400
    assert raw(server, "OPTIONS", f"/{cors_bucket}/k", {"Origin": "https://app.example"})[0] == 400


def test_preflight_without_cors_configuration(server, bucket):
    status, _, body = raw(server, "OPTIONS", f"/{bucket}/k", {
        "Origin": "https://app.example", "Access-Control-Request-Method": "GET"})
    assert status == 403
    assert b"CORS is not enabled for this bucket" in body


def test_actual_requests_get_cors_headers(server, cors_bucket):
    s3 = server.client()  # its own client: the hooks below stay on it
    s3.put_object(Bucket=cors_bucket, Key="k", Body=b"data")
    seen = {}

    def origin(request, **_):
        request.headers["Origin"] = "https://app.example"

    def capture(http_response, **_):
        seen.update({k.lower(): v for k, v in http_response.headers.items()})

    s3.meta.events.register("before-sign.s3.GetObject", origin)
    s3.meta.events.register("after-call.s3.GetObject", lambda **kw: capture(kw["http_response"]))
    assert s3.get_object(Bucket=cors_bucket, Key="k")["Body"].read() == b"data"
    assert seen["access-control-allow-origin"] == "https://app.example"
    assert seen["access-control-allow-methods"] == "GET, PUT"
    assert seen["access-control-expose-headers"] == "ETag"


def test_requests_without_origin_get_no_cors_headers(server, s3, cors_bucket):
    s3.put_object(Bucket=cors_bucket, Key="k", Body=b"data")
    resp = s3.head_object(Bucket=cors_bucket, Key="k")
    assert "access-control-allow-origin" not in resp["ResponseMetadata"]["HTTPHeaders"]


def test_actual_request_matched_by_its_request_method_header(server, s3, cors_bucket):
    s3.put_object(Bucket=cors_bucket, Key="k", Body=b"data")
    # Anonymous: refused, but the CORS headers still say what the origin may do.
    status, h, _ = raw(server, "GET", f"/{cors_bucket}/k", {
        "Origin": "http://a.test", "Access-Control-Request-Method": "DELETE"})
    assert (status, h["access-control-allow-origin"], h["access-control-allow-methods"]) == (403, "http://a.test", "DELETE")
    # Without it, the request's own method (GET) picks the wildcard rule.
    status, h, _ = raw(server, "GET", f"/{cors_bucket}/k", {"Origin": "http://a.test"})
    assert (h["access-control-allow-origin"], h["access-control-allow-methods"]) == ("*", "GET")
