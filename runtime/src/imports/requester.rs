//! `sluice:function/requester`: NATS requests to the subjects a function's
//! `permissions.request` allows, sent at once (not through the outbox) with the event's
//! correlation headers, waiting at most the function's `limits.timeout`.

use std::time::Duration;

use async_nats::RequestErrorKind;

use super::{State, taped};
use crate::bindings::sluice::function::requester::{Host, Reply, RequestError};
use crate::event::headers;
use crate::telemetry::{self, SpanKind, TRACEPARENT};
use crate::text::humanize;
use crate::transcript::HostCall;
use sluice_protocol::subject;

impl Host for State {
    async fn request(
        &mut self,
        subject: String,
        payload: Vec<u8>,
        handler_headers: Vec<(String, String)>,
        timeout_ms: u32,
    ) -> Result<Reply, RequestError> {
        self.check_request(&subject, &handler_headers)?;
        let call = &self.call;
        let client = call.services.requests.clone();
        let timeout = request_timeout(timeout_ms, call.manifest.limits.timeout);
        let mut span = match (&call.trace, headers::find(&handler_headers, TRACEPARENT)) {
            (Some(parent), None) => Some(parent.child(SpanKind::Client, || format!("request {subject}"))),
            _ => None,
        };
        if let Some(span) = &mut span {
            span.set_with("messaging.destination.name", || subject.clone());
        }
        let mut headers = headers::for_request(handler_headers, &call.event);
        if let Some(span) = &span {
            headers::set(&mut headers, TRACEPARENT, span.context().to_traceparent());
        }
        let call = || HostCall::new("request", subject.as_str());
        let failed = |why| Err(RequestError::Failed(why));
        let answer = taped(self.tape.as_ref(), call, failed, async {
            let client = client.map_err(|why| RequestError::Failed(why.into()))?;
            send(client, &subject, payload, headers, timeout).await
        })
        .await;
        telemetry::end_with(span, answer, describe)
    }
}

/// Sends the request and waits for its answer.
async fn send(
    client: async_nats::Client,
    subject: &str,
    payload: Vec<u8>,
    headers: headers::Outgoing,
    timeout: Duration,
) -> Result<Reply, RequestError> {
    let request = async_nats::Request::new()
        .payload(payload.into())
        .headers(headers::to_nats(headers))
        .timeout(Some(timeout));
    match client.send_request(subject.to_owned(), request).await {
        Ok(answer) => Ok(Reply {
            payload: answer.payload.to_vec(),
            headers: headers::from_nats(answer.headers.as_ref()),
        }),
        Err(error) => Err(match error.kind() {
            RequestErrorKind::TimedOut => RequestError::Timeout(format!(
                "request to `{subject}` timed out: no answer within {}",
                humanize(timeout)
            )),
            RequestErrorKind::NoResponders => {
                RequestError::NoResponders(format!("request to `{subject}`: nobody listens on it"))
            }
            _ => RequestError::Failed(format!("request to `{subject}` failed: {error}")),
        }),
    }
}

/// The text of a failed request, for its span.
fn describe(error: &RequestError) -> String {
    match error {
        RequestError::Timeout(text)
        | RequestError::NoResponders(text)
        | RequestError::Denied(text)
        | RequestError::Failed(text) => text.clone(),
    }
}

impl State {
    /// Checks the subject (literal, allowed by `permissions.request`) and the handler's headers.
    fn check_request(&self, subject: &str, handler_headers: &[(String, String)]) -> Result<(), RequestError> {
        let call = &self.call;
        subject::validate_literal(subject)
            .map_err(|why| RequestError::Failed(format!("cannot request: {why}")))?;
        if !call.manifest.may_request(subject) {
            let allowed: Vec<String> = call.manifest.request.iter().map(|p| format!("`{p}`")).collect();
            return Err(RequestError::Denied(format!(
                "request to `{subject}` denied: function `{}` may only send requests to [{}] (permissions.request)",
                call.function,
                allowed.join(", ")
            )));
        }
        for (name, value) in handler_headers {
            headers::validate(name, value).map_err(RequestError::Failed)?;
        }
        Ok(())
    }
}

/// The handler's timeout, at most the attempt's `limit`; 0 asks for the limit itself.
fn request_timeout(timeout_ms: u32, limit: Duration) -> Duration {
    match timeout_ms {
        0 => limit,
        ms => Duration::from_millis(u64::from(ms)).min(limit),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timeouts_are_capped_by_the_attempt_limit() {
        let limit = Duration::from_secs(2);
        assert_eq!(request_timeout(250, limit), Duration::from_millis(250));
        assert_eq!(request_timeout(60_000, limit), limit);
        assert_eq!(request_timeout(0, limit), limit);
    }
}
