//! The `S3` trait of s3s, implemented as thin adapters from S3 DTOs to core
//! calls. Operations not listed here answer s3s's NotImplemented error.

use std::sync::Arc;

use futures::StreamExt;
use http::StatusCode;
use s3s::dto::*;
use s3s::{S3, S3Error, S3ErrorCode, S3Request, S3Response, S3Result};
use strata_core::bucket_config::cors::CorsConfiguration;
use strata_core::bucket_config::encryption::EncryptionConfiguration;
use strata_core::bucket_config::lifecycle::LifecycleConfiguration;
use strata_core::bucket_config::notification::NotificationConfiguration;
use strata_core::bucket_config::ownership::{OwnershipControls, PublicAccessBlock};
use strata_core::bucket_config::replication::ReplicationConfiguration;
use strata_core::bucket_config::tagging::BucketTagging;
use strata_core::bucket_config::website::WebsiteConfiguration;
use strata_core::conditions::ReadConditions;
use strata_core::meta::{ListEntry, ListQuery, Precondition, Retention, VersionQuery, Versioning};
use strata_core::multipart::{
    CompleteExpectations, CompletedPart as CorePart, PartCopySource, PartUpload,
};
use strata_core::object_lock::{DefaultRetention, LockConfig};
use strata_core::objects::{CopyRequest, GetRequest, PutRequest};
use strata_core::{AccountRecord, Body, Strata};

use crate::access::check_replica_metadata;
use crate::acl::{self, grant_headers_of};
use crate::config_convert as cc;
use crate::convert::{
    self, attributes_of, checksum_headers_of, lock_fields, object_fields, set_checksums,
};
use crate::error::to_s3;
use crate::sse::{self, set_sse};

/// The core's read request from a GetObject or HeadObject input (the two
/// share these fields).
macro_rules! get_request {
    ($input:expr, $from_location:expr) => {
        GetRequest {
            bucket: $input.bucket,
            key: $input.key,
            version_id: $input.version_id,
            customer_key: sse::customer_key(
                $input.sse_customer_algorithm.as_deref(),
                $input.sse_customer_key.as_deref(),
                $input.sse_customer_key_md5.as_deref(),
            )?,
            range: $input.range.map(convert::range),
            part_number: part_number($input.part_number)?,
            conditions: read_conditions(
                $input.if_match,
                $input.if_none_match,
                $input.if_modified_since,
                $input.if_unmodified_since,
            ),
            from_location: $from_location,
        }
    };
}

pub(crate) struct Handlers {
    pub strata: Arc<Strata>,
}

type R<T> = S3Result<S3Response<T>>;

fn ok<T>(output: T) -> R<T> {
    Ok(S3Response::new(output))
}

fn invalid_argument(msg: impl Into<String>) -> S3Error {
    S3Error::with_message(S3ErrorCode::InvalidArgument, msg.into())
}

fn body_of(blob: Option<StreamingBlob>) -> Body {
    match blob {
        Some(blob) => Box::pin(blob.map(|r| r.map_err(std::io::Error::other))),
        None => Box::pin(futures::stream::empty()),
    }
}

fn content_length(n: Option<i64>) -> S3Result<Option<u64>> {
    n.map(|n| u64::try_from(n).map_err(|_| invalid_argument("negative Content-Length")))
        .transpose()
}

fn max_keys(n: Option<i32>) -> S3Result<usize> {
    match n {
        None => Ok(strata_core::listing::MAX_KEYS),
        Some(n) => usize::try_from(n)
            .map_err(|_| invalid_argument("max-keys must be a non-negative integer")),
    }
}

/// The bucket, key and version id a copy reads.
fn copy_source(cs: &CopySource) -> S3Result<(String, String, Option<String>)> {
    match cs {
        CopySource::Bucket {
            bucket,
            key,
            version_id,
        } => Ok((
            bucket.to_string(),
            key.to_string(),
            version_id.as_deref().map(str::to_string),
        )),
        _ => Err(invalid_argument(
            "only bucket/key copy sources are supported",
        )),
    }
}

fn copy_source_range(header: Option<&str>) -> S3Result<Option<strata_core::objects::ByteRange>> {
    let Some(h) = header else { return Ok(None) };
    let bad = || {
        invalid_argument(
            "The x-amz-copy-source-range value must be of the form bytes=first-last where first and last are the zero-based offsets of the first and last bytes to copy",
        )
    };
    let spec = h.strip_prefix("bytes=").ok_or_else(bad)?;
    let (a, b) = spec.split_once('-').ok_or_else(bad)?;
    let first = a.parse::<u64>().map_err(|_| bad())?;
    let last = b.parse::<u64>().map_err(|_| bad())?;
    if last < first {
        return Err(bad());
    }
    Ok(Some(strata_core::objects::ByteRange::From {
        first,
        last: Some(last),
    }))
}

impl Handlers {
    /// The S3 Owner of a record, by account id (None if the account is gone).
    fn owner_of(&self, account_id: &str) -> Option<Owner> {
        self.strata
            .meta
            .get_account(account_id)
            .ok()
            .flatten()
            .map(|a| convert::owner(&a))
    }

    /// Who the request acts as: its signer, or the anonymous account for
    /// unsigned requests the access hook let through.
    pub(crate) fn account<T>(&self, req: &S3Request<T>) -> S3Result<AccountRecord> {
        let Some(creds) = req.credentials.as_ref() else {
            return Ok(strata_core::access::anonymous());
        };
        if let Some(found) = req.extensions.get::<crate::access::Requester>() {
            return Ok(found.0.clone());
        }
        match self.strata.lookup_key(&creds.access_key).map_err(to_s3)? {
            Some((_, account)) => Ok(account),
            None => Err(S3Error::new(S3ErrorCode::InvalidAccessKeyId)),
        }
    }
}

#[async_trait::async_trait]
impl S3 for Handlers {
    // ---------------------------------------------------------------- buckets

    async fn create_bucket(&self, req: S3Request<CreateBucketInput>) -> R<CreateBucketOutput> {
        let account = self.account(&req)?;
        let location = req
            .input
            .create_bucket_configuration
            .as_ref()
            .and_then(|c| c.location_constraint.as_ref())
            .map(|l| l.as_str().to_string());
        let input = &req.input;
        let object_lock = input.object_lock_enabled_for_bucket.unwrap_or(false);
        let acl = acl::requested(
            input.acl.as_ref().map(|a| a.as_str()),
            grant_headers_of!(input, write: input.grant_write.clone()),
        )?;
        let ownership = input
            .object_ownership
            .as_ref()
            .map(|o| OwnershipControls::of_header(o.as_str()))
            .transpose()
            .map_err(to_s3)?;
        self.strata
            .create_bucket(
                &account,
                &input.bucket,
                location.as_deref(),
                object_lock,
                acl.as_ref(),
            )
            .await
            .map_err(to_s3)?;
        if let Some(controls) = ownership {
            self.strata
                .put_bucket_config(&account, &req.input.bucket, controls)
                .await
                .map_err(to_s3)?;
        }
        ok(CreateBucketOutput {
            location: Some(format!("/{}", req.input.bucket)),
        })
    }

    async fn delete_bucket(&self, req: S3Request<DeleteBucketInput>) -> R<DeleteBucketOutput> {
        let account = self.account(&req)?;
        self.strata
            .delete_bucket(&account, &req.input.bucket)
            .await
            .map_err(to_s3)?;
        Ok(S3Response::with_status(
            DeleteBucketOutput::default(),
            StatusCode::NO_CONTENT,
        ))
    }

    async fn head_bucket(&self, req: S3Request<HeadBucketInput>) -> R<HeadBucketOutput> {
        let account = self.account(&req)?;
        self.strata
            .owned_bucket(&account, &req.input.bucket)
            .map_err(to_s3)?;
        ok(HeadBucketOutput {
            bucket_region: Some(self.strata.settings.region.clone()),
            ..Default::default()
        })
    }

    async fn list_buckets(&self, req: S3Request<ListBucketsInput>) -> R<ListBucketsOutput> {
        let account = self.account(&req)?;
        let input = req.input;
        let max = match input.max_buckets {
            None => 10_000,
            Some(n @ 1..=10_000) => n as usize,
            Some(_) => {
                return Err(invalid_argument(
                    "max-buckets must be an integer from 1 to 10000",
                ));
            }
        };
        let after = input
            .continuation_token
            .as_deref()
            .map(decode_token)
            .transpose()?;
        let prefix = input.prefix.clone().unwrap_or_default();
        let mut buckets: Vec<Bucket> = self
            .strata
            .list_buckets(&account)
            .map_err(to_s3)?
            .into_iter()
            .filter(|b| b.name.starts_with(&prefix) && after.as_ref().is_none_or(|a| b.name > *a))
            .take(max + 1)
            .map(|b| Bucket {
                name: Some(b.name),
                creation_date: Some(convert::timestamp(b.created_ms)),
                bucket_region: Some(self.strata.settings.region.clone()),
            })
            .collect();
        let more = buckets.len() > max;
        buckets.truncate(max);
        let continuation_token = more
            .then(|| {
                buckets
                    .last()
                    .and_then(|b| b.name.as_deref())
                    .map(encode_token)
            })
            .flatten();
        ok(ListBucketsOutput {
            buckets: Some(buckets),
            owner: Some(convert::owner(&account)),
            prefix: input.prefix,
            continuation_token,
        })
    }

