//! The fleet at a glance: desired functions × hosts, each cell saying whether that host
//! serves the desired version, lags, or failed to load it. `sluice status` prints it.

use std::collections::BTreeMap;
use std::fmt::Write;

use serde::Serialize;

use super::control::SeenHost;
use super::desired::DesiredState;
use super::records::Records;
use super::report::Progress;

/// The fleet's state as read from its buckets.
#[derive(Debug, Clone, Serialize)]
pub struct FleetStatus {
    /// The desired state of every deployed function.
    pub functions: Vec<DesiredSummary>,
    /// Every host with a report, live ones first.
    pub hosts: Vec<HostRow>,
}

/// A deployed function's desired version.
#[derive(Debug, Clone, Serialize)]
pub struct DesiredSummary {
    /// Its name.
    pub name: String,
    /// Its desired version.
    pub version: String,
    /// SHA-256 of its component.
    pub component: String,
    /// Who deployed it.
    pub deployed_by: String,
    /// When.
    pub deployed_at: String,
    /// `until RFC3339` or `until resumed` while it is paused (`sluice pause`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub paused: Option<String>,
}

/// One host's row.
#[derive(Debug, Clone, Serialize)]
pub struct HostRow {
    /// Its id.
    pub host: String,
    /// `live`, `gone` (stopped reporting) or `stopped` (shut down).
    pub state: &'static str,
    /// `draining` or `drained` after `sluice drain`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub drain: Option<String>,
    /// Seconds since its last report.
    pub last_report_s: f64,
    /// Seconds it has been up (at its last report).
    pub uptime_s: u64,
    /// Its sluice version.
    pub sluice_version: String,
    /// One cell per deployed function, and for functions it serves from its own folder.
    pub functions: BTreeMap<String, Cell>,
}

/// Where one host stands on one function.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum Cell {
    /// Serves the desired version.
    Serving {
        /// Events received per second over the last minute.
        events_per_s: f64,
        /// Events in flight.
        in_flight: u64,
        /// Dead letters over the last minute.
        dead_letters_last_minute: u64,
    },
    /// Serves another version, or none yet.
    Lagging {
        /// The version it serves, if any.
        serving: Option<String>,
    },
    /// Failed to load the desired version.
    Failed {
        /// Why.
        error: String,
    },
    /// Holds the function paused: runs nothing of it.
    Paused,
    /// Runs nothing: the host is drained or draining (`sluice drain`).
    Drained,
    /// Serves a function of this name from its own folder.
    Folder {
        /// The version it serves.
        version: String,
    },
}

impl FleetStatus {
    /// The table of the functions in `records` × `hosts`.
    pub fn new(records: &Records, hosts: &[SeenHost]) -> Self {
        let desired = &records.functions;
        let now = time::OffsetDateTime::now_utc();
        let paused = |name: &str| {
            let pause = records.pauses.get(name).filter(|p| p.in_force(now))?;
            Some(match &pause.until {
                Some(until) => format!("until {until}"),
                None => "until resumed".to_owned(),
            })
        };
        let mut rows: Vec<HostRow> = hosts.iter().map(|seen| row(desired, seen)).collect();
        rows.sort_by(|a, b| (a.state != "live", &a.host).cmp(&(b.state != "live", &b.host)));
        Self {
            functions: desired
                .iter()
                .map(|state| DesiredSummary {
                    name: state.name.clone(),
                    version: state.version.clone(),
                    component: state.component.clone(),
                    deployed_by: state.deployed_by.clone(),
                    deployed_at: state.deployed_at.clone(),
                    paused: paused(&state.name),
                })
                .collect(),
            hosts: rows,
        }
    }

    /// Live hosts that do not serve some desired version (lagging or failed).
    pub fn problems(&self) -> usize {
        self.hosts
            .iter()
            .filter(|row| row.state == "live")
            .flat_map(|row| row.functions.values())
            .filter(|cell| matches!(cell, Cell::Lagging { .. } | Cell::Failed { .. }))
            .count()
    }

    /// The table for people: the desired versions, then one line per host, then the errors.
    pub fn render(&self) -> String {
        let mut out = String::new();
        if self.functions.is_empty() {
            out.push_str("no functions deployed to the fleet\n");
        } else {
            let _ = writeln!(
                out,
                "{:<24} {:<13} {:<13} DEPLOYED",
                "FUNCTION", "VERSION", "COMPONENT"
            );
            for f in &self.functions {
                let component = f.component.get(..12).unwrap_or(&f.component);
                let paused = f
                    .paused
                    .as_ref()
                    .map(|until| format!(", PAUSED {until}"))
                    .unwrap_or_default();
                let _ = writeln!(
                    out,
                    "{:<24} {:<13} {:<13} {} by {}{paused}",
                    f.name, f.version, component, f.deployed_at, f.deployed_by
                );
            }
        }
        out.push('\n');
        if self.hosts.is_empty() {
            out.push_str("no hosts have reported\n");
            return out;
        }
        let _ = writeln!(out, "{:<24} {:<16} {:>8}  FUNCTIONS", "HOST", "STATE", "UP");
        let mut errors = Vec::new();
        for row in &self.hosts {
            let cells: Vec<String> = row
                .functions
                .iter()
                .map(|(name, cell)| {
                    if let Cell::Failed { error } = cell {
                        errors.push(format!("{} {name}: {error}", row.host));
                    }
                    format!("{name} {}", cell_text(cell))
                })
                .collect();
            let state = match (row.state, &row.drain) {
                ("live", Some(drain)) => drain.clone(),
                ("live", None) => "live".to_owned(),
                (other, _) => format!("{other} ({:.0}s ago)", row.last_report_s),
            };
            let _ = writeln!(
                out,
                "{:<24} {:<16} {:>8}  {}",
                row.host,
                state,
                crate::text::humanize(std::time::Duration::from_secs(row.uptime_s)),
                cells.join(", ")
            );
        }
        if !errors.is_empty() {
            out.push_str("\nfailed loads:\n");
            for error in errors {
                let _ = writeln!(out, "  {error}");
            }
        }
        out
    }
}

