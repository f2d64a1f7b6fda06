//! `strata server`: opens the data dir, makes sure the root account exists,
//! serves S3 and runs the garbage collector until SIGINT or SIGTERM.

use std::path::Path;
use std::sync::Arc;

use anyhow::Context;
use strata_core::Strata;
use strata_core::accounts::RootCredentials;
use strata_meta::EmbeddedStore;

use crate::config::{ServerArgs, load_accounts};
use crate::locations;

/// Opens the metadata store in `data_dir`.
pub fn open_store(data_dir: &Path) -> anyhow::Result<EmbeddedStore> {
    std::fs::create_dir_all(data_dir)
        .with_context(|| format!("creating {}", data_dir.display()))?;
    EmbeddedStore::open(&data_dir.join("meta.redb")).with_context(|| {
        format!(
            "opening the metadata store in {} (is another strata using it?)",
            data_dir.display()
        )
    })
}

pub async fn run(args: ServerArgs) -> anyhow::Result<()> {
    let settings = args.resolve()?;
    std::fs::create_dir_all(&settings.data_dir)
        .with_context(|| format!("creating {}", settings.data_dir.display()))?;
    let core_settings = strata_core::Settings {
        region: settings.region.clone(),
        inline_threshold: settings.inline_threshold,
        master_key: crate::config::master_key(settings.master_key.as_deref(), &settings.data_dir)?,
    };
    let meta = open_store(&settings.data_dir)?;
    let declared = locations::declared(&meta, &settings.data_dir, &settings.locations)?;
    let located = locations::open_all(&declared, settings.default_location.as_deref())?;
    let strata = Arc::new(Strata::new(Arc::new(meta), located, core_settings));
    strata.check_bucket_locations()?;
    // In the background: a location that hangs must not hold up the start
    // (each check may take the location's whole timeout).
    let checked = strata.clone();
    tokio::spawn(async move { locations::warn_unreachable(&checked.locations).await });
    let recovered = strata.recover_open_blobs().await?;
    if recovered > 0 {
        tracing::info!(
            recovered,
            "blobs cut off by a crash handed to the garbage collector"
        );
    }
    match strata.ensure_root(settings.root_keys.clone()).await? {
        RootCredentials::Generated {
            access_key,
            secret_key,
        } => {
            // Shown once, on the terminal of whoever started the server; never logged.
            println!("Generated root credentials (shown once, store them now):");
            println!("  STRATA_ACCESS_KEY={access_key}");
            println!("  STRATA_SECRET_KEY={secret_key}");
        }
        RootCredentials::Given | RootCredentials::Existing => {}
    }
    if let Some(path) = &settings.accounts_file {
        let declared = load_accounts(path)?;
        strata.declare_accounts(&declared).await?;
        tracing::info!(accounts = declared.len(), file = %path.display(), "accounts declared");
    }
    let listener = tokio::net::TcpListener::bind(settings.listen)
        .await
        .with_context(|| format!("binding {}", settings.listen))?;
    println!(
        "Strata S3 endpoint: http://{} (data in {})",
        listener.local_addr()?,
        settings.data_dir.display()
    );
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let gc = tokio::spawn(strata.clone().run_gc(stopped.clone()));
    let engine = match &settings.engine {
        Some(engine_settings) => Some(Arc::new(
            strata_engine::Engine::start(
                strata.clone(),
                &settings.data_dir,
                engine_settings,
                stopped.clone(),
            )
            .context("starting the background engine")?,
        )),
        None => None,
    };
    tokio::spawn(async move {
        wait_for_signal().await;
        tracing::info!("shutting down");
        let _ = stop.send(true);
    });
    let config = strata_s3::ServerConfig {
        listen: settings.listen,
        domains: settings.domains,
        website_domains: settings.website_domains,
        engine: engine.clone(),
        idle_timeout: settings.idle_timeout,
    };
    strata_s3::serve(strata, config, listener, stopped)
        .await
        .map_err(|e| anyhow::anyhow!(e))?;
    let _ = gc.await;
    if let Some(engine) = engine {
        engine.workers.join().await;
    }
    Ok(())
}

async fn wait_for_signal() {
    let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(s) => s,
        Err(_) => return std::future::pending().await,
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}
