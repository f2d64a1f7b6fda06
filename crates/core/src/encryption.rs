//! Server-side encryption: every object gets its own data key, and its bytes
//! are sealed with AES-256-GCM in 64 KiB segments, so encrypted objects still
//! stream, range-read and upload in parts. It never sees HTTP headers.

use std::collections::VecDeque;

use aes_gcm::aead::{Aead, KeyInit};
use aes_gcm::{Aes256Gcm, Nonce};
use bytes::{Bytes, BytesMut};
use futures::{Stream, StreamExt};
use hmac::{Hmac, Mac};
use sha2::Sha256;
use strata_data::{ByteStream, DataError};
use strata_meta::{Encryption, SseScheme};

use crate::{Error, Result};

/// Plaintext bytes per sealed segment; each sealed segment adds a 16-byte tag.
pub const SEGMENT: u64 = 64 * 1024;
const TAG: u64 = 16;

/// How many bytes `plain` bytes take once sealed.
pub fn sealed_len(plain: u64) -> u64 {
    plain + plain.div_ceil(SEGMENT) * TAG
}

/// The KMS key id S3 uses when `aws:kms` names none.
pub const DEFAULT_KMS_KEY: &str = "aws/s3";

/// A customer-provided key (SSE-C), already checked against its MD5.
#[derive(Clone)]
pub struct CustomerKey {
    pub key: [u8; 32],
    /// Base64 MD5 of the key, as the client sent it (and S3 echoes it).
    pub key_md5: String,
}

impl std::fmt::Debug for CustomerKey {
    // The key itself never reaches logs.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CustomerKey")
            .field("key_md5", &self.key_md5)
            .finish_non_exhaustive()
    }
}

/// The encryption a request asks for.
#[derive(Clone, Debug)]
pub enum SseRequest {
    /// SSE-S3: `x-amz-server-side-encryption: AES256`.
    S3,
    /// SSE-KMS with a key id: the key is one of this server's named keys.
    Kms {
        key_id: String,
    },
    Customer(CustomerKey),
}

fn random<const N: usize>() -> [u8; N] {
    let mut out = [0u8; N];
    // getrandom only fails when the OS has no entropy source at all.
    getrandom::fill(&mut out).expect("OS random source");
    out
}

fn hmac(key: &[u8], data: &[u8]) -> [u8; 32] {
    let mut mac =
        <Hmac<Sha256> as hmac::KeyInit>::new_from_slice(key).expect("HMAC takes any key length");
    mac.update(data);
    mac.finalize().into_bytes().into()
}

fn b64(bytes: &[u8]) -> String {
    base64_simd::STANDARD.encode_to_string(bytes)
}

fn unb64(text: &str) -> Result<Vec<u8>> {
    base64_simd::STANDARD
        .decode_to_vec(text)
        .map_err(|_| Error::Internal("stored encryption key is not base64".into()))
}

fn aead(key: &[u8; 32]) -> Aes256Gcm {
    Aes256Gcm::new(&(*key).into())
}

/// The server's master key, from which the keys wrapping SSE-S3 and SSE-KMS
/// data keys derive. Customer keys (SSE-C) never touch it.
pub struct Keyring {
    master: [u8; 32],
}

impl Keyring {
    pub fn new(master: [u8; 32]) -> Self {
        Self { master }
    }

    /// The key that wraps data keys of a scheme (one per KMS key id).
    fn wrapping_key(&self, scheme: &SseScheme) -> [u8; 32] {
        match scheme {
            SseScheme::Kms { key_id } => hmac(&self.master, format!("sse-kms:{key_id}").as_bytes()),
            _ => hmac(&self.master, b"sse-s3"),
        }
    }

    /// The bearer token of the operator API (`/_/backbeat/api/`): derived
    /// from the master key, so whoever holds the key (the `strata` CLI on
    /// the server's machine) can compute it and nobody else can.
    pub fn operator_token(&self) -> String {
        hex_simd::encode_to_string(
            hmac(&self.master, b"operator-api"),
            hex_simd::AsciiCase::Lower,
        )
    }

    /// A fresh data key for a new object or upload, and how to find it again.
    pub fn new_key(&self, asked: &SseRequest) -> Result<(Encryption, [u8; 32])> {
        match asked {
            SseRequest::Customer(customer) => {
                let salt: [u8; 16] = random();
                let key = hmac(&customer.key, &salt);
                let record = Encryption {
                    scheme: SseScheme::Customer {
                        key_md5: customer.key_md5.clone(),
                    },
                    wrapped_key: None,
                    salt: Some(b64(&salt)),
                };
                Ok((record, key))
            }
            other => {
                let scheme = match other {
                    SseRequest::Kms { key_id } => SseScheme::Kms {
                        key_id: key_id.clone(),
                    },
                    _ => SseScheme::S3,
                };
                let key: [u8; 32] = random();
                let nonce: [u8; 12] = random();
                let wrapped = aead(&self.wrapping_key(&scheme))
                    .encrypt(&Nonce::from(nonce), key.as_slice())
                    .map_err(|_| Error::Internal("could not wrap a data key".into()))?;
                let record = Encryption {
                    scheme,
                    wrapped_key: Some(b64(&[nonce.as_slice(), &wrapped].concat())),
                    salt: None,
                };
                Ok((record, key))
            }
        }
    }

