//! Collecting results and writing them as a table, printed and in `BENCHMARKS.md`.

use std::fmt::Write as _;
use std::path::Path;

/// One measured row.
pub struct Row {
    /// Scenario name.
    pub scenario: String,
    /// What ran.
    pub subject: String,
    /// The number, with its unit.
    pub value: String,
    /// Ratios and remarks.
    pub note: String,
}

/// All rows of a run.
pub struct Report {
    machine: String,
    rows: Vec<Row>,
    panels: Vec<crate::chart::Panel>,
}

impl Report {
    /// An empty report for `machine`.
    pub fn new(machine: String) -> Self {
        Self {
            machine,
            rows: Vec::new(),
            panels: Vec::new(),
        }
    }

    /// Adds a row and prints it.
    pub fn add(&mut self, scenario: &str, subject: &str, value: String, note: String) {
        println!("{scenario:<28} {subject:<44} {value:>18}  {note}");
        self.rows.push(Row {
            scenario: scenario.into(),
            subject: subject.into(),
            value,
            note,
        });
    }

    /// Adds a bar to the chart panel titled `panel`.
    pub fn bar(&mut self, panel: &str, label: &str, value: f64) {
        let index = match self.panels.iter().position(|p| p.title == panel) {
            Some(index) => index,
            None => {
                self.panels.push(crate::chart::Panel {
                    title: panel.to_owned(),
                    bars: Vec::new(),
                });
                self.panels.len() - 1
            }
        };
        self.panels[index].bars.push((label.to_owned(), value));
    }

    /// Writes the Markdown report to `path`, and the chart beside it as `<stem>.png`.
    pub fn write(&self, path: &Path) -> anyhow::Result<()> {
        let mut text = String::new();
        writeln!(text, "# Sluice benchmarks\n")?;
        writeln!(
            text,
            "Measured by `cargo run --release -p sluice-bench` on {}.",
            self.machine.trim_start_matches("machine: ")
        )?;
        writeln!(
            text,
            "Every row of one table comes from the same run; baselines run on the same machine, against the same `nats-server`.\n"
        )?;
        let chart = path.with_extension("png");
        match crate::chart::draw(&chart, &self.panels) {
            Ok(()) => {
                let name = chart
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default();
                writeln!(text, "![throughput and host cost]({name})\n")?;
            }
            Err(error) => println!("(chart not drawn: {error:#})"),
        }
        writeln!(text, "| scenario | what | result | notes |\n|---|---|---:|---|")?;
        for row in &self.rows {
            writeln!(
                text,
                "| {} | {} | {} | {} |",
                row.scenario, row.subject, row.value, row.note
            )?;
        }
        text.push('\n');
        text.push_str(include_str!("../NOTES.md"));
        std::fs::write(path, text)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    /// A full run rewrites `BENCHMARKS.md` as its table followed by `bench/NOTES.md`: notes
    /// written into `BENCHMARKS.md` alone would be lost on the next run.
    #[test]
    fn benchmarks_md_ends_with_the_notes() {
        let benchmarks = include_str!("../../BENCHMARKS.md");
        let notes = include_str!("../NOTES.md");
        assert!(
            benchmarks.ends_with(notes),
            "BENCHMARKS.md and bench/NOTES.md differ after the table: write notes into bench/NOTES.md and copy them to BENCHMARKS.md"
        );
    }
}
