//! Digests of bodies in flight: the MD5 behind every ETag and the one
//! additional checksum (CRC32, CRC32C, CRC64NVME, SHA-1, SHA-256) a client may
//! ask S3 to verify and keep.

use md5::Digest as _;
use strata_data::{BlobWriter, Committed};
use strata_meta::{Checksum, ChecksumAlgorithm, ChecksumType};

use crate::{Error, Result};

/// Where the checksum of a body comes from, as the client sent it.
pub enum ChecksumSource {
    None,
    /// Compute and keep a checksum of this algorithm; nothing to verify.
    Compute(ChecksumAlgorithm),
    /// Verify against a base64 value sent before the body.
    Header(ChecksumAlgorithm, String),
    /// Verify against a value that arrives after the body (aws-chunked
    /// trailer); the closure is called once the body has been read.
    Trailer(
        ChecksumAlgorithm,
        Box<dyn FnOnce() -> Option<String> + Send>,
    ),
}

impl ChecksumSource {
    /// Whether the client sent a value to verify the body against.
    pub fn is_expected(&self) -> bool {
        matches!(
            self,
            ChecksumSource::Header(..) | ChecksumSource::Trailer(..)
        )
    }

    pub fn algorithm(&self) -> Option<ChecksumAlgorithm> {
        match self {
            ChecksumSource::None => None,
            ChecksumSource::Compute(a)
            | ChecksumSource::Header(a, _)
            | ChecksumSource::Trailer(a, _) => Some(*a),
        }
    }
}

/// Parses S3's algorithm names (`CRC32`, `crc32c`, ...).
pub fn parse_algorithm(name: &str) -> Option<ChecksumAlgorithm> {
    Some(match name.to_ascii_uppercase().as_str() {
        "CRC32" => ChecksumAlgorithm::Crc32,
        "CRC32C" => ChecksumAlgorithm::Crc32c,
        "CRC64NVME" => ChecksumAlgorithm::Crc64Nvme,
        "SHA1" => ChecksumAlgorithm::Sha1,
        "SHA256" => ChecksumAlgorithm::Sha256,
        _ => return None,
    })
}

enum Hasher {
    Crc(crc_fast::Digest, usize),
    Sha1(sha1::Sha1),
    Sha256(sha2::Sha256),
}

impl Hasher {
    fn new(algorithm: ChecksumAlgorithm) -> Self {
        use crc_fast::CrcAlgorithm::*;
        match algorithm {
            ChecksumAlgorithm::Crc32 => Hasher::Crc(crc_fast::Digest::new(Crc32IsoHdlc), 4),
            ChecksumAlgorithm::Crc32c => Hasher::Crc(crc_fast::Digest::new(Crc32Iscsi), 4),
            ChecksumAlgorithm::Crc64Nvme => Hasher::Crc(crc_fast::Digest::new(Crc64Nvme), 8),
            ChecksumAlgorithm::Sha1 => Hasher::Sha1(sha1::Sha1::new()),
            ChecksumAlgorithm::Sha256 => Hasher::Sha256(sha2::Sha256::new()),
        }
    }

    fn update(&mut self, data: &[u8]) {
        match self {
            Hasher::Crc(d, _) => d.update(data),
            Hasher::Sha1(d) => d.update(data),
            Hasher::Sha256(d) => d.update(data),
        }
    }

    fn finalize(self) -> Vec<u8> {
        match self {
            Hasher::Crc(d, width) => d.finalize().to_be_bytes()[8 - width..].to_vec(),
            Hasher::Sha1(d) => d.finalize().to_vec(),
            Hasher::Sha256(d) => d.finalize().to_vec(),
        }
    }
}

pub(crate) fn base64(bytes: &[u8]) -> String {
    base64_simd::STANDARD.encode_to_string(bytes)
}

#[cfg(test)]
pub(crate) fn digest(algorithm: ChecksumAlgorithm, data: &[u8]) -> Vec<u8> {
    let mut h = Hasher::new(algorithm);
    h.update(data);
    h.finalize()
}

/// Hashes a body as it streams by.
pub(crate) struct BodyHasher {
    md5: Md5,
    checksum: Option<(ChecksumAlgorithm, Hasher)>,
    pub size: u64,
}

/// Where a body's MD5 comes from.
enum Md5 {
    Hashing(md5::Md5),
    /// The location the body went to computed it, and its writer's commit
    /// reported it (None until then).
    FromLocation(Option<[u8; 16]>),
}

