//! Bucket policies: AWS's JSON policy language, validated when stored and
//! evaluated per request. Pure logic: it never reads storage or HTTP.

use std::net::IpAddr;

use serde_json::Value;

use crate::{Error, Result};

/// The most bytes a bucket policy may hold, as in S3.
pub const MAX_POLICY_BYTES: usize = 20 * 1024;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Allow,
    Deny,
    /// No statement applies: the decision falls to ACLs and ownership.
    NoMatch,
}

/// What a request looks like to a policy.
pub struct PolicyRequest<'a> {
    /// Canonical id and name of the signed-in requester; None: anonymous.
    pub principal: Option<(&'a str, &'a str)>,
    /// `s3:GetObject` and the like.
    pub action: &'a str,
    /// `arn:aws:s3:::bucket` or `arn:aws:s3:::bucket/key`.
    pub resource: &'a str,
    /// The condition keys of the request (lower-case names, see `key_name`).
    pub values: &'a dyn Fn(&str) -> Option<Vec<String>>,
}

#[derive(Debug, Clone)]
pub struct Policy {
    statements: Vec<Statement>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Effect {
    Allow,
    Deny,
}

#[derive(Debug, Clone)]
enum Principals {
    Anyone,
    Listed(Vec<String>),
}

/// Patterns with `*` and `?`; a `Not…` element matches what they do not.
#[derive(Debug, Clone)]
struct Patterns {
    patterns: Vec<String>,
    negated: bool,
}

impl Patterns {
    fn matches(&self, value: &str, case_insensitive: bool) -> bool {
        let hit = self.patterns.iter().any(|p| {
            if case_insensitive {
                wildcard(&p.to_ascii_lowercase(), &value.to_ascii_lowercase())
            } else {
                wildcard(p, value)
            }
        });
        hit != self.negated
    }
}

#[derive(Debug, Clone)]
struct Statement {
    effect: Effect,
    principals: Principals,
    actions: Patterns,
    resources: Patterns,
    conditions: Vec<Condition>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Operator {
    StringEquals,
    StringEqualsIgnoreCase,
    StringLike,
    NumericEquals,
    NumericLessThan,
    NumericLessThanEquals,
    NumericGreaterThan,
    NumericGreaterThanEquals,
    DateEquals,
    DateLessThan,
    DateLessThanEquals,
    DateGreaterThan,
    DateGreaterThanEquals,
    Bool,
    IpAddress,
    Null,
}

#[derive(Debug, Clone)]
struct Condition {
    operator: Operator,
    /// `StringNotEquals`, `NotIpAddress`, …: the operator's opposite.
    negated: bool,
    /// `…IfExists`: a missing key satisfies the condition.
    if_exists: bool,
    key: String,
    values: Vec<String>,
}

fn malformed(why: &str) -> Error {
    Error::MalformedPolicy(why.to_string())
}

/// `*` matches any run of characters, `?` any one character.
pub fn wildcard(pattern: &str, value: &str) -> bool {
    let (p, v): (Vec<char>, Vec<char>) = (pattern.chars().collect(), value.chars().collect());
    let (mut pi, mut vi) = (0, 0);
    let (mut star, mut mark) = (None, 0);
    while vi < v.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == v[vi]) {
            pi += 1;
            vi += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some(pi);
            mark = vi;
            pi += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            vi = mark;
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

/// Condition keys compare without case, except the tag key after a `/`.
pub fn key_name(key: &str) -> String {
    match key.split_once('/') {
        Some((head, tag)) => format!("{}/{tag}", head.to_ascii_lowercase()),
        None => key.to_ascii_lowercase(),
    }
}

/// A string or an array of scalars, as policy elements may be.
fn strings(value: &Value, what: &str) -> Result<Vec<String>> {
    let scalar = |v: &Value| match v {
        Value::String(s) => Ok(s.clone()),
        Value::Number(n) => Ok(n.to_string()),
        Value::Bool(b) => Ok(b.to_string()),
        _ => Err(malformed(&format!("{what} must hold strings"))),
    };
    match value {
        Value::Array(items) if !items.is_empty() => items.iter().map(scalar).collect(),
        Value::Array(_) => Err(malformed(&format!("{what} must not be empty"))),
        other => Ok(vec![scalar(other)?]),
    }
}

/// Looks a member up without regard to case, as AWS reads element names.
fn member<'a>(object: &'a serde_json::Map<String, Value>, name: &str) -> Option<&'a Value> {
    object
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v)
}

