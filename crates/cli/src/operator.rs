//! A client of a running server's operator APIs (`/_/backbeat/api/`,
//! `/_/admin/`). It computes the bearer token from the master key (the
//! server's data dir, or `--master-key`), so it runs where the server runs.

use std::path::Path;

use anyhow::Context;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::{Method, Request};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde_json::Value;

pub struct Api {
    client: Client<HttpConnector, Full<Bytes>>,
    /// The endpoint and the API's prefix: `http://host:port/_/admin`.
    base: String,
    token: String,
}

impl Api {
    pub fn new(
        endpoint: &str,
        data_dir: &Path,
        master_key: Option<&str>,
        prefix: &str,
    ) -> anyhow::Result<Self> {
        let key = crate::config::existing_master_key(master_key, data_dir)?;
        Ok(Self {
            client: Client::builder(TokioExecutor::new()).build_http(),
            base: format!("{}/{prefix}", endpoint.trim_end_matches('/')),
            token: strata_core::encryption::Keyring::new(key).operator_token(),
        })
    }

    /// Sends a request to `path` under the API's prefix; its JSON answer,
    /// or the server's message as the error.
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> anyhow::Result<Value> {
        let body = body.map_or_else(Bytes::new, |b| Bytes::from(b.to_string()));
        let req = Request::builder()
            .method(method)
            .uri(format!("{}/{path}", self.base))
            .header("authorization", format!("Bearer {}", self.token))
            .body(Full::new(body))?;
        let resp = self
            .client
            .request(req)
            .await
            .with_context(|| format!("reaching {}", self.base))?;
        let status = resp.status();
        let bytes = resp.into_body().collect().await?.to_bytes();
        let value: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        if !status.is_success() {
            anyhow::bail!(
                "{status}: {}",
                value["message"]
                    .as_str()
                    .unwrap_or("the server refused the request")
            );
        }
        Ok(value)
    }
}
