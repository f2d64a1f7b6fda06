//! Server settings: defaults, overridden by a TOML file, overridden by
//! environment variables and flags.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::Context;
use serde::Deserialize;

use crate::locations::LocationConfig;

#[derive(clap::Args, Debug, Default)]
pub struct ServerArgs {
    /// TOML configuration file.
    #[arg(long, env = "STRATA_CONFIG")]
    pub config: Option<PathBuf>,
    /// Address the S3 endpoint listens on [default: 127.0.0.1:8000].
    #[arg(long, env = "STRATA_LISTEN")]
    pub listen: Option<SocketAddr>,
    /// Directory for metadata and the default `fs` location [default: ./strata-data].
    #[arg(long, env = "STRATA_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// Region name the server answers for [default: us-east-1].
    #[arg(long, env = "STRATA_REGION")]
    pub region: Option<String>,
    /// Domain for virtual-host-style requests (`bucket.DOMAIN`); repeatable.
    #[arg(long = "domain", env = "STRATA_DOMAINS", value_delimiter = ',')]
    pub domains: Vec<String>,
    /// Domain whose `bucket.DOMAIN` hosts serve buckets as static websites; repeatable.
    #[arg(
        long = "website-domain",
        env = "STRATA_WEBSITE_DOMAINS",
        value_delimiter = ','
    )]
    pub website_domains: Vec<String>,
    /// TOML file declaring accounts and their keys (`[[account]]` tables).
    #[arg(long, env = "STRATA_ACCOUNTS_FILE")]
    pub accounts_file: Option<PathBuf>,
    /// Root account access key (generated on first start when unset).
    #[arg(long, env = "STRATA_ACCESS_KEY", hide_env_values = true)]
    pub access_key: Option<String>,
    /// Root account secret key.
    #[arg(long, env = "STRATA_SECRET_KEY", hide_env_values = true)]
    pub secret_key: Option<String>,
    /// Master key for server-side encryption: 32 bytes in base64
    /// [default: generated into DATA_DIR/master.key on first start].
    #[arg(long, env = "STRATA_MASTER_KEY", hide_env_values = true)]
    pub master_key: Option<String>,
    /// Seconds a client may keep the server waiting for request headers or
    /// the next piece of a body, and running requests get at shutdown
    /// [default: 30].
    #[arg(long, env = "STRATA_IDLE_TIMEOUT_SECS")]
    pub idle_timeout_secs: Option<u64>,
    /// Objects up to this many bytes are kept inside the metadata store
    /// [default: 65536].
    #[arg(long, env = "STRATA_INLINE_THRESHOLD")]
    pub inline_threshold: Option<usize>,
    /// Where buckets created without a LocationConstraint keep their data
    /// [default: local, the data dir's own].
    #[arg(long, env = "STRATA_DEFAULT_LOCATION")]
    pub default_location: Option<String>,
    #[command(flatten)]
    pub engine: EngineConfig,
}

/// The configuration file; every field is optional.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    pub listen: Option<SocketAddr>,
    pub data_dir: Option<PathBuf>,
    pub region: Option<String>,
    #[serde(default)]
    pub domains: Vec<String>,
    #[serde(default)]
    pub website_domains: Vec<String>,
    pub accounts_file: Option<PathBuf>,
    /// Objects up to this many bytes are kept inside the metadata store.
    pub inline_threshold: Option<usize>,
    /// Master key for server-side encryption (base64 of 32 bytes).
    pub master_key: Option<String>,
    /// Root account keys (both or neither).
    pub access_key: Option<String>,
    pub secret_key: Option<String>,
    /// Seconds a client may leave the server waiting (see `ServerArgs`).
    pub idle_timeout_secs: Option<u64>,
    /// Where buckets created without a LocationConstraint keep their data.
    pub default_location: Option<String>,
    /// `[[location]]` tables: name, type, type-specific settings.
    #[serde(default)]
    pub location: Vec<LocationConfig>,
    /// `[engine]`: the background engine (replication).
    #[serde(default)]
    pub engine: EngineConfig,
}

