//! The build loop of `sluice dev`: build function crates, deploy what builds, rebuild what
//! changes.
//!
//! Strategy: every crate under the folder that builds a `cdylib` is a function. Each is built
//! with cargo for `wasm32-wasip2` (the compiler's own output goes straight to the terminal),
//! and its component and manifest are copied into the deploy folder that the running host
//! watches, so deploying is the ordinary hot reload. A recursive watcher on the sources maps
//! each changed file to the crate that owns it; after a quiet moment only that crate is
//! rebuilt. A failed build changes nothing in the deploy folder, so the last good version
//! keeps serving.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use notify::{RecursiveMode, Watcher};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// How long sources must be quiet before a rebuild.
pub const QUIET: Duration = Duration::from_millis(300);

/// A function crate in the dev folder.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct FunctionCrate {
    /// The function's name: that of its manifest, `NAME.toml` beside `Cargo.toml`, when the
    /// crate has exactly one; else the package name.
    pub name: String,
    /// The cargo package name (what is built).
    pub package: String,
    /// The crate's folder.
    pub dir: PathBuf,
}

/// The function crates directly under `dir` (folders with a `Cargo.toml` whose library is a
/// `cdylib`), sorted by function name.
pub fn discover(dir: &Path) -> anyhow::Result<Vec<FunctionCrate>> {
    let entries = std::fs::read_dir(dir).with_context(|| format!("cannot read {}", dir.display()))?;
    let mut crates = Vec::new();
    for entry in entries.filter_map(Result::ok) {
        let manifest = entry.path().join("Cargo.toml");
        let Ok(text) = std::fs::read_to_string(&manifest) else {
            continue;
        };
        let parsed: toml::Table =
            toml::from_str(&text).with_context(|| format!("{} is not valid TOML", manifest.display()))?;
        let name = parsed
            .get("package")
            .and_then(|p| p.get("name"))
            .and_then(|n| n.as_str());
        let cdylib = parsed
            .get("lib")
            .and_then(|lib| lib.get("crate-type"))
            .and_then(|types| types.as_array())
            .is_some_and(|types| types.iter().any(|t| t.as_str() == Some("cdylib")));
        if let (Some(package), true) = (name, cdylib) {
            crates.push(FunctionCrate {
                name: manifest_name(&entry.path()).unwrap_or_else(|| package.to_owned()),
                package: package.to_owned(),
                dir: entry.path(),
            });
        }
    }
    crates.sort();
    Ok(crates)
}

/// The stem of the one `NAME.toml` beside a crate's `Cargo.toml`, if there is exactly one.
fn manifest_name(crate_dir: &Path) -> Option<String> {
    let mut names = std::fs::read_dir(crate_dir).ok()?.filter_map(|entry| {
        let path = entry.ok()?.path();
        let stem = path.file_stem()?.to_str()?;
        (path.extension()? == "toml" && stem != "Cargo").then(|| stem.to_owned())
    });
    let name = names.next()?;
    names.next().is_none().then_some(name)
}

/// Builds `function` for `wasm32-wasip2` and copies its component and manifest into
/// `deploy` (component last, renamed into place, so the host sees one complete change).
/// Prints which crate is building and how long it took.
pub async fn build_and_deploy(function: &FunctionCrate, deploy: &Path) -> anyhow::Result<()> {
    let started = Instant::now();
    eprintln!("sluice dev: building {} ...", function.name);
    let wasm = match build(function).await {
        Ok(wasm) => wasm,
        Err(error) => {
            eprintln!(
                "sluice dev: {} failed to build after {:.1}s; the last good version keeps running",
                function.name,
                started.elapsed().as_secs_f64()
            );
            return Err(error);
        }
    };
    let manifest = function.dir.join(format!("{}.toml", function.name));
    if manifest.is_file() {
        std::fs::copy(&manifest, deploy.join(format!("{}.toml", function.name)))?;
    }
    let temporary = deploy.join(format!(".{}.wasm.tmp", function.name));
    std::fs::copy(&wasm, &temporary)?;
    std::fs::rename(&temporary, deploy.join(format!("{}.wasm", function.name)))?;
    eprintln!(
        "sluice dev: built {} in {:.1}s; deploying",
        function.name,
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// Runs cargo and returns the built component, read from cargo's artifact messages.
async fn build(function: &FunctionCrate) -> anyhow::Result<PathBuf> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut child = tokio::process::Command::new(cargo)
        .args([
            "build",
            "--release",
            "--target",
            "wasm32-wasip2",
            "--message-format",
            "json-render-diagnostics",
        ])
        .arg("--manifest-path")
        .arg(function.dir.join("Cargo.toml"))
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .context("cannot run cargo")?;
    let mut lines = BufReader::new(child.stdout.take().expect("piped")).lines();
    let mut wasm = None;
    while let Some(line) = lines.next_line().await? {
        wasm = artifact_wasm(&line, &function.package).or(wasm);
    }
    if !child.wait().await?.success() {
        bail!("cargo build of {} failed", function.package);
    }
    wasm.with_context(|| format!("cargo built {} but reported no .wasm file", function.package))
}

/// The `.wasm` of package `name` in one line of cargo's JSON messages.
fn artifact_wasm(line: &str, name: &str) -> Option<PathBuf> {
    let message: serde_json::Value = serde_json::from_str(line).ok()?;
    if message["reason"] != "compiler-artifact"
        || message["target"]["name"].as_str()? != name.replace('-', "_")
    {
        return None;
    }
    message["filenames"]
        .as_array()?
        .iter()
        .filter_map(|f| f.as_str())
        .find(|f| f.ends_with(".wasm"))
        .map(PathBuf::from)
}

/// Builds every crate once, then rebuilds a crate whenever its sources change, until `stop`.
pub async fn run(crates: Vec<FunctionCrate>, deploy: PathBuf, stop: CancellationToken) -> anyhow::Result<()> {
    for function in &crates {
        let _ = build_and_deploy(function, &deploy).await;
    }
    let (sender, mut changes) = mpsc::unbounded_channel::<PathBuf>();
    let mut watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
        if let Ok(event) = event
            && !event.kind.is_access()
        {
            event.paths.into_iter().for_each(|path| drop(sender.send(path)));
        }
    })?;
    for function in &crates {
        watcher.watch(&function.dir, RecursiveMode::Recursive)?;
    }
    eprintln!("sluice dev: watching {} crates for changes", crates.len());
    let mut dirty = BTreeSet::new();
    loop {
        tokio::select! {
            _ = stop.cancelled() => return Ok(()),
            Some(path) = changes.recv() => {
                if let Some(function) = owner(&crates, &path) {
                    dirty.insert(function.clone());
                }
            }
            _ = tokio::time::sleep(QUIET), if !dirty.is_empty() => {
                for function in std::mem::take(&mut dirty) {
                    let _ = build_and_deploy(&function, &deploy).await;
                }
            }
        }
    }
}

