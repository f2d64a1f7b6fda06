//! HTTP conditional requests as S3 evaluates them on GET, HEAD and the
//! source of a copy.

use strata_meta::ObjectRecord;

use crate::{Error, Result};

/// The four conditional headers; dates are unix seconds.
#[derive(Debug, Clone, Default)]
pub struct ReadConditions {
    pub if_match: Option<String>,
    pub if_none_match: Option<String>,
    pub if_modified_since: Option<i64>,
    pub if_unmodified_since: Option<i64>,
}

fn etag_matches(list: &str, etag: &str) -> bool {
    list.split(',')
        .map(|t| t.trim().trim_start_matches("W/").trim_matches('"'))
        .any(|t| t == "*" || t == etag)
}

impl ReadConditions {
    /// For GET and HEAD: 412 for a failed If-Match / If-Unmodified-Since,
    /// 304 for a failed If-None-Match / If-Modified-Since. As in RFC 7232, a
    /// date condition is ignored when its ETag counterpart is present.
    pub fn check(&self, record: &ObjectRecord) -> Result<()> {
        self.evaluate(record, || Error::NotModified {
            etag: record.etag.clone(),
        })
    }

    /// For the source of a copy, every failure is a 412.
    pub fn check_copy_source(&self, record: &ObjectRecord) -> Result<()> {
        self.evaluate(record, || Error::PreconditionFailed)
    }

    fn evaluate(&self, record: &ObjectRecord, not_modified: impl Fn() -> Error) -> Result<()> {
        let modified_s = record.last_modified_ms.div_euclid(1000);
        match &self.if_match {
            Some(list) if !etag_matches(list, &record.etag) => {
                return Err(Error::PreconditionFailed);
            }
            Some(_) => {}
            None => {
                if self.if_unmodified_since.is_some_and(|t| modified_s > t) {
                    return Err(Error::PreconditionFailed);
                }
            }
        }
        match &self.if_none_match {
            Some(list) if etag_matches(list, &record.etag) => return Err(not_modified()),
            Some(_) => {}
            None => {
                if self.if_modified_since.is_some_and(|t| modified_s <= t) {
                    return Err(not_modified());
                }
            }
        }
        Ok(())
    }
}
