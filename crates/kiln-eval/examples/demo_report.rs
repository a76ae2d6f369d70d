//! Writes a demo evaluation report from seeded synthetic data: HTML at the given path and
//! Markdown beside it (same name, `.md`).
//!
//! ```text
//! cargo run -p kiln-eval --example demo_report -- /tmp/report.html [rows] [replicates]
//! ```
#![allow(clippy::print_stdout)]

#[path = "support/synthetic.rs"]
mod synthetic;

use std::path::PathBuf;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let path = PathBuf::from(args.next().unwrap_or_else(|| "report.html".into()));
    let rows: usize = args.next().map(|a| a.parse()).transpose()?.unwrap_or(5000);
    let replicates: usize = args.next().map(|a| a.parse()).transpose()?.unwrap_or(200);
    let report = synthetic::report(rows, 42, replicates);
    let html = kiln_eval::render::html(&report);
    let markdown = kiln_eval::render::markdown(&report);
    std::fs::write(&path, &html)?;
    let md_path = path.with_extension("md");
    std::fs::write(&md_path, &markdown)?;
    println!("{} ({} bytes), {} ({} bytes)", path.display(), html.len(), md_path.display(), markdown.len());
    Ok(())
}
