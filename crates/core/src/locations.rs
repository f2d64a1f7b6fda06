//! The named locations data can be written to, and which one is the default.

use std::collections::BTreeMap;
use std::sync::Arc;

use strata_data::DataBackend;

use crate::{Error, Result};

pub struct Locations {
    default: String,
    backends: BTreeMap<String, Arc<dyn DataBackend>>,
}

impl Locations {
    pub fn new(default: &str, backend: Arc<dyn DataBackend>) -> Self {
        let mut backends = BTreeMap::new();
        backends.insert(default.to_string(), backend);
        Self {
            default: default.to_string(),
            backends,
        }
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