    async fn get_bucket_location(
        &self,
        req: S3Request<GetBucketLocationInput>,
    ) -> R<GetBucketLocationOutput> {
        let account = self.account(&req)?;
        let location = self
            .strata
            .bucket_location(&account, &req.input.bucket)
            .map_err(to_s3)?;
        ok(GetBucketLocationOutput {
            location_constraint: (!location.is_empty())
                .then(|| BucketLocationConstraint::from(location)),
        })
    }

    async fn put_bucket_versioning(
        &self,
        req: S3Request<PutBucketVersioningInput>,
    ) -> R<PutBucketVersioningOutput> {
        let account = self.account(&req)?;
        let config = &req.input.versioning_configuration;
        if config
            .mfa_delete
            .as_ref()
            .is_some_and(|m| m.as_str() == MFADelete::ENABLED)
        {
            return Err(S3Error::with_message(
                S3ErrorCode::InvalidArgument,
                "MFA delete is not supported by this server",
            ));
        }
        let state = match config.status.as_ref().map(|s| s.as_str()) {
            Some(BucketVersioningStatus::ENABLED) => Versioning::Enabled,
            Some(BucketVersioningStatus::SUSPENDED) => Versioning::Suspended,
            _ => {
                return Err(S3Error::with_message(
                    S3ErrorCode::MalformedXML,
                    "The versioning Status must be Enabled or Suspended",
                ));
            }
        };
        self.strata
            .set_versioning(&account, &req.input.bucket, state)
            .await
            .map_err(to_s3)?;
        ok(PutBucketVersioningOutput::default())
    }

    async fn get_bucket_versioning(
        &self,
        req: S3Request<GetBucketVersioningInput>,
    ) -> R<GetBucketVersioningOutput> {
        let account = self.account(&req)?;
        let bucket = self
            .strata
            .owned_bucket(&account, &req.input.bucket)
            .map_err(to_s3)?;
        let status = match bucket.versioning {
            Versioning::Unversioned => None,
            Versioning::Enabled => Some(BucketVersioningStatus::ENABLED),
            Versioning::Suspended => Some(BucketVersioningStatus::SUSPENDED),
        };
        ok(GetBucketVersioningOutput {
            status: status.map(BucketVersioningStatus::from_static),
            mfa_delete: None,
        })
    }

    async fn get_bucket_acl(&self, req: S3Request<GetBucketAclInput>) -> R<GetBucketAclOutput> {
        let acl = self
            .strata
            .get_bucket_acl(&req.input.bucket)
            .map_err(to_s3)?;
        let (owner, grants) = acl::to_wire(&self.strata, &acl);
        ok(GetBucketAclOutput {
            owner: Some(owner),
            grants: Some(grants),
        })
    }

    async fn put_bucket_acl(&self, req: S3Request<PutBucketAclInput>) -> R<PutBucketAclOutput> {
        let input = req.input;
        let asked = acl::put_request(
            input.acl.as_ref().map(|a| a.as_str()),
            grant_headers_of!(input, write: input.grant_write.clone()),
            input.access_control_policy,
        )?;
        self.strata
            .put_bucket_acl(&input.bucket, &asked)
            .await
            .map_err(to_s3)?;
        ok(PutBucketAclOutput::default())
    }

    async fn get_object_acl(&self, req: S3Request<GetObjectAclInput>) -> R<GetObjectAclOutput> {
        let account = self.account(&req)?;
        let i = &req.input;
        let acl = self
            .strata
            .get_object_acl(&account, &i.bucket, &i.key, i.version_id.as_deref())
            .map_err(to_s3)?;
        let (owner, grants) = acl::to_wire(&self.strata, &acl);
        ok(GetObjectAclOutput {
            owner: Some(owner),
            grants: Some(grants),
            ..Default::default()
        })
    }

    async fn put_object_acl(&self, req: S3Request<PutObjectAclInput>) -> R<PutObjectAclOutput> {
        let account = self.account(&req)?;
        let input = req.input;
        let asked = acl::put_request(
            input.acl.as_ref().map(|a| a.as_str()),
            grant_headers_of!(input, write: input.grant_write.clone()),
            input.access_control_policy,
        )?;
        self.strata
            .put_object_acl(
                &account,
                (&input.bucket, &input.key, input.version_id.as_deref()),
                &asked,
            )
            .await
            .map_err(to_s3)?;
        ok(PutObjectAclOutput::default())
    }

    // ---------------------------------------------------------------- policies

    async fn put_bucket_policy(
        &self,
        req: S3Request<PutBucketPolicyInput>,
    ) -> R<PutBucketPolicyOutput> {
        self.strata
            .put_bucket_policy(&req.input.bucket, &req.input.policy)
            .await
            .map_err(to_s3)?;
        Ok(S3Response::with_status(
            PutBucketPolicyOutput::default(),
            StatusCode::NO_CONTENT,
        ))
    }

    async fn get_bucket_policy(
        &self,
        req: S3Request<GetBucketPolicyInput>,
    ) -> R<GetBucketPolicyOutput> {
        let policy = self
            .strata
            .get_bucket_policy(&req.input.bucket)
            .map_err(to_s3)?;
        ok(GetBucketPolicyOutput {
            policy: Some(policy),
        })
    }

    async fn delete_bucket_policy(
        &self,
        req: S3Request<DeleteBucketPolicyInput>,
    ) -> R<DeleteBucketPolicyOutput> {
        self.strata
            .delete_bucket_policy(&req.input.bucket)
            .await
            .map_err(to_s3)?;
        Ok(S3Response::with_status(
            DeleteBucketPolicyOutput::default(),
            StatusCode::NO_CONTENT,
        ))
    }

    async fn get_bucket_policy_status(
        &self,
        req: S3Request<GetBucketPolicyStatusInput>,
    ) -> R<GetBucketPolicyStatusOutput> {
        let public = self
            .strata
            .bucket_is_public(&req.input.bucket)
            .map_err(to_s3)?;
        ok(GetBucketPolicyStatusOutput {
            policy_status: Some(PolicyStatus {
                is_public: Some(public),
            }),
        })
    }

    // ------------------------------------------------ bucket configurations
    // Each is an adapter: DTO -> core document (config_convert), then the
    // shared steps of bucket_config.rs; the core validates and stores.

    async fn put_bucket_tagging(
        &self,
        req: S3Request<PutBucketTaggingInput>,
    ) -> R<PutBucketTaggingOutput> {
        let config = cc::tagging_in(req.input.tagging.clone());
        self.put_config(&req, &req.input.bucket, config).await
    }

    async fn get_bucket_tagging(
        &self,
        req: S3Request<GetBucketTaggingInput>,
    ) -> R<GetBucketTaggingOutput> {
        let config: BucketTagging = self.get_config(&req, &req.input.bucket)?;
        ok(GetBucketTaggingOutput {
            tag_set: cc::tagging_out(&config),
        })
    }

    async fn delete_bucket_tagging(
        &self,
        req: S3Request<DeleteBucketTaggingInput>,
    ) -> R<DeleteBucketTaggingOutput> {
        self.delete_config::<_, BucketTagging, _>(&req, &req.input.bucket)
            .await
    }

    async fn put_bucket_cors(&self, req: S3Request<PutBucketCorsInput>) -> R<PutBucketCorsOutput> {
        let config = cc::cors_in(req.input.cors_configuration.clone());
        self.put_config(&req, &req.input.bucket, config).await
    }

    async fn get_bucket_cors(&self, req: S3Request<GetBucketCorsInput>) -> R<GetBucketCorsOutput> {
        let config: CorsConfiguration = self.get_config(&req, &req.input.bucket)?;
        ok(GetBucketCorsOutput {
            cors_rules: Some(cc::cors_out(&config)),
        })
    }

    async fn delete_bucket_cors(
        &self,
        req: S3Request<DeleteBucketCorsInput>,
    ) -> R<DeleteBucketCorsOutput> {
        self.delete_config::<_, CorsConfiguration, _>(&req, &req.input.bucket)
            .await
    }

