//! The data conformance suite against real peers started here on 127.0.0.1:
//! moto (s3) and Azurite (azure). Each test skips, saying why, when its peer is missing.

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use strata_data::LocationSpec;

/// A peer process, killed when the test ends.
struct Peer(Child);

impl Drop for Peer {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

fn found(program: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {program}")])
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

fn wait_for_port(port: u16) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            Instant::now() < deadline,
            "peer on port {port} did not start"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Runs a short Python snippet (the peers' own clients create the bucket or container).
fn python(code: &str) -> bool {
    Command::new("python3")
        .args(["-c", code])
        .status()
        .is_ok_and(|s| s.success())
}

#[tokio::test]
async fn s3_location_against_moto() {
    if !found("moto_server") {
        eprintln!("SKIPPED: moto_server not installed (pip install 'moto[server]')");
        return;
    }
    let port = free_port();
    let _peer = Peer(
        Command::new("moto_server")
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("moto_server"),
    );
    wait_for_port(port);
    let endpoint = format!("http://127.0.0.1:{port}");
    assert!(python(&format!(
        "import boto3; boto3.client('s3', endpoint_url='{endpoint}', aws_access_key_id='a', \
         aws_secret_access_key='b', region_name='us-east-1').create_bucket(Bucket='target')"
    )));
    for bucket_match in [true, false] {
        let spec: LocationSpec = toml::from_str(&format!(
            "type = \"s3\"\nendpoint = \"{endpoint}\"\nbucket = \"target\"\npath_style = true\n\
             access_key = \"a\"\nsecret_key = \"b\"\nbucket_match = {bucket_match}\n"
        ))
        .expect("spec");
        let backend = spec.open("moto").expect("open");
        strata_data::conformance::run(&*backend).await;
    }
}

#[tokio::test]
async fn azure_location_against_azurite() {
    if !found("azurite-blob") {
        eprintln!("SKIPPED: azurite-blob not installed (npm install -g azurite)");
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let port = free_port();
    let _peer = Peer(
        Command::new("azurite-blob")
            .args(["--blobHost", "127.0.0.1", "--blobPort", &port.to_string()])
            .arg("--location")
            .arg(dir.path())
            .arg("--skipApiVersionCheck")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("azurite-blob"),
    );
    wait_for_port(port);
    const KEY: &str =
        "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";
    let endpoint = format!("http://127.0.0.1:{port}/devstoreaccount1");
    let created = python(&format!(
        "from azure.storage.blob import BlobServiceClient as C; \
         C(account_url='{endpoint}', credential={{'account_name': 'devstoreaccount1', 'account_key': '{KEY}'}})\
         .create_container('target')"
    ));
    if !created {
        eprintln!("SKIPPED: could not create the container (pip install azure-storage-blob)");
        return;
    }
    let spec: LocationSpec = toml::from_str(&format!(
        "type = \"azure\"\nendpoint = \"{endpoint}\"\naccount = \"devstoreaccount1\"\n\
         container = \"target\"\naccess_key = \"{KEY}\"\n"
    ))
    .expect("spec");
    let backend = spec.open("azurite").expect("open");
    strata_data::conformance::run(&*backend).await;
}
