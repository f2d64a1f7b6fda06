//! Object listings for a bucket's owner, one range scan per page.

use strata_meta::{ListPage, ListQuery, ListedVersion, ObjectRecord, VersionQuery};

use crate::{AccountRecord, Result, Strata};

/// The most entries one listing page returns, whatever the client asks.
pub const MAX_KEYS: usize = 1000;

impl Strata {
    pub fn list_objects(
        &self,
        account: &AccountRecord,
        bucket: &str,
        mut query: ListQuery,
    ) -> Result<ListPage<ObjectRecord>> {
        self.owned_bucket(account, bucket)?;
        query.limit = query.limit.min(MAX_KEYS);
        Ok(self.meta.list_objects(bucket, &query)?)
    }

    /// ListObjectVersions: every version and delete marker, newest first per key.
    pub fn list_versions(
        &self,
        account: &AccountRecord,
        bucket: &str,
        query: &VersionQuery,
    ) -> Result<ListPage<ListedVersion>> {
        self.owned_bucket(account, bucket)?;
        let mut query = query.clone();
        query.list.limit = query.list.limit.min(MAX_KEYS);
        Ok(self.meta.list_versions(bucket, &query)?)
    }
}
