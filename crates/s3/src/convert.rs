//! Conversions between s3s wire types and the core's own types.

use std::collections::BTreeMap;

use s3s::dto::{self, ETag, ETagCondition, Timestamp, TimestampFormat};
use s3s::{S3Error, S3ErrorCode, S3Result};
use strata_core::meta::{
    ChecksumAlgorithm, ChecksumType, ContentHeaders, LockMode, ObjectRecord, Precondition,
    Retention,
};
use strata_core::objects::{ByteRange, ObjectAttributes};
use strata_core::{AccountRecord, ChecksumSource};
use time::OffsetDateTime;

pub(crate) fn timestamp(ms: i64) -> Timestamp {
    let t = OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .unwrap_or(OffsetDateTime::UNIX_EPOCH);
    Timestamp::from(t)
}

pub(crate) fn unix_seconds(ts: Timestamp) -> i64 {
    OffsetDateTime::from(ts).unix_timestamp()
}

pub(crate) fn unix_ms(ts: Timestamp) -> i64 {
    (OffsetDateTime::from(ts).unix_timestamp_nanos() / 1_000_000) as i64
}

fn malformed(msg: &str) -> S3Error {
    S3Error::with_message(S3ErrorCode::MalformedXML, msg.to_string())
}

pub(crate) fn lock_mode(mode: &str) -> S3Result<LockMode> {
    match mode {
        "GOVERNANCE" => Ok(LockMode::Governance),
        "COMPLIANCE" => Ok(LockMode::Compliance),
        _ => Err(malformed(
            "the Object Lock mode must be GOVERNANCE or COMPLIANCE",
        )),
    }
}

pub(crate) fn lock_mode_name(mode: LockMode) -> &'static str {
    match mode {
        LockMode::Governance => "GOVERNANCE",
        LockMode::Compliance => "COMPLIANCE",
    }
}

/// A legal hold status: ON, OFF, or absent (off).
pub(crate) fn legal_hold(status: Option<&str>) -> S3Result<bool> {
    match status {
        None | Some("OFF") => Ok(false),
        Some("ON") => Ok(true),
        Some(_) => Err(malformed("the legal hold status must be ON or OFF")),
    }
}

/// The Object Lock fields GET and HEAD share.
macro_rules! lock_fields {
    ($out:expr, $record:expr) => {{
        let r: &strata_core::meta::ObjectRecord = $record;
        if let Some(ret) = &r.retention {
            $out.object_lock_mode = Some(s3s::dto::ObjectLockMode::from(
                $crate::convert::lock_mode_name(ret.mode).to_string(),
            ));
            $out.object_lock_retain_until_date = Some($crate::convert::timestamp(ret.until_ms));
        }
        if r.legal_hold {
            $out.object_lock_legal_hold_status =
                Some(s3s::dto::ObjectLockLegalHoldStatus::from_static(
                    s3s::dto::ObjectLockLegalHoldStatus::ON,
                ));
        }
    }};
}
pub(crate) use lock_fields;

pub(crate) fn etag(value: &str) -> ETag {
    ETag::Strong(value.to_string())
}

pub(crate) fn condition(c: Option<ETagCondition>) -> Option<String> {
    c.map(|c| match c {
        ETagCondition::Any => "*".to_string(),
        ETagCondition::ETag(e) => e.value().to_string(),
    })
}

pub(crate) fn precondition(
    if_match: Option<ETagCondition>,
    if_none_match: Option<ETagCondition>,
) -> Precondition {
    Precondition {
        if_match: condition(if_match),
        if_none_match: condition(if_none_match),
    }
}

pub(crate) fn range(r: dto::Range) -> ByteRange {
    match r {
        dto::Range::Int { first, last } => ByteRange::From { first, last },
        dto::Range::Suffix { length } => ByteRange::Suffix(length),
    }
}

