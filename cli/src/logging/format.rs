//! How a text log line is written: timestamps and fields to the same text as
//! `tracing-subscriber`'s defaults, with less work per line.

use std::fmt::Write as _;

use tracing::field::{Field, Visit};
use tracing::span;
use tracing_subscriber::field::RecordFields;
use tracing_subscriber::fmt::FormattedFields;
use tracing_subscriber::fmt::format::FormatFields;
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::time::FormatTime;

/// Timestamps as tracing's default writes them (`2026-12-03T09:52:08.287040Z`, UTC,
/// microseconds), with the date and time formatted once per second per thread rather than
/// for every line.
pub(super) struct UtcSeconds;

thread_local! {
    /// The second last formatted on this thread, and its text up to the seconds.
    static SECOND: std::cell::RefCell<(u64, String)> = const { std::cell::RefCell::new((u64::MAX, String::new())) };
}

impl FormatTime for UtcSeconds {
    fn format_time(&self, writer: &mut Writer<'_>) -> std::fmt::Result {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        let seconds = now.as_secs();
        SECOND.with_borrow_mut(|(formatted, text)| {
            if *formatted != seconds {
                *formatted = seconds;
                *text = time::OffsetDateTime::from_unix_timestamp(seconds as i64)
                    .ok()
                    .and_then(|at| at.format(&time::format_description::well_known::Rfc3339).ok())
                    .map(|at| at.trim_end_matches('Z').to_owned())
                    .unwrap_or_default();
            }
            writer.write_str(text)
        })?;
        let mut fraction = *b".000000Z";
        let mut micros = now.subsec_micros();
        for digit in fraction[1..7].iter_mut().rev() {
            *digit = b'0' + (micros % 10) as u8;
            micros /= 10;
        }
        writer.write_str(std::str::from_utf8(&fraction).expect("ASCII digits"))
    }
}

/// Text fields as `name=value`, strings quoted, like tracing's default, with less work per
/// field: a string that needs no escaping is copied as it is (the default escapes every
/// string character by character, and every host log line and event span has several), an
/// integer is written without the formatting machinery, and a record's fields reach the
/// writer in one piece.
pub(super) struct TextFields;

thread_local! {
    /// Where [`TextFields`] writes one record's fields before handing them to the writer in
    /// one piece. A span's fields go into a new `String` for each span (an event span per
    /// event), which would otherwise grow, and move, once for every few bytes written.
    static SCRATCH: std::cell::RefCell<String> = const { std::cell::RefCell::new(String::new()) };
}

/// Largest scratch buffer a thread keeps between records.
const SCRATCH_KEPT: usize = 16 * 1024;

impl<'writer> FormatFields<'writer> for TextFields {
    fn format_fields<R: RecordFields>(&self, mut writer: Writer<'writer>, fields: R) -> std::fmt::Result {
        let ansi = writer.has_ansi_escapes();
        SCRATCH.with(|scratch| match scratch.try_borrow_mut() {
            Ok(mut text) => {
                text.clear();
                let written = write_fields(&mut text, ansi, fields).and_then(|()| writer.write_str(&text));
                if text.capacity() > SCRATCH_KEPT {
                    *text = String::new();
                }
                written
            }
            // A field's `Debug` that logs: this record is formatted inside another one.
            Err(_) => {
                let mut text = String::new();
                write_fields(&mut text, ansi, fields)?;
                writer.write_str(&text)
            }
        })
    }

    /// A field recorded again replaces its earlier value (a retried event's span records its
    /// attempt number once per attempt: `attempt=3`, not `attempt=1 attempt=2 attempt=3`).
    fn add_fields(
        &self,
        current: &'writer mut FormattedFields<Self>,
        fields: &span::Record<'_>,
    ) -> std::fmt::Result {
        fields.record(&mut Replaced(&mut current.fields));
        if !current.fields.is_empty() {
            current.fields.push(' ');
        }
        self.format_fields(current.as_writer(), fields)
    }
}

/// Writes `fields` as [`TextFields`] does into `text`.
fn write_fields<R: RecordFields>(text: &mut String, ansi: bool, fields: R) -> std::fmt::Result {
    let mut visitor = TextVisitor {
        text,
        ansi,
        first: true,
        result: Ok(()),
    };
    fields.record(&mut visitor);
    visitor.result
}

/// Removes from formatted fields each field a record is about to write again.
struct Replaced<'a>(&'a mut String);

