//! The HTTP server: health endpoints under `/_/`, the website endpoint for
//! website domains, CORS preflights, everything else to s3s.
//! TCP_NODELAY is set on every connection so small responses are not held
//! back by Nagle's algorithm.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, combinators::UnsyncBoxBody};
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use s3s::service::{S3Service, S3ServiceBuilder};
use strata_core::Strata;
use tokio::net::TcpListener;
use tracing::Instrument;

use crate::access::{PeerAddr, StrataAccess};
use crate::auth::StrataAuth;
use crate::handlers::Handlers;
use crate::host::Domains;
use crate::idle_body::IdleTimeout;

pub struct ServerConfig {
    pub listen: SocketAddr,
    /// Domains for virtual-host-style addressing (`bucket.domain`).
    pub domains: Vec<String>,
    /// Domains whose `bucket.domain` hosts are served as static websites.
    pub website_domains: Vec<String>,
    /// The background engine, whose operator API and metrics are served here.
    pub engine: Option<Arc<strata_engine::Engine>>,
    /// How long a client may keep the server waiting: for a request's
    /// headers, between two pieces of its body, and for requests still
    /// running when the server is told to stop.
    pub idle_timeout: Duration,
}

pub(crate) type ResponseBody = UnsyncBoxBody<Bytes, Box<dyn std::error::Error + Send + Sync>>;

fn build_s3(strata: Arc<Strata>, domains: &[String]) -> S3Service {
    let mut builder = S3ServiceBuilder::new(Handlers {
        strata: strata.clone(),
    });
    builder.set_auth(StrataAuth(strata.clone()));
    builder.set_access(StrataAccess(strata));
    if !domains.is_empty() {
        builder.set_host(Domains::new(domains));
    }
    builder.build()
}

/// A response with a whole body.
pub(crate) fn full(
    status: StatusCode,
    content_type: &'static str,
    body: Bytes,
) -> Response<ResponseBody> {
    let mut resp = Response::new(Full::new(body).map_err(|e| match e {}).boxed_unsync());
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static(content_type),
    );
    resp
}

fn text(status: StatusCode, body: &'static str) -> Response<ResponseBody> {
    full(status, "text/plain", Bytes::from_static(body.as_bytes()))
}

async fn health(strata: &Strata, path: &str) -> Response<ResponseBody> {
    match path {
        "/_/live" => text(StatusCode::OK, "live\n"),
        "/_/ready" => match strata.check_ready().await {
            Ok(degraded) if degraded.is_empty() => text(StatusCode::OK, "ready\n"),
            Ok(degraded) => {
                // Names only: this route needs no credentials, and backend
                // errors carry endpoints and bucket names.
                let mut names = Vec::new();
                for (name, e) in degraded {
                    tracing::warn!(location = %name, error = %e, "location not answering");
                    names.push(name);
                }
                let body = format!("ready; locations not answering: {}\n", names.join(", "));
                full(StatusCode::OK, "text/plain", Bytes::from(body))
            }
            Err(e) => {
                tracing::warn!(error = %e, "not ready");
                text(StatusCode::SERVICE_UNAVAILABLE, "not ready\n")
            }
        },
        _ => text(StatusCode::NOT_FOUND, "not found\n"),
    }
}

/// Which part of the server answers a request.
struct Router {
    domains: Domains,
    website: Domains,
    engine: Option<Arc<strata_engine::Engine>>,
    operator_token: String,
    idle_timeout: Duration,
}

impl Router {
    async fn route(
        &self,
        strata: &Strata,
        s3: &S3Service,
        req: Request<hyper::body::Incoming>,
    ) -> Result<Response<ResponseBody>, s3s::HttpError> {
        let path = req.uri().path();
        if crate::admin::is_api(path) {
            return Ok(crate::admin::handle(strata, &self.operator_token, req).await);
        }
        if let Some(engine) = &self.engine {
            if crate::backbeat::is_api(path) {
                return Ok(crate::backbeat::handle(engine, &self.operator_token, req).await);
            }
            // Unsigned and without a query: a scraper, not a ListObjects of
            // a bucket named `metrics` (which stays reachable signed).
            let scrape = req.method() == hyper::Method::GET
                && req.uri().query().is_none()
                && !req.headers().contains_key(hyper::header::AUTHORIZATION);
            if path == "/metrics" && scrape {
                return Ok(crate::backbeat::prometheus(engine));
            }
        }
        if path.starts_with("/_/") {
            return Ok(health(strata, path).await);
        }
        let host = req
            .headers()
            .get(hyper::header::HOST)
            .and_then(|h| h.to_str().ok())
            .or_else(|| req.uri().host());
        let website = host
            .and_then(|h| self.website.split(h))
            .and_then(|(_, bucket)| bucket);
        let bucket = website.or_else(|| self.domains.bucket_of(host, path));
        // CORS applies to both endpoints, as in S3.
        if req.method() == hyper::Method::OPTIONS {
            return Ok(crate::cors::preflight(strata, bucket, req.headers()));
        }
        let cors = crate::cors::ActualRequest::of(bucket, req.method(), req.headers());
        let decorate = |mut resp: Response<ResponseBody>| {
            if let Some(cors) = &cors {
                cors.decorate(strata, resp.headers_mut());
            }
            resp
        };
        if let Some(bucket) = website {
            let site = crate::website::WebsiteRequest {
                bucket,
                method: req.method(),
                headers: req.headers(),
                path,
                peer: req.extensions().get::<PeerAddr>().map(|p| p.0.ip()),
            };
            return Ok(decorate(crate::website::serve(strata, &site)));
        }
        let attributes = req.method() == hyper::Method::GET
            && req.uri().query().is_some_and(|q| {
                q.split('&')
                    .any(|p| p == "attributes" || p == "attributes=")
            });
        let virtual_hosted = host
            .and_then(|h| self.domains.split(h))
            .is_some_and(|(_, bucket)| bucket.is_some());
        let mut req = req;
        if crate::sig_v2::is_header_signed(req.headers())
            && let Some(refused) = crate::sig_v2::date_refusal(req.headers())
        {
            return Ok(decorate(refused));
        }
        if let Some(refused) = crate::sig_v4::region_refusal(&req, &strata.settings.region) {
            return Ok(decorate(refused));
        }
        if !virtual_hosted {
            crate::sig_v2::fix_bucket_path(&mut req);
        }
        let to_bucket =
            crate::xml_body_limit::names_a_bucket_only(req.uri().path(), virtual_hosted);
        let whole_body = crate::xml_body_limit::classify(
            req.method(),
            req.uri().query(),
            to_bucket,
            hyper::body::Body::size_hint(req.body()).exact(),
        );
        if let Some((status, code, message)) = whole_body.refusal() {
            return Ok(decorate(crate::cors::error(status, code, message)));
        }
        let (parts, body) = req.into_parts();
        let (body, timed_out) = IdleTimeout::new(body, self.idle_timeout);
        let body = s3s::Body::http_body(body);
        let resp = s3.call(Request::from_parts(parts, body)).await?;
        if timed_out.load(std::sync::atomic::Ordering::Relaxed) && resp.status().is_server_error() {
            return Ok(decorate(crate::cors::error(
                StatusCode::BAD_REQUEST,
                "RequestTimeout",
                "Your socket connection to the server was not read from or written to within the timeout period.",
            )));
        }
        if attributes && resp.status() == StatusCode::OK {
            let resp = resp.map(BodyExt::boxed_unsync);
            return Ok(decorate(unquote_attributes_etag(resp).await?));
        }
        Ok(decorate(resp.map(BodyExt::boxed_unsync)))
    }
}