pub(crate) fn owner(account: &AccountRecord) -> dto::Owner {
    dto::Owner {
        id: Some(account.id.clone()),
        display_name: Some(account.name.clone()),
    }
}

pub(crate) fn http_date(ts: &Timestamp) -> Option<String> {
    let mut buf = Vec::new();
    ts.format(TimestampFormat::HttpDate, &mut buf).ok()?;
    String::from_utf8(buf).ok()
}

pub(crate) fn expires(value: Option<&String>) -> Option<Timestamp> {
    value.and_then(|v| Timestamp::parse(TimestampFormat::HttpDate, v).ok())
}

/// The content headers and user metadata a request carries.
pub(crate) struct AttributesInput {
    pub content_type: Option<String>,
    pub content_encoding: Option<String>,
    pub content_disposition: Option<String>,
    pub content_language: Option<String>,
    pub cache_control: Option<String>,
    pub expires: Option<Timestamp>,
    pub metadata: Option<dto::Metadata>,
    /// The `x-amz-tagging` header: a URL-encoded query string of tags.
    pub tagging: Option<String>,
    pub canned_acl: Option<String>,
    pub sse: Option<String>,
    pub kms_key_id: Option<String>,
    pub customer_key: Option<strata_core::encryption::CustomerKey>,
    pub grants: crate::acl::GrantHeaders,
    pub lock_mode: Option<dto::ObjectLockMode>,
    pub retain_until: Option<Timestamp>,
    pub legal_hold: Option<dto::ObjectLockLegalHoldStatus>,
    pub website_redirect_location: Option<String>,
}

impl AttributesInput {
    pub(crate) fn into_attributes(self) -> S3Result<ObjectAttributes> {
        let a = self;
        let retention = match (a.lock_mode, a.retain_until) {
            (Some(mode), Some(until)) => Some(Retention {
                mode: lock_mode(mode.as_str())?,
                until_ms: unix_ms(until),
            }),
            (None, None) => None,
            _ => {
                return Err(S3Error::with_message(
                    S3ErrorCode::InvalidArgument,
                    "x-amz-object-lock-retain-until-date and x-amz-object-lock-mode must both be supplied",
                ));
            }
        };
        Ok(ObjectAttributes {
            acl: crate::acl::requested(a.canned_acl.as_deref(), a.grants)?,
            sse: crate::sse::request(a.sse.as_deref(), a.kms_key_id.as_deref(), a.customer_key)?,
            retention,
            legal_hold: legal_hold(a.legal_hold.as_ref().map(|s| s.as_str()))?,
            tags: tags_header(a.tagging.as_deref())?,
            headers: ContentHeaders {
                content_type: a.content_type,
                content_encoding: a.content_encoding.and_then(|e| without_aws_chunked(&e)),
                content_disposition: a.content_disposition,
                content_language: a.content_language,
                cache_control: a.cache_control,
                expires: a.expires.as_ref().and_then(http_date),
                website_redirect_location: a.website_redirect_location,
            },
            user_metadata: a.metadata.unwrap_or_default().into_iter().collect(),
        })
    }
}

/// Parses `x-amz-tagging` (`k1=v1&k2=v2`, form-encoded) into a tag set.
pub(crate) fn tags_header(header: Option<&str>) -> S3Result<BTreeMap<String, String>> {
    let decode = |s: &str| {
        urlencoding::decode(&s.replace('+', " "))
            .map(|c| c.into_owned())
            .map_err(|_| {
                S3Error::with_message(S3ErrorCode::InvalidArgument, "invalid x-amz-tagging header")
            })
    };
    let mut pairs = Vec::new();
    for pair in header
        .unwrap_or_default()
        .split('&')
        .filter(|p| !p.is_empty())
    {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        pairs.push((decode(k)?, decode(v)?));
    }
    strata_core::tags::tag_set(pairs).map_err(crate::error::to_s3)
}

