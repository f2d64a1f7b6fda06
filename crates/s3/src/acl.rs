//! ACLs on the wire: canned names, `x-amz-grant-*` headers and the
//! AccessControlPolicy XML, to and from the core's `Acl` records.

use s3s::dto;
use s3s::{S3Error, S3ErrorCode, S3Result};
use strata_core::Strata;
use strata_core::access::AclRequest;
use strata_core::meta::{Acl, Grant, Grantee, Permission};

const ALL_USERS: &str = "http://acs.amazonaws.com/groups/global/AllUsers";
const AUTHENTICATED_USERS: &str = "http://acs.amazonaws.com/groups/global/AuthenticatedUsers";
const LOG_DELIVERY: &str = "http://acs.amazonaws.com/groups/s3/LogDelivery";

fn invalid(msg: impl Into<String>) -> S3Error {
    S3Error::with_message(S3ErrorCode::InvalidArgument, msg.into())
}

fn group(uri: &str) -> S3Result<Grantee> {
    match uri {
        ALL_USERS => Ok(Grantee::AllUsers),
        AUTHENTICATED_USERS => Ok(Grantee::AuthenticatedUsers),
        LOG_DELIVERY => Ok(Grantee::LogDelivery),
        _ => Err(invalid(format!("Invalid group uri {uri}"))),
    }
}

fn unresolvable_email() -> S3Error {
    S3Error::with_message(
        S3ErrorCode::UnresolvableGrantByEmailAddress,
        "The email address you provided does not match any account on record.",
    )
}

/// The `x-amz-grant-*` headers of a request, by permission.
pub(crate) struct GrantHeaders {
    pub full_control: Option<String>,
    pub read: Option<String>,
    pub read_acp: Option<String>,
    pub write: Option<String>,
    pub write_acp: Option<String>,
}

/// Fills `GrantHeaders` from an s3s input that has all five grant headers.
macro_rules! grant_headers_of {
    ($input:expr, write: $write:expr) => {
        $crate::acl::GrantHeaders {
            full_control: $input.grant_full_control.clone(),
            read: $input.grant_read.clone(),
            read_acp: $input.grant_read_acp.clone(),
            write: $write,
            write_acp: $input.grant_write_acp.clone(),
        }
    };
}
pub(crate) use grant_headers_of;

/// Parses `id="…", uri="…"` lists.
fn header_grants(value: &str, permission: Permission) -> S3Result<Vec<Grant>> {
    let mut grants = Vec::new();
    for item in value.split(',').map(str::trim).filter(|i| !i.is_empty()) {
        let (kind, who) = item
            .split_once('=')
            .ok_or_else(|| invalid(format!("Invalid grant {item}")))?;
        let who = who.trim().trim_matches('"');
        let grantee = match kind.trim().to_ascii_lowercase().as_str() {
            "id" => Grantee::Account(who.to_string()),
            "uri" => group(who)?,
            "emailaddress" => return Err(unresolvable_email()),
            _ => return Err(invalid(format!("Invalid grantee type {kind}"))),
        };
        grants.push(Grant {
            grantee,
            permission,
        });
    }
    Ok(grants)
}

/// The ACL a request asks for with `x-amz-acl` or `x-amz-grant-*` (never both).
pub(crate) fn requested(
    canned: Option<&str>,
    headers: GrantHeaders,
) -> S3Result<Option<AclRequest>> {
    let mut grants = Vec::new();
    for (value, permission) in [
        (headers.full_control, Permission::FullControl),
        (headers.read, Permission::Read),
        (headers.read_acp, Permission::ReadAcp),
        (headers.write, Permission::Write),
        (headers.write_acp, Permission::WriteAcp),
    ] {
        if let Some(v) = value {
            grants.extend(header_grants(&v, permission)?);
        }
    }
    match (canned, grants.is_empty()) {
        (Some(_), false) => Err(S3Error::with_message(
            S3ErrorCode::InvalidRequest,
            "Specifying both Canned ACLs and Header Grants is not allowed",
        )),
        (Some(name), true) => Ok(Some(AclRequest::Canned(name.to_string()))),
        (None, false) => Ok(Some(AclRequest::Grants(grants))),
        (None, true) => Ok(None),
    }
}

fn permission(p: Option<&dto::Permission>) -> S3Result<Permission> {
    Ok(match p.map(|p| p.as_str()) {
        Some(dto::Permission::FULL_CONTROL) => Permission::FullControl,
        Some(dto::Permission::READ) => Permission::Read,
        Some(dto::Permission::READ_ACP) => Permission::ReadAcp,
        Some(dto::Permission::WRITE) => Permission::Write,
        Some(dto::Permission::WRITE_ACP) => Permission::WriteAcp,
        _ => {
            return Err(S3Error::with_message(
                S3ErrorCode::MalformedACLError,
                "The XML you provided was not well-formed or did not validate against our published schema",
            ));
        }
    })
}

