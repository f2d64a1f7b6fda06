//! Default encryption configuration of a bucket: which algorithm new objects
//! get when they ask for none. It never encrypts bytes itself.

use serde::{Deserialize, Serialize};
use strata_meta::BucketConfigKind;

use super::{BucketConfig, ConfigContext};
use crate::encryption::{DEFAULT_KMS_KEY, SseRequest};
use crate::{Error, Result, Strata};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EncryptionRule {
    /// `AES256` (SSE-S3) or `aws:kms` (SSE-KMS with this server's named keys).
    pub sse_algorithm: String,
    /// The named key of `aws:kms` (None: the default key, `aws/s3`).
    #[serde(default)]
    pub kms_master_key_id: Option<String>,
    pub bucket_key_enabled: Option<bool>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EncryptionConfiguration {
    pub rules: Vec<EncryptionRule>,
}

impl Strata {
    /// What a bucket's default encryption asks of new objects that ask for none.
    pub(crate) fn default_encryption(&self, bucket: &str) -> Result<Option<SseRequest>> {
        let config: Option<EncryptionConfiguration> = self.bucket_document(bucket)?;
        Ok(config.and_then(|c| c.rules.into_iter().next()).map(|r| {
            match r.sse_algorithm.as_str() {
                "AES256" => SseRequest::S3,
                _ => SseRequest::Kms {
                    key_id: r
                        .kms_master_key_id
                        .unwrap_or_else(|| DEFAULT_KMS_KEY.into()),
                },
            }
        }))
    }
}

impl BucketConfig for EncryptionConfiguration {
    const KIND: BucketConfigKind = BucketConfigKind::Encryption;

    fn validate(&self, _: &ConfigContext<'_>) -> Result<()> {
        if self.rules.len() != 1 {
            return Err(Error::MalformedXml(
                "a ServerSideEncryptionConfiguration holds exactly one Rule".into(),
            ));
        }
        for rule in &self.rules {
            match rule.sse_algorithm.as_str() {
                "AES256" | "aws:kms" | "aws:kms:dsse" => {}
                _ => {
                    return Err(Error::MalformedXml(
                        "SSEAlgorithm must be AES256, aws:kms or aws:kms:dsse".into(),
                    ));
                }
            }
        }
        Ok(())
    }
}
