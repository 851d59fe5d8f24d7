//! Watching a functions folder: the watcher only reports which function's files changed;
//! [`reload`](crate::reload) decides what to do about it.

use std::path::Path;

use notify::event::{AccessKind, AccessMode, ModifyKind};
use notify::{EventKind, RecommendedWatcher, RecursiveMode, Watcher};
use tokio::sync::mpsc;

/// A function's files changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    /// The function's name.
    pub name: String,
    /// Whether the change is complete: the writer closed the file, or it was renamed into
    /// place or removed. A plain write may be followed by more.
    pub finished: bool,
}

/// Starts watching `dir` (not recursively). Every create, write, close, rename or removal of
/// a `NAME.wasm` or `NAME.toml` is reported. Keep the watcher alive as long as changes are
/// wanted.
pub fn watch(dir: &Path) -> notify::Result<(RecommendedWatcher, mpsc::UnboundedReceiver<Change>)> {
    let (sender, receiver) = mpsc::unbounded_channel();
    let mut watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
        let event = match event {
            Ok(event) => event,
            Err(error) => return tracing::warn!("watching the functions folder: {error}"),
        };
        let Some(finished) = finished(&event.kind) else {
            return;
        };
        for name in event.paths.iter().filter_map(|path| function_name(path)) {
            let _ = sender.send(Change { name, finished });
        }
    })?;
    watcher.watch(dir, RecursiveMode::NonRecursive)?;
    Ok((watcher, receiver))
}

/// Whether an event completes a change; `None` for events that change nothing (reads).
fn finished(kind: &EventKind) -> Option<bool> {
    match kind {
        EventKind::Access(AccessKind::Close(AccessMode::Write)) => Some(true),
        EventKind::Access(_) => None,
        EventKind::Modify(ModifyKind::Name(_)) | EventKind::Remove(_) => Some(true),
        _ => Some(false),
    }
}

/// `NAME` of `.../NAME.wasm` or `.../NAME.toml`; other files (editor swap files, temporary
/// files of a write-then-rename) are not functions.
fn function_name(path: &Path) -> Option<String> {
    let extension = path.extension()?.to_str()?;
    if extension != "wasm" && extension != "toml" {
        return None;
    }
    let name = path.file_stem()?.to_str()?;
    (!name.starts_with('.')).then(|| name.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_components_and_manifests_name_functions() {
        assert_eq!(
            function_name(Path::new("/f/order-total.wasm")).as_deref(),
            Some("order-total")
        );
        assert_eq!(
            function_name(Path::new("/f/order-total.toml")).as_deref(),
            Some("order-total")
        );
        assert_eq!(function_name(Path::new("/f/order-total.wasm.tmp")), None);
        assert_eq!(function_name(Path::new("/f/.order-total.wasm")), None);
        assert_eq!(function_name(Path::new("/f/notes.txt")), None);
    }
}
