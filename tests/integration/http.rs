//! Outbound HTTP (`wasi:http`, through `sluice_sdk::http` in the probe): the allow-list, the
//! per-request timeout and the response size limit, against a tiny webhook server started in
//! the test, and which `HttpError` the SDK makes of each of the host's refusals.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use serde_json::{Value, json};
use sluice_tests::{Manifest, Sluice, WAIT, next_message};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;
use tokio::sync::mpsc;

/// How the webhook server answers.
#[derive(Clone, Copy)]
enum Answer {
    /// `200` with this body and its `Content-Length`.
    Ok(&'static str),
    /// `200` with this many bytes of body, with or without a `Content-Length` (without one,
    /// the body ends when the connection closes).
    Large { bytes: usize, content_length: bool },
    /// Never answers; holds the connection until the client gives up.
    Silent,
}

/// A one-request-per-connection HTTP/1.1 server that counts requests and reports each
/// request's body.
struct WebhookServer {
    port: u16,
    requests: Arc<AtomicUsize>,
    bodies: mpsc::UnboundedReceiver<String>,
}

impl WebhookServer {
    async fn start(answer: Answer) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let requests = Arc::new(AtomicUsize::new(0));
        let (sender, bodies) = mpsc::unbounded_channel();
        let counter = requests.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let (counter, sender) = (counter.clone(), sender.clone());
                tokio::spawn(async move {
                    let mut stream = BufReader::new(stream);
                    let body = read_request(&mut stream).await;
                    counter.fetch_add(1, Ordering::SeqCst);
                    let _ = sender.send(body);
                    let head = |length: Option<usize>| match length {
                        Some(n) => {
                            format!("HTTP/1.1 200 OK\r\ncontent-length: {n}\r\nconnection: close\r\n\r\n")
                        }
                        None => "HTTP/1.1 200 OK\r\nconnection: close\r\n\r\n".to_owned(),
                    };
                    let response = match answer {
                        Answer::Ok(body) => format!("{}{body}", head(Some(body.len()))),
                        Answer::Large {
                            bytes,
                            content_length,
                        } => format!("{}{}", head(content_length.then_some(bytes)), "x".repeat(bytes)),
                        Answer::Silent => {
                            // Wait for the client to hang up.
                            let _ = stream.read(&mut [0; 1]).await;
                            return;
                        }
                    };
                    // The client may hang up early (a refused response): ignore the error.
                    let _ = stream.get_mut().write_all(response.as_bytes()).await;
                    let _ = stream.get_mut().shutdown().await;
                });
            }
        });
        Self {
            port,
            requests,
            bodies,
        }
    }

    fn requests(&self) -> usize {
        self.requests.load(Ordering::SeqCst)
    }
}

/// Reads one request's head and its `Content-Length` body; returns the body.
async fn read_request(stream: &mut BufReader<tokio::net::TcpStream>) -> String {
    let mut length = 0;
    loop {
        let mut line = String::new();
        stream.read_line(&mut line).await.unwrap();
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        if let Some((name, value)) = line.split_once(':')
            && name.eq_ignore_ascii_case("content-length")
        {
            length = value.trim().parse().unwrap();
        }
    }
    let mut body = vec![0; length];
    stream.read_exact(&mut body).await.unwrap();
    String::from_utf8(body).unwrap()
}

/// A probe on subject `in` reporting to `probe.out`, allowed to call `hosts`.
fn manifest(hosts: &[&str]) -> Manifest {
    Manifest::new()
        .subjects(["in"])
        .publish(["probe.out"])
        .http(hosts.iter().copied())
}

/// Deploys the probe with `manifest`, has it POST `body` to `url`, and returns its report:
/// `{"status","body"}` or `{"error": kind, "message"}`.
async fn call(manifest: Manifest, url: &str, body: &str) -> Value {
    call_with(manifest, json!({"op": "http", "url": url, "body": body})).await
}

/// Like [`call`], with the probe's whole `http` event given.
async fn call_with(manifest: Manifest, event: Value) -> Value {
    let sluice = Sluice::builder().add("hook", "probe", manifest).start().await;
    let mut out = sluice.subscribe("probe.out").await;
    sluice.publish_event("in", "e-1", event.to_string()).await;
    let report = next_message(&mut out, WAIT, "the probe's HTTP report").await;
    sluice.shutdown().await;
    serde_json::from_slice(&report.payload).unwrap()
}

