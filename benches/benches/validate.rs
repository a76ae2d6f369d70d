//! `kiln data validate` on N synthetic rows (default 10 million) against a bare polars CSV
//! read of the same file, timed side by side in one run. Prints both medians and the ratio.
//!
//!     cargo bench -p kiln-bench --bench validate             # 10M rows
//!     KILN_BENCH_ROWS=1000000 cargo bench -p kiln-bench --bench validate

#![allow(clippy::print_stdout)] // a benchmark reports on stdout

use std::path::Path;

use kiln_bench::{machine, median_time};
use kiln_data::config::FileFormat;
use kiln_data::load::{Source, load};
use kiln_data::synth::{SynthOptions, config_toml, synth};
use polars::prelude::{CsvReadOptions, SerReader};

fn plan(config: &Path) -> kiln_data::plan::DataPlan {
    let text = std::fs::read_to_string(config).expect("config");
    kiln_data::plan::DataPlan::from_toml(config, &text).expect("plan")
}

fn main() {
    let rows: usize = std::env::var("KILN_BENCH_ROWS").ok().and_then(|v| v.parse().ok()).unwrap_or(10_000_000);
    let reps: usize = std::env::var("KILN_BENCH_REPS").ok().and_then(|v| v.parse().ok()).unwrap_or(3);
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("synth.csv");
    let opts = SynthOptions { rows, ..SynthOptions::default() };
    let gen_start = std::time::Instant::now();
    let mut df = synth(&opts).expect("synth");
    let gen_time = gen_start.elapsed();
    let write_start = std::time::Instant::now();
    kiln_data::write::write_table(&data, FileFormat::Csv, &mut df).expect("write csv");
    let write_time = write_start.elapsed();
    drop(df);
    let config = dir.path().join("synth.toml");
    std::fs::write(&config, config_toml("synth.csv", &opts)).expect("config");
    let plan = plan(&config);
    let size = std::fs::metadata(&data).map_or(0, |m| m.len());

    let bare = median_time(reps, || {
        CsvReadOptions::default()
            .try_into_reader_with_file_path(Some(data.clone()))
            .expect("reader")
            .finish()
            .expect("polars read")
    });
    let load_only = median_time(reps, || load(&plan, Source::Train, 5).expect("load"));
    let validate = median_time(reps, || {
        let table = load(&plan, Source::Train, 5).expect("load");
        let report = kiln_data::validate::validate("synth", &plan.validation, &table, None).expect("validate");
        assert!(report.passed());
        report
    });
    let ratio = validate.as_secs_f64() / bare.as_secs_f64();
    println!("machine: {}", machine());
    println!("rows: {rows}, file: {:.0} MiB CSV, {reps} timed runs (median)", size as f64 / 1048576.0);
    println!("synth generate: {:.2} s, write CSV: {:.2} s", gen_time.as_secs_f64(), write_time.as_secs_f64());
    println!("polars CSV read (bare, inferred schema): {:.3} s", bare.as_secs_f64());
    println!("kiln load with declared types:           {:.3} s", load_only.as_secs_f64());
    println!("kiln data validate (read + all checks):  {:.3} s", validate.as_secs_f64());
    println!("ratio validate / bare read: {ratio:.2}x (target <= 1.50x)");
}
