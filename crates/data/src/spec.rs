//! Location declarations (config file or `strata admin location add`): typed settings per
//! type and how each opens its backend. Never prints a secret: `Debug` and `describe` redact.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::azure_requests::MAX_PUT_BLOB;
use crate::cloud::S3Keys;
use crate::s3_requests::{MAX_PUT_OBJECT, MIN_PART};
use crate::{
    CloudBackend, DataBackend, DataError, FsBackend, Guarded, MemBackend, Result, aws_profile,
};

/// Field names whose values are secrets, whatever the location type.
const SECRET_FIELDS: &[&str] = &["secret_key", "access_key", "sas_token"];

/// A location's declaration: its type and type-specific settings, plus the
/// settings every type shares.
#[derive(Clone, Serialize, Deserialize)]
pub struct LocationSpec {
    /// Holds data only until it is replicated (behaviour comes with replication).
    #[serde(default)]
    pub transient: bool,
    #[serde(flatten)]
    pub tuning: Tuning,
    #[serde(flatten)]
    pub kind: LocationKind,
}

/// Timeouts, retries and the breaker's cool-down of one location.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize)]
pub struct Tuning {
    /// Bound on each backend call and on each wait for the next read chunk.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_secs: Option<u64>,
    /// Retries of idempotent requests (with exponential backoff).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retries: Option<usize>,
    /// How long the circuit breaker refuses calls once open.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub breaker_cooldown_secs: Option<u64>,
}

impl Tuning {
    pub fn timeout(&self) -> Duration {
        Duration::from_secs(self.timeout_secs.unwrap_or(30).max(1))
    }
    pub fn retries(&self) -> usize {
        self.retries.unwrap_or(3)
    }
    pub fn cooldown(&self) -> Duration {
        Duration::from_secs(self.breaker_cooldown_secs.unwrap_or(5))
    }
}

#[derive(Clone, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum LocationKind {
    Fs(FsSpec),
    Mem {},
    S3(S3Spec),
    Azure(AzureSpec),
}

#[derive(Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FsSpec {
    pub path: PathBuf,
}

/// Any S3-compatible endpoint: AWS, GCS (XML interop), Wasabi, Ceph RGW, MinIO, Strata.
#[derive(Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct S3Spec {
    /// `https://…` or `http://…` (TLS off); none means AWS for `region`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<String>,
    #[serde(default = "default_region")]
    pub region: String,
    pub bucket: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access_key: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_key: Option<String>,
    /// Name of an environment variable holding the access key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access_key_env: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_key_env: Option<String>,
    /// A profile of the AWS shared credentials or config file to take keys from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub profile: Option<String>,
    /// Path-style requests (`endpoint/bucket/key`) instead of virtual-host.
    #[serde(default)]
    pub path_style: bool,
    /// True: blobs are named after the object key alone; false: under
    /// `<strata bucket>/`, so several Strata buckets can share the target.
    #[serde(default = "yes")]
    pub bucket_match: bool,
    /// A prefix inside the target bucket for everything Strata writes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prefix: Option<String>,
    /// The endpoint is another Strata site: replicas sent there keep their
    /// version ids and delete markers.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub strata: bool,
    /// Passed through on every write: `AES256`, `aws:kms` or `aws:kms:dsse`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server_side_encryption: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sse_kms_key_id: Option<String>,
    /// The largest write (of known size) sent as one PutObject; larger ones
    /// go as a multipart upload. 5 to 5120; default 5120 (S3's limit).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_single_put_mib: Option<u64>,
    /// Whether the ETag the endpoint answers a single PutObject or an
    /// UploadPart with is the MD5 of the bytes: Strata then takes the
    /// object's MD5 from it instead of hashing every byte itself (which
    /// costs about a core per 500 MiB/s). True of AWS S3 and most
    /// S3-compatible services, but not of AWS buckets encrypted with SSE-KMS
    /// or SSE-C (by the location or by the bucket's default), nor of MinIO
    /// with encryption or compression. Default: true for another Strata
    /// site (`strata = true`), false otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub md5_from_backend: Option<bool>,
}

impl S3Spec {
    pub(crate) fn max_single_put(&self) -> Result<u64> {
        single_put_limit(self.max_single_put_mib, MIN_PART, MAX_PUT_OBJECT)
    }

    pub(crate) fn md5_from_backend(&self) -> bool {
        self.md5_from_backend.unwrap_or(self.strata)
    }
}

