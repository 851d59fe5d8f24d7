//! Why a component does not link, in words a user can act on: which import the host lacks,
//! the version of that interface the host does provide, and which world the component's
//! exports say it was built for.

use wasmtime::Engine;
use wasmtime::component::Component;

/// The interfaces the host provides beyond WASI 0.2 (whose interfaces are provided for every
/// 0.2 release: wasmtime links a component's `@0.2.x` import to the host's 0.2 version).
const PROVIDED: &[&str] = &[
    "sluice:function/types@0.1.0",
    "sluice:function/publisher@0.1.0",
    "sluice:function/log@0.1.0",
    "sluice:function/config@0.1.0",
    "sluice:function/kv@0.1.0",
    "sluice:function/requester@0.1.0",
    "sluice:function/batch@0.1.0",
    "wasmcloud:messaging/types@0.2.0",
    "wasmcloud:messaging/consumer@0.2.0",
    "wasi:logging/logging@0.1.0-draft",
    "wasi:config/store@0.2.0-rc.1",
    "wasi:config/runtime@0.2.0-draft",
    "wasmcloud:bus/lattice@1.0.0",
    "wasi:keyvalue/store@0.2.0-draft",
    "wasi:keyvalue/atomics@0.2.0-draft",
    "wasi:keyvalue/batch@0.2.0-draft",
];

/// WASI 0.2 packages the host provides (through `wasmtime-wasi` and `wasmtime-wasi-http`).
const WASI_P2: &[&str] = &[
    "wasi:cli",
    "wasi:clocks",
    "wasi:filesystem",
    "wasi:io",
    "wasi:random",
    "wasi:sockets",
    "wasi:http",
];

/// The worlds a function's component may be built for, by what they export.
const WORLDS: &[(&str, &str)] = &[
    ("handle", "sluice:function/handler"),
    ("handle-batch", "sluice:function/batch-handler"),
    (
        "wasmcloud:messaging/handler@0.2.0",
        "wasmcloud:messaging/handler@0.2.0",
    ),
];

/// What went wrong when linking a component failed with `error`: the missing import spelled
/// out when the error is about one, else `None` (the caller keeps the linker's message).
pub fn explain(engine: &Engine, component: &Component, error: &str) -> Option<String> {
    let import = missing_import(error)?;
    let exports: Vec<String> = component
        .component_type()
        .exports(engine)
        .map(|(name, _)| name.to_owned())
        .collect();
    Some(format!("{}; {}", provided(import), detected_world(&exports)))
}

/// The import named in wasmtime's "component imports instance `NAME`, but a matching
/// implementation was not found in the linker".
fn missing_import(error: &str) -> Option<&str> {
    let rest = error.split_once("component imports ")?.1;
    let name = rest.split_once('`')?.1.split_once('`')?.0;
    Some(name)
}

/// `imports X, which this host does not provide (...)`, saying what the host has of the
/// interface: another version of it, the same one with other types, or nothing.
fn provided(import: &str) -> String {
    let lacks = |what: String| format!("imports `{import}`, which this host does not provide ({what})");
    let (interface, version) = import.split_once('@').unwrap_or((import, ""));
    let package = interface
        .split_once('/')
        .map_or(interface, |(package, _)| package);
    if WASI_P2.contains(&package) {
        return match version.starts_with("0.2.") {
            true => format!("imports `{import}` with other types than this host's WASI 0.2 `{interface}`"),
            false => lacks(format!("it provides `{interface}@0.2.x`, the WASI 0.2 version")),
        };
    }
    let same_interface = PROVIDED.iter().find(|provided| {
        provided
            .split_once('@')
            .is_some_and(|(name, _)| name == interface)
    });
    match same_interface {
        Some(&provided) if provided == import => {
            format!("imports `{import}` with other types than this host's")
        }
        Some(provided) => lacks(format!("it provides `{provided}`")),
        None => lacks("it provides no version of that interface".to_owned()),
    }
}

/// `the component is a wasmcloud:messaging/handler@0.2.0 component`, or what it exports
/// when that is none of the worlds Sluice runs.
fn detected_world(exports: &[String]) -> String {
    let world = WORLDS
        .iter()
        .find(|(export, _)| exports.iter().any(|name| name == export));
    match world {
        Some((_, world)) => format!("detected world: {world}"),
        None => format!(
            "detected world: none that Sluice runs (it exports {}; a function exports `handle` for sluice:function/handler, `handle-batch` for sluice:function/batch-handler or `wasmcloud:messaging/handler@0.2.0`)",
            match exports.is_empty() {
                true => "nothing".to_owned(),
                false => exports
                    .iter()
                    .map(|name| format!("`{name}`"))
                    .collect::<Vec<_>>()
                    .join(", "),
            }
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_missing_import_is_read_from_the_linker_error() {
        let error = "component imports instance `wasi:keyvalue/store@0.2.0-draft2`, but a matching implementation was not found in the linker: instance export `open` has the wrong type";
        assert_eq!(missing_import(error), Some("wasi:keyvalue/store@0.2.0-draft2"));
        assert_eq!(missing_import("invalid component"), None);
    }

    #[test]
    fn the_version_the_host_provides_is_named() {
        assert_eq!(
            provided("wasi:logging/logging@0.2.0"),
            "imports `wasi:logging/logging@0.2.0`, which this host does not provide (it provides `wasi:logging/logging@0.1.0-draft`)"
        );
        assert_eq!(
            provided("wasi:config/store@0.2.0-rc.1"),
            "imports `wasi:config/store@0.2.0-rc.1` with other types than this host's"
        );
        assert_eq!(
            provided("acme:greeter/directory"),
            "imports `acme:greeter/directory`, which this host does not provide (it provides no version of that interface)"
        );
        assert_eq!(
            provided("wasi:cli/environment@0.3.0"),
            "imports `wasi:cli/environment@0.3.0`, which this host does not provide (it provides `wasi:cli/environment@0.2.x`, the WASI 0.2 version)"
        );
    }

    #[test]
    fn the_world_comes_from_the_exports() {
        let exports = |names: &[&str]| names.iter().map(|n| (*n).to_owned()).collect::<Vec<_>>();
        assert_eq!(
            detected_world(&exports(&["wasmcloud:messaging/handler@0.2.0"])),
            "detected world: wasmcloud:messaging/handler@0.2.0"
        );
        assert_eq!(
            detected_world(&exports(&["handle"])),
            "detected world: sluice:function/handler"
        );
        assert!(
            detected_world(&exports(&["greet"]))
                .starts_with("detected world: none that Sluice runs (it exports `greet`;")
        );
    }
}
