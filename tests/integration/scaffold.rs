//! `sluice new` creates a function that passes its own test, builds into a component and
//! loads in the host.

use std::path::Path;
use std::process::Command;

use sluice_tests::{scaffold_target_dir, sluice_command};

fn cargo(dir: &Path, args: &[&str]) {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut command = Command::new(cargo);
    command
        .args(args)
        .current_dir(dir)
        .env("CARGO_TARGET_DIR", scaffold_target_dir())
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_ENCODED_RUSTFLAGS");
    succeed(&mut command);
}

/// Runs `program args` in `dir`, failing the test with its output if it fails.
fn run(dir: &Path, program: &str, args: &[&str]) {
    succeed(Command::new(program).args(args).current_dir(dir));
}

fn succeed(command: &mut Command) {
    let output = command.output().unwrap();
    assert!(
        output.status.success(),
        "{command:?} failed:\n{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

#[test]
fn a_new_rust_function_tests_builds_and_loads() {
    let parent = tempfile::tempdir().unwrap();
    let output = sluice_command()
        .args(["new", "stock-check", "--dir"])
        .arg(parent.path())
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let crate_dir = parent.path().join("stock-check");

    cargo(&crate_dir, &["test", "--quiet"]);
    cargo(
        &crate_dir,
        &["build", "--quiet", "--release", "--target", "wasm32-wasip2"],
    );

    let functions = parent.path().join("functions");
    std::fs::create_dir(&functions).unwrap();
    let target = scaffold_target_dir();
    std::fs::copy(
        target.join("wasm32-wasip2/release/stock_check.wasm"),
        functions.join("stock-check.wasm"),
    )
    .unwrap();
    std::fs::copy(
        crate_dir.join("stock-check.toml"),
        functions.join("stock-check.toml"),
    )
    .unwrap();
    let output = sluice_command()
        .args(["invoke", "stock-check", "--functions"])
        .arg(&functions)
        .args(["--data", r#"{"name":"Ada"}"#])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}");
    assert!(
        stdout.contains(r#"stock-check.out {"message":"Hello, Ada!"}"#),
        "{stdout}"
    );

    let again = sluice_command()
        .args(["new", "stock-check", "--dir"])
        .arg(parent.path())
        .output()
        .unwrap();
    assert_eq!(again.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&again.stderr).contains("already exists"));
}

#[test]
fn new_python_and_javascript_functions_test_build_and_load() {
    let parent = tempfile::tempdir().unwrap();
    let functions = parent.path().join("functions");
    std::fs::create_dir(&functions).unwrap();
    for (lang, name, test) in [
        ("python", "greeter-py", ["python3", "-m", "unittest"].as_slice()),
        ("js", "greeter-js", ["npm", "test"].as_slice()),
    ] {
        let output = sluice_command()
            .args(["new", name, "--lang", lang, "--dir"])
            .arg(parent.path())
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        let dir = parent.path().join(name);
        if lang == "js" {
            run(&dir, "npm", &["ci", "--no-audit", "--no-fund"]);
        }
        run(&dir, test[0], &test[1..]);
        run(&dir, "./build.sh", &[]);
        std::fs::copy(
            dir.join(format!("target/{name}.wasm")),
            functions.join(format!("{name}.wasm")),
        )
        .unwrap();
        std::fs::copy(
            dir.join(format!("{name}.toml")),
            functions.join(format!("{name}.toml")),
        )
        .unwrap();

        let output = sluice_command()
            .args(["invoke", name, "--functions"])
            .arg(&functions)
            .args(["--data", r#"{"name":"Ada"}"#])
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(output.status.success(), "{lang}: {stdout}");
        assert!(
            stdout.contains(&format!(r#"{name}.out {{"message":"Hello, Ada!"}}"#)),
            "{lang}: {stdout}"
        );
    }
}
