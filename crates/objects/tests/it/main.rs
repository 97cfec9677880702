//! [`S3Store`] against a real S3-compatible server: `moto_server` (PyPI `moto[server]`), started
//! on a free port by the test and killed at the end.
//!
//! Runs only with `OPENTRAIL_S3_TESTS=1` (CI sets it); then a missing or broken `moto_server`
//! fails the test. Without the variable the test says it did not run and passes.
//! `OPENTRAIL_MOTO_SERVER` overrides the `moto_server` command.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use opentrail_objects::{
    ByteRange, ObjectStore, PutOptions, S3Store, S3StoreConfig, Sse, StoreError,
};

const BUCKET: &str = "opentrail-objects-it";

/// A running `moto_server`, killed when dropped.
struct Moto {
    child: Child,
    port: u16,
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("a free local port")
        .port()
}

/// Sends one HTTP/1.1 request and returns the status line.
fn raw_request(port: u16, request: &str) -> std::io::Result<String> {
    Ok(raw_response(port, request)?
        .lines()
        .next()
        .unwrap_or_default()
        .to_owned())
}

/// Sends one HTTP/1.1 request (ending with `Connection: close`) and returns the response.
fn raw_response(port: u16, request: &str) -> std::io::Result<String> {
    let mut stream = TcpStream::connect(("127.0.0.1", port))?;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    stream.write_all(request.as_bytes())?;
    let mut response = String::new();
    stream.read_to_string(&mut response)?;
    Ok(response)
}

/// The response headers of a HEAD of `key` in [`BUCKET`], names lower-cased.
fn head_headers(port: u16, key: &str) -> BTreeMap<String, String> {
    let response = raw_response(
        port,
        &format!(
            "HEAD /{BUCKET}/{key} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\
             Authorization: AWS4-HMAC-SHA256 Credential=AKIDTEST/20260101/us-east-1/s3/aws4_request, SignedHeaders=host, Signature=00\r\n\
             Connection: close\r\n\r\n"
        ),
    )
    .expect("head request");
    assert!(
        response.starts_with("HTTP/1.1 200"),
        "head {key}: {response}"
    );
    response
        .lines()
        .skip(1)
        .take_while(|line| !line.is_empty())
        .filter_map(|line| line.split_once(':'))
        .map(|(name, value)| (name.trim().to_ascii_lowercase(), value.trim().to_owned()))
        .collect()
}

fn start_moto() -> Moto {
    let command =
        std::env::var("OPENTRAIL_MOTO_SERVER").unwrap_or_else(|_| "moto_server".to_owned());
    let port = free_port();
    let child = Command::new(&command)
        .args(["-H", "127.0.0.1", "-p", &port.to_string()])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|error| {
            panic!("cannot start {command} (pip install 'moto[server]==5.2.1'): {error}")
        });
    let mut moto = Moto { child, port };
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(status) = moto.child.try_wait().expect("polling moto_server") {
            panic!("{command} exited early with {status}");
        }
        if TcpStream::connect(("127.0.0.1", port)).is_ok() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{command} did not listen on port {port} within 60 s"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    // moto does not check signatures; the credential scope only tells it the service is S3.
    let status = raw_request(
        moto.port,
        &format!(
            "PUT /{BUCKET} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\
             Authorization: AWS4-HMAC-SHA256 Credential=AKIDTEST/20260101/us-east-1/s3/aws4_request, SignedHeaders=host, Signature=00\r\n\
             Content-Length: 0\r\nConnection: close\r\n\r\n"
        ),
    )
    .expect("create bucket request");
    assert!(status.contains(" 200"), "creating the bucket: {status}");
    moto.port = port;
    moto
}

fn config(port: u16) -> S3StoreConfig {
    S3StoreConfig::for_endpoint(
        format!("http://127.0.0.1:{port}"),
        "us-east-1",
        "AKIDTEST",
        "secret",
    )
}

fn options(metadata: &[(&str, &str)]) -> PutOptions {
    PutOptions {
        content_type: Some("application/json".to_owned()),
        content_encoding: Some("gzip".to_owned()),
        user_metadata: metadata
            .iter()
            .map(|(name, value)| ((*name).to_owned(), (*value).to_owned()))
            .collect::<BTreeMap<_, _>>(),
        ..Default::default()
    }
}

#[test]
fn s3_store_against_moto_server() {
    if std::env::var("OPENTRAIL_S3_TESTS").as_deref() != Ok("1") {
        eprintln!("s3_store_against_moto_server: not run (set OPENTRAIL_S3_TESTS=1 to run it)");
        return;
    }
    let moto = start_moto();
    let store = S3Store::new(config(moto.port)).expect("store");

    round_trip_with_metadata(&store);
    ranges(&store);
    listing(&store);
    deletes(&store);
    missing_bucket(&store);
    server_side_encryption(moto.port);
    per_write_encryption(&store, moto.port);
    calls_from_tokio_blocking_threads(store);
}

