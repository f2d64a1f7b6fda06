//! Server-side encryption on the wire: the `x-amz-server-side-encryption*`
//! request headers, checked and turned into the core's requests, and the
//! headers that tell a client how an object is encrypted.

use md5::{Digest, Md5};
use s3s::{S3Error, S3ErrorCode, S3Result};
use strata_core::encryption::{CustomerKey, DEFAULT_KMS_KEY, SseRequest};
use strata_core::meta::{Encryption, SseScheme};

fn invalid(msg: &str) -> S3Error {
    S3Error::with_message(S3ErrorCode::InvalidArgument, msg.to_string())
}

/// The SSE-C headers of a request (or their copy-source twins).
pub(crate) fn customer_key(
    algorithm: Option<&str>,
    key: Option<&str>,
    key_md5: Option<&str>,
) -> S3Result<Option<CustomerKey>> {
    let (algorithm, key) = match (algorithm, key) {
        (None, None) if key_md5.is_none() => return Ok(None),
        (Some(a), Some(k)) => (a, k),
        (Some(_), None) => {
            return Err(invalid(
                "Requests specifying Server Side Encryption with Customer provided keys must provide an appropriate secret key.",
            ));
        }
        _ => {
            return Err(invalid(
                "Requests specifying Server Side Encryption with Customer provided keys must provide a valid encryption algorithm.",
            ));
        }
    };
    if algorithm != "AES256" {
        return Err(invalid(
            "The encryption algorithm specified is not supported.",
        ));
    }
    let raw = base64_simd::STANDARD
        .decode_to_vec(key)
        .ok()
        .and_then(|k| <[u8; 32]>::try_from(k).ok())
        .ok_or_else(|| invalid("The secret key was invalid for the specified algorithm."))?;
    let computed = base64_simd::STANDARD.encode_to_string(Md5::digest(raw));
    match key_md5 {
        Some(given) if given == computed => Ok(Some(CustomerKey {
            key: raw,
            key_md5: computed,
        })),
        Some(_) => Err(invalid(
            "The calculated MD5 hash of the key did not match the hash that was provided.",
        )),
        None => Err(invalid(
            "Requests specifying Server Side Encryption with Customer provided keys must provide the client calculated MD5 of the secret key.",
        )),
    }
}

/// The encryption a write asks for: `x-amz-server-side-encryption` (with
/// its KMS key id) or SSE-C, never both.
pub(crate) fn request(
    algorithm: Option<&str>,
    kms_key_id: Option<&str>,
    customer: Option<CustomerKey>,
) -> S3Result<Option<SseRequest>> {
    match (algorithm, customer) {
        (Some(_), Some(_)) => Err(invalid(
            "Server Side Encryption with Customer provided key is incompatible with the encryption method specified",
        )),
        (None, Some(c)) if kms_key_id.is_none() => Ok(Some(SseRequest::Customer(c))),
        (None, None) if kms_key_id.is_none() => Ok(None),
        (Some("AES256"), None) if kms_key_id.is_none() => Ok(Some(SseRequest::S3)),
        (Some("aws:kms" | "aws:kms:dsse"), None) => Ok(Some(SseRequest::Kms {
            // As in S3, no key id means the account's default key.
            key_id: kms_key_id.unwrap_or(DEFAULT_KMS_KEY).to_string(),
        })),
        (None | Some("AES256"), _) => Err(invalid(
            "x-amz-server-side-encryption-aws-kms-key-id is only valid with aws:kms encryption",
        )),
        (Some(_), None) => Err(invalid("The encryption method specified is not supported")),
    }
}

/// Reads refuse `x-amz-server-side-encryption`: only writes choose it.
pub(crate) fn refuse_on_read(headers: &http::HeaderMap) -> S3Result<()> {
    if headers.contains_key("x-amz-server-side-encryption") {
        return Err(invalid(
            "x-amz-server-side-encryption is only valid when writing an object",
        ));
    }
    Ok(())
}

/// The headers S3 answers about an object's encryption.
pub(crate) struct SseHeaders {
    pub algorithm: Option<String>,
    pub kms_key_id: Option<String>,
    pub customer_algorithm: Option<String>,
    pub customer_key_md5: Option<String>,
}

pub(crate) fn headers(encryption: Option<&Encryption>) -> SseHeaders {
    let mut h = SseHeaders {
        algorithm: None,
        kms_key_id: None,
        customer_algorithm: None,
        customer_key_md5: None,
    };
    match encryption.map(|e| &e.scheme) {
        Some(SseScheme::S3) => h.algorithm = Some("AES256".into()),
        Some(SseScheme::Kms { key_id }) => {
            h.algorithm = Some("aws:kms".into());
            h.kms_key_id = Some(key_id.clone());
        }
        Some(SseScheme::Customer { key_md5 }) => {
            h.customer_algorithm = Some("AES256".into());
            h.customer_key_md5 = Some(key_md5.clone());
        }
        None => {}
    }
    h
}

/// Sets the encryption fields of an s3s output.
macro_rules! set_sse {
    ($out:expr, $encryption:expr) => {{
        let h = $crate::sse::headers($encryption);
        $out.server_side_encryption = h.algorithm.map(s3s::dto::ServerSideEncryption::from);
        $out.ssekms_key_id = h.kms_key_id;
        $out.sse_customer_algorithm = h.customer_algorithm;
        $out.sse_customer_key_md5 = h.customer_key_md5;
    }};
}
pub(crate) use set_sse;

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "pO3upElrwuEXSoFwCfnZPdSsmt/xWeFa0N9KgDijwVs=";
    const MD5: &str = "DWygnHRtgiJ77HCm+1rvHw==";

    #[test]
    fn customer_keys_are_checked() {
        assert!(
            customer_key(Some("AES256"), Some(KEY), Some(MD5))
                .unwrap()
                .is_some()
        );
        assert!(customer_key(None, None, None).unwrap().is_none());
        for (a, k, m) in [
            (Some("AES256"), Some(KEY), Some("AAAAAAAAAAAAAAAAAAAAAA==")),
            (Some("AES256"), Some(KEY), None),
            (Some("AES256"), None, None),
            (None, Some(KEY), Some(MD5)),
            (Some("AES128"), Some(KEY), Some(MD5)),
            (Some("AES256"), Some("c2hvcnQ="), Some(MD5)),
        ] {
            assert!(customer_key(a, k, m).is_err(), "{a:?} {k:?} {m:?}");
        }
    }

    #[test]
    fn one_encryption_per_request() {
        let c = customer_key(Some("AES256"), Some(KEY), Some(MD5)).unwrap();
        assert!(request(Some("AES256"), None, c.clone()).is_err());
        assert!(matches!(
            request(Some("AES256"), None, None),
            Ok(Some(SseRequest::S3))
        ));
        assert!(matches!(
            request(None, None, c),
            Ok(Some(SseRequest::Customer(_)))
        ));
        assert!(request(Some("AES256"), Some("k"), None).is_err());
        assert!(request(Some("rot13"), None, None).is_err());
    }
}
