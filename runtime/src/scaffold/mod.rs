//! `sluice new`: a function crate that builds, has a manifest and a passing unit test.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};

/// Where the generated crate gets `sluice-sdk` from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SdkSource {
    /// A path to the SDK crate (a checkout of Sluice).
    Path(PathBuf),
    /// The workspace the crate is created in already declares `sluice-sdk`.
    Workspace,
}

/// Creates function `name` in `parent/name`: `Cargo.toml`, `src/lib.rs` with a handler and a
/// native unit test, and the manifest `name.toml`. Returns the created folder.
pub fn rust(parent: &Path, name: &str, sdk: &SdkSource) -> anyhow::Result<PathBuf> {
    check_name(name)?;
    let dir = parent.join(name);
    if dir.exists() {
        bail!("{} already exists", dir.display());
    }
    std::fs::create_dir_all(dir.join("src")).with_context(|| format!("cannot create {}", dir.display()))?;
    let standalone = enclosing_workspace(parent).is_none();
    write(&dir.join("Cargo.toml"), &cargo_toml(name, sdk, standalone))?;
    write(&dir.join("src/lib.rs"), &fill(include_str!("lib.rs.txt"), name))?;
    write(
        &dir.join(format!("{name}.toml")),
        &fill(include_str!("manifest.toml.txt"), name),
    )?;
    if standalone {
        write(&dir.join(".gitignore"), "/target\n")?;
    }
    Ok(dir)
}

/// The folder of the Cargo workspace that `dir` is in, if any.
pub fn enclosing_workspace(dir: &Path) -> Option<PathBuf> {
    let start = std::fs::canonicalize(dir).ok()?;
    start.ancestors().find_map(|ancestor| {
        let text = std::fs::read_to_string(ancestor.join("Cargo.toml")).ok()?;
        text.lines()
            .any(|line| line.trim() == "[workspace]")
            .then(|| ancestor.to_owned())
    })
}

fn check_name(name: &str) -> anyhow::Result<()> {
    let valid = name.chars().next().is_some_and(|c| c.is_ascii_lowercase())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    if !valid {
        bail!(
            "`{name}` is not a valid function name: use lowercase letters, digits and `-`, starting with a letter"
        );
    }
    Ok(())
}

fn cargo_toml(name: &str, sdk: &SdkSource, standalone: bool) -> String {
    let (sdk, serde, serde_json) = match sdk {
        SdkSource::Path(path) => (
            format!("sluice-sdk = {{ path = {:?} }}", path.display().to_string()),
            r#"serde = { version = "1", features = ["derive"] }"#.to_owned(),
            r#"serde_json = "1""#.to_owned(),
        ),
        SdkSource::Workspace => (
            "sluice-sdk.workspace = true".to_owned(),
            "serde.workspace = true".to_owned(),
            "serde_json.workspace = true".to_owned(),
        ),
    };
    let workspace = if standalone {
        "\n# A crate of its own, not part of an enclosing workspace.\n[workspace]\n"
    } else {
        ""
    };
    format!(
        "[package]\nname = \"{name}\"\nversion = \"0.1.0\"\nedition = \"2024\"\npublish = false\n\n\
         # A Sluice function builds to a WebAssembly component:\n\
         #   cargo build --release --target wasm32-wasip2\n\
         [lib]\ncrate-type = [\"cdylib\", \"rlib\"]\n\n\
         [dependencies]\n{sdk}\n{serde}\n\n[dev-dependencies]\n{serde_json}\n{workspace}"
    )
}

fn fill(template: &str, name: &str) -> String {
    let type_name: String = name
        .split('-')
        .map(|part| {
            let mut chars = part.chars();
            chars
                .next()
                .map(|c| c.to_ascii_uppercase().to_string() + chars.as_str())
                .unwrap_or_default()
        })
        .collect();
    template.replace("{{name}}", name).replace("{{Type}}", &type_name)
}

fn write(path: &Path, contents: &str) -> anyhow::Result<()> {
    std::fs::write(path, contents).with_context(|| format!("cannot write {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_become_crates_types_and_subjects() {
        let dir = tempfile::tempdir().unwrap();
        let created = rust(dir.path(), "stock-check", &SdkSource::Path("/sdk".into())).unwrap();
        let lib = std::fs::read_to_string(created.join("src/lib.rs")).unwrap();
        assert!(
            lib.contains("pub struct StockCheck;") && lib.contains("export!(StockCheck)"),
            "{lib}"
        );
        let cargo = std::fs::read_to_string(created.join("Cargo.toml")).unwrap();
        assert!(
            cargo.contains("name = \"stock-check\"") && cargo.contains("path = \"/sdk\""),
            "{cargo}"
        );
        let manifest = std::fs::read_to_string(created.join("stock-check.toml")).unwrap();
        crate::manifest::Manifest::parse("stock-check", &manifest, Path::new("stock-check.toml")).unwrap();
        assert!(
            rust(dir.path(), "stock-check", &SdkSource::Workspace)
                .unwrap_err()
                .to_string()
                .contains("already exists")
        );
        assert!(rust(dir.path(), "Bad_Name", &SdkSource::Workspace).is_err());
    }
}
