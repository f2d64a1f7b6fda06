//! Object ownership controls and the public access block of a bucket, as
//! stored documents. It never enforces them: the ACL and policy work will.

use serde::{Deserialize, Serialize};
use strata_meta::BucketConfigKind;

use super::{BucketConfig, ConfigContext};
use crate::{Error, Result};

const OWNERSHIPS: [&str; 3] = [
    "BucketOwnerEnforced",
    "BucketOwnerPreferred",
    "ObjectWriter",
];

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct OwnershipControls {
    /// One ObjectOwnership per rule; S3 takes exactly one rule.
    pub rules: Vec<String>,
}

impl OwnershipControls {
    /// The controls CreateBucket's `x-amz-object-ownership` asks for, checked
    /// before the bucket is created.
    pub fn of_header(ownership: &str) -> Result<Self> {
        let controls = Self {
            rules: vec![ownership.to_string()],
        };
        controls.check().map_err(|_| {
            Error::InvalidArgument(format!(
                "Invalid x-amz-object-ownership header: {ownership}"
            ))
        })?;
        Ok(controls)
    }

    fn check(&self) -> Result<()> {
        if self.rules.len() != 1 || !OWNERSHIPS.contains(&self.rules[0].as_str()) {
            return Err(Error::MalformedXml(
                "OwnershipControls takes one Rule whose ObjectOwnership is BucketOwnerEnforced, BucketOwnerPreferred or ObjectWriter".into(),
            ));
        }
        Ok(())
    }
}

impl BucketConfig for OwnershipControls {
    const KIND: BucketConfigKind = BucketConfigKind::Ownership;

    fn validate(&self, _: &ConfigContext<'_>) -> Result<()> {
        self.check()
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PublicAccessBlock {
    pub block_public_acls: bool,
    pub ignore_public_acls: bool,
    pub block_public_policy: bool,
    pub restrict_public_buckets: bool,
}

impl BucketConfig for PublicAccessBlock {
    const KIND: BucketConfigKind = BucketConfigKind::PublicAccessBlock;

    fn validate(&self, _: &ConfigContext<'_>) -> Result<()> {
        Ok(())
    }
}
