//! `strata bench`: drives a running S3 endpoint with real SigV4-signed
//! requests (presigned by the rusty-s3 crate) over keep-alive HTTP/1.1
//! connections, and prints ops/s, MiB/s and latency percentiles.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use bytes::Bytes;
use futures::TryStreamExt;
use http_body_util::{BodyExt, Full};
use hyper::{Method, Request};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use rusty_s3::actions::{ListObjectsV2, S3Action};
use rusty_s3::{Bucket, Credentials, UrlStyle};

const SIGN_FOR: Duration = Duration::from_secs(3600);

#[derive(clap::Args)]
pub struct BenchArgs {
    /// S3 endpoint of a running server.
    #[arg(long, default_value = "http://127.0.0.1:8000")]
    endpoint: String,
    /// Keys for the endpoint (not needed with `--location`).
    #[arg(long, env = "STRATA_ACCESS_KEY", hide_env_values = true)]
    access_key: Option<String>,
    #[arg(long, env = "STRATA_SECRET_KEY", hide_env_values = true)]
    secret_key: Option<String>,
    /// Bucket to create and use (it is emptied of what the bench wrote).
    #[arg(long, default_value = "strata-bench")]
    bucket: String,
    /// Small-object operations per phase (PUT, GET, HEAD, DELETE of 4 KiB).
    #[arg(long, default_value_t = 20_000)]
    small_ops: usize,
    /// Large objects per phase (PUT, GET of 64 MiB).
    #[arg(long, default_value_t = 16)]
    large_ops: usize,
    /// Keys for the listing phase (ListObjectsV2 over all of them).
    #[arg(long, default_value_t = 10_000)]
    list_keys: usize,
    /// Phases to run, comma-separated: small, large, list; `put` is the
    /// small phase's PUTs alone, `steady` PUTs 4 KiB at `--rate`.
    #[arg(long, value_delimiter = ',', default_value = "small,large,list")]
    phases: Vec<String>,
    /// PUTs per second of the steady phase (the load a replication or
    /// RPO measurement runs under).
    #[arg(long, default_value_t = 500)]
    rate: u32,
    /// Duration of the steady phase.
    #[arg(long, default_value_t = 20)]
    seconds: u32,
    /// Drive this location of `--config` directly, with Strata's own client
    /// for it (no S3 endpoint, no server): the large phase's PUT, GET and
    /// DELETE of 64 MiB blobs, the figures to set against the same phase
    /// through a server that keeps a bucket there.
    #[arg(long, requires = "config")]
    location: Option<String>,
    /// The configuration file declaring `--location`.
    #[arg(long)]
    config: Option<std::path::PathBuf>,
}

/// Bytes of a large object: 64 MiB.
const LARGE: usize = 64 << 20;

fn large_body() -> Bytes {
    Bytes::from(
        (0..LARGE as u32)
            .map(|i| (i % 251) as u8)
            .collect::<Vec<u8>>(),
    )
}

struct Bench {
    client: Client<HttpConnector, Full<Bytes>>,
    bucket: Bucket,
    creds: Credentials,
}

/// Latencies and bytes of one phase.
struct Phase {
    name: String,
    latencies: Vec<Duration>,
    bytes: u64,
    wall: Duration,
}

impl Phase {
    fn print(&mut self) {
        self.latencies.sort();
        let pct = |p: f64| {
            let i = ((self.latencies.len() as f64 * p).ceil() as usize)
                .clamp(1, self.latencies.len())
                - 1;
            self.latencies[i].as_secs_f64() * 1000.0
        };
        let secs = self.wall.as_secs_f64();
        println!(
            "{:<28} {:>8} ops {:>10.1} ops/s {:>10.1} MiB/s   p50 {:>8.2} ms   p99 {:>8.2} ms",
            self.name,
            self.latencies.len(),
            self.latencies.len() as f64 / secs,
            self.bytes as f64 / secs / (1 << 20) as f64,
            pct(0.50),
            pct(0.99),
        );
    }
}

