//! The records the metadata store keeps. They are Strata's own types: plain
//! data, serialized as JSON (fields may be added with `#[serde(default)]`).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// An account owns buckets; its canonical id is what S3 shows as Owner ID.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountRecord {
    pub id: String,
    pub name: String,
    pub created_ms: i64,
}

/// One access key of an account. The secret is kept because SigV4 needs it.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessKeyRecord {
    pub access_key: String,
    pub secret_key: String,
    pub account_id: String,
    pub created_ms: i64,
    /// The setting that declared the key, if one did: a later start whose
    /// setting no longer names it revokes it. Keys made by `strata admin key
    /// create` (or stored before this field) stay until deleted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub declared_by: Option<KeySource>,
}

/// A server setting that declares access keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum KeySource {
    /// The root keys: given (`STRATA_ACCESS_KEY`…) or generated at start.
    RootSettings,
    /// The accounts file.
    AccountsFile,
}

impl std::fmt::Debug for AccessKeyRecord {
    // Secrets never reach logs, even through a `{:?}`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AccessKeyRecord")
            .field("access_key", &self.access_key)
            .field("account_id", &self.account_id)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BucketRecord {
    pub name: String,
    pub owner: String,
    pub created_ms: i64,
    /// The Strata location new objects of this bucket are written to.
    pub location: String,
    #[serde(default)]
    pub versioning: Versioning,
    /// Object Lock can only be enabled when the bucket is created; such a
    /// bucket versions and can never be suspended.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub object_lock: bool,
}

/// A bucket's versioning state. Once versioned, a bucket never goes back to
/// `Unversioned`: it can only be suspended, as in S3.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum Versioning {
    #[default]
    Unversioned,
    Enabled,
    Suspended,
}

/// The configuration documents a bucket may carry besides its record. Each is
/// stored whole, as JSON of the core's own type, and goes with the bucket.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum BucketConfigKind {
    Tagging,
    Cors,
    Website,
    Lifecycle,
    Replication,
    Notification,
    Encryption,
    Ownership,
    PublicAccessBlock,
    Policy,
    Acl,
    ObjectLock,
}

impl BucketConfigKind {
    pub fn as_str(self) -> &'static str {
        match self {
            BucketConfigKind::Tagging => "tagging",
            BucketConfigKind::Cors => "cors",
            BucketConfigKind::Website => "website",
            BucketConfigKind::Lifecycle => "lifecycle",
            BucketConfigKind::Replication => "replication",
            BucketConfigKind::Notification => "notification",
            BucketConfigKind::Encryption => "encryption",
            BucketConfigKind::Ownership => "ownership",
            BucketConfigKind::PublicAccessBlock => "public-access-block",
            BucketConfigKind::Policy => "policy",
            BucketConfigKind::Acl => "acl",
            BucketConfigKind::ObjectLock => "object-lock",
        }
    }
}

/// The standard content headers S3 stores and returns with an object.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContentHeaders {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_encoding: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_disposition: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_language: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_control: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires: Option<String>,
    /// `x-amz-website-redirect-location`: where the website endpoint sends
    /// a reader of this object instead of its bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub website_redirect_location: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ChecksumAlgorithm {
    Crc32,
    Crc32c,
    Crc64Nvme,
    Sha1,
    Sha256,
}

/// FULL_OBJECT: a checksum of the whole byte stream; COMPOSITE: a checksum of
/// the parts' checksums, suffixed `-N` (multipart uploads).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ChecksumType {
    FullObject,
    Composite,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checksum {
    pub algorithm: ChecksumAlgorithm,
    /// Base64 of the digest, as S3 shows it (composite ones end in `-N`).
    pub value: String,
    pub kind: ChecksumType,
}

/// Where one run of an object's bytes is kept.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum BlobRef {
    /// Small objects live in the metadata store itself (table `inline`), so a
    /// small PUT costs one group-committed transaction and no file.
    Inline(String),
    /// A blob of the object's location, by its backend key.
    Stored(String),
    /// The object copy a replication destination (the locator's location)
    /// holds, pinned to the version that location gave it: where a transient
    /// source's version is read from once its own bytes are gone. The copy is
    /// the destination's: never collected as this version's garbage.
    Copy {
        bucket: String,
        key: String,
        version: String,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Chunk {
    pub size: u64,
    pub blob: BlobRef,
    /// The version the location gave a `Stored` blob (a versioned backend
    /// bucket): reads ask for it, so they get the bytes that were written.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
}

/// The data locator: the location and the ordered chunks of the bytes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DataLocator {
    pub location: String,
    pub chunks: Vec<Chunk>,
}

