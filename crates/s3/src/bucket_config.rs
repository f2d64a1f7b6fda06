//! The shared steps of the bucket-configuration operations (requester,
//! bucket, store, read, delete), so each `S3` method stays a short adapter.
//! It never validates a document: the core does.

use s3s::{S3Request, S3Response, S3Result};
use strata_core::bucket_config::BucketConfig;

use crate::error::to_s3;
use crate::handlers::Handlers;

impl Handlers {
    /// Stores `config` (the access hook has authorized the request); answers
    /// the empty output.
    pub(crate) async fn put_config<T, C: BucketConfig, O: Default>(
        &self,
        req: &S3Request<T>,
        bucket: &str,
        config: C,
    ) -> S3Result<S3Response<O>> {
        let account = self.account(req)?;
        self.strata
            .put_bucket_config(&account, bucket, config)
            .await
            .map_err(to_s3)?;
        Ok(S3Response::new(O::default()))
    }

    /// The stored document, or the kind's "not found" error.
    pub(crate) fn get_config<T, C: BucketConfig>(
        &self,
        req: &S3Request<T>,
        bucket: &str,
    ) -> S3Result<C> {
        let account = self.account(req)?;
        self.strata
            .get_bucket_config(&account, bucket)
            .map_err(to_s3)
    }

    /// The stored document, or the kind's empty default (for kinds whose
    /// absence is no error, like notifications).
    pub(crate) fn get_config_or_default<T, C: BucketConfig + Default>(
        &self,
        req: &S3Request<T>,
        bucket: &str,
    ) -> S3Result<C> {
        let account = self.account(req)?;
        self.strata.owned_bucket(&account, bucket).map_err(to_s3)?;
        Ok(self
            .strata
            .bucket_document(bucket)
            .map_err(to_s3)?
            .unwrap_or_default())
    }

    pub(crate) async fn delete_config<T, C: BucketConfig, O: Default>(
        &self,
        req: &S3Request<T>,
        bucket: &str,
    ) -> S3Result<S3Response<O>> {
        let account = self.account(req)?;
        self.strata
            .delete_bucket_config::<C>(&account, bucket)
            .await
            .map_err(to_s3)?;
        Ok(S3Response::new(O::default()))
    }

    /// The bucket of the fixed-answer operations (accelerate, logging,
    /// payment) must exist.
    pub(crate) fn check_bucket<T>(&self, req: &S3Request<T>, bucket: &str) -> S3Result<()> {
        let account = self.account(req)?;
        self.strata.owned_bucket(&account, bucket).map_err(to_s3)?;
        Ok(())
    }
}
