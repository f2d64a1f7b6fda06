//! Reading and changing what `authorize` evaluates: bucket and object ACLs
//! and bucket policies. Who may call these is itself decided by `authorize`.

use strata_meta::{Acl, BucketConfigKind, VersionUpdate};

use super::policy::Policy;
use super::{AclRequest, acl, actions};
use crate::{AccountRecord, Error, Result, Strata};

impl Strata {
    pub fn get_bucket_acl(&self, bucket: &str) -> Result<Acl> {
        let bucket = self.bucket(bucket)?;
        self.bucket_acl(&bucket)
    }

    /// PutBucketAcl, and the ACL CreateBucket asks for. The owner stays the
    /// owner, whatever a document says.
    pub async fn put_bucket_acl(&self, bucket: &str, asked: &AclRequest) -> Result<()> {
        let bucket = self.bucket(bucket)?;
        let acl = self.settable_acl(&bucket, asked, &bucket.owner)?;
        self.set_bucket_config(&bucket.name, BucketConfigKind::Acl, acl.as_ref())
            .await
    }

    /// A version's ACL (the default one when none was set).
    pub fn get_object_acl(
        &self,
        account: &AccountRecord,
        bucket: &str,
        key: &str,
        version_id: Option<&str>,
    ) -> Result<Acl> {
        let (_, record) = self.object_version(account, bucket, key, version_id)?;
        Ok(record.acl.unwrap_or_else(|| acl::private(&record.owner)))
    }

    pub async fn put_object_acl(
        &self,
        account: &AccountRecord,
        (bucket, key, version_id): (&str, &str, Option<&str>),
        asked: &AclRequest,
    ) -> Result<()> {
        let (bucket, record) = self.object_version(account, bucket, key, version_id)?;
        let Some(acl) = self.settable_acl(&bucket, asked, &record.owner)? else {
            return Ok(());
        };
        self.meta
            .update_version(&bucket.name, key, version_id, VersionUpdate::Acl(acl))
            .await?;
        Ok(())
    }

    /// PutBucketPolicy: validated, then stored as given.
    pub async fn put_bucket_policy(&self, bucket: &str, text: &str) -> Result<()> {
        let bucket = self.bucket(bucket)?;
        let policy = Policy::parse(text, &bucket.name, actions::is_action)?;
        if policy.is_public() && self.public_access_block(&bucket.name)?.block_public_policy {
            return Err(Error::AccessDenied);
        }
        self.meta
            .put_bucket_config(
                &bucket.name,
                BucketConfigKind::Policy,
                Some(text.to_string()),
            )
            .await?;
        Ok(())
    }

    pub fn get_bucket_policy(&self, bucket: &str) -> Result<String> {
        let bucket = self.bucket(bucket)?;
        self.meta
            .get_bucket_config(&bucket.name, BucketConfigKind::Policy)?
            .ok_or(Error::NoSuchBucketPolicy)
    }

    pub async fn delete_bucket_policy(&self, bucket: &str) -> Result<()> {
        let bucket = self.bucket(bucket)?;
        self.meta
            .put_bucket_config(&bucket.name, BucketConfigKind::Policy, None)
            .await?;
        Ok(())
    }

    /// GetBucketPolicyStatus: whether the policy or the ACL makes the
    /// bucket public.
    pub fn bucket_is_public(&self, bucket: &str) -> Result<bool> {
        let bucket = self.bucket(bucket)?;
        let by_policy = self
            .bucket_policy(&bucket.name)?
            .is_some_and(|p| p.is_public());
        Ok(by_policy || acl::is_public(&self.bucket_acl(&bucket)?))
    }
}
