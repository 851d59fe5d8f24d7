//! The fleet from the command line: `sluice deploy` refuses broken functions before any host
//! sees them, `--wait` follows the hosts, `sluice status` names a killed host as gone, and a
//! user who may not write the buckets gets one clear line.

use std::process::Output;

use sluice_tests::{FunctionsDir, NatsServer, WAIT, deployer, eventually, sluice_binary, sluice_command};

use super::probe;

/// Runs `sluice ARGS` and returns its output.
fn sluice(args: &[&str]) -> Output {
    sluice_command().args(args).output().expect("run sluice")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deploy_refuses_broken_functions_before_any_host_sees_them() {
    let server = NatsServer::start();
    let dir = FunctionsDir::new();
    dir.add("good", "probe", probe(2));
    dir.write("corrupt.wasm", b"this is not wasm at all");
    dir.write("module.wasm", b"\0asm\x01\0\0\0");
    dir.add("badmanifest", "probe", "[limits]\nmax_concurrency = \"lots\"\n");
    let state = tempfile::tempdir().unwrap();
    let out = sluice(&[
        "deploy",
        dir.path().to_str().unwrap(),
        "--nats",
        &server.url(),
        "--state-dir",
        state.path().to_str().unwrap(),
    ]);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("corrupt.wasm") && stderr.contains("magic bytes"),
        "{stderr}"
    );
    assert!(
        stderr.contains("module.wasm") && stderr.contains("core WebAssembly module"),
        "{stderr}"
    );
    assert!(stderr.contains("badmanifest.toml:2"), "{stderr}");
    assert!(stderr.contains("nothing was deployed"), "{stderr}");
    let fleet = deployer(&server.client().await).await;
    assert!(
        fleet.all_desired().await.unwrap().is_empty(),
        "no desired state was written"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deploy_waits_for_the_hosts_and_status_names_a_killed_host_as_gone() {
    let server = NatsServer::start();
    let dir = FunctionsDir::new();
    dir.add("greeter", "probe", probe(2));
    let state = tempfile::tempdir().unwrap();
    let url = server.url();
    let mut hosts = Vec::new();
    for id in ["cli-a", "cli-b"] {
        let host_state = state.path().join(id);
        let child = std::process::Command::new(sluice_binary())
            .args(["up", "--fleet", "--host-id", id, "--nats", &url, "--state-dir"])
            .arg(&host_state)
            .env("SLUICE_LOG", "warn")
            .spawn()
            .expect("start sluice up --fleet");
        hosts.push(child);
    }
    let fleet = deployer(&server.client().await).await;
    eventually(WAIT, "both hosts report", async || {
        fleet.hosts().await.unwrap().len() == 2
    })
    .await;

    let wasm = dir.path().join("greeter.wasm");
    let out = sluice(&[
        "deploy",
        wasm.to_str().unwrap(),
        "--wait",
        "--nats",
        &url,
        "--state-dir",
        state.path().to_str().unwrap(),
    ]);
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", text(&out.stderr));
    assert!(
        stdout.contains("cli-a: serving greeter") && stdout.contains("cli-b: serving greeter"),
        "{stdout}"
    );
    assert!(stdout.contains("done: 2 serving, 0 failed"), "{stdout}");

    let out = sluice(&["versions", "greeter", "--nats", &url]);
    assert!(text(&out.stdout).contains("current: "), "{}", text(&out.stdout));

    hosts[1].kill().expect("SIGKILL the second host");
    let _ = hosts[1].wait();
    let gone = async || {
        let out = sluice(&["status", "--json", "--nats", &url]);
        let status: serde_json::Value = serde_json::from_slice(&out.stdout).expect("status --json is JSON");
        let states: Vec<(String, String)> = status["hosts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|h| {
                (
                    h["host"].as_str().unwrap().to_owned(),
                    h["state"].as_str().unwrap().to_owned(),
                )
            })
            .collect();
        states
            == [
                ("cli-a".to_owned(), "live".to_owned()),
                ("cli-b".to_owned(), "gone".to_owned()),
            ]
    };
    eventually(
        sluice_runtime::fleet::GONE_AFTER + WAIT,
        "status names the killed host as gone",
        gone,
    )
    .await;
    let out = sluice(&["status", "--nats", &url]);
    let table = text(&out.stdout);
    assert!(table.contains("greeter ok"), "{table}");
    assert!(table.contains("cli-b") && table.contains("gone"), "{table}");

    let _ = hosts[0].kill();
    let _ = hosts[0].wait();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_user_who_may_not_write_the_buckets_gets_one_clear_line() {
    let server = NatsServer::start_with_config(
        r#"authorization {
  users = [
    { user: deployer, password: d }
    { user: viewer, password: v, permissions: {
        publish: { deny: ["$KV.sluice-functions.>", "$O.sluice-components.>"] }
    } }
  ]
}"#,
    );
    let dir = FunctionsDir::new();
    dir.add("greeter", "probe", probe(2));
    let state = tempfile::tempdir().unwrap();
    let url = server.url();
    let as_user = |user: &str, password: &str| {
        let out = sluice(&[
            "deploy",
            dir.path().to_str().unwrap(),
            "--nats",
            &url,
            "--nats-user",
            user,
            "--nats-password",
            password,
            "--state-dir",
            state.path().to_str().unwrap(),
        ]);
        (out.status.code(), text(&out.stdout), text(&out.stderr))
    };
    let (code, stdout, stderr) = as_user("viewer", "v");
    assert_eq!(code, Some(1), "{stdout}{stderr}");
    let errors: Vec<&str> = stderr.lines().filter(|line| line.starts_with("error:")).collect();
    assert_eq!(errors.len(), 1, "{stderr}");
    assert!(errors[0].contains("permission"), "{stderr}");
    assert!(errors[0].contains("sluice-components"), "{stderr}");
    let (code, stdout, stderr) = as_user("deployer", "d");
    assert_eq!(code, Some(0), "{stdout}{stderr}");
    assert!(stdout.contains("deployed greeter"), "{stdout}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_host_with_only_the_documented_permissions_runs_the_fleet_and_cannot_change_it() {
    // The README's host row: publish `$JS.API.>`, `$JS.FC.>` (flow control of the object
    // store's and the watch's consumers), `$KV.sluice-hosts.>`, `_INBOX.>` (the host confirms
    // its subscriptions through its own inbox) and what its functions need.
    let server = NatsServer::start_with_config(
        r#"authorization {
  users = [
    { user: deployer, password: d }
    { user: host, password: h, permissions: {
        publish: { allow: ["$JS.API.>", "$JS.FC.>", "$KV.sluice-hosts.>", "_INBOX.>"] }
    } }
  ]
}"#,
    );
    let url = server.url();
    let as_user = async |user: &str, password: &str| {
        async_nats::ConnectOptions::with_user_and_password(user.into(), password.into())
            .connect(url.as_str())
            .await
            .unwrap()
    };
    let deployer_client = as_user("deployer", "d").await;
    let fleet = deployer(&deployer_client).await;
    let greeter = sluice_tests::bundle("greeter", "probe", probe(2));
    fleet.deploy(&greeter, None).await.unwrap();

    let cache = tempfile::tempdir().unwrap();
    let host = sluice_tests::FleetHost::start_configured(&url, "restricted", cache.path(), |config| {
        config.nats_options.auth = sluice_runtime::nats::Auth::UserPassword {
            user: "host".into(),
            password: "h".into(),
        };
    })
    .await;
    super::converged(&[&host], "greeter", Some(&greeter.version)).await;
    eventually(WAIT, "the restricted host reports serving", async || {
        fleet.hosts().await.unwrap().iter().any(|h| {
            h.report.host == "restricted"
                && h.report.progress("greeter", &greeter.version) == sluice_runtime::fleet::Progress::Serving
        })
    })
    .await;

    // The same user cannot change what the fleet runs.
    let host_client = as_user("host", "h").await;
    let as_host = deployer(&host_client).await;
    let error = as_host
        .undeploy("greeter")
        .await
        .expect_err("a host may not undeploy");
    assert!(error.to_string().contains("permission"), "{error:#}");
    assert!(
        fleet.desired("greeter").await.unwrap().is_some(),
        "still deployed"
    );
    host.runtime.shutdown().await;
}
