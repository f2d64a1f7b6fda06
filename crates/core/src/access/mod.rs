//! Authorization: whether a requester may perform an action on a bucket or
//! object, from the bucket policy, ACLs and ownership, in AWS's order. Every
//! frontend asks `authorize` before acting; core operations trust that.

pub mod acl;
pub mod actions;
mod configure;
pub mod ownership;
pub mod policy;

use strata_meta::{Acl, BucketConfigKind, BucketRecord, Grant, ObjectRecord, Permission};

use self::acl::Requester;
use self::policy::{Policy, PolicyRequest, Verdict};
use crate::{AccountRecord, Error, Result, Strata};

/// The canonical id AWS gives anonymous requesters.
pub const ANONYMOUS_ID: &str = "65a011a29cdf8ec533ec3d1ccaae921c";

/// The account anonymous requests act as, once authorized.
pub fn anonymous() -> AccountRecord {
    AccountRecord {
        id: ANONYMOUS_ID.to_string(),
        name: "anonymous".to_string(),
        created_ms: 0,
    }
}

/// Who owns what `account` writes into `bucket`: the writer, except that
/// anonymous writes belong to the bucket's owner.
pub fn writer(account: &AccountRecord, bucket: &BucketRecord) -> String {
    if account.id == ANONYMOUS_ID {
        bucket.owner.clone()
    } else {
        account.id.clone()
    }
}

/// One request to authorize.
pub struct AccessRequest<'a> {
    /// None for anonymous requests.
    pub principal: Option<&'a AccountRecord>,
    /// An S3 action name without `s3:` (see `actions`).
    pub action: &'a str,
    pub bucket: &'a str,
    pub key: Option<&'a str>,
    pub version_id: Option<&'a str>,
    /// Condition keys from the request itself (lower-case names).
    pub values: &'a dyn Fn(&str) -> Option<Vec<String>>,
}

/// What an ACL must grant for an action, on the bucket or on the object.
enum AclNeed {
    Bucket(Permission),
    Object(Permission),
}

fn acl_need(action: &str) -> Option<AclNeed> {
    use AclNeed::*;
    use Permission::*;
    Some(match action {
        "ListBucket" | "ListBucketVersions" | "ListBucketMultipartUploads" => Bucket(Read),
        "PutObject"
        | "DeleteObject"
        | "DeleteObjectVersion"
        | "AbortMultipartUpload"
        | "ListMultipartUploadParts" => Bucket(Write),
        "GetBucketAcl" => Bucket(ReadAcp),
        "PutBucketAcl" => Bucket(WriteAcp),
        "GetObject" | "GetObjectVersion" => Object(Read),
        "GetObjectAcl" | "GetObjectVersionAcl" => Object(ReadAcp),
        "PutObjectAcl" | "PutObjectVersionAcl" => Object(WriteAcp),
        _ => return None,
    })
}

impl Strata {
    /// The bucket's policy, parsed (it was validated when stored).
    pub fn bucket_policy(&self, bucket: &str) -> Result<Option<Policy>> {
        self.meta
            .get_bucket_config(bucket, BucketConfigKind::Policy)?
            .map(|text| Policy::parse(&text, bucket, actions::is_action))
            .transpose()
    }

    /// A bucket's ACL (the default one when none was set).
    pub fn bucket_acl(&self, bucket: &BucketRecord) -> Result<Acl> {
        Ok(self
            .bucket_config(&bucket.name, BucketConfigKind::Acl)?
            .unwrap_or_else(|| acl::private(&bucket.owner)))
    }

    /// Allows or refuses a request, in AWS's order: an explicit Deny in the
    /// bucket policy wins, then an Allow; then ACLs, under which the bucket
    /// owner may do anything but read other writers' objects (S3's
    /// ObjectWriter ownership). A missing bucket is no refusal here: the
    /// operation itself answers NoSuchBucket.
    pub fn authorize(&self, req: &AccessRequest<'_>) -> Result<()> {
        let Some(bucket) = self.meta.get_bucket(req.bucket)? else {
            return Ok(());
        };
        let object = match (acl_need(req.action), req.key) {
            (Some(AclNeed::Object(_)), Some(key)) => match req.version_id {
                Some(id) => self.meta.get_version(req.bucket, key, id).ok().flatten(),
                None => self.meta.get_object(req.bucket, key)?,
            },
            _ => None,
        };
        if self.allows(&bucket, req, object.as_ref())? {
            return Ok(());
        }
        // Whether a missing key may be told apart from a forbidden one
        // depends on the right to list it, as in S3.
        if object.is_none()
            && let (Some(AclNeed::Object(_)), Some(key)) = (acl_need(req.action), req.key)
        {
            let values = |name: &str| match name {
                "s3:prefix" => Some(vec![key.to_string()]),
                other => (req.values)(other),
            };
            let list = AccessRequest {
                action: "ListBucket",
                key: None,
                version_id: None,
                values: &values,
                ..*req
            };
            if self.allows(&bucket, &list, None)? {
                return Ok(());
            }
        }
        Err(Error::AccessDenied)
    }

