//! SigV4/SigV2 secret lookup for s3s: access keys live in the metadata store.

use s3s::auth::{S3Auth, SecretKey};
use s3s::{S3Result, s3_error};
use std::sync::Arc;
use strata_core::Strata;

pub(crate) struct StrataAuth(pub Arc<Strata>);

#[async_trait::async_trait]
impl S3Auth for StrataAuth {
    async fn get_secret_key(&self, access_key: &str) -> S3Result<SecretKey> {
        match self.0.lookup_key(access_key) {
            Ok(Some((key, _))) => Ok(SecretKey::from(key.secret_key)),
            Ok(None) => Err(s3_error!(
                InvalidAccessKeyId,
                "The AWS Access Key Id you provided does not exist in our records."
            )),
            Err(e) => Err(crate::error::to_s3(e)),
        }
    }
}
