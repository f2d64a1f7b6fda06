//! Object ownership and public access blocks, enforced: who owns a new
//! object, which ACLs a bucket accepts, and which public grants count.

use strata_meta::{Acl, BucketRecord};

use super::{AclRequest, acl, writer};
use crate::bucket_config::ownership::{OwnershipControls, PublicAccessBlock};
use crate::{AccountRecord, Error, Result, Strata};

/// S3's ObjectOwnership; buckets without ownership controls are ObjectWriter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ObjectOwnership {
    /// ACLs are off: the bucket owner owns every object.
    BucketOwnerEnforced,
    /// Writers own their objects unless they hand them over with the
    /// `bucket-owner-full-control` canned ACL.
    BucketOwnerPreferred,
    ObjectWriter,
}

fn hands_over(asked: Option<&AclRequest>) -> bool {
    matches!(asked, Some(AclRequest::Canned(name)) if name == "bucket-owner-full-control")
}

impl Strata {
    pub fn object_ownership(&self, bucket: &BucketRecord) -> Result<ObjectOwnership> {
        let controls: Option<OwnershipControls> = self.bucket_document(&bucket.name)?;
        Ok(
            match controls
                .as_ref()
                .and_then(|c| c.rules.first())
                .map(String::as_str)
            {
                Some("BucketOwnerEnforced") => ObjectOwnership::BucketOwnerEnforced,
                Some("BucketOwnerPreferred") => ObjectOwnership::BucketOwnerPreferred,
                _ => ObjectOwnership::ObjectWriter,
            },
        )
    }

    pub fn public_access_block(&self, bucket: &str) -> Result<PublicAccessBlock> {
        Ok(self.bucket_document(bucket)?.unwrap_or_default())
    }

    /// Refuses an ACL the bucket's public access block forbids.
    fn check_public_acl(&self, bucket: &BucketRecord, acl: Option<&Acl>) -> Result<()> {
        if acl.is_some_and(acl::is_public)
            && self.public_access_block(&bucket.name)?.block_public_acls
        {
            return Err(Error::AccessDenied);
        }
        Ok(())
    }

    /// The owner and ACL of a new object `account` writes into `bucket`.
    pub(crate) fn new_object_acl(
        &self,
        account: &AccountRecord,
        bucket: &BucketRecord,
        asked: Option<&AclRequest>,
    ) -> Result<(String, Option<Acl>)> {
        let owner = match self.object_ownership(bucket)? {
            ObjectOwnership::BucketOwnerEnforced => {
                if asked.is_some() && !hands_over(asked) {
                    return Err(Error::AccessControlListNotSupported);
                }
                return Ok((bucket.owner.clone(), None));
            }
            ObjectOwnership::BucketOwnerPreferred if hands_over(asked) => bucket.owner.clone(),
            _ => writer(account, bucket),
        };
        let acl = self.resolve_acl(asked, &owner, &bucket.owner)?;
        self.check_public_acl(bucket, acl.as_ref())?;
        Ok((owner, acl))
    }

    /// The ACL a Put*Acl may set: none under BucketOwnerEnforced (but the
    /// hand-over to the bucket owner), nothing public under BlockPublicAcls.
    pub(crate) fn settable_acl(
        &self,
        bucket: &BucketRecord,
        asked: &AclRequest,
        owner: &str,
    ) -> Result<Option<Acl>> {
        if self.object_ownership(bucket)? == ObjectOwnership::BucketOwnerEnforced
            && !hands_over(Some(asked))
        {
            return Err(Error::AccessControlListNotSupported);
        }
        let acl = self.resolve_acl(Some(asked), owner, &bucket.owner)?;
        self.check_public_acl(bucket, acl.as_ref())?;
        Ok(acl)
    }

    /// PutBucketOwnershipControls: BucketOwnerEnforced turns ACLs off, so
    /// the bucket's own ACL must grant nothing beyond its owner.
    pub async fn put_ownership_controls(
        &self,
        account: &AccountRecord,
        bucket: &str,
        controls: OwnershipControls,
    ) -> Result<()> {
        let record = self.bucket(bucket)?;
        let enforced = controls.rules.first().map(String::as_str) == Some("BucketOwnerEnforced");
        if enforced && self.bucket_acl(&record)? != acl::private(&record.owner) {
            return Err(Error::InvalidBucketAclWithObjectOwnership);
        }
        self.put_bucket_config(account, bucket, controls).await
    }
}