/// GetObjectAttributes shows the ETag without quotes (unlike every other S3
/// answer); s3s's XML writer always quotes it, so the small XML body is
/// rewritten here.
async fn unquote_attributes_etag(
    resp: Response<ResponseBody>,
) -> Result<Response<ResponseBody>, s3s::HttpError> {
    edit_body(resp, |_, xml| {
        let (open, close) = (xml.find("<ETag>\""), xml.find("\"</ETag>"));
        match (open, close) {
            (Some(open), Some(close)) if open < close => Some(format!(
                "{}<ETag>{}</ETag>{}",
                &xml[..open],
                &xml[open + "<ETag>\"".len()..close],
                &xml[close + "\"</ETag>".len()..]
            )),
            _ => None,
        }
    })
    .await
}

/// Rewrites a small answer's body: `edit` gets its headers and text and
/// returns the new text, or None to leave it as it is. For the few answers
/// whose XML from s3s is not S3's.
pub(crate) async fn edit_body(
    resp: Response<ResponseBody>,
    edit: impl FnOnce(&mut hyper::HeaderMap, &str) -> Option<String>,
) -> Result<Response<ResponseBody>, s3s::HttpError> {
    let (mut parts, body) = resp.into_parts();
    let bytes = body
        .collect()
        .await
        .map_err(s3s::HttpError::new)?
        .to_bytes();
    let body = match edit(&mut parts.headers, &String::from_utf8_lossy(&bytes)) {
        Some(text) => {
            // The body's length changed.
            parts.headers.remove(hyper::header::CONTENT_LENGTH);
            Bytes::from(text)
        }
        None => bytes,
    };
    let body = Full::new(body).map_err(|e| match e {}).boxed_unsync();
    Ok(Response::from_parts(parts, body))
}

/// Serves until `shutdown` fires, then stops accepting and lets in-flight
/// requests finish.
pub async fn serve(
    strata: Arc<Strata>,
    config: ServerConfig,
    listener: TcpListener,
    mut shutdown: tokio::sync::watch::Receiver<bool>,
) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let s3 = build_s3(strata.clone(), &config.domains);
    let router = Arc::new(Router {
        domains: Domains::new(&config.domains),
        website: Domains::new(&config.website_domains),
        operator_token: strata.operator_token(),
        engine: config.engine,
        idle_timeout: config.idle_timeout,
    });
    let mut http = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
    http.http1()
        .timer(TokioTimer::new())
        .header_read_timeout(config.idle_timeout);
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
        let (s3, strata, router) = (s3.clone(), strata.clone(), router.clone());
        let service = service_fn(move |mut req: Request<hyper::body::Incoming>| {
            let (s3, strata, router) = (s3.clone(), strata.clone(), router.clone());
            req.extensions_mut().insert(PeerAddr(peer));
            async move {
                let id = crate::request_id::next();
                let span = tracing::info_span!("request", id = %id);
                let expects_continue = req
                    .headers()
                    .get(hyper::header::EXPECT)
                    .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"100-continue"));
                let mut resp = router.route(&strata, &s3, req).instrument(span).await?;
                // Refused before its body was asked for, a client may still
                // send that body (botocore does, when the refusal races its
                // wait for 100 Continue), where hyper expects the next
                // request: the connection closes instead.
                if expects_continue && !resp.status().is_success() {
                    resp.headers_mut().insert(
                        hyper::header::CONNECTION,
                        hyper::header::HeaderValue::from_static("close"),
                    );
                }
                crate::request_id::stamp(resp, &id).await
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
    // Idle clients' connections close at once; requests still running get
    // the idle timeout to finish (a stalled upload ends by then anyway).
    if tokio::time::timeout(config.idle_timeout, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("requests still running at shutdown were cut off");
    }
    Ok(())
}
