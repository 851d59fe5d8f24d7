//! The `sluice` binary's command line. (Its behaviour is tested in the workspace's `tests/`
//! crate; this target also makes `cargo test --workspace` build the binary those tests run.)

use std::process::Command;

#[test]
fn usage_errors_exit_with_2_and_name_the_problem() {
    let sluice = env!("CARGO_BIN_EXE_sluice");
    let output = Command::new(sluice)
        .args(["up", "--functions", "/nonexistent/sluice"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("functions folder /nonexistent/sluice does not exist"),
        "{stderr}"
    );

    let output = Command::new(sluice).arg("--version").output().unwrap();
    assert!(String::from_utf8_lossy(&output.stdout).starts_with("sluice "));
}