/// A tag set as S3 XML lists it.
pub(crate) fn tag_list(tags: &BTreeMap<String, String>) -> Vec<dto::Tag> {
    tags.iter()
        .map(|(k, v)| dto::Tag {
            key: Some(k.clone()),
            value: Some(v.clone()),
        })
        .collect()
}

/// A tag set from S3 XML.
pub(crate) fn tag_map(tags: Vec<dto::Tag>) -> S3Result<BTreeMap<String, String>> {
    strata_core::tags::tag_set(
        tags.into_iter()
            .map(|t| (t.key.unwrap_or_default(), t.value.unwrap_or_default())),
    )
    .map_err(crate::error::to_s3)
}

/// `aws-chunked` describes how the request body was framed, not the object:
/// S3 does not store it as part of the object's Content-Encoding.
fn without_aws_chunked(encoding: &str) -> Option<String> {
    let kept: Vec<&str> = encoding
        .split(',')
        .map(str::trim)
        .filter(|e| !e.is_empty() && *e != "aws-chunked")
        .collect();
    (!kept.is_empty()).then(|| kept.join(", "))
}

/// Fills the attributes fields of an s3s input into an `AttributesInput`.
macro_rules! attributes_of {
    ($input:expr) => {
        $crate::convert::AttributesInput {
            content_type: $input.content_type.map(|c| c.to_string()),
            content_encoding: $input.content_encoding,
            content_disposition: $input.content_disposition,
            content_language: $input.content_language,
            cache_control: $input.cache_control,
            expires: $input.expires,
            metadata: $input.metadata,
            tagging: $input.tagging,
            canned_acl: $input.acl.as_ref().map(|a| a.as_str().to_string()),
            sse: $input
                .server_side_encryption
                .as_ref()
                .map(|a| a.as_str().to_string()),
            kms_key_id: $input.ssekms_key_id.clone(),
            customer_key: $crate::sse::customer_key(
                $input.sse_customer_algorithm.as_deref(),
                $input.sse_customer_key.as_deref(),
                $input.sse_customer_key_md5.as_deref(),
            )?,
            grants: $crate::acl::grant_headers_of!($input, write: None),
            lock_mode: $input.object_lock_mode,
            retain_until: $input.object_lock_retain_until_date,
            legal_hold: $input.object_lock_legal_hold_status,
            website_redirect_location: $input.website_redirect_location,
        }
        .into_attributes()
    };
}
pub(crate) use attributes_of;

pub(crate) fn algorithm(name: &str) -> S3Result<ChecksumAlgorithm> {
    strata_core::parse_algorithm(name).ok_or_else(|| {
        S3Error::with_message(
            S3ErrorCode::InvalidRequest,
            format!("unsupported checksum algorithm {name}"),
        )
    })
}

/// Parses `x-amz-checksum-type` (`FULL_OBJECT`, `COMPOSITE`).
pub(crate) fn checksum_type(value: &dto::ChecksumType) -> S3Result<ChecksumType> {
    match value.as_str().to_ascii_uppercase().as_str() {
        dto::ChecksumType::FULL_OBJECT => Ok(ChecksumType::FullObject),
        dto::ChecksumType::COMPOSITE => Ok(ChecksumType::Composite),
        _ => Err(S3Error::with_message(
            S3ErrorCode::InvalidRequest,
            "Value for x-amz-checksum-type header is invalid.",
        )),
    }
}

pub(crate) fn checksum_type_dto(kind: ChecksumType) -> dto::ChecksumType {
    dto::ChecksumType::from_static(match kind {
        ChecksumType::FullObject => dto::ChecksumType::FULL_OBJECT,
        ChecksumType::Composite => dto::ChecksumType::COMPOSITE,
    })
}

/// The checksum values a request may carry in headers.
pub(crate) struct ChecksumHeaders {
    pub crc32: Option<String>,
    pub crc32c: Option<String>,
    pub crc64nvme: Option<String>,
    pub sha1: Option<String>,
    pub sha256: Option<String>,
}