    async fn put_bucket_website(
        &self,
        req: S3Request<PutBucketWebsiteInput>,
    ) -> R<PutBucketWebsiteOutput> {
        let config = cc::website_in(req.input.website_configuration.clone());
        self.put_config(&req, &req.input.bucket, config).await
    }

    async fn get_bucket_website(
        &self,
        req: S3Request<GetBucketWebsiteInput>,
    ) -> R<GetBucketWebsiteOutput> {
        let config: WebsiteConfiguration = self.get_config(&req, &req.input.bucket)?;
        ok(cc::website_out(&config))
    }

    async fn delete_bucket_website(
        &self,
        req: S3Request<DeleteBucketWebsiteInput>,
    ) -> R<DeleteBucketWebsiteOutput> {
        self.delete_config::<_, WebsiteConfiguration, _>(&req, &req.input.bucket)
            .await
    }

    async fn put_bucket_lifecycle_configuration(
        &self,
        req: S3Request<PutBucketLifecycleConfigurationInput>,
    ) -> R<PutBucketLifecycleConfigurationOutput> {
        let config = cc::lifecycle_in(req.input.lifecycle_configuration.clone());
        self.put_config(&req, &req.input.bucket, config).await
    }

    async fn get_bucket_lifecycle_configuration(
        &self,
        req: S3Request<GetBucketLifecycleConfigurationInput>,
    ) -> R<GetBucketLifecycleConfigurationOutput> {
        let config: LifecycleConfiguration = self.get_config(&req, &req.input.bucket)?;
        ok(GetBucketLifecycleConfigurationOutput {
            rules: Some(cc::lifecycle_out(&config)),
            transition_default_minimum_object_size: None,
        })
    }

    async fn delete_bucket_lifecycle(
        &self,
        req: S3Request<DeleteBucketLifecycleInput>,
    ) -> R<DeleteBucketLifecycleOutput> {
        self.delete_config::<_, LifecycleConfiguration, _>(&req, &req.input.bucket)
            .await
    }

    async fn put_bucket_replication(
        &self,
        req: S3Request<PutBucketReplicationInput>,
    ) -> R<PutBucketReplicationOutput> {
        let config = cc::replication_in(req.input.replication_configuration.clone());
        self.put_config(&req, &req.input.bucket, config).await
    }

    async fn get_bucket_replication(
        &self,
        req: S3Request<GetBucketReplicationInput>,
    ) -> R<GetBucketReplicationOutput> {
        let config: ReplicationConfiguration = self.get_config(&req, &req.input.bucket)?;
        ok(GetBucketReplicationOutput {
            replication_configuration: Some(cc::replication_out(&config)),
        })
    }

    async fn delete_bucket_replication(
        &self,
        req: S3Request<DeleteBucketReplicationInput>,
    ) -> R<DeleteBucketReplicationOutput> {
        self.delete_config::<_, ReplicationConfiguration, _>(&req, &req.input.bucket)
            .await
    }

    async fn put_bucket_notification_configuration(
        &self,
        req: S3Request<PutBucketNotificationConfigurationInput>,
    ) -> R<PutBucketNotificationConfigurationOutput> {
        let config = cc::notification_in(req.input.notification_configuration.clone());
        self.put_config(&req, &req.input.bucket, config).await
    }

    async fn get_bucket_notification_configuration(
        &self,
        req: S3Request<GetBucketNotificationConfigurationInput>,
    ) -> R<GetBucketNotificationConfigurationOutput> {
        let config: NotificationConfiguration =
            self.get_config_or_default(&req, &req.input.bucket)?;
        ok(cc::notification_out(&config))
    }

    async fn put_bucket_encryption(
        &self,
        req: S3Request<PutBucketEncryptionInput>,
    ) -> R<PutBucketEncryptionOutput> {
        let config = cc::encryption_in(req.input.server_side_encryption_configuration.clone());
        self.put_config(&req, &req.input.bucket, config).await
    }

    async fn get_bucket_encryption(
        &self,
        req: S3Request<GetBucketEncryptionInput>,
    ) -> R<GetBucketEncryptionOutput> {
        let config: EncryptionConfiguration = self.get_config(&req, &req.input.bucket)?;
        ok(GetBucketEncryptionOutput {
            server_side_encryption_configuration: Some(cc::encryption_out(&config)),
        })
    }

    async fn delete_bucket_encryption(
        &self,
        req: S3Request<DeleteBucketEncryptionInput>,
    ) -> R<DeleteBucketEncryptionOutput> {
        self.delete_config::<_, EncryptionConfiguration, _>(&req, &req.input.bucket)
            .await
    }

    async fn put_bucket_ownership_controls(
        &self,
        req: S3Request<PutBucketOwnershipControlsInput>,
    ) -> R<PutBucketOwnershipControlsOutput> {
        let account = self.account(&req)?;
        let config = cc::ownership_in(req.input.ownership_controls.clone());
        self.strata
            .put_ownership_controls(&account, &req.input.bucket, config)
            .await
            .map_err(to_s3)?;
        ok(PutBucketOwnershipControlsOutput::default())
    }

    async fn get_bucket_ownership_controls(
        &self,
        req: S3Request<GetBucketOwnershipControlsInput>,
    ) -> R<GetBucketOwnershipControlsOutput> {
        let config: OwnershipControls = self.get_config(&req, &req.input.bucket)?;
        ok(GetBucketOwnershipControlsOutput {
            ownership_controls: Some(cc::ownership_out(&config)),
        })
    }

    async fn delete_bucket_ownership_controls(
        &self,
        req: S3Request<DeleteBucketOwnershipControlsInput>,
    ) -> R<DeleteBucketOwnershipControlsOutput> {
        self.delete_config::<_, OwnershipControls, _>(&req, &req.input.bucket)
            .await
    }

    async fn put_public_access_block(
        &self,
        req: S3Request<PutPublicAccessBlockInput>,
    ) -> R<PutPublicAccessBlockOutput> {
        let config =
            cc::public_access_block_in(req.input.public_access_block_configuration.clone());
        self.put_config(&req, &req.input.bucket, config).await
    }

    async fn get_public_access_block(
        &self,
        req: S3Request<GetPublicAccessBlockInput>,
    ) -> R<GetPublicAccessBlockOutput> {
        let config: PublicAccessBlock = self.get_config(&req, &req.input.bucket)?;
        ok(GetPublicAccessBlockOutput {
            public_access_block_configuration: Some(cc::public_access_block_out(&config)),
        })
    }

    async fn delete_public_access_block(
        &self,
        req: S3Request<DeletePublicAccessBlockInput>,
    ) -> R<DeletePublicAccessBlockOutput> {
        self.delete_config::<_, PublicAccessBlock, _>(&req, &req.input.bucket)
            .await
    }

    async fn get_bucket_request_payment(
        &self,
        req: S3Request<GetBucketRequestPaymentInput>,
    ) -> R<GetBucketRequestPaymentOutput> {
        self.check_bucket(&req, &req.input.bucket)?;
        ok(GetBucketRequestPaymentOutput {
            payer: Some(Payer::from_static(Payer::BUCKET_OWNER)),
        })
    }

    async fn put_bucket_request_payment(
        &self,
        req: S3Request<PutBucketRequestPaymentInput>,
    ) -> R<PutBucketRequestPaymentOutput> {
        self.check_bucket(&req, &req.input.bucket)?;
        match req.input.request_payment_configuration.payer.as_str() {
            Payer::BUCKET_OWNER => ok(PutBucketRequestPaymentOutput::default()),
            Payer::REQUESTER => Err(S3Error::with_message(
                S3ErrorCode::NotImplemented,
                "Requester Pays buckets are not supported by this server",
            )),
            _ => Err(S3Error::with_message(
                S3ErrorCode::MalformedXML,
                "Payer must be BucketOwner or Requester",
            )),
        }
    }

    async fn get_bucket_accelerate_configuration(
        &self,
        req: S3Request<GetBucketAccelerateConfigurationInput>,
    ) -> R<GetBucketAccelerateConfigurationOutput> {
        // Transfer Acceleration is an AWS network feature: never enabled here.
        self.check_bucket(&req, &req.input.bucket)?;
        ok(GetBucketAccelerateConfigurationOutput::default())
    }

    async fn get_bucket_logging(
        &self,
        req: S3Request<GetBucketLoggingInput>,
    ) -> R<GetBucketLoggingOutput> {
        // Server access logging is not offered: every bucket answers "disabled".
        self.check_bucket(&req, &req.input.bucket)?;
        ok(GetBucketLoggingOutput::default())
    }

    // ---------------------------------------------------------------- objects

