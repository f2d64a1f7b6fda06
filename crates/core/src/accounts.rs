//! Accounts and their access keys: the root account from the environment or
//! generated on first start, accounts declared in a file, and management.

use strata_meta::{AccessKeyRecord, AccountRecord, KeySource};

use crate::time::now_ms;
use crate::{Error, Result, Strata, random_hex};

/// The name of the account that `STRATA_ACCESS_KEY` belongs to.
pub const ROOT_ACCOUNT: &str = "root";

/// An account as declared in the accounts file.
#[derive(Debug, Clone, serde::Deserialize)]
pub struct DeclaredAccount {
    pub name: String,
    #[serde(default)]
    pub canonical_id: Option<String>,
    pub access_key: String,
    pub secret_key: String,
}

/// The outcome of making sure the root account exists.
pub enum RootCredentials {
    /// Keys given by the operator (environment or config); nothing to show.
    Given,
    /// Keys already stored by an earlier start.
    Existing,
    /// Keys generated now: shown once to the operator, never logged.
    Generated {
        access_key: String,
        secret_key: String,
    },
}

pub fn new_access_key() -> String {
    format!("SK{}", random_hex(9).to_uppercase())
}

pub fn new_secret_key() -> String {
    random_hex(20)
}

fn new_canonical_id() -> String {
    random_hex(32)
}

impl Strata {
    fn account_by_name(&self, name: &str) -> Result<Option<AccountRecord>> {
        Ok(self
            .meta
            .list_accounts()?
            .into_iter()
            .find(|a| a.name == name))
    }

    /// Makes sure the root account exists with the given keys, or with keys
    /// generated now when none are given and none were stored before.
    pub async fn ensure_root(&self, given: Option<(String, String)>) -> Result<RootCredentials> {
        let root = match self.account_by_name(ROOT_ACCOUNT)? {
            Some(a) => a,
            None => {
                let account = AccountRecord {
                    id: new_canonical_id(),
                    name: ROOT_ACCOUNT.into(),
                    created_ms: now_ms(),
                };
                self.meta.put_account(account.clone()).await?;
                account
            }
        };
        if let Some((access_key, secret_key)) = given {
            self.declare_keys(
                KeySource::RootSettings,
                &[(&root.id, access_key, secret_key)],
            )
            .await?;
            return Ok(RootCredentials::Given);
        }
        if self
            .meta
            .list_access_keys()?
            .iter()
            .any(|k| k.account_id == root.id)
        {
            return Ok(RootCredentials::Existing);
        }
        let (access_key, secret_key) = (new_access_key(), new_secret_key());
        let key = (&*root.id, access_key.clone(), secret_key.clone());
        self.declare_keys(KeySource::RootSettings, &[key]).await?;
        Ok(RootCredentials::Generated {
            access_key,
            secret_key,
        })
    }

    /// Creates or updates the accounts declared in a file; the keys the
    /// file declared before and names no more are revoked.
    pub async fn declare_accounts(&self, declared: &[DeclaredAccount]) -> Result<()> {
        let mut keys = Vec::with_capacity(declared.len());
        for d in declared {
            let account = match self.account_by_name(&d.name)? {
                Some(a) if d.canonical_id.as_ref().is_none_or(|id| *id == a.id) => a,
                _ => {
                    let account = AccountRecord {
                        id: d.canonical_id.clone().unwrap_or_else(new_canonical_id),
                        name: d.name.clone(),
                        created_ms: now_ms(),
                    };
                    self.meta.put_account(account.clone()).await?;
                    account
                }
            };
            keys.push((account.id, d.access_key.clone(), d.secret_key.clone()));
        }
        let keys: Vec<(&str, String, String)> = keys
            .iter()
            .map(|(id, ak, sk)| (id.as_str(), ak.clone(), sk.clone()))
            .collect();
        self.declare_keys(KeySource::AccountsFile, &keys).await
    }

