//! With the `cuda` feature, compiles every `kernels/*.cu` of the workspace to PTX with nvcc
//! (`-arch=sm_$CUDA_COMPUTE_CAP`, default 90) into `OUT_DIR`, where `src/cuda` embeds them.
//! Without it, does nothing: a CPU-only build never needs nvcc.

#![allow(clippy::print_stdout, clippy::print_stderr)] // a build script talks to cargo on stdout

use std::path::{Path, PathBuf};
use std::process::Command;

/// The kernels the crate embeds (each `kernels/<name>.cu` becomes `OUT_DIR/<name>.ptx`).
const KERNELS: [&str; 3] = ["sliced_eval", "bootstrap", "train_step"];

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    if std::env::var_os("CARGO_FEATURE_CUDA").is_none() {
        return;
    }
    let manifest = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"));
    let kernels = manifest.join("../../kernels");
    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    println!("cargo:rerun-if-changed={}", kernels.display());
    println!("cargo:rerun-if-env-changed=CUDA_COMPUTE_CAP");
    println!("cargo:rerun-if-env-changed=NVCC");
    let cap = std::env::var("CUDA_COMPUTE_CAP").unwrap_or_else(|_| "90".into());
    let cap = cap.trim().trim_start_matches("sm_").trim_end_matches('a').to_string();
    if cap.is_empty() || !cap.chars().all(|c| c.is_ascii_digit()) {
        fail(&format!("CUDA_COMPUTE_CAP={cap:?} is not a compute capability such as 90 (H100/H200) or 80 (A100)"));
    }
    let nvcc = std::env::var_os("NVCC").map_or_else(|| PathBuf::from("nvcc"), PathBuf::from);
    match Command::new(&nvcc).arg("--version").output() {
        Ok(o) if o.status.success() => {}
        _ => fail(&format!(
            "nvcc ({}) was not found or does not run; the `cuda` feature compiles kernels/*.cu with it.\n\
             hint: run `bash scripts/cuda-toolchain.sh` once (it installs the CUDA 13.0 toolkit into \
             /tmp/cudaenv), then `source /tmp/cudaenv/env.sh` before `cargo build --features cuda`; \
             or set NVCC to an nvcc of CUDA 13.0 (a newer one writes PTX that a 580 driver cannot load)",
            nvcc.display()
        )),
    }
    for name in KERNELS {
        compile(&nvcc, &kernels, &out, name, &cap);
    }
    if let Ok(entries) = std::fs::read_dir(&kernels) {
        for e in entries.flatten() {
            println!("cargo:rerun-if-changed={}", e.path().display());
        }
    }
}

/// `nvcc --ptx` of `kernels/<name>.cu` into `out/<name>.ptx`.
fn compile(nvcc: &Path, kernels: &Path, out: &Path, name: &str, cap: &str) {
    let src = kernels.join(format!("{name}.cu"));
    let ptx = out.join(format!("{name}.ptx"));
    let status = Command::new(nvcc)
        .args(["--ptx", "-O3", "-std=c++17", &format!("-arch=sm_{cap}"), "-I"])
        .arg(kernels)
        .arg("-o")
        .arg(&ptx)
        .arg(&src)
        .status();
    match status {
        Ok(s) if s.success() => {}
        Ok(s) => fail(&format!("nvcc failed on {} ({s})", src.display())),
        Err(e) => fail(&format!("cannot run nvcc on {}: {e}", src.display())),
    }
}

fn fail(message: &str) -> ! {
    eprintln!("error: {message}");
    panic!("kiln-kernels build failed: {message}");
}