impl Policy {
    /// Parses and validates a policy for `bucket`; `is_action` says which
    /// action names exist.
    pub fn parse(text: &str, bucket: &str, is_action: impl Fn(&str) -> bool) -> Result<Policy> {
        if text.len() > MAX_POLICY_BYTES {
            return Err(Error::PolicyTooLarge);
        }
        let doc: Value =
            serde_json::from_str(text).map_err(|_| malformed("Policies must be valid JSON"))?;
        let doc = doc
            .as_object()
            .ok_or_else(|| malformed("Policies must be JSON objects"))?;
        if let Some(version) = member(doc, "Version")
            && !matches!(version.as_str(), Some("2012-10-17" | "2008-10-17"))
        {
            return Err(malformed("The policy Version is not supported"));
        }
        let statements = match member(doc, "Statement") {
            Some(Value::Array(list)) if !list.is_empty() => list.iter().collect::<Vec<_>>(),
            Some(single @ Value::Object(_)) => vec![single],
            _ => return Err(malformed("Missing required field Statement")),
        };
        let statements = statements
            .into_iter()
            .map(|s| parse_statement(s, bucket, &is_action))
            .collect::<Result<_>>()?;
        Ok(Policy { statements })
    }

    pub fn evaluate(&self, req: &PolicyRequest<'_>) -> Verdict {
        let mut verdict = Verdict::NoMatch;
        for s in self.statements.iter().filter(|s| s.applies(req)) {
            match s.effect {
                Effect::Deny => return Verdict::Deny,
                Effect::Allow => verdict = Verdict::Allow,
            }
        }
        verdict
    }

    /// Public, as GetBucketPolicyStatus says: some statement allows anyone
    /// without a condition to narrow it.
    pub fn is_public(&self) -> bool {
        self.statements.iter().any(|s| {
            s.effect == Effect::Allow
                && matches!(s.principals, Principals::Anyone)
                && s.conditions.is_empty()
        })
    }
}

fn parse_statement(
    value: &Value,
    bucket: &str,
    is_action: &impl Fn(&str) -> bool,
) -> Result<Statement> {
    let s = value
        .as_object()
        .ok_or_else(|| malformed("Statements must be JSON objects"))?;
    let effect = match member(s, "Effect").and_then(Value::as_str) {
        Some("Allow") => Effect::Allow,
        Some("Deny") => Effect::Deny,
        _ => return Err(malformed("Invalid effect")),
    };
    let principals = match member(s, "Principal") {
        Some(p) => parse_principal(p)?,
        None => return Err(malformed("Missing required field Principal")),
    };
    let actions = either(s, "Action", "NotAction")?;
    for a in &actions.patterns {
        let known = a == "*"
            || a.strip_prefix("s3:")
                .is_some_and(|name| name.contains('*') || name.contains('?') || is_action(name));
        if !known {
            return Err(malformed("Policy has invalid action"));
        }
    }
    let resources = either(s, "Resource", "NotResource")?;
    for r in &resources.patterns {
        let target = r.strip_prefix("arn:aws:s3:::");
        let ours = r == "*"
            || target.is_some_and(|t| {
                let named = t.split('/').next().unwrap_or_default();
                wildcard(named, bucket)
            });
        if !ours {
            return Err(malformed("Policy has invalid resource"));
        }
    }
    let conditions = match member(s, "Condition") {
        None => Vec::new(),
        Some(Value::Object(ops)) => parse_conditions(ops)?,
        Some(_) => return Err(malformed("Conditions must be JSON objects")),
    };
    Ok(Statement {
        effect,
        principals,
        actions,
        resources,
        conditions,
    })
}

/// An element that comes as `Name` or as its complement `NotName`.
fn either(s: &serde_json::Map<String, Value>, name: &str, not_name: &str) -> Result<Patterns> {
    match (member(s, name), member(s, not_name)) {
        (Some(v), None) => Ok(Patterns {
            patterns: strings(v, name)?,
            negated: false,
        }),
        (None, Some(v)) => Ok(Patterns {
            patterns: strings(v, not_name)?,
            negated: true,
        }),
        _ => Err(malformed(&format!(
            "A statement needs exactly one of {name} and {not_name}"
        ))),
    }
}