impl Bench {
    async fn request(
        &self,
        method: Method,
        url: url::Url,
        body: Bytes,
    ) -> anyhow::Result<hyper::Response<hyper::body::Incoming>> {
        let req = Request::builder()
            .method(method)
            .uri(url.as_str())
            .header("content-length", body.len())
            .body(Full::new(body))?;
        Ok(self.client.request(req).await?)
    }

    /// Sends a request and returns the status and the whole response body.
    async fn send(
        &self,
        method: Method,
        url: url::Url,
        body: Bytes,
    ) -> anyhow::Result<(u16, Bytes)> {
        let resp = self.request(method, url, body).await?;
        let status = resp.status().as_u16();
        Ok((status, resp.into_body().collect().await?.to_bytes()))
    }

    async fn object(&self, method: Method, key: &str, body: Bytes) -> anyhow::Result<u64> {
        let url = match method {
            Method::PUT => self
                .bucket
                .put_object(Some(&self.creds), key)
                .sign(SIGN_FOR),
            Method::GET => self
                .bucket
                .get_object(Some(&self.creds), key)
                .sign(SIGN_FOR),
            Method::HEAD => self
                .bucket
                .head_object(Some(&self.creds), key)
                .sign(SIGN_FOR),
            Method::DELETE => self
                .bucket
                .delete_object(Some(&self.creds), key)
                .sign(SIGN_FOR),
            _ => bail!("unsupported method {method}"),
        };
        let sent = body.len() as u64;
        let resp = self.request(method.clone(), url, body).await?;
        let status = resp.status().as_u16();
        let mut body = resp.into_body();
        if !(200..300).contains(&status) {
            let text = body.collect().await?.to_bytes();
            bail!(
                "{method} {key}: HTTP {status}: {}",
                String::from_utf8_lossy(&text)
            );
        }
        // Count the bytes as they arrive: a load generator that buffered
        // every 64 MiB body would spend the CPU the server needs.
        let mut received = 0u64;
        while let Some(frame) = body.frame().await {
            received += frame?.data_ref().map_or(0, |d| d.len() as u64);
        }
        Ok(sent + received)
    }

    /// Lists every key under `prefix`, page by page; returns the key count.
    async fn list_all(&self, prefix: &str) -> anyhow::Result<(usize, usize)> {
        let (mut keys, mut pages, mut token) = (0, 0, None::<String>);
        loop {
            let mut action = self.bucket.list_objects_v2(Some(&self.creds));
            action.with_prefix(prefix);
            if let Some(t) = &token {
                action.with_continuation_token(t.clone());
            }
            let (status, body) = self
                .send(Method::GET, action.sign(SIGN_FOR), Bytes::new())
                .await?;
            if status != 200 {
                bail!("list: HTTP {status}");
            }
            let page = ListObjectsV2::parse_response(std::str::from_utf8(&body)?)?;
            keys += page.contents.len();
            pages += 1;
            match page.next_continuation_token {
                Some(t) => token = Some(t),
                None => return Ok((keys, pages)),
            }
        }
    }
}

/// Runs `ops` operations of `f` (on `ctx`) at `concurrency`, timing each; with a
/// `rate`, operation i starts no earlier than i/rate seconds in.
async fn phase<C, F, Fut>(
    ctx: &Arc<C>,
    name: &str,
    ops: usize,
    concurrency: usize,
    rate: Option<u32>,
    f: F,
) -> anyhow::Result<Phase>
where
    C: Send + Sync + ?Sized + 'static,
    F: Fn(Arc<C>, usize) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = anyhow::Result<u64>> + Send,
{
    let next = Arc::new(AtomicUsize::new(0));
    let f = Arc::new(f);
    let start = Instant::now();
    let workers: Vec<_> = (0..concurrency)
        .map(|_| {
            let (ctx, next, f) = (ctx.clone(), next.clone(), f.clone());
            tokio::spawn(async move {
                let mut latencies = Vec::new();
                let mut bytes = 0;
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= ops {
                        return Ok::<_, anyhow::Error>((latencies, bytes));
                    }
                    if let Some(rate) = rate {
                        let due = start + Duration::from_secs_f64(i as f64 / f64::from(rate));
                        tokio::time::sleep_until(due.into()).await;
                    }
                    let t = Instant::now();
                    bytes += f(ctx.clone(), i).await?;
                    latencies.push(t.elapsed());
                }
            })
        })
        .collect();
    let mut phase = Phase {
        name: name.to_string(),
        latencies: Vec::new(),
        bytes: 0,
        wall: Duration::ZERO,
    };
    for w in workers {
        let (lat, bytes) = w.await??;
        phase.latencies.extend(lat);
        phase.bytes += bytes;
    }
    phase.wall = start.elapsed();
    Ok(phase)
}

