//! TEMPORARY local shim (not committed).
use crate::report::EvalReport;
pub fn markdown(report: &EvalReport) -> String {
    format!("# {}\n", report.project)
}
pub fn html(report: &EvalReport) -> String {
    format!("<html>{}</html>", report.project)
}
