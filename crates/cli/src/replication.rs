//! `strata replication …`: the replication API of a running server from the
//! command line (see `operator` for how it reaches the server).

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Subcommand};
use hyper::Method;
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::Value;

use crate::operator::Api;

#[derive(Args)]
pub struct ReplicationArgs {
    /// The server's endpoint.
    #[arg(long, env = "STRATA_ENDPOINT", default_value = "http://127.0.0.1:8000")]
    endpoint: String,
    /// The server's data dir, where its master key is.
    #[arg(long, env = "STRATA_DATA_DIR", default_value = "./strata-data")]
    data_dir: PathBuf,
    /// The server's master key, when it is not in the data dir.
    #[arg(long, env = "STRATA_MASTER_KEY", hide_env_values = true)]
    master_key: Option<String>,
    #[command(subcommand)]
    command: ReplicationCommand,
}

#[derive(Subcommand)]
enum ReplicationCommand {
    /// Each destination's state and figures (backlog, RPO, completions, failures).
    Status {
        /// One destination only.
        location: Option<String>,
    },
    /// The failed list, page by page.
    Failed {
        #[arg(long)]
        location: Option<String>,
        #[arg(long, default_value_t = 100)]
        limit: usize,
        /// The `next_marker` of the previous page.
        #[arg(long)]
        marker: Option<String>,
    },
    /// Sends failed entries again: `LOCATION BUCKET KEY VERSION`, or `--all`.
    Retry {
        #[arg(long)]
        all: bool,
        #[arg(num_args = 0..=4)]
        entry: Vec<String>,
    },
    /// Stops replicating to a destination (every one when none is named).
    Pause { location: Option<String> },
    /// Resumes a destination now, or after `--in-hours`.
    Resume {
        location: Option<String>,
        #[arg(long)]
        in_hours: Option<f64>,
    },
    /// Replicates a bucket's versions written before its rules, with progress.
    Backfill {
        bucket: String,
        /// Start it and return without following its progress.
        #[arg(long)]
        detach: bool,
    },
}

fn print(value: &Value) {
    println!(
        "{}",
        serde_json::to_string_pretty(value).unwrap_or_default()
    );
}

pub async fn run(args: ReplicationArgs) -> anyhow::Result<()> {
    let api = Api::new(
        &args.endpoint,
        &args.data_dir,
        args.master_key.as_deref(),
        "_/backbeat/api",
    )?;
    match args.command {
        ReplicationCommand::Status { location } => {
            let path = match &location {
                Some(l) => format!("metrics/crr/{}", urlencoding::encode(l)),
                None => "metrics/crr/all".into(),
            };
            print(&api.call(Method::GET, &path, None).await?);
        }
        ReplicationCommand::Failed {
            location,
            limit,
            marker,
        } => {
            let mut path = format!("crr/failed?limit={limit}");
            if let Some(l) = location {
                path += &format!("&location={}", urlencoding::encode(&l));
            }
            if let Some(m) = marker {
                path += &format!("&marker={}", urlencoding::encode(&m));
            }
            print(&api.call(Method::GET, &path, None).await?);
        }
        ReplicationCommand::Retry { all, entry } => {
            let items: Vec<Value> = if all {
                every_failed_entry(&api)
                    .await?
                    .iter()
                    .map(|e| retry_item(&e["location"], &e["bucket"], &e["key"], &e["version_id"]))
                    .collect()
            } else if let [location, bucket, key, version] = entry.as_slice() {
                vec![serde_json::json!({
                    "StorageClass": location, "Bucket": bucket, "Key": key, "VersionId": version,
                })]
            } else {
                anyhow::bail!("name one entry (LOCATION BUCKET KEY VERSION) or give --all");
            };
            let retried = api
                .call(Method::POST, "crr/failed", Some(Value::Array(items)))
                .await?;
            println!(
                "{} entries sent again",
                retried.as_array().map_or(0, Vec::len)
            );
        }
        ReplicationCommand::Pause { location } => {
            let path = location.map_or("crr/pause".into(), |l| {
                format!("crr/pause/{}", urlencoding::encode(&l))
            });
            print(&api.call(Method::POST, &path, None).await?);
        }
        ReplicationCommand::Resume { location, in_hours } => {
            let (path, body) = match (location, in_hours) {
                (Some(l), Some(h)) => (
                    format!("crr/resume/{}/schedule", urlencoding::encode(&l)),
                    Some(serde_json::json!({ "hours": h })),
                ),
                (None, Some(_)) => anyhow::bail!("a scheduled resume names its location"),
                (Some(l), None) => (format!("crr/resume/{}", urlencoding::encode(&l)), None),
                (None, None) => ("crr/resume".into(), None),
            };
            print(&api.call(Method::POST, &path, body).await?);
        }
        ReplicationCommand::Backfill { bucket, detach } => {
            let path = format!("crr/backfill/{}", urlencoding::encode(&bucket));
            let started = api.call(Method::POST, &path, None).await?;
            if detach {
                print(&started);
            } else {
                follow_backfill(&api, &path, &started).await?;
            }
        }
    }
    Ok(())
}