impl DataLocator {
    /// The backend blobs this locator references (inline chunks excluded).
    pub fn stored_blobs(&self) -> impl Iterator<Item = BlobAddr> + '_ {
        self.chunks.iter().filter_map(|c| match &c.blob {
            BlobRef::Stored(key) => Some(BlobAddr {
                location: self.location.clone(),
                key: key.clone(),
            }),
            BlobRef::Inline(_) | BlobRef::Copy { .. } => None,
        })
    }

    pub fn inline_ids(&self) -> impl Iterator<Item = &str> + '_ {
        self.chunks.iter().filter_map(|c| match &c.blob {
            BlobRef::Inline(id) => Some(id.as_str()),
            BlobRef::Stored(_) | BlobRef::Copy { .. } => None,
        })
    }
}

/// A part of a completed multipart object, for `?partNumber=` and attributes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartSummary {
    pub number: u32,
    pub size: u64,
    pub etag: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checksum: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObjectRecord {
    pub size: u64,
    /// Without quotes: hex MD5, or `hex-N` for multipart objects.
    pub etag: String,
    pub last_modified_ms: i64,
    pub owner: String,
    #[serde(default)]
    pub headers: ContentHeaders,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub user_metadata: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checksum: Option<Checksum>,
    pub data: DataLocator,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub parts: Vec<PartSummary>,
    /// The multipart upload this version was completed from: completing it
    /// again answers with this version, as S3 does.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upload_id: Option<String>,
    /// None for the `null` version (unversioned and suspended buckets); the
    /// store assigns it when the version is committed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version_id: Option<String>,
    /// A delete marker: a version without bytes that hides older ones.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub delete_marker: bool,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub tags: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retention: Option<Retention>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub legal_hold: bool,
    /// None: the default ACL (its owner has FULL_CONTROL).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acl: Option<Acl>,
    /// Set when the bytes are sealed by server-side encryption.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encryption: Option<Encryption>,
    /// Set when a replication rule matched this version, or when it is a replica.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replication: Option<Replication>,
}

/// S3's `x-amz-replication-status`, overall and per destination.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ReplicationStatus {
    Pending,
    Processing,
    Completed,
    Failed,
    /// The version is itself a copy made by replication: never replicated again.
    Replica,
}

impl ReplicationStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            ReplicationStatus::Pending => "PENDING",
            ReplicationStatus::Processing => "PROCESSING",
            ReplicationStatus::Completed => "COMPLETED",
            ReplicationStatus::Failed => "FAILED",
            ReplicationStatus::Replica => "REPLICA",
        }
    }

    /// PENDING or PROCESSING: a copy is still to be made.
    pub fn is_unfinished(self) -> bool {
        matches!(
            self,
            ReplicationStatus::Pending | ReplicationStatus::Processing
        )
    }
}

/// Where a version replicates to and how far each copy got.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Replication {
    pub status: ReplicationStatus,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub destinations: Vec<DestinationState>,
}

/// One destination (a location) of a replicating version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DestinationState {
    pub location: String,
    pub status: ReplicationStatus,
    /// Grows each time the version must be sent again (its tags changed...):
    /// reports about an older round are stale and ignored.
    #[serde(default)]
    pub round: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(default)]
    pub updated_ms: i64,
    /// The version the destination gave its copy, when it keeps versions:
    /// the copy stays readable by it after later versions replace it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub copy_version: Option<String>,
}

/// A replication processor's word on one destination of one version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DestinationReport {
    pub location: String,
    pub round: u32,
    pub status: ReplicationStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// With COMPLETED: the version the destination gave the copy, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub copy_version: Option<String>,
}

impl DestinationReport {
    /// A report without error or copy version.
    pub fn new(location: &str, round: u32, status: ReplicationStatus) -> Self {
        Self {
            location: location.to_string(),
            round,
            status,
            error: None,
            copy_version: None,
        }
    }
}

