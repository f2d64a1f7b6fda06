//! The locations of a data dir (built-in `local`, config file, `strata admin location`) and
//! the admin commands that add, list, show and remove them. It never prints a secret.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, bail};
use clap::Subcommand;
use serde::Deserialize;
use strata_core::Locations;
use strata_data::{DataBackend, FsSpec, LocationKind, LocationSpec};
use strata_meta::{LocationRecord, MetadataStore};

/// The name of the built-in `fs` location in the data dir.
pub const DEFAULT_LOCATION: &str = "local";

/// A `[[location]]` table of the config file.
#[derive(Debug, Clone, Deserialize)]
pub struct LocationConfig {
    pub name: String,
    #[serde(flatten)]
    pub spec: LocationSpec,
}

/// Every location of a data dir, with where it was declared.
pub struct Declared {
    pub name: String,
    pub spec: LocationSpec,
    pub source: &'static str,
}

fn builtin(data_dir: &Path) -> LocationSpec {
    LocationSpec {
        transient: false,
        tuning: Default::default(),
        kind: LocationKind::Fs(FsSpec {
            path: data_dir.join("data"),
        }),
    }
}

/// Only the built-in location: what account and key commands need.
pub fn local_only(data_dir: &Path) -> anyhow::Result<Locations> {
    let local = Declared {
        name: DEFAULT_LOCATION.into(),
        spec: builtin(data_dir),
        source: "built-in",
    };
    open_all(&[local], None)
}

/// The built-in location, the config file's, then the store's; a name
/// declared twice is refused.
pub fn declared(
    meta: &dyn MetadataStore,
    data_dir: &Path,
    from_file: &[LocationConfig],
) -> anyhow::Result<Vec<Declared>> {
    let mut all = vec![Declared {
        name: DEFAULT_LOCATION.into(),
        spec: builtin(data_dir),
        source: "built-in",
    }];
    for l in from_file {
        all.push(Declared {
            name: l.name.clone(),
            spec: l.spec.clone(),
            source: "config file",
        });
    }
    for record in meta.list_locations()? {
        let spec: LocationSpec = serde_json::from_str(&record.spec)
            .with_context(|| format!("location {} in the metadata store", record.name))?;
        all.push(Declared {
            name: record.name,
            spec,
            source: "strata admin",
        });
    }
    let mut seen = std::collections::BTreeSet::new();
    for d in &all {
        if !seen.insert(d.name.as_str()) {
            bail!(
                "location {} is declared twice (the config file and `strata admin location add` must use different names; {DEFAULT_LOCATION} is built in)",
                d.name
            );
        }
    }
    Ok(all)
}

/// Opens every declared location; `default` (or `local`) becomes the default.
pub fn open_all(declared: &[Declared], default: Option<&str>) -> anyhow::Result<Locations> {
    let mut backends: BTreeMap<&str, Arc<dyn DataBackend>> = BTreeMap::new();
    for d in declared {
        let backend = d.spec.open(&d.name)?;
        tracing::info!(location = %d.name, kind = d.spec.kind_name(), transient = d.spec.transient, source = d.source, "location");
        backends.insert(&d.name, backend);
    }
    let default = default.unwrap_or(DEFAULT_LOCATION);
    let Some(first) = backends.remove(default) else {
        bail!("default_location {default} is not a declared location");
    };
    let mut locations = Locations::new(default, first);
    for (name, backend) in backends {
        locations.add(name, backend);
    }
    for d in declared.iter().filter(|d| d.spec.transient) {
        locations.mark_transient(&d.name);
    }
    Ok(locations)
}

/// Logs locations that do not answer, without refusing to start: the other
/// locations still serve, and `/_/ready` reports the failing one.
pub async fn warn_unreachable(locations: &Locations) {
    for (name, backend) in locations.iter() {
        if let Err(e) = backend.check().await {
            tracing::warn!(location = %name, error = %e, "location does not answer");
        }
    }
}

