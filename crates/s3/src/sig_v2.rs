//! What SigV2 needs beyond s3s's signature check: the path clients sign for
//! a bucket, and the request date, which s3s does not check for SigV2.

use hyper::header::{AUTHORIZATION, DATE, HeaderMap};
use hyper::{Request, Response, StatusCode};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc2822;

use crate::server::ResponseBody;

/// The largest difference between a request's date and the server's clock.
const MAX_SKEW: time::Duration = time::Duration::minutes(15);

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// Whether the request is signed with SigV2 in its `Authorization` header.
pub fn is_header_signed(headers: &HeaderMap) -> bool {
    header(headers, AUTHORIZATION.as_str()).is_some_and(|v| v.starts_with("AWS "))
}

fn is_signed(req: &Request<impl Sized>) -> bool {
    is_header_signed(req.headers())
        || req
            .uri()
            .query()
            .is_some_and(|q| q.split('&').any(|p| p.starts_with("AWSAccessKeyId=")))
}

/// SigV2 clients (botocore, the AWS Java SDK, s3cmd) sign a path-style
/// bucket request as `/bucket/` even when they send `/bucket`, while s3s
/// signs the path as sent: such a request gets the trailing slash it was
/// signed with (the same bucket to s3s's router). Only for path-style
/// requests: a virtual-hosted `/name` is an object key.
pub fn fix_bucket_path<B>(req: &mut Request<B>) {
    let path = req.uri().path();
    let bucket_only = path.len() > 1 && !path[1..].contains('/');
    if !bucket_only || !is_signed(req) {
        return;
    }
    let fixed = match req.uri().query() {
        Some(q) => format!("{path}/?{q}"),
        None => format!("{path}/"),
    };
    if let Ok(uri) = fixed.parse() {
        *req.uri_mut() = uri;
    }
}

/// A SigV2 request's date (`x-amz-date`, else `Date`) must be valid and
/// within 15 minutes of the server's clock, as S3 checks; else the S3
/// error (403) to answer.
pub fn date_refusal(headers: &HeaderMap) -> Option<Response<ResponseBody>> {
    date_error(headers)
        .err()
        .map(|(code, message)| crate::cors::error(StatusCode::FORBIDDEN, code, message))
}

fn date_error(headers: &HeaderMap) -> Result<(), (&'static str, &'static str)> {
    let given = header(headers, "x-amz-date").or_else(|| header(headers, DATE.as_str()));
    let date = given
        .and_then(|d| OffsetDateTime::parse(d.trim(), &Rfc2822).ok())
        .filter(|d| d.year() >= 1970);
    let Some(date) = date else {
        return Err((
            "AccessDenied",
            "AWS authentication requires a valid Date or x-amz-date header",
        ));
    };
    if (OffsetDateTime::now_utc() - date).abs() > MAX_SKEW {
        return Err((
            "RequestTimeTooSkewed",
            "The difference between the request time and the current time is too large.",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (name, value) in pairs {
            h.insert(*name, value.parse().expect("header value"));
        }
        h
    }

    fn code(h: HeaderMap) -> Option<&'static str> {
        date_error(&h).err().map(|(code, _)| code)
    }

    #[test]
    fn dates_are_checked_as_s3_does() {
        let now = OffsetDateTime::now_utc().format(&Rfc2822).expect("formats");
        assert_eq!(code(headers(&[("date", &now)])), None);
        let http_date = time::macros::format_description!(
            "[weekday repr:short], [day] [month repr:short] [year] [hour]:[minute]:[second] GMT"
        );
        let now_gmt = OffsetDateTime::now_utc()
            .format(http_date)
            .expect("formats");
        assert_eq!(code(headers(&[("x-amz-date", &now_gmt)])), None);
        for bad in ["Bad Date", "", "Tue, 07 Jul 1950 21:53:04 GMT"] {
            assert_eq!(
                code(headers(&[("x-amz-date", bad)])),
                Some("AccessDenied"),
                "{bad}"
            );
        }
        assert_eq!(code(headers(&[])), Some("AccessDenied"));
        for skewed in [
            "Tue, 07 Jul 2010 21:53:04 GMT",
            "Tue, 07 Jul 9999 21:53:04 GMT",
        ] {
            assert_eq!(
                code(headers(&[("date", skewed)])),
                Some("RequestTimeTooSkewed")
            );
        }
        // x-amz-date wins over Date, as in the string to sign.
        assert_eq!(
            code(headers(&[("date", &now_gmt), ("x-amz-date", "Bad Date")])),
            Some("AccessDenied")
        );
    }
}