impl Replication {
    /// A new version bound for `locations`, all PENDING.
    pub fn pending<'a>(locations: impl IntoIterator<Item = &'a str>, now_ms: i64) -> Self {
        let destinations = locations
            .into_iter()
            .map(|location| DestinationState {
                location: location.to_string(),
                status: ReplicationStatus::Pending,
                round: 0,
                error: None,
                updated_ms: now_ms,
                copy_version: None,
            })
            .collect();
        Self {
            status: ReplicationStatus::Pending,
            destinations,
        }
    }

    pub fn replica() -> Self {
        Self {
            status: ReplicationStatus::Replica,
            destinations: Vec::new(),
        }
    }

    pub fn is_replica(&self) -> bool {
        self.status == ReplicationStatus::Replica
    }

    pub fn destination(&self, location: &str) -> Option<&DestinationState> {
        self.destinations.iter().find(|d| d.location == location)
    }

    /// Every destination must receive the version again (its metadata
    /// changed): a new round, PENDING. Replicas stay as they are.
    pub fn resend(&mut self, now_ms: i64) {
        if self.is_replica() {
            return;
        }
        for d in &mut self.destinations {
            d.round += 1;
            d.status = ReplicationStatus::Pending;
            d.error = None;
            d.updated_ms = now_ms;
        }
        self.status = ReplicationStatus::Pending;
    }

    /// Applies a report unless it is about an older round; returns whether
    /// anything changed.
    pub fn apply(&mut self, report: &DestinationReport, now_ms: i64) -> bool {
        if self.destination(&report.location).is_none() {
            // A backfill binds an older version to a destination it lacked.
            if report.status != ReplicationStatus::Pending || self.is_replica() {
                return false;
            }
            self.destinations.push(DestinationState {
                location: report.location.clone(),
                status: ReplicationStatus::Pending,
                round: report.round,
                error: None,
                updated_ms: now_ms,
                copy_version: None,
            });
            self.status = overall(&self.destinations);
            return true;
        }
        let Some(d) = self
            .destinations
            .iter_mut()
            .find(|d| d.location == report.location)
        else {
            return false;
        };
        let stale = report.round < d.round
            // Within a round, a finished copy is not reopened by a late PROCESSING.
            || (report.round == d.round
                && report.status == ReplicationStatus::Processing
                && d.status == ReplicationStatus::Completed);
        // The last completed copy stays readable until a newer one completes.
        let copy_version = match report.status {
            ReplicationStatus::Completed => report.copy_version.clone(),
            _ => d.copy_version.clone(),
        };
        if stale
            || (d.status == report.status
                && d.error == report.error
                && d.round == report.round
                && d.copy_version == copy_version)
        {
            return false;
        }
        d.round = report.round;
        d.status = report.status;
        d.error = report.error.clone();
        d.copy_version = copy_version;
        d.updated_ms = now_ms;
        self.status = overall(&self.destinations);
        true
    }
}

/// The overall status: FAILED if any failed, PROCESSING if any is under
/// way, PENDING if any waits, COMPLETED when all are.
fn overall(destinations: &[DestinationState]) -> ReplicationStatus {
    let any = |s| destinations.iter().any(|d| d.status == s);
    if any(ReplicationStatus::Failed) {
        ReplicationStatus::Failed
    } else if any(ReplicationStatus::Processing) {
        ReplicationStatus::Processing
    } else if any(ReplicationStatus::Pending) {
        ReplicationStatus::Pending
    } else {
        ReplicationStatus::Completed
    }
}

/// How an object's bytes were encrypted, and how to find its data key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Encryption {
    pub scheme: SseScheme,
    /// SSE-S3 and SSE-KMS: the data key sealed by a key derived from the
    /// server's master key (base64 of nonce and ciphertext).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wrapped_key: Option<String>,
    /// SSE-C: the salt the data key is derived with from the customer's key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub salt: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum SseScheme {
    S3,
    Kms {
        key_id: String,
    },
    /// The key's MD5 (as S3 echoes it) tells a wrong key from the right one.
    Customer {
        key_md5: String,
    },
}