pub async fn run(args: BenchArgs) -> anyhow::Result<()> {
    if let (Some(name), Some(config)) = (&args.location, &args.config) {
        return run_location(name, config, args.large_ops).await;
    }
    let endpoint: url::Url = args.endpoint.parse().context("parsing --endpoint")?;
    let bucket = Bucket::new(endpoint, UrlStyle::Path, args.bucket.clone(), "us-east-1")?;
    let (Some(access_key), Some(secret_key)) = (args.access_key, args.secret_key) else {
        bail!(
            "an endpoint needs --access-key and --secret-key (or STRATA_ACCESS_KEY and STRATA_SECRET_KEY)"
        );
    };
    let creds = Credentials::new(access_key, secret_key);
    let mut connector = HttpConnector::new();
    connector.set_nodelay(true);
    let client = Client::builder(TokioExecutor::new())
        .pool_max_idle_per_host(64)
        .build(connector);
    let bench = Arc::new(Bench {
        client,
        bucket,
        creds,
    });
    let (status, body) = bench
        .send(
            Method::PUT,
            bench.bucket.create_bucket(&bench.creds).sign(SIGN_FOR),
            Bytes::new(),
        )
        .await?;
    if status != 200 && !String::from_utf8_lossy(&body).contains("BucketAlreadyOwnedByYou") {
        bail!(
            "creating bucket {}: HTTP {status}: {}",
            args.bucket,
            String::from_utf8_lossy(&body)
        );
    }
    println!(
        "strata bench against {} (bucket {})",
        args.endpoint, args.bucket
    );
    let phases: Vec<&str> = args.phases.iter().map(String::as_str).collect();
    let small_body = Bytes::from(vec![7u8; 4096]);
    if phases.contains(&"steady") {
        let body = small_body.clone();
        let ops = (args.rate * args.seconds) as usize;
        let name = format!("PUT 4 KiB at {}/s (c=64)", args.rate);
        phase(&bench, &name, ops, 64, Some(args.rate), move |b, i| {
            let body = body.clone();
            async move { b.object(Method::PUT, &format!("steady/{i}"), body).await }
        })
        .await?
        .print();
    }
    if phases.contains(&"small") || phases.contains(&"put") {
        let body = small_body.clone();
        phase(
            &bench,
            "PUT 4 KiB  (c=16)",
            args.small_ops,
            16,
            None,
            move |b, i| {
                let body = body.clone();
                async move { b.object(Method::PUT, &format!("small/{i}"), body).await }
            },
        )
        .await?
        .print();
    }
    if phases.contains(&"small") {
        let n = args.small_ops;
        phase(
            &bench,
            "GET 4 KiB  (c=16)",
            n,
            16,
            None,
            |b, i| async move {
                b.object(Method::GET, &format!("small/{i}"), Bytes::new())
                    .await
            },
        )
        .await?
        .print();
        phase(
            &bench,
            "HEAD 4 KiB (c=16)",
            n,
            16,
            None,
            |b, i| async move {
                b.object(Method::HEAD, &format!("small/{i}"), Bytes::new())
                    .await
            },
        )
        .await?
        .print();
        phase(
            &bench,
            "DELETE     (c=16)",
            n,
            16,
            None,
            |b, i| async move {
                b.object(Method::DELETE, &format!("small/{i}"), Bytes::new())
                    .await
            },
        )
        .await?
        .print();
    }
    if phases.contains(&"large") {
        let body = large_body();
        let n = args.large_ops;
        phase(&bench, "PUT 64 MiB (c=4)", n, 4, None, move |b, i| {
            let body = body.clone();
            async move { b.object(Method::PUT, &format!("large/{i}"), body).await }
        })
        .await?
        .print();
        phase(&bench, "GET 64 MiB (c=4)", n, 4, None, |b, i| async move {
            b.object(Method::GET, &format!("large/{i}"), Bytes::new())
                .await
        })
        .await?
        .print();
        phase(
            &bench,
            "DELETE 64 MiB (c=4)",
            n,
            4,
            None,
            |b, i| async move {
                b.object(Method::DELETE, &format!("large/{i}"), Bytes::new())
                    .await
            },
        )
        .await?
        .print();
    }
    if phases.contains(&"list") {
        let n = args.list_keys;
        phase(
            &bench,
            &format!("PUT {n} empty keys (c=16)"),
            n,
            16,
            None,
            |b, i| async move {
                b.object(Method::PUT, &format!("list/{i:08}"), Bytes::new())
                    .await
            },
        )
        .await?
        .print();
        let start = Instant::now();
        let (keys, pages) = bench.list_all("list/").await?;
        let wall = start.elapsed();
        if keys != n {
            bail!("listed {keys} keys, expected {n}");
        }
        println!(
            "{:<28} {keys} keys in {pages} pages: {:.1} ms total, {:.2} ms per page",
            "ListObjectsV2 full listing",
            wall.as_secs_f64() * 1000.0,
            wall.as_secs_f64() * 1000.0 / pages as f64
        );
        phase(
            &bench,
            "DELETE list keys (c=16)",
            n,
            16,
            None,
            |b, i| async move {
                b.object(Method::DELETE, &format!("list/{i:08}"), Bytes::new())
                    .await
            },
        )
        .await?
        .print();
    }
    Ok(())
}