/// The `[engine]` table; each setting also as `--engine-…` and `STRATA_ENGINE_…`.
#[derive(clap::Args, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EngineConfig {
    /// false: no background processing on this server [default: true].
    #[arg(long = "engine-enabled", env = "STRATA_ENGINE_ENABLED")]
    pub enabled: Option<bool>,
    /// The extensions that run, comma-separated [default: all: replication].
    #[arg(
        long = "engine-extensions",
        env = "STRATA_ENGINE_EXTENSIONS",
        value_delimiter = ','
    )]
    pub extensions: Option<Vec<String>>,
    /// Partitions per bus topic [default: the bus's own count; 32 for a new bus].
    #[arg(long = "engine-partitions", env = "STRATA_ENGINE_PARTITIONS")]
    pub partitions: Option<u32>,
    /// Age in hours (from publication) past which the bus drops a processed
    /// message [default: 1; 0: at the next pass, within a minute].
    /// Unprocessed ones stay.
    #[arg(long = "engine-retention-hours", env = "STRATA_ENGINE_RETENTION_HOURS")]
    pub retention_hours: Option<u64>,
    /// Attempts per version and destination before the failed list [default: 5].
    #[arg(
        long = "engine-replication-attempts",
        env = "STRATA_ENGINE_REPLICATION_ATTEMPTS"
    )]
    pub replication_attempts: Option<u32>,
    /// First retry delay in milliseconds, doubling each time [default: 200].
    #[arg(
        long = "engine-replication-backoff-ms",
        env = "STRATA_ENGINE_REPLICATION_BACKOFF_MS"
    )]
    pub replication_backoff_ms: Option<u64>,
}

impl EngineConfig {
    /// These settings, each falling back to the file's.
    fn or(self, file: EngineConfig) -> EngineConfig {
        EngineConfig {
            enabled: self.enabled.or(file.enabled),
            extensions: self.extensions.or(file.extensions),
            partitions: self.partitions.or(file.partitions),
            retention_hours: self.retention_hours.or(file.retention_hours),
            replication_attempts: self.replication_attempts.or(file.replication_attempts),
            replication_backoff_ms: self.replication_backoff_ms.or(file.replication_backoff_ms),
        }
    }

    /// The engine's settings, or None when it is off.
    pub fn settings(&self) -> anyhow::Result<Option<strata_engine::EngineSettings>> {
        if self.enabled == Some(false) {
            return Ok(None);
        }
        let mut settings = strata_engine::EngineSettings::default();
        if let Some(extensions) = &self.extensions {
            // Names are checked by the engine when it starts; an empty
            // flag value means none.
            settings.extensions = extensions
                .iter()
                .filter(|e| !e.is_empty())
                .cloned()
                .collect();
        }
        if let Some(p) = self.partitions {
            anyhow::ensure!((1..=256).contains(&p), "engine.partitions must be 1 to 256");
            settings.partitions = Some(p);
        }
        if let Some(h) = self.retention_hours {
            settings.retention = std::time::Duration::from_secs(h.saturating_mul(3600));
        }
        if let Some(a) = self.replication_attempts {
            anyhow::ensure!(a >= 1, "engine.replication_attempts must be at least 1");
            settings.retry.attempts = a;
        }
        if let Some(ms) = self.replication_backoff_ms {
            settings.retry.first_backoff = std::time::Duration::from_millis(ms);
        }
        Ok(Some(settings))
    }
}

/// The settings in force once every source has been read.
#[derive(Debug)]
pub struct Settings {
    pub listen: SocketAddr,
    pub data_dir: PathBuf,
    pub region: String,
    pub domains: Vec<String>,
    pub website_domains: Vec<String>,
    pub accounts_file: Option<PathBuf>,
    pub inline_threshold: usize,
    pub root_keys: Option<(String, String)>,
    pub master_key: Option<String>,
    pub idle_timeout: std::time::Duration,
    pub default_location: Option<String>,
    pub locations: Vec<LocationConfig>,
    pub engine: Option<strata_engine::EngineSettings>,
}

