use super::*;
use crate::manifest::KeySource;
use crate::manifest::VersionSource;

fn parse(text: &str) -> Result<Manifest, ManifestError> {
    Manifest::parse("orders", text, Path::new("functions/orders.toml"))
}

#[test]
fn an_empty_manifest_gets_the_documented_defaults() {
    let manifest = parse("").unwrap();
    assert_eq!(
        manifest.trigger.subjects,
        [SubjectPattern::parse("orders").unwrap()]
    );
    assert_eq!(manifest.trigger.mode, DeliveryMode::Core);
    assert_eq!(manifest.trigger.queue_group.as_deref(), Some("sluice-orders"));
    assert_eq!(manifest.limits.max_concurrency.get(), 16);
    assert_eq!(manifest.limits.max_pending.get(), 512 * 1024);
    assert_eq!(manifest.limits.max_pending_bytes, 64 << 20);
    assert_eq!(manifest.limits.log_lines_per_second, 1000);
    assert_eq!(manifest.limits.timeout, Duration::from_secs(30));
    assert_eq!(manifest.limits.memory, 64 << 20);
    assert_eq!(manifest.limits.max_payload, 1 << 20);
    assert_eq!(manifest.retry, RetryPolicy::default());
    assert_eq!(manifest.dead_letter.as_deref(), Some("sluice.dlq.orders"));
    assert!(manifest.publish.is_empty());
    assert!(!manifest.may_publish("anything"));
}

#[test]
fn every_key_is_read() {
    let manifest = parse(
        r#"
        [trigger]
        subjects = ["orders.placed", "orders.*.eu"]
        mode = "core"
        queue_group = "none"
        [limits]
        max_concurrency = 4
        max_pending = 100
        max_pending_bytes = "1MiB"
        timeout = "250ms"
        memory = "16MiB"
        max_payload = "4KiB"
        events_per_instance = 1
        log_lines_per_second = 0
        [retry]
        max_attempts = 3
        initial_delay = "10ms"
        multiplier = 3.0
        max_delay = "1s"
        jitter = "none"
        [dead_letter]
        subject = "orders.failed"
        [permissions]
        publish = ["orders.totalled", "audit.>"]
        [config]
        currency = "EUR"
        "#,
    )
    .unwrap();
    assert_eq!(manifest.trigger.subjects.len(), 2);
    assert_eq!(manifest.trigger.queue_group, None);
    assert_eq!(manifest.limits.max_concurrency.get(), 4);
    assert_eq!(manifest.limits.max_pending.get(), 100);
    assert_eq!(manifest.limits.max_pending_bytes, 1 << 20);
    assert_eq!(manifest.limits.log_lines_per_second, 0, "0: no limit");
    assert_eq!(manifest.limits.timeout, Duration::from_millis(250));
    assert_eq!(manifest.limits.memory, 16 << 20);
    assert_eq!(manifest.limits.max_payload, 4096);
    assert_eq!(manifest.retry.max_attempts.get(), 3);
    assert_eq!(manifest.retry.jitter, Jitter::None);
    assert_eq!(manifest.dead_letter.as_deref(), Some("orders.failed"));
    assert!(manifest.may_publish("orders.totalled"));
    assert!(manifest.may_publish("audit.orders.eu"));
    assert!(!manifest.may_publish("orders.placed"));
    assert_eq!(manifest.config["currency"], "EUR");
}

#[test]
fn unknown_keys_name_the_file_line_and_key() {
    let error = parse("[limits]\nmax_concurency = 4\n").unwrap_err().to_string();
    assert!(error.starts_with("functions/orders.toml:2: "), "{error}");
    assert!(error.contains("unknown field `max_concurency`"), "{error}");
    let error = parse("[trigers]\n").unwrap_err().to_string();
    assert!(error.contains("unknown field `trigers`"), "{error}");
}

