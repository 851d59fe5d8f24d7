//! The graph in Graphviz's DOT language, for tools that read it.

use std::fmt::Write as _;

use super::Graph;
use super::drawing::{Drawing, EdgeKind, NodeKind};

/// `graph` as a DOT `digraph`, left to right.
pub fn render(graph: &Graph) -> String {
    let drawing = Drawing::of(graph);
    let mut dot =
        String::from("digraph sluice {\n  rankdir=LR;\n  node [fontname=\"Helvetica\", fontsize=11];\n");
    for node in &drawing.nodes {
        let shape = match node.kind {
            NodeKind::Function => "shape=box, style=\"rounded,filled\", fillcolor=\"#e8f0fe\"",
            NodeKind::Subject => "shape=ellipse, style=filled, fillcolor=\"#fff7e0\"",
            NodeKind::ExternalSubject => "shape=ellipse, style=\"filled,dashed\", fillcolor=\"#fff7e0\"",
            NodeKind::Bucket => "shape=cylinder, style=filled, fillcolor=\"#e6f4ea\"",
            NodeKind::Http => "shape=component, style=filled, fillcolor=\"#fce8e6\"",
        };
        let label = node
            .lines
            .iter()
            .map(|line| escape(line))
            .collect::<Vec<_>>()
            .join("\\n");
        let _ = writeln!(dot, "  \"{}\" [label=\"{label}\", {shape}];", escape(&node.id));
    }
    for edge in &drawing.edges {
        let style = match edge.kind {
            EdgeKind::Flow => "",
            EdgeKind::Request => " [style=dashed, label=\"request\"]",
            EdgeKind::Matches => " [style=dotted, label=\"matches\"]",
            EdgeKind::State => " [style=dotted, dir=both, arrowhead=none, arrowtail=none]",
            EdgeKind::Http => " [style=dashed, label=\"http\"]",
        };
        let (from, to) = (&drawing.nodes[edge.from].id, &drawing.nodes[edge.to].id);
        let _ = writeln!(dot, "  \"{}\" -> \"{}\"{style};", escape(from), escape(to));
    }
    dot.push_str("}\n");
    dot
}

fn escape(text: &str) -> String {
    text.replace('\\', "\\\\").replace('"', "\\\"")
}