    async fn put_object(&self, mut req: S3Request<PutObjectInput>) -> R<PutObjectOutput> {
        let account = self.account(&req)?;
        let checksum = convert::checksum_source(
            checksum_headers_of!(req.input),
            req.input.checksum_algorithm.as_ref().map(|a| a.as_str()),
            &req.headers,
            req.trailing_headers.take(),
        )?;
        let input = req.input;
        let condition = convert::precondition(input.if_match, input.if_none_match);
        let put = PutRequest {
            bucket: input.bucket,
            key: input.key,
            body: body_of(input.body),
            content_length: content_length(input.content_length)?,
            content_md5: input.content_md5,
            checksum,
            condition,
            attributes: attributes_of!(input)?,
        };
        check_replica_metadata(&req.extensions, &put.attributes)?;
        let record = self.strata.put_object(&account, put).await.map_err(to_s3)?;
        let mut out = PutObjectOutput {
            e_tag: Some(convert::etag(&record.etag)),
            version_id: record.version_id.clone(),
            ..Default::default()
        };
        set_sse!(out, record.encryption.as_ref());
        let fields = convert::checksum_fields(record.checksum.as_ref());
        out.checksum_type = fields.kind.clone();
        set_checksums!(out, fields);
        ok(out)
    }

    async fn get_object(&self, req: S3Request<GetObjectInput>) -> R<GetObjectOutput> {
        let account = self.account(&req)?;
        sse::refuse_on_read(&req.headers)?;
        let from_location = req
            .headers
            .get("x-amz-location-constraint")
            .map(|wanted| wanted.to_str().unwrap_or_default().to_string());
        let input = req.input;
        let checksum_mode = input
            .checksum_mode
            .as_ref()
            .is_some_and(|m| m.as_str() == ChecksumMode::ENABLED);
        let get = get_request!(input, from_location);
        let whole_object = get.range.is_none() && get.part_number.is_none();
        let part = get.part_number;
        let body = self.strata.get_object(&account, get).await.map_err(to_s3)?;
        let r = &body.record;
        let mut out = GetObjectOutput {
            version_id: body.version_id.clone(),
            tag_count: (!r.tags.is_empty()).then_some(r.tags.len() as i32),
            ..Default::default()
        };
        object_fields!(out, r);
        lock_fields!(out, r);
        set_sse!(out, r.encryption.as_ref());
        out.storage_class = self.strata.storage_class(r).map(StorageClass::from);
        out.content_length = Some((body.range.end - body.range.start) as i64);
        if body.partial {
            out.content_range = Some(format!(
                "bytes {}-{}/{}",
                body.range.start,
                body.range.end.saturating_sub(1),
                r.size
            ));
        }
        out.parts_count = body.parts_count.map(|n| n as i32);
        // A part's own checksum comes with it, as in S3 (checksum mode or not).
        let shown = match part {
            Some(n) => convert::part_checksum(r, n),
            None => r.checksum.clone().filter(|_| checksum_mode && whole_object),
        };
        if shown.is_some() {
            let fields = convert::checksum_fields(shown.as_ref());
            out.checksum_type = fields.kind.clone();
            set_checksums!(out, fields);
        }
        out.body = Some(StreamingBlob::wrap(crate::sync_stream::SyncStream::new(
            body.stream,
        )));
        let status = if body.partial && body.range.end - body.range.start < r.size
            || body.parts_count.is_some()
        {
            StatusCode::PARTIAL_CONTENT
        } else {
            StatusCode::OK
        };
        Ok(S3Response::with_status(out, status))
    }

    async fn head_object(&self, req: S3Request<HeadObjectInput>) -> R<HeadObjectOutput> {
        let account = self.account(&req)?;
        sse::refuse_on_read(&req.headers)?;
        let input = req.input;
        let checksum_mode = input
            .checksum_mode
            .as_ref()
            .is_some_and(|m| m.as_str() == ChecksumMode::ENABLED);
        let get = get_request!(input, None);
        let strata_core::objects::Found {
            record,
            part,
            version_id,
            ..
        } = self.strata.head_object(&account, &get).map_err(to_s3)?;
        let mut out = HeadObjectOutput {
            version_id,
            ..Default::default()
        };
        object_fields!(out, &record);
        lock_fields!(out, &record);
        set_sse!(out, record.encryption.as_ref());
        out.storage_class = self.strata.storage_class(&record).map(StorageClass::from);
        let mut status = StatusCode::OK;
        match (part, get.range) {
            (
                Some(strata_core::objects::PartRange {
                    range,
                    parts_count: count,
                }),
                _,
            ) => {
                out.content_length = Some((range.end - range.start) as i64);
                out.content_range = Some(format!(
                    "bytes {}-{}/{}",
                    range.start,
                    range.end.saturating_sub(1),
                    record.size
                ));
                out.parts_count = Some(count as i32);
                status = StatusCode::PARTIAL_CONTENT;
            }
            (None, Some(r)) => {
                let range = r.resolve(record.size).map_err(to_s3)?;
                out.content_length = Some((range.end - range.start) as i64);
                out.content_range = Some(format!(
                    "bytes {}-{}/{}",
                    range.start,
                    range.end.saturating_sub(1),
                    record.size
                ));
                status = StatusCode::PARTIAL_CONTENT;
            }
            (None, None) => out.content_length = Some(record.size as i64),
        }
        let shown = match get.part_number {
            Some(n) => convert::part_checksum(&record, n),
            None => record.checksum.clone().filter(|_| checksum_mode),
        };
        if shown.is_some() {
            let fields = convert::checksum_fields(shown.as_ref());
            out.checksum_type = fields.kind.clone();
            set_checksums!(out, fields);
        }
        let mut resp = S3Response::with_status(out, status);
        // HeadObjectOutput has no field for it, but S3 sends it on HEAD too.
        if !record.tags.is_empty() {
            resp.headers
                .insert("x-amz-tagging-count", record.tags.len().into());
        }
        Ok(resp)
    }

    async fn get_object_attributes(
        &self,
        req: S3Request<GetObjectAttributesInput>,
    ) -> R<GetObjectAttributesOutput> {
        let account = self.account(&req)?;
        let input = req.input;
        let (bucket, record) = self
            .strata
            .object_version(
                &account,
                &input.bucket,
                &input.key,
                input.version_id.as_deref(),
            )
            .map_err(to_s3)?;
        // Attributes of an SSE-C object need its key, as its bytes would.
        let customer = sse::customer_key(
            input.sse_customer_algorithm.as_deref(),
            input.sse_customer_key.as_deref(),
            input.sse_customer_key_md5.as_deref(),
        )?;
        self.strata
            .data_key(&record, customer.as_ref())
            .map_err(to_s3)?;
        // One header, `x-amz-object-attributes: ETag,ObjectSize`, may list several.
        let wants = |name: &str| {
            input
                .object_attributes
                .iter()
                .flat_map(|a| a.as_str().split(','))
                .any(|a| a.trim() == name)
        };
        let mut out = GetObjectAttributesOutput {
            version_id: strata_core::objects::visible_version_id(&bucket, &record),
            last_modified: Some(convert::timestamp(record.last_modified_ms)),
            ..Default::default()
        };
        if wants(ObjectAttributes::ETAG) {
            // AWS shows this ETag without quotes; s3s's XML writer always adds them.
            out.e_tag = Some(convert::etag(&record.etag));
        }
        if wants(ObjectAttributes::OBJECT_SIZE) {
            out.object_size = Some(record.size as i64);
        }
        if wants(ObjectAttributes::STORAGE_CLASS) {
            out.storage_class = Some(StorageClass::from_static(StorageClass::STANDARD));
        }
        if wants(ObjectAttributes::CHECKSUM) && record.checksum.is_some() {
            let fields = convert::checksum_fields(record.checksum.as_ref());
            let mut checksum = Checksum {
                checksum_type: fields.kind.clone(),
                ..Default::default()
            };
            set_checksums!(checksum, fields);
            out.checksum = Some(checksum);
        }
        if wants(ObjectAttributes::OBJECT_PARTS) && !record.parts.is_empty() {
            let marker = input.part_number_marker.unwrap_or(0);
            let max = input.max_parts.unwrap_or(1000).clamp(0, 1000) as usize;
            let after: Vec<_> = record
                .parts
                .iter()
                .filter(|p| i64::from(p.number) > i64::from(marker))
                .collect();
            let truncated = after.len() > max;
            let page: Vec<ObjectPart> =
                after
                    .into_iter()
                    .take(max)
                    .map(|p| {
                        let mut part = ObjectPart {
                            part_number: Some(p.number as i32),
                            size: Some(p.size as i64),
                            ..Default::default()
                        };
                        let checksum = record.checksum.as_ref().zip(p.checksum.as_ref()).map(
                            |(whole, value)| strata_core::meta::Checksum {
                                algorithm: whole.algorithm,
                                value: value.clone(),
                                kind: whole.kind,
                            },
                        );
                        set_checksums!(part, convert::checksum_fields(checksum.as_ref()));
                        part
                    })
                    .collect();
            out.object_parts = Some(GetObjectAttributesParts {
                is_truncated: Some(truncated),
                max_parts: Some(max as i32),
                next_part_number_marker: page.last().and_then(|p| p.part_number),
                part_number_marker: Some(marker),
                total_parts_count: Some(record.parts.len() as i32),
                parts: Some(page),
            });
        }
        ok(out)
    }

