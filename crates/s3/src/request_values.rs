//! The condition keys of a request, as bucket policies read them: taken
//! from its headers, query and client address, without parsing any body.

use std::net::IpAddr;

use time::OffsetDateTime;

/// A request's condition values; `get` answers by lower-case key name.
pub struct RequestValues<'a> {
    pub headers: &'a http::HeaderMap,
    pub query: Option<&'a str>,
    pub source_ip: Option<IpAddr>,
}

impl RequestValues<'_> {
    fn header(&self, name: &str) -> Option<Vec<String>> {
        let values: Vec<String> = self
            .headers
            .get_all(name)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .map(str::to_string)
            .collect();
        (!values.is_empty()).then_some(values)
    }

    fn query(&self, name: &str) -> Option<Vec<String>> {
        let found: Vec<String> = self
            .query?
            .split('&')
            .filter_map(|kv| {
                let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
                let k = urlencoding::decode(k).ok()?;
                (k == name).then(|| urlencoding::decode(v).ok().map(|v| v.into_owned()))?
            })
            .collect();
        (!found.is_empty()).then_some(found)
    }

    /// The tags `x-amz-tagging` asks a new object to carry.
    fn request_tags(&self) -> Vec<(String, String)> {
        let Some(header) = self
            .headers
            .get("x-amz-tagging")
            .and_then(|v| v.to_str().ok())
        else {
            return Vec::new();
        };
        header
            .split('&')
            .filter_map(|pair| {
                let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
                let k = urlencoding::decode(k).ok()?.into_owned();
                let v = urlencoding::decode(v).ok()?.into_owned();
                Some((k, v))
            })
            .collect()
    }

    pub fn get(&self, name: &str) -> Option<Vec<String>> {
        let one = |v: String| Some(vec![v]);
        match name {
            "aws:sourceip" => self.source_ip.and_then(|ip| one(ip.to_string())),
            // Strata serves plain HTTP; TLS is terminated in front of it, if at all.
            "aws:securetransport" => one("false".into()),
            "aws:currenttime" => one(OffsetDateTime::now_utc()
                .format(&time::format_description::well_known::Rfc3339)
                .ok()?),
            "aws:epochtime" => one(OffsetDateTime::now_utc().unix_timestamp().to_string()),
            "aws:useragent" => self.header("user-agent"),
            "aws:referer" => self.header("referer"),
            "s3:prefix" | "s3:delimiter" | "s3:max-keys" | "s3:versionid" => {
                let param = match name {
                    "s3:versionid" => "versionId",
                    other => other.trim_start_matches("s3:"),
                };
                self.query(param)
            }
            "s3:requestobjecttagkeys" => {
                let keys: Vec<String> = self.request_tags().into_iter().map(|(k, _)| k).collect();
                (!keys.is_empty()).then_some(keys)
            }
            other => {
                if let Some(tag) = other.strip_prefix("s3:requestobjecttag/") {
                    let found: Vec<String> = self
                        .request_tags()
                        .into_iter()
                        .filter(|(k, _)| k == tag)
                        .map(|(_, v)| v)
                        .collect();
                    return (!found.is_empty()).then_some(found);
                }
                other
                    .strip_prefix("s3:")
                    .filter(|h| h.starts_with("x-amz-"))
                    .and_then(|h| self.header(h))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_come_from_headers_query_and_peer() {
        let mut headers = http::HeaderMap::new();
        headers.insert("x-amz-acl", "public-read".parse().unwrap());
        headers.insert("x-amz-tagging", "a=1&b=x%20y".parse().unwrap());
        headers.insert("user-agent", "boto3".parse().unwrap());
        let values = RequestValues {
            headers: &headers,
            query: Some("prefix=photos%2F&max-keys=10"),
            source_ip: "127.0.0.1".parse().ok(),
        };
        let get = |k: &str| values.get(k);
        assert_eq!(get("s3:x-amz-acl"), Some(vec!["public-read".into()]));
        assert_eq!(get("s3:prefix"), Some(vec!["photos/".into()]));
        assert_eq!(get("s3:max-keys"), Some(vec!["10".into()]));
        assert_eq!(get("s3:delimiter"), None);
        assert_eq!(get("aws:sourceip"), Some(vec!["127.0.0.1".into()]));
        assert_eq!(get("aws:useragent"), Some(vec!["boto3".into()]));
        assert_eq!(get("s3:requestobjecttag/b"), Some(vec!["x y".into()]));
        assert_eq!(
            get("s3:requestobjecttagkeys"),
            Some(vec!["a".into(), "b".into()])
        );
        assert_eq!(get("aws:securetransport"), Some(vec!["false".into()]));
    }
}
