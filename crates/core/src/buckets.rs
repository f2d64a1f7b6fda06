//! Buckets: S3's naming rules, ownership and placement.

use strata_meta::{BucketConfigKind, BucketRecord, MetaError, Versioning};

use crate::access::AclRequest;
use crate::time::now_ms;
use crate::{AccountRecord, Error, Result, Strata};

/// S3's rules for new bucket names (3-63 chars, lowercase letters, digits,
/// dots and hyphens, starting and ending with a letter or digit, not an IP).
pub fn validate_name(name: &str) -> Result<()> {
    let bad = |why: &str| Err(Error::InvalidBucketName(format!("{name}: {why}")));
    if !(3..=63).contains(&name.len()) {
        return bad("must be 3 to 63 characters long");
    }
    if !name
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'.' || b == b'-')
    {
        return bad("may only hold lowercase letters, digits, dots and hyphens");
    }
    let edge_ok = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    if !edge_ok(name.as_bytes()[0]) || !edge_ok(name.as_bytes()[name.len() - 1]) {
        return bad("must start and end with a letter or digit");
    }
    if name.contains("..") || name.contains(".-") || name.contains("-.") {
        return bad("dots may not be adjacent to dots or hyphens");
    }
    if name.parse::<std::net::Ipv4Addr>().is_ok() {
        return bad("must not be formatted as an IP address");
    }
    // Names AWS keeps for its own features (access point aliases, Object
    // Lambda, Multi-Region Access Points, directory and table buckets).
    if let Some(prefix) = RESERVED_PREFIXES.iter().find(|p| name.starts_with(*p)) {
        return bad(&format!("must not start with {prefix}"));
    }
    if let Some(suffix) = RESERVED_SUFFIXES.iter().find(|s| name.ends_with(*s)) {
        return bad(&format!("must not end with {suffix}"));
    }
    Ok(())
}

const RESERVED_PREFIXES: &[&str] = &["xn--", "sthree-", "amzn-s3-demo-"];
const RESERVED_SUFFIXES: &[&str] = &["-s3alias", "--ol-s3", ".mrap", "--x-s3", "--table-s3"];

impl Strata {
    /// Creates a bucket. `location` is a configured location name (or this
    /// server's region, meaning the default location).
    pub async fn create_bucket(
        &self,
        owner: &AccountRecord,
        name: &str,
        location: Option<&str>,
        object_lock: bool,
        acl: Option<&AclRequest>,
    ) -> Result<()> {
        validate_name(name)?;
        let location = match location.filter(|l| !l.is_empty()) {
            None => self.locations.default_name().to_string(),
            Some(l) if l == self.settings.region => self.locations.default_name().to_string(),
            Some(l) if self.locations.contains(l) => l.to_string(),
            Some(l) => return Err(Error::InvalidLocationConstraint(l.to_string())),
        };
        let record = BucketRecord {
            name: name.to_string(),
            owner: owner.id.clone(),
            created_ms: now_ms(),
            location,
            // Object Lock needs versions to protect.
            versioning: if object_lock {
                Versioning::Enabled
            } else {
                Versioning::Unversioned
            },
            object_lock,
        };
        let legacy_region = self.settings.region == "us-east-1";
        match self.meta.create_bucket(record).await {
            // S3's us-east-1 lets an owner create its bucket again (with the
            // ACL it has); every other region refuses.
            Err(MetaError::BucketExists { owner: existing })
                if existing == owner.id && legacy_region =>
            {
                let current = self.bucket_acl(&self.bucket(name)?)?;
                let asked = self
                    .resolve_acl(acl, &owner.id, &owner.id)?
                    .unwrap_or_else(|| crate::access::acl::private(&owner.id));
                if asked == current {
                    Ok(())
                } else {
                    Err(Error::BucketAlreadyExists)
                }
            }
            Err(MetaError::BucketExists { owner: existing }) if existing == owner.id => {
                Err(Error::BucketAlreadyOwnedByYou)
            }
            Err(MetaError::BucketExists { .. }) => Err(Error::BucketAlreadyExists),
            Err(other) => Err(other.into()),
            Ok(()) => match acl {
                Some(asked) => self.put_bucket_acl(name, asked).await,
                None => Ok(()),
            },
        }
    }

    /// The bucket, if it exists. Whether the requester may act on it was
    /// settled by `authorize` before the operation began.
    pub fn bucket(&self, name: &str) -> Result<BucketRecord> {
        self.meta.get_bucket(name)?.ok_or(Error::NoSuchBucket)
    }

