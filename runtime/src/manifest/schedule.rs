//! `trigger.schedule` and `trigger.time_zone`: when a scheduled function fires. Checked here
//! as far as can be without a server (the expression's shape, ranges and names); the server
//! that fires the schedule (NATS message schedules) is the final judge of time zone names.

use std::time::Duration;

use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::units::parse_duration;

/// What `trigger.schedule` says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Schedule {
    /// When it fires.
    pub kind: ScheduleKind,
    /// `trigger.time_zone`: the IANA zone cron fields are read in (UTC without it).
    pub time_zone: Option<String>,
}

/// The three shapes a schedule takes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ScheduleKind {
    /// `@at RFC3339`: once, at that instant.
    At(OffsetDateTime),
    /// `@every DURATION`: every so many whole seconds.
    Every(Duration),
    /// Six cron fields (seconds first) or a shortcut such as `@hourly`, as written.
    Cron(String),
}

/// The shortcuts NATS accepts for common cron expressions.
const SHORTCUTS: [&str; 7] = [
    "@yearly",
    "@annually",
    "@monthly",
    "@weekly",
    "@daily",
    "@midnight",
    "@hourly",
];

/// The six cron fields: name, lowest and highest value, and the names the field accepts.
const CRON_FIELDS: [(&str, u32, u32, &[&str]); 6] = [
    ("seconds", 0, 59, &[]),
    ("minutes", 0, 59, &[]),
    ("hours", 0, 23, &[]),
    ("day of month", 1, 31, &[]),
    (
        "month",
        1,
        12,
        &[
            "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
        ],
    ),
    (
        "day of week",
        0,
        6,
        &["sun", "mon", "tue", "wed", "thu", "fri", "sat"],
    ),
];

impl Schedule {
    /// Parses `trigger.schedule` (and `trigger.time_zone`), naming the key that is wrong.
    pub fn parse(expression: &str, time_zone: Option<&str>) -> Result<Self, (&'static str, String)> {
        let kind = ScheduleKind::parse(expression.trim()).map_err(|message| ("trigger.schedule", message))?;
        let time_zone = match time_zone {
            None => None,
            Some(_) if !matches!(kind, ScheduleKind::Cron(_)) => {
                return Err((
                    "trigger.time_zone",
                    "only applies to a cron schedule (six fields, or a shortcut such as \"@daily\"); @at and @every are exact instants".into(),
                ));
            }
            Some(zone) => Some(time_zone_name(zone).map_err(|message| ("trigger.time_zone", message))?),
        };
        Ok(Self { kind, time_zone })
    }

    /// The `Nats-Schedule` header value the server fires on.
    pub fn header(&self) -> String {
        match &self.kind {
            ScheduleKind::At(at) => format!(
                "@at {}",
                at.format(&Rfc3339).expect("a parsed RFC 3339 time formats")
            ),
            ScheduleKind::Every(every) => format!("@every {}s", every.as_secs()),
            ScheduleKind::Cron(cron) => cron.clone(),
        }
    }

    /// How people read it: the expression, and for cron the zone (`0 0 9 * * * (UTC)`).
    pub fn describe(&self) -> String {
        match &self.kind {
            ScheduleKind::Cron(_) => format!(
                "{} ({})",
                self.header(),
                self.time_zone.as_deref().unwrap_or("UTC")
            ),
            _ => self.header(),
        }
    }

    /// The oldest nats-server (major, minor) that fires this schedule: 2.12 for `@at`, 2.14
    /// for `@every` and cron.
    pub fn needs_server(&self) -> (u64, u64) {
        match self.kind {
            ScheduleKind::At(_) => (2, 12),
            ScheduleKind::Every(_) | ScheduleKind::Cron(_) => (2, 14),
        }
    }
}

impl ScheduleKind {
    fn parse(text: &str) -> Result<Self, String> {
        if let Some(at) = text.strip_prefix("@at ") {
            return OffsetDateTime::parse(at.trim(), &Rfc3339)
                .map(Self::At)
                .map_err(|error| {
                    format!(
                        "{at:?} is not an RFC 3339 time ({error}); write e.g. \"@at 2026-12-24T18:00:00Z\""
                    )
                });
        }
        if let Some(every) = text.strip_prefix("@every ") {
            let every = parse_duration(every)?;
            if every < Duration::from_secs(1) || every.subsec_nanos() != 0 {
                return Err(format!(
                    "@every needs whole seconds, at least 1s; found {every:?}"
                ));
            }
            return Ok(Self::Every(every));
        }
        if text.starts_with('@') {
            return match SHORTCUTS.contains(&text) {
                true => Ok(Self::Cron(text.to_owned())),
                false => Err(format!(
                    "expected \"@at RFC3339\", \"@every DURATION\", six cron fields (seconds first) or one of {}; found {text:?}",
                    SHORTCUTS.join(", ")
                )),
            };
        }
        let fields: Vec<&str> = text.split_whitespace().collect();
        if fields.len() != 6 {
            return Err(format!(
                "a cron schedule has six fields (seconds minutes hours day-of-month month day-of-week, e.g. \"0 */5 * * * *\"); found {} in {text:?}",
                fields.len()
            ));
        }
        for (field, (name, low, high, names)) in fields.iter().zip(CRON_FIELDS) {
            cron_field(field, low, high, names)
                .map_err(|message| format!("cron field {name} {field:?}: {message}"))?;
        }
        Ok(Self::Cron(fields.join(" ")))
    }
}

