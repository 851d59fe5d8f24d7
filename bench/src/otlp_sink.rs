//! A trace sink for the tracing scenario: an OTLP/HTTP endpoint on loopback that accepts
//! `POST /v1/traces` with protobuf bodies as a collector does, answers each with an empty
//! `ExportTraceServiceResponse` (no bytes), and only counts what it received. It decodes
//! nothing beyond the few bytes that frame each span, so it takes as little as it can of the
//! cores it shares with the host under test.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

/// What a sink has received so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Received {
    /// Export requests answered 200.
    pub requests: u64,
    /// Their bodies' bytes.
    pub bytes: u64,
    /// The spans in them.
    pub spans: u64,
}

/// The counts, shared with the connections.
#[derive(Default)]
struct Counters {
    requests: AtomicU64,
    bytes: AtomicU64,
    spans: AtomicU64,
}

/// A running sink; it stops when dropped.
pub struct OtlpSink {
    addr: SocketAddr,
    counters: Arc<Counters>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for OtlpSink {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl OtlpSink {
    /// Starts a sink on a free loopback port.
    pub async fn start() -> anyhow::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let counters = Arc::new(Counters::default());
        let task = tokio::spawn(serve(listener, counters.clone()));
        Ok(Self { addr, counters, task })
    }

    /// The base URL for `sluice up --otlp-endpoint`: spans are expected at `/v1/traces`.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// What it has received so far.
    pub fn received(&self) -> Received {
        Received {
            requests: self.counters.requests.load(Ordering::Relaxed),
            bytes: self.counters.bytes.load(Ordering::Relaxed),
            spans: self.counters.spans.load(Ordering::Relaxed),
        }
    }
}

/// Accepts connections and serves each with HTTP/1.1 until the sink is dropped.
async fn serve(listener: TcpListener, counters: Arc<Counters>) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let counters = counters.clone();
        tokio::spawn(async move {
            let service = service_fn(move |request: hyper::Request<hyper::body::Incoming>| {
                let counters = counters.clone();
                async move { Ok::<_, hyper::Error>(receive(request, &counters).await) }
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

/// Counts one export and answers 200 with an empty body (an encoded empty
/// `ExportTraceServiceResponse`); another path or method is answered 404 and not counted.
async fn receive(
    request: hyper::Request<hyper::body::Incoming>,
    counters: &Counters,
) -> hyper::Response<Full<Bytes>> {
    let answer = |status: u16| {
        hyper::Response::builder()
            .status(status)
            .header("content-type", "application/x-protobuf")
            .body(Full::new(Bytes::new()))
            .expect("a valid response")
    };
    if request.method() != hyper::Method::POST || request.uri().path() != "/v1/traces" {
        return answer(404);
    }
    let Ok(body) = request.into_body().collect().await else {
        return answer(400);
    };
    let body = body.to_bytes();
    counters.requests.fetch_add(1, Ordering::Relaxed);
    counters.bytes.fetch_add(body.len() as u64, Ordering::Relaxed);
    counters.spans.fetch_add(count_spans(&body), Ordering::Relaxed);
    answer(200)
}

/// The spans in an encoded `ExportTraceServiceRequest`, counted from the framing alone: its
/// `resource_spans` (field 1) hold `scope_spans` (field 2), which hold `spans` (field 2).
pub fn count_spans(request: &[u8]) -> u64 {
    embedded(request, 1)
        .flat_map(|resource_spans| embedded(resource_spans, 2))
        .map(|scope_spans| embedded(scope_spans, 2).count() as u64)
        .sum()
}

/// The length-delimited fields numbered `number` of the protobuf message `message`, in order;
/// ends early at a malformed field.
fn embedded(message: &[u8], number: u64) -> impl Iterator<Item = &[u8]> {
    let mut rest = message;
    std::iter::from_fn(move || {
        loop {
            let key = varint(&mut rest)?;
            let value = match key & 7 {
                0 => varint(&mut rest).map(|_| None)?,
                1 => advance(&mut rest, 8).map(|_| None)?,
                2 => {
                    let length = usize::try_from(varint(&mut rest)?).ok()?;
                    Some(advance(&mut rest, length)?)
                }
                5 => advance(&mut rest, 4).map(|_| None)?,
                _ => return None,
            };
            if let Some(value) = value.filter(|_| key >> 3 == number) {
                return Some(value);
            }
        }
    })
}

/// Takes the first `length` bytes off `bytes`.
fn advance<'a>(bytes: &mut &'a [u8], length: usize) -> Option<&'a [u8]> {
    let (taken, rest) = bytes.split_at_checked(length)?;
    *bytes = rest;
    Some(taken)
}

/// Takes a base-128 varint off `bytes`.
fn varint(bytes: &mut &[u8]) -> Option<u64> {
    let mut value = 0u64;
    for shift in (0..64).step_by(7) {
        let (&byte, rest) = bytes.split_first()?;
        *bytes = rest;
        value |= u64::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            return Some(value);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use std::time::SystemTime;

    use sluice_runtime::telemetry::{FinishedSpan, SpanContext, SpanKind, Value, encode};

    use super::count_spans;

    fn span(n: u8) -> FinishedSpan {
        FinishedSpan {
            name: format!("span-{n}"),
            kind: SpanKind::Consumer,
            context: SpanContext {
                trace_id: [n; 16],
                span_id: [n; 8],
                sampled: true,
            },
            parent: n.is_multiple_of(2).then_some([1; 8]),
            start: SystemTime::now(),
            end: SystemTime::now(),
            attributes: vec![
                ("messaging.system", Value::from("nats")),
                ("n", Value::Int(n.into())),
            ],
            error: (n == 3).then(|| "failed".to_owned()),
        }
    }

    #[test]
    fn counts_the_spans_the_runtime_encodes() {
        for n in [0usize, 1, 5, 600] {
            let spans = (0..n).map(|i| span((i % 200) as u8)).collect();
            assert_eq!(count_spans(&encode(&Default::default(), spans)), n as u64);
        }
    }

    #[test]
    fn stops_at_malformed_bytes() {
        let mut body = encode(&Default::default(), vec![span(1), span(2)]);
        body.truncate(body.len() - 1);
        assert!(count_spans(&body) < 2);
        assert_eq!(count_spans(&[0xff, 0xff]), 0);
    }
}
