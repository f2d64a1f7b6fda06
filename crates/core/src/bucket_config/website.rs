//! Website configuration (index and error documents, redirects, routing
//! rules), its validation, and the routing decisions and anonymous reads of
//! the website endpoint. It never writes objects and never sees HTTP.

use serde::{Deserialize, Serialize};
use strata_meta::BucketConfigKind;

use super::{BucketConfig, ConfigContext};
use crate::{Error, ObjectBody, Result, Strata};

pub const MAX_ROUTING_RULES: usize = 50;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RedirectAll {
    pub host_name: String,
    pub protocol: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoutingCondition {
    pub key_prefix_equals: Option<String>,
    pub http_error_code_returned_equals: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoutingRedirect {
    pub host_name: Option<String>,
    pub http_redirect_code: Option<String>,
    pub protocol: Option<String>,
    pub replace_key_prefix_with: Option<String>,
    pub replace_key_with: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoutingRule {
    pub condition: Option<RoutingCondition>,
    pub redirect: RoutingRedirect,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct WebsiteConfiguration {
    pub index_suffix: Option<String>,
    pub error_key: Option<String>,
    pub redirect_all: Option<RedirectAll>,
    #[serde(default)]
    pub routing_rules: Vec<RoutingRule>,
}

fn invalid(m: &str) -> Error {
    Error::InvalidArgument(m.into())
}

fn check_protocol(p: Option<&str>) -> Result<()> {
    match p {
        None | Some("http") | Some("https") => Ok(()),
        Some(_) => Err(invalid("Invalid protocol, protocol can be http or https.")),
    }
}

impl BucketConfig for WebsiteConfiguration {
    const KIND: BucketConfigKind = BucketConfigKind::Website;

    fn validate(&self, _: &ConfigContext<'_>) -> Result<()> {
        if let Some(all) = &self.redirect_all {
            if self.index_suffix.is_some()
                || self.error_key.is_some()
                || !self.routing_rules.is_empty()
            {
                return Err(invalid(
                    "RedirectAllRequestsTo cannot be provided in conjunction with other Routing Rules.",
                ));
            }
            if all.host_name.is_empty() {
                return Err(invalid("RedirectAllRequestsTo needs a HostName"));
            }
            return check_protocol(all.protocol.as_deref());
        }
        match self.index_suffix.as_deref() {
            None => {
                return Err(invalid(
                    "A value for IndexDocument Suffix must be provided if RedirectAllRequestsTo is empty",
                ));
            }
            Some(s) if s.is_empty() || s.contains('/') => {
                return Err(invalid("The IndexDocument Suffix is not well formed"));
            }
            Some(_) => {}
        }
        if self.error_key.as_deref() == Some("") {
            return Err(invalid("The ErrorDocument Key is not well formed"));
        }
        if self.routing_rules.len() > MAX_ROUTING_RULES {
            return Err(invalid("The number of routing rules must not exceed 50"));
        }
        self.routing_rules
            .iter()
            .try_for_each(RoutingRule::validate)
    }
}

impl RoutingRule {
    fn validate(&self) -> Result<()> {
        if let Some(c) = &self.condition {
            if c.key_prefix_equals.is_none() && c.http_error_code_returned_equals.is_none() {
                return Err(invalid(
                    "Condition cannot be empty. To redirect all requests without a condition, the condition element shouldn't be present.",
                ));
            }
            if let Some(code) = &c.http_error_code_returned_equals
                && !code.parse::<u16>().is_ok_and(|c| (400..600).contains(&c))
            {
                return Err(invalid(&format!(
                    "The provided HTTP error code ({code}) is not valid. Valid codes are 4XX or 5XX."
                )));
            }
        }
        let r = &self.redirect;
        if r.replace_key_prefix_with.is_some() && r.replace_key_with.is_some() {
            return Err(invalid(
                "You can only define ReplaceKeyPrefix or ReplaceKey but not both.",
            ));
        }
        if let Some(code) = &r.http_redirect_code
            && !code
                .parse::<u16>()
                .is_ok_and(|c| (301..400).contains(&c) && c != 300)
        {
            return Err(invalid(&format!(
                "The provided HTTP redirect code ({code}) is not valid. Valid codes are 3XX except 300."
            )));
        }
        check_protocol(r.protocol.as_deref())
    }
}

/// Where the website endpoint sends a client instead of answering.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Redirection {
    pub status: u16,
    pub location: String,
}

impl WebsiteConfiguration {
    /// The key the endpoint reads for a request path (without the leading
    /// `/`, already percent-decoded): the index document for `` and `dir/`.
    pub fn object_key(&self, path: &str) -> String {
        match &self.index_suffix {
            Some(suffix) if path.is_empty() || path.ends_with('/') => format!("{path}{suffix}"),
            _ => path.to_string(),
        }
    }

    /// A redirection decided before any object is read: RedirectAllRequestsTo,
    /// or a routing rule whose only condition is a key prefix.
    pub fn redirect_before(&self, path: &str, host: &str) -> Option<Redirection> {
        if let Some(all) = &self.redirect_all {
            let protocol = all.protocol.as_deref().unwrap_or("http");
            return Some(Redirection {
                status: 301,
                location: format!("{protocol}://{}/{path}", all.host_name),
            });
        }
        self.routing_rules
            .iter()
            .find(|r| match &r.condition {
                None => true,
                Some(c) => {
                    c.http_error_code_returned_equals.is_none()
                        && c.key_prefix_equals
                            .as_deref()
                            .is_some_and(|p| path.starts_with(p))
                }
            })
            .map(|r| r.redirection(path, host))
    }

    /// A redirection decided after the read failed with `status`: a routing
    /// rule whose error code (and key prefix, when given) match.
    pub fn redirect_after(&self, path: &str, host: &str, status: u16) -> Option<Redirection> {
        self.routing_rules
            .iter()
            .find(|r| {
                r.condition.as_ref().is_some_and(|c| {
                    c.http_error_code_returned_equals.as_deref() == Some(&status.to_string())
                        && c.key_prefix_equals
                            .as_deref()
                            .is_none_or(|p| path.starts_with(p))
                })
            })
            .map(|r| r.redirection(path, host))
    }
}

impl RoutingRule {
    fn redirection(&self, path: &str, host: &str) -> Redirection {
        let r = &self.redirect;
        let prefix = self
            .condition
            .as_ref()
            .and_then(|c| c.key_prefix_equals.as_deref())
            .unwrap_or("");
        let key = match (&r.replace_key_with, &r.replace_key_prefix_with) {
            (Some(k), _) => k.clone(),
            (None, Some(p)) => format!("{p}{}", path.strip_prefix(prefix).unwrap_or(path)),
            (None, None) => path.to_string(),
        };
        let protocol = r.protocol.as_deref().unwrap_or("http");
        let host = r.host_name.as_deref().unwrap_or(host);
        Redirection {
            status: r
                .http_redirect_code
                .as_deref()
                .and_then(|c| c.parse().ok())
                .unwrap_or(301),
            location: format!("{protocol}://{host}/{key}"),
        }
    }
}

impl Strata {
    /// The website configuration the website endpoint serves a bucket with.
    pub fn website(&self, bucket: &str) -> Result<WebsiteConfiguration> {
        self.meta.get_bucket(bucket)?.ok_or(Error::NoSuchBucket)?;
        self.bucket_document(bucket)?
            .ok_or(Error::NoSuchConfiguration(BucketConfigKind::Website))
    }

    /// An object read by the website endpoint; the frontend has authorized
    /// the anonymous read first (`authorize`), as for any other read.
    pub fn website_object(&self, bucket: &str, key: &str) -> Result<ObjectBody> {
        let record = self.meta.get_object(bucket, key)?.ok_or(Error::NoSuchKey)?;
        // SSE-S3 objects open with the server's keys; SSE-C ones refuse here.
        let data_key = self.data_key(&record, None)?;
        let stream = self.read_data(&record, 0..record.size, data_key)?;
        Ok(ObjectBody {
            version_id: record.version_id.clone(),
            range: 0..record.size,
            partial: false,
            parts_count: None,
            stream,
            record,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bucket_config::check_config;

    fn site() -> WebsiteConfiguration {
        WebsiteConfiguration {
            index_suffix: Some("index.html".into()),
            error_key: Some("error.html".into()),
            redirect_all: None,
            routing_rules: vec![
                RoutingRule {
                    condition: Some(RoutingCondition {
                        key_prefix_equals: Some("docs/".into()),
                        http_error_code_returned_equals: None,
                    }),
                    redirect: RoutingRedirect {
                        replace_key_prefix_with: Some("documents/".into()),
                        ..Default::default()
                    },
                },
                RoutingRule {
                    condition: Some(RoutingCondition {
                        key_prefix_equals: None,
                        http_error_code_returned_equals: Some("404".into()),
                    }),
                    redirect: RoutingRedirect {
                        host_name: Some("elsewhere.example".into()),
                        http_redirect_code: Some("302".into()),
                        ..Default::default()
                    },
                },
            ],
        }
    }

    #[test]
    fn index_documents_and_routing() {
        let s = site();
        assert_eq!(s.object_key(""), "index.html");
        assert_eq!(s.object_key("a/"), "a/index.html");
        assert_eq!(s.object_key("a/b.txt"), "a/b.txt");
        let r = s.redirect_before("docs/x.html", "h").unwrap();
        assert_eq!(
            (r.status, r.location.as_str()),
            (301, "http://h/documents/x.html")
        );
        assert!(s.redirect_before("other", "h").is_none());
        let r = s.redirect_after("missing", "h", 404).unwrap();
        assert_eq!(
            (r.status, r.location.as_str()),
            (302, "http://elsewhere.example/missing")
        );
        assert!(s.redirect_after("missing", "h", 403).is_none());
    }

    #[test]
    fn validation_follows_s3() {
        let ctx_free = |c: &WebsiteConfiguration| check_config(c, Default::default());
        assert!(ctx_free(&site()).is_ok());
        let mut bad = site();
        bad.index_suffix = Some("a/b".into());
        assert!(ctx_free(&bad).is_err());
        let mut bad = site();
        bad.redirect_all = Some(RedirectAll {
            host_name: "x".into(),
            protocol: None,
        });
        assert!(ctx_free(&bad).is_err());
        let mut bad = site();
        bad.routing_rules[1].redirect.http_redirect_code = Some("200".into());
        assert!(ctx_free(&bad).is_err());
    }
}
