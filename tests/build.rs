//! Builds the guest components the tests deploy (the example functions and the `probe` test
//! guest) once, for `wasm32-wasip2`, in their own target directory, and tells the tests where
//! they are. Cargo reruns this only when guest, SDK or WIT sources change.

use std::path::PathBuf;
use std::process::Command;

const GUESTS: &[&str] = &[
    "wasmcloud-echo",
    "probe",
    "batch-probe",
    "batch-raw",
    "order-total-batch",
    "not-a-handler",
    "credit-check",
    "credit-check-fixed",
    "credit-check-diverged",
    "order-total",
    "email-receipt",
    "order-analytics",
    "validate-order",
    "market-notify",
    "market-analytics",
    "bank-account",
    "bank-transfer",
    "bank-projection",
    "bank-query",
    "saga-inventory",
    "saga-payment",
    "saga-shipping",
    "saga-email",
    "orders-idempotent-total",
    "orders-fulfilment-worker",
    "orders-batch-revenue",
    "order-total-candidate",
];

/// Components from wasmCloud's repository, copied unchanged with the WIT their build fetches
/// (see each folder's `ORIGIN.md`). Each is its own Cargo project with its own lock file,
/// built as it is with plain `cargo build --target wasm32-wasip2`.
const UPSTREAM: &[(&str, &[&str])] = &[
    ("echo-messaging", &[]),
    ("keyvalue-messaging", &[]),
    // A template workspace: only its messaging worker, with upstream's lock file.
    (
        "http-api-with-distributed-workloads",
        &["-p", "task-reverse", "--locked"],
    ),
];

fn main() {
    let manifest_dir = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("set by cargo"));
    let root = manifest_dir
        .parent()
        .expect("tests/ lives in the workspace")
        .to_owned();
    for watched in [
        "sdk",
        "wit",
        "functions",
        "tests/guests",
        "tests/wasmcloud-upstream",
    ] {
        println!("cargo:rerun-if-changed={}", root.join(watched).display());
    }
    let target_dir = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target"))
        .join("guests");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut command = guest_build(&cargo, &root, &target_dir);
    for &guest in GUESTS {
        command.args(["-p", guest]);
    }
    let status = command
        .status()
        .expect("cannot run cargo to build the guest components");
    assert!(
        status.success(),
        "building the guest components failed; is the wasm32-wasip2 target installed? (`rustup target add wasm32-wasip2`)"
    );
    for &(component, args) in UPSTREAM {
        let manifest = root
            .join("tests/wasmcloud-upstream")
            .join(component)
            .join("Cargo.toml");
        let mut command = guest_build(&cargo, &root, &target_dir);
        command.arg("--manifest-path").arg(&manifest).args(args);
        let status = command
            .status()
            .expect("cannot run cargo to build the wasmCloud components");
        assert!(status.success(), "building {} failed", manifest.display());
    }
    let out = target_dir.join("wasm32-wasip2").join("release");
    println!("cargo:rustc-env=SLUICE_GUESTS_DIR={}", out.display());
}

/// `cargo build --release --target wasm32-wasip2` into `target_dir`, without the flags meant
/// for the host build (clippy's wrapper, coverage, RUSTFLAGS).
fn guest_build(cargo: &str, root: &std::path::Path, target_dir: &std::path::Path) -> Command {
    let mut command = Command::new(cargo);
    command
        .current_dir(root)
        .args(["build", "--release", "--target", "wasm32-wasip2", "--target-dir"])
        .arg(target_dir);
    for variable in [
        "CARGO_ENCODED_RUSTFLAGS",
        "RUSTFLAGS",
        "RUSTC_WORKSPACE_WRAPPER",
        "RUSTC_WRAPPER",
        "CARGO_BUILD_TARGET",
    ] {
        command.env_remove(variable);
    }
    command
}
