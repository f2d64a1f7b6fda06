//! Strata's core: the meaning of buckets, objects, multipart uploads and
//! accounts, over the metadata and data layers. It never parses HTTP or S3
//! XML: frontends turn requests into these calls and errors into their codes.

pub mod access;
pub mod accounts;
mod body;
pub mod bucket_config;
pub mod buckets;
mod checksum;
pub mod conditions;
pub mod encryption;
mod error;
pub mod gc;
pub mod listing;
pub mod locations;
pub mod multipart;
pub mod object_lock;
pub mod objects;
pub mod placement;
pub mod replication;
pub mod tags;
mod time;
pub mod transient;

use std::sync::Arc;

pub use body::{Body, ObjectBody};
pub use checksum::{ChecksumSource, parse_algorithm};
pub use error::Error;
pub use locations::{Location, Locations, Source};
pub use strata_data::LocationSpec;
pub use strata_meta as meta;
pub use strata_meta::{AccountRecord, BucketRecord, ChecksumAlgorithm, ObjectRecord};

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Settings of the core that do not belong to one request.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The region this server answers for (GetBucketLocation, SigV4 scope).
    pub region: String,
    /// Objects up to this size are kept inline in the metadata store.
    pub inline_threshold: usize,
    /// The key SSE-S3 and SSE-KMS data keys are wrapped under (derived).
    pub master_key: [u8; 32],
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            region: "us-east-1".into(),
            inline_threshold: 64 * 1024,
            master_key: [0; 32],
        }
    }
}

/// The application context: everything a request needs, passed explicitly.
pub struct Strata {
    pub meta: Arc<dyn meta::MetadataStore>,
    pub locations: Locations,
    pub settings: Settings,
    keyring: encryption::Keyring,
    gc_wakeup: tokio::sync::Notify,
}

impl Strata {
    pub fn new(
        meta: Arc<dyn meta::MetadataStore>,
        locations: Locations,
        settings: Settings,
    ) -> Self {
        Self {
            meta,
            locations,
            keyring: encryption::Keyring::new(settings.master_key),
            settings,
            gc_wakeup: tokio::sync::Notify::new(),
        }
    }

    /// See `Keyring::operator_token`.
    pub fn operator_token(&self) -> String {
        self.keyring.operator_token()
    }

    /// Ready: metadata readable and the default location answering (what
    /// any request may need). Other locations that do not answer are
    /// returned, with why, rather than failing readiness: a cloud or a
    /// replication destination that is down affects the buckets placed
    /// there, and must not take the whole server out of a load balancer.
    /// Locations are checked at once, each for `READY_CHECK_TIMEOUT` at most.
    pub async fn check_ready(&self) -> Result<Vec<(String, Error)>> {
        self.meta.check()?;
        let checks = self
            .locations
            .all()
            .into_iter()
            .map(|(name, l)| async move {
                let outcome = tokio::time::timeout(READY_CHECK_TIMEOUT, l.backend.check()).await;
                let failure = match outcome {
                    Ok(Ok(())) => return None,
                    Ok(Err(e)) => e.to_string(),
                    Err(_) => format!("no answer within {}s", READY_CHECK_TIMEOUT.as_secs()),
                };
                Some((
                    name.clone(),
                    Error::ServiceUnavailable(format!("location {name}: {failure}")),
                ))
            });
        let mut degraded = Vec::new();
        for (name, e) in futures::future::join_all(checks)
            .await
            .into_iter()
            .flatten()
        {
            if name == self.locations.default_name() {
                return Err(e);
            }
            degraded.push((name, e));
        }
        Ok(degraded)
    }
}

/// How long `/_/ready` waits for a location's answer.
const READY_CHECK_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(2);

/// A random lowercase hex string of `bytes` random bytes.
pub fn random_hex(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    // getrandom only fails when the OS has no entropy source at all.
    getrandom::fill(&mut buf).expect("OS random source");
    hex_simd::encode_to_string(buf, hex_simd::AsciiCase::Lower)
}