macro_rules! checksum_headers_of {
    ($input:expr) => {
        $crate::convert::ChecksumHeaders {
            crc32: $input.checksum_crc32.take(),
            crc32c: $input.checksum_crc32c.take(),
            crc64nvme: $input.checksum_crc64nvme.take(),
            sha1: $input.checksum_sha1.take(),
            sha256: $input.checksum_sha256.take(),
        }
    };
}
pub(crate) use checksum_headers_of;

/// The one `x-amz-checksum-<algorithm>` header a request carries, if any.
pub(crate) fn checksum_header(
    given: ChecksumHeaders,
) -> S3Result<Option<(ChecksumAlgorithm, String)>> {
    let values = [
        (ChecksumAlgorithm::Crc32, given.crc32),
        (ChecksumAlgorithm::Crc32c, given.crc32c),
        (ChecksumAlgorithm::Crc64Nvme, given.crc64nvme),
        (ChecksumAlgorithm::Sha1, given.sha1),
        (ChecksumAlgorithm::Sha256, given.sha256),
    ];
    let mut present = values.into_iter().filter_map(|(a, v)| v.map(|v| (a, v)));
    let first = present.next();
    if first.is_some() && present.next().is_some() {
        return Err(S3Error::with_message(
            S3ErrorCode::InvalidRequest,
            "Expecting a single x-amz-checksum- header. Multiple checksum Types are not allowed.",
        ));
    }
    Ok(first)
}

/// Where a body's checksum comes from: a header value, an aws-chunked
/// trailer announced in `x-amz-trailer`, or only an algorithm to compute.
pub(crate) fn checksum_source(
    given: ChecksumHeaders,
    algorithm_name: Option<&str>,
    headers: &http::HeaderMap,
    trailers: Option<s3s::TrailingHeaders>,
) -> S3Result<ChecksumSource> {
    if let Some((a, v)) = checksum_header(given)? {
        return Ok(ChecksumSource::Header(a, v));
    }
    let trailer = headers
        .get("x-amz-trailer")
        .and_then(|v| v.to_str().ok())
        .map(str::trim);
    if let Some(name) = trailer.and_then(|t| t.strip_prefix("x-amz-checksum-")) {
        let alg = algorithm(name)?;
        let header = format!("x-amz-checksum-{name}");
        let read = move || {
            trailers.and_then(|t| {
                t.read(|h| {
                    h.get(header.as_str())
                        .and_then(|v| v.to_str().ok())
                        .map(str::to_string)
                })
                .flatten()
            })
        };
        return Ok(ChecksumSource::Trailer(alg, Box::new(read)));
    }
    Ok(match algorithm_name {
        Some(name) => ChecksumSource::Compute(algorithm(name)?),
        None => ChecksumSource::None,
    })
}

/// The `x-amz-checksum-*` fields of a response, from a record's checksum.
pub(crate) struct ChecksumFields {
    pub crc32: Option<String>,
    pub crc32c: Option<String>,
    pub crc64nvme: Option<String>,
    pub sha1: Option<String>,
    pub sha256: Option<String>,
    pub kind: Option<dto::ChecksumType>,
}

pub(crate) fn checksum_fields(checksum: Option<&strata_core::meta::Checksum>) -> ChecksumFields {
    let mut f = ChecksumFields {
        crc32: None,
        crc32c: None,
        crc64nvme: None,
        sha1: None,
        sha256: None,
        kind: None,
    };
    if let Some(c) = checksum {
        let slot = match c.algorithm {
            ChecksumAlgorithm::Crc32 => &mut f.crc32,
            ChecksumAlgorithm::Crc32c => &mut f.crc32c,
            ChecksumAlgorithm::Crc64Nvme => &mut f.crc64nvme,
            ChecksumAlgorithm::Sha1 => &mut f.sha1,
            ChecksumAlgorithm::Sha256 => &mut f.sha256,
        };
        *slot = Some(c.value.clone());
        f.kind = Some(checksum_type_dto(c.kind));
    }
    f
}

