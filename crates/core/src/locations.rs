//! The named locations data can be written to, and which one is the default.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use strata_data::DataBackend;

use crate::{Error, Result};

pub struct Locations {
    default: String,
    backends: BTreeMap<String, Arc<dyn DataBackend>>,
    /// Locations that keep a replicating version's bytes only until every
    /// destination holds a copy (see `Strata::release_transient`).
    transient: BTreeSet<String>,
}

impl Locations {
    pub fn new(default: &str, backend: Arc<dyn DataBackend>) -> Self {
        let mut backends = BTreeMap::new();
        backends.insert(default.to_string(), backend);
        Self {
            default: default.to_string(),
            backends,
            transient: BTreeSet::new(),
        }
    }

    pub fn mark_transient(&mut self, name: &str) {
        self.transient.insert(name.to_string());
    }

    pub fn is_transient(&self, name: &str) -> bool {
        self.transient.contains(name)
    }

    pub fn add(&mut self, name: &str, backend: Arc<dyn DataBackend>) {
        self.backends.insert(name.to_string(), backend);
    }

    pub fn default_name(&self) -> &str {
        &self.default
    }

    pub fn contains(&self, name: &str) -> bool {
        self.backends.contains_key(name)
    }

    pub fn get(&self, name: &str) -> Result<&Arc<dyn DataBackend>> {
        self.backends.get(name).ok_or_else(|| {
            Error::ServiceUnavailable(format!("location {name} is not configured on this server"))
        })
    }

    pub fn iter(&self) -> impl Iterator<Item = (&String, &Arc<dyn DataBackend>)> {
        self.backends.iter()
    }
}