/// What a body hashed to.
pub(crate) struct BodyDigests {
    pub md5: [u8; 16],
    pub size: u64,
    pub checksum: Option<Checksum>,
}

impl BodyHasher {
    pub fn new(algorithm: Option<ChecksumAlgorithm>) -> Self {
        Self {
            md5: Md5::Hashing(md5::Md5::new()),
            checksum: algorithm.map(|a| (a, Hasher::new(a))),
            size: 0,
        }
    }

    /// Leaves the MD5 to `writer` when it reports one and no byte has been
    /// hashed yet: hashing every byte costs about a core per 500 MiB/s, and
    /// the location computes the same digest of what it stored. Returns
    /// whether it did; the commit's report must then be given to
    /// `location_committed`.
    pub fn leave_md5_to(&mut self, writer: &dyn BlobWriter) -> bool {
        let leave = self.size == 0 && writer.reports_md5();
        if leave {
            self.md5 = Md5::FromLocation(None);
        }
        leave
    }

    /// Takes the MD5 a writer's commit reported, if the MD5 was left to it.
    pub fn location_committed(&mut self, committed: &Committed) {
        if let Md5::FromLocation(md5) = &mut self.md5 {
            *md5 = committed.md5;
        }
    }

    pub fn update(&mut self, data: &[u8]) {
        if let Md5::Hashing(md5) = &mut self.md5 {
            md5.update(data);
        }
        if let Some((_, h)) = &mut self.checksum {
            h.update(data);
        }
        self.size += data.len() as u64;
    }

    /// Finishes the digests and verifies them against what the client sent.
    pub fn verify(self, content_md5: Option<&str>, source: ChecksumSource) -> Result<BodyDigests> {
        let md5: [u8; 16] = match self.md5 {
            Md5::Hashing(md5) => md5.finalize().into(),
            Md5::FromLocation(Some(md5)) => md5,
            Md5::FromLocation(None) => {
                return Err(Error::Internal(
                    "the location reported no MD5 of the body".into(),
                ));
            }
        };
        if let Some(expected) = content_md5 {
            let expected = base64_simd::STANDARD
                .decode_to_vec(expected)
                .map_err(|_| Error::InvalidDigest)?;
            if expected.len() != 16 {
                return Err(Error::InvalidDigest);
            }
            if expected != md5 {
                return Err(Error::BadDigest(
                    "The Content-MD5 you specified did not match what we received.".into(),
                ));
            }
        }
        let checksum = self.checksum.map(|(algorithm, h)| Checksum {
            algorithm,
            value: base64(&h.finalize()),
            kind: ChecksumType::FullObject,
        });
        let expected = match source {
            ChecksumSource::None | ChecksumSource::Compute(_) => None,
            ChecksumSource::Header(_, value) => Some(value),
            ChecksumSource::Trailer(algorithm, read) => Some(read().ok_or_else(|| {
                Error::InvalidRequest(format!(
                    "the trailer x-amz-checksum-{} is missing",
                    name(algorithm)
                ))
            })?),
        };
        if let (Some(expected), Some(actual)) = (expected, &checksum)
            && expected != actual.value
        {
            return Err(Error::BadDigest(format!(
                "the {} you specified did not match the calculated checksum",
                name(actual.algorithm)
            )));
        }
        Ok(BodyDigests {
            md5,
            size: self.size,
            checksum,
        })
    }
}

/// The lowercase name used in header names: `x-amz-checksum-<name>`.
pub fn name(algorithm: ChecksumAlgorithm) -> &'static str {
    match algorithm {
        ChecksumAlgorithm::Crc32 => "crc32",
        ChecksumAlgorithm::Crc32c => "crc32c",
        ChecksumAlgorithm::Crc64Nvme => "crc64nvme",
        ChecksumAlgorithm::Sha1 => "sha1",
        ChecksumAlgorithm::Sha256 => "sha256",
    }
}

/// The composite checksum of a multipart object: the digest of the parts'
/// binary digests, suffixed with the part count.
pub(crate) fn composite(algorithm: ChecksumAlgorithm, part_checksums: &[&str]) -> Result<Checksum> {
    let mut h = Hasher::new(algorithm);
    for value in part_checksums {
        let raw = base64_simd::STANDARD
            .decode_to_vec(value)
            .map_err(|_| Error::Internal("stored part checksum is not base64".into()))?;
        h.update(&raw);
    }
    Ok(Checksum {
        algorithm,
        value: format!("{}-{}", base64(&h.finalize()), part_checksums.len()),
        kind: ChecksumType::Composite,
    })
}

