"""Static websites: the configuration API through boto3, and the website
endpoint (`<bucket>.<website-domain>`) through plain anonymous HTTP."""
import http.client
import json
import uuid

import pytest
from botocore.exceptions import ClientError

from conftest import Server, empty_bucket, error_code

DOMAIN = "s3-website.test"


@pytest.fixture(scope="module")
def site_server(tmp_root):
    s = Server(tmp_root / "website", extra_env={"STRATA_WEBSITE_DOMAINS": DOMAIN}).start()
    yield s
    s.stop()


def public_read_policy(bucket):
    return json.dumps({"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": "*", "Action": "s3:GetObject",
        "Resource": f"arn:aws:s3:::{bucket}/*"}]})


@pytest.fixture
def private_site(site_server):
    s3 = site_server.client()
    name = "site-" + uuid.uuid4().hex[:10]
    s3.create_bucket(Bucket=name)
    yield s3, name
    empty_bucket(s3, name)
    s3.delete_bucket(Bucket=name)


@pytest.fixture
def site(private_site):
    """A bucket whose policy lets anyone read its objects, as websites on S3 have."""
    s3, name = private_site
    s3.put_bucket_policy(Bucket=name, Policy=public_read_policy(name))
    return s3, name


def get(server, bucket, path, method="GET", headers=None):
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    try:
        conn.request(method, path, headers={"Host": f"{bucket}.{DOMAIN}:{server.port}", **(headers or {})})
        resp = conn.getresponse()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read()
    finally:
        conn.close()


CONFIG = {
    "IndexDocument": {"Suffix": "index.html"},
    "ErrorDocument": {"Key": "error.html"},
    "RoutingRules": [
        {"Condition": {"KeyPrefixEquals": "docs/"}, "Redirect": {"ReplaceKeyPrefixWith": "documents/"}},
        {"Condition": {"HttpErrorCodeReturnedEquals": "404", "KeyPrefixEquals": "old/"},
         "Redirect": {"HostName": "archive.example", "HttpRedirectCode": "302", "Protocol": "https"}},
    ],
}


def test_website_config_round_trip(s3, bucket):
    with pytest.raises(ClientError) as e:
        s3.get_bucket_website(Bucket=bucket)
    assert error_code(e) == "NoSuchWebsiteConfiguration"
    s3.put_bucket_website(Bucket=bucket, WebsiteConfiguration=CONFIG)
    got = s3.get_bucket_website(Bucket=bucket)
    assert got["IndexDocument"] == {"Suffix": "index.html"}
    assert got["ErrorDocument"] == {"Key": "error.html"}
    assert got["RoutingRules"] == CONFIG["RoutingRules"]
    s3.delete_bucket_website(Bucket=bucket)
    with pytest.raises(ClientError) as e:
        s3.get_bucket_website(Bucket=bucket)
    assert error_code(e) == "NoSuchWebsiteConfiguration"


@pytest.mark.parametrize("config", [
    {"IndexDocument": {"Suffix": ""}},
    {"IndexDocument": {"Suffix": "a/index.html"}},
    {"ErrorDocument": {"Key": "error.html"}},
    {"RedirectAllRequestsTo": {"HostName": "x.example"}, "IndexDocument": {"Suffix": "index.html"}},
    {"RedirectAllRequestsTo": {"HostName": "x.example", "Protocol": "ftp"}},
    {"IndexDocument": {"Suffix": "index.html"},
     "RoutingRules": [{"Redirect": {"HttpRedirectCode": "200"}}]},
    {"IndexDocument": {"Suffix": "index.html"},
     "RoutingRules": [{"Condition": {"HttpErrorCodeReturnedEquals": "200"}, "Redirect": {"HostName": "a"}}]},
    {"IndexDocument": {"Suffix": "index.html"},
     "RoutingRules": [{"Redirect": {"ReplaceKeyWith": "a", "ReplaceKeyPrefixWith": "b"}}]},
])
def test_website_config_refused(s3, bucket, config):
    with pytest.raises(ClientError) as e:
        s3.put_bucket_website(Bucket=bucket, WebsiteConfiguration=config)
    assert error_code(e) == "InvalidArgument"
    with pytest.raises(ClientError):
        s3.get_bucket_website(Bucket=bucket)


def test_website_serves_index_and_objects(site_server, site):
    s3, name = site
    s3.put_bucket_website(Bucket=name, WebsiteConfiguration=CONFIG)
    s3.put_object(Bucket=name, Key="index.html", Body=b"<h1>home</h1>", ContentType="text/html")
    s3.put_object(Bucket=name, Key="blog/index.html", Body=b"blog", ContentType="text/html")
    s3.put_object(Bucket=name, Key="a b.txt", Body=b"spaced")
    status, h, body = get(site_server, name, "/")
    assert (status, body, h["content-type"]) == (200, b"<h1>home</h1>", "text/html")
    assert get(site_server, name, "/blog/")[2] == b"blog"
    assert get(site_server, name, "/a%20b.txt")[2] == b"spaced"
    status, h, body = get(site_server, name, "/blog")
    assert (status, h["location"]) == (302, "/blog/")
    status, h, body = get(site_server, name, "/", method="HEAD")
    assert (status, body, h["content-length"]) == (200, b"", "13")


def test_website_errors_are_html(site_server, site):
    s3, name = site
    s3.put_bucket_website(Bucket=name, WebsiteConfiguration={"IndexDocument": {"Suffix": "index.html"}})
    status, h, body = get(site_server, name, "/missing.html")
    assert status == 404 and h["content-type"].startswith("text/html")
    assert b"<li>Code: NoSuchKey</li>" in body and b"missing.html" in body
    status, _, body = get(site_server, name, "/x", method="PUT")
    assert status == 405


