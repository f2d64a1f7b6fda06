//! The admin API under `/_/admin/`: locations added, listed, shown and
//! removed while the server runs, with the operator's bearer token. The same
//! as `strata admin location`, which works on a stopped server.
//!
//! - `GET /_/admin/locations`: every location (name, type, transient, where declared).
//! - `GET /_/admin/locations/<name>`: its settings, secrets masked.
//! - `PUT /_/admin/locations/<name>`: adds it; the body is a JSON object of
//!   the settings of a `[[location]]` table (`{"type": "s3", "bucket": ...}`).
//!   The location is probed (write, read, delete) first.
//! - `DELETE /_/admin/locations/<name>`: removes a location added here or with
//!   `strata admin`, refused while a bucket, object or upload uses it.

use std::collections::BTreeMap;

use hyper::{Method, Request, Response, StatusCode};
use serde::Serialize;
use strata_core::{Error, LocationSpec, Strata};

use crate::operator::{admit, error, json};
use crate::server::ResponseBody;

const PREFIX: &str = "/_/admin/";

pub fn is_api(path: &str) -> bool {
    path.starts_with(PREFIX)
}

#[derive(Serialize)]
struct Listed {
    name: String,
    #[serde(rename = "type")]
    kind: &'static str,
    transient: bool,
    declared_in: &'static str,
    default: bool,
}

#[derive(Serialize)]
struct Shown {
    name: String,
    declared_in: &'static str,
    settings: BTreeMap<String, String>,
}

pub async fn handle(
    strata: &Strata,
    token: &str,
    req: Request<hyper::body::Incoming>,
) -> Response<ResponseBody> {
    let req = match admit(req, token, PREFIX).await {
        Ok(req) => req,
        Err(refused) => return refused,
    };
    let locations = &strata.locations;
    match (&req.method, req.segments().as_slice()) {
        (&Method::GET, ["locations"]) => {
            let listed: Vec<Listed> = locations
                .all()
                .into_iter()
                .map(|(name, l)| Listed {
                    default: name == locations.default_name(),
                    kind: l.spec.kind_name(),
                    transient: l.spec.transient,
                    declared_in: l.source.as_str(),
                    name,
                })
                .collect();
            json(StatusCode::OK, &listed)
        }
        (&Method::GET, ["locations", name]) => match locations.location(name) {
            Some(l) => json(
                StatusCode::OK,
                &Shown {
                    name: name.to_string(),
                    declared_in: l.source.as_str(),
                    settings: l.spec.describe().into_iter().collect(),
                },
            ),
            None => failed(Error::NoSuchLocation(format!("no such location: {name}"))),
        },
        (&Method::PUT, ["locations", name]) => {
            let spec: LocationSpec = match serde_json::from_slice(&req.body) {
                Ok(spec) => spec,
                Err(e) => {
                    return error(
                        StatusCode::BAD_REQUEST,
                        "InvalidArgument",
                        &format!("location {name}: invalid settings: {e}"),
                    );
                }
            };
            match strata.add_location(name, spec).await {
                Ok(()) => json(StatusCode::CREATED, &serde_json::json!({ "added": name })),
                Err(e) => failed(e),
            }
        }
        (&Method::DELETE, ["locations", name]) => match strata.remove_location(name).await {
            Ok(()) => json(StatusCode::OK, &serde_json::json!({ "removed": name })),
            Err(e) => failed(e),
        },
        _ => error(
            StatusCode::NOT_FOUND,
            "NotFound",
            "the admin API has GET /_/admin/locations[/<name>], PUT and DELETE /_/admin/locations/<name>",
        ),
    }
}

/// A refusal as an HTTP status and the error's own message.
fn failed(e: Error) -> Response<ResponseBody> {
    let (status, code) = match &e {
        Error::NoSuchLocation(_) => (StatusCode::NOT_FOUND, "NoSuchLocation"),
        Error::LocationConflict(_) => (StatusCode::CONFLICT, "LocationConflict"),
        Error::InvalidArgument(_) | Error::InvalidRequest(_) => {
            (StatusCode::BAD_REQUEST, "InvalidArgument")
        }
        _ => (StatusCode::INTERNAL_SERVER_ERROR, "InternalError"),
    };
    error(status, code, &e.to_string())
}
