//! Three hosts on a three-node JetStream cluster: a deploy reaches all of them, keeps doing so
//! with one NATS node down, and rollback and undeploy follow everywhere.

use async_nats::jetstream;
use sluice_runtime::fleet::{FleetStatus, Version};
use sluice_tests::{FleetHost, NatsCluster, bundle, deployer, eventually};

use super::{CONVERGE, converged, probe};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deploy_reaches_every_host_even_with_a_node_down_and_rollback_and_undeploy_follow() {
    let mut cluster = NatsCluster::start(3).await;
    let cache = tempfile::tempdir().unwrap();
    let urls = cluster.urls(0..3);
    let hosts = FleetHost::start_all(&urls, &["host-a", "host-b", "host-c"], cache.path()).await;
    let all: Vec<&FleetHost> = hosts.iter().collect();
    let client = cluster.client_of([0, 1]).await;
    let fleet = deployer(&client).await;
    let replicas = jetstream::new(client.clone())
        .get_stream("KV_sluice-functions")
        .await
        .unwrap()
        .cached_info()
        .config
        .num_replicas;
    assert_eq!(replicas, 3, "the buckets are replicated on a cluster");

    let v1 = bundle("probe", "probe", probe(4));
    let shipped = fleet.deploy(&v1, Some("test")).await.unwrap();
    assert!(shipped.uploaded && !shipped.unchanged);
    let took = converged(&all, "probe", Some(&v1.version)).await;
    eprintln!("deploy to serving on 3 hosts: {took:?}");
    let again = fleet.deploy(&v1, Some("test")).await.unwrap();
    assert!(
        again.unchanged && !again.uploaded,
        "the same version is not deployed twice"
    );

    // One NATS node gone: deploying, serving and reporting go on.
    cluster.kill(2);
    let v2 = bundle("probe", "probe", probe(8));
    assert_ne!(v1.version, v2.version);
    fleet.deploy(&v2, Some("test")).await.unwrap();
    converged(&all, "probe", Some(&v2.version)).await;
    // The hosts bucket may have lost its leader with the node: its reports resume once the
    // cluster has moved it, and `sluice status` then shows all three hosts serving v2.
    let mut status = None;
    eventually(CONVERGE, "status shows three hosts and no problems", async || {
        let now = FleetStatus::new(&fleet.records().await.unwrap(), &fleet.hosts().await.unwrap());
        let good = now.hosts.len() == 3 && now.problems() == 0;
        status = Some(now);
        good
    })
    .await;
    let status = status.unwrap();
    assert_eq!(status.hosts.len(), 3, "{}", status.render());
    assert_eq!(status.problems(), 0, "{}", status.render());

    let history = fleet.versions("probe").await.unwrap();
    let versions: Vec<&str> = history
        .iter()
        .filter_map(|v| match v {
            Version::Deployed(state) => Some(state.version.as_str()),
            Version::Undeployed(_) => None,
        })
        .collect();
    assert_eq!(versions, [v1.version.as_str(), v2.version.as_str()]);

    let back = fleet.rollback("probe", None, Some("test")).await.unwrap();
    assert_eq!(back.version, v1.version);
    assert_eq!(back.rolled_back_from.as_deref(), Some(v2.version.as_str()));
    converged(&all, "probe", Some(&v1.version)).await;

    assert!(fleet.undeploy("probe").await.unwrap());
    converged(&all, "probe", None).await;
    assert!(
        !fleet.undeploy("probe").await.unwrap(),
        "undeploying twice says so"
    );
    for host in hosts {
        host.runtime.shutdown().await;
    }
}
