//! `strata admin`: account, key and location management on a data dir. The embedded
//! store allows one process at a time, so this runs while the server is
//! stopped; changes take effect at its next start. Location commands can
//! instead go to a running server (`--endpoint`), through its admin API.

use std::path::PathBuf;

use clap::Subcommand;

use strata_core::Strata;

use crate::locations::{self, LocationCommand};
use crate::operator::Api;
use crate::server::open_store;

#[derive(clap::Args)]
pub struct AdminArgs {
    /// The server's data directory.
    #[arg(long, env = "STRATA_DATA_DIR", default_value = "./strata-data")]
    data_dir: PathBuf,
    /// The server's config file, for the locations it declares.
    #[arg(long, env = "STRATA_CONFIG")]
    config: Option<PathBuf>,
    /// Manage the locations of this running server (its admin API) rather
    /// than those of the stopped server's data dir.
    #[arg(long)]
    endpoint: Option<String>,
    /// The server's default location, when not in its config file (as the
    /// server takes it: this flag or variable first).
    #[arg(long, env = "STRATA_DEFAULT_LOCATION")]
    default_location: Option<String>,
    /// The server's master key, when it is not in the data dir (`--endpoint`).
    #[arg(long, env = "STRATA_MASTER_KEY", hide_env_values = true)]
    master_key: Option<String>,
    #[command(subcommand)]
    command: AdminCommand,
}

#[derive(Subcommand)]
enum AdminCommand {
    /// Accounts: create, list, delete.
    Account {
        #[command(subcommand)]
        command: AccountCommand,
    },
    /// Access keys: create, list, delete.
    Key {
        #[command(subcommand)]
        command: KeyCommand,
    },
    /// Locations: add (probed first), list, show, remove.
    Location {
        #[command(subcommand)]
        command: LocationCommand,
    },
}

#[derive(Subcommand)]
enum AccountCommand {
    /// Create an account with a fresh access key (printed once).
    Create {
        name: String,
    },
    List,
    /// Delete an account and its keys (refused while it owns buckets).
    Delete {
        name: String,
    },
}

#[derive(Subcommand)]
enum KeyCommand {
    /// Add a fresh access key to an account (printed once).
    Create {
        account: String,
    },
    /// List access keys (secrets are never shown again).
    List,
    Delete {
        access_key: String,
    },
}

pub async fn run(args: AdminArgs) -> anyhow::Result<()> {
    if let (Some(endpoint), AdminCommand::Location { command }) = (&args.endpoint, &args.command) {
        let api = Api::new(
            endpoint,
            &args.data_dir,
            args.master_key.as_deref(),
            "_/admin",
        )?;
        return locations::run_online(command, &api).await;
    }
    let meta = std::sync::Arc::new(open_store(&args.data_dir)?);
    // Account and key commands need no cloud location (nor its secrets).
    let strata = || -> anyhow::Result<Strata> {
        let local = locations::local_only(&args.data_dir)?;
        Ok(Strata::new(
            meta.clone(),
            local,
            strata_core::Settings::default(),
        ))
    };
    match args.command {
        AdminCommand::Location { command } => {
            let mut config = locations::from_config_file(args.config.as_ref())?;
            config.default = args.default_location.clone().or(config.default);
            locations::run_admin(command, &strata()?, &args.data_dir, &config).await?;
        }
        AdminCommand::Account { command } => match command {
            AccountCommand::Create { name } => {
                let (account, key) = strata()?.create_account(&name).await?;
                println!("account {} (canonical id {})", account.name, account.id);
                println!("  access key: {}", key.access_key);
                println!("  secret key: {}", key.secret_key);
            }
            AccountCommand::List => {
                for a in strata()?.list_accounts()? {
                    println!("{}\t{}", a.name, a.id);
                }
            }
            AccountCommand::Delete { name } => {
                strata()?.delete_account(&name).await?;
                println!("deleted account {name}");
            }
        },
        AdminCommand::Key { command } => match command {
            KeyCommand::Create { account } => {
                let key = strata()?.create_key(&account).await?;
                println!("access key: {}", key.access_key);
                println!("secret key: {}", key.secret_key);
            }
            KeyCommand::List => {
                let strata = strata()?;
                let accounts = strata.list_accounts()?;
                for k in strata.list_keys()? {
                    let owner = accounts
                        .iter()
                        .find(|a| a.id == k.account_id)
                        .map_or("?", |a| a.name.as_str());
                    println!("{}\t{}", k.access_key, owner);
                }
            }
            KeyCommand::Delete { access_key } => {
                strata()?.delete_key(&access_key).await?;
                println!("deleted key {access_key}");
            }
        },
    }
    Ok(())
}
