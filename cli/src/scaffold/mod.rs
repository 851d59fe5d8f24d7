//! `sluice new`: a function that builds, has a manifest and a passing unit test, in Rust,
//! Python or JavaScript. Templates live beside this file, one folder per language;
//! `{{name}}` becomes the function's name and `{{Type}}` its PascalCase form.

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

/// A language `sluice new` can scaffold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Language {
    /// A Rust crate using `sluice-sdk`, tested with `cargo test`.
    Rust,
    /// A componentize-py app, tested with `python3 -m unittest`.
    Python,
    /// A ComponentizeJS module, tested with `node --test`.
    JavaScript,
}

impl std::str::FromStr for Language {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        match text {
            "rust" => Ok(Self::Rust),
            "python" | "py" => Ok(Self::Python),
            "js" | "javascript" => Ok(Self::JavaScript),
            other => Err(format!("unknown language `{other}`: use rust, python or js")),
        }
    }
}

/// A file to write: path in the new folder, template, whether it is a script.
type Template = (&'static str, &'static str, bool);

/// The WIT contract, copied into Python and JavaScript functions (their toolchains read it).
const WIT: &str = include_str!("../../../wit/sluice.wit");

/// The WASI 0.2 packages the contract's `http-handler` world imports, copied beside it: a WIT
/// folder only parses when every package it names is under `deps/`.
const WIT_DEPS: &[(&str, &str)] = &[
    ("wit/deps/cli.wit", include_str!("../../../wit/deps/cli.wit")),
    (
        "wit/deps/clocks.wit",
        include_str!("../../../wit/deps/clocks.wit"),
    ),
    (
        "wit/deps/filesystem.wit",
        include_str!("../../../wit/deps/filesystem.wit"),
    ),
    ("wit/deps/http.wit", include_str!("../../../wit/deps/http.wit")),
    ("wit/deps/io.wit", include_str!("../../../wit/deps/io.wit")),
    (
        "wit/deps/random.wit",
        include_str!("../../../wit/deps/random.wit"),
    ),
    (
        "wit/deps/sockets.wit",
        include_str!("../../../wit/deps/sockets.wit"),
    ),
];

const PYTHON: &[Template] = &[
    ("app.py", include_str!("python/app.py.txt"), false),
    ("logic.py", include_str!("python/logic.py.txt"), false),
    ("test_logic.py", include_str!("python/test_logic.py.txt"), false),
    ("build.sh", include_str!("python/build.sh.txt"), true),
    ("{{name}}.toml", include_str!("python/manifest.toml.txt"), false),
    ("README.md", include_str!("python/README.md.txt"), false),
    (".gitignore", include_str!("python/.gitignore.txt"), false),
    ("wit/sluice.wit", WIT, false),
];

const JAVASCRIPT: &[Template] = &[
    ("handler.js", include_str!("js/handler.js.txt"), false),
    ("logic.js", include_str!("js/logic.js.txt"), false),
    ("logic.test.js", include_str!("js/logic.test.js.txt"), false),
    ("build.mjs", include_str!("js/build.mjs.txt"), false),
    ("build.sh", include_str!("js/build.sh.txt"), true),
    ("package.json", include_str!("js/package.json.txt"), false),
    (
        "package-lock.json",
        include_str!("js/package-lock.json.txt"),
        false,
    ),
    ("{{name}}.toml", include_str!("js/manifest.toml.txt"), false),
    ("README.md", include_str!("js/README.md.txt"), false),
    (".gitignore", include_str!("js/.gitignore.txt"), false),
    ("wit/sluice.wit", WIT, false),
];

/// Creates function `name` in `parent/name` and returns the folder. Rust gets a crate whose
/// `sluice-sdk` comes from `sdk`; the other languages get their sources, a build script, a
/// copy of the WIT and a manifest.
pub fn create(parent: &Path, name: &str, language: Language, sdk: &SdkSource) -> anyhow::Result<PathBuf> {
    match language {
        Language::Rust => rust(parent, name, sdk),
        Language::Python => from_templates(parent, name, PYTHON),
        Language::JavaScript => from_templates(parent, name, JAVASCRIPT),
    }
}