/// An AccessControlPolicy document as the grants it makes.
pub(crate) fn from_policy(policy: dto::AccessControlPolicy) -> S3Result<Vec<Grant>> {
    let mut grants = Vec::new();
    for g in policy.grants.unwrap_or_default() {
        let grantee = g.grantee.ok_or_else(|| {
            S3Error::with_message(S3ErrorCode::MalformedACLError, "a grant needs a Grantee")
        })?;
        let who = match grantee.type_.as_str() {
            dto::Type::CANONICAL_USER => {
                Grantee::Account(grantee.id.ok_or_else(|| invalid("Invalid id"))?)
            }
            dto::Type::GROUP => group(grantee.uri.as_deref().unwrap_or_default())?,
            dto::Type::AMAZON_CUSTOMER_BY_EMAIL => return Err(unresolvable_email()),
            other => return Err(invalid(format!("Invalid grantee type {other}"))),
        };
        grants.push(Grant {
            grantee: who,
            permission: permission(g.permission.as_ref())?,
        });
    }
    Ok(grants)
}

/// What a Put*Acl asks for: a canned name, grant headers, or a document.
pub(crate) fn put_request(
    canned: Option<&str>,
    headers: GrantHeaders,
    policy: Option<dto::AccessControlPolicy>,
) -> S3Result<AclRequest> {
    if let Some(asked) = requested(canned, headers)? {
        return Ok(asked);
    }
    match policy {
        Some(doc) => Ok(AclRequest::Grants(from_policy(doc)?)),
        None => Err(S3Error::with_message(
            S3ErrorCode::MissingSecurityHeader,
            "Your request was missing a required header: an ACL, grant headers or an AccessControlPolicy",
        )),
    }
}

fn display_name(strata: &Strata, id: &str) -> Option<String> {
    strata.meta.get_account(id).ok().flatten().map(|a| a.name)
}

/// An ACL as S3 answers it, with display names for known accounts.
pub(crate) fn to_wire(strata: &Strata, acl: &Acl) -> (dto::Owner, Vec<dto::Grant>) {
    let owner = dto::Owner {
        id: Some(acl.owner.clone()),
        display_name: display_name(strata, &acl.owner),
    };
    // Groups first, as S3 lists them.
    let mut ordered: Vec<&Grant> = acl.grants.iter().collect();
    ordered.sort_by_key(|g| matches!(g.grantee, Grantee::Account(_)));
    let grants = ordered
        .into_iter()
        .map(|g| {
            let grantee = match &g.grantee {
                Grantee::Account(id) => dto::Grantee {
                    type_: dto::Type::from_static(dto::Type::CANONICAL_USER),
                    id: Some(id.clone()),
                    display_name: display_name(strata, id),
                    email_address: None,
                    uri: None,
                },
                other => dto::Grantee {
                    type_: dto::Type::from_static(dto::Type::GROUP),
                    id: None,
                    display_name: None,
                    email_address: None,
                    uri: Some(
                        match other {
                            Grantee::AllUsers => ALL_USERS,
                            Grantee::AuthenticatedUsers => AUTHENTICATED_USERS,
                            _ => LOG_DELIVERY,
                        }
                        .to_string(),
                    ),
                },
            };
            let permission = match g.permission {
                Permission::FullControl => dto::Permission::FULL_CONTROL,
                Permission::Read => dto::Permission::READ,
                Permission::ReadAcp => dto::Permission::READ_ACP,
                Permission::Write => dto::Permission::WRITE,
                Permission::WriteAcp => dto::Permission::WRITE_ACP,
            };
            dto::Grant {
                grantee: Some(grantee),
                permission: Some(dto::Permission::from_static(permission)),
            }
        })
        .collect();
    (owner, grants)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(read: Option<&str>) -> GrantHeaders {
        GrantHeaders {
            full_control: None,
            read: read.map(str::to_string),
            read_acp: None,
            write: None,
            write_acp: None,
        }
    }

    #[test]
    fn grant_headers_parse() {
        let asked = requested(
            None,
            headers(Some(
                r#"id="abc", uri="http://acs.amazonaws.com/groups/global/AllUsers""#,
            )),
        )
        .unwrap();
        assert_eq!(
            asked,
            Some(AclRequest::Grants(vec![
                Grant {
                    grantee: Grantee::Account("abc".into()),
                    permission: Permission::Read
                },
                Grant {
                    grantee: Grantee::AllUsers,
                    permission: Permission::Read
                },
            ]))
        );
        assert!(requested(Some("private"), headers(Some(r#"id="a""#))).is_err());
        assert!(requested(None, headers(Some(r#"emailAddress="a@b""#))).is_err());
        assert_eq!(requested(None, headers(None)).unwrap(), None);
    }
}
