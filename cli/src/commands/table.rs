//! Plain-text tables for the commands that list things (`dlq list`, `schedules`).

/// A table row; an empty cell shows as `-`.
pub fn row<const N: usize>(cells: [&str; N]) -> Vec<String> {
    cells
        .iter()
        .map(|cell| if cell.is_empty() { "-" } else { cell }.to_owned())
        .collect()
}

/// Left-aligned columns two spaces apart; the last column is not padded.
pub fn table(rows: &[Vec<String>]) -> String {
    let columns = rows.first().map_or(0, Vec::len);
    let widths: Vec<usize> = (0..columns)
        .map(|column| {
            rows.iter()
                .map(|row| row[column].chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    for row in rows {
        let last = row.len() - 1;
        for (column, cell) in row.iter().enumerate() {
            if column == last {
                out.push_str(cell);
            } else {
                out.push_str(&format!("{cell:<width$}  ", width = widths[column]));
            }
        }
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_line_up_and_blanks_show_as_dashes() {
        let rows = vec![row(["SEQ", "REASON", "ERROR"]), row(["12", "", "boom"])];
        assert_eq!(table(&rows), "SEQ  REASON  ERROR\n12   -       boom\n");
    }
}