def test_website_error_document(site_server, site):
    s3, name = site
    s3.put_bucket_website(Bucket=name, WebsiteConfiguration=CONFIG)
    s3.put_object(Bucket=name, Key="error.html", Body=b"oops", ContentType="text/html")
    status, _, body = get(site_server, name, "/nothing-here")
    assert (status, body) == (404, b"oops")


def test_website_routing_rules(site_server, site):
    s3, name = site
    s3.put_bucket_website(Bucket=name, WebsiteConfiguration=CONFIG)
    status, h, _ = get(site_server, name, "/docs/guide.html")
    assert (status, h["location"]) == (301, f"http://{name}.{DOMAIN}:{site_server.port}/documents/guide.html")
    status, h, _ = get(site_server, name, "/old/page.html")
    assert (status, h["location"]) == (302, "https://archive.example/old/page.html")


def test_website_redirect_all(site_server, site):
    s3, name = site
    s3.put_bucket_website(Bucket=name, WebsiteConfiguration={
        "RedirectAllRequestsTo": {"HostName": "www.example", "Protocol": "https"}})
    status, h, _ = get(site_server, name, "/a/b.html")
    assert (status, h["location"]) == (301, "https://www.example/a/b.html")


def test_object_website_redirect_location(site_server, site):
    s3, name = site
    s3.put_bucket_website(Bucket=name, WebsiteConfiguration=CONFIG)
    s3.put_object(Bucket=name, Key="moved.html", Body=b"", WebsiteRedirectLocation="/new.html")
    assert s3.head_object(Bucket=name, Key="moved.html")["WebsiteRedirectLocation"] == "/new.html"
    status, h, _ = get(site_server, name, "/moved.html")
    assert (status, h["location"]) == (301, "/new.html")
    with pytest.raises(ClientError) as e:
        s3.put_object(Bucket=name, Key="bad", Body=b"", WebsiteRedirectLocation="elsewhere")
    assert error_code(e) == "InvalidArgument"


def test_website_needs_a_configuration(site_server, site):
    s3, name = site
    s3.put_object(Bucket=name, Key="index.html", Body=b"private")
    status, _, body = get(site_server, name, "/index.html")
    assert status == 404 and b"NoSuchWebsiteConfiguration" in body
    status, _, body = get(site_server, "no-such-site-bucket", "/")
    assert status == 404 and b"NoSuchBucket" in body


def test_s3_endpoint_is_unchanged_by_website_domains(site_server, site):
    s3, name = site
    s3.put_object(Bucket=name, Key="k", Body=b"v")
    assert s3.get_object(Bucket=name, Key="k")["Body"].read() == b"v"


def test_website_revalidation(site_server, site):
    s3, name = site
    s3.put_bucket_website(Bucket=name, WebsiteConfiguration=CONFIG)
    etag = s3.put_object(Bucket=name, Key="index.html", Body=b"home")["ETag"]
    status, h, body = get(site_server, name, "/", headers={"If-None-Match": etag})
    assert (status, body, h["etag"]) == (304, b"", etag)
    status, _, body = get(site_server, name, "/", headers={"If-None-Match": '"other"'})
    assert (status, body) == (200, b"home")
    status, _, _ = get(site_server, name, "/", headers={"If-Match": '"other"'})
    assert status == 412


def test_copy_does_not_carry_the_website_redirect(site_server, site):
    s3, name = site
    s3.put_object(Bucket=name, Key="src", Body=b"x", WebsiteRedirectLocation="https://elsewhere.example/")
    s3.copy_object(Bucket=name, Key="dst", CopySource={"Bucket": name, "Key": "src"})
    assert "WebsiteRedirectLocation" not in s3.head_object(Bucket=name, Key="dst")
    s3.copy_object(Bucket=name, Key="dst2", CopySource={"Bucket": name, "Key": "src"},
                   WebsiteRedirectLocation="/elsewhere.html")
    assert s3.head_object(Bucket=name, Key="dst2")["WebsiteRedirectLocation"] == "/elsewhere.html"


def test_website_reads_are_anonymous_reads(site_server, private_site):
    s3, name = private_site
    s3.put_bucket_website(Bucket=name, WebsiteConfiguration=CONFIG)
    s3.put_object(Bucket=name, Key="index.html", Body=b"home")
    s3.put_object(Bucket=name, Key="public.html", Body=b"open", ACL="public-read")
    status, _, body = get(site_server, name, "/")
    assert status == 403 and b"AccessDenied" in body
    assert get(site_server, name, "/public.html")[2] == b"open"
    # Without the right to list, a missing key is refused like a private one.
    assert get(site_server, name, "/missing.html")[0] == 403
    s3.put_bucket_policy(Bucket=name, Policy=public_read_policy(name))
    assert get(site_server, name, "/")[2] == b"home"


def test_website_endpoint_applies_cors(site_server, site):
    s3, name = site
    s3.put_bucket_website(Bucket=name, WebsiteConfiguration=CONFIG)
    s3.put_bucket_cors(Bucket=name, CORSConfiguration={"CORSRules": [
        {"AllowedOrigins": ["https://fonts.example"], "AllowedMethods": ["GET"]}]})
    s3.put_object(Bucket=name, Key="font.woff", Body=b"f")
    status, h, _ = get(site_server, name, "/font.woff", headers={"Origin": "https://fonts.example"})
    assert (status, h["access-control-allow-origin"]) == (200, "https://fonts.example")
    status, h, _ = get(site_server, name, "/font.woff", method="OPTIONS", headers={
        "Origin": "https://fonts.example", "Access-Control-Request-Method": "GET"})
    assert (status, h["access-control-allow-methods"]) == (200, "GET")
