//! What a graph says about its flow: subjects published that nothing consumes, functions
//! listening on subjects nothing publishes, requests nobody answers, and cycles.

use std::fmt;

use super::{Graph, overlap};

/// One thing worth a look in a flow.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Finding {
    /// `function` may publish to `subject`, but no function here listens on it and
    /// `external.toml` names no output there.
    Unconsumed {
        /// The publisher.
        function: String,
        /// Its `permissions.publish` pattern.
        subject: String,
    },
    /// `function` listens on `subject`, but no function here publishes to it and
    /// `external.toml` names no input there.
    Unfed {
        /// The listener.
        function: String,
        /// Its `trigger.subjects` pattern.
        subject: String,
    },
    /// `function` may send requests to `subject`, but no function here listens there and
    /// `external.toml` names no output there.
    Unanswered {
        /// The requester.
        function: String,
        /// Its `permissions.request` pattern.
        subject: String,
    },
    /// What `producer` declares it publishes to `subject` may not satisfy the `[schema]` of
    /// `consumer`, which listens there.
    SchemaMismatch {
        /// The publisher.
        producer: String,
        /// Its `[schema] publishes` pattern.
        subject: String,
        /// The listener.
        consumer: String,
        /// What differs (see [`super::schemas::differences`]).
        differences: Vec<String>,
    },
    /// These functions feed each other in a loop (one function: it feeds itself). A loop can
    /// be the design (a saga's steps answer each other); each turn must end somewhere.
    Cycle {
        /// The functions, in name order.
        functions: Vec<String>,
    },
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Unconsumed { function, subject } => write!(
                f,
                "warning: `{function}` publishes to `{subject}`, which no function here listens on (an external consumer? name it in outputs of external.toml)"
            ),
            Self::Unfed { function, subject } => write!(
                f,
                "warning: `{function}` listens on `{subject}`, which no function here publishes to (an external input? name it in inputs of external.toml)"
            ),
            Self::Unanswered { function, subject } => write!(
                f,
                "warning: `{function}` sends requests to `{subject}`, which no function here answers (an external service? name it in outputs of external.toml)"
            ),
            Self::SchemaMismatch {
                producer,
                subject,
                consumer,
                differences,
            } => write!(
                f,
                "warning: what `{producer}` publishes to `{subject}` may not match the schema of `{consumer}`: {}",
                differences.join("; ")
            ),
            Self::Cycle { functions } if functions.len() == 1 => write!(
                f,
                "note: `{}` feeds itself (it publishes to a subject it listens on)",
                functions[0]
            ),
            Self::Cycle { functions } => write!(
                f,
                "note: a cycle: {} feed each other",
                functions
                    .iter()
                    .map(|f| format!("`{f}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        }
    }
}

impl Finding {
    /// Whether it is a warning (a cycle is only a note).
    pub fn is_warning(&self) -> bool {
        !matches!(self, Self::Cycle { .. })
    }
}

/// Every finding of `graph`: per function in name order, then the cycles.
pub fn of(graph: &Graph) -> Vec<Finding> {
    let listened = |subject: &str| {
        graph
            .functions
            .iter()
            .flat_map(|f| &f.listens)
            .chain(&graph.externals.outputs)
            .any(|pattern| overlap(pattern, subject))
    };
    let published = |subject: &str| {
        graph
            .functions
            .iter()
            .flat_map(|f| &f.publishes)
            .chain(&graph.externals.inputs)
            .any(|pattern| overlap(pattern, subject))
    };
    let mut findings = Vec::new();
    for function in &graph.functions {
        let name = || function.name.clone();
        for subject in function.listens.iter().filter(|s| !published(s)) {
            findings.push(Finding::Unfed {
                function: name(),
                subject: subject.clone(),
            });
        }
        for subject in function.publishes.iter().filter(|s| !listened(s)) {
            findings.push(Finding::Unconsumed {
                function: name(),
                subject: subject.clone(),
            });
        }
        for subject in function.requests.iter().filter(|s| !listened(s)) {
            findings.push(Finding::Unanswered {
                function: name(),
                subject: subject.clone(),
            });
        }
    }
    findings.extend(schema_mismatches(graph));
    findings.extend(
        cycles(graph)
            .into_iter()
            .map(|functions| Finding::Cycle { functions }),
    );
    findings
}

/// Each declared output schema against the input schema of every function listening where it
/// is published.
fn schema_mismatches(graph: &Graph) -> Vec<Finding> {
    let mut findings = Vec::new();
    for producer in &graph.functions {
        for (subject, sent) in &producer.output_schemas {
            for consumer in &graph.functions {
                let Some(accepted) = &consumer.input_schema else {
                    continue;
                };
                if !consumer.listens.iter().any(|input| overlap(input, subject)) {
                    continue;
                }
                let differences = super::schemas::differences(&sent.json, &accepted.json);
                if !differences.is_empty() {
                    findings.push(Finding::SchemaMismatch {
                        producer: producer.name.clone(),
                        subject: subject.clone(),
                        consumer: consumer.name.clone(),
                        differences,
                    });
                }
            }
        }
    }
    findings
}

/// Which functions feed which: `feeds[a]` lists every `b` that listens where `a` publishes.
fn feeds(graph: &Graph) -> Vec<Vec<usize>> {
    graph
        .functions
        .iter()
        .map(|from| {
            graph
                .functions
                .iter()
                .enumerate()
                .filter(|(_, to)| {
                    from.publishes
                        .iter()
                        .chain(&from.requests)
                        .any(|out| to.listens.iter().any(|input| overlap(out, input)))
                })
                .map(|(index, _)| index)
                .collect()
        })
        .collect()
}

/// The strongly connected groups of functions that form a loop (Tarjan's algorithm), each
/// in name order, ordered by their first name.
fn cycles(graph: &Graph) -> Vec<Vec<String>> {
    let feeds = feeds(graph);
    let mut tarjan = Tarjan {
        feeds: &feeds,
        index: vec![None; feeds.len()],
        low: vec![0; feeds.len()],
        on_stack: vec![false; feeds.len()],
        stack: Vec::new(),
        next: 0,
        groups: Vec::new(),
    };
    for node in 0..feeds.len() {
        if tarjan.index[node].is_none() {
            tarjan.visit(node);
        }
    }
    let mut cycles: Vec<Vec<String>> = tarjan
        .groups
        .into_iter()
        .filter(|group| group.len() > 1 || feeds[group[0]].contains(&group[0]))
        .map(|group| {
            let mut names: Vec<String> = group.iter().map(|&i| graph.functions[i].name.clone()).collect();
            names.sort();
            names
        })
        .collect();
    cycles.sort();
    cycles
}

struct Tarjan<'a> {
    feeds: &'a [Vec<usize>],
    index: Vec<Option<usize>>,
    low: Vec<usize>,
    on_stack: Vec<bool>,
    stack: Vec<usize>,
    next: usize,
    groups: Vec<Vec<usize>>,
}

