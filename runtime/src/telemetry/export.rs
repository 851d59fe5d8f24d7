//! The export task: finished spans are batched and POSTed as OTLP protobuf
//! (`ExportTraceServiceRequest`) to the configured endpoint, over HTTP/1.1 or HTTPS.
//!
//! Nothing on the event path waits for it: a span is queued with `try_send`, and a span that
//! finds the queue full (the collector is slow or gone) is dropped and counted. A failed
//! export is dropped too, with one warning when exports start failing and one line when they
//! work again.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{AnyValue, InstrumentationScope, KeyValue, any_value};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span, Status, span, status};
use prost::Message;
use tokio::sync::{mpsc, oneshot};

use super::config::TracingConfig;
use super::span::{FinishedSpan, SpanKind, Value};

/// What the export task is told.
pub(super) enum Command {
    /// A span to export.
    Span(FinishedSpan),
    /// Export everything queued before this, then answer.
    Flush(oneshot::Sender<()>),
}

/// Spans that never reached the collector.
#[derive(Debug, Default)]
pub(super) struct Drops {
    /// Finished while the queue was full (the export falls behind).
    pub queue_full: AtomicU64,
    /// In an export that failed.
    pub failed: AtomicU64,
}

/// Longest a run of spans dropped for a full queue goes unsaid.
const FULL_QUEUE_REPORT: Duration = Duration::from_secs(60);

/// Receives spans from `queue` and exports them in batches until every sender is gone;
/// counts the spans it could not deliver in `drops`, and says so.
pub(super) async fn run(config: TracingConfig, mut queue: mpsc::Receiver<Command>, drops: Arc<Drops>) {
    let mut exporter = Exporter {
        resource: Resource {
            attributes: config
                .resource
                .iter()
                .map(|(key, value)| key_value(key, &Value::Text(value.clone())))
                .collect(),
            ..Default::default()
        },
        failing: false,
        drops,
        full_reported: 0,
        full_said: None,
        config,
    };
    let mut batch = Vec::new();
    let mut tick = tokio::time::interval(
        exporter
            .config
            .schedule_delay
            .max(std::time::Duration::from_millis(1)),
    );
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            command = queue.recv() => match command {
                Some(Command::Span(span)) => {
                    batch.push(span);
                    if batch.len() >= exporter.config.max_batch {
                        exporter.export(std::mem::take(&mut batch)).await;
                    }
                }
                Some(Command::Flush(done)) => {
                    exporter.export(std::mem::take(&mut batch)).await;
                    let _ = done.send(());
                }
                None => {
                    exporter.export(batch).await;
                    return;
                }
            },
            _ = tick.tick() => {
                exporter.export(std::mem::take(&mut batch)).await;
                exporter.say_full_queue();
            }
        }
    }
}

struct Exporter {
    config: TracingConfig,
    resource: Resource,
    /// Whether the last export failed (so a run of failures is logged once).
    failing: bool,
    drops: Arc<Drops>,
    /// Spans dropped for a full queue that a warning already counted.
    full_reported: u64,
    /// When the last such warning was logged.
    full_said: Option<Instant>,
}

impl Exporter {
    async fn export(&mut self, spans: Vec<FinishedSpan>) {
        if spans.is_empty() {
            return;
        }
        let count = spans.len();
        let body = encode(&self.resource, spans);
        match self.post(body).await {
            Ok(()) if self.failing => {
                self.failing = false;
                tracing::info!(endpoint = %self.config.endpoint, "trace export works again");
            }
            Ok(()) => {}
            Err(error) => {
                self.drops.failed.fetch_add(count as u64, Ordering::Relaxed);
                if !self.failing {
                    self.failing = true;
                    tracing::warn!(
                        endpoint = %self.config.endpoint,
                        "trace export failed, {count} spans dropped (more are dropped quietly until it works again): {error}"
                    );
                }
            }
        }
    }

    /// Warns (at most once a minute) that spans were dropped because the queue was full.
    fn say_full_queue(&mut self) {
        let full = self.drops.queue_full.load(Ordering::Relaxed);
        let due = self
            .full_said
            .is_none_or(|said| said.elapsed() >= FULL_QUEUE_REPORT);
        if full > self.full_reported && due {
            tracing::warn!(
                "trace export falls behind: {} spans dropped (the queue of OTEL_BSP_MAX_QUEUE_SIZE = {} was full); \
                 sample fewer traces (OTEL_TRACES_SAMPLER_ARG) or raise the queue and batch sizes",
                full - self.full_reported,
                self.config.max_queue
            );
            self.full_reported = full;
            self.full_said = Some(Instant::now());
        }
    }

