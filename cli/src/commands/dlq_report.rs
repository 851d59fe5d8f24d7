//! What `sluice dlq debug` prints: the dead letter, the event, the recorded calls and logs,
//! and how the rerun went, as text or as JSON.

use std::path::Path;

use serde_json::{Value, json};
use sluice_runtime::transcript::Transcript;
use sluice_runtime::{OutgoingMessage, Rerun};

use super::dlq_debug::Letter;

/// Longest answer or payload shown on one line.
const SHOWN: usize = 100;

/// What ran again, and how.
pub struct RerunOf<'a> {
    /// The component run.
    pub component: &'a Path,
    /// Its version.
    pub version: &'a str,
    /// Whether it is a new version (`--with`).
    pub new: bool,
    /// Whether calls the transcript lacks were made live.
    pub live: bool,
}

/// The report as text: the dead letter, the event, the recorded calls, and the rerun.
pub fn describe(letter: &Letter, recorded: &Transcript, rerun: &Rerun, of: &RerunOf<'_>) -> String {
    let mut out = String::new();
    let mut line = |text: String| {
        out.push_str(&text);
        out.push('\n');
    };
    line(format!(
        "dead letter {} of {}: {} after {} attempt(s), {}",
        letter.sequence, recorded.function, letter.reason, letter.attempts, letter.dead_lettered_at
    ));
    line(format!("  error: {}", letter.error));
    let event = &recorded.event;
    line(format!(
        "event {} on {} ({} bytes)",
        event.id,
        event.subject,
        event.payload.len()
    ));
    for (name, value) in &event.headers {
        line(format!("  {name}: {value}"));
    }
    line(format!(
        "  payload: {}",
        shown(&String::from_utf8_lossy(&event.payload))
    ));
    line(format!(
        "recorded: attempt {} of version {} at {}",
        recorded.attempt, recorded.version, recorded.recorded_at
    ));
    for (index, call) in recorded.calls.iter().enumerate() {
        line(format!(
            "  {}. {} -> {}",
            index + 1,
            call.call,
            answer(&call.call.op, &call.answer)
        ));
    }
    line(format!(
        "  clocks: {} wall and {} monotonic readings; random: {} bytes",
        recorded.wall_clock.len(),
        recorded.monotonic_clock.len(),
        recorded.random.len() + recorded.insecure_random.len()
    ));
    for log in &recorded.logs {
        line(format!("  log {}: {}", log.level, log.message));
    }
    if let Some(cut) = &recorded.cut {
        line(format!("  cut: {cut}"));
    }
    let mode = if of.live {
        "calls it lacks made live"
    } else {
        "offline"
    };
    line(format!(
        "replayed {} (version {}), {mode}:",
        of.component.display(),
        of.version
    ));
    for log in &rerun.replay.logs {
        line(format!("  log {}: {}", log.level, log.message));
    }
    if let Some(diverged) = rerun.diverged() {
        line(format!("  diverged: {diverged}"));
    }
    match &rerun.outcome {
        Ok(messages) => {
            line(format!(
                "  handled the event; would publish {} message(s):",
                messages.len()
            ));
            for message in messages {
                line(format!(
                    "    {} {}",
                    message.subject,
                    shown(&String::from_utf8_lossy(&message.payload))
                ));
            }
        }
        Err(error) if rerun.reproduces(recorded) => line(format!("  failed the same way: {error}")),
        Err(error) if of.new => line(format!("  still fails: {error}")),
        Err(error) => line(format!("  failed differently: {error}")),
    }
    out
}

/// The report as JSON.
pub fn as_json(letter: &Letter, recorded: &Transcript, rerun: &Rerun, of: &RerunOf<'_>) -> Value {
    let messages: Vec<Value> = rerun
        .outcome
        .as_ref()
        .map(|messages| messages.iter().map(message_json).collect())
        .unwrap_or_default();
    json!({
        "sequence": letter.sequence,
        "reason": letter.reason,
        "error": letter.error,
        "component": of.component.display().to_string(),
        "version": of.version,
        "recorded": recorded,
        "replay": {
            "handled": rerun.handled(),
            "reproduced": rerun.reproduces(recorded),
            "diverged": rerun.diverged(),
            "error": rerun.outcome.as_ref().err().map(ToString::to_string),
            "messages": messages,
            "transcript": &rerun.replay,
        },
    })
}

fn message_json(message: &OutgoingMessage) -> Value {
    json!({
        "subject": message.subject,
        "payload": String::from_utf8_lossy(&message.payload),
        "headers": message.headers,
    })
}

/// A recorded answer on one line: an HTTP response as its status and body, byte lists as
/// text, long ones cut.
fn answer(op: &str, value: &Value) -> String {
    use base64::Engine;
    if op != "http" {
        return shown(&readable(value).to_string());
    }
    if let Some(error) = value["error"].as_str() {
        return format!("error {error}");
    }
    let body = value["body"]
        .as_str()
        .and_then(|body| base64::engine::general_purpose::STANDARD.decode(body).ok())
        .unwrap_or_default();
    let cut = if value["body_cut"] == true { " (cut)" } else { "" };
    shown(&format!(
        "{} ({} bytes{cut}) {}",
        value["status"],
        body.len(),
        String::from_utf8_lossy(&body)
    ))
}

/// `value` with every list of bytes written as the (lossy UTF-8) text it holds.
fn readable(value: &Value) -> Value {
    match value {
        Value::Array(items)
            if !items.is_empty() && items.iter().all(|item| item.as_u64().is_some_and(|n| n < 256)) =>
        {
            let bytes: Vec<u8> = items
                .iter()
                .filter_map(|item| item.as_u64().map(|n| n as u8))
                .collect();
            Value::String(String::from_utf8_lossy(&bytes).into_owned())
        }
        Value::Array(items) => Value::Array(items.iter().map(readable).collect()),
        Value::Object(fields) => fields
            .iter()
            .map(|(key, value)| (key.clone(), readable(value)))
            .collect(),
        other => other.clone(),
    }
}

fn shown(text: &str) -> String {
    sluice_runtime::text::truncate(text, SHOWN).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn byte_lists_in_answers_read_as_text() {
        let answer = json!({"Ok": {"value": [49, 53, 46, 53], "revision": 3}});
        assert_eq!(readable(&answer), json!({"Ok": {"value": "15.5", "revision": 3}}));
        assert_eq!(readable(&json!([])), json!([]));
        assert_eq!(readable(&json!([300, 1])), json!([300, 1]));
    }
}
