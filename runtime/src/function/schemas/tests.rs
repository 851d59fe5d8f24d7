use std::collections::HashMap;

use bytes::Bytes;

use super::*;

const V1: &str = r#"{
    "type": "object",
    "required": ["op", "order_id"],
    "properties": {
        "op": { "type": "string" },
        "order_id": { "type": "string" },
        "amount": { "type": "number" }
    }
}"#;

const V2: &str = r#"{
    "type": "object",
    "required": ["op", "order_id", "total"],
    "properties": {
        "total": {
            "type": "object",
            "required": ["amount", "currency"],
            "properties": { "amount": { "type": "number" }, "currency": { "type": "string" } }
        }
    }
}"#;

/// Loads `spec` from in-memory files.
fn load(spec: &SchemaSpec, files: &[(&str, &str)]) -> Result<Schemas, SchemaError> {
    let files: HashMap<PathBuf, String> = files
        .iter()
        .map(|(name, text)| (PathBuf::from(name), (*text).to_owned()))
        .collect();
    Schemas::load_with(spec, |file| {
        files
            .get(file)
            .cloned()
            .ok_or_else(|| std::io::Error::new(std::io::ErrorKind::NotFound, "No such file"))
    })
}

fn versions(from: VersionSource, default: Option<&str>) -> Schemas {
    let spec = SchemaSpec::Versions {
        files: [("1", "v1.json"), ("2", "v2.json")]
            .into_iter()
            .map(|(v, f)| (v.to_owned(), PathBuf::from(f)))
            .collect(),
        from,
        default: default.map(str::to_owned),
    };
    load(&spec, &[("v1.json", V1), ("v2.json", V2)]).unwrap()
}

fn event(payload: &str, headers: &[(&str, &str)]) -> Event {
    let headers = headers
        .iter()
        .map(|(name, value)| ((*name).to_owned(), (*value).to_owned()))
        .collect();
    Event::new(
        "orders.placed".into(),
        Bytes::from(payload.to_owned()),
        headers,
        None,
    )
}

fn mismatch(schemas: &Schemas, payload: &str, headers: &[(&str, &str)]) -> String {
    schemas.check(&event(payload, headers)).unwrap_err().0
}

