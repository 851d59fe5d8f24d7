//! `sluice graph`: the event flow of a functions folder (or of the fleet) as DOT and SVG, and
//! what it says about itself.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use sluice_runtime::Manifest;
use sluice_runtime::graph::{Externals, FunctionNode, Graph, dot, svg};

use super::UsageError;
use super::fleet::FleetArgs;

/// The files a graph is written to, in the folder it describes (or `--out`).
const FILES: [&str; 2] = ["graph.dot", "graph.svg"];

/// Where the graph comes from and where it goes.
#[derive(Debug, clap::Args)]
pub struct GraphArgs {
    /// Folder of function manifests (NAME.toml), or an application folder of function
    /// crates; `external.toml` there names the subjects that cross its boundary.
    #[arg(default_value = "functions")]
    pub dir: PathBuf,
    /// Draw what the fleet runs (the desired state `sluice deploy` wrote) instead of a folder.
    #[arg(long)]
    pub fleet: bool,
    /// Where graph.dot and graph.svg are written (default: the folder itself; with --fleet,
    /// the current folder).
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Write nothing; exit 1 when the graph files there are missing or out of date (for CI).
    #[arg(long)]
    pub check: bool,
    /// NATS, for --fleet.
    #[command(flatten)]
    pub nats: FleetArgs,
}

/// Builds the graph, prints its findings, and writes (or checks) its drawings.
pub async fn run(args: &GraphArgs) -> anyhow::Result<ExitCode> {
    let graph = if args.fleet {
        fleet_graph(&args.nats).await?
    } else {
        if !args.dir.is_dir() {
            return Err(UsageError(format!("functions folder {} does not exist", args.dir.display())).into());
        }
        let graph = Graph::from_folder(&args.dir).map_err(|error| UsageError(error.to_string()))?;
        if graph.functions.is_empty() {
            let message = format!(
                "no function manifests (NAME.toml) in {} or the folders in it",
                args.dir.display()
            );
            return Err(UsageError(message).into());
        }
        graph
    };
    let out = match (&args.out, args.fleet) {
        (Some(out), _) => out.clone(),
        (None, true) => PathBuf::from("."),
        (None, false) => args.dir.clone(),
    };
    let findings = graph.findings();
    for finding in &findings {
        println!("{finding}");
    }
    let warnings = findings.iter().filter(|finding| finding.is_warning()).count();
    println!("{}", count_line(graph.functions.len(), findings.len(), warnings));
    let drawings = [dot::render(&graph), svg::render(&graph)];
    if args.check {
        return Ok(check(&out, &drawings));
    }
    std::fs::create_dir_all(&out)
        .map_err(|error| anyhow::anyhow!("cannot create {}: {error}", out.display()))?;
    for (file, text) in FILES.iter().zip(&drawings) {
        let path = out.join(file);
        std::fs::write(&path, text)
            .map_err(|error| anyhow::anyhow!("cannot write {}: {error}", path.display()))?;
        println!("wrote {}", path.display());
    }
    Ok(ExitCode::SUCCESS)
}

/// `4 functions, 1 finding (0 warnings)`.
fn count_line(functions: usize, findings: usize, warnings: usize) -> String {
    let plural = |count: usize, word: &str| match count {
        1 => format!("1 {word}"),
        _ => format!("{count} {word}s"),
    };
    format!(
        "{}, {} ({})",
        plural(functions, "function"),
        plural(findings, "finding"),
        plural(warnings, "warning")
    )
}

/// Exit 0 when every drawing in `out` is as `drawings` says, else 1 with which is not.
fn check(out: &Path, drawings: &[String; 2]) -> ExitCode {
    let mut stale = 0;
    for (file, text) in FILES.iter().zip(drawings) {
        let path = out.join(file);
        if std::fs::read_to_string(&path).ok().as_ref() != Some(text) {
            stale += 1;
            println!(
                "{} is missing or out of date: run `sluice graph` to redraw it",
                path.display()
            );
        }
    }
    match stale {
        0 => ExitCode::SUCCESS,
        _ => ExitCode::from(1),
    }
}

/// The graph of what the fleet's desired state deploys.
async fn fleet_graph(args: &FleetArgs) -> anyhow::Result<Graph> {
    let fleet = args.open().await?;
    let mut functions = Vec::new();
    for desired in fleet.all_desired().await? {
        let file = PathBuf::from(format!("{}.toml (deployed)", desired.name));
        let manifest = Manifest::parse(&desired.name, &desired.manifest, &file)?;
        functions.push(FunctionNode::new(&desired.name, &manifest));
    }
    Ok(Graph::new(functions, Externals::default()))
}
