//! A function's manifest (`NAME.toml`) written as typed calls instead of TOML text, so a test
//! says which keys it sets and the TOML is always well-formed. The keys are README.md's
//! "Manifest reference"; a test about TOML itself (a typo, a wrong type) writes raw text.

use std::fmt;

use toml::{Table, Value};

/// A manifest under construction; `Display` renders it as TOML (empty when nothing is set,
/// which [`FunctionsDir::add`](crate::FunctionsDir::add) takes as "no manifest").
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Manifest {
    table: Table,
}

impl Manifest {
    /// A manifest that sets nothing: every key at its default.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets `[section] key = value`, replacing an earlier value.
    pub fn set(mut self, section: &str, key: &str, value: impl Into<Value>) -> Self {
        let section = self
            .table
            .entry(section)
            .or_insert_with(|| Value::Table(Table::new()));
        let Value::Table(section) = section else {
            unreachable!("every top-level key is a section");
        };
        section.insert(key.to_owned(), value.into());
        self
    }

    // [trigger]

    /// `trigger.subjects`: the subjects (wildcards allowed) the function listens on.
    pub fn subjects<'a>(self, subjects: impl IntoIterator<Item = &'a str>) -> Self {
        self.set("trigger", "subjects", strings(subjects))
    }

    /// `trigger.mode = "jetstream"`: at-least-once delivery.
    pub fn jetstream(self) -> Self {
        self.set("trigger", "mode", "jetstream")
    }

    /// `trigger.mode`: `"core"` or `"jetstream"`.
    pub fn mode(self, mode: &str) -> Self {
        self.set("trigger", "mode", mode)
    }

    /// `trigger.schedule`: `"@every 1s"`, `"@at RFC3339"` or six cron fields.
    pub fn schedule(self, schedule: &str) -> Self {
        self.set("trigger", "schedule", schedule)
    }

    /// `trigger.time_zone`: the IANA zone a cron schedule is read in.
    pub fn time_zone(self, zone: &str) -> Self {
        self.set("trigger", "time_zone", zone)
    }

    /// `trigger.stream`: the JetStream stream holding the events.
    pub fn stream(self, stream: &str) -> Self {
        self.set("trigger", "stream", stream)
    }

    /// `trigger.ordering = "per-key"` with `trigger.key` (`header:NAME`, `json:/pointer`,
    /// `subject:N`).
    pub fn per_key(self, key: &str) -> Self {
        self.set("trigger", "ordering", "per-key")
            .set("trigger", "key", key)
    }

    /// `trigger.partitions`: per-key order across hosts over this many partitions.
    pub fn partitions(self, count: u64) -> Self {
        self.set("trigger", "partitions", integer(count))
    }

    // [limits]

    /// `limits.max_concurrency`: instances running at once on one host.
    pub fn max_concurrency(self, cap: u64) -> Self {
        self.set("limits", "max_concurrency", integer(cap))
    }

    /// `limits.max_in_flight`: events in flight across every host (JetStream).
    pub fn max_in_flight(self, cap: u64) -> Self {
        self.set("limits", "max_in_flight", integer(cap))
    }

    /// `limits.max_pending`: events waiting for an instance before the rest overflow.
    pub fn max_pending(self, pending: u64) -> Self {
        self.set("limits", "max_pending", integer(pending))
    }

    /// `limits.max_pending_bytes`: bytes of waiting events before the rest overflow (e.g. `"2KiB"`).
    pub fn max_pending_bytes(self, bytes: &str) -> Self {
        self.set("limits", "max_pending_bytes", bytes)
    }

    /// `limits.timeout`: wall clock per attempt (e.g. `"300ms"`).
    pub fn timeout(self, timeout: &str) -> Self {
        self.set("limits", "timeout", timeout)
    }

    /// `limits.memory`: linear memory per instance (e.g. `"16MiB"`).
    pub fn memory(self, memory: &str) -> Self {
        self.set("limits", "memory", memory)
    }

    /// `limits.max_payload`: larger events are dead-lettered unprocessed (e.g. `"1KiB"`).
    pub fn max_payload(self, size: &str) -> Self {
        self.set("limits", "max_payload", size)
    }

    /// `limits.events_per_instance`: how many events one instance may serve.
    pub fn events_per_instance(self, events: u64) -> Self {
        self.set("limits", "events_per_instance", integer(events))
    }

    /// `limits.http_timeout`: one outgoing HTTP request (e.g. `"300ms"`).
    pub fn http_timeout(self, timeout: &str) -> Self {
        self.set("limits", "http_timeout", timeout)
    }

    /// `limits.max_http_response`: the largest outgoing HTTP response body.
    pub fn max_http_response(self, size: &str) -> Self {
        self.set("limits", "max_http_response", size)
    }

    /// `limits.log_lines_per_second`: handler log lines written per second on a host.
    pub fn log_lines_per_second(self, lines: u64) -> Self {
        self.set("limits", "log_lines_per_second", integer(lines))
    }

    // [retry]

    /// `retry.max_attempts`: deliveries including the first.
    pub fn max_attempts(self, attempts: u64) -> Self {
        self.set("retry", "max_attempts", integer(attempts))
    }

    /// `retry.initial_delay` (e.g. `"10ms"`).
    pub fn initial_delay(self, delay: &str) -> Self {
        self.set("retry", "initial_delay", delay)
    }

    /// `retry.max_delay` (e.g. `"50ms"`).
    pub fn max_delay(self, delay: &str) -> Self {
        self.set("retry", "max_delay", delay)
    }

    /// `retry.multiplier`.
    pub fn multiplier(self, multiplier: f64) -> Self {
        self.set("retry", "multiplier", multiplier)
    }

    /// `retry.jitter`: `"full"`, `"equal"` or `"none"`.
    pub fn jitter(self, jitter: &str) -> Self {
        self.set("retry", "jitter", jitter)
    }

    /// `[retry]` in one call: `max_attempts`, `initial_delay` and `max_delay`.
    pub fn retry(self, max_attempts: u64, initial_delay: &str, max_delay: &str) -> Self {
        self.max_attempts(max_attempts)
            .initial_delay(initial_delay)
            .max_delay(max_delay)
    }

    // [dead_letter], [delivery], [dedupe], [circuit_breaker]

    /// `dead_letter.subject` (`"none"` drops).
    pub fn dead_letter(self, subject: &str) -> Self {
        self.set("dead_letter", "subject", subject)
    }

    /// `delivery.max_event_age`: older events expire unprocessed (e.g. `"500ms"`).
    pub fn max_event_age(self, age: &str) -> Self {
        self.set("delivery", "max_event_age", age)
    }

    /// `delivery.ack_wait` (JetStream; e.g. `"3s"`).
    pub fn ack_wait(self, wait: &str) -> Self {
        self.set("delivery", "ack_wait", wait)
    }

    /// `dedupe.window` (JetStream; e.g. `"1m"`).
    pub fn dedupe(self, window: &str) -> Self {
        self.set("dedupe", "window", window)
    }

    /// `[circuit_breaker]`: `failures` in a row open it for `cool_down`, doubling up to
    /// `max_cool_down`.
    pub fn circuit_breaker(self, failures: u64, cool_down: &str, max_cool_down: &str) -> Self {
        self.set("circuit_breaker", "failures", integer(failures))
            .set("circuit_breaker", "cool_down", cool_down)
            .set("circuit_breaker", "max_cool_down", max_cool_down)
    }

    // [state], [permissions]

    /// `state.buckets`: the key-value buckets the function may use.
    pub fn buckets<'a>(self, buckets: impl IntoIterator<Item = &'a str>) -> Self {
        self.set("state", "buckets", strings(buckets))
    }

    /// `permissions.publish`: the subject patterns the function may publish to.
    pub fn publish<'a>(self, subjects: impl IntoIterator<Item = &'a str>) -> Self {
        self.set("permissions", "publish", strings(subjects))
    }

    /// `permissions.request`: the subject patterns the function may send requests to.
    pub fn request<'a>(self, subjects: impl IntoIterator<Item = &'a str>) -> Self {
        self.set("permissions", "request", strings(subjects))
    }

    /// `permissions.http`: the hosts the function may send HTTP requests to.
    pub fn http<'a>(self, hosts: impl IntoIterator<Item = &'a str>) -> Self {
        self.set("permissions", "http", strings(hosts))
    }

    // [schema], [batch], [config]

    /// `schema.file`: one JSON Schema every payload must match.
    pub fn schema_file(self, file: &str) -> Self {
        self.set("schema", "file", file)
    }

    /// `schema.versions`: a schema file per version.
    pub fn schema_versions<'a>(self, versions: impl IntoIterator<Item = (&'a str, &'a str)>) -> Self {
        let versions: Table = versions
            .into_iter()
            .map(|(version, file)| (version.to_owned(), Value::from(file)))
            .collect();
        self.set("schema", "versions", versions)
    }

    /// `schema.version_from`: `header:NAME` or `json:/pointer`.
    pub fn version_from(self, source: &str) -> Self {
        self.set("schema", "version_from", source)
    }

    /// `schema.default_version`: the version of an event that names none.
    pub fn default_version(self, version: &str) -> Self {
        self.set("schema", "default_version", version)
    }

    /// `batch.max_events`: a batch closes at this many events.
    pub fn max_events(self, events: u64) -> Self {
        self.set("batch", "max_events", integer(events))
    }

    /// `batch.max_wait`: ...or this long after its first event (e.g. `"1s"`).
    pub fn max_wait(self, wait: &str) -> Self {
        self.set("batch", "max_wait", wait)
    }

    /// `[config] key = value`: a string the function reads with `sluice_sdk::config`.
    pub fn config(self, key: &str, value: impl ToString) -> Self {
        self.set("config", key, value.to_string())
    }
}