#[derive(Subcommand)]
pub enum LocationCommand {
    /// Add a location, after probing it (write, read and delete a blob).
    /// Settings are KEY=VALUE pairs, as in a `[[location]]` table, e.g.
    /// `strata admin location add backup s3 endpoint=https://s3.example.com
    /// bucket=b access_key_env=BACKUP_AK secret_key_env=BACKUP_SK`.
    Add {
        name: String,
        /// fs, mem, s3 or azure.
        #[arg(value_name = "TYPE")]
        kind: String,
        #[arg(value_name = "KEY=VALUE")]
        settings: Vec<String>,
        /// Mark the location transient (data kept only until replicated).
        #[arg(long)]
        transient: bool,
    },
    /// List every location: name, type, transient, where it is declared.
    List,
    /// Show a location's settings (secrets are never shown).
    Show { name: String },
    /// Remove a location added with `add` (refused while it holds data).
    Remove { name: String },
}

/// A `KEY=VALUE` setting as the TOML value it would be in the config file.
fn setting(pair: &str) -> anyhow::Result<(String, toml::Value)> {
    let Some((key, value)) = pair.split_once('=') else {
        bail!("settings are KEY=VALUE, not {pair:?}");
    };
    let value = match value {
        "true" => toml::Value::Boolean(true),
        "false" => toml::Value::Boolean(false),
        _ if key.ends_with("_secs") || key == "retries" => value
            .parse()
            .map(toml::Value::Integer)
            .with_context(|| format!("{key} must be a whole number"))?,
        _ => toml::Value::String(value.to_string()),
    };
    Ok((key.to_string(), value))
}

pub async fn run_admin(
    command: LocationCommand,
    meta: &dyn MetadataStore,
    data_dir: &Path,
    from_file: &[LocationConfig],
) -> anyhow::Result<()> {
    match command {
        LocationCommand::Add {
            name,
            kind,
            settings,
            transient,
        } => {
            let mut table = toml::Table::new();
            for pair in &settings {
                let (k, v) = setting(pair)?;
                table.insert(k, v);
            }
            table.insert("type".into(), toml::Value::String(kind));
            table.insert("transient".into(), toml::Value::Boolean(transient));
            let spec: LocationSpec = toml::Value::Table(table)
                .try_into()
                .with_context(|| format!("location {name}: invalid settings"))?;
            if declared(meta, data_dir, from_file)?
                .iter()
                .any(|d| d.name == name)
            {
                bail!("location {name} already exists");
            }
            let backend = spec.open(&name)?;
            strata_data::probe(&*backend).await.with_context(|| {
                format!("location {name} refused: the probe (write, read, delete) failed")
            })?;
            meta.create_location(LocationRecord {
                name: name.clone(),
                spec: serde_json::to_string(&spec)?,
                created_ms: std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |d| d.as_millis() as i64),
            })
            .await?;
            println!("added location {name} ({}); probe passed", spec.kind_name());
        }
        LocationCommand::List => {
            println!("NAME\tTYPE\tTRANSIENT\tDECLARED IN");
            for d in declared(meta, data_dir, from_file)? {
                println!(
                    "{}\t{}\t{}\t{}",
                    d.name,
                    d.spec.kind_name(),
                    d.spec.transient,
                    d.source
                );
            }
        }
        LocationCommand::Show { name } => {
            let all = declared(meta, data_dir, from_file)?;
            let Some(d) = all.iter().find(|d| d.name == name) else {
                bail!("no such location: {name}");
            };
            println!("name = {}", d.name);
            println!("declared_in = {}", d.source);
            for (k, v) in d.spec.describe() {
                println!("{k} = {v}");
            }
        }
        LocationCommand::Remove { name } => {
            if name == DEFAULT_LOCATION || from_file.iter().any(|l| l.name == name) {
                bail!(
                    "location {name} is not removable here: it is built in or declared in the config file"
                );
            }
            meta.delete_location(&name).await?;
            println!("removed location {name}");
        }
    }
    Ok(())
}

/// Reads the config file's `[[location]]` tables for admin commands.
pub fn from_config_file(path: Option<&PathBuf>) -> anyhow::Result<Vec<LocationConfig>> {
    match path {
        Some(p) => Ok(crate::config::load_file(p)?.location),
        None => Ok(Vec::new()),
    }
}
