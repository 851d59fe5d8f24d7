//! Naming what ended an attempt before the handler returned: out of memory, a failed
//! instantiation, or a trap with the guest's last words.

use wasmtime::Trap;

use super::InvokeError;
use crate::imports::{CapturedOutput, State};
use crate::text::one_line;

/// Where an attempt failed before the handler could return.
#[derive(Clone, Copy)]
pub(super) enum Stage {
    Instantiate,
    Call,
}

/// Names a failure: out-of-memory when the limiter refused growth; an instantiation error;
/// else a trap, with its code and the last line the guest wrote to stderr (a Rust panic
/// message, typically).
pub(super) fn classify(
    stage: Stage,
    error: &wasmtime::Error,
    state: &mut State,
    output: &CapturedOutput,
    limit: u64,
) -> InvokeError {
    if state.limiter().refused() {
        return InvokeError::OutOfMemory { limit };
    }
    if let Stage::Instantiate = stage {
        return InvokeError::Instantiate(one_line(error));
    }
    let code = match error.downcast_ref::<Trap>() {
        // Toolchains keep the guest's own stack in linear memory, below its data: overflowing
        // it shows up as an access out of bounds, not as wasm's call-stack exhaustion.
        Some(Trap::MemoryOutOfBounds) => {
            format!(
                "{} (a stack overflow in the handler, or a bad pointer)",
                Trap::MemoryOutOfBounds
            )
        }
        Some(Trap::StackOverflow) => format!("{} (stack overflow: recursion too deep)", Trap::StackOverflow),
        Some(trap) => trap.to_string(),
        None => one_line(error),
    };
    match last_words(&output.lines().0) {
        Some(words) => InvokeError::Trap(format!("{code} ({})", crate::text::truncate(&words, 300))),
        None => InvokeError::Trap(code),
    }
}

/// What the guest said last before dying: a Rust panic's location and message, else its last
/// line of output; rustc's hint about `RUST_BACKTRACE` is skipped.
fn last_words(lines: &[String]) -> Option<String> {
    let lines: Vec<&str> = lines
        .iter()
        .map(|line| line.trim())
        .filter(|line| !is_noise(line))
        .collect();
    match lines.iter().rposition(|line| line.contains("panicked at")) {
        Some(start) => Some(lines[start..].join(" ")),
        None => lines.last().map(|line| (*line).to_owned()),
    }
}

/// Lines runtimes print on their way down that say nothing about why: rustc's backtrace hint,
/// SpiderMonkey's abort redirection (JavaScript handlers).
fn is_noise(line: &str) -> bool {
    line.starts_with("note: run with `RUST_BACKTRACE") || line.starts_with("Redirecting call to abort()")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn last_words_prefer_the_panic_message() {
        let lines: Vec<String> = [
            "starting",
            "thread '<unnamed>' panicked at src/lib.rs:10:5:",
            "probe trap",
            "note: run with `RUST_BACKTRACE=1` environment variable to display a backtrace",
        ]
        .map(String::from)
        .to_vec();
        assert_eq!(
            last_words(&lines).unwrap(),
            "thread '<unnamed>' panicked at src/lib.rs:10:5: probe trap"
        );
        assert_eq!(last_words(&["one".into(), "two".into()]).unwrap(), "two");
        let js = [
            "uncaught: bad variant".to_owned(),
            "Redirecting call to abort() to mozalloc_abort".to_owned(),
        ];
        assert_eq!(last_words(&js).unwrap(), "uncaught: bad variant");
        assert_eq!(last_words(&[]), None);
    }
}
