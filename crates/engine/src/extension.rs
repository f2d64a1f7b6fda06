//! What an extension is to the populator: a filter from journal entries to
//! bus messages. Extensions decide what concerns them; they never do the work.

use std::collections::BTreeMap;

use strata_meta::JournalEntry;

use crate::bus::Outgoing;

/// Messages an extension asks to publish, gathered per topic.
#[derive(Debug, Default)]
pub struct Publications {
    pub by_topic: BTreeMap<String, Vec<Outgoing>>,
}

impl Publications {
    pub fn publish(&mut self, topic: &str, key: String, payload: Vec<u8>) {
        self.by_topic
            .entry(topic.to_string())
            .or_default()
            .push(Outgoing { key, payload });
    }

    pub fn is_empty(&self) -> bool {
        self.by_topic.is_empty()
    }
}

pub trait Extension: Send + Sync + 'static {
    fn name(&self) -> &'static str;
    /// Looks at one journal entry and publishes what its processors need.
    fn filter(&self, entry: &JournalEntry, out: &mut Publications);
}

/// The bus key of an object's messages: one object's events share a partition.
pub fn object_key(bucket: &str, key: &str) -> String {
    format!("{bucket}/{key}")
}