fn round_trip_with_metadata(store: &S3Store) {
    let key = "AWSLogs/123456789012/CloudTrail-Digest/us-east-1/2026/01/02/digest.json.gz";
    let put_options = options(&[
        ("signature", "0a1b2c"),
        ("signature-algorithm", "SHA256withRSA"),
    ]);
    let written = store
        .put(BUCKET, key, b"digest bytes", &put_options)
        .expect("put");
    assert_eq!(written.size, 12);
    assert_eq!(
        written.etag.len(),
        32,
        "etag is hex md5: {:?}",
        written.etag
    );

    let head = store.head(BUCKET, key).expect("head");
    assert_eq!(head.key, key);
    assert_eq!(head.size, 12);
    assert_eq!(head.etag, written.etag);
    assert_eq!(head.options.user_metadata, put_options.user_metadata);
    assert_eq!(
        head.options.content_type.as_deref(),
        Some("application/json")
    );

    let (info, body) = store.get(BUCKET, key, None).expect("get");
    assert_eq!(body, b"digest bytes");
    assert_eq!(info.options.user_metadata, put_options.user_metadata);
    assert_eq!(info.options.content_encoding.as_deref(), Some("gzip"));
    assert!(info.last_modified_ms > 1_700_000_000_000);

    // Overwrite replaces bytes and metadata.
    store
        .put(BUCKET, key, b"new", &options(&[("signature", "ff")]))
        .expect("overwrite");
    let (info, body) = store.get(BUCKET, key, None).expect("get again");
    assert_eq!(body, b"new");
    assert_eq!(
        info.options
            .user_metadata
            .get("signature")
            .map(String::as_str),
        Some("ff")
    );
    assert!(
        !info
            .options
            .user_metadata
            .contains_key("signature-algorithm")
    );
}

fn ranges(store: &S3Store) {
    let key = "ranges/ten";
    store
        .put(BUCKET, key, b"0123456789", &PutOptions::default())
        .expect("put");
    let read = |range| store.get(BUCKET, key, Some(range)).map(|(_, body)| body);
    assert_eq!(
        read(ByteRange::FromTo {
            start: 2,
            end: Some(5)
        })
        .expect("2-5"),
        b"2345"
    );
    assert_eq!(
        read(ByteRange::FromTo {
            start: 7,
            end: None
        })
        .expect("7-"),
        b"789"
    );
    assert_eq!(read(ByteRange::Suffix(3)).expect("-3"), b"789");
    assert_eq!(
        read(ByteRange::FromTo {
            start: 8,
            end: Some(100)
        })
        .expect("8-100 is clamped"),
        b"89"
    );
    let beyond = read(ByteRange::FromTo {
        start: 50,
        end: None,
    });
    assert!(
        matches!(beyond, Err(StoreError::InvalidRange { size: 10 })),
        "{beyond:?}"
    );
}

fn listing(store: &S3Store) {
    for key in [
        "list/a1",
        "list/a2",
        "list/ab/c",
        "list/b1",
        "listx/a",
        "list/a3",
    ] {
        store
            .put(BUCKET, key, key.as_bytes(), &PutOptions::default())
            .expect("put");
    }
    let keys = |prefix: &str, after: Option<&str>, limit| -> Vec<String> {
        store
            .list(BUCKET, prefix, after, limit)
            .expect("list")
            .into_iter()
            .map(|object| object.key)
            .collect()
    };
    // A raw prefix, not a path segment.
    assert_eq!(
        keys("list/a", None, 100),
        ["list/a1", "list/a2", "list/a3", "list/ab/c"]
    );
    assert_eq!(
        keys("list", None, 100),
        [
            "list/a1",
            "list/a2",
            "list/a3",
            "list/ab/c",
            "list/b1",
            "listx/a"
        ]
    );
    assert_eq!(keys("list/", Some("list/a2"), 2), ["list/a3", "list/ab/c"]);
    assert_eq!(keys("list/", Some("list/b1"), 10), Vec::<String>::new());
    assert!(keys("list/", None, 0).is_empty());
    let listed = store.list(BUCKET, "list/b", None, 10).expect("list");
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].size, 7);
    assert_eq!(listed[0].etag.len(), 32);
    assert_eq!(
        store.list_keys(BUCKET, "listx", None, 10).expect("keys"),
        ["listx/a"]
    );
}