    async fn delete_object(&self, req: S3Request<DeleteObjectInput>) -> R<DeleteObjectOutput> {
        let account = self.account(&req)?;
        let i = &req.input;
        let outcome = self
            .strata
            .delete_object(
                &account,
                &i.bucket,
                &i.key,
                i.version_id.as_deref(),
                i.bypass_governance_retention.unwrap_or(false),
            )
            .await
            .map_err(to_s3)?;
        Ok(S3Response::with_status(
            DeleteObjectOutput {
                delete_marker: outcome.delete_marker.then_some(true),
                version_id: outcome.version_id,
                ..Default::default()
            },
            StatusCode::NO_CONTENT,
        ))
    }

    async fn delete_objects(&self, req: S3Request<DeleteObjectsInput>) -> R<DeleteObjectsOutput> {
        let account = self.account(&req)?;
        let input = req.input;
        self.strata
            .owned_bucket(&account, &input.bucket)
            .map_err(to_s3)?;
        if input.delete.objects.len() > 1000 {
            return Err(S3Error::with_message(
                S3ErrorCode::MalformedXML,
                "a DeleteObjects request holds at most 1000 keys",
            ));
        }
        let quiet = input.delete.quiet.unwrap_or(false);
        let bypass = input.bypass_governance_retention.unwrap_or(false);
        let mut deleted = Vec::new();
        let mut errors = Vec::new();
        for object in input.delete.objects {
            let outcome = self
                .strata
                .delete_object(
                    &account,
                    &input.bucket,
                    &object.key,
                    object.version_id.as_deref(),
                    bypass,
                )
                .await
                .map_err(to_s3);
            match outcome {
                Ok(_) if quiet => {}
                Ok(done) => deleted.push(DeletedObject {
                    key: Some(object.key),
                    delete_marker: done.delete_marker.then_some(true),
                    // A new delete marker is named apart from the version asked for.
                    delete_marker_version_id: (done.delete_marker && object.version_id.is_none())
                        .then(|| done.version_id.clone())
                        .flatten(),
                    version_id: object.version_id,
                }),
                Err(e) => {
                    errors.push(Error {
                        key: Some(object.key),
                        code: Some(e.code().as_str().to_string()),
                        message: e.message().map(str::to_string),
                        version_id: object.version_id,
                    });
                }
            }
        }
        ok(DeleteObjectsOutput {
            deleted: Some(deleted),
            errors: Some(errors),
            ..Default::default()
        })
    }

    async fn copy_object(&self, req: S3Request<CopyObjectInput>) -> R<CopyObjectOutput> {
        let account = self.account(&req)?;
        let input = req.input;
        let (source_bucket, source_key, source_version_id) = copy_source(&input.copy_source)?;
        let replace_tags = match input.tagging_directive.as_ref().map(|d| d.as_str()) {
            None | Some(TaggingDirective::COPY) => None,
            Some(TaggingDirective::REPLACE) => {
                Some(convert::tags_header(input.tagging.as_deref())?)
            }
            Some(other) => {
                return Err(invalid_argument(format!(
                    "Unknown tagging directive {other}"
                )));
            }
        };
        let replace = match input.metadata_directive.as_ref().map(|d| d.as_str()) {
            None | Some(MetadataDirective::COPY) => false,
            Some(MetadataDirective::REPLACE) => true,
            Some(other) => {
                return Err(invalid_argument(format!(
                    "Unknown metadata directive {other}"
                )));
            }
        };
        let attributes = attributes_of!(input)?;
        check_replica_metadata(&req.extensions, &attributes)?;
        let source_customer_key = sse::customer_key(
            input.copy_source_sse_customer_algorithm.as_deref(),
            input.copy_source_sse_customer_key.as_deref(),
            input.copy_source_sse_customer_key_md5.as_deref(),
        )?;
        let copy = CopyRequest {
            source_bucket,
            source_key,
            source_version_id: source_version_id.clone(),
            source_customer_key,
            source_conditions: read_conditions(
                input.copy_source_if_match,
                input.copy_source_if_none_match,
                input.copy_source_if_modified_since,
                input.copy_source_if_unmodified_since,
            ),
            bucket: input.bucket,
            key: input.key,
            attributes,
            replace_metadata: replace,
            replace_tags,
            condition: Precondition::default(),
        };
        let record = self
            .strata
            .copy_object(&account, copy)
            .await
            .map_err(to_s3)?;
        let mut result = CopyObjectResult {
            e_tag: Some(convert::etag(&record.etag)),
            last_modified: Some(convert::timestamp(record.last_modified_ms)),
            ..Default::default()
        };
        let fields = convert::checksum_fields(record.checksum.as_ref());
        result.checksum_type = fields.kind.clone();
        set_checksums!(result, fields);
        let mut out = CopyObjectOutput {
            copy_object_result: Some(result),
            copy_source_version_id: source_version_id,
            version_id: record.version_id.clone(),
            ..Default::default()
        };
        set_sse!(out, record.encryption.as_ref());
        ok(out)
    }

    // ---------------------------------------------------------------- listing

    async fn list_objects(&self, req: S3Request<ListObjectsInput>) -> R<ListObjectsOutput> {
        let account = self.account(&req)?;
        let input = req.input;
        let url = encoding_is_url(input.encoding_type.as_ref())?;
        let query = list_query(
            input.prefix.as_deref(),
            input.delimiter.as_deref(),
            input.marker.as_deref(),
            input.max_keys,
        )?;
        let page = self
            .strata
            .list_objects(&account, &input.bucket, query)
            .map_err(to_s3)?;
        let next_marker = (page.truncated && input.delimiter.is_some())
            .then(|| {
                page.entries
                    .last()
                    .map(|e| convert::encode_key(e.name().to_string(), url))
            })
            .flatten();
        let (contents, prefixes) = split_entries(page.entries, Some(convert::owner(&account)), url);
        ok(ListObjectsOutput {
            name: Some(input.bucket),
            prefix: Some(convert::encode_key(input.prefix.unwrap_or_default(), url)),
            marker: Some(convert::encode_key(input.marker.unwrap_or_default(), url)),
            max_keys: Some(input.max_keys.unwrap_or(1000)),
            is_truncated: Some(page.truncated),
            contents: Some(contents),
            common_prefixes: Some(prefixes),
            delimiter: input
                .delimiter
                .filter(|d| !d.is_empty())
                .map(|d| convert::encode_key(d, url)),
            next_marker,
            encoding_type: input.encoding_type,
            ..Default::default()
        })
    }

    async fn list_objects_v2(&self, req: S3Request<ListObjectsV2Input>) -> R<ListObjectsV2Output> {
        let account = self.account(&req)?;
        let input = req.input;
        let url = encoding_is_url(input.encoding_type.as_ref())?;
        let start_after = match &input.continuation_token {
            Some(token) => Some(decode_token(token)?),
            None => input.start_after.clone().filter(|s| !s.is_empty()),
        };
        let query = list_query(
            input.prefix.as_deref(),
            input.delimiter.as_deref(),
            start_after.as_deref(),
            input.max_keys,
        )?;
        let page = self
            .strata
            .list_objects(&account, &input.bucket, query)
            .map_err(to_s3)?;
        let next_token = page
            .truncated
            .then(|| page.entries.last().map(|e| encode_token(e.name())))
            .flatten();
        let owner = input
            .fetch_owner
            .unwrap_or(false)
            .then(|| convert::owner(&account));
        let (contents, prefixes) = split_entries(page.entries, owner, url);
        ok(ListObjectsV2Output {
            name: Some(input.bucket),
            prefix: Some(convert::encode_key(input.prefix.unwrap_or_default(), url)),
            max_keys: Some(input.max_keys.unwrap_or(1000)),
            key_count: Some((contents.len() + prefixes.len()) as i32),
            continuation_token: input.continuation_token,
            is_truncated: Some(page.truncated),
            next_continuation_token: next_token,
            contents: Some(contents),
            common_prefixes: Some(prefixes),
            delimiter: input
                .delimiter
                .filter(|d| !d.is_empty())
                .map(|d| convert::encode_key(d, url)),
            encoding_type: input.encoding_type,
            start_after: input.start_after.map(|s| convert::encode_key(s, url)),
            ..Default::default()
        })
    }