impl Tarjan<'_> {
    fn visit(&mut self, node: usize) {
        self.index[node] = Some(self.next);
        self.low[node] = self.next;
        self.next += 1;
        self.stack.push(node);
        self.on_stack[node] = true;
        for &next in &self.feeds[node] {
            match self.index[next] {
                None => {
                    self.visit(next);
                    self.low[node] = self.low[node].min(self.low[next]);
                }
                Some(index) if self.on_stack[next] => self.low[node] = self.low[node].min(index),
                Some(_) => {}
            }
        }
        if Some(self.low[node]) == self.index[node] {
            let mut group = Vec::new();
            while let Some(member) = self.stack.pop() {
                self.on_stack[member] = false;
                group.push(member);
                if member == node {
                    break;
                }
            }
            self.groups.push(group);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::graph::{Externals, FunctionNode};

    fn function(name: &str, listens: &[&str], publishes: &[&str]) -> FunctionNode {
        FunctionNode {
            name: name.into(),
            mode: "core",
            listens: listens.iter().map(|s| (*s).into()).collect(),
            schedule: None,
            publishes: publishes.iter().map(|s| (*s).into()).collect(),
            requests: Vec::new(),
            buckets: Vec::new(),
            http: Vec::new(),
            input_schema: None,
            output_schemas: Vec::new(),
        }
    }

    #[test]
    fn unconsumed_unfed_and_cycles_are_found_and_externals_silence_them() {
        let functions = vec![
            function("a", &["in.orders"], &["mid.*"]),
            function("b", &["mid.totals"], &["out.receipts", "loop.x"]),
            function("c", &["loop.>"], &["mid.totals"]),
            function("d", &["d.self"], &["d.self"]),
        ];
        let graph = Graph::new(functions.clone(), Externals::default());
        let findings: Vec<String> = graph.findings().iter().map(ToString::to_string).collect();
        assert_eq!(findings.len(), 4, "{findings:#?}");
        assert!(
            findings[0].contains("`a` listens on `in.orders`"),
            "{findings:#?}"
        );
        assert!(
            findings[1].contains("`b` publishes to `out.receipts`"),
            "{findings:#?}"
        );
        assert!(
            findings[2].contains("a cycle: `b`, `c` feed each other"),
            "{findings:#?}"
        );
        assert!(findings[3].contains("`d` feeds itself"), "{findings:#?}");
        let externals = Externals {
            inputs: vec!["in.>".into()],
            outputs: vec!["out.receipts".into()],
        };
        let graph = Graph::new(functions, externals);
        assert!(graph.findings().iter().all(|finding| !finding.is_warning()));
    }
}
