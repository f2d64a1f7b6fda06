//! The data conformance suite against real peers started here on 127.0.0.1:
//! moto (s3) and Azurite (azure). Each test fails, saying why, when its peer is missing.

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures::TryStreamExt;
use strata_data::{BlobName, CopyAttributes, DataBackend, LocationSpec};

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

/// Fails the test when a peer it starts is not installed: a skipped
/// conformance run would pass in silence (`.ci/run` installs both).
fn need(program: &str, how: &str) {
    let found = Command::new("sh")
        .args(["-c", &format!("command -v {program}")])
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    assert!(
        found,
        "{program} is not installed ({how}); .ci/run installs it"
    );
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

/// Runs a Python snippet with arguments; its standard output.
fn python_output(code: &str, args: &[&str]) -> String {
    let out = Command::new("python3")
        .args(["-c", code])
        .args(args)
        .stderr(Stdio::inherit())
        .output()
        .expect("python3");
    assert!(out.status.success(), "python snippet failed");
    String::from_utf8(out.stdout).expect("utf-8")
}

/// Names (in the peer) and sizes of the copies `peer_check` writes, small
/// and larger than one part (and than the single-PUT limit of the locations
/// that set it to 5 MiB): object_store cannot read tags back, so the peer's
/// own client checks what the location wrote.
const PEER_CHECKS: [(&str, usize); 2] = [
    ("peer-check/odd ünïcode?#%&+.txt", 5),
    ("peer-check//large", 12 << 20),
];

/// Azurite's published development key (not a secret).
const KEY: &str =
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";

/// A location setting that sends every write over 5 MiB as parts.
const PARTED: &str = "max_single_put_mib = 5\n";

fn peer_attributes() -> CopyAttributes {
    CopyAttributes {
        content_type: Some("text/csv".into()),
        metadata: [("multi-part-name".to_string(), "v 1".to_string())].into(),
        tags: [("team", "data"), ("tier", "gold 1")]
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .into(),
        ..Default::default()
    }
}

/// Writes the `PEER_CHECKS` copies of bucket `b`; returns their names in the peer.
async fn write_peer_checks(backend: &dyn DataBackend) -> Vec<String> {
    let mut names = Vec::new();
    for (key, size) in PEER_CHECKS {
        let mut w = backend
            .create_copy("b", key, size as u64, &peer_attributes())
            .await
            .expect("create copy");
        for chunk in vec![7u8; size].chunks(1 << 20) {
            w.write(Bytes::copy_from_slice(chunk)).await.expect("write");
        }
        w.commit().await.expect("commit");
        names.push(backend.copy_key("b", key));
    }
    names
}

/// What the peer's client reported for one copy: its JSON line.
fn expect_peer_report(report: &str, size: usize, metadata_name: &str) {
    let want = format!(
        "{{\"size\": {size}, \"type\": \"text/csv\", \"metadata\": {{\"{metadata_name}\": \"v 1\"}}, \
         \"tags\": {{\"team\": \"data\", \"tier\": \"gold 1\"}}}}"
    );
    assert_eq!(report.trim(), want);
}

#[tokio::test]
async fn s3_location_against_moto() {
    need("moto_server", "pip install 'moto[server]'");
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
    // A versioned bucket: copies get versions, and older ones stay readable.
    assert!(python(&format!(
        "import boto3; c = boto3.client('s3', endpoint_url='{endpoint}', aws_access_key_id='a', \
         aws_secret_access_key='b', region_name='us-east-1'); c.create_bucket(Bucket='versioned'); \
         c.put_bucket_versioning(Bucket='versioned', VersioningConfiguration={{'Status': 'Enabled'}})"
    )));
    // moto's ETags are MD5s: writers may report them.
    let runs = [
        ("target", true, "md5_from_backend = true\n"),
        ("target", false, ""),
        ("versioned", true, ""),
        ("target", true, PARTED),
    ];
    for (bucket, bucket_match, parted) in runs {
        let spec: LocationSpec = toml::from_str(&format!(
            "type = \"s3\"\nendpoint = \"{endpoint}\"\nbucket = \"{bucket}\"\npath_style = true\n\
             access_key = \"a\"\nsecret_key = \"b\"\nbucket_match = {bucket_match}\n{parted}"
        ))
        .expect("spec");
        let backend = spec.open("moto").expect("open");
        strata_data::conformance::run(&*backend).await;
    }
    // The suite's abandoned writes left no upload behind (a parted one is
    // aborted in the background).
    std::thread::sleep(Duration::from_millis(500));
    let uploads = python_output(
        &format!(
            "import boto3; c = boto3.client('s3', endpoint_url='{endpoint}', aws_access_key_id='a', \
             aws_secret_access_key='b', region_name='us-east-1'); \
             print([u['Key'] for u in c.list_multipart_uploads(Bucket='target').get('Uploads', [])])"
        ),
        &[],
    );
    assert_eq!(uploads.trim(), "[]", "uploads left behind");
    // Every blob the suite deleted from the versioned bucket is gone for
    // good: no version, no delete marker (blob keys end in `@<16 hex>`).
    // The copies (`copies-*/`, one named with a control character moto
    // cannot list) are walked around by delimiter.
    let left = python_output(
        &format!(
            "import boto3, re; c = boto3.client('s3', endpoint_url='{endpoint}', aws_access_key_id='a', \
             aws_secret_access_key='b', region_name='us-east-1'); left = []; prefixes = ['']\n\
             while prefixes:\n\
             \x20r = c.list_object_versions(Bucket='versioned', Prefix=prefixes.pop(), Delimiter='/')\n\
             \x20left += [v['Key'] for v in r.get('Versions', []) + r.get('DeleteMarkers', []) \
             if re.search('@[0-9a-f]{{16}}$', v['Key'])]\n\
             \x20prefixes += [p['Prefix'] for p in r.get('CommonPrefixes', []) \
             if not p['Prefix'].startswith('copies-')]\n\
             print(left)"
        ),
        &[],
    );
    assert_eq!(
        left.trim(),
        "[]",
        "blob versions left in the versioned bucket"
    );
    for parted in ["", PARTED] {
        let spec: LocationSpec = toml::from_str(&format!(
            "type = \"s3\"\nendpoint = \"{endpoint}\"\nbucket = \"target\"\npath_style = true\n\
             access_key = \"a\"\nsecret_key = \"b\"\nprefix = \"replica\"\nbucket_match = false\n{parted}"
        ))
        .expect("spec");
        peer_checks_at_moto(&*spec.open("moto").expect("open"), &endpoint).await;
    }
    let spec: LocationSpec = toml::from_str(&format!(
        "type = \"s3\"\nendpoint = \"{endpoint}\"\nbucket = \"target\"\npath_style = true\n\
         access_key = \"a\"\nsecret_key = \"b\"\nprefix = \"replica\"\nbucket_match = false\n"
    ))
    .expect("spec");
    let backend = spec.open("moto").expect("open");
    exact_names_reach_the_peer(&*backend, &endpoint).await;
    a_copy_of_the_wrong_size_is_refused(&*backend).await;
    lost_assemblies_are_aborted(&*backend, &endpoint).await;
    encryption_is_asked_on_every_write(&endpoint).await;
}

/// The `PEER_CHECKS` copies, as moto's own client reads them.
async fn peer_checks_at_moto(backend: &dyn DataBackend, endpoint: &str) {
    for ((key, size), name) in PEER_CHECKS.iter().zip(write_peer_checks(backend).await) {
        assert!(name.starts_with("replica/b/peer-check/"), "{name}");
        let report = python_output(
            &format!(
                "import boto3, json, sys; c = boto3.client('s3', endpoint_url='{endpoint}', \
                 aws_access_key_id='a', aws_secret_access_key='b', region_name='us-east-1'); \
                 h = c.head_object(Bucket='target', Key=sys.argv[1]); \
                 t = c.get_object_tagging(Bucket='target', Key=sys.argv[1])['TagSet']; \
                 print(json.dumps({{'size': h['ContentLength'], 'type': h['ContentType'], \
                 'metadata': h['Metadata'], 'tags': dict(sorted((x['Key'], x['Value']) for x in t))}}))"
            ),
            &[&name],
        );
        expect_peer_report(&report, *size, "multi-part-name");
        backend.delete_copy("b", key).await.expect("delete");
    }
}

/// A location asking for server-side encryption has it on a blob streamed
/// as one PutObject and on an object copy alike, as the peer reports them.
async fn encryption_is_asked_on_every_write(endpoint: &str) {
    let spec: LocationSpec = toml::from_str(&format!(
        "type = \"s3\"\nendpoint = \"{endpoint}\"\nbucket = \"target\"\npath_style = true\n\
         access_key = \"a\"\nsecret_key = \"b\"\nprefix = \"sse\"\n\
         server_side_encryption = \"AES256\"\n"
    ))
    .expect("spec");
    let backend = spec.open("moto-sse").expect("open");
    let blob = backend.blob_key(&BlobName {
        bucket: "b",
        key: "streamed",
        unique: "0123",
    });
    let size = 9 << 20; // more than one part: one streamed PutObject
    let mut w = backend
        .create_sized(&blob, size as u64)
        .await
        .expect("blob");
    for chunk in vec![1u8; size].chunks(1 << 20) {
        w.write(Bytes::copy_from_slice(chunk)).await.expect("write");
    }
    w.commit().await.expect("commit blob");
    let mut w = backend
        .create_copy("b", "copy", 4, &CopyAttributes::default())
        .await
        .expect("copy");
    w.write(Bytes::from_static(b"copy")).await.expect("write");
    w.commit().await.expect("commit copy");
    for name in [blob, backend.copy_key("b", "copy")] {
        let encryption = python_output(
            &format!(
                "import boto3, sys; c = boto3.client('s3', endpoint_url='{endpoint}', \
                 aws_access_key_id='a', aws_secret_access_key='b', region_name='us-east-1'); \
                 print(c.head_object(Bucket='target', Key=sys.argv[1]).get('ServerSideEncryption'))"
            ),
            &[&name],
        );
        assert_eq!(encryption.trim(), "AES256", "{name}");
    }
}

/// The bytes of the copy of `b/key`.
async fn copy_bytes(backend: &dyn DataBackend, key: &str) -> Vec<u8> {
    let chunks: Vec<Bytes> = backend
        .read_copy("b", key, None, None)
        .await
        .expect("read copy")
        .try_collect()
        .await
        .expect("read copy");
    chunks.concat()
}

/// A copy streamed to `s3` carries exactly the size it was opened with:
/// a source that sends more or fewer bytes fails the copy and leaves the
/// previous one whole.
async fn a_copy_of_the_wrong_size_is_refused(backend: &dyn DataBackend) {
    let key = "sized/copy";
    let write = |size: u64, body: &'static [u8]| async move {
        let mut w = backend
            .create_copy("b", key, size, &CopyAttributes::default())
            .await
            .expect("create copy");
        w.write(Bytes::from_static(body)).await?;
        w.commit().await
    };
    write(5, b"12345").await.expect("a copy of its size");
    let longer = write(5, b"123456").await.expect_err("a byte too many");
    assert!(
        longer.to_string().contains("more bytes than its size"),
        "{longer}"
    );
    let shorter = write(5, b"123").await.expect_err("bytes missing");
    assert!(shorter.to_string().contains("2 bytes short"), "{shorter}");
    assert_eq!(copy_bytes(backend, key).await, b"12345");
    backend.delete_copy("b", key).await.expect("delete");
}