/// Checks one cron field: `*`, `?`, values, ranges and steps, comma-separated.
fn cron_field(field: &str, low: u32, high: u32, names: &[&str]) -> Result<(), String> {
    for item in field.split(',') {
        let (range, step) = match item.split_once('/') {
            Some((range, step)) => (range, Some(step)),
            None => (item, None),
        };
        if let Some(step) = step {
            match step.parse::<u32>() {
                Ok(step) if step > 0 => {}
                _ => return Err(format!("{step:?} is not a step (a whole number from 1)")),
            }
        }
        if range == "*" || range == "?" {
            continue;
        }
        let (first, last) = range.split_once('-').unwrap_or((range, range));
        let first = cron_value(first, low, high, names)?;
        let last = cron_value(last, low, high, names)?;
        if first > last {
            return Err(format!("the range {range:?} runs backwards"));
        }
    }
    Ok(())
}

fn cron_value(text: &str, low: u32, high: u32, names: &[&str]) -> Result<u32, String> {
    let lower = text.to_ascii_lowercase();
    if let Some(index) = names.iter().position(|name| *name == lower) {
        return Ok(low + index as u32);
    }
    match text.parse::<u32>() {
        Ok(value) if (low..=high).contains(&value) => Ok(value),
        Ok(value) => Err(format!("{value} is outside {low}-{high}")),
        Err(_) if names.is_empty() => Err(format!("{text:?} is not a number from {low} to {high}")),
        Err(_) => Err(format!(
            "{text:?} is not a number from {low} to {high} or one of {}",
            names.join(", ")
        )),
    }
}

/// Checks the shape of an IANA zone name (`Europe/Berlin`, `America/Argentina/Salta`,
/// `UTC`); whether the zone exists is the server's to say at deploy.
fn time_zone_name(zone: &str) -> Result<String, String> {
    let shaped = !zone.is_empty()
        && !zone.starts_with('/')
        && !zone.ends_with('/')
        && !zone.contains("//")
        && zone
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '/' | '_' | '-' | '+'));
    match shaped && zone.chars().next().is_some_and(|c| c.is_ascii_alphabetic()) {
        true => Ok(zone.to_owned()),
        false => Err(format!(
            "{zone:?} is not an IANA time zone name (e.g. \"Europe/Berlin\" or \"UTC\"; offsets such as \"+02:00\" are not zones)"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(expression: &str, zone: Option<&str>) -> String {
        Schedule::parse(expression, zone).unwrap().header()
    }

    fn error(expression: &str, zone: Option<&str>) -> (&'static str, String) {
        Schedule::parse(expression, zone).unwrap_err()
    }

    #[test]
    fn the_three_shapes_become_the_servers_headers() {
        assert_eq!(header("0 */5 * * * *", None), "0 */5 * * * *");
        assert_eq!(
            header("  0  0 9 * * MON-FRI  ", Some("Europe/Berlin")),
            "0 0 9 * * MON-FRI"
        );
        assert_eq!(header("@every 30s", None), "@every 30s");
        assert_eq!(header("@every 5m", None), "@every 300s");
        assert_eq!(
            header("@at 2026-12-24T18:00:00+01:00", None),
            "@at 2026-12-24T18:00:00+01:00"
        );
        assert_eq!(header("@daily", Some("UTC")), "@daily");
        assert_eq!(
            Schedule::parse("@hourly", None).unwrap().describe(),
            "@hourly (UTC)"
        );
        assert_eq!(
            Schedule::parse("@every 2m", None).unwrap().describe(),
            "@every 120s"
        );
        assert_eq!(
            Schedule::parse("@at 2026-12-24T18:00:00Z", None)
                .unwrap()
                .needs_server(),
            (2, 12)
        );
        assert_eq!(
            Schedule::parse("@every 1s", None).unwrap().needs_server(),
            (2, 14)
        );
    }

    #[test]
    fn wrong_schedules_name_the_key_and_what_was_expected() {
        let (key, message) = error("*/5 * * * *", None);
        assert_eq!(key, "trigger.schedule");
        assert!(
            message.contains("six fields") && message.contains("found 5"),
            "{message}"
        );
        let (_, message) = error("0 0 25 * * *", None);
        assert_eq!(message, "cron field hours \"25\": 25 is outside 0-23");
        let (_, message) = error("0 0 0 * FOO *", None);
        assert!(
            message.contains("month") && message.contains("jan, feb"),
            "{message}"
        );
        let (_, message) = error("0 0 0 * * 5-1", None);
        assert!(message.contains("runs backwards"), "{message}");
        let (_, message) = error("0/0 * * * * *", None);
        assert!(message.contains("not a step"), "{message}");
        let (_, message) = error("@every 500ms", None);
        assert!(message.contains("at least 1s"), "{message}");
        let (_, message) = error("@at tomorrow", None);
        assert!(message.contains("RFC 3339"), "{message}");
        let (_, message) = error("@fortnightly", None);
        assert!(message.contains("@hourly"), "{message}");
        let (key, message) = error("@every 1m", Some("Europe/Berlin"));
        assert_eq!(key, "trigger.time_zone");
        assert!(message.contains("only applies to a cron schedule"), "{message}");
        let (key, message) = error("0 0 * * * *", Some("+02:00"));
        assert_eq!(key, "trigger.time_zone");
        assert!(message.contains("not an IANA time zone"), "{message}");
    }
}