    async fn list_object_versions(
        &self,
        req: S3Request<ListObjectVersionsInput>,
    ) -> R<ListObjectVersionsOutput> {
        let account = self.account(&req)?;
        let input = req.input;
        let url = encoding_is_url(input.encoding_type.as_ref())?;
        let version_id_marker = input.version_id_marker.clone().filter(|v| !v.is_empty());
        if version_id_marker.is_some() && input.key_marker.as_deref().is_none_or(str::is_empty) {
            return Err(invalid_argument(
                "A version-id marker cannot be specified without a key marker.",
            ));
        }
        let query = VersionQuery {
            list: list_query(
                input.prefix.as_deref(),
                input.delimiter.as_deref(),
                input.key_marker.as_deref(),
                input.max_keys,
            )?,
            version_id_marker,
        };
        let page = self
            .strata
            .list_versions(&account, &input.bucket, &query)
            .map_err(to_s3)?;
        let (next_key_marker, next_version_id_marker) = match page.entries.last() {
            Some(last) if page.truncated => (
                Some(convert::encode_key(last.name().to_string(), url)),
                match last {
                    ListEntry::Object(_, v) => Some(v.record.version_name().to_string()),
                    ListEntry::CommonPrefix(_) => None,
                },
            ),
            _ => (None, None),
        };
        let mut versions = Vec::new();
        let mut delete_markers = Vec::new();
        let mut prefixes = Vec::new();
        for entry in page.entries {
            let (key, listed) = match entry {
                ListEntry::Object(key, listed) => (key, listed),
                ListEntry::CommonPrefix(p) => {
                    prefixes.push(CommonPrefix {
                        prefix: Some(convert::encode_key(p, url)),
                    });
                    continue;
                }
            };
            let r = listed.record;
            let owner = self.owner_of(&r.owner);
            let key = Some(convert::encode_key(key, url));
            if r.delete_marker {
                delete_markers.push(DeleteMarkerEntry {
                    is_latest: Some(listed.is_latest),
                    key,
                    last_modified: Some(convert::timestamp(r.last_modified_ms)),
                    owner,
                    version_id: Some(r.version_name().to_string()),
                });
                continue;
            }
            let entry = convert::list_entry(String::new(), &r, owner);
            versions.push(ObjectVersion {
                key,
                e_tag: entry.e_tag,
                last_modified: entry.last_modified,
                size: entry.size,
                owner: entry.owner,
                checksum_algorithm: entry.checksum_algorithm,
                is_latest: Some(listed.is_latest),
                version_id: Some(r.version_name().to_string()),
                storage_class: Some(ObjectVersionStorageClass::from_static(
                    ObjectVersionStorageClass::STANDARD,
                )),
                ..Default::default()
            });
        }
        ok(ListObjectVersionsOutput {
            name: Some(input.bucket),
            prefix: Some(convert::encode_key(input.prefix.unwrap_or_default(), url)),
            delimiter: input.delimiter,
            key_marker: input.key_marker,
            version_id_marker: input.version_id_marker,
            next_key_marker,
            next_version_id_marker,
            max_keys: Some(input.max_keys.unwrap_or(1000)),
            is_truncated: Some(page.truncated),
            versions: Some(versions),
            delete_markers: Some(delete_markers),
            common_prefixes: Some(prefixes),
            encoding_type: input.encoding_type,
            ..Default::default()
        })
    }

    // ---------------------------------------------------------------- object lock

    async fn put_object_lock_configuration(
        &self,
        req: S3Request<PutObjectLockConfigurationInput>,
    ) -> R<PutObjectLockConfigurationOutput> {
        let account = self.account(&req)?;
        let input = req.input;
        let config = input
            .object_lock_configuration
            .ok_or_else(|| S3Error::new(S3ErrorCode::MalformedXML))?;
        if config.object_lock_enabled.as_ref().map(|e| e.as_str())
            != Some(ObjectLockEnabled::ENABLED)
        {
            return Err(S3Error::with_message(
                S3ErrorCode::MalformedXML,
                "ObjectLockEnabled must be Enabled",
            ));
        }
        let default_retention = match config.rule.and_then(|r| r.default_retention) {
            Some(d) => Some(DefaultRetention {
                mode: convert::lock_mode(d.mode.as_ref().map_or("", |m| m.as_str()))?,
                days: retention_period(d.days)?,
                years: retention_period(d.years)?,
            }),
            None => None,
        };
        self.strata
            .put_lock_config(&account, &input.bucket, LockConfig { default_retention })
            .await
            .map_err(to_s3)?;
        ok(PutObjectLockConfigurationOutput::default())
    }

    async fn get_object_lock_configuration(
        &self,
        req: S3Request<GetObjectLockConfigurationInput>,
    ) -> R<GetObjectLockConfigurationOutput> {
        let account = self.account(&req)?;
        let config = self
            .strata
            .lock_config(&account, &req.input.bucket)
            .map_err(to_s3)?;
        let rule = config.default_retention.map(|d| ObjectLockRule {
            default_retention: Some(s3s::dto::DefaultRetention {
                mode: Some(ObjectLockRetentionMode::from(
                    convert::lock_mode_name(d.mode).to_string(),
                )),
                days: d.days.map(|n| n as i32),
                years: d.years.map(|n| n as i32),
            }),
        });
        ok(GetObjectLockConfigurationOutput {
            object_lock_configuration: Some(ObjectLockConfiguration {
                object_lock_enabled: Some(ObjectLockEnabled::from_static(
                    ObjectLockEnabled::ENABLED,
                )),
                rule,
            }),
        })
    }

    async fn put_object_retention(
        &self,
        req: S3Request<PutObjectRetentionInput>,
    ) -> R<PutObjectRetentionOutput> {
        let account = self.account(&req)?;
        let i = req.input;
        let retention = match i.retention {
            Some(ObjectLockRetention {
                mode: Some(mode),
                retain_until_date: Some(until),
            }) => Some(Retention {
                mode: convert::lock_mode(mode.as_str())?,
                until_ms: convert::unix_ms(until),
            }),
            Some(ObjectLockRetention {
                mode: None,
                retain_until_date: None,
            }) => None,
            _ => {
                return Err(S3Error::with_message(
                    S3ErrorCode::MalformedXML,
                    "a retention needs both Mode and RetainUntilDate",
                ));
            }
        };
        self.strata
            .put_retention(
                &account,
                (&i.bucket, &i.key, i.version_id.as_deref()),
                retention,
                i.bypass_governance_retention.unwrap_or(false),
            )
            .await
            .map_err(to_s3)?;
        ok(PutObjectRetentionOutput::default())
    }

    async fn get_object_retention(
        &self,
        req: S3Request<GetObjectRetentionInput>,
    ) -> R<GetObjectRetentionOutput> {
        let account = self.account(&req)?;
        let i = &req.input;
        let retention = self
            .strata
            .retention(&account, (&i.bucket, &i.key, i.version_id.as_deref()))
            .map_err(to_s3)?;
        ok(GetObjectRetentionOutput {
            retention: Some(ObjectLockRetention {
                mode: Some(ObjectLockRetentionMode::from(
                    convert::lock_mode_name(retention.mode).to_string(),
                )),
                retain_until_date: Some(convert::timestamp(retention.until_ms)),
            }),
        })
    }

    async fn put_object_legal_hold(
        &self,
        req: S3Request<PutObjectLegalHoldInput>,
    ) -> R<PutObjectLegalHoldOutput> {
        let account = self.account(&req)?;
        let i = req.input;
        let status = i.legal_hold.and_then(|h| h.status);
        let on = match status.as_ref().map(|s| s.as_str()) {
            None => return Err(S3Error::new(S3ErrorCode::MalformedXML)),
            other => convert::legal_hold(other)?,
        };
        self.strata
            .put_legal_hold(&account, (&i.bucket, &i.key, i.version_id.as_deref()), on)
            .await
            .map_err(to_s3)?;
        ok(PutObjectLegalHoldOutput::default())
    }

    async fn get_object_legal_hold(
        &self,
        req: S3Request<GetObjectLegalHoldInput>,
    ) -> R<GetObjectLegalHoldOutput> {
        let account = self.account(&req)?;
        let i = &req.input;
        let on = self
            .strata
            .legal_hold(&account, (&i.bucket, &i.key, i.version_id.as_deref()))
            .map_err(to_s3)?;
        let status = if on {
            ObjectLockLegalHoldStatus::ON
        } else {
            ObjectLockLegalHoldStatus::OFF
        };
        ok(GetObjectLegalHoldOutput {
            legal_hold: Some(ObjectLockLegalHold {
                status: Some(ObjectLockLegalHoldStatus::from_static(status)),
            }),
        })
    }

    // ---------------------------------------------------------------- tagging