impl ServerArgs {
    pub fn resolve(self) -> anyhow::Result<Settings> {
        let file = match &self.config {
            Some(path) => load_file(path)?,
            None => FileConfig::default(),
        };
        // The pair comes from one source: flags and environment, else the file.
        let given = match (self.access_key, self.secret_key) {
            (None, None) => (file.access_key, file.secret_key),
            given => given,
        };
        let root_keys = match given {
            (Some(a), Some(s)) => Some((a, s)),
            (None, None) => None,
            _ => anyhow::bail!("STRATA_ACCESS_KEY and STRATA_SECRET_KEY must be given together"),
        };
        // A list given by flag or environment replaces the file's.
        let or_file = |given: Vec<String>, file: Vec<String>| {
            if given.is_empty() { file } else { given }
        };
        let domains = or_file(self.domains, file.domains);
        let website_domains = or_file(self.website_domains, file.website_domains);
        let region = self
            .region
            .or(file.region)
            .unwrap_or_else(|| "us-east-1".into());
        // What SigV4 scopes may name (and s3s accepts): clients sign for it.
        let region_name = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-';
        anyhow::ensure!(
            !region.is_empty() && region.bytes().all(region_name),
            "region {region:?} must be lowercase letters, digits and hyphens (us-east-1)"
        );
        Ok(Settings {
            listen: self
                .listen
                .or(file.listen)
                .unwrap_or(SocketAddr::from(([127, 0, 0, 1], 8000))),
            data_dir: self
                .data_dir
                .or(file.data_dir)
                .unwrap_or_else(|| PathBuf::from("./strata-data")),
            region,
            domains,
            website_domains,
            accounts_file: self.accounts_file.or(file.accounts_file),
            inline_threshold: self
                .inline_threshold
                .or(file.inline_threshold)
                .unwrap_or(strata_core::Settings::default().inline_threshold),
            root_keys,
            master_key: self.master_key.or(file.master_key),
            idle_timeout: std::time::Duration::from_secs(
                self.idle_timeout_secs
                    .or(file.idle_timeout_secs)
                    .unwrap_or(30)
                    .max(1),
            ),
            default_location: self.default_location.or(file.default_location),
            engine: self.engine.or(file.engine).settings()?,
            locations: file.location,
        })
    }
}

/// The master key: the configured one, else the one in `data_dir/master.key`,
/// generated there (readable by its owner only) on first start.
pub fn master_key(configured: Option<&str>, data_dir: &Path) -> anyhow::Result<[u8; 32]> {
    let decode = |text: &str, from: &str| -> anyhow::Result<[u8; 32]> {
        base64_simd::STANDARD
            .decode_to_vec(text.trim())
            .ok()
            .and_then(|k| <[u8; 32]>::try_from(k).ok())
            .with_context(|| format!("the master key in {from} must be 32 bytes in base64"))
    };
    if let Some(text) = configured {
        return decode(text, "the configuration");
    }
    let path = data_dir.join("master.key");
    match std::fs::read_to_string(&path) {
        Ok(text) => decode(&text, &path.display().to_string()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let mut key = [0u8; 32];
            getrandom::fill(&mut key).map_err(|e| anyhow::anyhow!("no OS random source: {e}"))?;
            write_private(&path, &base64_simd::STANDARD.encode_to_string(key))?;
            Ok(key)
        }
        Err(e) => Err(e).with_context(|| format!("reading {}", path.display())),
    }
}

/// The master key of an existing server (for commands that talk to it):
/// the one given, else the one in `data_dir/master.key`; never generated.
pub fn existing_master_key(configured: Option<&str>, data_dir: &Path) -> anyhow::Result<[u8; 32]> {
    if configured.is_none() && !data_dir.join("master.key").exists() {
        anyhow::bail!(
            "no master key: give --master-key (or STRATA_MASTER_KEY), or --data-dir of the server"
        );
    }
    master_key(configured, data_dir)
}

/// Writes a secret file readable by its owner only, durably.
fn write_private(path: &Path, text: &str) -> anyhow::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("creating {}", path.display()))?;
    file.write_all(text.as_bytes())?;
    file.sync_all()?;
    Ok(())
}

pub fn load_file(path: &Path) -> anyhow::Result<FileConfig> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    toml::from_str(&text).with_context(|| format!("parsing {}", path.display()))
}

/// The accounts file: `[[account]]` tables of name, canonical_id (optional),
/// access_key and secret_key.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AccountsFile {
    #[serde(default)]
    account: Vec<strata_core::accounts::DeclaredAccount>,
}

