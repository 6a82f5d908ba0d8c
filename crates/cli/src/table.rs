//! Tables as the commands print them: aligned text or markdown.

use std::fmt::Write;

/// Left-aligned columns separated by two spaces.
pub fn aligned(header: &[String], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.len()).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.len());
        }
    }
    let mut out = String::new();
    for cells in std::iter::once(header).chain(rows.iter().map(Vec::as_slice)) {
        let line: Vec<String> = cells.iter().zip(&widths).map(|(c, w)| format!("{c:<w$}")).collect();
        let _ = writeln!(out, "{}", line.join("  ").trim_end());
    }
    out
}

/// A GitHub-flavoured markdown table.
pub fn markdown(header: &[String], rows: &[Vec<String>]) -> String {
    let mut out = format!("| {} |\n|{}\n", header.join(" | "), "---|".repeat(header.len()));
    for row in rows {
        let _ = writeln!(out, "| {} |", row.join(" | "));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_align_and_markdown_has_a_rule() {
        let header = vec!["a".to_string(), "bb".to_string()];
        let rows = vec![vec!["ccc".to_string(), "d".to_string()]];
        assert_eq!(aligned(&header, &rows), "a    bb\nccc  d\n");
        assert_eq!(markdown(&header, &rows), "| a | bb |\n|---|---|\n| ccc | d |\n");
    }
}