/// Who an ACL grant is for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Grantee {
    /// An account, by canonical id.
    Account(String),
    AllUsers,
    AuthenticatedUsers,
    LogDelivery,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Permission {
    FullControl,
    Read,
    Write,
    ReadAcp,
    WriteAcp,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Grant {
    pub grantee: Grantee,
    pub permission: Permission,
}

/// An access control list: S3's per-bucket and per-object grants.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Acl {
    pub owner: String,
    pub grants: Vec<Grant>,
}

impl ObjectRecord {
    /// The version id as S3 shows it.
    pub fn version_name(&self) -> &str {
        self.version_id.as_deref().unwrap_or(NULL_VERSION)
    }

    /// Whether Object Lock forbids removing this version now: a legal hold,
    /// or a retention date not yet reached (GOVERNANCE yields to a bypass).
    pub fn is_protected(&self, now_ms: i64, bypass_governance: bool) -> bool {
        self.legal_hold
            || self.retention.as_ref().is_some_and(|r| {
                r.until_ms > now_ms && !(r.mode == LockMode::Governance && bypass_governance)
            })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum LockMode {
    Governance,
    Compliance,
}

/// Object Lock retention of one version: it may not be removed before `until_ms`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Retention {
    pub mode: LockMode,
    pub until_ms: i64,
}

/// The id S3 gives the version written while a bucket is not versioning.
pub const NULL_VERSION: &str = "null";

/// A change to one version that leaves its bytes and id alone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VersionUpdate {
    Tags(BTreeMap<String, String>),
    Retention(Option<Retention>),
    LegalHold(bool),
    Acl(Acl),
    /// Replication processors' reports; delete markers take them too.
    Replication(Vec<DestinationReport>),
    /// The version's bytes are now read from elsewhere (a transient source's
    /// destination copy): what the old locator held goes to the garbage.
    Relocate(DataLocator),
}

impl VersionUpdate {
    /// What the journal entry says changed.
    pub fn change(&self) -> Change {
        match self {
            VersionUpdate::Tags(_) => Change::Tags,
            VersionUpdate::Retention(_) => Change::Retention,
            VersionUpdate::LegalHold(_) => Change::LegalHold,
            VersionUpdate::Acl(_) => Change::Acl,
            VersionUpdate::Replication(_) => Change::Replication,
            VersionUpdate::Relocate(_) => Change::Relocated,
        }
    }
}

/// What a journal `Update` changed, so extensions pick what concerns them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Change {
    Tags,
    Retention,
    LegalHold,
    Acl,
    Replication,
    Relocated,
}

/// What removing an object (or one of its versions) did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeleteOutcome {
    /// The version removed or the delete marker created (S3 answers its id).
    pub version_id: Option<String>,
    /// True when a delete marker was created or removed.
    pub delete_marker: bool,
    /// True when some version's blobs went to the garbage list.
    pub retired_blobs: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UploadRecord {
    pub bucket: String,
    pub key: String,
    pub upload_id: String,
    pub owner: String,
    pub initiated_ms: i64,
    pub location: String,
    #[serde(default)]
    pub headers: ContentHeaders,
    #[serde(default)]
    pub user_metadata: BTreeMap<String, String>,
    #[serde(default)]
    pub checksum_algorithm: Option<ChecksumAlgorithm>,
    #[serde(default)]
    pub checksum_type: Option<ChecksumType>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub tags: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retention: Option<Retention>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub legal_hold: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acl: Option<Acl>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encryption: Option<Encryption>,
    /// Set when the upload's location assembles the object itself; its
    /// parts are then pieces of that assembly, not blobs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub assembly: Option<Assembly>,
}

/// A multipart object its location assembles from the parts (an S3
/// multipart upload, Azure staged blocks): the blob it becomes, and the
/// backend's id for the assembly.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Assembly {
    pub key: String,
    pub id: String,
}

impl Assembly {
    /// The garbage-list entry of an assembly given up: the collector aborts
    /// it and removes its blob. A NUL joins key and id (no blob key holds one).
    pub fn garbage(&self, location: &str) -> BlobAddr {
        BlobAddr {
            location: location.to_string(),
            key: format!("{}\0{}", self.key, self.id),
        }
    }