#[test]
fn wrong_types_and_values_name_the_key() {
    let error = parse("[limits]\nmax_concurrency = \"lots\"\n")
        .unwrap_err()
        .to_string();
    assert!(error.contains("functions/orders.toml:2"), "{error}");
    let cases = [
        (
            "[limits]\nmax_concurrency = 0",
            "`limits.max_concurrency`: expected a whole number",
        ),
        ("[limits]\ntimeout = \"30\"", "`limits.timeout`: `30` has no unit"),
        (
            "[limits]\nmemory = \"12 bananas\"",
            "`limits.memory`: unknown size unit",
        ),
        (
            "[limits]\nevents_per_instance = 0",
            "`limits.events_per_instance`",
        ),
        (
            "[limits]\nlog_lines_per_second = -1",
            "`limits.log_lines_per_second`: expected a whole number from 0",
        ),
        (
            "[limits]\nmax_in_flight = 4",
            "`limits.max_in_flight`: only applies to trigger.mode = \"jetstream\"",
        ),
        (
            "[trigger]\nmode = \"jetstream\"\n[limits]\nmax_in_flight = 0",
            "`limits.max_in_flight`: expected a whole number",
        ),
        ("[retry]\njitter = \"some\"", "`retry.jitter`: expected \"full\""),
        ("[retry]\nmultiplier = 0.5", "`retry.multiplier`"),
        (
            "[retry]\ninitial_delay = \"10s\"\nmax_delay = \"1s\"",
            "`retry.max_delay`",
        ),
        (
            "[trigger]\nsubjects = []",
            "`trigger.subjects`: needs at least one",
        ),
        (
            "[trigger]\nsubjects = [\"a..b\"]",
            "`trigger.subjects`: `a..b` has an empty token",
        ),
        (
            "[trigger]\nmode = \"kafka\"",
            "`trigger.mode`: expected \"core\" or \"jetstream\"",
        ),
        ("[trigger]\nstream = \"ORDERS\"", "`trigger.stream`: only applies"),
        ("[dead_letter]\nsubject = \"dlq.*\"", "`dead_letter.subject`"),
        ("[permissions]\npublish = [\"a.>.b\"]", "`permissions.publish`"),
    ];
    for (text, expected) in cases {
        let error = parse(text).unwrap_err().to_string();
        assert!(error.starts_with("functions/orders.toml: "), "{text}: {error}");
        assert!(
            error.contains(expected),
            "{text}: expected {expected:?} in {error:?}"
        );
    }
}

#[test]
fn dead_letters_can_be_dropped_and_queue_groups_named() {
    let manifest = parse("[dead_letter]\nsubject = \"none\"\n[trigger]\nqueue_group = \"billing\"").unwrap();
    assert_eq!(manifest.dead_letter, None);
    assert_eq!(manifest.trigger.queue_group.as_deref(), Some("billing"));
}

#[test]
fn jetstream_triggers_get_named_streams_and_consumers() {
    let manifest = parse("[trigger]\nmode = \"jetstream\"\nsubjects = [\"orders.>\"]\n").unwrap();
    let DeliveryMode::JetStream(trigger) = manifest.trigger.mode else {
        panic!("expected jetstream mode");
    };
    assert_eq!(trigger.stream, "SLUICE_ORDERS");
    assert_eq!(trigger.consumer, "sluice-orders");
    assert_eq!(trigger.deliver, DeliverFrom::All);
    assert_eq!(manifest.delivery.ack_wait, Duration::from_secs(30));
    let manifest = parse(
        r#"
        [trigger]
        mode = "jetstream"
        stream = "ORDERS"
        consumer = "totals"
        deliver = "seq:42"
        [delivery]
        max_event_age = "1h"
        ack_wait = "5s"
        [dedupe]
        window = "10m"
        [circuit_breaker]
        failures = 3
        cool_down = "100ms"
        max_cool_down = "2s"
        "#,
    )
    .unwrap();
    let DeliveryMode::JetStream(trigger) = &manifest.trigger.mode else {
        panic!("expected jetstream mode");
    };
    assert_eq!(
        (trigger.stream.as_str(), trigger.consumer.as_str()),
        ("ORDERS", "totals")
    );
    assert_eq!(trigger.deliver, DeliverFrom::Sequence(42));
    assert_eq!(manifest.delivery.max_event_age, Some(Duration::from_secs(3600)));
    assert_eq!(manifest.delivery.ack_wait, Duration::from_secs(5));
    assert_eq!(manifest.dedupe_window, Some(Duration::from_secs(600)));
    let breaker = manifest.circuit_breaker.unwrap();
    assert_eq!(breaker.failures.get(), 3);
    assert_eq!(breaker.cool_down, Duration::from_millis(100));
    assert_eq!(breaker.max_cool_down, Duration::from_secs(2));
}

