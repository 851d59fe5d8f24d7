//! Property tests of [`Manifest::parse`]: whatever the text, it returns (never panics), and
//! every error names the file.
//!
//! Three generators: arbitrary text; near-valid manifests built from the real sections and
//! keys (plus unknown ones) with values of every TOML type, including durations, sizes and
//! subjects that are almost right; and those manifests cut short or with one character
//! inserted anywhere. 256 cases each by default; set `PROPTEST_CASES` for
//! more, e.g. `PROPTEST_CASES=20000 cargo test -p sluice-runtime --lib manifest::fuzz`.

use proptest::prelude::*;

use super::*;

/// What a key's value is, so most generated values have the right type and reach validation.
#[derive(Debug, Clone, Copy)]
enum Kind {
    /// A whole number.
    Int,
    /// A floating-point number.
    Float,
    /// A duration string, e.g. `"30s"`.
    Duration,
    /// A byte-size string, e.g. `"64MiB"`.
    Size,
    /// A subject string.
    Subject,
    /// An array of subject strings.
    Subjects,
    /// A word such as `"core"`, `"none"` or `"full"`.
    Word,
    /// Any string.
    Text,
    /// An array of bucket names.
    Buckets,
    /// A table of version names to file names, e.g. `{ "1" = "a.json" }`.
    Versions,
    /// An array of `host[:port]` strings.
    Authorities,
}

/// The manifest's sections and their keys, as the generator writes them. Add a key here
/// when the manifest gains one.
const SECTIONS: &[(&str, &[(&str, Kind)])] = &[
    (
        "trigger",
        &[
            ("subjects", Kind::Subjects),
            ("mode", Kind::Word),
            ("stream", Kind::Text),
            ("consumer", Kind::Text),
            ("queue_group", Kind::Subject),
            ("deliver", Kind::Word),
            ("ordering", Kind::Word),
            ("key", Kind::Word),
            ("partitions", Kind::Int),
            ("schedule", Kind::Text),
            ("time_zone", Kind::Text),
        ],
    ),
    (
        "limits",
        &[
            ("max_concurrency", Kind::Int),
            ("max_pending", Kind::Int),
            ("max_pending_bytes", Kind::Size),
            ("max_in_flight", Kind::Int),
            ("timeout", Kind::Duration),
            ("memory", Kind::Size),
            ("max_payload", Kind::Size),
            ("events_per_instance", Kind::Int),
            ("http_timeout", Kind::Duration),
            ("max_http_response", Kind::Size),
            ("log_lines_per_second", Kind::Int),
        ],
    ),
    (
        "retry",
        &[
            ("max_attempts", Kind::Int),
            ("initial_delay", Kind::Duration),
            ("multiplier", Kind::Float),
            ("max_delay", Kind::Duration),
            ("jitter", Kind::Word),
        ],
    ),
    ("dead_letter", &[("subject", Kind::Subject)]),
    (
        "batch",
        &[("max_events", Kind::Int), ("max_wait", Kind::Duration)],
    ),
    (
        "delivery",
        &[("max_event_age", Kind::Duration), ("ack_wait", Kind::Duration)],
    ),
    ("dedupe", &[("window", Kind::Duration)]),
    (
        "circuit_breaker",
        &[
            ("failures", Kind::Int),
            ("cool_down", Kind::Duration),
            ("max_cool_down", Kind::Duration),
        ],
    ),
    (
        "permissions",
        &[
            ("publish", Kind::Subjects),
            ("request", Kind::Subjects),
            ("http", Kind::Authorities),
        ],
    ),
    ("state", &[("buckets", Kind::Buckets)]),
    (
        "schema",
        &[
            ("file", Kind::Text),
            ("versions", Kind::Versions),
            ("version_from", Kind::Word),
            ("default_version", Kind::Word),
        ],
    ),
    (
        "config",
        &[
            ("region", Kind::Text),
            ("threshold", Kind::Text),
            ("a-b", Kind::Text),
            ("\"quoted key\"", Kind::Text),
        ],
    ),
];

/// Sections and keys the manifest does not have, mixed in to reach the unknown-key errors.
const UNKNOWN: &[&str] = &["bogus", "max_concurency", "Timeout", "trigger.extra", "\"\""];

/// Words the manifest gives meaning to, and some it does not.
const WORDS: &[&str] = &[
    "core",
    "jetstream",
    "none",
    "full",
    "equal",
    "all",
    "new",
    "",
    "CORE",
    "per-key",
    "header:k",
    "json:/id",
    "json:id",
    "subject:2",
    "subject:0",
    "seq:0",
    "seq:42",
    "time:2026-01-01T00:00:00Z",
    "time:yesterday",
    "1",
    "2",
    "header:Schema-Version",
    "json:/schema_version",
];

const FILE: &str = "functions/fuzzed.toml";

/// A string as a TOML basic string literal.
fn quoted(text: &str) -> String {
    toml::Value::String(text.to_owned()).to_string()
}

