//! Object Lock: a bucket's default retention, and the retention and legal
//! hold of each version. The store refuses to remove a protected version;
//! this module decides what may be set, and by whom.

use serde::{Deserialize, Serialize};
use strata_meta::{
    BucketConfigKind, BucketRecord, LockMode, MetaError, ObjectRecord, Retention, VersionUpdate,
};

use crate::objects::ObjectAttributes;
use crate::time::now_ms;
use crate::{AccountRecord, Error, Result, Strata};

const DAY_MS: i64 = 24 * 3600 * 1000;

/// A bucket's Object Lock rule: the retention new versions get by default.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LockConfig {
    pub default_retention: Option<DefaultRetention>,
}

/// Exactly one of `days` and `years` is set.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DefaultRetention {
    pub mode: LockMode,
    pub days: Option<u32>,
    pub years: Option<u32>,
}

impl DefaultRetention {
    pub fn validate(&self) -> Result<()> {
        match (self.days, self.years) {
            (Some(_), Some(_)) | (None, None) => Err(Error::MalformedXml(
                "a default retention needs exactly one of Days and Years".into(),
            )),
            (Some(0), _) | (_, Some(0)) => Err(Error::InvalidRetentionPeriod),
            _ => Ok(()),
        }
    }

    fn until_ms(&self, from_ms: i64) -> i64 {
        let days = i64::from(self.days.unwrap_or(0)) + 365 * i64::from(self.years.unwrap_or(0));
        from_ms.saturating_add(days.saturating_mul(DAY_MS))
    }
}

fn require_lock(bucket: &BucketRecord) -> Result<()> {
    if bucket.object_lock {
        Ok(())
    } else {
        Err(Error::InvalidRequest(
            "Bucket is missing Object Lock Configuration".into(),
        ))
    }
}

fn validate_retention(retention: &Retention) -> Result<()> {
    if retention.until_ms <= now_ms() {
        return Err(Error::InvalidArgument(
            "The retain until date must be in the future!".into(),
        ));
    }
    Ok(())
}

impl Strata {
    /// Checks the lock settings a new version asks for, and gives it the
    /// bucket's default retention when it asks for none.
    pub(crate) fn settle_lock(
        &self,
        bucket: &BucketRecord,
        attributes: &mut ObjectAttributes,
    ) -> Result<()> {
        if !bucket.object_lock {
            if attributes.retention.is_some() || attributes.legal_hold {
                return require_lock(bucket);
            }
            return Ok(());
        }
        match &attributes.retention {
            Some(r) => validate_retention(r)?,
            None => {
                let config = self.lock_config_of(&bucket.name)?;
                attributes.retention = config.default_retention.map(|d| Retention {
                    mode: d.mode,
                    until_ms: d.until_ms(now_ms()),
                });
            }
        }
        Ok(())
    }

    fn lock_config_of(&self, bucket: &str) -> Result<LockConfig> {
        Ok(self
            .bucket_config(bucket, BucketConfigKind::ObjectLock)?
            .unwrap_or_default())
    }

    pub async fn put_lock_config(
        &self,
        account: &AccountRecord,
        bucket: &str,
        config: LockConfig,
    ) -> Result<()> {
        let bucket = self.owned_bucket(account, bucket)?;
        if let Some(d) = &config.default_retention {
            d.validate()?;
        }
        if !bucket.object_lock {
            // An existing bucket may turn Object Lock on while it versions.
            self.meta
                .enable_object_lock(&bucket.name)
                .await
                .map_err(|e| match e {
                    MetaError::Conflict(_) => Error::InvalidBucketState(
                        "Versioning must be 'Enabled' on the bucket to apply an Object Lock configuration".into(),
                    ),
                    other => other.into(),
                })?;
        }
        self.set_bucket_config(&bucket.name, BucketConfigKind::ObjectLock, Some(&config))
            .await
    }

    pub fn lock_config(&self, account: &AccountRecord, bucket: &str) -> Result<LockConfig> {
        let bucket = self.owned_bucket(account, bucket)?;
        if !bucket.object_lock {
            return Err(Error::ObjectLockConfigurationNotFound);
        }
        self.lock_config_of(&bucket.name)
    }

    /// A version of a bucket with Object Lock (the lock calls' common lookup).
    fn locked_version(
        &self,
        account: &AccountRecord,
        bucket: &str,
        key: &str,
        version_id: Option<&str>,
    ) -> Result<ObjectRecord> {
        let (bucket, record) = self.object_version(account, bucket, key, version_id)?;
        require_lock(&bucket)?;
        Ok(record)
    }

    /// PutObjectRetention. An active COMPLIANCE retention can only be
    /// lengthened; an active GOVERNANCE one only with the bypass.
    pub async fn put_retention(
        &self,
        account: &AccountRecord,
        (bucket, key, version_id): (&str, &str, Option<&str>),
        retention: Option<Retention>,
        bypass_governance: bool,
    ) -> Result<ObjectRecord> {
        let record = self.locked_version(account, bucket, key, version_id)?;
        if let Some(r) = &retention {
            validate_retention(r)?;
        }
        if let Some(old) = record.retention.as_ref().filter(|r| r.until_ms > now_ms()) {
            let weakened = retention
                .as_ref()
                .is_none_or(|new| new.mode != old.mode || new.until_ms < old.until_ms);
            let allowed = old.mode == LockMode::Governance && bypass_governance;
            if weakened && !allowed {
                return Err(Error::ObjectLocked);
            }
        }
        Ok(self
            .meta
            .update_version(bucket, key, version_id, VersionUpdate::Retention(retention))
            .await?)
    }

    pub fn retention(
        &self,
        account: &AccountRecord,
        (bucket, key, version_id): (&str, &str, Option<&str>),
    ) -> Result<Retention> {
        self.locked_version(account, bucket, key, version_id)?
            .retention
            .ok_or(Error::NoSuchObjectLockConfiguration)
    }

    pub async fn put_legal_hold(
        &self,
        account: &AccountRecord,
        (bucket, key, version_id): (&str, &str, Option<&str>),
        on: bool,
    ) -> Result<ObjectRecord> {
        self.locked_version(account, bucket, key, version_id)?;
        Ok(self
            .meta
            .update_version(bucket, key, version_id, VersionUpdate::LegalHold(on))
            .await?)
    }

    pub fn legal_hold(
        &self,
        account: &AccountRecord,
        (bucket, key, version_id): (&str, &str, Option<&str>),
    ) -> Result<bool> {
        Ok(self
            .locked_version(account, bucket, key, version_id)?
            .legal_hold)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(days: Option<u32>, years: Option<u32>) -> DefaultRetention {
        DefaultRetention {
            mode: LockMode::Governance,
            days,
            years,
        }
    }

    #[test]
    fn default_retention_takes_days_or_years() {
        assert!(rule(Some(1), None).validate().is_ok());
        assert!(rule(None, Some(2)).validate().is_ok());
        assert!(matches!(
            rule(Some(1), Some(1)).validate(),
            Err(Error::MalformedXml(_))
        ));
        assert!(matches!(
            rule(Some(0), None).validate(),
            Err(Error::InvalidRetentionPeriod)
        ));
        assert_eq!(rule(Some(2), None).until_ms(10), 10 + 2 * DAY_MS);
        assert_eq!(rule(None, Some(1)).until_ms(0), 365 * DAY_MS);
    }
}
