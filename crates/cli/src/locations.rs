//! The locations of a data dir (built-in `local`, config file, `strata admin location`) and
//! the admin commands that add, list, show and remove them. It never prints a secret.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use clap::Subcommand;
use hyper::Method;
use serde::Deserialize;
use strata_core::locations::{location_record, open_and_probe};
use strata_core::{Location, Locations, Source, Strata};
use strata_data::{FsSpec, LocationKind, LocationSpec};
use strata_meta::MetadataStore;

use crate::operator::Api;

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
    pub source: Source,
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
        source: Source::BuiltIn,
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
        source: Source::BuiltIn,
    }];
    for l in from_file {
        all.push(Declared {
            name: l.name.clone(),
            spec: l.spec.clone(),
            source: Source::ConfigFile,
        });
    }
    for record in meta.list_locations()? {
        let spec: LocationSpec = serde_json::from_str(&record.spec)
            .with_context(|| format!("location {} in the metadata store", record.name))?;
        all.push(Declared {
            name: record.name,
            spec,
            source: Source::Admin,
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
    let default = default.unwrap_or(DEFAULT_LOCATION);
    if !declared.iter().any(|d| d.name == default) {
        bail!("default_location {default} is not a declared location");
    }
    let locations = Locations::new(default);
    for d in declared {
        let backend = d.spec.open(&d.name)?;
        tracing::info!(location = %d.name, kind = d.spec.kind_name(), transient = d.spec.transient, source = d.source.as_str(), "location");
        let location = Location {
            backend,
            spec: d.spec.clone(),
            source: d.source,
        };
        locations.add(&d.name, location);
    }
    Ok(locations)
}

/// Logs locations that do not answer, without refusing to start: the other
/// locations still serve, and `/_/ready` reports the failing one.
pub async fn warn_unreachable(locations: &Locations) {
    for (name, location) in locations.all() {
        if let Err(e) = location.backend.check().await {
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

/// The spec `strata admin location add` describes.
fn spec_of(
    name: &str,
    kind: &str,
    settings: &[String],
    transient: bool,
) -> anyhow::Result<LocationSpec> {
    let mut table = toml::Table::new();
    for pair in settings {
        let (k, v) = setting(pair)?;
        table.insert(k, v);
    }
    table.insert("type".into(), toml::Value::String(kind.to_string()));
    table.insert("transient".into(), toml::Value::Boolean(transient));
    toml::Value::Table(table)
        .try_into()
        .with_context(|| format!("location {name}: invalid settings"))
}

/// The location commands, sent to a running server's admin API.
pub async fn run_online(command: &LocationCommand, api: &Api) -> anyhow::Result<()> {
    let path = |name: &str| format!("locations/{}", urlencoding::encode(name));
    match command {
        LocationCommand::Add {
            name,
            kind,
            settings,
            transient,
        } => {
            let spec = spec_of(name, kind, settings, *transient)?;
            api.call(Method::PUT, &path(name), Some(serde_json::to_value(&spec)?))
                .await?;
            println!("added location {name} ({}); probe passed", spec.kind_name());
        }
        LocationCommand::List => {
            println!("NAME\tTYPE\tTRANSIENT\tDECLARED IN");
            let listed = api.call(Method::GET, "locations", None).await?;
            for l in listed.as_array().into_iter().flatten() {
                println!(
                    "{}\t{}\t{}\t{}",
                    l["name"].as_str().unwrap_or_default(),
                    l["type"].as_str().unwrap_or_default(),
                    l["transient"],
                    l["declared_in"].as_str().unwrap_or_default()
                );
            }
        }
        LocationCommand::Show { name } => {
            let shown = api.call(Method::GET, &path(name), None).await?;
            println!("name = {name}");
            println!(
                "declared_in = {}",
                shown["declared_in"].as_str().unwrap_or_default()
            );
            for (k, v) in shown["settings"].as_object().into_iter().flatten() {
                println!("{k} = {}", v.as_str().unwrap_or_default());
            }
        }
        LocationCommand::Remove { name } => {
            api.call(Method::DELETE, &path(name), None).await?;
            println!("removed location {name}");
        }
    }
    Ok(())
}

pub async fn run_admin(
    command: LocationCommand,
    strata: &Strata,
    data_dir: &Path,
    config: &ConfigLocations,
) -> anyhow::Result<()> {
    let meta = &*strata.meta;
    let from_file = &config.declared;
    match command {
        LocationCommand::Add {
            name,
            kind,
            settings,
            transient,
        } => {
            let spec = spec_of(&name, &kind, &settings, transient)?;
            if declared(meta, data_dir, from_file)?
                .iter()
                .any(|d| d.name == name)
            {
                bail!("location {name} already exists");
            }
            open_and_probe(&name, &spec).await?;
            meta.create_location(location_record(&name, &spec)?).await?;
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
                    d.source.as_str()
                );
            }
        }
        LocationCommand::Show { name } => {
            let all = declared(meta, data_dir, from_file)?;
            let Some(d) = all.iter().find(|d| d.name == name) else {
                bail!("no such location: {name}");
            };
            println!("name = {}", d.name);
            println!("declared_in = {}", d.source.as_str());
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
            if config.default.as_deref() == Some(name.as_str()) {
                bail!(
                    "location {name} is the default location: name another default_location first"
                );
            }
            if let Some(rule) = strata.rule_naming(&name)? {
                bail!("location {name} is in use: {rule} send data there");
            }
            meta.delete_location(&name).await?;
            println!("removed location {name}");
        }
    }
    Ok(())
}

/// What the config file says of locations, for admin commands.
#[derive(Default)]
pub struct ConfigLocations {
    /// Its `[[location]]` tables.
    pub declared: Vec<LocationConfig>,
    /// Its `default_location`.
    pub default: Option<String>,
}

/// Reads the config file's locations for admin commands.
pub fn from_config_file(path: Option<&PathBuf>) -> anyhow::Result<ConfigLocations> {
    let Some(path) = path else {
        return Ok(ConfigLocations::default());
    };
    let file = crate::config::load_file(path)?;
    Ok(ConfigLocations {
        declared: file.location,
        default: file.default_location,
    })
}