    /// The open-blob intent of an assembly about to start, whose id is not
    /// known yet: recorded before the backend is asked, so a crash before
    /// the upload's record commits leaves an entry the collector turns into
    /// "abort every unfinished assembly of this key" (an empty id).
    pub fn starting(location: &str, key: &str) -> BlobAddr {
        Assembly {
            key: key.to_string(),
            id: String::new(),
        }
        .garbage(location)
    }

    /// The assembly a garbage-list key stands for, if it is one.
    pub fn from_garbage(key: &str) -> Option<Assembly> {
        key.rsplit_once('\0').map(|(key, id)| Assembly {
            key: key.to_string(),
            id: id.to_string(),
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartRecord {
    pub number: u32,
    pub size: u64,
    pub etag: String,
    pub last_modified_ms: i64,
    /// Backend key of the part's blob in the upload's location; empty for
    /// a piece of the upload's assembly.
    pub blob: String,
    #[serde(default)]
    pub checksum: Option<Checksum>,
    /// The location's tag of this piece of the upload's assembly.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub piece: Option<String>,
}

/// A blob in a location: the unit the garbage collector removes.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct BlobAddr {
    pub location: String,
    pub key: String,
}

/// A write condition checked atomically with the write (If-Match, If-None-Match).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Precondition {
    /// An ETag (quoted or not) or `*`.
    pub if_match: Option<String>,
    /// An ETag (quoted or not) or `*`.
    pub if_none_match: Option<String>,
}

impl Precondition {
    pub fn holds(&self, current: Option<&ObjectRecord>) -> bool {
        let matches = |want: &str| {
            current.is_some_and(|rec| want == "*" || want.trim_matches('"') == rec.etag)
        };
        self.if_match.as_deref().is_none_or(matches)
            && self.if_none_match.as_deref().is_none_or(|w| !matches(w))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum JournalOp {
    /// A new version (delete markers included); the value is the version.
    Put,
    /// A version removed for good (or the null version of an unversioned bucket).
    Delete,
    /// A version's metadata changed (tags, retention, ...); the value is the version.
    Update,
}

/// One change, committed in the same transaction as the change itself; the
/// background engine tails these by sequence number.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JournalEntry {
    pub seq: u64,
    pub bucket: String,
    pub key: String,
    #[serde(default)]
    pub version_id: Option<String>,
    pub op: JournalOp,
    #[serde(default)]
    pub value: Option<ObjectRecord>,
    /// For `Update`: what changed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub change: Option<Change>,
    pub at_ms: i64,
}

/// A location added with `strata admin location add`. Its declaration is
/// the data layer's own JSON, kept whole: this layer never reads it.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LocationRecord {
    pub name: String,
    /// The declaration (type and settings, secrets included) as JSON.
    pub spec: String,
    pub created_ms: i64,
}

impl std::fmt::Debug for LocationRecord {
    // The declaration may hold secrets: never in logs.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocationRecord")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(etag: &str) -> ObjectRecord {
        ObjectRecord {
            size: 0,
            etag: etag.into(),
            last_modified_ms: 0,
            owner: "o".into(),
            headers: ContentHeaders::default(),
            user_metadata: BTreeMap::new(),
            checksum: None,
            data: DataLocator {
                location: "l".into(),
                chunks: vec![],
            },
            parts: vec![],
            upload_id: None,
            version_id: None,
            delete_marker: false,
            tags: BTreeMap::new(),
            retention: None,
            legal_hold: false,
            acl: None,
            encryption: None,
            replication: None,
        }
    }

    #[test]
    fn preconditions_follow_http_semantics() {
        let r = rec("abc");
        let if_match = |v: &str| Precondition {
            if_match: Some(v.into()),
            if_none_match: None,
        };
        let if_none = |v: &str| Precondition {
            if_match: None,
            if_none_match: Some(v.into()),
        };
        assert!(Precondition::default().holds(None));
        assert!(if_match("\"abc\"").holds(Some(&r)));
        assert!(if_match("*").holds(Some(&r)));
        assert!(!if_match("*").holds(None));
        assert!(!if_match("zzz").holds(Some(&r)));
        assert!(if_none("*").holds(None));
        assert!(!if_none("*").holds(Some(&r)));
        assert!(!if_none("abc").holds(Some(&r)));
        assert!(if_none("zzz").holds(Some(&r)));
    }
}