#[test]
fn jetstream_keys_are_checked() {
    let cases = [
        (
            "[trigger]\nstream = \"S\"\n",
            "`trigger.stream`: only applies to mode = \"jetstream\"",
        ),
        (
            "[trigger]\nmode = \"jetstream\"\nstream = \"a b\"\n",
            "`trigger.stream`: \"a b\" is not a valid stream name",
        ),
        (
            "[trigger]\nmode = \"jetstream\"\ndeliver = \"latest\"\n",
            "`trigger.deliver`: expected \"all\"",
        ),
        (
            "[trigger]\nmode = \"jetstream\"\ndeliver = \"time:yesterday\"\n",
            "`trigger.deliver`: \"yesterday\" is not an RFC 3339 time",
        ),
        (
            "[trigger]\nmode = \"jetstream\"\nqueue_group = \"g\"\n",
            "`trigger.queue_group`: only applies to mode = \"core\"",
        ),
        (
            "[dedupe]\nwindow = \"10m\"\n",
            "`dedupe.window`: only applies to trigger.mode = \"jetstream\"",
        ),
        (
            "[delivery]\nmax_event_age = \"0s\"\n",
            "`delivery.max_event_age`: must be longer than zero",
        ),
        (
            "[circuit_breaker]\ncool_down = \"1s\"\n",
            "`circuit_breaker.cool_down`: needs circuit_breaker.failures",
        ),
        (
            "[circuit_breaker]\nfailures = 2\ncool_down = \"1m\"\nmax_cool_down = \"1s\"\n",
            "`circuit_breaker.max_cool_down`: must not be shorter",
        ),
    ];
    for (text, expected) in cases {
        let error = parse(text).unwrap_err().to_string();
        assert!(error.contains(expected), "{text:?} gave {error}");
    }
}

#[test]
fn per_key_ordering_needs_a_key() {
    let manifest = parse("[trigger]\nordering = \"per-key\"\nkey = \"json:/order/id\"\n").unwrap();
    assert_eq!(
        manifest.trigger.ordering,
        Some(KeySource::Json("/order/id".into()))
    );
    assert_eq!(parse("").unwrap().trigger.ordering, None);
    let cases = [
        (
            "[trigger]\nordering = \"per-key\"\n",
            "`trigger.key`: ordering = \"per-key\" needs a key",
        ),
        (
            "[trigger]\nkey = \"header:k\"\n",
            "`trigger.key`: only applies to ordering = \"per-key\"",
        ),
        (
            "[trigger]\nordering = \"strict\"\n",
            "`trigger.ordering`: expected \"none\" or \"per-key\"",
        ),
        (
            "[trigger]\nordering = \"per-key\"\nkey = \"json:id\"\n",
            "`trigger.key`: \"id\" is not a JSON pointer",
        ),
    ];
    for (text, expected) in cases {
        let error = parse(text).unwrap_err().to_string();
        assert!(error.contains(expected), "{text:?} gave {error}");
    }
}

#[test]
fn partitions_need_jetstream_and_a_key() {
    let keyed = "[trigger]\nmode = \"jetstream\"\nordering = \"per-key\"\nkey = \"header:k\"\n";
    let manifest = parse(&format!("{keyed}partitions = 16\n")).unwrap();
    assert_eq!(manifest.trigger.partitions(), Some(16));
    assert_eq!(parse(keyed).unwrap().trigger.partitions(), None);
    let cases = [
        (
            "[trigger]\npartitions = 4\nordering = \"per-key\"\nkey = \"header:k\"\n".to_owned(),
            "`trigger.partitions`: only applies to mode = \"jetstream\"",
        ),
        (
            "[trigger]\nmode = \"jetstream\"\npartitions = 4\n".to_owned(),
            "`trigger.partitions`: needs ordering = \"per-key\"",
        ),
        (
            format!("{keyed}partitions = 0\n"),
            "`trigger.partitions`: expected a whole number from 1 to 1024, found 0",
        ),
        (
            format!("{keyed}partitions = 4\n[limits]\nmax_in_flight = 2\n"),
            "`limits.max_in_flight`: does not apply with trigger.partitions",
        ),
    ];
    for (text, expected) in cases {
        let error = parse(&text).unwrap_err().to_string();
        assert!(error.contains(expected), "{text:?} gave {error}");
    }
}