/// Asserts that `report` is an `HttpError` of `kind` whose message contains `text`.
#[track_caller]
fn assert_error(report: &Value, kind: &str, text: &str) {
    assert_eq!(report["error"], kind, "{report}");
    let message = report["message"].as_str().unwrap_or_default();
    assert!(message.contains(text), "{text:?} not in {report}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_allowed_host_gets_the_request_and_the_handler_the_response() {
    let mut webhook = WebhookServer::start(Answer::Ok(r#"{"accepted":true}"#)).await;
    let authority = format!("127.0.0.1:{}", webhook.port);
    let report = call(
        manifest(&[&authority]),
        &format!("http://{authority}/hooks/orders"),
        r#"{"order":"o-1"}"#,
    )
    .await;
    assert_eq!(report, json!({"status": 200, "body": r#"{"accepted":true}"#}));
    assert_eq!(webhook.bodies.recv().await.unwrap(), r#"{"order":"o-1"}"#);
    assert_eq!(webhook.requests(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_host_not_listed_is_denied_before_any_connection() {
    let webhook = WebhookServer::start(Answer::Ok("never")).await;
    // The same server under another name: hosts are compared as written, not resolved.
    let listed = format!("127.0.0.1:{}", webhook.port);
    let report = call(
        manifest(&[&listed]),
        &format!("http://localhost:{}/hook", webhook.port),
        "{}",
    )
    .await;
    assert_error(&report, "denied", "ErrorCode::HttpRequestDenied");
    assert_error(
        &report,
        "denied",
        &format!("POST http://localhost:{}/hook", webhook.port),
    );
    // The denial happens before connecting, and the report came after it.
    assert_eq!(webhook.requests(), 0);

    let report = call(manifest(&[]), "https://api.example.com/v1", "{}").await;
    assert_error(&report, "denied", "ErrorCode::HttpRequestDenied"); // deny by default
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_slower_than_http_timeout_times_out() {
    let mut webhook = WebhookServer::start(Answer::Silent).await;
    let authority = format!("127.0.0.1:{}", webhook.port);
    let report = call(
        manifest(&[&authority]).http_timeout("300ms"),
        &format!("http://{authority}/slow"),
        "{}",
    )
    .await;
    assert_error(&report, "timeout", "ErrorCode::HttpResponseTimeout");
    assert_eq!(
        webhook.bodies.recv().await.unwrap(),
        "{}",
        "the request did arrive"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_timeout_shorter_than_http_timeout_ends_the_wait_sooner() {
    let mut webhook = WebhookServer::start(Answer::Silent).await;
    let authority = format!("127.0.0.1:{}", webhook.port);
    let started = std::time::Instant::now();
    let report = call_with(
        manifest(&[&authority]).http_timeout("20s"),
        json!({"op": "http", "url": format!("http://{authority}/slow"), "body": "{}", "timeout_ms": 300}),
    )
    .await;
    // The SDK's own deadline, not the host's (whose message would name an error-code).
    assert_error(&report, "timeout", "timed out (the request's timeout)");
    assert!(
        started.elapsed() < std::time::Duration::from_secs(15),
        "the 20 s http_timeout did not decide: {:?}",
        started.elapsed()
    );
    assert_eq!(webhook.bodies.recv().await.unwrap(), "{}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_response_larger_than_max_http_response_fails() {
    // Announced by Content-Length: refused before the handler sees the response.
    let webhook = WebhookServer::start(Answer::Large {
        bytes: 2048,
        content_length: true,
    })
    .await;
    let authority = format!("127.0.0.1:{}", webhook.port);
    let limited = |authority: &str| manifest(&[authority]).max_http_response("1KiB");
    let report = call(limited(&authority), &format!("http://{authority}/big"), "{}").await;
    assert_error(
        &report,
        "response-too-large",
        "ErrorCode::HttpResponseBodySize(Some(2048))",
    );

    // Streamed without a length: the read that passes the limit fails (a stream error, which
    // wasmtime-wasi-http reports as text rather than an error-code; the SDK reads the text).
    let webhook = WebhookServer::start(Answer::Large {
        bytes: 64 << 10,
        content_length: false,
    })
    .await;
    let authority = format!("127.0.0.1:{}", webhook.port);
    let report = call(limited(&authority), &format!("http://{authority}/big"), "{}").await;
    assert_error(
        &report,
        "response-too-large",
        "HTTP response body size exceeds limit",
    );

    // Within the limit, the same server's answer arrives whole (read against the request's
    // own deadline, which the SDK polls with the body stream).
    let webhook = WebhookServer::start(Answer::Large {
        bytes: 1024,
        content_length: false,
    })
    .await;
    let authority = format!("127.0.0.1:{}", webhook.port);
    let url = format!("http://{authority}/big");
    let event = json!({"op": "http", "url": url, "body": "{}", "timeout_ms": 10_000});
    let report = call_with(limited(&authority), event).await;
    assert_eq!(report["body"].as_str().map(str::len), Some(1024), "{report}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_allowed_host_that_is_down_is_a_connection_failure() {
    // A port that was free a moment ago and has nobody listening now.
    let port = TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let authority = format!("127.0.0.1:{port}");
    let report = call(manifest(&[&authority]), &format!("http://{authority}/hook"), "{}").await;
    assert_error(&report, "connection", "ErrorCode::ConnectionRefused");
}

/// The SDK's HTTP client costs a handler that does not call it nothing: a component built
/// with the same `sluice-sdk` imports `wasi:http` only if it sends requests (the linker drops
/// the unused bindings), which is why the SDK has no cargo feature for it.
#[test]
fn only_components_that_send_http_import_wasi_http() {
    let engine = sluice_runtime::SluiceEngine::new().unwrap();
    let imports_http = |guest: &str| {
        let bytes = std::fs::read(sluice_tests::guest(guest)).unwrap();
        let component = engine.compile(&bytes).unwrap();
        let imports: Vec<String> = component
            .component_type()
            .imports(engine.engine())
            .map(|(name, _)| name.to_owned())
            .collect();
        imports.iter().any(|name| name.starts_with("wasi:http/"))
    };
    assert!(imports_http("probe"), "the probe sends HTTP requests");
    assert!(
        !imports_http("order-total"),
        "order-total does not, and must not import wasi:http"
    );
}
