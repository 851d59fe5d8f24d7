//! The [`TestHost`](super::TestHost)'s side of requests: permission checks and canned
//! answers.

use super::{Published, with_run};
use crate::request::error::RequestError;
use crate::request::reply::Reply;

/// What the test host does with a request to one subject.
#[derive(Debug, Clone)]
pub(super) enum Answer {
    /// Answers with this reply.
    Reply(Reply),
    /// Lets the request time out.
    Timeout,
}

pub(crate) fn request(
    subject: &str,
    payload: &[u8],
    headers: &[(String, String)],
    _timeout_ms: u32,
) -> Result<Reply, RequestError> {
    with_run("request", |run| {
        if let Some(allowed) = &run.host.requests_allowed
            && !allowed.iter().any(|pattern| pattern.matches(subject))
        {
            return Err(RequestError::Denied(format!(
                "request to `{subject}` denied: not in permissions.request"
            )));
        }
        run.requests.push(Published {
            subject: subject.to_owned(),
            payload: payload.to_vec(),
            headers: headers.to_vec(),
        });
        match run.host.answers.get(subject) {
            Some(Answer::Reply(reply)) => Ok(reply.clone()),
            Some(Answer::Timeout) => Err(RequestError::Timeout(format!(
                "request to `{subject}` timed out (TestHost::time_out)"
            ))),
            None => Err(RequestError::NoResponders(format!(
                "request to `{subject}`: nobody listens on it (no TestHost::answer for it)"
            ))),
        }
    })
}