/// Keys a path would alter (a `folder/` marker, an empty segment, a leading
/// `/`) are copied under exactly their names, as the peer's own client lists them.
async fn exact_names_reach_the_peer(backend: &dyn DataBackend, endpoint: &str) {
    let keys = ["exact/folder/", "exact/a//b", "exact//lead"];
    for key in keys {
        let mut w = backend
            .create_copy("b", key, key.len() as u64, &CopyAttributes::default())
            .await
            .unwrap_or_else(|e| panic!("create copy {key:?}: {e}"));
        w.write(Bytes::from(key)).await.expect("write");
        w.commit().await.expect("commit");
    }
    let listed = python_output(
        &format!(
            "import boto3; c = boto3.client('s3', endpoint_url='{endpoint}', \
             aws_access_key_id='a', aws_secret_access_key='b', region_name='us-east-1'); \
             print('\\n'.join(o['Key'] for o in c.list_objects_v2(Bucket='target', \
             Prefix='replica/b/exact/')['Contents']))"
        ),
        &[],
    );
    let mut want: Vec<String> = keys.iter().map(|k| backend.copy_key("b", k)).collect();
    want.sort();
    assert_eq!(listed.lines().collect::<Vec<_>>(), want);
    for key in keys {
        assert_eq!(copy_bytes(backend, key).await, key.as_bytes());
        backend.delete_copy("b", key).await.expect("delete");
        assert!(backend.head_copy("b", key).await.expect("head").is_none());
    }
}