/// The whole failed list, page after page.
async fn every_failed_entry(api: &Api) -> anyhow::Result<Vec<Value>> {
    let mut entries = Vec::new();
    let mut path = "crr/failed".to_string();
    loop {
        let page = api.call(Method::GET, &path, None).await?;
        entries.extend(page["entries"].as_array().into_iter().flatten().cloned());
        match page["next_marker"].as_str() {
            Some(marker) => path = format!("crr/failed?marker={}", urlencoding::encode(marker)),
            None => return Ok(entries),
        }
    }
}

fn retry_item(location: &Value, bucket: &Value, key: &Value, version: &Value) -> Value {
    serde_json::json!({
        "StorageClass": location, "Bucket": bucket, "Key": key, "VersionId": version,
    })
}

/// A bar over the bucket's bytes as the backfill queues them, then one over
/// the destinations' backlog as it drains.
async fn follow_backfill(api: &Api, path: &str, started: &Value) -> anyhow::Result<()> {
    let total = started["total_bytes"].as_u64().unwrap_or(0);
    let objects = started["total_objects"].as_u64().unwrap_or(0);
    let bar = ProgressBar::new(total);
    bar.set_style(
        ProgressStyle::with_template(
            "{msg} [{bar:30}] {bytes}/{total_bytes} ({bytes_per_sec}, ETA {eta})",
        )?
        .progress_chars("=> "),
    );
    loop {
        let p = api.call(Method::GET, path, None).await?;
        bar.set_position(p["scanned_bytes"].as_u64().unwrap_or(0));
        bar.set_message(format!(
            "scanned {}/{objects} versions, {} queued",
            p["scanned_objects"].as_u64().unwrap_or(0),
            p["queued_objects"].as_u64().unwrap_or(0)
        ));
        if p["done"].as_bool().unwrap_or(false) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    bar.finish();
    // Every destination's backlog together.
    let backlog = |m: &Value| -> (u64, u64) {
        let overall = &m["overall"]["backlog"];
        (
            overall["objects"].as_u64().unwrap_or(0),
            overall["bytes"].as_u64().unwrap_or(0),
        )
    };
    let (_, first_bytes) = backlog(&api.call(Method::GET, "metrics/crr/all", None).await?);
    let drain = ProgressBar::new(first_bytes);
    drain.set_style(
        ProgressStyle::with_template(
            "{msg} [{bar:30}] {bytes}/{total_bytes} replicated ({bytes_per_sec}, ETA {eta})",
        )?
        .progress_chars("=> "),
    );
    loop {
        let (objects, bytes) = backlog(&api.call(Method::GET, "metrics/crr/all", None).await?);
        drain.set_position(first_bytes.saturating_sub(bytes));
        drain.set_message(format!("{objects} versions waiting"));
        if objects == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    drain.finish();
    Ok(())
}
