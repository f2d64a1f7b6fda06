//! The HTTP server: health endpoints under `/_/`, everything else to s3s.
//! TCP_NODELAY is set on every connection so small responses are not held
//! back by Nagle's algorithm.

use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, combinators::UnsyncBoxBody};
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::{TokioExecutor, TokioIo};
use s3s::service::{S3Service, S3ServiceBuilder};
use strata_core::Strata;
use tokio::net::TcpListener;

use crate::access::{PeerAddr, StrataAccess};
use crate::auth::StrataAuth;
use crate::handlers::Handlers;

pub struct ServerConfig {
    pub listen: SocketAddr,
    /// Domains for virtual-host-style addressing (`bucket.domain`).
    pub domains: Vec<String>,
}

type ResponseBody = UnsyncBoxBody<Bytes, Box<dyn std::error::Error + Send + Sync>>;

fn build_s3(strata: Arc<Strata>, domains: &[String]) -> anyhow_free::Result<S3Service> {
    let mut builder = S3ServiceBuilder::new(Handlers {
        strata: strata.clone(),
    });
    builder.set_auth(StrataAuth(strata.clone()));
    builder.set_access(StrataAccess(strata));
    if !domains.is_empty() {
        builder.set_host(crate::host::Domains::new(domains)?);
    }
    Ok(builder.build())
}

mod anyhow_free {
    pub type Result<T> = std::result::Result<T, Box<dyn std::error::Error + Send + Sync>>;
}

fn text(status: StatusCode, body: &'static str) -> Response<ResponseBody> {
    let mut resp = Response::new(
        Full::new(Bytes::from_static(body.as_bytes()))
            .map_err(|e| match e {})
            .boxed_unsync(),
    );
    *resp.status_mut() = status;
    resp
}

async fn health(strata: &Strata, path: &str) -> Response<ResponseBody> {
    match path {
        "/_/live" => text(StatusCode::OK, "live\n"),
        "/_/ready" => match strata.check_ready().await {
            Ok(()) => text(StatusCode::OK, "ready\n"),
            Err(e) => {
                tracing::warn!(error = %e, "not ready");
                text(StatusCode::SERVICE_UNAVAILABLE, "not ready\n")
            }
        },
        _ => text(StatusCode::NOT_FOUND, "not found\n"),
    }
}

/// Serves until `shutdown` fires, then stops accepting and lets in-flight
/// requests finish.
pub async fn serve(
    strata: Arc<Strata>,
    config: ServerConfig,
    listener: TcpListener,
    mut shutdown: tokio::sync::watch::Receiver<bool>,
) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let s3 = build_s3(strata.clone(), &config.domains)?;
    let http = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(conn) => conn,
                Err(e) => {
                    tracing::warn!(error = %e, "accept failed");
                    continue;
                }
            },
            _ = shutdown.changed() => break,
        };
        let _ = stream.set_nodelay(true);
        let (s3, strata) = (s3.clone(), strata.clone());
        let service = service_fn(move |mut req: Request<hyper::body::Incoming>| {
            let (s3, strata) = (s3.clone(), strata.clone());
            req.extensions_mut().insert(PeerAddr(peer));
            async move {
                if req.uri().path().starts_with("/_/") {
                    return Ok::<_, s3s::HttpError>(health(&strata, req.uri().path()).await);
                }
                let resp = s3.call(req.map(s3s::Body::from)).await?;
                Ok(resp.map(BodyExt::boxed_unsync))
            }
        });
        let conn = http
            .serve_connection(TokioIo::new(stream), service)
            .into_owned();
        let conn = graceful.watch(conn);
        tokio::spawn(async move {
            if let Err(e) = conn.await {
                tracing::debug!(%peer, error = %e, "connection ended with an error");
            }
        });
    }
    graceful.shutdown().await;
    Ok(())
}