/// Creates a Rust function crate in `parent/name`: `Cargo.toml`, `src/lib.rs` with a handler
/// and a native unit test, and the manifest `name.toml`.
pub fn rust(parent: &Path, name: &str, sdk: &SdkSource) -> anyhow::Result<PathBuf> {
    let dir = new_folder(parent, name)?;
    let standalone = enclosing_workspace(parent).is_none();
    write(&dir.join("Cargo.toml"), &cargo_toml(name, sdk, standalone), false)?;
    write(
        &dir.join("src/lib.rs"),
        &fill(include_str!("rust/lib.rs.txt"), name),
        false,
    )?;
    write(
        &dir.join(format!("{name}.toml")),
        &fill(include_str!("rust/manifest.toml.txt"), name),
        false,
    )?;
    if standalone {
        write(&dir.join(".gitignore"), "/target\n", false)?;
    }
    Ok(dir)
}

fn from_templates(parent: &Path, name: &str, templates: &[Template]) -> anyhow::Result<PathBuf> {
    let dir = new_folder(parent, name)?;
    for (path, template, script) in templates {
        write(&dir.join(fill(path, name)), &fill(template, name), *script)?;
    }
    for (path, wit) in WIT_DEPS {
        write(&dir.join(path), wit, false)?;
    }
    Ok(dir)
}

fn new_folder(parent: &Path, name: &str) -> anyhow::Result<PathBuf> {
    check_name(name)?;
    let dir = parent.join(name);
    if dir.exists() {
        bail!("{} already exists", dir.display());
    }
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
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

fn write(path: &Path, contents: &str, script: bool) -> anyhow::Result<()> {
    if let Some(folder) = path.parent() {
        std::fs::create_dir_all(folder).with_context(|| format!("cannot create {}", folder.display()))?;
    }
    std::fs::write(path, contents).with_context(|| format!("cannot write {}", path.display()))?;
    #[cfg(unix)]
    if script {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755))?;
    }
    Ok(())
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
        sluice_runtime::Manifest::parse("stock-check", &manifest, Path::new("stock-check.toml")).unwrap();
        assert!(
            rust(dir.path(), "stock-check", &SdkSource::Workspace)
                .unwrap_err()
                .to_string()
                .contains("already exists")
        );
        assert!(rust(dir.path(), "Bad_Name", &SdkSource::Workspace).is_err());
    }

    #[test]
    fn python_and_javascript_get_sources_a_build_script_and_the_wit() {
        let dir = tempfile::tempdir().unwrap();
        for (language, name, source) in [
            (Language::Python, "greet-py", "app.py"),
            (Language::JavaScript, "greet-js", "handler.js"),
        ] {
            let created = create(dir.path(), name, language, &SdkSource::Workspace).unwrap();
            assert!(created.join(source).is_file());
            assert_eq!(
                std::fs::read_to_string(created.join("wit/sluice.wit")).unwrap(),
                WIT
            );
            assert!(created.join("wit/deps/http.wit").is_file());
            let manifest = std::fs::read_to_string(created.join(format!("{name}.toml"))).unwrap();
            assert!(manifest.contains(&format!("{name}.in")), "{manifest}");
            sluice_runtime::Manifest::parse(name, &manifest, Path::new("m.toml")).unwrap();
            #[cfg(unix)]
            {
                use std::os::unix::fs::PermissionsExt;
                let mode = std::fs::metadata(created.join("build.sh"))
                    .unwrap()
                    .permissions()
                    .mode();
                assert_eq!(mode & 0o111, 0o111, "build.sh is executable");
            }
            for entry in walk(&created) {
                let text = std::fs::read_to_string(&entry).unwrap_or_default();
                assert!(
                    !text.contains("{{"),
                    "unfilled placeholder in {}",
                    entry.display()
                );
            }
        }
        assert_eq!("py".parse::<Language>(), Ok(Language::Python));
        assert!(
            "cobol"
                .parse::<Language>()
                .unwrap_err()
                .contains("rust, python or js")
        );
    }

    fn walk(dir: &Path) -> Vec<PathBuf> {
        std::fs::read_dir(dir)
            .unwrap()
            .flat_map(|entry| {
                let path = entry.unwrap().path();
                if path.is_dir() { walk(&path) } else { vec![path] }
            })
            .collect()
    }
}