/// The checksum of part `number` of a multipart object, of the object's
/// algorithm and type.
pub(crate) fn part_checksum(
    record: &strata_core::ObjectRecord,
    number: u32,
) -> Option<strata_core::meta::Checksum> {
    let whole = record.checksum.as_ref()?;
    let part = record.parts.iter().find(|p| p.number == number)?;
    Some(strata_core::meta::Checksum {
        value: part.checksum.clone()?,
        ..whole.clone()
    })
}

/// Sets the checksum fields of an s3s output from `ChecksumFields`.
macro_rules! set_checksums {
    ($out:expr, $fields:expr) => {{
        let f = $fields;
        $out.checksum_crc32 = f.crc32;
        $out.checksum_crc32c = f.crc32c;
        $out.checksum_crc64nvme = f.crc64nvme;
        $out.checksum_sha1 = f.sha1;
        $out.checksum_sha256 = f.sha256;
    }};
}
pub(crate) use set_checksums;

/// The fields GET and HEAD share, from a record.
macro_rules! object_fields {
    ($out:expr, $record:expr) => {{
        let r: &strata_core::meta::ObjectRecord = $record;
        $out.e_tag = Some($crate::convert::etag(&r.etag));
        $out.last_modified = Some($crate::convert::timestamp(r.last_modified_ms));
        // S3 answers its default type for objects stored without one.
        $out.content_type = Some(
            r.headers
                .content_type
                .clone()
                .unwrap_or_else(|| "binary/octet-stream".into()),
        );
        $out.content_encoding = r.headers.content_encoding.clone();
        $out.content_disposition = r.headers.content_disposition.clone();
        $out.content_language = r.headers.content_language.clone();
        $out.cache_control = r.headers.cache_control.clone();
        $out.expires = $crate::convert::expires(r.headers.expires.as_ref());
        $out.website_redirect_location = r.headers.website_redirect_location.clone();
        if !r.user_metadata.is_empty() {
            $out.metadata = Some(r.user_metadata.clone().into_iter().collect());
        }
        $out.accept_ranges = Some("bytes".into());
        $out.replication_status = r
            .replication
            .as_ref()
            .map(|x| s3s::dto::ReplicationStatus::from(x.status.as_str().to_string()));
    }};
}
pub(crate) use object_fields;

/// An entry of a listing.
pub(crate) fn list_entry(key: String, r: &ObjectRecord, owner: Option<dto::Owner>) -> dto::Object {
    dto::Object {
        key: Some(key),
        e_tag: Some(etag(&r.etag)),
        last_modified: Some(timestamp(r.last_modified_ms)),
        size: Some(r.size as i64),
        storage_class: Some(dto::ObjectStorageClass::from_static(
            dto::ObjectStorageClass::STANDARD,
        )),
        owner,
        checksum_algorithm: r.checksum.as_ref().map(|c| {
            vec![dto::ChecksumAlgorithm::from(
                strata_core_algorithm_name(c.algorithm).to_string(),
            )]
        }),
        ..Default::default()
    }
}

pub(crate) fn strata_core_algorithm_name(a: ChecksumAlgorithm) -> &'static str {
    match a {
        ChecksumAlgorithm::Crc32 => "CRC32",
        ChecksumAlgorithm::Crc32c => "CRC32C",
        ChecksumAlgorithm::Crc64Nvme => "CRC64NVME",
        ChecksumAlgorithm::Sha1 => "SHA1",
        ChecksumAlgorithm::Sha256 => "SHA256",
    }
}

/// `encoding-type=url`: keys and prefixes in a listing are URL-encoded.
pub(crate) fn encode_key(key: String, url: bool) -> String {
    if url {
        urlencoding::encode(&key).replace("%2F", "/")
    } else {
        key
    }
}