fn parse_principal(p: &Value) -> Result<Principals> {
    match p {
        Value::String(s) if s == "*" => Ok(Principals::Anyone),
        Value::Object(kinds) if !kinds.is_empty() => {
            let mut listed = Vec::new();
            for (kind, ids) in kinds {
                let ids = strings(ids, "Principal")?;
                if kind == "AWS" && ids.iter().any(|i| i == "*") {
                    return Ok(Principals::Anyone);
                }
                match kind.as_str() {
                    "AWS" | "CanonicalUser" => listed.extend(ids),
                    // Services are valid principals that never sign requests here.
                    "Service" | "Federated" => {}
                    _ => return Err(malformed("Invalid principal in policy")),
                }
            }
            Ok(Principals::Listed(listed))
        }
        _ => Err(malformed("Invalid principal in policy")),
    }
}

fn parse_conditions(ops: &serde_json::Map<String, Value>) -> Result<Vec<Condition>> {
    let mut out = Vec::new();
    for (name, keys) in ops {
        let (base, if_exists) = match name.strip_suffix("IfExists") {
            Some(base) => (base, true),
            None => (name.as_str(), false),
        };
        let (operator, negated) = operator(base)
            .ok_or_else(|| malformed(&format!("Unknown condition operator {name}")))?;
        let keys = keys
            .as_object()
            .ok_or_else(|| malformed("A condition operator maps keys to values"))?;
        for (key, values) in keys {
            out.push(Condition {
                operator,
                negated,
                if_exists,
                key: key_name(key),
                values: strings(values, "Condition")?,
            });
        }
    }
    Ok(out)
}

fn operator(name: &str) -> Option<(Operator, bool)> {
    use Operator::*;
    Some(match name {
        "StringEquals" => (StringEquals, false),
        "StringNotEquals" => (StringEquals, true),
        "StringEqualsIgnoreCase" => (StringEqualsIgnoreCase, false),
        "StringNotEqualsIgnoreCase" => (StringEqualsIgnoreCase, true),
        "StringLike" => (StringLike, false),
        "StringNotLike" => (StringLike, true),
        "NumericEquals" => (NumericEquals, false),
        "NumericNotEquals" => (NumericEquals, true),
        "NumericLessThan" => (NumericLessThan, false),
        "NumericLessThanEquals" => (NumericLessThanEquals, false),
        "NumericGreaterThan" => (NumericGreaterThan, false),
        "NumericGreaterThanEquals" => (NumericGreaterThanEquals, false),
        "DateEquals" => (DateEquals, false),
        "DateNotEquals" => (DateEquals, true),
        "DateLessThan" => (DateLessThan, false),
        "DateLessThanEquals" => (DateLessThanEquals, false),
        "DateGreaterThan" => (DateGreaterThan, false),
        "DateGreaterThanEquals" => (DateGreaterThanEquals, false),
        "Bool" => (Bool, false),
        "IpAddress" => (IpAddress, false),
        "NotIpAddress" => (IpAddress, true),
        "Null" => (Null, false),
        _ => return None,
    })
}

impl Statement {
    fn applies(&self, req: &PolicyRequest<'_>) -> bool {
        let principal = match (&self.principals, req.principal) {
            (Principals::Anyone, _) => true,
            (Principals::Listed(ids), Some((id, name))) => {
                ids.iter().any(|p| names_account(p, id, name))
            }
            (Principals::Listed(_), None) => false,
        };
        principal
            && self.actions.matches(req.action, true)
            && self.resources.matches(req.resource, false)
            && self.conditions.iter().all(|c| c.holds(req.values))
    }
}

/// `id`, `name`, or an IAM ARN of the account (`arn:aws:iam::<id>:root`).
fn names_account(principal: &str, id: &str, name: &str) -> bool {
    let account = principal
        .strip_prefix("arn:aws:iam::")
        .and_then(|rest| rest.split(':').next())
        .unwrap_or(principal);
    account == id || account == name
}

