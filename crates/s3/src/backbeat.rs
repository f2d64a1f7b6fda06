//! The operator API under `/_/backbeat/api/` (Zenko's paths) and the
//! Prometheus text at `/metrics`. A thin layer over the engine's controls:
//! it parses paths and bodies and renders JSON, nothing more.

use std::fmt::Write as _;

use bytes::Bytes;
use hyper::{Method, Request, Response, StatusCode};
use serde::{Deserialize, Serialize};
use strata_engine::Engine;
use strata_engine::replication::{Replication, RetryTarget};

use crate::operator::{admit, error};
use crate::server::{ResponseBody, full};

const PREFIX: &str = "/_/backbeat/api/";
/// Failed entries per page unless `limit` says fewer.
const PAGE: usize = 1000;

pub fn is_api(path: &str) -> bool {
    path.starts_with(PREFIX)
}

fn query_param(query: Option<&str>, name: &str) -> Option<String> {
    query?.split('&').find_map(|pair| {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        (k == name).then(|| urlencoding::decode(v).map(|v| v.into_owned()).ok())?
    })
}

/// Zenko's retry body: the entries to send again.
#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct RetryItem {
    bucket: String,
    key: String,
    version_id: String,
    /// The destination location.
    storage_class: String,
}

#[derive(Deserialize, Default)]
struct Schedule {
    /// Resume after this many hours (Zenko's default is 6).
    hours: Option<f64>,
}

pub async fn handle(
    engine: &Engine,
    token: &str,
    req: Request<hyper::body::Incoming>,
) -> Response<ResponseBody> {
    let req = match admit(req, token, PREFIX).await {
        Ok(req) => req,
        Err(refused) => return refused,
    };
    let segments = req.segments();
    match route(
        engine,
        &req.method,
        &segments,
        req.query.as_deref(),
        &req.body,
    )
    .await
    {
        Ok(resp) => resp,
        Err(e) => error(StatusCode::BAD_REQUEST, "InvalidRequest", &e.to_string()),
    }
}

