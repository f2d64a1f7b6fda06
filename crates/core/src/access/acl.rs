//! Access control lists: canned ACLs, and what a list grants to whom. Pure
//! logic over the `Acl` records; storing and reading them is elsewhere.

use strata_meta::{Acl, Grant, Grantee, Permission};

use crate::{Error, Result};

/// The ACL every bucket and object has until told otherwise.
pub fn private(owner: &str) -> Acl {
    Acl {
        owner: owner.to_string(),
        grants: vec![Grant {
            grantee: Grantee::Account(owner.to_string()),
            permission: Permission::FullControl,
        }],
    }
}

/// The ACL a canned name (`x-amz-acl`) stands for. `bucket_owner` matters
/// for the `bucket-owner-*` names of objects.
/// The owner's grant comes last, as S3 lists them.
pub fn canned(name: &str, owner: &str, bucket_owner: &str) -> Result<Acl> {
    let mut grants = Vec::new();
    let mut grant = |grantee: Grantee, permission| {
        grants.push(Grant {
            grantee,
            permission,
        })
    };
    match name {
        "private" => {}
        "public-read" => grant(Grantee::AllUsers, Permission::Read),
        "public-read-write" => {
            grant(Grantee::AllUsers, Permission::Read);
            grant(Grantee::AllUsers, Permission::Write);
        }
        "authenticated-read" => grant(Grantee::AuthenticatedUsers, Permission::Read),
        "bucket-owner-read" if bucket_owner != owner => {
            grant(Grantee::Account(bucket_owner.into()), Permission::Read)
        }
        "bucket-owner-full-control" if bucket_owner != owner => grant(
            Grantee::Account(bucket_owner.into()),
            Permission::FullControl,
        ),
        "bucket-owner-read" | "bucket-owner-full-control" => {}
        "log-delivery-write" => {
            grant(Grantee::LogDelivery, Permission::Write);
            grant(Grantee::LogDelivery, Permission::ReadAcp);
        }
        other => {
            return Err(Error::InvalidArgument(format!(
                "{other} is not a valid canned ACL"
            )));
        }
    }
    let mut acl = private(owner);
    grants.append(&mut acl.grants);
    acl.grants = grants;
    Ok(acl)
}

/// Who is asking, as ACLs see them.
#[derive(Debug, Clone, Copy)]
pub enum Requester<'a> {
    Anonymous,
    Account(&'a str),
}

/// Whether `acl` gives `who` the permission `wanted` (FULL_CONTROL gives all).
/// With `ignore_public`, grants to everyone or to all signed-in users count
/// for nothing (PublicAccessBlock's IgnorePublicAcls).
pub fn grants(acl: &Acl, who: Requester<'_>, wanted: Permission, ignore_public: bool) -> bool {
    acl.grants.iter().any(|g| {
        let permits = g.permission == wanted || g.permission == Permission::FullControl;
        let applies = match (&g.grantee, who) {
            (Grantee::AllUsers, _) => !ignore_public,
            (Grantee::AuthenticatedUsers, Requester::Account(_)) => !ignore_public,
            (Grantee::Account(id), Requester::Account(me)) => id == me,
            _ => false,
        };
        permits && applies
    })
}

/// Whether an ACL grants anything to everyone or to all signed-in users.
pub fn is_public(acl: &Acl) -> bool {
    acl.grants
        .iter()
        .any(|g| matches!(g.grantee, Grantee::AllUsers | Grantee::AuthenticatedUsers))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canned_acls_expand_as_in_s3() {
        let acl = canned("public-read-write", "me", "me").unwrap();
        assert!(grants(&acl, Requester::Anonymous, Permission::Write, false));
        assert!(!grants(
            &acl,
            Requester::Anonymous,
            Permission::ReadAcp,
            false
        ));
        assert!(grants(
            &acl,
            Requester::Account("me"),
            Permission::WriteAcp,
            false
        ));
        assert!(
            !grants(&acl, Requester::Anonymous, Permission::Read, true),
            "ignored when public ACLs are"
        );
        let acl = canned("authenticated-read", "me", "me").unwrap();
        assert!(grants(
            &acl,
            Requester::Account("other"),
            Permission::Read,
            false
        ));
        assert!(!grants(&acl, Requester::Anonymous, Permission::Read, false));
        let acl = canned("bucket-owner-full-control", "writer", "owner").unwrap();
        assert!(grants(
            &acl,
            Requester::Account("owner"),
            Permission::WriteAcp,
            false
        ));
        assert!(canned("nonsense", "me", "me").is_err());
        assert!(!is_public(&private("me")));
    }
}
