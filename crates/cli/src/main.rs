//! The `strata` binary: `server` runs the S3 server, `admin` manages accounts,
//! keys and locations in a data dir, `bench` measures a running server.

mod admin;
mod bench;
mod config;
mod locations;
mod operator;
mod replication;
mod server;

use clap::{Parser, Subcommand};

/// mimalloc rather than glibc's allocator: a profile of replication showed
/// a fifth of the server's CPU in glibc's malloc and free, spread over many
/// threads (docs/performance.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    name = "strata",
    version,
    about = "Strata: a multi-cloud S3 object storage controller"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the S3 server (no configuration needed: 127.0.0.1:8000, ./strata-data).
    Server(Box<config::ServerArgs>),
    /// Manage accounts, access keys and locations in a data dir (while the server is stopped).
    Admin(admin::AdminArgs),
    /// Drive a running server with signed S3 requests; print ops/s, MiB/s, p50/p99.
    Bench(bench::BenchArgs),
    /// Replication of a running server: status, failed list, retry, pause, resume, backfill.
    Replication(replication::ReplicationArgs),
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let filter = tracing_subscriber::EnvFilter::try_from_env("STRATA_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,s3s=off"));
    // Whatever the level asked for: s3s's debug lines dump whole requests,
    // headers and form fields, SSE-C keys among them; secrets never reach logs.
    let filter = ["s3s::service=info", "s3s::ops=info"]
        .iter()
        .filter_map(|d| d.parse().ok())
        .fold(filter, |f, d| f.add_directive(d));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
    // Deeply nested request futures (s3s + handlers) outgrow tokio's 2 MiB
    // default stack in unoptimised builds; 8 MiB leaves ample headroom.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_stack_size(8 << 20)
        .build()?;
    runtime.block_on(async {
        match cli.command {
            Command::Server(args) => server::run(*args).await,
            Command::Admin(args) => admin::run(args).await,
            Command::Bench(args) => bench::run(args).await,
            Command::Replication(args) => replication::run(args).await,
        }
    })
}
