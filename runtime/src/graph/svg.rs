//! The graph drawn as SVG by Sluice itself (no Graphviz): boxes in columns from left to right
//! along the flow (a box's column is one past the furthest box that feeds it, loops broken
//! where a search first meets them), ordered in each column by the rows of what feeds them,
//! and curved arrows; an arrow that runs back (a loop) curves below the boxes.

use std::fmt::Write as _;

use super::Graph;
use super::drawing::{Drawing, EdgeKind, NodeKind};

const CHAR_WIDTH: f64 = 7.0;
const LINE_HEIGHT: f64 = 15.0;
const PADDING: f64 = 10.0;
const COLUMN_GAP: f64 = 70.0;
const ROW_GAP: f64 = 18.0;
const MARGIN: f64 = 20.0;

/// `graph` as a standalone SVG document.
pub fn render(graph: &Graph) -> String {
    let drawing = Drawing::of(graph);
    let layout = Layout::of(&drawing);
    let mut svg = String::new();
    let _ = writeln!(
        svg,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{:.0}\" height=\"{:.0}\" viewBox=\"0 0 {:.0} {:.0}\" font-family=\"Helvetica, Arial, sans-serif\" font-size=\"12\">",
        layout.width, layout.height, layout.width, layout.height
    );
    svg.push_str("<defs><marker id=\"arrow\" viewBox=\"0 0 10 10\" refX=\"10\" refY=\"5\" markerWidth=\"7\" markerHeight=\"7\" orient=\"auto-start-reverse\"><path d=\"M 0 0 L 10 5 L 0 10 z\" fill=\"#555\"/></marker></defs>\n");
    let _ = writeln!(svg, "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>");
    for edge in &drawing.edges {
        let (from, to) = (&layout.boxes[edge.from], &layout.boxes[edge.to]);
        let path = if layout.column[edge.to] > layout.column[edge.from] {
            let (x1, y1, x2, y2) = (
                from.x + from.width,
                from.y + from.height / 2.0,
                to.x,
                to.y + to.height / 2.0,
            );
            let bend = (x2 - x1) / 2.0;
            format!(
                "M {x1:.1} {y1:.1} C {:.1} {y1:.1}, {:.1} {y2:.1}, {x2:.1} {y2:.1}",
                x1 + bend,
                x2 - bend
            )
        } else {
            // Back (or within a column): below both boxes.
            let (x1, y1) = (from.x + from.width / 2.0, from.y + from.height);
            let (x2, y2) = (to.x + to.width / 2.0, to.y + to.height);
            let low = y1.max(y2) + 40.0;
            format!("M {x1:.1} {y1:.1} C {x1:.1} {low:.1}, {x2:.1} {low:.1}, {x2:.1} {y2:.1}")
        };
        let (dash, marker) = match edge.kind {
            EdgeKind::Flow => ("", " marker-end=\"url(#arrow)\""),
            EdgeKind::Request | EdgeKind::Http => {
                (" stroke-dasharray=\"6 4\"", " marker-end=\"url(#arrow)\"")
            }
            EdgeKind::Matches => (" stroke-dasharray=\"2 3\"", " marker-end=\"url(#arrow)\""),
            EdgeKind::State => (" stroke-dasharray=\"2 3\"", ""),
        };
        let _ = writeln!(
            svg,
            "<path d=\"{path}\" fill=\"none\" stroke=\"#555\" stroke-width=\"1.2\"{dash}{marker}/>"
        );
    }
    for (node, place) in drawing.nodes.iter().zip(&layout.boxes) {
        let (fill, radius, dash) = match node.kind {
            NodeKind::Function => ("#e8f0fe", 6.0, ""),
            NodeKind::Subject => ("#fff7e0", place.height / 2.0, ""),
            NodeKind::ExternalSubject => ("#fff7e0", place.height / 2.0, " stroke-dasharray=\"5 3\""),
            NodeKind::Bucket => ("#e6f4ea", 2.0, ""),
            NodeKind::Http => ("#fce8e6", 2.0, ""),
        };
        let _ = writeln!(
            svg,
            "<rect x=\"{:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{:.1}\" rx=\"{radius:.1}\" fill=\"{fill}\" stroke=\"#333\"{dash}/>",
            place.x, place.y, place.width, place.height
        );
        for (line, text) in node.lines.iter().enumerate() {
            let weight = if line == 0 && node.kind == NodeKind::Function {
                " font-weight=\"bold\""
            } else {
                ""
            };
            let _ = writeln!(
                svg,
                "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\"{weight}>{}</text>",
                place.x + place.width / 2.0,
                place.y + PADDING + LINE_HEIGHT * (line as f64 + 0.75),
                escape(text)
            );
        }
    }
    svg.push_str("</svg>\n");
    svg
}

/// Where a box is drawn.
#[derive(Debug, Clone, Copy, Default)]
struct Place {
    x: f64,
    y: f64,
    width: f64,
    height: f64,
}

struct Layout {
    boxes: Vec<Place>,
    column: Vec<usize>,
    width: f64,
    height: f64,
}

