//! Virtual-host-style addressing over a configured list of domains. A Host
//! that is none of them (an IP, `localhost`, an unknown name) falls back to
//! path-style instead of failing.

use s3s::S3Result;
use s3s::host::{S3Host, VirtualHost};

pub(crate) struct Domains(Vec<String>);

impl Domains {
    pub fn new(domains: &[String]) -> Result<Self, Box<dyn std::error::Error + Send + Sync>> {
        Ok(Self(
            domains.iter().map(|d| d.to_ascii_lowercase()).collect(),
        ))
    }
}

impl S3Host for Domains {
    fn parse_host_header<'a>(&'a self, host: &'a str) -> S3Result<VirtualHost<'a>> {
        let name = host.rsplit_once(':').map_or(host, |(h, port)| {
            if port.bytes().all(|b| b.is_ascii_digit()) {
                h
            } else {
                host
            }
        });
        for domain in &self.0 {
            if name.eq_ignore_ascii_case(domain) {
                return Ok(VirtualHost::new(domain.as_str()));
            }
            if let Some(bucket) = name
                .strip_suffix(domain.as_str())
                .and_then(|b| b.strip_suffix('.'))
                && !bucket.is_empty()
            {
                return Ok(VirtualHost::new(domain.as_str()).with_bucket(bucket));
            }
        }
        Ok(VirtualHost::new(host))
    }
}
