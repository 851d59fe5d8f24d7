//! What both drawings show: the graph's boxes (functions, subjects, buckets, HTTP hosts) and
//! the arrows between them, in a stable order so a drawing only changes when the flow does.

use super::{Graph, overlap};

/// What a box stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NodeKind {
    /// A function.
    Function,
    /// A subject pattern.
    Subject,
    /// A subject pattern that crosses the folder's boundary (`external.toml`).
    ExternalSubject,
    /// A key-value bucket.
    Bucket,
    /// An HTTP host.
    Http,
}

/// One box.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Node {
    /// Unique among the drawing's boxes.
    pub id: String,
    /// Its text, one entry per line.
    pub lines: Vec<String>,
    /// What it stands for.
    pub kind: NodeKind,
}

/// What an arrow says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EdgeKind {
    /// A function listens on a subject, or publishes to one.
    Flow,
    /// A function sends requests to a subject.
    Request,
    /// A published pattern reaches a different listened pattern (wildcards).
    Matches,
    /// A function uses a bucket.
    State,
    /// A function calls an HTTP host.
    Http,
}

/// One arrow, between boxes by index.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Edge {
    /// Where it starts.
    pub from: usize,
    /// Where it points.
    pub to: usize,
    /// What it says.
    pub kind: EdgeKind,
}

/// The boxes and arrows of a graph.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Drawing {
    /// The boxes.
    pub nodes: Vec<Node>,
    /// The arrows.
    pub edges: Vec<Edge>,
}

impl Drawing {
    /// The drawing of `graph`.
    pub fn of(graph: &Graph) -> Self {
        let mut drawing = Self::default();
        let external = |subject: &str| {
            graph
                .externals
                .inputs
                .iter()
                .chain(&graph.externals.outputs)
                .any(|s| s == subject)
        };
        for function in &graph.functions {
            let mut lines = vec![function.name.clone(), function.mode.to_owned()];
            lines.extend(
                function
                    .schedule
                    .iter()
                    .map(|schedule| format!("schedule {schedule}")),
            );
            let me = drawing.node(format!("f:{}", function.name), lines, NodeKind::Function);
            for subject in &function.listens {
                let kind = subject_kind(external(subject));
                let node = drawing.node(format!("s:{subject}"), vec![subject.clone()], kind);
                drawing.edge(node, me, EdgeKind::Flow);
            }
            for (subjects, edge) in [
                (&function.publishes, EdgeKind::Flow),
                (&function.requests, EdgeKind::Request),
            ] {
                for subject in subjects {
                    let kind = subject_kind(external(subject));
                    let node = drawing.node(format!("s:{subject}"), vec![subject.clone()], kind);
                    drawing.edge(me, node, edge);
                }
            }
            for bucket in &function.buckets {
                let node = drawing.node(
                    format!("b:{bucket}"),
                    vec![format!("bucket {bucket}")],
                    NodeKind::Bucket,
                );
                drawing.edge(me, node, EdgeKind::State);
            }
            for host in &function.http {
                let node = drawing.node(format!("h:{host}"), vec![format!("http {host}")], NodeKind::Http);
                drawing.edge(me, node, EdgeKind::Http);
            }
        }
        for subject in graph.externals.inputs.iter().chain(&graph.externals.outputs) {
            drawing.node(
                format!("s:{subject}"),
                vec![subject.clone()],
                NodeKind::ExternalSubject,
            );
        }
        drawing.link_patterns(graph);
        drawing
    }

    /// The index of box `id`, added when new.
    fn node(&mut self, id: String, lines: Vec<String>, kind: NodeKind) -> usize {
        if let Some(index) = self.nodes.iter().position(|node| node.id == id) {
            return index;
        }
        self.nodes.push(Node { id, lines, kind });
        self.nodes.len() - 1
    }

    fn edge(&mut self, from: usize, to: usize, kind: EdgeKind) {
        let edge = Edge { from, to, kind };
        if !self.edges.contains(&edge) {
            self.edges.push(edge);
        }
    }

    /// An arrow from each published (or requested) pattern to each different listened
    /// pattern it reaches.
    fn link_patterns(&mut self, graph: &Graph) {
        let sent: Vec<&String> = graph
            .functions
            .iter()
            .flat_map(|f| f.publishes.iter().chain(&f.requests))
            .chain(&graph.externals.inputs)
            .collect();
        let received: Vec<&String> = graph
            .functions
            .iter()
            .flat_map(|f| &f.listens)
            .chain(&graph.externals.outputs)
            .collect();
        for out in &sent {
            for input in &received {
                if out != input && overlap(out, input) {
                    let from = self.index(&format!("s:{out}"));
                    let to = self.index(&format!("s:{input}"));
                    self.edge(from, to, EdgeKind::Matches);
                }
            }
        }
    }

    fn index(&self, id: &str) -> usize {
        self.nodes
            .iter()
            .position(|node| node.id == id)
            .expect("every subject has a box")
    }
}

fn subject_kind(external: bool) -> NodeKind {
    if external {
        NodeKind::ExternalSubject
    } else {
        NodeKind::Subject
    }
}
