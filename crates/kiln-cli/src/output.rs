//! Result output: plain tables for terminals, Markdown, and JSON.
//!
//! The one module of kiln that writes results; commands build a [`Table`] (and a serde value
//! for JSON) and hand both to [`emit`]. Results go to stdout, logs and progress to stderr.

use std::io::Write;

use serde::Serialize;

/// How a result is printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Default)]
pub enum Format {
    /// Aligned plain-text columns.
    #[default]
    Table,
    /// Pretty-printed JSON with a stable schema.
    Json,
    /// A GitHub-flavoured Markdown table.
    Markdown,
}

/// A titled table of strings.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Table {
    pub title: Option<String>,
    pub headers: Vec<String>,
    pub rows: Vec<Vec<String>>,
}

impl Table {
    pub fn new(headers: &[&str]) -> Self {
        Self { title: None, headers: headers.iter().map(|h| h.to_string()).collect(), rows: Vec::new() }
    }

    pub fn titled(mut self, title: impl Into<String>) -> Self {
        self.title = Some(title.into());
        self
    }

    pub fn push(&mut self, row: Vec<String>) {
        self.rows.push(row);
    }

    /// Aligned columns, two spaces apart; numbers are not treated specially.
    pub fn render_plain(&self) -> String {
        let n = self.headers.len();
        let mut widths: Vec<usize> = self.headers.iter().map(|h| h.chars().count()).collect();
        for row in &self.rows {
            for (i, cell) in row.iter().enumerate().take(n) {
                widths[i] = widths[i].max(cell.chars().count());
            }
        }
        let mut out = String::new();
        if let Some(title) = &self.title {
            out.push_str(title);
            out.push('\n');
        }
        let line = |cells: &[String], out: &mut String| {
            let mut text = String::new();
            for (i, cell) in cells.iter().enumerate().take(n) {
                if i > 0 {
                    text.push_str("  ");
                }
                text.push_str(cell);
                if i + 1 < n {
                    text.push_str(&" ".repeat(widths[i].saturating_sub(cell.chars().count())));
                }
            }
            out.push_str(text.trim_end());
            out.push('\n');
        };
        line(&self.headers, &mut out);
        let rule: Vec<String> = widths.iter().map(|w| "-".repeat(*w)).collect();
        line(&rule, &mut out);
        for row in &self.rows {
            line(row, &mut out);
        }
        out
    }

    pub fn render_markdown(&self) -> String {
        let escape = |s: &str| s.replace('|', "\\|");
        let mut out = String::new();
        if let Some(title) = &self.title {
            out.push_str(&format!("### {title}\n\n"));
        }
        out.push_str(&format!("| {} |\n", self.headers.iter().map(|h| escape(h)).collect::<Vec<_>>().join(" | ")));
        out.push_str(&format!("|{}\n", " --- |".repeat(self.headers.len())));
        for row in &self.rows {
            out.push_str(&format!("| {} |\n", row.iter().map(|c| escape(c)).collect::<Vec<_>>().join(" | ")));
        }
        out
    }
}

/// Print `tables` (table or Markdown) or `json` (JSON) to `out`.
pub fn emit(out: &mut dyn Write, format: Format, tables: &[Table], json: &impl Serialize) -> std::io::Result<()> {
    match format {
        Format::Json => {
            let text = serde_json::to_string_pretty(json).map_err(std::io::Error::other)?;
            writeln!(out, "{text}")
        }
        Format::Table => {
            let text: Vec<String> = tables.iter().map(Table::render_plain).collect();
            write!(out, "{}", text.join("\n"))
        }
        Format::Markdown => {
            let text: Vec<String> = tables.iter().map(Table::render_markdown).collect();
            write!(out, "{}", text.join("\n"))
        }
    }
}

/// A number with up to `digits` decimals and no trailing zeros.
pub fn num(value: f64, digits: usize) -> String {
    if !value.is_finite() {
        return value.to_string();
    }
    let text = format!("{value:.digits$}");
    if text.contains('.') { text.trim_end_matches('0').trim_end_matches('.').to_string() } else { text }
}

/// A fraction as a percentage with two decimals.
pub fn pct(fraction: f64) -> String {
    format!("{:.2}%", fraction * 100.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_and_markdown_rendering() {
        let mut t = Table::new(&["name", "n"]);
        t.push(vec!["a|b".into(), "10".into()]);
        t.push(vec!["long name".into(), "2".into()]);
        assert_eq!(t.render_plain(), "name       n\n---------  --\na|b        10\nlong name  2\n");
        assert_eq!(t.render_markdown(), "| name | n |\n| --- | --- |\n| a\\|b | 10 |\n| long name | 2 |\n");
    }

    #[test]
    fn number_formatting() {
        assert_eq!(num(1.5000, 4), "1.5");
        assert_eq!(num(2.0, 3), "2");
        assert_eq!(num(f64::NAN, 3), "NaN");
        assert_eq!(pct(0.0567), "5.67%");
    }
}
