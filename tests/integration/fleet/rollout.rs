//! Hosts that were not there for a deploy, and components that were tampered with.

use async_nats::jetstream::object_store::ObjectMetadata;
use sluice_runtime::fleet::Progress;
use sluice_tests::{
    FleetHost, FunctionsDir, NatsCluster, NatsServer, WAIT, bundle, deployer, eventually, guest,
};

use super::{converged, probe};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_late_host_converges_and_no_host_runs_bytes_that_do_not_match_their_hash() {
    let server = NatsServer::start();
    let cache = tempfile::tempdir().unwrap();
    let client = server.client().await;
    let fleet = deployer(&client).await;
    let v1 = bundle("probe", "probe", probe(4));
    let shipped = fleet.deploy(&v1, None).await.unwrap();

    // Started after the deploy: converges without anything else happening.
    let early = FleetHost::start(&server.url(), "late-but-honest", cache.path()).await;
    converged(&[&early], "probe", Some(&v1.version)).await;

    // Someone replaces the component's bytes in the store under the same name.
    let other = std::fs::read(guest("order-total")).unwrap();
    let meta = ObjectMetadata {
        name: shipped.state.component.clone(),
        ..Default::default()
    };
    fleet
        .buckets()
        .components
        .put(meta, &mut &other[..])
        .await
        .unwrap();

    let fresh = FleetHost::start(&server.url(), "fresh", cache.path()).await;
    let report = async || {
        let hosts = fleet.hosts().await.unwrap();
        hosts
            .into_iter()
            .find(|host| host.report.host == "fresh")
            .map(|host| host.report.progress("probe", &v1.version))
    };
    eventually(
        WAIT,
        "the fresh host reports the tampered component",
        async || matches!(report().await, Some(Progress::Failed(_))),
    )
    .await;
    let Some(Progress::Failed(error)) = report().await else {
        unreachable!()
    };
    assert!(error.contains("do not match their hash"), "{error}");
    assert_eq!(fresh.version("probe"), None, "the tampered bytes are not run");
    assert_eq!(early.version("probe").as_deref(), Some(v1.version.as_str()));
    fresh.runtime.shutdown().await;
    early.runtime.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_host_cut_off_during_a_deploy_converges_after_it_reconnects() {
    let mut cluster = NatsCluster::start(3).await;
    let cache = tempfile::tempdir().unwrap();
    // Knows only node 2: while node 2 is down it is cut off from the fleet.
    let lonely = FleetHost::start(&cluster.url(2), "lonely", cache.path()).await;
    let fleet = deployer(&cluster.client_of([0, 1]).await).await;
    let v1 = bundle("probe", "probe", probe(4));
    fleet.deploy(&v1, None).await.unwrap();
    converged(&[&lonely], "probe", Some(&v1.version)).await;

    cluster.kill(2);
    let v2 = bundle("probe", "probe", probe(8));
    fleet.deploy(&v2, None).await.unwrap();
    assert_eq!(
        lonely.version("probe").as_deref(),
        Some(v1.version.as_str()),
        "cut off, it keeps serving v1"
    );
    cluster.restart(2);
    let took = converged(&[&lonely], "probe", Some(&v2.version)).await;
    eprintln!("converged {took:?} after its node came back");
    lonely.runtime.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_name_in_the_folder_and_the_fleet_is_refused_until_the_folder_lets_go() {
    let server = NatsServer::start();
    let cache = tempfile::tempdir().unwrap();
    let folder = FunctionsDir::new();
    folder.add("probe", "probe", probe(2));
    let host = FleetHost::start_beside(&server.url(), "both", cache.path(), Some(folder.path())).await;
    let from_folder = host.version("probe").expect("the folder's probe is deployed");
    let fleet = deployer(&server.client().await).await;
    let v1 = bundle("probe", "probe", probe(4));
    fleet.deploy(&v1, None).await.unwrap();

    let report = async || {
        let hosts = fleet.hosts().await.unwrap();
        hosts
            .into_iter()
            .find(|h| h.report.host == "both")
            .map(|h| h.report.progress("probe", &v1.version))
    };
    eventually(WAIT, "the host reports the clash", async || {
        matches!(report().await, Some(Progress::Failed(_)))
    })
    .await;
    let Some(Progress::Failed(error)) = report().await else {
        unreachable!()
    };
    assert!(error.contains("functions folder"), "{error}");
    assert_eq!(
        host.version("probe"),
        Some(from_folder),
        "the folder's version keeps serving"
    );

    std::fs::remove_file(folder.path().join("probe.wasm")).unwrap();
    converged(&[&host], "probe", Some(&v1.version)).await;
    host.runtime.shutdown().await;
}