/// The large phase against a location itself: blobs written, read and
/// deleted through its `DataBackend`, as a server would, without the S3 hop.
async fn run_location(name: &str, config: &std::path::Path, n: usize) -> anyhow::Result<()> {
    let declared = crate::config::load_file(config)?
        .location
        .into_iter()
        .find(|l| l.name == name)
        .with_context(|| format!("{} declares no location {name:?}", config.display()))?;
    let backend = declared.spec.open(name)?;
    println!(
        "strata bench against location {name} ({}), directly",
        backend.kind()
    );
    let run = random_suffix()?;
    let keys: Arc<Vec<String>> = Arc::new(
        (0..n)
            .map(|i| {
                backend.blob_key(&strata_data::BlobName {
                    bucket: "strata-bench",
                    key: &format!("large/{i}"),
                    unique: &format!("{run}{i:04}"),
                })
            })
            .collect(),
    );
    let body = large_body();
    let (b, k) = (backend.clone(), keys.clone());
    phase(&b, "PUT 64 MiB (c=4)", n, 4, None, move |b, i| {
        let (body, key) = (body.clone(), k[i].clone());
        async move {
            let mut writer = b.create_sized(&key, body.len() as u64).await?;
            // In the pieces a server's request body arrives in, about.
            for start in (0..body.len()).step_by(1 << 20) {
                let end = (start + (1 << 20)).min(body.len());
                writer.write(body.slice(start..end)).await?;
            }
            writer.commit().await?;
            Ok(body.len() as u64)
        }
    })
    .await?
    .print();
    let k = keys.clone();
    phase(&b, "GET 64 MiB (c=4)", n, 4, None, move |b, i| {
        let key = k[i].clone();
        async move {
            let mut stream = b.read(&key, None, 0..LARGE as u64).await?;
            let mut received = 0u64;
            while let Some(chunk) = stream.try_next().await? {
                received += chunk.len() as u64;
            }
            Ok(received)
        }
    })
    .await?
    .print();
    let k = keys.clone();
    phase(&b, "DELETE 64 MiB (c=4)", n, 4, None, move |b, i| {
        let key = k[i].clone();
        async move {
            b.delete(&key).await?;
            Ok(0)
        }
    })
    .await?
    .print();
    Ok(())
}

/// Hex of 6 random bytes: this run's blobs never meet an earlier run's.
fn random_suffix() -> anyhow::Result<String> {
    let mut bytes = [0u8; 6];
    getrandom::fill(&mut bytes).map_err(|e| anyhow::anyhow!("random: {e}"))?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}