    fn allows(
        &self,
        bucket: &BucketRecord,
        req: &AccessRequest<'_>,
        object: Option<&ObjectRecord>,
    ) -> Result<bool> {
        if let Some(policy) = self.bucket_policy(&bucket.name)? {
            let resource = match req.key {
                Some(key) => format!("arn:aws:s3:::{}/{key}", bucket.name),
                None => format!("arn:aws:s3:::{}", bucket.name),
            };
            let existing = req.key.and_then(|key| match object {
                Some(o) => Some(o.clone()),
                None => self.meta.get_object(&bucket.name, key).ok().flatten(),
            });
            let values = |name: &str| match name.strip_prefix("s3:existingobjecttag/") {
                Some(tag) => existing
                    .as_ref()
                    .and_then(|o| o.tags.get(tag))
                    .map(|v| vec![v.clone()]),
                None => (req.values)(name),
            };
            let action = format!("s3:{}", req.action);
            let verdict = policy.evaluate(&PolicyRequest {
                principal: req.principal.map(|p| (p.id.as_str(), p.name.as_str())),
                action: &action,
                resource: &resource,
                values: &values,
            });
            let is_owner = req.principal.is_some_and(|p| p.id == bucket.owner);
            // RestrictPublicBuckets: a public policy grants its owner only.
            let restricted = !is_owner
                && policy.is_public()
                && self
                    .public_access_block(&bucket.name)?
                    .restrict_public_buckets;
            match verdict {
                Verdict::Deny => return Ok(false),
                Verdict::Allow if !restricted => return Ok(true),
                Verdict::Allow | Verdict::NoMatch => {}
            }
        }
        let is_owner = req.principal.is_some_and(|p| p.id == bucket.owner);
        // Read only when an ACL is about to decide: the owner's requests skip it.
        let ignore_public =
            || -> Result<bool> { Ok(self.public_access_block(&bucket.name)?.ignore_public_acls) };
        let who = match req.principal {
            Some(p) => Requester::Account(&p.id),
            None => Requester::Anonymous,
        };
        Ok(match acl_need(req.action) {
            Some(AclNeed::Object(permission)) => match object {
                Some(record) => {
                    let acl = record
                        .acl
                        .clone()
                        .unwrap_or_else(|| acl::private(&record.owner));
                    (is_owner && record.owner == bucket.owner)
                        || acl::grants(&acl, who, permission, ignore_public()?)
                }
                None => false,
            },
            _ if is_owner => true,
            Some(AclNeed::Bucket(permission)) => {
                acl::grants(&self.bucket_acl(bucket)?, who, permission, ignore_public()?)
            }
            None => false,
        })
    }

    /// The ACL a new object or bucket gets from a request: a canned name or
    /// explicit grants (never both), else the default.
    pub fn resolve_acl(
        &self,
        asked: Option<&AclRequest>,
        owner: &str,
        bucket_owner: &str,
    ) -> Result<Option<Acl>> {
        match asked {
            None => Ok(None),
            Some(AclRequest::Canned(name)) => Ok(Some(acl::canned(name, owner, bucket_owner)?)),
            Some(AclRequest::Grants(grants)) => {
                self.check_grantees(grants)?;
                Ok(Some(Acl {
                    owner: owner.to_string(),
                    grants: grants.clone(),
                }))
            }
        }
    }

    /// Grants must name accounts this server knows.
    pub fn check_grantees(&self, grants: &[Grant]) -> Result<()> {
        for grant in grants {
            if let strata_meta::Grantee::Account(id) = &grant.grantee
                && self.meta.get_account(id)?.is_none()
            {
                return Err(Error::InvalidArgument("Invalid id".into()));
            }
        }
        Ok(())
    }
}

/// An ACL as a request asks for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AclRequest {
    Canned(String),
    Grants(Vec<Grant>),
}
