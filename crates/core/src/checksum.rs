//! Digests of bodies in flight: the MD5 behind every ETag and the one
//! additional checksum (CRC32, CRC32C, CRC64NVME, SHA-1, SHA-256) a client may
//! ask S3 to verify and keep.

use md5::Digest as _;
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
    md5: md5::Md5,
    checksum: Option<(ChecksumAlgorithm, Hasher)>,
    pub size: u64,
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
            md5: md5::Md5::new(),
            checksum: algorithm.map(|a| (a, Hasher::new(a))),
            size: 0,
        }
    }

    pub fn update(&mut self, data: &[u8]) {
        self.md5.update(data);
        if let Some((_, h)) = &mut self.checksum {
            h.update(data);
        }
        self.size += data.len() as u64;
    }

    /// Finishes the digests and verifies them against what the client sent.
    pub fn verify(self, content_md5: Option<&str>, source: ChecksumSource) -> Result<BodyDigests> {
        let md5: [u8; 16] = self.md5.finalize().into();
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