impl Visit for Replaced<'_> {
    fn record_debug(&mut self, field: &Field, _: &dyn std::fmt::Debug) {
        remove_field(self.0, field.name());
    }
}

/// Removes field `name` (and its separating space) from text written by [`TextFields`],
/// plain or coloured. A value ends at the first space outside a quoted string.
fn remove_field(fields: &mut String, name: &str) {
    let name = name.trim_start_matches("r#");
    // Most records add a field the span does not have yet (an event's first attempt).
    if !fields.contains(name) {
        return;
    }
    let named = |token: &str| {
        let plain = token.strip_prefix(name).and_then(|rest| rest.strip_prefix('='));
        let coloured = || {
            token
                .strip_prefix("\x1b[3m")
                .and_then(|rest| rest.strip_prefix(name))
                .and_then(|rest| rest.strip_prefix("\x1b[0m\x1b[2m=\x1b[0m"))
        };
        plain.or_else(coloured).is_some()
    };
    let bytes = fields.as_bytes();
    let mut start = 0;
    while start < bytes.len() {
        let mut end = start;
        let (mut quoted, mut escaped) = (false, false);
        while end < bytes.len() && (quoted || bytes[end] != b' ') {
            match bytes[end] {
                _ if escaped => escaped = false,
                b'\\' if quoted => escaped = true,
                b'"' => quoted = !quoted,
                _ => {}
            }
            end += 1;
        }
        let token = &fields[start..end];
        if named(token) {
            // The space before the field, or after it when it is the first.
            let (from, to) = match start {
                0 => (0, (end + 1).min(bytes.len())),
                _ => (start - 1, end),
            };
            fields.replace_range(from..to, "");
            return;
        }
        start = end + 1;
    }
}

/// Writes one record's fields for [`TextFields`].
struct TextVisitor<'a> {
    text: &'a mut String,
    ansi: bool,
    first: bool,
    result: std::fmt::Result,
}

impl TextVisitor<'_> {
    /// Writes the separator and `name=` (the message has no name), then `value`.
    fn field(&mut self, field: &Field, value: impl FnOnce(&mut String) -> std::fmt::Result) {
        // As the default formatter: the `log` crate's metadata (lines forwarded from it) is
        // shown as the line's target, not as fields.
        if self.result.is_err() || field.name().starts_with("log.") {
            return;
        }
        if !std::mem::take(&mut self.first) {
            self.text.push(' ');
        }
        if field.name() != "message" {
            let name = field.name();
            let name = name.strip_prefix("r#").unwrap_or(name);
            if self.ansi {
                self.text.push_str("\x1b[3m");
                self.text.push_str(name);
                self.text.push_str("\x1b[0m\x1b[2m=\x1b[0m");
            } else {
                self.text.push_str(name);
                self.text.push('=');
            }
        }
        self.result = value(self.text);
    }

    /// Writes an integer field without the formatting machinery.
    fn integer(&mut self, field: &Field, negative: bool, magnitude: u64) {
        self.field(field, |text| {
            if negative {
                text.push('-');
            }
            sluice_runtime::text::push_decimal(text, magnitude);
            Ok(())
        });
    }
}

/// Whether `value` is written between quotes as it is: no quote, backslash or control
/// character that `Debug` would escape.
fn is_plain(value: &str) -> bool {
    let ascii_plain = |byte: &u8| *byte >= 0x20 && *byte < 0x7f && *byte != b'"' && *byte != b'\\';
    value.as_bytes().iter().all(ascii_plain)
        || !value.chars().any(|c| c == '"' || c == '\\' || c.is_control())
}