/// Azure Blob Storage: objects become block blobs of one container.
#[derive(Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AzureSpec {
    pub account: String,
    pub container: String,
    /// Blob service URL; default `https://<account>.blob.core.windows.net`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<String>,
    /// The account's shared key (base64).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access_key: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access_key_env: Option<String>,
    /// A SAS token (`sv=…&sig=…`), instead of the shared key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sas_token: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sas_token_env: Option<String>,
    #[serde(default = "yes")]
    pub bucket_match: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prefix: Option<String>,
    /// The largest object copy sent as one Put Blob; larger ones go as
    /// blocks and a block list. 1 to 5000; default 5000 (Azure's limit).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_single_put_mib: Option<u64>,
}

impl AzureSpec {
    pub(crate) fn max_single_put(&self) -> Result<u64> {
        single_put_limit(self.max_single_put_mib, 1 << 20, MAX_PUT_BLOB)
    }
}

/// `max_single_put_mib` in bytes, between `min` and the service's `max`
/// (its default).
fn single_put_limit(mib: Option<u64>, min: u64, max: u64) -> Result<u64> {
    let Some(mib) = mib else {
        return Ok(max);
    };
    let limit = mib.saturating_mul(1 << 20);
    if (min..=max).contains(&limit) {
        Ok(limit)
    } else {
        Err(DataError::Config(format!(
            "max_single_put_mib must be between {} and {}, not {mib}",
            min >> 20,
            max >> 20
        )))
    }
}

fn default_region() -> String {
    "us-east-1".into()
}

fn yes() -> bool {
    true
}

/// Location names: 1-63 lowercase letters, digits, `-`, `_`, `.`, starting
/// with a letter or digit (they appear as S3 LocationConstraint values).
pub fn validate_location_name(name: &str) -> Result<()> {
    let ok = (1..=63).contains(&name.len())
        && name.as_bytes()[0].is_ascii_alphanumeric()
        && name.bytes().all(|b| {
            b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'-' | b'_' | b'.')
        });
    if ok {
        Ok(())
    } else {
        Err(DataError::Config(format!(
            "invalid location name {name:?}: use 1-63 lowercase letters, digits, '-', '_' or '.'"
        )))
    }
}

/// A secret given inline or through an environment variable (not both).
fn secret(
    location: &str,
    field: &str,
    inline: &Option<String>,
    env: &Option<String>,
) -> Result<Option<String>> {
    match (inline, env) {
        (Some(_), Some(_)) => Err(DataError::Config(format!(
            "location {location}: give {field} or {field}_env, not both"
        ))),
        (Some(v), None) => Ok(Some(v.clone())),
        (None, Some(var)) => std::env::var(var).map(Some).map_err(|_| {
            DataError::Config(format!(
                "location {location}: environment variable {var} ({field}_env) is not set"
            ))
        }),
        (None, None) => Ok(None),
    }
}

impl LocationSpec {
    pub fn kind_name(&self) -> &'static str {
        match self.kind {
            LocationKind::Fs(_) => "fs",
            LocationKind::Mem {} => "mem",
            LocationKind::S3(_) => "s3",
            LocationKind::Azure(_) => "azure",
        }
    }

    /// Opens the location's backend behind its guard. Fails on settings that
    /// cannot work (a missing secret, a bad URL); does not contact the backend.
    pub fn open(&self, name: &str) -> Result<Arc<dyn DataBackend>> {
        validate_location_name(name)?;
        let config = |e: DataError| match e {
            DataError::Config(m) if m.starts_with("location ") => DataError::Config(m),
            other => DataError::Config(format!("location {name}: {other}")),
        };
        let backend: Arc<dyn DataBackend> = match &self.kind {
            // Local disk and memory neither hang nor fail like a remote
            // service: the guard (timeouts, breaker) is for clouds only, and
            // would cost the local read path a timer per chunk.
            LocationKind::Fs(fs) => {
                return Ok(Arc::new(FsBackend::open(&fs.path).map_err(config)?));
            }
            LocationKind::Mem {} => return Ok(Arc::new(MemBackend::default())),
            LocationKind::S3(s3) => {
                let access = secret(name, "access_key", &s3.access_key, &s3.access_key_env)?;
                let secret_key = secret(name, "secret_key", &s3.secret_key, &s3.secret_key_env)?;
                let keys = match (access, secret_key, &s3.profile) {
                    (Some(access_key), Some(secret_key), None) => Some(S3Keys {
                        access_key,
                        secret_key,
                        session_token: None,
                    }),
                    (None, None, Some(profile)) => {
                        Some(aws_profile::load(profile).map_err(config)?)
                    }
                    (None, None, None) => None,
                    (_, _, Some(_)) => {
                        return Err(config(DataError::Config(
                            "give keys inline, as _env references or as a profile, not several"
                                .into(),
                        )));
                    }
                    _ => {
                        return Err(config(DataError::Config(
                            "give both access_key and secret_key (or their _env forms), or neither"
                                .into(),
                        )));
                    }
                };
                Arc::new(CloudBackend::s3(s3, keys, &self.tuning).map_err(config)?)
            }
            LocationKind::Azure(az) => {
                let key = secret(name, "access_key", &az.access_key, &az.access_key_env)?;
                let sas = secret(name, "sas_token", &az.sas_token, &az.sas_token_env)?;
                Arc::new(CloudBackend::azure(az, key, sas, &self.tuning).map_err(config)?)
            }
        };
        Ok(Arc::new(Guarded::new(
            name,
            backend,
            self.tuning.timeout(),
            self.tuning.cooldown(),
        )))
    }

    /// The settings as `field = value` lines, secrets replaced by `********`.
    pub fn describe(&self) -> Vec<(String, String)> {
        let Ok(serde_json::Value::Object(fields)) = serde_json::to_value(self) else {
            return Vec::new();
        };
        fields
            .into_iter()
            .map(|(k, v)| {
                let shown = match v {
                    _ if SECRET_FIELDS.contains(&k.as_str()) => "********".to_string(),
                    serde_json::Value::String(s) => s,
                    other => other.to_string(),
                };
                (k, shown)
            })
            .collect()
    }
}

