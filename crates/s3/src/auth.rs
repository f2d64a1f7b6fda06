//! SigV4/SigV2 secret lookup for s3s: access keys live in the metadata store.

use s3s::access::{S3Access, S3AccessContext};
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

/// Who may reach an operation at all: signed requests only (until bucket
/// policies and ACLs allow otherwise), and presigned URLs valid for at most
/// seven days, as S3 requires.
pub(crate) struct StrataAccess;

/// The longest a SigV4 presigned URL may stay valid, in seconds.
const MAX_PRESIGN_EXPIRY: u64 = 7 * 24 * 3600;

#[async_trait::async_trait]
impl S3Access for StrataAccess {
    async fn check(&self, cx: &mut S3AccessContext<'_>) -> S3Result<()> {
        if cx.credentials().is_none() {
            return Err(s3_error!(AccessDenied, "Access Denied"));
        }
        let expires = cx.uri().query().and_then(|q| {
            q.split('&')
                .find_map(|kv| kv.strip_prefix("X-Amz-Expires="))
                .map(|v| v.parse::<u64>().unwrap_or(u64::MAX))
        });
        if expires.is_some_and(|e| e > MAX_PRESIGN_EXPIRY) {
            return Err(s3_error!(
                AuthorizationQueryParametersError,
                "X-Amz-Expires must be less than a week (in seconds) that is 604800"
            ));
        }
        Ok(())
    }
}