    async fn get_object_tagging(
        &self,
        req: S3Request<GetObjectTaggingInput>,
    ) -> R<GetObjectTaggingOutput> {
        let account = self.account(&req)?;
        let i = &req.input;
        let record = self
            .strata
            .object_tags(&account, &i.bucket, &i.key, i.version_id.as_deref())
            .map_err(to_s3)?;
        ok(GetObjectTaggingOutput {
            tag_set: convert::tag_list(&record.tags),
            version_id: record.version_id.clone(),
        })
    }

    async fn put_object_tagging(
        &self,
        req: S3Request<PutObjectTaggingInput>,
    ) -> R<PutObjectTaggingOutput> {
        let account = self.account(&req)?;
        let input = req.input;
        let tags = convert::tag_map(input.tagging.tag_set)?;
        let record = self
            .strata
            .set_object_tags(
                &account,
                &input.bucket,
                &input.key,
                input.version_id.as_deref(),
                tags,
            )
            .await
            .map_err(to_s3)?;
        ok(PutObjectTaggingOutput {
            version_id: record.version_id,
        })
    }

    async fn delete_object_tagging(
        &self,
        req: S3Request<DeleteObjectTaggingInput>,
    ) -> R<DeleteObjectTaggingOutput> {
        let account = self.account(&req)?;
        let i = &req.input;
        let record = self
            .strata
            .set_object_tags(
                &account,
                &i.bucket,
                &i.key,
                i.version_id.as_deref(),
                Default::default(),
            )
            .await
            .map_err(to_s3)?;
        Ok(S3Response::with_status(
            DeleteObjectTaggingOutput {
                version_id: record.version_id,
            },
            StatusCode::NO_CONTENT,
        ))
    }

    // ---------------------------------------------------------------- multipart

    async fn create_multipart_upload(
        &self,
        req: S3Request<CreateMultipartUploadInput>,
    ) -> R<CreateMultipartUploadOutput> {
        let account = self.account(&req)?;
        let input = req.input;
        let algorithm = input
            .checksum_algorithm
            .as_ref()
            .map(|a| convert::algorithm(a.as_str()))
            .transpose()?;
        let kind = input
            .checksum_type
            .as_ref()
            .map(convert::checksum_type)
            .transpose()?;
        let attributes = attributes_of!(input)?;
        check_replica_metadata(&req.extensions, &attributes)?;
        let upload = self
            .strata
            .create_upload(
                &account,
                &input.bucket,
                &input.key,
                attributes,
                algorithm,
                kind,
            )
            .await
            .map_err(to_s3)?;
        let mut out = CreateMultipartUploadOutput {
            checksum_algorithm: input.checksum_algorithm,
            checksum_type: upload.checksum_type.map(convert::checksum_type_dto),
            ..Default::default()
        };
        set_sse!(out, upload.encryption.as_ref());
        out.bucket = Some(upload.bucket);
        out.key = Some(upload.key);
        out.upload_id = Some(upload.upload_id);
        ok(out)
    }

    async fn upload_part(&self, mut req: S3Request<UploadPartInput>) -> R<UploadPartOutput> {
        let account = self.account(&req)?;
        let checksum = convert::checksum_source(
            checksum_headers_of!(req.input),
            req.input.checksum_algorithm.as_ref().map(|a| a.as_str()),
            &req.headers,
            req.trailing_headers.take(),
        )?;
        let input = req.input;
        let part = PartUpload {
            bucket: input.bucket,
            key: input.key,
            upload_id: input.upload_id,
            part_number: u32::try_from(input.part_number).map_err(|_| {
                invalid_argument("Part number must be an integer between 1 and 10000, inclusive")
            })?,
            body: body_of(input.body),
            content_length: content_length(input.content_length)?,
            content_md5: input.content_md5,
            checksum,
            customer_key: sse::customer_key(
                input.sse_customer_algorithm.as_deref(),
                input.sse_customer_key.as_deref(),
                input.sse_customer_key_md5.as_deref(),
            )?,
        };
        let (part, encryption) = self
            .strata
            .upload_part(&account, part)
            .await
            .map_err(to_s3)?;
        let mut out = UploadPartOutput {
            e_tag: Some(convert::etag(&part.etag)),
            ..Default::default()
        };
        set_sse!(out, encryption.as_ref());
        set_checksums!(out, convert::checksum_fields(part.checksum.as_ref()));
        ok(out)
    }

    async fn upload_part_copy(
        &self,
        req: S3Request<UploadPartCopyInput>,
    ) -> R<UploadPartCopyOutput> {
        let account = self.account(&req)?;
        let input = req.input;
        let (bucket, key, version_id) = copy_source(&input.copy_source)?;
        let source = PartCopySource {
            bucket,
            key,
            version_id,
            range: copy_source_range(input.copy_source_range.as_deref())?,
            conditions: read_conditions(
                input.copy_source_if_match,
                input.copy_source_if_none_match,
                input.copy_source_if_modified_since,
                input.copy_source_if_unmodified_since,
            ),
            customer_key: sse::customer_key(
                input.copy_source_sse_customer_algorithm.as_deref(),
                input.copy_source_sse_customer_key.as_deref(),
                input.copy_source_sse_customer_key_md5.as_deref(),
            )?,
        };
        let part_key = sse::customer_key(
            input.sse_customer_algorithm.as_deref(),
            input.sse_customer_key.as_deref(),
            input.sse_customer_key_md5.as_deref(),
        )?;
        let number = u32::try_from(input.part_number).map_err(|_| {
            invalid_argument("Part number must be an integer between 1 and 10000, inclusive")
        })?;
        let (part, encryption) = self
            .strata
            .upload_part_copy(
                &account,
                (&input.bucket, &input.key, &input.upload_id),
                number,
                source,
                part_key.as_ref(),
            )
            .await
            .map_err(to_s3)?;
        let mut out = UploadPartCopyOutput {
            copy_part_result: Some(CopyPartResult {
                e_tag: Some(convert::etag(&part.etag)),
                last_modified: Some(convert::timestamp(part.last_modified_ms)),
                ..Default::default()
            }),
            ..Default::default()
        };
        set_sse!(out, encryption.as_ref());
        ok(out)
    }

    async fn complete_multipart_upload(
        &self,
        req: S3Request<CompleteMultipartUploadInput>,
    ) -> R<CompleteMultipartUploadOutput> {
        let account = self.account(&req)?;
        let mut input = req.input;
        let expected = CompleteExpectations {
            checksum_type: input
                .checksum_type
                .as_ref()
                .map(convert::checksum_type)
                .transpose()?,
            checksum: convert::checksum_header(checksum_headers_of!(input))?,
            object_size: input.mpu_object_size,
        };
        let parts = input
            .multipart_upload
            .and_then(|m| m.parts)
            .unwrap_or_default()
            .into_iter()
            .map(|p| {
                let number = p
                    .part_number
                    .and_then(|n| u32::try_from(n).ok())
                    .ok_or_else(|| invalid_argument("each part needs a valid PartNumber"))?;
                let checksum = p
                    .checksum_crc32
                    .or(p.checksum_crc32c)
                    .or(p.checksum_crc64nvme)
                    .or(p.checksum_sha1)
                    .or(p.checksum_sha256);
                Ok(CorePart {
                    number,
                    etag: p.e_tag.map(|e| e.value().to_string()).unwrap_or_default(),
                    checksum,
                })
            })
            .collect::<S3Result<Vec<_>>>()?;
        let condition = convert::precondition(input.if_match, input.if_none_match);
        let customer_key = sse::customer_key(
            input.sse_customer_algorithm.as_deref(),
            input.sse_customer_key.as_deref(),
            input.sse_customer_key_md5.as_deref(),
        )?;
        let record = self
            .strata
            .complete_upload(
                &account,
                (&input.bucket, &input.key, &input.upload_id),
                &parts,
                condition,
                customer_key.as_ref(),
                &expected,
            )
            .await
            .map_err(to_s3)?;
        let mut out = CompleteMultipartUploadOutput {
            bucket: Some(input.bucket.clone()),
            key: Some(input.key.clone()),
            location: Some(format!("/{}/{}", input.bucket, input.key)),
            e_tag: Some(convert::etag(&record.etag)),
            version_id: record.version_id.clone(),
            ..Default::default()
        };
        let sse = sse::headers(record.encryption.as_ref());
        out.server_side_encryption = sse.algorithm.map(ServerSideEncryption::from);
        out.ssekms_key_id = sse.kms_key_id;
        let fields = convert::checksum_fields(record.checksum.as_ref());
        out.checksum_type = fields.kind.clone();
        set_checksums!(out, fields);
        let mut resp = S3Response::new(out);
        // CompleteMultipartUploadOutput has no SSE-C fields; S3 sends them.
        for (name, value) in [
            (
                "x-amz-server-side-encryption-customer-algorithm",
                sse.customer_algorithm,
            ),
            (
                "x-amz-server-side-encryption-customer-key-md5",
                sse.customer_key_md5,
            ),
        ] {
            if let Some(v) = value.and_then(|v| http::HeaderValue::from_str(&v).ok()) {
                resp.headers.insert(name, v);
            }
        }
        Ok(resp)
    }

