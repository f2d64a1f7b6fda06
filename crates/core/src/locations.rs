//! The named locations data can be written to, which one is the default, and
//! how each was declared. Locations may be added and removed while the server
//! runs (the admin API), so the registry sits behind a lock and hands out
//! clones of the backends.

use std::collections::BTreeMap;
use std::sync::{Arc, PoisonError, RwLock};

use strata_data::{DataBackend, LocationSpec};
use strata_meta::{LocationRecord, MetaError};

use crate::bucket_config::lifecycle::LifecycleConfiguration;
use crate::bucket_config::replication::ReplicationConfiguration;
use crate::time::now_ms;
use crate::{Error, Result, Strata};

/// Where a location was declared.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// The data dir's own `fs` location.
    BuiltIn,
    ConfigFile,
    /// `strata admin location add` or the admin API: kept in the metadata
    /// store, and the only kind that can be removed.
    Admin,
}

impl Source {
    pub fn as_str(self) -> &'static str {
        match self {
            Source::BuiltIn => "built-in",
            Source::ConfigFile => "config file",
            Source::Admin => "strata admin",
        }
    }
}

/// One location: its backend and its declaration.
#[derive(Clone)]
pub struct Location {
    pub backend: Arc<dyn DataBackend>,
    pub spec: LocationSpec,
    pub source: Source,
}

pub struct Locations {
    default: String,
    entries: RwLock<BTreeMap<String, Location>>,
    /// Counts additions and removals, for whoever follows them (see `changes`).
    changed: tokio::sync::watch::Sender<u64>,
}

impl Locations {
    /// An empty registry whose default location will be `default`.
    pub fn new(default: &str) -> Self {
        Self {
            default: default.to_string(),
            entries: RwLock::new(BTreeMap::new()),
            changed: tokio::sync::watch::Sender::new(0),
        }
    }