/// One host's row against `desired`.
fn row(desired: &[DesiredState], seen: &SeenHost) -> HostRow {
    let report = &seen.report;
    let mut functions = BTreeMap::new();
    for state in desired {
        let cell = match report.progress(&state.name, &state.version) {
            Progress::Serving => {
                let serving = &report.functions[&state.name];
                Cell::Serving {
                    events_per_s: serving.events_per_s,
                    in_flight: serving.in_flight,
                    dead_letters_last_minute: serving.dead_letters_last_minute,
                }
            }
            Progress::Failed(error) => Cell::Failed { error },
            Progress::Lagging(None) if report.drain.is_some() => Cell::Drained,
            Progress::Lagging(serving) => Cell::Lagging { serving },
            Progress::Paused => Cell::Paused,
        };
        functions.insert(state.name.clone(), cell);
    }
    for (name, serving) in &report.functions {
        if serving.origin == "folder" && !functions.contains_key(name) {
            functions.insert(
                name.clone(),
                Cell::Folder {
                    version: serving.version.clone(),
                },
            );
        }
    }
    HostRow {
        host: report.host.clone(),
        state: match (report.stopped, seen.is_gone()) {
            (true, _) => "stopped",
            (false, true) => "gone",
            (false, false) => "live",
        },
        drain: report.drain.clone(),
        last_report_s: seen.age.as_secs_f64(),
        uptime_s: report.uptime_s,
        sluice_version: report.sluice_version.clone(),
        functions,
    }
}

fn cell_text(cell: &Cell) -> String {
    match cell {
        Cell::Serving { events_per_s, .. } => format!("ok {events_per_s:.1}/s"),
        Cell::Lagging {
            serving: Some(version),
        } => format!("LAGS (runs {version})"),
        Cell::Lagging { serving: None } => "LAGS (not running)".to_owned(),
        Cell::Failed { .. } => "FAILED".to_owned(),
        Cell::Folder { version } => format!("folder {version}"),
        Cell::Paused => "paused".to_owned(),
        Cell::Drained => "drained".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::fleet::report::{FailedLoad, FunctionReport, HostReport};

    fn state(name: &str, version: &str) -> DesiredState {
        DesiredState {
            name: name.into(),
            version: version.into(),
            component: "ab".repeat(32),
            size: 1,
            manifest: String::new(),
            schemas: BTreeMap::new(),
            deployed_by: "ana@laptop".into(),
            deployed_at: "2026-12-02T20:00:00Z".into(),
            rolled_back_from: None,
        }
    }

    fn host(id: &str, serving: &[(&str, &str)], failed: &[(&str, &str)], age: u64) -> SeenHost {
        let functions = serving
            .iter()
            .map(|(name, version)| {
                let report = FunctionReport {
                    version: (*version).into(),
                    origin: "fleet".into(),
                    in_flight: 0,
                    events_per_s: 2.5,
                    dead_letters_last_minute: 0,
                };
                ((*name).to_owned(), report)
            })
            .collect();
        let failed = failed
            .iter()
            .map(|(name, version)| {
                let failure = FailedLoad {
                    version: (*version).into(),
                    error: "bad bytes".into(),
                };
                ((*name).to_owned(), failure)
            })
            .collect();
        let report = HostReport {
            host: id.into(),
            sluice_version: "0.1.0".into(),
            started_at: String::new(),
            uptime_s: 65,
            report_every_ms: 2000,
            functions,
            failed,
            stopped: false,
            paused: Default::default(),
            drain: None,
        };
        SeenHost {
            report,
            age: Duration::from_secs(age),
        }
    }

    #[test]
    fn the_table_marks_lagging_failed_and_gone_hosts() {
        let desired = [state("order-total", "v2")];
        let hosts = [
            host("a", &[("order-total", "v2")], &[], 1),
            host("b", &[("order-total", "v1")], &[("order-total", "v2")], 1),
            host("c", &[("order-total", "v1")], &[], 1),
            host("d", &[("order-total", "v2")], &[], 60),
        ];
        let records = Records {
            functions: desired.to_vec(),
            ..Default::default()
        };
        let status = FleetStatus::new(&records, &hosts);
        let states: Vec<_> = status.hosts.iter().map(|r| (r.host.as_str(), r.state)).collect();
        assert_eq!(
            states,
            [("a", "live"), ("b", "live"), ("c", "live"), ("d", "gone")]
        );
        assert_eq!(
            status.problems(),
            2,
            "b failed, c lags; d is gone and not counted"
        );
        let text = status.render();
        assert!(text.contains("order-total ok 2.5/s"), "{text}");
        assert!(text.contains("LAGS (runs v1)"), "{text}");
        assert!(text.contains("b order-total: bad bytes"), "{text}");
        assert!(text.contains("gone (60s ago)"), "{text}");
        let json = serde_json::to_value(&status).unwrap();
        assert_eq!(json["hosts"][1]["functions"]["order-total"]["state"], "failed");
    }
}
