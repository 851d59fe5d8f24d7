//! A real OTLP/HTTP trace receiver for tests: it listens on a free loopback port, accepts
//! `POST /v1/traces` with protobuf bodies as a collector does, decodes them with
//! OpenTelemetry's own generated types, and keeps every span it received.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::any_value::Value;
use opentelemetry_proto::tonic::trace::v1::Span;
use prost::Message;
use tokio::net::TcpListener;

/// A span as received, with the resource it came from.
#[derive(Debug, Clone)]
pub struct ReceivedSpan {
    /// The span.
    pub span: Span,
    /// The resource's `service.name`.
    pub service: String,
}

impl ReceivedSpan {
    /// Attribute `key` as text (strings as they are, numbers and flags written out).
    pub fn attribute(&self, key: &str) -> Option<String> {
        let value = self
            .span
            .attributes
            .iter()
            .find(|kv| kv.key == key)?
            .value
            .as_ref()?
            .value
            .as_ref()?;
        Some(match value {
            Value::StringValue(text) => text.clone(),
            Value::IntValue(number) => number.to_string(),
            Value::BoolValue(flag) => flag.to_string(),
            other => format!("{other:?}"),
        })
    }

    /// The trace id in hex.
    pub fn trace_id(&self) -> String {
        hex(&self.span.trace_id)
    }

    /// The span id in hex.
    pub fn span_id(&self) -> String {
        hex(&self.span.span_id)
    }

    /// The parent's span id in hex, `None` for a root span.
    pub fn parent_id(&self) -> Option<String> {
        (!self.span.parent_span_id.is_empty()).then(|| hex(&self.span.parent_span_id))
    }

    /// Whether the span's status is an error.
    pub fn is_error(&self) -> bool {
        self.span.status.as_ref().is_some_and(|status| status.code == 2)
    }
}

/// Lowercase hex of `bytes`.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

/// A request's headers, names lowercased.
pub type Headers = Vec<(String, String)>;

/// What a receiver got.
#[derive(Default)]
struct Received {
    spans: Vec<ReceivedSpan>,
    /// The headers of each export.
    exports: Vec<Headers>,
    /// The headers of each request to another path.
    others: Vec<Headers>,
}

/// A running receiver; it stops when dropped.
pub struct OtlpReceiver {
    addr: SocketAddr,
    received: Arc<Mutex<Received>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for OtlpReceiver {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl OtlpReceiver {
    /// Starts a receiver on a free loopback port.
    pub async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the OTLP receiver");
        let addr = listener.local_addr().expect("receiver address");
        let received = Arc::new(Mutex::new(Received::default()));
        let task = tokio::spawn(serve(listener, received.clone()));
        Self { addr, received, task }
    }

    /// The base URL (`OTEL_EXPORTER_OTLP_ENDPOINT`): spans are expected at `/v1/traces`.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The headers of every request to another path than `/v1/traces` (answered 200 with
    /// `received`): what a handler's outgoing HTTP request carried.
    pub fn other_requests(&self) -> Vec<Headers> {
        self.received.lock().unwrap().others.clone()
    }

    /// Every span received so far.
    pub fn spans(&self) -> Vec<ReceivedSpan> {
        self.received.lock().unwrap().spans.clone()
    }

    /// The headers of every export request received so far.
    pub fn export_headers(&self) -> Vec<Headers> {
        self.received.lock().unwrap().exports.clone()
    }

    /// Waits (up to `timeout`) until `ready` holds for the spans received, and returns them;
    /// panics with `what` and what arrived when it does not.
    pub async fn wait_for(
        &self,
        what: &str,
        timeout: Duration,
        ready: impl Fn(&[ReceivedSpan]) -> bool,
    ) -> Vec<ReceivedSpan> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let spans = self.spans();
            if ready(&spans) {
                return spans;
            }
            if tokio::time::Instant::now() > deadline {
                let names: Vec<String> = spans
                    .iter()
                    .map(|s| format!("{} {:?}", s.span.name, s.attribute("messaging.message.id")))
                    .collect();
                panic!(
                    "{what}: not received within {timeout:?}; {} spans arrived: {names:#?}",
                    spans.len()
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

async fn serve(listener: TcpListener, received: Arc<Mutex<Received>>) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let received = received.clone();
        tokio::spawn(async move {
            let service = service_fn(move |request: hyper::Request<hyper::body::Incoming>| {
                let received = received.clone();
                async move { Ok::<_, hyper::Error>(receive(request, &received).await) }
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

/// Answers one export: 200 with an empty `ExportTraceServiceResponse` when the body decodes,
/// 400 otherwise; another request is recorded and answered 200.
async fn receive(
    request: hyper::Request<hyper::body::Incoming>,
    received: &Mutex<Received>,
) -> hyper::Response<Full<Bytes>> {
    let answer = |status: u16, body: Vec<u8>| {
        hyper::Response::builder()
            .status(status)
            .header("content-type", "application/x-protobuf")
            .body(Full::new(Bytes::from(body)))
            .expect("response")
    };
    let headers: Headers = request
        .headers()
        .iter()
        .map(|(name, value)| (name.to_string(), value.to_str().unwrap_or_default().to_owned()))
        .collect();
    if request.method() != hyper::Method::POST || request.uri().path() != "/v1/traces" {
        received.lock().unwrap().others.push(headers);
        return answer(200, b"received".to_vec());
    }
    let Ok(body) = request.into_body().collect().await else {
        return answer(400, Vec::new());
    };
    let Ok(export) = ExportTraceServiceRequest::decode(body.to_bytes()) else {
        return answer(400, b"not an ExportTraceServiceRequest".to_vec());
    };
    let mut received = received.lock().unwrap();
    received.exports.push(headers);
    for resource_spans in export.resource_spans {
        let service = resource_spans
            .resource
            .iter()
            .flat_map(|resource| &resource.attributes)
            .find(|kv| kv.key == "service.name")
            .and_then(|kv| match kv.value.as_ref()?.value.as_ref()? {
                Value::StringValue(name) => Some(name.clone()),
                _ => None,
            })
            .unwrap_or_default();
        for scope in resource_spans.scope_spans {
            for span in scope.spans {
                received.spans.push(ReceivedSpan {
                    span,
                    service: service.clone(),
                });
            }
        }
    }
    answer(200, ExportTraceServiceResponse::default().encode_to_vec())
}