impl Visit for TextVisitor<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.field(field, |text| {
            if is_plain(value) {
                text.push('"');
                text.push_str(value);
                text.push('"');
                Ok(())
            } else {
                write!(text, "{value:?}")
            }
        });
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.integer(field, false, value);
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.integer(field, value < 0, value.unsigned_abs());
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.field(field, |text| write!(text, "{value:?}"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::logging::writer::BufferedStderr;

    /// A span and a line inside it, formatted with `fields`.
    fn render<N>(fields: N, ansi: bool) -> String
    where
        N: for<'w> FormatFields<'w> + Send + Sync + 'static,
    {
        let make = BufferedStderr::unwritten();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(make.clone())
            .with_ansi(ansi)
            .without_time()
            .fmt_fields(fields)
            .finish();
        tracing::subscriber::with_default(subscriber, || {
            let span = tracing::info_span!("event", function = "order-total", subject = %"orders.placed", attempt = 2);
            let _entered = span.enter();
            tracing::info!(
                target: "sluice::handler",
                event_id = "e-1",
                quoted = "a \"b\"",
                accent = "prix-é\u{85}",
                zero = 0u64,
                below = -42i64,
                most = u64::MAX,
                least = i64::MIN,
                "order {} totals {}",
                "o-1",
                3998
            );
        });
        make.contents()
    }

    #[test]
    fn text_fields_read_as_the_default_formatter_writes_them() {
        let line = render(TextFields, false);
        assert_eq!(
            line,
            " INFO event{function=\"order-total\" subject=orders.placed attempt=2}: sluice::handler: \
             order o-1 totals 3998 event_id=\"e-1\" quoted=\"a \\\"b\\\"\" accent=\"prix-é\\u{85}\" zero=0 below=-42 \
             most=18446744073709551615 least=-9223372036854775808\n"
        );
        assert_eq!(
            line,
            render(tracing_subscriber::fmt::format::DefaultFields::new(), false)
        );
        let coloured = render(TextFields, true);
        assert!(
            coloured.contains("\x1b[3mzero\x1b[0m\x1b[2m=\x1b[0m0"),
            "{coloured:?}"
        );
        assert_eq!(
            coloured,
            render(tracing_subscriber::fmt::format::DefaultFields::new(), true)
        );
    }

    #[test]
    fn a_field_recorded_again_replaces_its_earlier_value() {
        let make = BufferedStderr::unwritten();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(make.clone())
            .with_ansi(false)
            .without_time()
            .fmt_fields(TextFields)
            .finish();
        tracing::subscriber::with_default(subscriber, || {
            let span = tracing::info_span!(
                "event",
                attempt = tracing::field::Empty,
                note = "a b=\"c attempt=9\"",
                id = tracing::field::Empty
            );
            let _entered = span.enter();
            for attempt in 1..=3 {
                span.record("attempt", attempt);
            }
            span.record("id", "e 1");
            span.record("id", "e-2");
            tracing::info!("retried");
        });
        assert_eq!(
            make.contents(),
            " INFO event{note=\"a b=\\\"c attempt=9\\\"\" attempt=3 id=\"e-2\"}: sluice::logging::format::tests: retried\n"
        );
    }

    #[test]
    fn removing_a_field_keeps_the_others_plain_or_coloured() {
        let mut plain = "a=1 b=\"x y\" c=3".to_owned();
        remove_field(&mut plain, "a");
        assert_eq!(plain, "b=\"x y\" c=3");
        remove_field(&mut plain, "c");
        assert_eq!(plain, "b=\"x y\"");
        remove_field(&mut plain, "missing");
        assert_eq!(plain, "b=\"x y\"");
        let mut coloured =
            "\x1b[3mattempt\x1b[0m\x1b[2m=\x1b[0m1 \x1b[3mid\x1b[0m\x1b[2m=\x1b[0m2".to_owned();
        remove_field(&mut coloured, "attempt");
        assert_eq!(coloured, "\x1b[3mid\x1b[0m\x1b[2m=\x1b[0m2");
    }

    #[test]
    fn timestamps_read_as_the_default_timer_writes_them() {
        let mine = BufferedStderr::unwritten();
        let theirs = BufferedStderr::unwritten();
        for (make, timer) in [(&mine, true), (&theirs, false)] {
            let builder = tracing_subscriber::fmt()
                .with_writer(make.clone())
                .with_ansi(false);
            let line = || tracing::info!("tick");
            match timer {
                true => tracing::subscriber::with_default(builder.with_timer(UtcSeconds).finish(), line),
                false => tracing::subscriber::with_default(builder.finish(), line),
            }
        }
        let mine = mine.contents();
        let theirs = theirs.contents();
        let (stamp, rest) = mine.split_once(' ').unwrap();
        let (their_stamp, their_rest) = theirs.split_once(' ').unwrap();
        assert_eq!(rest, their_rest);
        assert_eq!(stamp.len(), their_stamp.len(), "{stamp} against {their_stamp}");
        assert!(stamp.ends_with('Z') && stamp.as_bytes()[19] == b'.', "{stamp}");
        // Written within the same few seconds: the same date and hour.
        assert_eq!(stamp[..13], their_stamp[..13], "{stamp} against {their_stamp}");
    }
}