impl Condition {
    fn holds(&self, values: &dyn Fn(&str) -> Option<Vec<String>>) -> bool {
        let actual = values(&self.key);
        if self.operator == Operator::Null {
            let want_absent = self.values.iter().any(|v| v.eq_ignore_ascii_case("true"));
            return actual.is_none() == want_absent;
        }
        let Some(actual) = actual else {
            // A missing key matches nothing: negated operators hold.
            return self.if_exists || self.negated;
        };
        let any = actual
            .iter()
            .any(|a| self.values.iter().any(|want| self.compare(a, want)));
        any != self.negated
    }

    fn compare(&self, actual: &str, want: &str) -> bool {
        use Operator::*;
        match self.operator {
            StringEquals => actual == want,
            StringEqualsIgnoreCase => actual.eq_ignore_ascii_case(want),
            StringLike => wildcard(want, actual),
            NumericEquals
            | NumericLessThan
            | NumericLessThanEquals
            | NumericGreaterThan
            | NumericGreaterThanEquals => match (actual.parse::<f64>(), want.parse::<f64>()) {
                (Ok(a), Ok(w)) => ordered(self.operator, a.partial_cmp(&w)),
                _ => false,
            },
            DateEquals
            | DateLessThan
            | DateLessThanEquals
            | DateGreaterThan
            | DateGreaterThanEquals => match (instant(actual), instant(want)) {
                (Some(a), Some(w)) => ordered(self.operator, a.partial_cmp(&w)),
                _ => false,
            },
            Bool => actual.eq_ignore_ascii_case(want),
            IpAddress => match actual.parse::<IpAddr>() {
                Ok(ip) => in_cidr(ip, want),
                Err(_) => false,
            },
            Null => false,
        }
    }
}

fn ordered(op: Operator, ord: Option<std::cmp::Ordering>) -> bool {
    use Operator::*;
    use std::cmp::Ordering::*;
    matches!(
        (op, ord),
        (NumericEquals | DateEquals, Some(Equal))
            | (NumericLessThan | DateLessThan, Some(Less))
            | (
                NumericLessThanEquals | DateLessThanEquals,
                Some(Less | Equal)
            )
            | (NumericGreaterThan | DateGreaterThan, Some(Greater))
            | (
                NumericGreaterThanEquals | DateGreaterThanEquals,
                Some(Greater | Equal)
            )
    )
}

/// A date as ISO 8601 or seconds since the epoch, in milliseconds.
fn instant(text: &str) -> Option<i64> {
    if let Ok(secs) = text.parse::<i64>() {
        return Some(secs.saturating_mul(1000));
    }
    let t =
        time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339).ok()?;
    Some((t.unix_timestamp_nanos() / 1_000_000) as i64)
}

