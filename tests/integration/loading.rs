//! Broken functions get precise errors and never stop the others; `sluice check` and
//! `sluice invoke` work without running a host.

use serde_json::json;
use sluice_tests::{FunctionsDir, Manifest, Sluice, guest, sluice_command};

/// A minimal core module (not a component).
const CORE_MODULE: &[u8] = b"\0asm\x01\0\0\0";

fn broken_folder() -> FunctionsDir {
    let dir = FunctionsDir::new();
    dir.add("good", "probe", Manifest::new().subjects(["good"]));
    dir.write("garbage.wasm", b"this is not wasm at all");
    dir.write("module.wasm", CORE_MODULE);
    let mut truncated = std::fs::read(guest("probe")).unwrap();
    truncated.truncate(truncated.len() / 2);
    dir.write("truncated.wasm", &truncated);
    dir.add("typo", "probe", "[limits]\nmax_concurency = 4\n");
    dir.add("badvalue", "probe", "[limits]\ntimeout = \"soon\"\n");
    dir.add("stranger", "not-a-handler", "");
    dir
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broken_functions_are_reported_and_the_rest_still_serve() {
    let sluice = Sluice::in_folder(broken_folder()).start().await;
    assert_eq!(sluice.host.functions(), ["good"]);
    let errors = sluice.load_errors();
    assert_eq!(errors.len(), 6, "{errors:#?}");
    let find = |file: &str| {
        errors
            .iter()
            .find(|e| e.contains(file))
            .unwrap_or_else(|| panic!("no error for {file}: {errors:#?}"))
    };
    assert!(
        find("garbage.wasm").contains(
            "not a WebAssembly component: the file does not start with the WebAssembly magic bytes"
        )
    );
    assert!(
        find("module.wasm")
            .contains("core WebAssembly module; build the function with `--target wasm32-wasip2`")
    );
    assert!(find("truncated.wasm").contains("invalid component"));
    assert!(find("typo.toml").contains("typo.toml:2: unknown field `max_concurency`"));
    assert!(
        find("badvalue.toml")
            .contains("badvalue.toml: `limits.timeout`: `soon` does not start with a number")
    );
    let stranger = find("stranger.wasm");
    assert!(
        stranger.contains(
            "imports `acme:greeter/directory`, which this host does not provide (it provides no version of that interface)"
        ),
        "names the import the host lacks: {stranger}"
    );
    assert!(
        stranger.contains("detected world: none that Sluice runs (it exports `greet`;"),
        "says what the component is: {stranger}"
    );
    for error in &errors {
        assert!(!error.contains('\n'), "one line per error: {error}");
    }

    let answer = sluice
        .client
        .request("good", json!({"op": "echo"}).to_string().into())
        .await
        .unwrap();
    assert!(!answer.payload.is_empty());
    sluice.shutdown().await;
}

#[test]
fn check_reports_every_problem_and_exits_with_2() {
    let dir = broken_folder();
    let output = sluice_command().arg("check").arg(dir.path()).output().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(2), "{stdout}");
    assert!(
        stdout.contains("good: ok (sluice:function/handler), listens on good"),
        "{stdout}"
    );
    assert!(stdout.contains("typo: error: "), "{stdout}");
    assert!(stdout.contains("7 functions checked, 6 with errors"), "{stdout}");

    let good = FunctionsDir::new();
    good.add("good", "probe", "");
    let output = sluice_command().arg("check").arg(good.path()).output().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}");
    assert!(stdout.contains("1 function checked, 0 with errors"), "{stdout}");
}

/// A folder with `order-total` deployed as `order-total`.
fn order_total_folder() -> FunctionsDir {
    let dir = FunctionsDir::new();
    let order_total = Manifest::new()
        .subjects(["orders.placed"])
        .publish(["orders.totalled"]);
    dir.add("order-total", "order-total", order_total);
    dir
}

#[test]
fn invoke_runs_one_event_without_nats() {
    let dir = order_total_folder();
    let order = json!({"id": "o-9", "customer": "c-1", "items": [{"sku": "A", "qty": 3, "price": 250}]});
    let output = sluice_command()
        .args(["invoke", "order-total", "--functions"])
        .arg(dir.path())
        .args(["--data", &order.to_string()])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(stdout.contains("outcome: ok"), "{stdout}");
    assert!(stdout.contains("orders.totalled"), "{stdout}");
    assert!(stdout.contains("\"total\":750"), "{stdout}");

    let output = sluice_command()
        .args(["invoke", "order-total", "--functions"])
        .arg(dir.path())
        .args(["--data", "{\"id\":\"o-1\",\"items\":[]}"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(1), "{stdout}");
    assert!(stdout.contains("outcome: permanent"), "{stdout}");
}

#[test]
fn sluice_profile_perfmap_names_the_handlers_code_for_perf() {
    let dir = order_total_folder();
    let order = json!({"id": "o-1", "customer": "c-1", "items": [{"sku": "A", "qty": 1, "price": 5}]});
    let child = sluice_command()
        .env("SLUICE_PROFILE", "perfmap")
        .args(["invoke", "order-total", "--functions"])
        .arg(dir.path())
        .args(["--data", &order.to_string()])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let map = std::path::PathBuf::from(format!("/tmp/perf-{}.map", child.id()));
    let status = child.wait_with_output().unwrap().status;
    let symbols = std::fs::read_to_string(&map).unwrap_or_default();
    let _ = std::fs::remove_file(&map);
    assert!(status.success());
    // perf's map format: `START SIZE NAME`, one compiled function per line.
    let handler = symbols.lines().find(|line| line.contains("order_total"));
    assert!(
        handler.is_some(),
        "no order_total function in {}: {} lines",
        map.display(),
        symbols.lines().count()
    );
    assert_eq!(handler.unwrap().splitn(3, ' ').count(), 3, "{handler:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compiled_components_are_cached_by_content() {
    use sluice_runtime::{Event, Function, Runner, SluiceEngine};
    let cache = tempfile::tempdir().unwrap();
    let dir = FunctionsDir::new();
    dir.add("echo", "probe", Manifest::new().publish(["probe.out"]));
    let wasm = dir.path().join("echo.wasm");
    let load = |expected: (u64, u64)| {
        let engine = SluiceEngine::new().unwrap().with_cache(cache.path());
        let function = Function::load(&engine, &wasm).unwrap();
        assert_eq!(engine.cache().unwrap().hits_and_misses(), expected);
        (engine, function)
    };
    load((0, 1));
    let (engine, function) = load((1, 0));
    let event = std::sync::Arc::new(Event::new(
        "echo".into(),
        json!({"op": "echo"}).to_string().into(),
        vec![],
        None,
    ));
    let runner = Runner::offline(std::sync::Arc::new(engine), function);
    let published = runner.invoke(&event, 1).await.expect("a cached component runs");
    assert_eq!(published.len(), 1);

    // A damaged entry is recompiled, not trusted.
    for entry in std::fs::read_dir(cache.path()).unwrap() {
        std::fs::write(entry.unwrap().path(), b"garbage").unwrap();
    }
    load((0, 1));
    load((1, 0));
}