impl fmt::Display for Manifest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.table.is_empty() {
            return Ok(());
        }
        let text = toml::to_string(&self.table).map_err(|_| fmt::Error)?;
        f.write_str(&text)
    }
}

fn strings<'a>(items: impl IntoIterator<Item = &'a str>) -> Value {
    Value::Array(items.into_iter().map(Value::from).collect())
}

fn integer(value: u64) -> Value {
    Value::Integer(i64::try_from(value).expect("a manifest integer fits in i64"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_sections_with_their_keys() {
        let text = Manifest::new()
            .subjects(["orders.placed"])
            .jetstream()
            .publish(["orders.totalled"])
            .retry(3, "10ms", "50ms")
            .schema_versions([("1", "v1.json")])
            .config("version", 2)
            .to_string();
        let parsed: Table = text.parse().unwrap();
        assert_eq!(parsed["trigger"]["subjects"][0].as_str(), Some("orders.placed"));
        assert_eq!(parsed["trigger"]["mode"].as_str(), Some("jetstream"));
        assert_eq!(
            parsed["permissions"]["publish"][0].as_str(),
            Some("orders.totalled")
        );
        assert_eq!(parsed["retry"]["max_attempts"].as_integer(), Some(3));
        assert_eq!(parsed["schema"]["versions"]["1"].as_str(), Some("v1.json"));
        assert_eq!(parsed["config"]["version"].as_str(), Some("2"));
    }

    #[test]
    fn nothing_set_is_no_manifest() {
        assert_eq!(Manifest::new().to_string(), "");
    }
}