#[test]
fn one_schema_checks_every_event_and_names_the_failing_paths() {
    let schemas = load(
        &SchemaSpec::File("dir/order.json".into()),
        &[("dir/order.json", V1)],
    )
    .unwrap();
    assert_eq!(
        schemas.check(&event(r#"{"op":"echo","order_id":"o-1"}"#, &[])),
        Ok(())
    );
    let message = mismatch(&schemas, r#"{"op":"echo","order_id":7,"amount":"ten"}"#, &[]);
    assert!(
        message.starts_with("payload does not match order.json: "),
        "{message}"
    );
    assert!(
        message.contains("/order_id: 7 is not of type \"string\""),
        "{message}"
    );
    assert!(
        message.contains("/amount: \"ten\" is not of type \"number\""),
        "{message}"
    );
    let message = mismatch(&schemas, r#"{"op":"echo"}"#, &[]);
    assert!(
        message.contains("(root): \"order_id\" is a required property"),
        "{message}"
    );
    let message = mismatch(&schemas, "not json", &[]);
    assert!(message.starts_with("payload is not JSON: "), "{message}");
}

#[test]
fn only_the_first_few_errors_are_listed() {
    let schema = r#"{ "type": "array", "items": { "type": "string" } }"#;
    let schemas = load(&SchemaSpec::File("a.json".into()), &[("a.json", schema)]).unwrap();
    let message = mismatch(&schemas, "[1, 2, 3, 4, 5]", &[]);
    assert_eq!(message.matches("is not of type").count(), MAX_ERRORS, "{message}");
    assert!(message.ends_with("; and 2 more"), "{message}");
}

#[test]
fn the_default_source_reads_the_header_then_the_field() {
    let schemas = versions(VersionSource::HeaderOrField, None);
    let v1 = r#"{"op":"echo","order_id":"o-1"}"#;
    let v2 = r#"{"op":"echo","order_id":"o-1","total":{"amount":5,"currency":"EUR"}}"#;
    assert_eq!(
        schemas.check(&event(v1, &[("Sluice-Schema-Version", "1")])),
        Ok(())
    );
    assert_eq!(
        schemas.check(&event(v2, &[("sluice-schema-version", "2")])),
        Ok(())
    );
    let with_field =
        r#"{"op":"echo","order_id":"o-1","schema_version":2,"total":{"amount":5,"currency":"EUR"}}"#;
    assert_eq!(schemas.check(&event(with_field, &[])), Ok(()));
    let message = mismatch(&schemas, v1, &[("Sluice-Schema-Version", "2")]);
    assert!(
        message.starts_with("payload does not match v2.json (version \"2\"): "),
        "{message}"
    );
    assert!(message.contains("\"total\" is a required property"), "{message}");
}

#[test]
fn unknown_or_missing_versions_are_mismatches_unless_a_default_covers_the_missing() {
    let v1 = r#"{"op":"echo","order_id":"o-1"}"#;
    let strict = versions(VersionSource::Json("/v".into()), None);
    let message = mismatch(&strict, v1, &[]);
    assert_eq!(
        message,
        "the event names no schema version (field /v) and schema.default_version is not set"
    );
    let message = mismatch(&strict, r#"{"v":"3","op":"echo","order_id":"o-1"}"#, &[]);
    assert_eq!(
        message,
        "unknown schema version \"3\" (from field /v); known versions: \"1\", \"2\""
    );
    let lenient = versions(VersionSource::Header("Schema-Version".into()), Some("1"));
    assert_eq!(lenient.check(&event(v1, &[])), Ok(()));
    let message = mismatch(&lenient, v1, &[("Schema-Version", "3")]);
    assert!(message.starts_with("unknown schema version \"3\""), "{message}");
}

#[test]
fn version_sources_parse_headers_and_pointers() {
    assert_eq!(
        VersionSource::parse("header:Schema-Version"),
        Ok(VersionSource::Header("Schema-Version".into()))
    );
    assert_eq!(
        VersionSource::parse("json:/meta/version"),
        Ok(VersionSource::Json("/meta/version".into()))
    );
    assert!(
        VersionSource::parse("json:version")
            .unwrap_err()
            .contains("not a JSON pointer")
    );
    assert!(
        VersionSource::parse("subject:2")
            .unwrap_err()
            .contains("expected \"header:NAME\"")
    );
    assert!(VersionSource::parse("header:").is_err());
}

#[test]
fn broken_files_say_which_and_why() {
    let spec = SchemaSpec::File("dir/order.json".into());
    let error = load(&spec, &[]).unwrap_err().to_string();
    assert!(error.starts_with("dir/order.json: cannot read: "), "{error}");
    let error = load(&spec, &[("dir/order.json", "{ \"type\": ")])
        .unwrap_err()
        .to_string();
    assert!(error.starts_with("dir/order.json: not valid JSON: "), "{error}");
    let error = load(&spec, &[("dir/order.json", r#"{ "type": "numbr" }"#)])
        .unwrap_err()
        .to_string();
    assert!(
        error.starts_with("dir/order.json: not a valid JSON Schema: /type: "),
        "{error}"
    );
}

#[test]
fn references_outside_the_file_are_load_errors_not_fetches() {
    let spec = SchemaSpec::File("a.json".into());
    for reference in ["https://example.com/order.json", "other.schema.json"] {
        let schema = format!(r#"{{ "$ref": "{reference}" }}"#);
        let error = load(&spec, &[("a.json", &schema)]).unwrap_err().to_string();
        assert!(error.starts_with("a.json: not a valid JSON Schema: "), "{error}");
    }
    let local =
        r##"{ "$defs": { "id": { "type": "string" } }, "properties": { "id": { "$ref": "#/$defs/id" } } }"##;
    let schemas = load(&spec, &[("a.json", local)]).unwrap();
    assert!(mismatch(&schemas, r#"{"id": 1}"#, &[]).contains("/id: 1 is not of type \"string\""));
}

#[test]
fn the_digest_follows_the_texts() {
    let spec = SchemaSpec::File("a.json".into());
    let one = load(&spec, &[("a.json", V1)]).unwrap();
    let same = load(&spec, &[("a.json", V1)]).unwrap();
    let other = load(&spec, &[("a.json", V2)]).unwrap();
    assert_eq!(one.digest(), same.digest());
    assert_ne!(one.digest(), other.digest());
}