    /// Stores the keys one setting names (account id, access key, secret)
    /// and revokes the keys it declared before and names no more: changing
    /// a key in a setting rotates it, while the other setting's keys and
    /// those made with `strata admin` stay.
    async fn declare_keys(&self, source: KeySource, keys: &[(&str, String, String)]) -> Result<()> {
        for (account_id, access_key, secret_key) in keys {
            self.put_key(
                account_id,
                access_key.clone(),
                secret_key.clone(),
                Some(source),
            )
            .await?;
        }
        for old in self.meta.list_access_keys()? {
            let named = keys.iter().any(|(_, ak, _)| *ak == old.access_key);
            if old.declared_by == Some(source) && !named {
                self.meta.delete_access_key(&old.access_key).await?;
                tracing::info!(access_key = %old.access_key, "a key its setting no longer names was revoked");
            }
        }
        Ok(())
    }

    async fn put_key(
        &self,
        account_id: &str,
        access_key: String,
        secret_key: String,
        declared_by: Option<KeySource>,
    ) -> Result<AccessKeyRecord> {
        if access_key.len() < 3
            || access_key.len() > 128
            || !access_key.bytes().all(|b| b.is_ascii_graphic())
        {
            return Err(Error::InvalidArgument(
                "an access key is 3 to 128 printable characters".into(),
            ));
        }
        if secret_key.len() < 8 {
            return Err(Error::InvalidArgument(
                "a secret key has at least 8 characters".into(),
            ));
        }
        if let Some(existing) = self.meta.get_access_key(&access_key)?
            && existing.account_id != account_id
        {
            return Err(Error::InvalidArgument(format!(
                "access key {access_key} belongs to another account"
            )));
        }
        let key = AccessKeyRecord {
            access_key,
            secret_key,
            account_id: account_id.to_string(),
            created_ms: now_ms(),
            declared_by,
        };
        self.meta.put_access_key(key.clone()).await?;
        Ok(key)
    }

    /// Creates an account with one fresh access key.
    pub async fn create_account(&self, name: &str) -> Result<(AccountRecord, AccessKeyRecord)> {
        if name.is_empty() || self.account_by_name(name)?.is_some() {
            return Err(Error::InvalidArgument(format!(
                "account name {name:?} is empty or taken"
            )));
        }
        let account = AccountRecord {
            id: new_canonical_id(),
            name: name.to_string(),
            created_ms: now_ms(),
        };
        self.meta.put_account(account.clone()).await?;
        let key = self
            .put_key(&account.id, new_access_key(), new_secret_key(), None)
            .await?;
        Ok((account, key))
    }

    pub async fn delete_account(&self, name: &str) -> Result<()> {
        let account = self
            .account_by_name(name)?
            .ok_or_else(|| Error::InvalidArgument(format!("no account {name}")))?;
        Ok(self.meta.delete_account(&account.id).await?)
    }

    pub fn list_accounts(&self) -> Result<Vec<AccountRecord>> {
        Ok(self.meta.list_accounts()?)
    }

    /// Adds a fresh access key to an account.
    pub async fn create_key(&self, account_name: &str) -> Result<AccessKeyRecord> {
        let account = self
            .account_by_name(account_name)?
            .ok_or_else(|| Error::InvalidArgument(format!("no account {account_name}")))?;
        self.put_key(&account.id, new_access_key(), new_secret_key(), None)
            .await
    }

    pub async fn delete_key(&self, access_key: &str) -> Result<()> {
        if !self.meta.delete_access_key(access_key).await? {
            return Err(Error::InvalidArgument(format!(
                "no access key {access_key}"
            )));
        }
        Ok(())
    }

    pub fn list_keys(&self) -> Result<Vec<AccessKeyRecord>> {
        Ok(self.meta.list_access_keys()?)
    }

    /// The key and its account, for request authentication.
    pub fn lookup_key(&self, access_key: &str) -> Result<Option<(AccessKeyRecord, AccountRecord)>> {
        let Some(key) = self.meta.get_access_key(access_key)? else {
            return Ok(None);
        };
        Ok(self
            .meta
            .get_account(&key.account_id)?
            .map(|account| (key, account)))
    }
}