pub fn load_accounts(path: &Path) -> anyhow::Result<Vec<strata_core::accounts::DeclaredAccount>> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let file: AccountsFile =
        toml::from_str(&text).with_context(|| format!("parsing {}", path.display()))?;
    Ok(file.account)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_override_the_file_which_overrides_defaults() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("strata.toml");
        std::fs::write(
            &path,
            "listen = \"127.0.0.1:9000\"\nregion = \"eu-west-1\"\nwebsite_domains = [\"web.test\"]\n",
        )
        .unwrap();
        let args = ServerArgs {
            config: Some(path.clone()),
            region: Some("ap-south-1".into()),
            ..Default::default()
        };
        let s = args.resolve().unwrap();
        assert_eq!(s.listen.port(), 9000);
        assert_eq!(s.region, "ap-south-1");
        assert_eq!(s.data_dir, PathBuf::from("./strata-data"));
        assert_eq!(s.website_domains, ["web.test"]);
        let args = ServerArgs {
            config: Some(path),
            website_domains: vec!["flag.test".into()],
            ..Default::default()
        };
        assert_eq!(args.resolve().unwrap().website_domains, ["flag.test"]);
        let upper = ServerArgs {
            region: Some("US".into()),
            ..Default::default()
        };
        assert!(
            upper
                .resolve()
                .unwrap_err()
                .to_string()
                .contains("region \"US\"")
        );
    }

    #[test]
    fn every_scalar_setting_comes_from_the_file_or_a_flag() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("strata.toml");
        std::fs::write(
            &path,
            "access_key = \"FILEKEY\"\nsecret_key = \"file-secret\"\ninline_threshold = 1024\n\
             default_location = \"cloud\"\n[engine]\npartitions = 8\nreplication_attempts = 2\n",
        )
        .unwrap();
        let from_file = ServerArgs {
            config: Some(path.clone()),
            ..Default::default()
        }
        .resolve()
        .unwrap();
        assert_eq!(
            from_file.root_keys,
            Some(("FILEKEY".into(), "file-secret".into()))
        );
        assert_eq!(from_file.inline_threshold, 1024);
        assert_eq!(from_file.default_location.as_deref(), Some("cloud"));
        let engine = from_file.engine.unwrap();
        assert_eq!((engine.partitions, engine.retry.attempts), (Some(8), 2));
        let flagged = ServerArgs {
            config: Some(path),
            inline_threshold: Some(0),
            default_location: Some("local".into()),
            engine: EngineConfig {
                partitions: Some(16),
                extensions: Some(vec![String::new()]),
                ..Default::default()
            },
            ..Default::default()
        }
        .resolve()
        .unwrap();
        assert_eq!(flagged.inline_threshold, 0);
        assert_eq!(flagged.default_location.as_deref(), Some("local"));
        let engine = flagged.engine.unwrap();
        assert_eq!((engine.partitions, engine.retry.attempts), (Some(16), 2));
        assert!(engine.extensions.is_empty());
        // Root keys come as a pair from one source, never half from each.
        let half = ServerArgs {
            config: Some(dir.path().join("strata.toml")),
            access_key: Some("FLAGKEY".into()),
            ..Default::default()
        };
        assert!(half.resolve().unwrap_err().to_string().contains("together"));
    }

    #[test]
    fn location_tables_are_read_and_checked() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("strata.toml");
        std::fs::write(
            &path,
            "default_location = \"cloud\"\n[[location]]\nname = \"cloud\"\ntype = \"s3\"\n\
             bucket = \"b\"\nendpoint = \"http://127.0.0.1:9\"\ntransient = true\n",
        )
        .unwrap();
        let s = ServerArgs {
            config: Some(path.clone()),
            ..Default::default()
        }
        .resolve()
        .unwrap();
        assert_eq!(s.default_location.as_deref(), Some("cloud"));
        assert_eq!(s.locations.len(), 1);
        assert!(s.locations[0].spec.transient);
        std::fs::write(&path, "[[location]]\nname = \"c\"\ntype = \"s3\"\n").unwrap();
        let err = ServerArgs {
            config: Some(path),
            ..Default::default()
        }
        .resolve()
        .unwrap_err();
        assert!(format!("{err:#}").contains("bucket"), "{err:#}");
    }

    #[test]
    fn unknown_settings_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("strata.toml");
        std::fs::write(&path, "lisen = \"127.0.0.1:9000\"\n").unwrap();
        let args = ServerArgs {
            config: Some(path),
            ..Default::default()
        };
        assert!(args.resolve().is_err());
    }
}