/// Whether `ip` lies in `cidr` (`a.b.c.d/n`, an IPv6 prefix, or one address).
pub fn in_cidr(ip: IpAddr, cidr: &str) -> bool {
    let (net, bits) = match cidr.split_once('/') {
        Some((net, bits)) => (net, bits.parse::<u32>().ok()),
        None => (cidr, None),
    };
    match (ip, net.parse::<IpAddr>()) {
        (IpAddr::V4(a), Ok(IpAddr::V4(n))) => {
            let bits = bits.unwrap_or(32).min(32);
            let mask = u32::MAX.checked_shl(32 - bits).unwrap_or(0);
            u32::from(a) & mask == u32::from(n) & mask
        }
        (IpAddr::V6(a), Ok(IpAddr::V6(n))) => {
            let bits = bits.unwrap_or(128).min(128);
            let mask = u128::MAX.checked_shl(128 - bits).unwrap_or(0);
            u128::from(a) & mask == u128::from(n) & mask
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Policy> {
        Policy::parse(text, "bkt", |a| {
            matches!(a, "GetObject" | "PutObject" | "ListBucket")
        })
    }

    fn ask(
        policy: &Policy,
        who: Option<&str>,
        action: &str,
        resource: &str,
        kv: &[(&str, &str)],
    ) -> Verdict {
        let values = |k: &str| {
            let found: Vec<String> = kv
                .iter()
                .filter(|(key, _)| *key == k)
                .map(|(_, v)| v.to_string())
                .collect();
            (!found.is_empty()).then_some(found)
        };
        policy.evaluate(&PolicyRequest {
            principal: who.map(|w| (w, "name")),
            action,
            resource,
            values: &values,
        })
    }

    #[test]
    fn wildcards_match_like_aws() {
        assert!(wildcard("arn:aws:s3:::bkt/*", "arn:aws:s3:::bkt/a/b"));
        assert!(wildcard("s3:Get*", "s3:GetObject"));
        assert!(wildcard("a?c", "abc"));
        assert!(!wildcard("a?c", "ac"));
        assert!(!wildcard("arn:aws:s3:::bkt/*", "arn:aws:s3:::bkt"));
    }

    #[test]
    fn explicit_deny_wins_and_principals_match() {
        let p = parse(
            r#"{"Version":"2012-10-17","Statement":[
                {"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::bkt/*"},
                {"Effect":"Deny","Principal":{"AWS":["arn:aws:iam::bad:root"]},"Action":"s3:*","Resource":"*"}]}"#,
        )
        .unwrap();
        assert_eq!(
            ask(&p, None, "s3:GetObject", "arn:aws:s3:::bkt/k", &[]),
            Verdict::Allow
        );
        assert_eq!(
            ask(&p, Some("bad"), "s3:GetObject", "arn:aws:s3:::bkt/k", &[]),
            Verdict::Deny
        );
        assert_eq!(
            ask(&p, None, "s3:PutObject", "arn:aws:s3:::bkt/k", &[]),
            Verdict::NoMatch
        );
        assert!(p.is_public());
    }

    #[test]
    fn conditions_follow_the_operators() {
        let p = parse(
            r#"{"Statement":{"Effect":"Allow","Principal":{"AWS":"*"},"Action":"s3:ListBucket",
                "Resource":"arn:aws:s3:::bkt",
                "Condition":{"StringLike":{"s3:prefix":"photos/*"},"NotIpAddress":{"aws:SourceIp":"10.0.0.0/8"},
                             "NumericLessThanEquals":{"s3:max-keys":"10"}}}}"#,
        )
        .unwrap();
        let ok = [
            ("s3:prefix", "photos/2026"),
            ("aws:sourceip", "127.0.0.1"),
            ("s3:max-keys", "5"),
        ];
        assert_eq!(
            ask(&p, None, "s3:ListBucket", "arn:aws:s3:::bkt", &ok),
            Verdict::Allow
        );
        let far = [
            ("s3:prefix", "photos/2026"),
            ("aws:sourceip", "10.1.2.3"),
            ("s3:max-keys", "5"),
        ];
        assert_eq!(
            ask(&p, None, "s3:ListBucket", "arn:aws:s3:::bkt", &far),
            Verdict::NoMatch
        );
        let many = [
            ("s3:prefix", "photos/x"),
            ("aws:sourceip", "127.0.0.1"),
            ("s3:max-keys", "50"),
        ];
        assert_eq!(
            ask(&p, None, "s3:ListBucket", "arn:aws:s3:::bkt", &many),
            Verdict::NoMatch
        );
        assert!(!p.is_public(), "conditions narrow it");
        let missing = [("aws:sourceip", "127.0.0.1"), ("s3:max-keys", "5")];
        assert_eq!(
            ask(&p, None, "s3:ListBucket", "arn:aws:s3:::bkt", &missing),
            Verdict::NoMatch
        );
    }

    #[test]
    fn invalid_policies_are_refused() {
        for bad in [
            "not json",
            r#"{"Statement":[]}"#,
            r#"{"Statement":{"Effect":"Maybe","Principal":"*","Action":"s3:GetObject","Resource":"*"}}"#,
            r#"{"Statement":{"Effect":"Allow","Action":"s3:GetObject","Resource":"*"}}"#,
            r#"{"Statement":{"Effect":"Allow","Principal":"*","Action":"s3:Fly","Resource":"*"}}"#,
            r#"{"Statement":{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::other/*"}}"#,
            r#"{"Statement":{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"*","Condition":{"Sometimes":{"a":"b"}}}}"#,
        ] {
            assert!(
                matches!(parse(bad), Err(Error::MalformedPolicy(_))),
                "{bad}"
            );
        }
    }

    #[test]
    fn cidr_ranges() {
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        assert!(in_cidr(ip("192.168.1.7"), "192.168.1.0/24"));
        assert!(!in_cidr(ip("192.168.2.7"), "192.168.1.0/24"));
        assert!(in_cidr(ip("1.2.3.4"), "0.0.0.0/0"));
        assert!(in_cidr(ip("::1"), "::1"));
        assert!(!in_cidr(ip("::1"), "10.0.0.0/8"));
    }
}