/// An assembly whose id was lost (a crash before the upload's record
/// committed) is aborted by its key alone: every unfinished upload of
/// exactly that key goes, and one of a longer key stays.
async fn lost_assemblies_are_aborted(backend: &dyn DataBackend, endpoint: &str) {
    let (lost, other) = ("replica/lost/big@1", "replica/lost/big@10");
    for key in [lost, lost, other] {
        backend.start_assembly(key).await.expect("start assembly");
    }
    let uploads = || {
        python_output(
            &format!(
                "import boto3; c = boto3.client('s3', endpoint_url='{endpoint}', \
                 aws_access_key_id='a', aws_secret_access_key='b', region_name='us-east-1'); \
                 print(sorted(u['Key'] for u in c.list_multipart_uploads(Bucket='target', \
                 Prefix='replica/lost/').get('Uploads', [])))"
            ),
            &[],
        )
    };
    assert_eq!(uploads().trim(), format!("['{lost}', '{lost}', '{other}']"));
    backend
        .abort_assembly(lost, "")
        .await
        .expect("abort by key");
    assert_eq!(uploads().trim(), format!("['{other}']"));
    backend
        .abort_assembly(other, "")
        .await
        .expect("abort by key");
    assert_eq!(uploads().trim(), "[]");
}

#[tokio::test]
async fn azure_location_against_azurite() {
    need("azurite-blob", "npm install -g azurite");
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
    let endpoint = format!("http://127.0.0.1:{port}/devstoreaccount1");
    let created = python(&format!(
        "from azure.storage.blob import BlobServiceClient as C; \
         C(account_url='{endpoint}', credential={{'account_name': 'devstoreaccount1', 'account_key': '{KEY}'}})\
         .create_container('target')"
    ));
    assert!(
        created,
        "could not create the container (pip install azure-storage-blob; .ci/run installs it)"
    );
    let open = |bucket_match: bool, parted: &str| {
        let spec: LocationSpec = toml::from_str(&format!(
            "type = \"azure\"\nendpoint = \"{endpoint}\"\naccount = \"devstoreaccount1\"\n\
             container = \"target\"\naccess_key = \"{KEY}\"\nbucket_match = {bucket_match}\n{parted}"
        ))
        .expect("spec");
        spec.open("azurite").expect("open")
    };
    for (bucket_match, parted) in [(true, ""), (false, ""), (true, PARTED)] {
        strata_data::conformance::run(&*open(bucket_match, parted)).await;
    }
    // The same with a SAS token instead of the shared key.
    let sas = python_output(
        &format!(
            "from datetime import datetime, timedelta, timezone; \
             from azure.storage.blob import generate_account_sas, ResourceTypes, AccountSasPermissions as P; \
             print(generate_account_sas('devstoreaccount1', '{KEY}', \
             resource_types=ResourceTypes(service=True, container=True, object=True), \
             permission=P(read=True, write=True, delete=True, list=True, add=True, create=True, tag=True), \
             expiry=datetime.now(timezone.utc) + timedelta(hours=1)))"
        ),
        &[],
    );
    let spec: LocationSpec = toml::from_str(&format!(
        "type = \"azure\"\nendpoint = \"{endpoint}\"\naccount = \"devstoreaccount1\"\n\
         container = \"target\"\nsas_token = \"{}\"\n{PARTED}",
        sas.trim()
    ))
    .expect("sas spec");
    strata_data::conformance::run(&*spec.open("azurite-sas").expect("open with a SAS")).await;
    for parted in ["", PARTED] {
        peer_checks_at_azurite(&*open(false, parted), &endpoint).await;
    }
    let backend = open(false, "");
    // Copies keep names a path would alter: a console's folder marker, an
    // empty segment, a leading slash (Strata's own Put Blob, not object_store).
    let exact = ["folder/", "a//b", "/lead"];
    for key in exact {
        let mut writer = backend
            .create_copy("b", key, key.len() as u64, &Default::default())
            .await
            .expect("create exact copy");
        writer.write(bytes::Bytes::from(key)).await.expect("write");
        writer.commit().await.expect("commit exact copy");
    }
    let names = python_output(
        &format!(
            "from azure.storage.blob import BlobServiceClient as C; \
             c = C(account_url='{endpoint}', credential={{'account_name': 'devstoreaccount1', \
             'account_key': '{KEY}'}}).get_container_client('target'); \
             print(sorted(b.name for b in c.list_blobs(name_starts_with='b/')))"
        ),
        &[],
    );
    assert_eq!(names.trim(), "['b//lead', 'b/a//b', 'b/folder/']");
    for key in exact {
        backend
            .delete_copy("b", key)
            .await
            .expect("delete exact copy");
    }
}

/// The `PEER_CHECKS` copies, as Azure's own client reads them.
async fn peer_checks_at_azurite(backend: &dyn DataBackend, endpoint: &str) {
    for ((key, size), name) in PEER_CHECKS.iter().zip(write_peer_checks(backend).await) {
        assert!(name.starts_with("b/peer-check/"), "{name}");
        let report = python_output(
            &format!(
                "import json, sys; from azure.storage.blob import BlobServiceClient as C; \
                 c = C(account_url='{endpoint}', credential={{'account_name': 'devstoreaccount1', \
                 'account_key': '{KEY}'}}).get_blob_client('target', sys.argv[1]); \
                 p = c.get_blob_properties(); \
                 print(json.dumps({{'size': p.size, 'type': p.content_settings.content_type, \
                 'metadata': p.metadata, 'tags': dict(sorted(c.get_blob_tags().items()))}}))"
            ),
            &[&name],
        );
        // Azure metadata names are identifiers: `-` is stored as `_`.
        expect_peer_report(&report, *size, "multi_part_name");
        backend.delete_copy("b", key).await.expect("delete");
    }
}