fn deletes(store: &S3Store) {
    let key = "delete/me";
    store
        .put(BUCKET, key, b"x", &PutOptions::default())
        .expect("put");
    assert!(store.delete(BUCKET, key).expect("delete"));
    assert!(!store.delete(BUCKET, key).expect("delete again"));
    let gone = store.get(BUCKET, key, None);
    assert!(
        matches!(gone, Err(StoreError::NoSuchKey { .. })),
        "{gone:?}"
    );
    let head = store.head(BUCKET, key);
    assert!(
        matches!(head, Err(StoreError::NoSuchKey { .. })),
        "{head:?}"
    );
}

fn missing_bucket(store: &S3Store) {
    let result = store.get("no-such-bucket-here", "k", None);
    assert!(
        matches!(result, Err(StoreError::NoSuchBucket(ref bucket)) if bucket == "no-such-bucket-here"),
        "{result:?}"
    );
    let put = store.put("no-such-bucket-here", "k", b"x", &PutOptions::default());
    assert!(
        matches!(put, Err(StoreError::NoSuchBucket(ref bucket)) if bucket == "no-such-bucket-here"),
        "{put:?}"
    );
    let listed = store.list("no-such-bucket-here", "", None, 1);
    assert!(
        matches!(listed, Err(StoreError::NoSuchBucket(_))),
        "{listed:?}"
    );
    let refused = store.create_bucket("another");
    assert!(matches!(refused, Err(StoreError::Other(_))), "{refused:?}");
}

fn server_side_encryption(port: u16) {
    for sse in [
        Sse::S3,
        Sse::Kms {
            key_id: "arn:aws:kms:us-east-1:123456789012:key/test".to_owned(),
        },
    ] {
        let store = S3Store::new(S3StoreConfig {
            sse: Some(sse.clone()),
            ..config(port)
        })
        .expect("store");
        let key = format!("sse/{sse:?}").replace([' ', '{', '}', ':', '"'], "_");
        store
            .put(BUCKET, &key, b"secret", &PutOptions::default())
            .unwrap_or_else(|error| panic!("put with {sse:?}: {error}"));
        let (_, body) = store.get(BUCKET, &key, None).expect("get");
        assert_eq!(body, b"secret");
    }
}

/// [`PutOptions::sse`] picks the encryption of one write; the service reports it on HEAD.
fn per_write_encryption(store: &S3Store, port: u16) {
    let key_id = "arn:aws:kms:us-east-1:123456789012:key/per-write";
    let kms = PutOptions {
        sse: Some(Sse::Kms {
            key_id: key_id.to_owned(),
        }),
        ..options(&[("signature", "01")])
    };
    store
        .put(BUCKET, "per-write/kms", b"k", &kms)
        .expect("put with sse-kms");
    let aes = PutOptions {
        sse: Some(Sse::S3),
        ..PutOptions::default()
    };
    store
        .put(BUCKET, "per-write/aes", b"a", &aes)
        .expect("put with sse-s3");
    store
        .put(BUCKET, "per-write/none", b"n", &PutOptions::default())
        .expect("put without sse");

    let headers = head_headers(port, "per-write/kms");
    assert_eq!(
        headers
            .get("x-amz-server-side-encryption")
            .map(String::as_str),
        Some("aws:kms"),
        "{headers:?}"
    );
    assert_eq!(
        headers
            .get("x-amz-server-side-encryption-aws-kms-key-id")
            .map(String::as_str),
        Some(key_id),
        "{headers:?}"
    );
    assert_eq!(
        headers.get("x-amz-meta-signature").map(String::as_str),
        Some("01")
    );
    let headers = head_headers(port, "per-write/aes");
    assert_eq!(
        headers
            .get("x-amz-server-side-encryption")
            .map(String::as_str),
        Some("AES256"),
        "{headers:?}"
    );
    let headers = head_headers(port, "per-write/none");
    assert!(
        !headers.contains_key("x-amz-server-side-encryption"),
        "{headers:?}"
    );
}

fn calls_from_tokio_blocking_threads(store: S3Store) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let store = Arc::new(store);
    let results = runtime.block_on(async {
        let mut tasks = Vec::new();
        for index in 0..8 {
            let store = Arc::clone(&store);
            tasks.push(tokio::task::spawn_blocking(move || {
                let key = format!("concurrent/{index}");
                store.put(BUCKET, &key, key.as_bytes(), &PutOptions::default())?;
                store.get(BUCKET, &key, None).map(|(_, body)| body)
            }));
        }
        let mut results = Vec::new();
        for task in tasks {
            results.push(task.await.expect("task"));
        }
        results
    });
    for (index, result) in results.into_iter().enumerate() {
        assert_eq!(
            result.expect("round trip"),
            format!("concurrent/{index}").into_bytes()
        );
    }
    // Dropped inside the runtime: must not panic.
    runtime.block_on(async move { drop(store) });
}