/// The checksum type of a new multipart upload, from the algorithm and the
/// `x-amz-checksum-type` the client asked for: CRC64NVME is FULL_OBJECT only
/// (and its default), SHA-1 and SHA-256 are COMPOSITE only, CRC32 and CRC32C
/// default to COMPOSITE.
pub fn upload_checksum_type(
    algorithm: Option<ChecksumAlgorithm>,
    requested: Option<ChecksumType>,
) -> Result<Option<ChecksumType>> {
    use ChecksumAlgorithm::*;
    let Some(algorithm) = algorithm else {
        return match requested {
            Some(_) => Err(Error::InvalidRequest(
                "The x-amz-checksum-type header can only be used with the x-amz-checksum-algorithm header."
                    .into(),
            )),
            None => Ok(None),
        };
    };
    let kind = match (algorithm, requested) {
        (Crc64Nvme, None) => ChecksumType::FullObject,
        (_, None) => ChecksumType::Composite,
        (Sha1 | Sha256, Some(ChecksumType::FullObject)) => {
            return Err(Error::InvalidRequest(format!(
                "The FULL_OBJECT checksum type cannot be used with the {} checksum algorithm.",
                name(algorithm)
            )));
        }
        (Crc64Nvme, Some(ChecksumType::Composite)) => {
            return Err(Error::InvalidRequest(
                "The COMPOSITE checksum type cannot be used with the crc64nvme checksum algorithm."
                    .into(),
            ));
        }
        (_, Some(kind)) => kind,
    };
    Ok(Some(kind))
}

/// The full-object checksum of a multipart object: the CRC of the whole byte
/// stream, combined from each part's CRC (base64, as stored) and size.
pub(crate) fn full_object(algorithm: ChecksumAlgorithm, parts: &[(&str, u64)]) -> Result<Checksum> {
    use crc_fast::CrcAlgorithm::*;
    let (crc, width) = match algorithm {
        ChecksumAlgorithm::Crc32 => (Crc32IsoHdlc, 4),
        ChecksumAlgorithm::Crc32c => (Crc32Iscsi, 4),
        ChecksumAlgorithm::Crc64Nvme => (Crc64Nvme, 8),
        ChecksumAlgorithm::Sha1 | ChecksumAlgorithm::Sha256 => {
            return Err(Error::InvalidRequest(format!(
                "The FULL_OBJECT checksum type cannot be used with the {} checksum algorithm.",
                name(algorithm)
            )));
        }
    };
    let mut whole: Option<u64> = None;
    for (value, size) in parts {
        let raw = base64_simd::STANDARD
            .decode_to_vec(value)
            .map_err(|_| Error::Internal("stored part checksum is not base64".into()))?;
        if raw.len() != width {
            return Err(Error::Internal(
                "stored part checksum has the wrong length".into(),
            ));
        }
        let part = raw.iter().fold(0u64, |acc, b| (acc << 8) | u64::from(*b));
        whole = Some(match whole {
            None => part,
            Some(before) => crc_fast::checksum_combine(crc, before, part, *size),
        });
    }
    let whole = whole.unwrap_or_else(|| crc_fast::checksum(crc, b""));
    Ok(Checksum {
        algorithm,
        value: base64(&whole.to_be_bytes()[8 - width..]),
        kind: ChecksumType::FullObject,
    })
}