    /// Marks a change after every addition and removal: how the engine
    /// learns of a location added while the server runs.
    pub fn changes(&self) -> tokio::sync::watch::Receiver<u64> {
        self.changed.subscribe()
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, BTreeMap<String, Location>> {
        // Every write leaves the map whole: a poisoned lock is still usable.
        self.entries.read().unwrap_or_else(PoisonError::into_inner)
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, BTreeMap<String, Location>> {
        self.entries.write().unwrap_or_else(PoisonError::into_inner)
    }

    pub fn add(&self, name: &str, location: Location) {
        self.write().insert(name.to_string(), location);
        self.changed.send_modify(|n| *n += 1);
    }

    /// Takes a location out of the registry, whatever uses it
    /// (`Strata::remove_location` is the checked way).
    pub fn remove(&self, name: &str) -> Option<Location> {
        let removed = self.write().remove(name);
        self.changed.send_modify(|n| *n += 1);
        removed
    }

    pub fn default_name(&self) -> &str {
        &self.default
    }

    pub fn contains(&self, name: &str) -> bool {
        self.read().contains_key(name)
    }

    /// A location and its declaration.
    pub fn location(&self, name: &str) -> Option<Location> {
        self.read().get(name).cloned()
    }

    pub fn get(&self, name: &str) -> Result<Arc<dyn DataBackend>> {
        self.read()
            .get(name)
            .map(|l| l.backend.clone())
            .ok_or_else(|| {
                Error::ServiceUnavailable(format!(
                    "location {name} is not configured on this server"
                ))
            })
    }

    /// Whether `name` keeps a replicating version's bytes only until every
    /// destination holds a copy (see `Strata::release_transient`).
    pub fn is_transient(&self, name: &str) -> bool {
        self.read().get(name).is_some_and(|l| l.spec.transient)
    }

    /// Every location, by name.
    pub fn all(&self) -> Vec<(String, Location)> {
        self.read()
            .iter()
            .map(|(name, l)| (name.clone(), l.clone()))
            .collect()
    }
}

/// Opens a location and proves it works end to end (write, read and delete
/// a probe blob): what adding a location takes, offline or online.
pub async fn open_and_probe(name: &str, spec: &LocationSpec) -> Result<Arc<dyn DataBackend>> {
    let backend = spec
        .open(name)
        .map_err(|e| Error::InvalidArgument(e.to_string()))?;
    strata_data::probe(&*backend).await.map_err(|e| {
        Error::InvalidArgument(format!(
            "location {name} refused: the probe (write, read, delete) failed: {e}"
        ))
    })?;
    Ok(backend)
}

/// How an added location is kept in the metadata store.
pub fn location_record(name: &str, spec: &LocationSpec) -> Result<LocationRecord> {
    Ok(LocationRecord {
        name: name.to_string(),
        spec: serde_json::to_string(spec).map_err(|e| Error::Internal(e.to_string()))?,
        created_ms: now_ms(),
    })
}

impl Strata {
    /// Adds a location while the server runs: probed, kept in the metadata
    /// store, then usable at once.
    pub async fn add_location(&self, name: &str, spec: LocationSpec) -> Result<()> {
        if self.locations.contains(name) {
            return Err(MetaError::LocationExists(name.to_string()).into());
        }
        let backend = open_and_probe(name, &spec).await?;
        self.meta
            .create_location(location_record(name, &spec)?)
            .await?;
        self.locations.add(
            name,
            Location {
                backend,
                spec,
                source: Source::Admin,
            },
        );
        Ok(())
    }

    /// At start: every bucket's location must still be declared (a location
    /// dropped from the config file would leave its buckets answering 503
    /// and their garbage uncollected). Names the first bucket that is not.
    pub fn check_bucket_locations(&self) -> Result<()> {
        match self
            .meta
            .list_buckets()?
            .into_iter()
            .find(|b| !self.locations.contains(&b.location))
        {
            Some(bucket) => Err(Error::InvalidArgument(format!(
                "bucket {} keeps its data in location {}, which is no longer declared: \
                 declare it again (config file or strata admin location add)",
                bucket.name, bucket.location
            ))),
            None => Ok(()),
        }
    }

    /// The first bucket rule that sends data to `location` (a replication
    /// destination, a lifecycle transition), named for an error message.
    pub fn rule_naming(&self, location: &str) -> Result<Option<String>> {
        for bucket in self.meta.list_buckets()? {
            let name = &bucket.name;
            let replication = self.bucket_document::<ReplicationConfiguration>(name)?;
            if replication
                .iter()
                .flat_map(|c| &c.rules)
                .any(|r| r.destination.locations().any(|l| l == location))
            {
                return Ok(Some(format!("the replication rules of bucket {name}")));
            }
            let lifecycle = self.bucket_document::<LifecycleConfiguration>(name)?;
            let transitions = lifecycle.iter().flat_map(|c| &c.rules).flat_map(|r| {
                let current = r.transitions.iter().map(|t| &t.storage_class);
                current.chain(
                    r.noncurrent_version_transitions
                        .iter()
                        .map(|t| &t.storage_class),
                )
            });
            if transitions.flatten().any(|l| l == location) {
                return Ok(Some(format!("the lifecycle transitions of bucket {name}")));
            }
        }
        Ok(None)
    }

    /// Removes a location added with `add_location` (or `strata admin`);
    /// refused while anything still uses it.
    pub async fn remove_location(&self, name: &str) -> Result<()> {
        if name == self.locations.default_name() {
            return Err(Error::InvalidArgument(format!(
                "location {name} is the default location: name another default_location first"
            )));
        }
        match self.locations.location(name).map(|l| l.source) {
            None => return Err(MetaError::NoSuchLocation(name.to_string()).into()),
            Some(Source::Admin) => {}
            Some(other) => {
                return Err(Error::InvalidArgument(format!(
                    "location {name} is declared in the {}: remove it there",
                    match other {
                        Source::BuiltIn => "data dir (built in)",
                        _ => "config file",
                    }
                )));
            }
        }
        // Out of the registry first, so no new write lands there while the
        // store checks that nothing uses it; back in if something does.
        let Some(removed) = self.locations.remove(name) else {
            return Err(MetaError::NoSuchLocation(name.to_string()).into());
        };
        let deleted = match self.rule_naming(name) {
            Ok(Some(rule)) => Err(Error::from(MetaError::LocationInUse {
                name: name.to_string(),
                why: rule,
            })),
            Ok(None) => self.meta.delete_location(name).await.map_err(Error::from),
            Err(e) => Err(e),
        };
        if deleted.is_err() {
            self.locations.add(name, removed);
        }
        deleted
    }
}