async fn route(
    engine: &Engine,
    method: &Method,
    segments: &[&str],
    query: Option<&str>,
    body: &[u8],
) -> strata_engine::Result<Response<ResponseBody>> {
    let ok = |value: &dyn erased::Json| full(StatusCode::OK, "application/json", value.bytes());
    if let (&Method::GET, ["workers"]) = (method, segments) {
        return Ok(ok(&engine.workers.list()));
    }
    let replication = engine.replication()?;
    Ok(match (method, segments) {
        (&Method::GET, ["metrics", "crr", "all"]) => ok(&replication.overall_metrics()?),
        (&Method::GET, ["metrics", "crr", location]) => ok(&replication.metrics(location)?),
        (&Method::GET, ["metrics", "crr", _, "progress", bucket, key @ ..]) => {
            let version = query_param(query, "versionId");
            ok(&replication.progress(bucket, &key.join("/"), version.as_deref())?)
        }
        (&Method::GET, ["crr", "failed"]) => {
            let location = query_param(query, "location");
            let limit = query_param(query, "limit")
                .and_then(|l| l.parse().ok())
                .unwrap_or(PAGE)
                .clamp(1, PAGE);
            let after = query_param(query, "marker")
                .map(|m| serde_json::from_str::<RetryTarget>(&m))
                .transpose()?;
            let entries = replication.failed(location.as_deref(), after.as_ref(), limit)?;
            let next_marker = (entries.len() == limit)
                .then(|| entries.last())
                .flatten()
                .map(|e| {
                    serde_json::to_string(&RetryTarget {
                        location: e.location.clone(),
                        bucket: e.bucket.clone(),
                        key: e.key.clone(),
                        version_id: e.version_id.clone(),
                    })
                })
                .transpose()?;
            #[derive(Serialize)]
            struct Page<T> {
                entries: T,
                #[serde(skip_serializing_if = "Option::is_none")]
                next_marker: Option<String>,
            }
            ok(&Page {
                entries,
                next_marker,
            })
        }
        (&Method::POST, ["crr", "failed"]) => {
            let items: Vec<RetryItem> = serde_json::from_slice(body)?;
            let targets: Vec<RetryTarget> = items
                .into_iter()
                .map(|i| RetryTarget {
                    location: i.storage_class,
                    bucket: i.bucket,
                    key: i.key,
                    version_id: i.version_id,
                })
                .collect();
            ok(&replication.retry(&targets).await?)
        }
        (&Method::GET, ["crr", "status"]) => ok(&statuses(replication, None)?),
        (&Method::GET, ["crr", "status", location]) => ok(&statuses(replication, Some(location))?),
        (&Method::POST, ["crr", "pause", rest @ ..]) => {
            for location in targets(replication, rest) {
                replication.pause(&location)?;
            }
            ok(&statuses(replication, rest.first().copied())?)
        }
        (&Method::POST, ["crr", "resume", location, "schedule"]) => {
            let schedule: Schedule = if body.is_empty() {
                Schedule::default()
            } else {
                serde_json::from_slice(body)?
            };
            let hours = schedule.hours.unwrap_or(6.0);
            if !(hours > 0.0 && hours <= 24.0 * 365.0) {
                return Ok(error(
                    StatusCode::BAD_REQUEST,
                    "InvalidArgument",
                    "hours must be between 0 and 8760",
                ));
            }
            let at = now_ms() + (hours * 3_600_000.0) as i64;
            replication.resume(location, Some(at))?;
            ok(&statuses(replication, Some(location))?)
        }
        (&Method::POST, ["crr", "resume", rest @ ..]) => {
            for location in targets(replication, rest) {
                replication.resume(&location, None)?;
            }
            ok(&statuses(replication, rest.first().copied())?)
        }
        (&Method::POST, ["crr", "backfill", bucket]) => ok(&engine.backfill(bucket)?),
        (&Method::GET, ["crr", "backfill", bucket]) => {
            match replication.backfill_progress(bucket)? {
                Some(progress) => ok(&progress),
                None => error(
                    StatusCode::NOT_FOUND,
                    "NoSuchBackfill",
                    "no backfill of this bucket",
                ),
            }
        }
        _ => error(
            StatusCode::NOT_FOUND,
            "NotFound",
            "no such operator API route",
        ),
    })
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// The locations a pause or resume names: one, or all when none is given.
fn targets(replication: &Replication, rest: &[&str]) -> Vec<String> {
    match rest {
        [location, ..] => vec![location.to_string()],
        [] => replication.destinations(),
    }
}

/// `{location: "enabled" | "disabled"}`, as Zenko answers.
fn statuses(
    replication: &Replication,
    only: Option<&str>,
) -> strata_engine::Result<std::collections::BTreeMap<String, String>> {
    let mut out = std::collections::BTreeMap::new();
    for location in replication.destinations() {
        if only.is_some_and(|o| o != location) {
            continue;
        }
        let paused = replication.is_paused(&location)?;
        out.insert(
            location,
            if paused { "disabled" } else { "enabled" }.to_string(),
        );
    }
    if let Some(o) = only
        && out.is_empty()
    {
        return Err(strata_engine::EngineError::Invalid(format!(
            "no such location: {o}"
        )));
    }
    Ok(out)
}

/// One figure of a destination's metrics.
type Figure = fn(&strata_engine::replication::DestinationMetrics) -> f64;

/// The per-location Prometheus families: name, type, help, figure.
const LOCATION_FAMILIES: &[(&str, &str, &str, Figure)] = &[
    (
        "s3_replication_backlog_objects",
        "gauge",
        "Versions waiting to be replicated to the location.",
        |m| m.backlog.objects as f64,
    ),
    (
        "s3_replication_backlog_bytes",
        "gauge",
        "Bytes waiting to be replicated to the location.",
        |m| m.backlog.bytes as f64,
    ),
    (
        "s3_replication_rpo_seconds",
        "gauge",
        "Age of the oldest change not yet replicated to the location.",
        |m| m.rpo_seconds,
    ),
    (
        "s3_replication_completed_objects_total",
        "counter",
        "Versions replicated to the location since start.",
        |m| m.totals.completed_objects as f64,
    ),
    (
        "s3_replication_completed_bytes_total",
        "counter",
        "Bytes replicated to the location since start.",
        |m| m.totals.completed_bytes as f64,
    ),
    (
        "s3_replication_failed_objects_total",
        "counter",
        "Versions that failed to replicate to the location since start.",
        |m| m.totals.failed_objects as f64,
    ),
    (
        "s3_replication_failed_bytes_total",
        "counter",
        "Bytes of versions that failed to replicate since start.",
        |m| m.totals.failed_bytes as f64,
    ),
    (
        "s3_replication_failed_entries",
        "gauge",
        "Entries in the location's failed list.",
        |m| m.failed_entries as f64,
    ),
    (
        "s3_replication_throughput_objects_per_second",
        "gauge",
        "Versions replicated per second over the last minute.",
        |m| m.totals.objects_per_second,
    ),
    (
        "s3_replication_throughput_bytes_per_second",
        "gauge",
        "Bytes replicated per second over the last minute.",
        |m| m.totals.bytes_per_second,
    ),
    (
        "s3_replication_paused",
        "gauge",
        "1 while replication to the location is paused.",
        |m| f64::from(u8::from(m.paused)),
    ),
];

/// Prometheus text exposition of the replication figures and the workers.
pub fn prometheus(engine: &Engine) -> Response<ResponseBody> {
    let metrics = match engine
        .replication
        .as_ref()
        .map_or(Ok(Vec::new()), |r| r.all_metrics())
    {
        Ok(m) => m,
        Err(e) => {
            return error(
                StatusCode::SERVICE_UNAVAILABLE,
                "ServiceUnavailable",
                &e.to_string(),
            );
        }
    };
    let mut out = String::new();
    let mut family =
        |name: &str, kind: &str, help: &str, values: &mut dyn Iterator<Item = (String, f64)>| {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
            for (labels, value) in values {
                let _ = writeln!(out, "{name}{{{labels}}} {value}");
            }
        };
    for (name, kind, help, figure) in LOCATION_FAMILIES {
        family(
            name,
            kind,
            help,
            &mut metrics
                .iter()
                .map(|m| (format!("location=\"{}\"", m.location), figure(m))),
        );
    }
    let workers = engine.workers.list();
    family(
        "strata_worker_errors_total",
        "counter",
        "Failed units of work of each background worker.",
        &mut workers
            .iter()
            .map(|w| (format!("worker=\"{}\"", w.name), w.errors as f64)),
    );
    full(
        StatusCode::OK,
        "text/plain; version=0.0.4",
        Bytes::from(out),
    )
}

/// Lets `route` answer any serializable value through one closure.
mod erased {
    pub trait Json {
        fn bytes(&self) -> bytes::Bytes;
    }
    impl<T: serde::Serialize> Json for T {
        fn bytes(&self) -> bytes::Bytes {
            bytes::Bytes::from(serde_json::to_vec_pretty(self).unwrap_or_default())
        }
    }
}
