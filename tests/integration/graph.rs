//! `sluice graph`: the example applications' committed drawings are current (CI fails when
//! one is out of date), findings name what a flow lacks, `--check` sees a stale drawing, a
//! broken manifest is named, and `--fleet` draws what the fleet runs.

use std::path::{Path, PathBuf};
use std::process::Output;

use sluice_tests::{FunctionsDir, Manifest, NatsServer, sluice_command};

fn graph(args: &[&str]) -> Output {
    sluice_command()
        .arg("graph")
        .args(args)
        .output()
        .expect("run sluice graph")
}

fn text(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

fn app(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../functions")
        .join(name)
}

#[test]
fn the_example_applications_graphs_are_committed_and_current() {
    for name in [
        "fulfilment-saga",
        "marketplace",
        "bank-accounts",
        "order-processing",
    ] {
        let dir = app(name);
        let output = graph(&[dir.to_str().unwrap(), "--check"]);
        assert!(
            output.status.success(),
            "functions/{name}: the committed graph.dot and graph.svg are out of date; run `sluice graph functions/{name}`:\n{}",
            text(&output)
        );
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(stdout.contains("(0 warnings)"), "functions/{name}: {stdout}");
        let readme = std::fs::read_to_string(dir.join("README.md")).unwrap();
        assert!(
            readme.contains("(graph.svg)"),
            "functions/{name}/README.md shows its graph"
        );
    }
}

#[test]
fn findings_name_what_the_flow_lacks_and_check_sees_a_stale_drawing() {
    let dir = FunctionsDir::new();
    let write_text =
        |name: &str, text: String| std::fs::write(dir.path().join(format!("{name}.toml")), text).unwrap();
    let write = |name: &str, manifest: Manifest| write_text(name, manifest.to_string());
    // What intake declares it publishes lacks a field totals requires.
    let schema = |file: &str, json: &str| std::fs::write(dir.path().join(file), json).unwrap();
    schema(
        "valid-order.json",
        r#"{"type": "object", "required": ["order_id"], "properties": {"order_id": {"type": "string"}}}"#,
    );
    schema(
        "order.json",
        r#"{"type": "object", "required": ["order_id", "total"]}"#,
    );
    let intake = Manifest::new()
        .subjects(["orders.placed"])
        .publish(["orders.valid"]);
    write_text(
        "intake",
        format!("{intake}\n[schema.publishes]\n\"orders.valid\" = \"valid-order.json\"\n"),
    );
    let totals = Manifest::new()
        .subjects(["orders.*"])
        .publish(["totals.ready", "orders.retotal"]);
    write_text("totals", format!("{totals}\n[schema]\nfile = \"order.json\"\n"));
    write(
        "lookup",
        Manifest::new().subjects(["lookup.in"]).request(["prices.get"]),
    );
    let path = dir.path().to_str().unwrap();

    let output = graph(&[path]);
    assert!(output.status.success(), "{}", text(&output));
    let stdout = String::from_utf8_lossy(&output.stdout);
    for expected in [
        "`intake` listens on `orders.placed`, which no function here publishes to",
        "`lookup` listens on `lookup.in`, which no function here publishes to",
        "`lookup` sends requests to `prices.get`, which no function here answers",
        "`totals` publishes to `totals.ready`, which no function here listens on",
        "note: `totals` feeds itself",
        "warning: what `intake` publishes to `orders.valid` may not match the schema of `totals`: `/total` is required by the consumer but the producer may omit it",
        "3 functions, 6 findings (5 warnings)",
    ] {
        assert!(stdout.contains(expected), "{expected:?} in:\n{stdout}");
    }
    assert!(
        !stdout.contains("`intake` publishes to `orders.valid`, which no function"),
        "orders.valid reaches totals (orders.*):\n{stdout}"
    );
    let dot = std::fs::read_to_string(dir.path().join("graph.dot")).unwrap();
    assert!(
        dot.contains("\"s:orders.valid\" -> \"s:orders.*\" [style=dotted"),
        "{dot}"
    );
    assert!(
        dot.contains("\"f:lookup\" -> \"s:prices.get\" [style=dashed, label=\"request\"]"),
        "{dot}"
    );
    let svg = std::fs::read_to_string(dir.path().join("graph.svg")).unwrap();
    assert!(svg.starts_with("<svg") && svg.contains(">totals</text>"), "{svg}");
    assert!(graph(&[path, "--check"]).status.success());

    // Declared externals silence the warnings; the drawing is then stale.
    std::fs::write(
        dir.path().join("external.toml"),
        "inputs = [\"orders.placed\", \"lookup.in\"]\noutputs = [\"totals.ready\", \"prices.get\"]\n",
    )
    .unwrap();
    let stale = graph(&[path, "--check"]);
    assert_eq!(stale.status.code(), Some(1), "{}", text(&stale));
    assert!(
        text(&stale).contains("graph.dot is missing or out of date"),
        "{}",
        text(&stale)
    );
    assert!(
        text(&stale).contains("2 findings (1 warning)"),
        "{}",
        text(&stale)
    );

    // A folder without manifests is an error, not an empty drawing.
    let empty = tempfile::tempdir().unwrap();
    let nothing = graph(&[empty.path().to_str().unwrap()]);
    assert_eq!(nothing.status.code(), Some(2), "{}", text(&nothing));
    assert!(
        text(&nothing).contains("no function manifests (NAME.toml)"),
        "{}",
        text(&nothing)
    );

    // A broken manifest is named, with the key.
    std::fs::write(
        dir.path().join("broken.toml"),
        "[trigger]\nsubjects = \"not a list\"\n",
    )
    .unwrap();
    let broken = graph(&[path]);
    assert_eq!(broken.status.code(), Some(2), "{}", text(&broken));
    assert!(text(&broken).contains("broken.toml"), "{}", text(&broken));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fleet_draws_what_the_fleet_runs() {
    let server = NatsServer::start();
    let dir = FunctionsDir::new();
    dir.add(
        "first",
        "probe",
        Manifest::new().subjects(["a.in"]).publish(["b.in"]),
    );
    dir.add(
        "second",
        "probe",
        Manifest::new().subjects(["b.in"]).publish(["c.out"]),
    );
    let url = server.url();
    let deployed = sluice_command()
        .args(["deploy"])
        .arg(dir.path())
        .args(["--nats", &url])
        .output()
        .unwrap();
    assert!(deployed.status.success(), "{}", text(&deployed));
    let out = tempfile::tempdir().unwrap();
    let output = graph(&["--fleet", "--nats", &url, "--out", out.path().to_str().unwrap()]);
    assert!(output.status.success(), "{}", text(&output));
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains("`first` listens on `a.in`"), "{stdout}");
    assert!(stdout.contains("`second` publishes to `c.out`"), "{stdout}");
    assert!(stdout.contains("2 functions, 2 findings"), "{stdout}");
    let dot = std::fs::read_to_string(out.path().join("graph.dot")).unwrap();
    assert!(
        dot.contains("\"f:first\" -> \"s:b.in\"") && dot.contains("\"s:b.in\" -> \"f:second\""),
        "{dot}"
    );
}
