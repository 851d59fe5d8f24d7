//! Text for logs and headers: bounding what handlers write, one-line errors, durations as
//! the manifest writes them.

use std::time::Duration;

/// Cuts `text` to at most `max` bytes on a character boundary, marking the cut with `…`.
pub fn truncate(text: &str, max: usize) -> std::borrow::Cow<'_, str> {
    if text.len() <= max {
        return text.into();
    }
    let mut end = max.saturating_sub('…'.len_utf8());
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &text[..end]).into()
}

/// Makes `text` fit in one header value or log line: line breaks become spaces.
pub fn single_line(text: &str) -> String {
    text.replace(['\r', '\n'], " ")
}

/// Flattens an error chain into one line.
pub fn one_line(error: &wasmtime::Error) -> String {
    single_line(&format!("{error:#}"))
}

/// Appends `value` in decimal to `text` without the formatting machinery (for the per-event
/// path: message ids, log fields).
pub fn push_decimal(text: &mut String, value: u64) {
    let mut digits = [0u8; 20];
    let mut start = digits.len();
    let mut rest = value;
    loop {
        start -= 1;
        digits[start] = b'0' + (rest % 10) as u8;
        rest /= 10;
        if rest == 0 {
            break;
        }
    }
    text.push_str(std::str::from_utf8(&digits[start..]).expect("ASCII digits"));
}

/// `1.5s`, `250ms`: durations as the manifest writes them.
pub fn humanize(duration: Duration) -> String {
    if duration.subsec_millis() == 0 {
        format!("{}s", duration.as_secs())
    } else {
        format!("{}ms", duration.as_millis())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn truncation_respects_char_boundaries() {
        assert_eq!(truncate("short", 10), "short");
        let cut = truncate("ééééé", 6);
        assert!(cut.len() <= 6 && cut.ends_with('…'), "{cut}");
        assert_eq!(single_line("a\nb\r\nc"), "a b  c");
    }

    #[test]
    fn durations_read_as_the_manifest_writes_them() {
        assert_eq!(humanize(Duration::from_secs(2)), "2s");
        assert_eq!(humanize(Duration::from_millis(50)), "50ms");
        assert_eq!(humanize(Duration::from_millis(1500)), "1500ms");
    }
}
