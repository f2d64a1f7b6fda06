//! Virtual-host-style addressing over a configured list of domains. A Host
//! that is none of them (an IP, `localhost`, an unknown name) falls back to
//! path-style instead of failing.

use s3s::S3Result;
use s3s::host::{S3Host, VirtualHost};

pub(crate) struct Domains(Vec<String>);

impl Domains {
    pub fn new(domains: &[String]) -> Self {
        Self(domains.iter().map(|d| d.to_ascii_lowercase()).collect())
    }
}

impl Domains {
    /// The configured domain `host` (port ignored) is or is under, with the
    /// bucket label(s) before it; None for a Host that is none of them.
    pub fn split<'a>(&'a self, host: &'a str) -> Option<(&'a str, Option<&'a str>)> {
        let name = host.rsplit_once(':').map_or(host, |(h, port)| {
            if port.bytes().all(|b| b.is_ascii_digit()) {
                h
            } else {
                host
            }
        });
        for domain in &self.0 {
            if name.eq_ignore_ascii_case(domain) {
                return Some((domain.as_str(), None));
            }
            if let Some(bucket) = name
                .strip_suffix(domain.as_str())
                .and_then(|b| b.strip_suffix('.'))
                && !bucket.is_empty()
            {
                return Some((domain.as_str(), Some(bucket)));
            }
        }
        None
    }

    /// The bucket a request addresses: its Host's label under a configured
    /// domain, else the first segment of its path (path-style).
    pub fn bucket_of<'a>(&'a self, host: Option<&'a str>, path: &'a str) -> Option<&'a str> {
        if let Some((_, Some(bucket))) = host.and_then(|h| self.split(h)) {
            return Some(bucket);
        }
        path.trim_start_matches('/')
            .split('/')
            .next()
            .filter(|b| !b.is_empty())
    }
}

impl S3Host for Domains {
    fn parse_host_header<'a>(&'a self, host: &'a str) -> S3Result<VirtualHost<'a>> {
        Ok(match self.split(host) {
            Some((domain, None)) => VirtualHost::new(domain),
            Some((domain, Some(bucket))) => VirtualHost::new(domain).with_bucket(bucket),
            None => VirtualHost::new(host),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::Domains;

    #[test]
    fn buckets_come_from_the_host_or_the_path() {
        let d = Domains::new(&["S3.Example.com".to_string()]);
        assert_eq!(
            d.split("s3.example.com:8000"),
            Some(("s3.example.com", None))
        );
        assert_eq!(
            d.split("photos.s3.example.com"),
            Some(("s3.example.com", Some("photos")))
        );
        assert_eq!(d.split("elsewhere.org"), None);
        assert_eq!(
            d.bucket_of(Some("photos.s3.example.com"), "/a/b"),
            Some("photos")
        );
        assert_eq!(
            d.bucket_of(Some("s3.example.com"), "/docs/a/b"),
            Some("docs")
        );
        assert_eq!(d.bucket_of(Some("127.0.0.1:8000"), "/"), None);
    }
}