#[test]
fn state_buckets_and_request_permissions_are_read() {
    let manifest = parse(
        r#"
        [state]
        buckets = ["orders-read-model", "sagas_v2"]
        [permissions]
        publish = ["orders.totalled"]
        request = ["inventory.>", "pricing.quote"]
        "#,
    )
    .unwrap();
    assert_eq!(manifest.buckets, ["orders-read-model", "sagas_v2"]);
    assert!(manifest.may_use_bucket("orders-read-model"));
    assert!(!manifest.may_use_bucket("orders"));
    assert!(manifest.may_request("inventory.reserve"));
    assert!(manifest.may_request("pricing.quote"));
    assert!(!manifest.may_request("pricing.quote.eu"));
    // Publishing and requesting are separate grants.
    assert!(!manifest.may_request("orders.totalled"));
    assert!(!manifest.may_publish("inventory.reserve"));
}

#[test]
fn state_and_request_keys_are_checked() {
    let cases = [
        (
            "[state]\nbuckets = [\"orders.read\"]\n",
            "`state.buckets`: \"orders.read\" is not a valid bucket name",
        ),
        (
            "[state]\nbuckets = [\"\"]\n",
            "`state.buckets`: \"\" is not a valid bucket name",
        ),
        (
            "[state]\nbuckets = [\"a\", \"b\", \"a\"]\n",
            "`state.buckets`: bucket \"a\" is listed twice",
        ),
        (
            "[permissions]\nrequest = [\"inventory.>.x\"]\n",
            "`permissions.request`",
        ),
    ];
    for (text, expected) in cases {
        let error = parse(text).unwrap_err().to_string();
        assert!(error.starts_with("functions/orders.toml: "), "{text}: {error}");
        assert!(error.contains(expected), "{text:?} gave {error}");
    }
    let error = parse("[state]\nbucket = [\"a\"]\n").unwrap_err().to_string();
    assert!(error.contains("unknown field `bucket`"), "{error}");
    let error = parse("[state]\nbuckets = \"a\"\n").unwrap_err().to_string();
    assert!(error.starts_with("functions/orders.toml:2: "), "{error}");
}

#[test]
fn one_schema_file_is_taken_from_the_manifest_folder() {
    assert_eq!(parse("").unwrap().schema, None);
    let manifest = parse("[schema]\nfile = \"order-placed.schema.json\"\n").unwrap();
    assert_eq!(
        manifest.schema,
        Some(SchemaSpec::File("functions/order-placed.schema.json".into()))
    );
}

#[test]
fn schema_versions_have_a_source_and_an_optional_default() {
    let manifest = parse(
        r#"
        [schema]
        versions = { "1" = "v1.json", "2" = "schemas/v2.json" }
        version_from = "header:Schema-Version"
        default_version = "1"
        "#,
    )
    .unwrap();
    let Some(SchemaSpec::Versions { files, from, default }) = manifest.schema else {
        panic!("expected versions");
    };
    assert_eq!(files["1"], Path::new("functions/v1.json"));
    assert_eq!(files["2"], Path::new("functions/schemas/v2.json"));
    assert_eq!(from, VersionSource::Header("Schema-Version".into()));
    assert_eq!(default.as_deref(), Some("1"));
    let manifest = parse("[schema]\nversions = { \"1\" = \"v1.json\" }\n").unwrap();
    let Some(SchemaSpec::Versions { from, default, .. }) = manifest.schema else {
        panic!("expected versions");
    };
    assert_eq!(
        from,
        VersionSource::HeaderOrField,
        "header Sluice-Schema-Version, else field schema_version"
    );
    assert_eq!(default, None);
    let manifest =
        parse("[schema]\nversions = { \"1\" = \"v1.json\" }\nversion_from = \"json:/meta/v\"\n").unwrap();
    let Some(SchemaSpec::Versions { from, .. }) = manifest.schema else {
        panic!("expected versions");
    };
    assert_eq!(from, VersionSource::Json("/meta/v".into()));
}