    /// The data key of an encrypted object; SSE-C needs the customer's key,
    /// which must be the one the object was written with.
    pub fn data_key(
        &self,
        record: &Encryption,
        customer: Option<&CustomerKey>,
    ) -> Result<[u8; 32]> {
        match (&record.scheme, customer) {
            (SseScheme::Customer { key_md5 }, Some(c)) if *key_md5 == c.key_md5 => {
                let salt = unb64(record.salt.as_deref().unwrap_or_default())?;
                Ok(hmac(&c.key, &salt))
            }
            (SseScheme::Customer { .. }, Some(_)) => Err(Error::InvalidRequest(
                "The provided encryption key does not match the key the object was written with".into(),
            )),
            (SseScheme::Customer { .. }, None) => Err(Error::InvalidRequest(
                "The object was stored using a form of Server Side Encryption. The correct parameters must be provided to retrieve the object.".into(),
            )),
            (_, Some(_)) => Err(Error::InvalidRequest(
                "The encryption parameters are not applicable to this object.".into(),
            )),
            (scheme, None) => {
                let wrapped = unb64(record.wrapped_key.as_deref().unwrap_or_default())?;
                if wrapped.len() < 12 {
                    return Err(Error::Internal("stored data key is truncated".into()));
                }
                let (nonce, sealed) = wrapped.split_at(12);
                let nonce: [u8; 12] = nonce.try_into().map_err(|_| Error::Internal("nonce".into()))?;
                let key = aead(&self.wrapping_key(scheme))
                    .decrypt(&Nonce::from(nonce), sealed)
                    .map_err(|_| Error::Internal("a data key failed to unwrap: wrong master key?".into()))?;
                key.try_into()
                    .map_err(|_| Error::Internal("unwrapped data key has the wrong length".into()))
            }
        }
    }
}

/// One blob's segment cipher: a data key and the part number, which keeps
/// the nonces of different parts under one key apart.
#[derive(Clone)]
pub struct SegmentCipher {
    cipher: Aes256Gcm,
    part: u32,
}

impl SegmentCipher {
    pub fn new(key: &[u8; 32], part: u32) -> Self {
        Self {
            cipher: aead(key),
            part,
        }
    }

    fn nonce(&self, segment: u64) -> [u8; 12] {
        let mut n = [0u8; 12];
        n[..4].copy_from_slice(&self.part.to_be_bytes());
        n[4..].copy_from_slice(&segment.to_be_bytes());
        n
    }

    fn seal(&self, segment: u64, plain: &[u8]) -> Result<Bytes> {
        self.cipher
            .encrypt(&self.nonce(segment).into(), plain)
            .map(Bytes::from)
            .map_err(|_| Error::Internal("encryption failed".into()))
    }

    fn open(&self, segment: u64, sealed: &[u8]) -> std::result::Result<Bytes, DataError> {
        self.cipher
            .decrypt(&self.nonce(segment).into(), sealed)
            .map(Bytes::from)
            .map_err(|_| DataError::Io(std::io::Error::other("stored data failed authentication")))
    }

    /// Seals `data` whole (inline objects).
    pub fn seal_all(&self, data: &[u8]) -> Result<Vec<u8>> {
        let mut sealer = Sealer::new(self.clone());
        let mut out = Vec::with_capacity(sealed_len(data.len() as u64) as usize);
        for b in sealer.push(data)? {
            out.extend_from_slice(&b);
        }
        if let Some(b) = sealer.finish()? {
            out.extend_from_slice(&b);
        }
        Ok(out)
    }
}

/// Seals a stream of plaintext into whole segments as they fill.
pub struct Sealer {
    cipher: SegmentCipher,
    pending: BytesMut,
    next: u64,
}

impl Sealer {
    pub fn new(cipher: SegmentCipher) -> Self {
        Self {
            cipher,
            pending: BytesMut::new(),
            next: 0,
        }
    }

    /// The sealed segments `data` completes.
    pub fn push(&mut self, data: &[u8]) -> Result<Vec<Bytes>> {
        self.pending.extend_from_slice(data);
        let mut out = Vec::new();
        while self.pending.len() as u64 >= SEGMENT {
            let segment = self.pending.split_to(SEGMENT as usize);
            out.push(self.cipher.seal(self.next, &segment)?);
            self.next += 1;
        }
        Ok(out)
    }

    /// The last, partial segment (none when the data ended on a boundary).
    pub fn finish(self) -> Result<Option<Bytes>> {
        if self.pending.is_empty() {
            return Ok(None);
        }
        self.cipher.seal(self.next, &self.pending).map(Some)
    }
}

/// Where plaintext `range` of a blob holding `plain_len` bytes lies once
/// sealed: the sealed byte range to read, the first segment's number, and
/// how many plaintext bytes of that segment come before the range.
pub fn sealed_range(
    range: std::ops::Range<u64>,
    plain_len: u64,
) -> (std::ops::Range<u64>, u64, u64) {
    let first = range.start / SEGMENT;
    let last = range.end.div_ceil(SEGMENT).min(plain_len.div_ceil(SEGMENT));
    let start = first * (SEGMENT + TAG);
    let end = (last * (SEGMENT + TAG)).min(sealed_len(plain_len));
    (start..end, first, range.start - first * SEGMENT)
}