/// A duration: mostly well-formed, else a number, maybe negative, fractional or huge, with a
/// unit or not.
fn duration_text() -> impl Strategy<Value = String> {
    prop_oneof![
        "[1-9][0-9]{0,3}(ms|s|m|h)",
        "-?[0-9]{0,22}(\\.[0-9]{0,3})?[ ]?(ns|ms|s|m|h|d|MS|)",
    ]
}

/// A byte size: mostly well-formed, else odd numbers and units.
fn size_text() -> impl Strategy<Value = String> {
    prop_oneof![
        "[1-9][0-9]{0,4}(B|KiB|MiB|KB|MB|)",
        "-?[0-9]{0,25}[ ]?(B|KiB|MiB|GiB|TiB|KB|kB|MB|GB|k|)",
    ]
}

/// A subject pattern: mostly well-formed with wildcards, else the characters NATS treats
/// specially in odd places.
fn subject_text() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-z0-9_-]{1,8}(\\.([a-z0-9_-]{1,8}|\\*)){0,3}(\\.>)?",
        "[a-z0-9*>. \t$_\\-]{0,16}",
    ]
}

/// A bucket name: mostly valid, else with dots, spaces, wildcards or empty.
fn bucket_text() -> impl Strategy<Value = String> {
    prop_oneof![4 => "[A-Za-z0-9_-]{1,12}", 1 => "[a-z0-9.* >_-]{0,8}"]
}

/// A `permissions.http` entry: mostly a host, wildcard or address with a port, else the
/// characters a URL would bring (scheme, path, user, brackets).
fn authority_text() -> impl Strategy<Value = String> {
    prop_oneof![
        "(\\*\\.)?[a-z0-9-]{1,8}(\\.[a-z0-9-]{1,8}){0,2}(:[0-9]{1,6})?",
        "[a-z0-9*:/@\\[\\]. ?-]{0,20}",
    ]
}

/// A whole number: small and positive mostly, but also zero, negative and out of range.
fn int() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => (1..100_000i64).prop_map(|n| n.to_string()),
        1 => any::<i64>().prop_map(|n| n.to_string()),
        1 => prop::sample::select(&["0", "-1", "4294967295", "4294967296", "99999999999999999999999", "0x10", "1_000"][..])
            .prop_map(str::to_owned),
    ]
}

/// A floating-point number, including the extremes TOML can write.
fn float() -> impl Strategy<Value = String> {
    prop_oneof![
        (0.0..200.0f64).prop_map(|x| format!("{x:?}")),
        any::<f64>().prop_map(|x| format!("{x:?}")),
        prop::sample::select(&["inf", "-inf", "nan", "1e308", "-0.0", "2"][..]).prop_map(str::to_owned),
    ]
}

/// A TOML array of up to three strings drawn from `item`.
fn string_array(item: impl Strategy<Value = String> + 'static) -> BoxedStrategy<String> {
    prop::collection::vec(item, 0..4)
        .prop_map(|items| {
            let items: Vec<String> = items.iter().map(|t| quoted(t)).collect();
            format!("[{}]", items.join(", "))
        })
        .boxed()
}

/// A value of the type `kind` expects.
fn typed(kind: Kind) -> BoxedStrategy<String> {
    match kind {
        Kind::Int => int().boxed(),
        Kind::Float => float().boxed(),
        Kind::Duration => duration_text().prop_map(|t| quoted(&t)).boxed(),
        Kind::Size => size_text().prop_map(|t| quoted(&t)).boxed(),
        Kind::Subject => subject_text().prop_map(|t| quoted(&t)).boxed(),
        Kind::Subjects => string_array(subject_text()),
        Kind::Authorities => string_array(authority_text()),
        Kind::Word => prop::sample::select(WORDS).prop_map(quoted).boxed(),
        Kind::Text => any::<String>().prop_map(|t| quoted(&t)).boxed(),
        Kind::Buckets => string_array(bucket_text()),
        Kind::Versions => prop::collection::vec(("[0-9 ]{0,2}", "[a-z. ]{0,8}"), 0..3)
            .prop_map(|pairs| {
                let pairs: Vec<String> = pairs
                    .iter()
                    .map(|(version, file)| format!("{} = {}", quoted(version), quoted(file)))
                    .collect();
                format!("{{ {} }}", pairs.join(", "))
            })
            .boxed(),
    }
}

/// Any TOML value, as text: scalars of every type, arrays and inline tables.
fn any_value() -> impl Strategy<Value = String> {
    let scalar = prop_oneof![
        int(),
        float(),
        any::<bool>().prop_map(|b| b.to_string()),
        Just("1979-05-27T07:32:00Z".to_owned()),
        duration_text().prop_map(|t| quoted(&t)),
        size_text().prop_map(|t| quoted(&t)),
        any::<String>().prop_map(|t| quoted(&t)),
    ];
    scalar.prop_recursive(2, 8, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(|items| format!("[{}]", items.join(", "))),
            prop::collection::vec(inner, 0..3).prop_map(|items| {
                let pairs: Vec<String> = items
                    .iter()
                    .enumerate()
                    .map(|(i, v)| format!("k{i} = {v}"))
                    .collect();
                format!("{{ {} }}", pairs.join(", "))
            }),
        ]
    })
}

