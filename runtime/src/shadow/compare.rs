//! What a shadowed event came to on each side, and how the two compare.

use serde::{Deserialize, Serialize};

use crate::invoke::Outcome;

/// How the candidate's outcome compares with the live one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// Both handled the event and published the same messages (subjects and payloads, in
    /// order), or both failed with the same error.
    Same,
    /// Both handled it, publishing different messages.
    DifferentOutputs,
    /// Live handled it; the candidate failed.
    CandidateFailed,
    /// The candidate handled it; live failed.
    LiveFailed,
    /// Both failed, with different errors.
    BothFailed,
}

impl Verdict {
    /// Every verdict, in report order.
    pub const ALL: [Verdict; 5] = [
        Verdict::Same,
        Verdict::DifferentOutputs,
        Verdict::CandidateFailed,
        Verdict::LiveFailed,
        Verdict::BothFailed,
    ];

    /// The verdict as the report prints it.
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Same => "same",
            Verdict::DifferentOutputs => "different outputs",
            Verdict::CandidateFailed => "candidate failed",
            Verdict::LiveFailed => "live failed",
            Verdict::BothFailed => "both failed",
        }
    }
}

/// One side's outcome, as the report shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Observed {
    /// Why the attempt failed; `None` when it handled the event.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// What it published (or would have), in order.
    pub messages: Vec<Seen>,
}

/// A message one side published.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Seen {
    /// Its subject.
    pub subject: String,
    /// Its payload (as text; bytes that are not UTF-8 are replaced).
    pub payload: String,
}

impl Observed {
    /// What `outcome` shows.
    pub fn of(outcome: &Outcome) -> Self {
        match outcome {
            Ok(messages) => Self {
                error: None,
                messages: messages
                    .iter()
                    .map(|message| Seen {
                        subject: message.subject.clone(),
                        payload: String::from_utf8_lossy(&message.payload).into_owned(),
                    })
                    .collect(),
            },
            Err(error) => Self {
                error: Some(error.to_string()),
                messages: Vec::new(),
            },
        }
    }
}

/// How `candidate` compares with `live`.
pub fn compare(live: &Observed, candidate: &Observed) -> Verdict {
    match (&live.error, &candidate.error) {
        (None, None) if live.messages == candidate.messages => Verdict::Same,
        (None, None) => Verdict::DifferentOutputs,
        (None, Some(_)) => Verdict::CandidateFailed,
        (Some(_), None) => Verdict::LiveFailed,
        (Some(live), Some(candidate)) if live == candidate => Verdict::Same,
        (Some(_), Some(_)) => Verdict::BothFailed,
    }
}

/// The difference between two sides' messages, a line each: a subject or a payload that
/// differs, for JSON objects field by field (`total: 1212000 -> 1224120`).
pub fn diff(live: &Observed, candidate: &Observed) -> Vec<String> {
    let mut lines = Vec::new();
    let count = live.messages.len().max(candidate.messages.len());
    for index in 0..count {
        match (live.messages.get(index), candidate.messages.get(index)) {
            (Some(live), Some(candidate)) => {
                if live.subject != candidate.subject {
                    lines.push(format!(
                        "message {}: subject {} -> {}",
                        index + 1,
                        live.subject,
                        candidate.subject
                    ));
                }
                lines.extend(
                    payload_diff(&live.payload, &candidate.payload)
                        .into_iter()
                        .map(|line| format!("message {}: {line}", index + 1)),
                );
            }
            (Some(live), None) => lines.push(format!(
                "message {}: only live published {} {}",
                index + 1,
                live.subject,
                live.payload
            )),
            (None, Some(candidate)) => lines.push(format!(
                "message {}: only the candidate published {} {}",
                index + 1,
                candidate.subject,
                candidate.payload
            )),
            (None, None) => {}
        }
    }
    lines
}

/// Field by field for two JSON objects, else the two payloads.
fn payload_diff(live: &str, candidate: &str) -> Vec<String> {
    use serde_json::Value;
    if live == candidate {
        return Vec::new();
    }
    let parsed = (
        serde_json::from_str::<Value>(live),
        serde_json::from_str::<Value>(candidate),
    );
    let (Ok(Value::Object(live_fields)), Ok(Value::Object(candidate_fields))) = parsed else {
        return vec![format!("- {live}"), format!("+ {candidate}")];
    };
    let mut keys: Vec<&String> = live_fields.keys().chain(candidate_fields.keys()).collect();
    keys.sort();
    keys.dedup();
    let show = |value: Option<&Value>| value.map_or_else(|| "(absent)".to_owned(), Value::to_string);
    keys.into_iter()
        .filter(|key| live_fields.get(*key) != candidate_fields.get(*key))
        .map(|key| {
            format!(
                "{key}: {} -> {}",
                show(live_fields.get(key)),
                show(candidate_fields.get(key))
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn handled(payloads: &[&str]) -> Observed {
        Observed {
            error: None,
            messages: payloads
                .iter()
                .map(|payload| Seen {
                    subject: "orders.totalled".into(),
                    payload: (*payload).into(),
                })
                .collect(),
        }
    }

    fn failed(error: &str) -> Observed {
        Observed {
            error: Some(error.into()),
            messages: Vec::new(),
        }
    }

    #[test]
    fn verdicts_follow_outcomes_and_outputs() {
        let a = handled(&[r#"{"total":1}"#]);
        let b = handled(&[r#"{"total":2}"#]);
        assert_eq!(compare(&a, &a.clone()), Verdict::Same);
        assert_eq!(compare(&a, &b), Verdict::DifferentOutputs);
        assert_eq!(compare(&a, &failed("trap")), Verdict::CandidateFailed);
        assert_eq!(compare(&failed("trap"), &a), Verdict::LiveFailed);
        assert_eq!(compare(&failed("x"), &failed("x")), Verdict::Same);
        assert_eq!(compare(&failed("x"), &failed("y")), Verdict::BothFailed);
    }

    #[test]
    fn json_payloads_differ_field_by_field() {
        let live = handled(&[r#"{"order_id":"o-1","total":1212000}"#]);
        let candidate = handled(&[r#"{"order_id":"o-1","total":1224120}"#, "extra"]);
        assert_eq!(
            diff(&live, &candidate),
            [
                "message 1: total: 1212000 -> 1224120",
                "message 2: only the candidate published orders.totalled extra"
            ]
        );
        assert_eq!(
            diff(&handled(&["a"]), &handled(&["b"])),
            ["message 1: - a", "message 1: + b"]
        );
    }
}