    /// The bucket an operation of `account` works on (see `bucket`).
    pub fn owned_bucket(&self, _account: &AccountRecord, name: &str) -> Result<BucketRecord> {
        self.bucket(name)
    }

    pub async fn delete_bucket(&self, account: &AccountRecord, name: &str) -> Result<()> {
        self.owned_bucket(account, name)?;
        self.meta.delete_bucket(name).await?;
        // Parts of unfinished uploads went to the garbage list with the bucket.
        self.gc_wakeup.notify_one();
        Ok(())
    }

    /// PutBucketVersioning: Enabled or Suspended; a versioned bucket can
    /// never become unversioned again.
    pub async fn set_versioning(
        &self,
        account: &AccountRecord,
        name: &str,
        state: Versioning,
    ) -> Result<()> {
        self.owned_bucket(account, name)?;
        if state == Versioning::Unversioned {
            return Err(Error::MalformedXml(
                "versioning can only be Enabled or Suspended".into(),
            ));
        }
        // Replication reads versions: S3 keeps it from losing them.
        if state == Versioning::Suspended
            && self
                .meta
                .get_bucket_config(name, BucketConfigKind::Replication)?
                .is_some()
        {
            return Err(Error::InvalidBucketState(
                "Replication configuration is present on this bucket, so you cannot change the versioning state. To change the versioning state, first delete the replication configuration.".into(),
            ));
        }
        self.meta
            .set_bucket_versioning(name, state)
            .await
            .map_err(|e| match e {
                MetaError::Conflict(_) => Error::InvalidBucketState(
                    "An Object Lock configuration is present on this bucket, so the versioning state cannot be changed."
                        .into(),
                ),
                other => other.into(),
            })
    }

    /// A stored configuration document of a bucket, as the core's own type.
    pub(crate) fn bucket_config<T: serde::de::DeserializeOwned>(
        &self,
        bucket: &str,
        kind: BucketConfigKind,
    ) -> Result<Option<T>> {
        self.meta
            .get_bucket_config(bucket, kind)?
            .map(|json| {
                serde_json::from_str(&json).map_err(|e| {
                    Error::Internal(format!("stored {} configuration: {e}", kind.as_str()))
                })
            })
            .transpose()
    }

    /// Stores (Some) or removes (None) a configuration document of a bucket.
    pub(crate) async fn set_bucket_config<T: serde::Serialize>(
        &self,
        bucket: &str,
        kind: BucketConfigKind,
        config: Option<&T>,
    ) -> Result<()> {
        let json = config
            .map(serde_json::to_string)
            .transpose()
            .map_err(|e| Error::Internal(e.to_string()))?;
        Ok(self.meta.put_bucket_config(bucket, kind, json).await?)
    }

    pub fn list_buckets(&self, account: &AccountRecord) -> Result<Vec<BucketRecord>> {
        let mut buckets: Vec<_> = self
            .meta
            .list_buckets()?
            .into_iter()
            .filter(|b| b.owner == account.id)
            .collect();
        buckets.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(buckets)
    }

    /// What GetBucketLocation answers: the location, or empty for the default
    /// location (S3's convention for us-east-1).
    pub fn bucket_location(&self, account: &AccountRecord, name: &str) -> Result<String> {
        let bucket = self.owned_bucket(account, name)?;
        if bucket.location == self.locations.default_name() {
            return Ok(if self.settings.region == "us-east-1" {
                String::new()
            } else {
                self.settings.region.clone()
            });
        }
        Ok(bucket.location)
    }
}

#[cfg(test)]
mod tests {
    use super::validate_name;

    #[test]
    fn bucket_names_follow_s3_rules() {
        for ok in ["abc", "my-bucket.v2", "a1b", &"a".repeat(63)] {
            assert!(validate_name(ok).is_ok(), "{ok}");
        }
        for bad in [
            "ab",
            "ABC",
            "-abc",
            "abc-",
            "a..b",
            "a.-b",
            "192.168.1.1",
            "a_b",
            &"a".repeat(64),
            "xn--abc",
            "sthree-x",
            "amzn-s3-demo-bucket",
            "abc-s3alias",
            "abc--ol-s3",
            "abc.mrap",
            "abc--x-s3",
            "abc--table-s3",
        ] {
            assert!(validate_name(bad).is_err(), "{bad}");
        }
    }
}
