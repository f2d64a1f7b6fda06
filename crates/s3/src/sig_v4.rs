//! What SigV4 needs before s3s's check: a credential scope whose region is
//! not a region name at all. s3cmd, with its default configuration, signs
//! with the region `US` and relies on S3's answer, `AuthorizationHeaderMalformed`
//! naming the right region in `<Region>`, to sign again for it; s3s would
//! refuse such a scope with a bare `InvalidRequest`. Any well-formed region
//! is left to s3s, which accepts it.

use bytes::Bytes;
use hyper::header::{AUTHORIZATION, HeaderMap};
use hyper::{Request, StatusCode};

use crate::server::{ResponseBody, full};

/// The region of a request's SigV4 credential scope: from the
/// `Authorization` header, or `X-Amz-Credential` of a presigned URL (then
/// `true`).
fn scope_region(req: &Request<impl Sized>) -> Option<(String, bool)> {
    let credential = |c: &str| c.split('/').nth(2).map(str::to_string);
    if let Some(auth) = header(req.headers(), AUTHORIZATION.as_str()) {
        let scope = auth.strip_prefix("AWS4-HMAC-SHA256")?;
        let value = scope.split_once("Credential=")?.1;
        return credential(value.split(',').next()?.trim()).map(|r| (r, false));
    }
    let query = req.uri().query()?;
    let value = query
        .split('&')
        .find_map(|p| p.strip_prefix("X-Amz-Credential="))?;
    let value = urlencoding::decode(value).ok()?;
    credential(&value).map(|r| (r, true))
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// What s3s takes for a region name.
fn is_region_name(region: &str) -> bool {
    region
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

/// S3's refusal of a request signed for a region that is no region name,
/// naming `ours` (the region this server answers for); None for any other.
pub fn region_refusal(
    req: &Request<impl Sized>,
    ours: &str,
) -> Option<hyper::Response<ResponseBody>> {
    let (region, presigned) = scope_region(req)?;
    if is_region_name(&region) {
        return None;
    }
    // Echoed only when it cannot break the XML.
    let given = if region
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
    {
        format!(" '{region}'")
    } else {
        String::new()
    };
    let (code, what) = if presigned {
        (
            "AuthorizationQueryParametersError",
            "Error parsing the X-Amz-Credential parameter;",
        )
    } else {
        (
            "AuthorizationHeaderMalformed",
            "The authorization header is malformed;",
        )
    };
    let body = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>{code}</Code>\
         <Message>{what} the region{given} is wrong; expecting '{ours}'</Message>\
         <Region>{ours}</Region></Error>"
    );
    Some(full(
        StatusCode::BAD_REQUEST,
        "application/xml",
        Bytes::from(body),
    ))
}

#[cfg(test)]
mod tests {
    use http_body_util::BodyExt;

    use super::*;

    fn request(auth: Option<&str>, query: &str) -> Request<()> {
        let mut builder = Request::get(format!("http://h/b/k{query}"));
        if let Some(auth) = auth {
            builder = builder.header(AUTHORIZATION, auth);
        }
        builder.body(()).expect("request")
    }

    fn signed(region: &str) -> String {
        format!(
            "AWS4-HMAC-SHA256 Credential=AK/20261123/{region}/s3/aws4_request, \
             SignedHeaders=host, Signature=00"
        )
    }

    fn presigned(region: &str) -> String {
        format!(
            "?X-Amz-Algorithm=AWS4-HMAC-SHA256\
             &X-Amz-Credential=AK%2F20261123%2F{region}%2Fs3%2Faws4_request"
        )
    }

    async fn answer(req: &Request<()>) -> Option<String> {
        let resp = region_refusal(req, "us-east-1")?;
        assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
        let body = resp.into_body().collect().await.expect("body").to_bytes();
        Some(String::from_utf8(body.to_vec()).expect("utf-8"))
    }

    #[tokio::test]
    async fn only_scopes_whose_region_is_no_region_name_are_refused() {
        for region in ["us-east-1", "eu-west-3", "garage"] {
            assert_eq!(answer(&request(Some(&signed(region)), "")).await, None);
            assert_eq!(answer(&request(None, &presigned(region))).await, None);
        }
        assert_eq!(answer(&request(Some("AWS AK:sig"), "")).await, None);
        assert_eq!(answer(&request(None, "")).await, None);
        assert_eq!(answer(&request(None, "?versionId=x")).await, None);
    }

    #[tokio::test]
    async fn the_refusal_names_the_region_to_sign_for() {
        let header = answer(&request(Some(&signed("US")), ""))
            .await
            .expect("refused");
        assert!(
            header.contains("<Code>AuthorizationHeaderMalformed</Code>"),
            "{header}"
        );
        assert!(
            header.contains("the region 'US' is wrong; expecting 'us-east-1'"),
            "{header}"
        );
        assert!(header.contains("<Region>us-east-1</Region>"), "{header}");
        let query = answer(&request(None, &presigned("US")))
            .await
            .expect("refused");
        assert!(
            query.contains("<Code>AuthorizationQueryParametersError</Code>"),
            "{query}"
        );
        assert!(query.contains("<Region>us-east-1</Region>"), "{query}");
        // A region that could break the XML is not echoed.
        let odd = answer(&request(Some(&signed("<x>")), ""))
            .await
            .expect("refused");
        assert!(odd.contains("the region is wrong"), "{odd}");
    }
}