pub(crate) fn md5_hex(data: &[u8]) -> String {
    hex_simd::encode_to_string(md5::Md5::digest(data), hex_simd::AsciiCase::Lower)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_digests() {
        // Reference values of the 9-byte "123456789" check input.
        let crc32 = digest(ChecksumAlgorithm::Crc32, b"123456789");
        assert_eq!(crc32, 0xCBF4_3926u32.to_be_bytes());
        let crc32c = digest(ChecksumAlgorithm::Crc32c, b"123456789");
        assert_eq!(crc32c, 0xE306_9283u32.to_be_bytes());
        assert_eq!(digest(ChecksumAlgorithm::Crc64Nvme, b"123456789").len(), 8);
        assert_eq!(
            base64(&digest(ChecksumAlgorithm::Sha256, b"")),
            "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="
        );
    }

    /// Part checksums as UploadPart stores them: base64 of each part's digest.
    fn parts_of(algorithm: ChecksumAlgorithm, parts: &[&[u8]]) -> Vec<(String, u64)> {
        parts
            .iter()
            .map(|p| (base64(&digest(algorithm, p)), p.len() as u64))
            .collect()
    }

    #[test]
    fn full_object_equals_the_crc_of_the_concatenated_bytes() {
        let big: Vec<u8> = (0..70_000u32).map(|i| (i * 31 % 251) as u8).collect();
        let cases: [&[&[u8]]; 5] = [
            &[b"123456789"],
            &[b"1234", b"56789"],
            &[&big[..40_000], &big[40_000..65_536], &big[65_536..]],
            &[b"", b"abc", b""],
            &[b"x", &big],
        ];
        for algorithm in [
            ChecksumAlgorithm::Crc32,
            ChecksumAlgorithm::Crc32c,
            ChecksumAlgorithm::Crc64Nvme,
        ] {
            for parts in cases {
                let stored = parts_of(algorithm, parts);
                let refs: Vec<(&str, u64)> = stored.iter().map(|(v, n)| (v.as_str(), *n)).collect();
                let combined = full_object(algorithm, &refs).expect("combine");
                let whole = base64(&digest(algorithm, &parts.concat()));
                assert_eq!(
                    combined.value,
                    whole,
                    "{algorithm:?} over {} parts",
                    parts.len()
                );
                assert_eq!(combined.kind, ChecksumType::FullObject);
            }
        }
    }

    #[test]
    fn full_object_matches_the_s3_tests_vectors() {
        // ceph/s3-tests test_multipart_use_cksum_helper_*: three 5 MiB parts
        // of 'A', 'B' and 'C'.
        let parts: Vec<Vec<u8>> = [b'A', b'B', b'C'].map(|c| vec![c; 5 << 20]).into();
        let parts: Vec<&[u8]> = parts.iter().map(Vec::as_slice).collect();
        for (algorithm, want) in [
            (ChecksumAlgorithm::Crc32, "WgDhBQ=="),
            (ChecksumAlgorithm::Crc32c, "xU+Krw=="),
            (ChecksumAlgorithm::Crc64Nvme, "i+6LR0y3eFo="),
        ] {
            let stored = parts_of(algorithm, &parts);
            let refs: Vec<(&str, u64)> = stored.iter().map(|(v, n)| (v.as_str(), *n)).collect();
            assert_eq!(full_object(algorithm, &refs).expect("combine").value, want);
        }
    }

    #[test]
    fn full_object_refuses_sha_and_bad_part_values() {
        assert!(matches!(
            full_object(ChecksumAlgorithm::Sha256, &[("AAAA", 3)]),
            Err(Error::InvalidRequest(_))
        ));
        assert!(full_object(ChecksumAlgorithm::Crc32, &[("not base64!", 3)]).is_err());
        // A CRC64NVME-sized value where a CRC32 is expected.
        assert!(full_object(ChecksumAlgorithm::Crc32, &[("AAAAAAAAAAA=", 3)]).is_err());
    }

    #[test]
    fn upload_checksum_types() {
        use ChecksumAlgorithm::*;
        use ChecksumType::*;
        let t = upload_checksum_type;
        assert_eq!(t(None, None).ok(), Some(None));
        assert!(t(None, Some(FullObject)).is_err());
        assert_eq!(t(Some(Crc32), None).ok(), Some(Some(Composite)));
        assert_eq!(
            t(Some(Crc32c), Some(FullObject)).ok(),
            Some(Some(FullObject))
        );
        assert_eq!(t(Some(Crc64Nvme), None).ok(), Some(Some(FullObject)));
        assert!(t(Some(Crc64Nvme), Some(Composite)).is_err());
        assert!(t(Some(Sha256), Some(FullObject)).is_err());
        assert!(t(Some(Sha1), Some(FullObject)).is_err());
        assert_eq!(t(Some(Sha1), Some(Composite)).ok(), Some(Some(Composite)));
    }

    #[test]
    fn content_md5_is_verified() {
        let mut h = BodyHasher::new(None);
        h.update(b"hello");
        assert!(matches!(
            h.verify(Some("not base64!"), ChecksumSource::None),
            Err(Error::InvalidDigest)
        ));
        let mut h = BodyHasher::new(None);
        h.update(b"hello");
        assert!(
            h.verify(Some("XUFAKrxLKna5cZ2REBfFkg=="), ChecksumSource::None)
                .is_ok()
        );
        let mut h = BodyHasher::new(None);
        h.update(b"hellO");
        assert!(matches!(
            h.verify(Some("XUFAKrxLKna5cZ2REBfFkg=="), ChecksumSource::None),
            Err(Error::BadDigest(_))
        ));
    }
}