    async fn abort_multipart_upload(
        &self,
        req: S3Request<AbortMultipartUploadInput>,
    ) -> R<AbortMultipartUploadOutput> {
        let account = self.account(&req)?;
        let i = &req.input;
        self.strata
            .abort_upload(&account, &i.bucket, &i.key, &i.upload_id)
            .await
            .map_err(to_s3)?;
        Ok(S3Response::with_status(
            AbortMultipartUploadOutput::default(),
            StatusCode::NO_CONTENT,
        ))
    }

    async fn list_parts(&self, req: S3Request<ListPartsInput>) -> R<ListPartsOutput> {
        let account = self.account(&req)?;
        let input = req.input;
        let upload = self
            .strata
            .get_upload(&account, &input.bucket, &input.key, &input.upload_id)
            .map_err(to_s3)?;
        let marker = match input.part_number_marker {
            Some(m) => u32::try_from(m).map_err(|_| {
                invalid_argument("part-number-marker must be a non-negative integer")
            })?,
            None => 0,
        };
        let max = max_keys(input.max_parts)?.min(1000);
        let (parts, truncated) = self
            .strata
            .list_parts(&upload, marker, max)
            .map_err(to_s3)?;
        let next = parts.last().map(|p| p.number as i32);
        let owner = self
            .strata
            .meta
            .get_account(&upload.owner)
            .ok()
            .flatten()
            .map(|a| convert::owner(&a));
        let algorithm = upload.checksum_algorithm;
        ok(ListPartsOutput {
            bucket: Some(input.bucket),
            key: Some(input.key),
            upload_id: Some(input.upload_id),
            part_number_marker: input.part_number_marker,
            next_part_number_marker: next,
            max_parts: Some(max as i32),
            is_truncated: Some(truncated),
            parts: Some(
                parts
                    .into_iter()
                    .map(|p| {
                        let mut part = Part {
                            part_number: Some(p.number as i32),
                            e_tag: Some(convert::etag(&p.etag)),
                            size: Some(p.size as i64),
                            last_modified: Some(convert::timestamp(p.last_modified_ms)),
                            ..Default::default()
                        };
                        set_checksums!(part, convert::checksum_fields(p.checksum.as_ref()));
                        part
                    })
                    .collect(),
            ),
            initiator: owner.clone().map(|o| Initiator {
                id: o.id,
                display_name: o.display_name,
            }),
            owner,
            storage_class: Some(StorageClass::from_static(StorageClass::STANDARD)),
            checksum_algorithm: algorithm.map(|a| {
                ChecksumAlgorithm::from(convert::strata_core_algorithm_name(a).to_string())
            }),
            checksum_type: upload.checksum_type.map(convert::checksum_type_dto),
            ..Default::default()
        })
    }

    async fn list_multipart_uploads(
        &self,
        req: S3Request<ListMultipartUploadsInput>,
    ) -> R<ListMultipartUploadsOutput> {
        let account = self.account(&req)?;
        let input = req.input;
        let url = encoding_is_url(input.encoding_type.as_ref())?;
        let max = max_keys(input.max_uploads)?.min(1000);
        let listing = self
            .strata
            .list_uploads(
                &account,
                &input.bucket,
                &strata_core::multipart::UploadQuery {
                    prefix: input.prefix.clone().unwrap_or_default(),
                    delimiter: input.delimiter.clone(),
                    key_marker: input.key_marker.clone(),
                    upload_id_marker: input.upload_id_marker.clone(),
                    max,
                },
            )
            .map_err(to_s3)?;
        let last = listing
            .uploads
            .last()
            .map(|u| (u.key.clone(), u.upload_id.clone()));
        ok(ListMultipartUploadsOutput {
            bucket: Some(input.bucket),
            prefix: input.prefix.map(|p| convert::encode_key(p, url)),
            delimiter: input.delimiter,
            key_marker: input.key_marker,
            upload_id_marker: input.upload_id_marker,
            next_key_marker: last
                .as_ref()
                .map(|(k, _)| convert::encode_key(k.clone(), url)),
            next_upload_id_marker: last.map(|(_, id)| id),
            max_uploads: Some(max as i32),
            is_truncated: Some(listing.truncated),
            uploads: Some(
                listing
                    .uploads
                    .into_iter()
                    .map(|u| {
                        let owner = self.owner_of(&u.owner);
                        MultipartUpload {
                            key: Some(convert::encode_key(u.key, url)),
                            upload_id: Some(u.upload_id),
                            initiated: Some(convert::timestamp(u.initiated_ms)),
                            initiator: owner.as_ref().map(|o| Initiator {
                                id: o.id.clone(),
                                display_name: o.display_name.clone(),
                            }),
                            owner,
                            storage_class: Some(StorageClass::from_static(StorageClass::STANDARD)),
                            checksum_algorithm: u.checksum_algorithm.map(|a| {
                                ChecksumAlgorithm::from(
                                    convert::strata_core_algorithm_name(a).to_string(),
                                )
                            }),
                            checksum_type: u.checksum_type.map(convert::checksum_type_dto),
                        }
                    })
                    .collect(),
            ),
            common_prefixes: Some(
                listing
                    .common_prefixes
                    .into_iter()
                    .map(|p| CommonPrefix {
                        prefix: Some(convert::encode_key(p, url)),
                    })
                    .collect(),
            ),
            encoding_type: input.encoding_type,
            ..Default::default()
        })
    }
}

/// Days or Years of a default retention: a positive number when present.
fn retention_period(n: Option<i32>) -> S3Result<Option<u32>> {
    n.map(|n| {
        u32::try_from(n)
            .ok()
            .filter(|n| *n > 0)
            .ok_or_else(|| to_s3(strata_core::Error::InvalidRetentionPeriod))
    })
    .transpose()
}

fn part_number(n: Option<i32>) -> S3Result<Option<u32>> {
    n.map(|n| {
        u32::try_from(n).ok().filter(|n| *n >= 1).ok_or_else(|| {
            invalid_argument("Part number must be an integer between 1 and 10000, inclusive")
        })
    })
    .transpose()
}

fn read_conditions(
    if_match: Option<ETagCondition>,
    if_none_match: Option<ETagCondition>,
    if_modified_since: Option<Timestamp>,
    if_unmodified_since: Option<Timestamp>,
) -> ReadConditions {
    ReadConditions {
        if_match: convert::condition(if_match),
        if_none_match: convert::condition(if_none_match),
        if_modified_since: if_modified_since.map(convert::unix_seconds),
        if_unmodified_since: if_unmodified_since.map(convert::unix_seconds),
    }
}

/// A listing page as the core takes it; an empty marker means no marker.
fn list_query(
    prefix: Option<&str>,
    delimiter: Option<&str>,
    after: Option<&str>,
    max: Option<i32>,
) -> S3Result<ListQuery> {
    Ok(ListQuery {
        prefix: prefix.unwrap_or_default().to_string(),
        delimiter: delimiter.map(str::to_string),
        start_after: after.filter(|a| !a.is_empty()).map(str::to_string),
        limit: max_keys(max)?,
    })
}

fn encoding_is_url(e: Option<&EncodingType>) -> S3Result<bool> {
    match e.map(|e| e.as_str()) {
        None => Ok(false),
        Some(EncodingType::URL) => Ok(true),
        Some(_) => Err(invalid_argument(
            "Invalid Encoding Method specified in Request",
        )),
    }
}

fn split_entries(
    entries: Vec<ListEntry<strata_core::ObjectRecord>>,
    owner: Option<Owner>,
    url: bool,
) -> (Vec<Object>, Vec<CommonPrefix>) {
    let mut contents = Vec::new();
    let mut prefixes = Vec::new();
    for e in entries {
        match e {
            ListEntry::Object(key, r) => contents.push(convert::list_entry(
                convert::encode_key(key, url),
                &r,
                owner.clone(),
            )),
            ListEntry::CommonPrefix(p) => prefixes.push(CommonPrefix {
                prefix: Some(convert::encode_key(p, url)),
            }),
        }
    }
    (contents, prefixes)
}

/// Continuation tokens are the last listed name, base64-encoded (opaque to clients).
fn encode_token(name: &str) -> String {
    base64_simd::URL_SAFE_NO_PAD.encode_to_string(name.as_bytes())
}

fn decode_token(token: &str) -> S3Result<String> {
    base64_simd::URL_SAFE_NO_PAD
        .decode_to_vec(token)
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .ok_or_else(|| invalid_argument("The continuation token provided is incorrect"))
}
