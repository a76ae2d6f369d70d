//! The device code's Philox4x32-10 and Poisson(1) draw (`kernels/scan_common.cuh`), compiled for
//! the CPU by the system C++ compiler through `kernels/host_check.cpp`, against
//! `reference::philox` (the same as `kiln_eval::scan::philox`): the words and weights the bootstrap kernel draws are the CPU's.
//! Runs on every build; prints why and passes when no C++ compiler (`$CXX`, `c++`, `g++`) runs.
#![allow(clippy::print_stderr)] // the reason a test is skipped

use std::path::{Path, PathBuf};
use std::process::Command;

use kiln_core::rng::Rng;
use kiln_kernels::reference::bootstrap::POISSON1_CDF;
use kiln_kernels::reference::philox::{philox4x32_10, poisson1_weight, seed_key};

/// The compiled `host_check`, or `None` when no C++ compiler runs.
fn host_check() -> Option<PathBuf> {
    let kernels = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../kernels");
    let out = Path::new(env!("CARGO_TARGET_TMPDIR")).join("kiln-host-check");
    let compilers: Vec<String> =
        std::env::var("CXX").into_iter().chain(["c++".to_string(), "g++".to_string()]).collect();
    for cxx in &compilers {
        let status = Command::new(cxx)
            .args(["-O2", "-std=c++17", "-Wno-unknown-pragmas", "-I"])
            .arg(&kernels)
            .arg("-o")
            .arg(&out)
            .arg(kernels.join("host_check.cpp"))
            .status();
        match status {
            Ok(s) if s.success() => return Some(out),
            Ok(s) => panic!("{cxx} failed on kernels/host_check.cpp ({s})"),
            Err(_) => continue,
        }
    }
    eprintln!("host_check: skipped, no C++ compiler runs (tried {compilers:?})");
    None
}

fn run(exe: &Path, args: &[String]) -> String {
    let out = Command::new(exe).args(args).output().expect("run host_check");
    assert!(out.status.success(), "host_check {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).expect("utf-8")
}

#[test]
fn device_philox_and_poisson_equal_kiln_evals() {
    let Some(exe) = host_check() else { return };
    let mut rng = Rng::new(4);
    let mut cases: Vec<([u32; 4], [u32; 2])> = vec![([0; 4], [0; 2]), ([u32::MAX; 4], [u32::MAX; 2])];
    for _ in 0..30 {
        let mut w = || rng.next_u64() as u32;
        cases.push(([w(), w(), w(), w()], [w(), w()]));
    }
    for (c, k) in cases {
        let args: Vec<String> = c.iter().chain(&k).map(|v| format!("{v}")).collect();
        let mut full = vec!["philox".to_string()];
        full.extend(args);
        let got = run(&exe, &full);
        let expected = philox4x32_10(c, k).iter().map(|w| format!("{w:08x}")).collect::<Vec<_>>().join(" ");
        assert_eq!(got.trim(), expected, "counter {c:08x?} key {k:08x?}");
    }
    for seed in [42u64, 0x0123_4567_89AB_CDEF, u64::MAX] {
        let (rows, reps) = (3_000u32, 4u32);
        let mut args = vec!["poisson".to_string(), seed.to_string(), rows.to_string(), reps.to_string()];
        args.extend(POISSON1_CDF.iter().map(|c| format!("{c:?}")));
        let got: Vec<u32> = run(&exe, &args).lines().map(|l| l.parse().expect("a draw")).collect();
        let key = seed_key(seed);
        let expected: Vec<u32> =
            (0..reps).flat_map(|r| (0..rows).map(move |row| poisson1_weight(row, r, key))).collect();
        assert_eq!(got, expected, "seed {seed:#x}");
    }
}