/// The crate a changed source file belongs to; build output and hidden files belong to none.
fn owner<'a>(crates: &'a [FunctionCrate], path: &Path) -> Option<&'a FunctionCrate> {
    let function = crates.iter().find(|function| path.starts_with(&function.dir))?;
    let relative = path.strip_prefix(&function.dir).ok()?;
    let ignored = relative.components().any(|part| {
        let part = part.as_os_str().to_string_lossy();
        part == "target" || part.starts_with('.') || part.ends_with('~')
    });
    (!ignored).then_some(function)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sources_map_to_their_crate_and_build_output_is_ignored() {
        let crates = vec![
            FunctionCrate {
                name: "a".into(),
                package: "a".into(),
                dir: "/w/a".into(),
            },
            FunctionCrate {
                name: "b".into(),
                package: "app-b".into(),
                dir: "/w/b".into(),
            },
        ];
        assert_eq!(owner(&crates, Path::new("/w/b/src/lib.rs")).unwrap().name, "b");
        assert_eq!(owner(&crates, Path::new("/w/a/a.toml")).unwrap().name, "a");
        assert!(owner(&crates, Path::new("/w/a/target/release/x")).is_none());
        assert!(owner(&crates, Path::new("/w/a/src/.lib.rs.swp")).is_none());
        assert!(owner(&crates, Path::new("/w/c/src/lib.rs")).is_none());
    }

    #[test]
    fn the_component_is_found_in_cargo_messages() {
        let line = r#"{"reason":"compiler-artifact","target":{"name":"order_total"},"filenames":["/t/order_total.wasm","/t/liborder_total.rlib"]}"#;
        assert_eq!(
            artifact_wasm(line, "order-total"),
            Some(PathBuf::from("/t/order_total.wasm"))
        );
        assert_eq!(artifact_wasm(line, "other"), None);
        assert_eq!(artifact_wasm("not json", "order-total"), None);
    }

    #[test]
    fn only_cdylib_crates_are_functions() {
        let dir = tempfile::tempdir().unwrap();
        for (name, kind) in [("fn-a", "cdylib"), ("helper", "rlib")] {
            write_crate(dir.path(), name, kind);
        }
        let found: Vec<String> = discover(dir.path())
            .unwrap()
            .into_iter()
            .map(|c| c.name)
            .collect();
        assert_eq!(found, ["fn-a"]);
    }

    #[test]
    fn a_crate_with_one_manifest_is_named_by_it() {
        let dir = tempfile::tempdir().unwrap();
        let notify = write_crate(dir.path(), "market-notify", "cdylib");
        std::fs::write(notify.join("notify.toml"), "").unwrap();
        let two = write_crate(dir.path(), "two-manifests", "cdylib");
        std::fs::write(two.join("one.toml"), "").unwrap();
        std::fs::write(two.join("other.toml"), "").unwrap();
        let found: Vec<(String, String)> = discover(dir.path())
            .unwrap()
            .into_iter()
            .map(|c| (c.name, c.package))
            .collect();
        assert_eq!(
            found,
            [
                ("notify".to_owned(), "market-notify".to_owned()),
                ("two-manifests".to_owned(), "two-manifests".to_owned())
            ]
        );
    }

    fn write_crate(parent: &Path, name: &str, kind: &str) -> PathBuf {
        let crate_dir = parent.join(name);
        std::fs::create_dir(&crate_dir).unwrap();
        let manifest = format!("[package]\nname = \"{name}\"\n[lib]\ncrate-type = [\"{kind}\"]\n");
        std::fs::write(crate_dir.join("Cargo.toml"), manifest).unwrap();
        crate_dir
    }
}
