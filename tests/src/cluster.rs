//! A cluster of `nats-server` children routed together over loopback, with JetStream on every
//! node; all killed on drop.

use std::net::TcpListener;
use std::process::Child;
use std::time::Duration;

use async_nats::jetstream::{self, stream};
use tempfile::TempDir;

use crate::nats_server::{command, wait_until_ready};
use crate::wait::until_ok;

/// How long a fresh cluster gets to elect a JetStream meta leader and learn its peers.
const FORM_TIMEOUT: Duration = Duration::from_secs(30);

/// One node of a [`NatsCluster`].
struct Node {
    child: Child,
    port: u16,
    /// Its name, cluster and routes, to start it again.
    arguments: Vec<String>,
    store: TempDir,
}

/// Several `nats-server` processes in one cluster, owned by one test.
pub struct NatsCluster {
    nodes: Vec<Node>,
}

impl NatsCluster {
    /// Starts `size` servers (`n0`, `n1`, ...) in cluster `sluice-test`, each with its own
    /// free client and route ports, store folder and routes to all the others, and waits
    /// until JetStream can place a stream with `size` replicas.
    pub async fn start(size: usize) -> Self {
        for _ in 0..5 {
            if let Some(cluster) = Self::spawn(size) {
                cluster.wait_for_jetstream().await;
                return cluster;
            }
        }
        panic!("a {size}-node nats-server cluster did not start on free ports after 5 tries");
    }

    /// Spawns the nodes; `None` (all killed) if one did not come up, e.g. its port was taken.
    fn spawn(size: usize) -> Option<Self> {
        let ports = free_ports(2 * size);
        let (client_ports, route_ports) = ports.split_at(size);
        let route_url = |port: &u16| format!("nats://127.0.0.1:{port}");
        let mut cluster = Self { nodes: Vec::new() };
        for (index, (&port, route_port)) in client_ports.iter().zip(route_ports).enumerate() {
            let store = tempfile::tempdir().expect("temporary folder for JetStream");
            let routes: Vec<String> = route_ports
                .iter()
                .filter(|&other| other != route_port)
                .map(route_url)
                .collect();
            let arguments = vec![
                "--server_name".to_owned(),
                format!("n{index}"),
                "--cluster_name".to_owned(),
                "sluice-test".to_owned(),
                "--cluster".to_owned(),
                route_url(route_port),
                "--routes".to_owned(),
                routes.join(","),
            ];
            let child = command(port, Some(store.path()))
                .args(&arguments)
                .spawn()
                .expect("cannot start nats-server");
            cluster.nodes.push(Node {
                child,
                port,
                arguments,
                store,
            });
        }
        let ready = cluster
            .nodes
            .iter_mut()
            .all(|node| wait_until_ready(&mut node.child, node.port, None));
        ready.then_some(cluster)
    }

    /// Waits until a stream replicated on every node can be created (meta leader elected,
    /// all peers known), then deletes it.
    async fn wait_for_jetstream(&self) {
        let client = self.client().await;
        let js = jetstream::new(client);
        let config = stream::Config {
            name: "CLUSTER_READY".into(),
            subjects: vec!["cluster.ready".into()],
            num_replicas: self.nodes.len(),
            ..Default::default()
        };
        let what = "JetStream in the cluster ready";
        until_ok(FORM_TIMEOUT, Duration::from_millis(250), what, async || {
            js.get_or_create_stream(config.clone()).await
        })
        .await;
        js.delete_stream("CLUSTER_READY")
            .await
            .expect("delete the readiness stream");
    }

    /// How many nodes the cluster was started with.
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    /// Whether the cluster has no nodes (never, once started).
    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    /// The client URL of node `index`.
    pub fn url(&self, index: usize) -> String {
        format!("nats://127.0.0.1:{}", self.nodes[index].port)
    }

    /// The client port of node `index`.
    pub fn port(&self, index: usize) -> u16 {
        self.nodes[index].port
    }

    /// The process ids of the nodes (to read what CPU they used from `/proc`).
    pub fn pids(&self) -> Vec<u32> {
        self.nodes.iter().map(|node| node.child.id()).collect()
    }

    /// The client URLs of the nodes in `indices`, comma-separated as `--nats` takes them.
    pub fn urls(&self, indices: impl IntoIterator<Item = usize>) -> String {
        indices
            .into_iter()
            .map(|index| self.url(index))
            .collect::<Vec<_>>()
            .join(",")
    }

    /// Kills node `index`; its clients fail over to the others.
    pub fn kill(&mut self, index: usize) {
        let child = &mut self.nodes[index].child;
        let _ = child.kill();
        let _ = child.wait();
    }

    /// Starts node `index` again (after [`kill`](Self::kill)) on the same ports with the same
    /// data, and waits until it accepts clients; it rejoins the cluster.
    pub fn restart(&mut self, index: usize) {
        self.kill(index);
        let node = &mut self.nodes[index];
        node.child = command(node.port, Some(node.store.path()))
            .args(&node.arguments)
            .spawn()
            .expect("cannot start nats-server");
        assert!(
            wait_until_ready(&mut node.child, node.port, None),
            "node {index} did not come back on port {}",
            node.port
        );
    }

    /// Connects a plain client that knows every node.
    pub async fn client(&self) -> async_nats::Client {
        self.client_of(0..self.nodes.len()).await
    }

    /// Connects a plain client that knows only the nodes in `indices`.
    pub async fn client_of(&self, indices: impl IntoIterator<Item = usize>) -> async_nats::Client {
        let servers: Vec<async_nats::ServerAddr> = indices
            .into_iter()
            .map(|index| self.url(index).parse().expect("a NATS URL"))
            .collect();
        async_nats::connect(servers)
            .await
            .expect("test client connects to the cluster")
    }
}

impl Drop for NatsCluster {
    fn drop(&mut self) {
        for index in 0..self.nodes.len() {
            self.kill(index);
        }
    }
}

/// `count` distinct free loopback ports (all bound at once, so none repeats).
fn free_ports(count: usize) -> Vec<u16> {
    let listeners: Vec<TcpListener> = (0..count)
        .map(|_| TcpListener::bind("127.0.0.1:0").expect("bind a free loopback port"))
        .collect();
    listeners
        .iter()
        .map(|listener| listener.local_addr().expect("bound address").port())
        .collect()
}