/// Opens a stream of sealed segments (the first being segment `first`) and
/// yields the plaintext from `skip` bytes in, `take` bytes long.
pub fn open_stream(
    cipher: SegmentCipher,
    first: u64,
    skip: u64,
    take: u64,
    sealed: ByteStream,
) -> ByteStream {
    struct State {
        cipher: SegmentCipher,
        input: ByteStream,
        buf: BytesMut,
        segment: u64,
        skip: u64,
        left: u64,
        ready: VecDeque<Bytes>,
        ended: bool,
    }
    let state = State {
        cipher,
        input: sealed,
        buf: BytesMut::new(),
        segment: first,
        skip,
        left: take,
        ready: VecDeque::new(),
        ended: false,
    };
    let stream = futures::stream::unfold(state, |mut s| async move {
        loop {
            if let Some(b) = s.ready.pop_front() {
                return Some((Ok(b), s));
            }
            if s.left == 0 || (s.ended && s.buf.is_empty()) {
                return None;
            }
            let whole = (SEGMENT + TAG) as usize;
            if s.buf.len() >= whole || (s.ended && !s.buf.is_empty()) {
                let n = s.buf.len().min(whole);
                let sealed = s.buf.split_to(n);
                let plain = match s.cipher.open(s.segment, &sealed) {
                    Ok(p) => p,
                    Err(e) => return Some((Err(e), s)),
                };
                s.segment += 1;
                let from = (s.skip as usize).min(plain.len());
                s.skip = 0;
                let to = (from as u64 + s.left).min(plain.len() as u64) as usize;
                s.left -= (to - from) as u64;
                s.ready.push_back(plain.slice(from..to));
                continue;
            }
            match s.input.next().await {
                Some(Ok(chunk)) => s.buf.extend_from_slice(&chunk),
                Some(Err(e)) => return Some((Err(e), s)),
                None => s.ended = true,
            }
        }
    });
    Box::pin(stream) as std::pin::Pin<Box<dyn Stream<Item = strata_data::Result<Bytes>> + Send>>
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sealed_bytes(data: &[u8]) -> Vec<u8> {
        SegmentCipher::new(&[7; 32], 3).seal_all(data).unwrap()
    }

    async fn read(sealed: &[u8], plain_len: u64, range: std::ops::Range<u64>) -> Vec<u8> {
        let (r, first, skip) = sealed_range(range.clone(), plain_len);
        let part = Bytes::copy_from_slice(&sealed[r.start as usize..r.end as usize]);
        // Feed it in odd-sized pieces, as a backend would.
        let pieces: Vec<strata_data::Result<Bytes>> = part
            .chunks(1000)
            .map(|c| Ok(Bytes::copy_from_slice(c)))
            .collect();
        let input: ByteStream = Box::pin(futures::stream::iter(pieces));
        let out = open_stream(
            SegmentCipher::new(&[7; 32], 3),
            first,
            skip,
            range.end - range.start,
            input,
        );
        out.map(|b| b.unwrap().to_vec()).concat().await
    }

    #[tokio::test]
    async fn ranges_of_sealed_data_read_back() {
        let data: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
        let sealed = sealed_bytes(&data);
        assert_eq!(sealed.len() as u64, sealed_len(data.len() as u64));
        for range in [
            0..200_000,
            0..1,
            65_535..65_537,
            131_072..131_073,
            150_000..200_000,
            199_999..200_000,
        ] {
            let got = read(&sealed, data.len() as u64, range.clone()).await;
            assert_eq!(
                got,
                data[range.start as usize..range.end as usize],
                "{range:?}"
            );
        }
    }

    #[test]
    fn keys_wrap_and_customer_keys_must_match() {
        let ring = Keyring::new([1; 32]);
        let (record, key) = ring
            .new_key(&SseRequest::Kms {
                key_id: "k1".into(),
            })
            .unwrap();
        assert_eq!(ring.data_key(&record, None).unwrap(), key);
        assert!(
            Keyring::new([2; 32]).data_key(&record, None).is_err(),
            "another master key"
        );
        let customer = CustomerKey {
            key: [9; 32],
            key_md5: "m".into(),
        };
        let (record, key) = ring
            .new_key(&SseRequest::Customer(customer.clone()))
            .unwrap();
        assert_eq!(ring.data_key(&record, Some(&customer)).unwrap(), key);
        assert!(ring.data_key(&record, None).is_err());
        let other = CustomerKey {
            key: [8; 32],
            key_md5: "n".into(),
        };
        assert!(ring.data_key(&record, Some(&other)).is_err());
    }

    #[test]
    fn tampering_is_detected() {
        let mut sealed = sealed_bytes(b"hello");
        sealed[0] ^= 1;
        assert!(SegmentCipher::new(&[7; 32], 3).open(0, &sealed).is_err());
    }
}