    async fn post(&self, body: Vec<u8>) -> Result<(), String> {
        let mut request = http::Request::post(self.config.endpoint.clone())
            .header(http::header::CONTENT_TYPE, "application/x-protobuf")
            .header(http::header::CONTENT_LENGTH, body.len());
        if let Some(authority) = self.config.endpoint.authority() {
            request = request.header(http::header::HOST, authority.as_str());
        }
        for (name, value) in &self.config.headers {
            request = request.header(name.as_str(), value.as_str());
        }
        let body = Full::new(Bytes::from(body)).map_err(|never| match never {});
        let request = request.body(body).map_err(|error| error.to_string())?;
        let timeout = self.config.timeout;
        let options = wasmtime_wasi_http::RequestOptions {
            connect_timeout: Some(timeout),
            first_byte_timeout: Some(timeout),
            between_bytes_timeout: Some(timeout),
        };
        let exchange = async {
            let (response, connection) = wasmtime_wasi_http::default_send_request(request, Some(options))
                .await
                .map_err(|error| error.to_string())?;
            let connection = tokio::spawn(connection);
            let status = response.status();
            let answer = response
                .into_body()
                .collect()
                .await
                .map(|body| body.to_bytes())
                .unwrap_or_default();
            connection.abort();
            match status.is_success() {
                true => Ok(()),
                false => Err(format!(
                    "the collector answered {status}: {}",
                    String::from_utf8_lossy(&answer[..answer.len().min(200)])
                )),
            }
        };
        tokio::time::timeout(timeout, exchange)
            .await
            .unwrap_or_else(|_| Err(format!("no answer within {}", crate::text::humanize(timeout))))
    }
}

/// `spans` as one OTLP export request of `resource`, encoded.
pub fn encode(resource: &Resource, spans: Vec<FinishedSpan>) -> Vec<u8> {
    let request = ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: Some(resource.clone()),
            scope_spans: vec![ScopeSpans {
                scope: Some(InstrumentationScope {
                    name: "sluice".to_owned(),
                    version: env!("CARGO_PKG_VERSION").to_owned(),
                    ..Default::default()
                }),
                spans: spans.into_iter().map(to_proto).collect(),
                schema_url: String::new(),
            }],
            schema_url: String::new(),
        }],
    };
    request.encode_to_vec()
}

fn to_proto(finished: FinishedSpan) -> Span {
    let kind = match finished.kind {
        SpanKind::Internal => span::SpanKind::Internal,
        SpanKind::Consumer => span::SpanKind::Consumer,
        SpanKind::Producer => span::SpanKind::Producer,
        SpanKind::Client => span::SpanKind::Client,
    };
    let status = match finished.error {
        Some(message) => Status {
            message,
            code: status::StatusCode::Error as i32,
        },
        None => Status {
            message: String::new(),
            code: status::StatusCode::Unset as i32,
        },
    };
    Span {
        trace_id: finished.context.trace_id.to_vec(),
        span_id: finished.context.span_id.to_vec(),
        parent_span_id: finished.parent.map(|parent| parent.to_vec()).unwrap_or_default(),
        flags: u32::from(finished.context.sampled),
        name: finished.name,
        kind: kind as i32,
        start_time_unix_nano: unix_nanos(finished.start),
        end_time_unix_nano: unix_nanos(finished.end),
        attributes: finished
            .attributes
            .iter()
            .map(|(key, value)| key_value(key, value))
            .collect(),
        status: Some(status),
        ..Default::default()
    }
}

fn key_value(key: &str, value: &Value) -> KeyValue {
    let value = match value {
        Value::Text(text) => any_value::Value::StringValue(text.clone()),
        Value::Int(number) => any_value::Value::IntValue(*number),
        Value::Bool(flag) => any_value::Value::BoolValue(*flag),
    };
    KeyValue {
        key: key.to_owned(),
        value: Some(AnyValue { value: Some(value) }),
        ..Default::default()
    }
}

fn unix_nanos(at: SystemTime) -> u64 {
    at.duration_since(UNIX_EPOCH)
        .map_or(0, |since| since.as_nanos() as u64)
}