impl std::fmt::Debug for LocationSpec {
    // Secrets never reach logs, even through a `{:?}`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut d = f.debug_struct("LocationSpec");
        for (k, v) in self.describe() {
            d.field(&k, &v);
        }
        d.finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> std::result::Result<LocationSpec, toml::de::Error> {
        toml::from_str(text)
    }

    #[test]
    fn declarations_parse_with_defaults_and_refuse_unknown_fields() {
        let spec = parse(
            "type = \"s3\"\nendpoint = \"http://127.0.0.1:9000\"\nbucket = \"b\"\n\
             access_key = \"AK\"\nsecret_key = \"SECRET\"\ntransient = true\ntimeout_secs = 7\n",
        )
        .unwrap();
        assert_eq!(spec.kind_name(), "s3");
        assert!(spec.transient);
        assert_eq!(spec.tuning.timeout(), Duration::from_secs(7));
        let LocationKind::S3(s3) = &spec.kind else {
            panic!("not s3")
        };
        assert!(s3.bucket_match && !s3.path_style);
        assert_eq!(s3.region, "us-east-1");
        assert!(parse("type = \"s3\"\nbucket = \"b\"\nendpont = \"x\"\n").is_err());
        assert!(
            parse("type = \"azure\"\naccount = \"a\"\n").is_err(),
            "container missing"
        );
        assert!(parse("type = \"tape\"\n").is_err());
    }

    #[test]
    fn only_a_strata_site_is_trusted_for_md5_etags_unless_told() {
        let md5_from_backend = |extra: &str| {
            let spec = parse(&format!("type = \"s3\"\nbucket = \"b\"\n{extra}")).unwrap();
            let LocationKind::S3(s3) = &spec.kind else {
                panic!("not s3")
            };
            s3.md5_from_backend()
        };
        assert!(!md5_from_backend(""));
        assert!(md5_from_backend("strata = true\n"));
        assert!(md5_from_backend("md5_from_backend = true\n"));
        assert!(!md5_from_backend(
            "strata = true\nmd5_from_backend = false\n"
        ));
    }

    #[test]
    fn secrets_are_never_described() {
        let spec = parse(
            "type = \"azure\"\naccount = \"acct\"\ncontainer = \"c\"\naccess_key = \"S3CR3T\"\n",
        )
        .unwrap();
        let shown = format!("{:?} {:?}", spec, spec.describe());
        assert!(!shown.contains("S3CR3T"), "{shown}");
        assert!(shown.contains("acct"));
    }

    #[test]
    fn missing_env_secrets_and_bad_names_are_clear_errors() {
        let spec = parse(
            "type = \"s3\"\nbucket = \"b\"\naccess_key_env = \"STRATA_TEST_UNSET_AK\"\n\
             secret_key = \"x\"\n",
        )
        .unwrap();
        let err = spec.open("cloud1").err().unwrap().to_string();
        assert!(
            err.contains("STRATA_TEST_UNSET_AK") && err.contains("cloud1"),
            "{err}"
        );
        assert!(validate_location_name("Bad Name").is_err());
        assert!(validate_location_name("aws-east_1.b").is_ok());
    }
}