/// A value for a key of type `kind`: mostly of that type, sometimes of any type.
fn value(kind: Kind) -> impl Strategy<Value = String> {
    prop_oneof![20 => typed(kind), 1 => any_value().boxed()]
}

/// A `key = value` line of section `index`, the key known or not.
fn line(index: usize) -> impl Strategy<Value = String> {
    let known = prop::sample::select(SECTIONS[index].1).prop_flat_map(|(key, kind)| (Just(key), value(kind)));
    let unknown = (prop::sample::select(UNKNOWN), any_value());
    prop_oneof![12 => known, 1 => unknown].prop_map(|(key, value)| format!("{key} = {value}"))
}

/// Some of section `index`'s keys, each once, in any order, sometimes with an unknown one.
fn lines(index: usize) -> impl Strategy<Value = Vec<String>> {
    let keys = SECTIONS[index].1;
    let known = prop::sample::subsequence(keys, 0..=keys.len())
        .prop_shuffle()
        .prop_flat_map(|keys| {
            keys.into_iter()
                .map(|(key, kind)| value(kind).prop_map(move |value| format!("{key} = {value}")))
                .collect::<Vec<_>>()
        });
    let unknown = prop::option::weighted(
        0.03,
        (prop::sample::select(UNKNOWN), any_value()).prop_map(|(key, value)| format!("{key} = {value}")),
    );
    (known, unknown).prop_map(|(mut lines, unknown)| {
        lines.extend(unknown);
        lines
    })
}

/// A section header (sometimes malformed or unknown) and its lines.
fn section(index: usize) -> impl Strategy<Value = String> {
    let name = SECTIONS[index].0;
    let header = prop_oneof![
        40 => Just(format!("[{name}]")),
        1 => prop::sample::select(UNKNOWN).prop_map(|u| format!("[{u}]")),
        1 => Just(format!("[[{name}]]")),
        1 => Just(format!("[{name}.nested]")),
    ];
    (header, lines(index)).prop_map(|(header, lines)| format!("{header}\n{}\n", lines.join("\n")))
}

/// A whole near-valid manifest: each section at most once, in any order, sometimes after a
/// top-level dotted key. (A key written twice is a TOML error; it happens, but rarely.)
fn manifest_text() -> impl Strategy<Value = String> {
    let dotted = prop::option::weighted(
        0.1,
        (0..SECTIONS.len()).prop_flat_map(|index| (Just(SECTIONS[index].0), line(index))),
    )
    .prop_map(|dotted| dotted.map_or(String::new(), |(section, line)| format!("{section}.{line}\n")));
    let order = Just((0..SECTIONS.len()).collect::<Vec<_>>()).prop_shuffle();
    let sections = (order, 0..=SECTIONS.len()).prop_flat_map(|(order, count)| {
        order[..count]
            .iter()
            .map(|&index| section(index).boxed())
            .collect::<Vec<_>>()
    });
    (dotted, sections).prop_map(|(dotted, sections)| dotted + &sections.concat())
}

/// A near-valid manifest with one edit at a random place: cut short, or a character
/// inserted (quotes, brackets, newlines and multi-byte characters are the interesting ones).
fn edited_manifest_text() -> impl Strategy<Value = String> {
    let inserted = prop_oneof![
        prop::sample::select(&['"', '\'', '[', ']', '=', '\n', '#', '\\', '.', 'é', '🕴'][..]),
        any::<char>(),
    ];
    (
        manifest_text(),
        any::<prop::sample::Index>(),
        prop::option::of(inserted),
    )
        .prop_map(|(mut text, at, inserted)| {
            let boundaries: Vec<usize> = text.char_indices().map(|(i, _)| i).chain([text.len()]).collect();
            let at = boundaries[at.index(boundaries.len())];
            match inserted {
                Some(c) => text.insert(at, c),
                None => text.truncate(at),
            }
            text
        })
}

/// Parses `text` as function `name`'s manifest and checks an error names the file.
fn check(name: &str, text: &str) -> Result<(), TestCaseError> {
    if let Err(error) = Manifest::parse(name, text, Path::new(FILE)) {
        let message = error.to_string();
        prop_assert!(
            message.starts_with(FILE),
            "error does not name the file: {message}"
        );
    }
    Ok(())
}

proptest! {
    #[test]
    fn arbitrary_text_never_panics(name in "[a-z0-9_-]{1,12}", text in any::<String>()) {
        check(&name, &text)?;
    }

    #[test]
    fn near_valid_manifests_never_panic(name in "[a-z0-9_-]{1,12}", text in manifest_text()) {
        check(&name, &text)?;
    }

    #[test]
    fn edited_manifests_never_panic(name in "[a-z0-9_-]{1,12}", text in edited_manifest_text()) {
        check(&name, &text)?;
    }
}