impl Layout {
    fn of(drawing: &Drawing) -> Self {
        let count = drawing.nodes.len();
        let forward = forward_edges(drawing);
        let column = columns(count, &forward);
        let columns_count = column.iter().max().map_or(0, |max| max + 1);
        let mut order: Vec<Vec<usize>> = vec![Vec::new(); columns_count];
        for node in 0..count {
            order[column[node]].push(node);
        }
        // Each box's row follows the average row of what feeds it (two sweeps settle most).
        for _ in 0..2 {
            let mut row = vec![0.0; count];
            for nodes in &order {
                for (index, &node) in nodes.iter().enumerate() {
                    row[node] = index as f64;
                }
            }
            for nodes in order.iter_mut().skip(1) {
                let key = |node: &usize| {
                    let feeders: Vec<f64> = forward
                        .iter()
                        .filter(|(_, to)| to == node)
                        .map(|(from, _)| row[*from])
                        .collect();
                    match feeders.is_empty() {
                        true => row[*node],
                        false => feeders.iter().sum::<f64>() / feeders.len() as f64,
                    }
                };
                nodes.sort_by(|a, b| key(a).total_cmp(&key(b)).then(a.cmp(b)));
            }
        }
        let mut boxes = vec![Place::default(); count];
        for (node, place) in drawing.nodes.iter().zip(boxes.iter_mut()) {
            let longest = node
                .lines
                .iter()
                .map(|line| line.chars().count())
                .max()
                .unwrap_or(0);
            place.width = longest as f64 * CHAR_WIDTH + 2.0 * PADDING;
            place.height = node.lines.len() as f64 * LINE_HEIGHT + 2.0 * PADDING;
        }
        let heights: Vec<f64> = order
            .iter()
            .map(|nodes| nodes.iter().map(|&n| boxes[n].height + ROW_GAP).sum::<f64>() - ROW_GAP)
            .collect();
        let tallest = heights.iter().copied().fold(0.0, f64::max);
        let mut x = MARGIN;
        for (nodes, height) in order.iter().zip(&heights) {
            let widest = nodes.iter().map(|&n| boxes[n].width).fold(0.0, f64::max);
            let mut y = MARGIN + (tallest - height) / 2.0;
            for &node in nodes {
                boxes[node].x = x + (widest - boxes[node].width) / 2.0;
                boxes[node].y = y;
                y += boxes[node].height + ROW_GAP;
            }
            x += widest + COLUMN_GAP;
        }
        Self {
            boxes,
            column,
            width: x - COLUMN_GAP + MARGIN,
            // Room below for arrows that run back.
            height: tallest + 2.0 * MARGIN + 50.0,
        }
    }
}

/// The arrows that do not close a loop, found by a depth-first search from the boxes in order
/// (an arrow to a box still on the search's path runs back).
fn forward_edges(drawing: &Drawing) -> Vec<(usize, usize)> {
    let count = drawing.nodes.len();
    let mut state = vec![0u8; count]; // 0 new, 1 on the path, 2 done
    let mut forward = Vec::new();
    let mut starts: Vec<usize> = (0..count)
        .filter(|&n| drawing.edges.iter().all(|e| e.to != n))
        .collect();
    starts.extend(0..count);
    for start in starts {
        if state[start] != 0 {
            continue;
        }
        let mut stack = vec![(start, 0usize)];
        state[start] = 1;
        while let Some((node, next)) = stack.pop() {
            let out: Vec<usize> = drawing
                .edges
                .iter()
                .filter(|e| e.from == node)
                .map(|e| e.to)
                .collect();
            if next < out.len() {
                stack.push((node, next + 1));
                let to = out[next];
                match state[to] {
                    0 => {
                        forward.push((node, to));
                        state[to] = 1;
                        stack.push((to, 0));
                    }
                    2 => forward.push((node, to)),
                    _ => {}
                }
            } else {
                state[node] = 2;
            }
        }
    }
    forward
}

/// Each box's column: 0 for a box nothing feeds, else one past its furthest feeder.
fn columns(count: usize, forward: &[(usize, usize)]) -> Vec<usize> {
    let mut column = vec![0; count];
    // The forward arrows form no loop, so `count` rounds of relaxation settle every column.
    for _ in 0..count {
        let mut changed = false;
        for &(from, to) in forward {
            if column[to] < column[from] + 1 {
                column[to] = column[from] + 1;
                changed = true;
            }
        }
        if !changed {
            break;
        }
    }
    column
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::graph::{Externals, FunctionNode};

    #[test]
    fn boxes_follow_the_flow_and_a_loop_does_not_hang_the_layout() {
        let function = |name: &str, listens: &str, publishes: &str| FunctionNode {
            name: name.into(),
            mode: "jetstream",
            listens: vec![listens.into()],
            schedule: None,
            publishes: vec![publishes.into()],
            requests: Vec::new(),
            buckets: vec!["state".into()],
            http: Vec::new(),
            input_schema: None,
            output_schemas: Vec::new(),
        };
        let graph = Graph::new(
            vec![function("first", "a.>", "b"), function("second", "b", "a.c")],
            Externals::default(),
        );
        let drawing = Drawing::of(&graph);
        let layout = Layout::of(&drawing);
        let at = |id: &str| layout.column[drawing.nodes.iter().position(|n| n.id == id).unwrap()];
        assert!(at("f:first") < at("s:b") && at("s:b") < at("f:second"));
        let svg = render(&graph);
        assert!(svg.starts_with("<svg") && svg.ends_with("</svg>\n"));
        assert_eq!(svg.matches("<rect x=").count(), drawing.nodes.len());
        assert!(svg.contains(">a.&gt;</text>"), "text is escaped");
        assert_eq!(render(&graph), svg, "the same graph draws the same");
    }
}
