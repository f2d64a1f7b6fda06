//! CORS: the rules of a bucket, their validation, and which rule answers a
//! cross-origin request. Pure logic: it never sees HTTP headers or requests.

use serde::{Deserialize, Serialize};
use strata_meta::BucketConfigKind;

use super::{BucketConfig, ConfigContext};
use crate::{Error, Result};

pub const MAX_RULES: usize = 100;
const METHODS: [&str; 5] = ["GET", "PUT", "POST", "DELETE", "HEAD"];

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CorsRule {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    pub allowed_origins: Vec<String>,
    pub allowed_methods: Vec<String>,
    #[serde(default)]
    pub allowed_headers: Vec<String>,
    #[serde(default)]
    pub expose_headers: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_age_seconds: Option<i32>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CorsConfiguration {
    pub rules: Vec<CorsRule>,
}

impl BucketConfig for CorsConfiguration {
    const KIND: BucketConfigKind = BucketConfigKind::Cors;

    fn validate(&self, _: &ConfigContext<'_>) -> Result<()> {
        if self.rules.is_empty() {
            return Err(Error::MalformedXml(
                "a CORS configuration needs a rule".into(),
            ));
        }
        if self.rules.len() > MAX_RULES {
            return Err(Error::InvalidRequest(
                "The number of CORS rules should not exceed allowed limit of 100 rules.".into(),
            ));
        }
        self.rules.iter().try_for_each(validate_rule)
    }
}

fn validate_rule(rule: &CorsRule) -> Result<()> {
    if rule.allowed_origins.is_empty() || rule.allowed_methods.is_empty() {
        return Err(Error::MalformedXml(
            "each CORSRule needs an AllowedOrigin and an AllowedMethod".into(),
        ));
    }
    if let Some(m) = rule
        .allowed_methods
        .iter()
        .find(|m| !METHODS.contains(&m.as_str()))
    {
        return Err(Error::InvalidRequest(format!(
            "Found unsupported HTTP method in CORS config. Unsupported method is {m}"
        )));
    }
    for (what, values) in [
        ("AllowedOrigin", &rule.allowed_origins),
        ("AllowedHeader", &rule.allowed_headers),
    ] {
        if let Some(v) = values.iter().find(|v| v.matches('*').count() > 1) {
            return Err(Error::InvalidRequest(format!(
                "{what} \"{v}\" can not have more than one wildcard."
            )));
        }
    }
    Ok(())
}

/// `pattern` with at most one `*` (any run of characters) against `value`.
fn wildcard_match(pattern: &str, value: &str, ignore_case: bool) -> bool {
    let eq = |a: &str, b: &str| {
        if ignore_case {
            a.eq_ignore_ascii_case(b)
        } else {
            a == b
        }
    };
    match pattern.split_once('*') {
        None => eq(pattern, value),
        Some((head, tail)) => {
            value.len() >= head.len() + tail.len()
                && value.is_char_boundary(head.len())
                && value.is_char_boundary(value.len() - tail.len())
                && eq(&value[..head.len()], head)
                && eq(&value[value.len() - tail.len()..], tail)
        }
    }
}

/// The headers a matching rule puts on the response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CorsAnswer {
    /// `*` when the rule allows any origin, else the request's origin.
    pub allow_origin: String,
    pub allow_methods: String,
    /// The requested headers, echoed (preflight only).
    pub allow_headers: Option<String>,
    pub expose_headers: Option<String>,
    pub max_age: Option<i32>,
}

impl CorsConfiguration {
    /// The first rule that allows `origin` to use `method` with
    /// `request_headers` (a preflight's Access-Control-Request-Headers, or
    /// none for an actual request), as S3 evaluates them: in order.
    pub fn evaluate(
        &self,
        origin: &str,
        method: &str,
        request_headers: &[&str],
    ) -> Option<CorsAnswer> {
        let rule = self.rules.iter().find(|r| {
            r.allowed_methods.iter().any(|m| m == method)
                && r.allowed_origins
                    .iter()
                    .any(|o| wildcard_match(o, origin, false))
                && request_headers.iter().all(|h| {
                    r.allowed_headers
                        .iter()
                        .any(|a| wildcard_match(a, h.trim(), true))
                })
        })?;
        let join = |v: &[String]| (!v.is_empty()).then(|| v.join(", "));
        let requested: Vec<String> = request_headers
            .iter()
            .map(|h| h.trim().to_ascii_lowercase())
            .collect();
        Some(CorsAnswer {
            allow_origin: if rule.allowed_origins.iter().any(|o| o == "*") {
                "*".into()
            } else {
                origin.into()
            },
            allow_methods: rule.allowed_methods.join(", "),
            allow_headers: join(&requested),
            expose_headers: join(&rule.expose_headers),
            max_age: rule.max_age_seconds,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(origins: &[&str], methods: &[&str], headers: &[&str]) -> CorsRule {
        CorsRule {
            allowed_origins: origins.iter().map(|s| s.to_string()).collect(),
            allowed_methods: methods.iter().map(|s| s.to_string()).collect(),
            allowed_headers: headers.iter().map(|s| s.to_string()).collect(),
            ..Default::default()
        }
    }

    #[test]
    fn wildcards_match_one_run() {
        assert!(wildcard_match("*suffix", "foo.suffix", false));
        assert!(wildcard_match("start*end", "startend", false));
        assert!(wildcard_match("start*end", "start12end", false));
        assert!(!wildcard_match("start*end", "0start12end", false));
        assert!(wildcard_match("prefix*", "prefix.suffix", false));
        assert!(!wildcard_match("prefix*", "bla.prefix", false));
        assert!(!wildcard_match("ab*ba", "aba", false));
        assert!(wildcard_match("X-Amz-*", "x-amz-date", true));
    }

    #[test]
    fn first_matching_rule_answers() {
        let cfg = CorsConfiguration {
            rules: vec![
                rule(&["https://a.example"], &["GET", "PUT"], &["x-amz-*"]),
                rule(&["*"], &["GET"], &[]),
            ],
        };
        let a = cfg
            .evaluate("https://a.example", "PUT", &["X-Amz-Date"])
            .unwrap();
        assert_eq!(a.allow_origin, "https://a.example");
        assert_eq!(a.allow_methods, "GET, PUT");
        assert_eq!(a.allow_headers.as_deref(), Some("x-amz-date"));
        let b = cfg.evaluate("https://b.example", "GET", &[]).unwrap();
        assert_eq!(b.allow_origin, "*");
        assert!(cfg.evaluate("https://b.example", "PUT", &[]).is_none());
        assert!(
            cfg.evaluate("https://b.example", "GET", &["x-custom"])
                .is_none()
        );
    }

    #[test]
    fn validation_follows_s3() {
        let ok = |r: CorsRule| CorsConfiguration { rules: vec![r] };
        let v = |c: &CorsConfiguration| c.rules.iter().try_for_each(validate_rule);
        assert!(v(&ok(rule(&["*"], &["GET"], &[]))).is_ok());
        assert!(v(&ok(rule(&["*"], &["PATCH"], &[]))).is_err());
        assert!(v(&ok(rule(&["*.*.com"], &["GET"], &[]))).is_err());
        assert!(v(&ok(rule(&[], &["GET"], &[]))).is_err());
    }
}