#[test]
fn schema_keys_are_checked() {
    let cases = [
        ("[schema]\n", "`schema.file`: [schema] needs `file = "),
        (
            "[schema]\nfile = \"\"\n",
            "`schema.file`: expected a JSON Schema file name",
        ),
        (
            "[schema]\nfile = \"a.json\"\nversions = { \"1\" = \"a.json\" }\n",
            "`schema.versions`: cannot be combined with schema.file",
        ),
        (
            "[schema]\nfile = \"a.json\"\nversion_from = \"header:V\"\n",
            "`schema.version_from`: only applies to schema.versions",
        ),
        (
            "[schema]\nfile = \"a.json\"\ndefault_version = \"1\"\n",
            "`schema.default_version`: only applies to schema.versions",
        ),
        (
            "[schema]\nversions = {}\n",
            "`schema.versions`: needs at least one version",
        ),
        (
            "[schema]\nversions = { \" 1\" = \"a.json\" }\n",
            "`schema.versions`: \" 1\" is not a version name",
        ),
        (
            "[schema]\nversions = { \"1\" = \"\" }\n",
            "`schema.versions`: version \"1\": expected a JSON Schema file name",
        ),
        (
            "[schema]\nversions = { \"1\" = \"a.json\" }\nversion_from = \"subject:2\"\n",
            "`schema.version_from`: expected \"header:NAME\" or \"json:/pointer\"",
        ),
        (
            "[schema]\nversions = { \"1\" = \"a.json\" }\nversion_from = \"json:v\"\n",
            "`schema.version_from`: \"v\" is not a JSON pointer",
        ),
        (
            "[schema]\nversions = { \"1\" = \"a.json\", \"2\" = \"b.json\" }\ndefault_version = \"3\"\n",
            "`schema.default_version`: \"3\" is not one of schema.versions (\"1\", \"2\")",
        ),
    ];
    for (text, expected) in cases {
        let error = parse(text).unwrap_err().to_string();
        assert!(
            error.starts_with("functions/orders.toml: "),
            "{text:?} gave {error}"
        );
        assert!(error.contains(expected), "{text:?} gave {error}");
    }
    let error = parse("[schema]\nfiles = \"a.json\"\n").unwrap_err().to_string();
    assert!(error.starts_with("functions/orders.toml:2: "), "{error}");
    assert!(error.contains("unknown field `files`"), "{error}");
}

#[test]
fn http_is_denied_by_default_and_opened_per_host() {
    let manifest = parse("").unwrap();
    assert!(manifest.http.is_empty());
    assert!(!manifest.may_call("api.example.com", 443, 443));
    assert_eq!(manifest.limits.http_timeout, Duration::from_secs(10));
    assert_eq!(manifest.limits.max_http_response, 1 << 20);
    // The default http_timeout never outlasts a shorter attempt timeout.
    let manifest = parse("[limits]\ntimeout = \"2s\"\n").unwrap();
    assert_eq!(manifest.limits.http_timeout, Duration::from_secs(2));

    let manifest = parse(
        r#"
        [permissions]
        http = ["api.example.com", "127.0.0.1:8080", "*.hooks.example.com"]
        [limits]
        http_timeout = "3s"
        max_http_response = "64KiB"
        "#,
    )
    .unwrap();
    assert!(manifest.may_call("api.example.com", 443, 443));
    assert!(manifest.may_call("127.0.0.1", 8080, 80));
    assert!(manifest.may_call("eu.hooks.example.com", 80, 80));
    assert!(!manifest.may_call("127.0.0.1", 80, 80));
    assert!(!manifest.may_call("example.com", 443, 443));
    assert_eq!(manifest.limits.http_timeout, Duration::from_secs(3));
    assert_eq!(manifest.limits.max_http_response, 64 << 10);
}

#[test]
fn http_keys_are_checked() {
    let cases = [
        (
            "[permissions]\nhttp = [\"https://api.example.com\"]\n",
            "`permissions.http`: \"https://api.example.com\" is not a host or host:port",
        ),
        (
            "[permissions]\nhttp = [\"api.example.com:99999\"]\n",
            "`permissions.http`: \"api.example.com:99999\" is not a host or host:port (port",
        ),
        (
            "[limits]\ntimeout = \"5s\"\nhttp_timeout = \"10s\"\n",
            "`limits.http_timeout`: must not be longer than limits.timeout",
        ),
        (
            "[limits]\nhttp_timeout = \"0ms\"\n",
            "`limits.http_timeout`: must be longer than zero",
        ),
        (
            "[limits]\nmax_http_response = \"lots\"\n",
            "`limits.max_http_response`",
        ),
    ];
    for (text, expected) in cases {
        let error = parse(text).unwrap_err().to_string();
        assert!(error.contains(expected), "{text:?} gave {error}");
    }
}

#[test]
fn the_fleet_wide_cap_defaults_to_the_smaller_of_max_pending_and_ten_thousand() {
    let cap = |text: &str| {
        parse(&format!("[trigger]\nmode = \"jetstream\"\n[limits]\n{text}"))
            .unwrap()
            .limits
            .max_in_flight_or_default()
            .get()
    };
    assert_eq!(cap(""), 10_000);
    assert_eq!(cap("max_pending = 500"), 500);
    assert_eq!(cap("max_pending = 500\nmax_in_flight = 20"), 20);
}
