#!/usr/bin/env bash
# Sets up what `cargo build --features cuda` needs (candle 0.11 / cudarc 0.19) on a machine with
# NO GPU and NO CUDA toolkit, from NVIDIA's PyPI wheels, then writes an env file to source.
#
#   bash scripts/cuda-toolchain.sh          # once per machine (about 1.2 GB, a few minutes)
#   source ${CUDAENV:-/tmp/cudaenv}/env.sh        # in every shell that builds with cuda
#   cargo build --release -p kiln-cli --features cuda
#
# Verified 2026-11-26: a candle 0.11.1 program built this way ran on an H200 with driver 580.
# Needs python3 (venv, pip), gcc/g++ (nvcc's host compiler). Knobs: CUDAENV, CUDA_COMPUTE_CAP (90).
set -euo pipefail
CUDAENV=${CUDAENV:-/tmp/cudaenv}
CAP=${CUDA_COMPUTE_CAP:-90}
cd "$(dirname "$0")/.."
# cudarc's sources must be on disk: the stub libcuda below takes its symbol list from them
cargo fetch --locked >/dev/null
command -v g++ >/dev/null || { echo "g++ missing (nvcc needs a host compiler): apt-get install -y g++" >&2; exit 1; }

# 1. CUDA 13.0.x pieces, ALL pinned: nvcc 13.N writes PTX ISA 9.N, and driver 580 (CUDA 13.0)
#    cannot JIT PTX newer than 9.0. nvidia-cuda-nvcc pulls nvvm/crt unpinned, so pin them too.
[ -x "$CUDAENV/bin/python" ] || python3 -m venv "$CUDAENV"
"$CUDAENV/bin/pip" install -q --disable-pip-version-check \
  nvidia-cuda-nvcc==13.0.88 nvidia-cuda-crt==13.0.88 nvidia-nvvm==13.0.88 nvidia-cuda-cccl==13.0.85 \
  nvidia-cuda-runtime==13.0.96 nvidia-cuda-nvrtc==13.0.88 nvidia-cublas==13.1.0.3 nvidia-curand==10.4.0.35
CU="$("$CUDAENV/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')/nvidia/cu13"
[ -x "$CU/bin/nvcc" ] || { echo "nvcc not found under $CU" >&2; exit 1; }

# 2. A link-time CUDA root for cudarc's `dynamic-linking` (-lcuda -lcublas -lcublasLt -lcurand
#    -lnvrtc -lcudart from $CUDA_ROOT/lib and lib/stubs): unversioned symlinks for the wheels'
#    versioned libraries, and a stub libcuda.so (SONAME libcuda.so.1) with every cu* symbol of
#    cuda.h; the GPU machine's real driver library replaces it at run time.
LINK="$CUDAENV/cuda-link"
mkdir -p "$LINK/lib/stubs"
for f in "$CU"/lib/lib*.so.*; do b=${f##*/}; ln -sfn "$f" "$LINK/lib/${b%%.so.*}.so"; done
{ grep -ohE '\bcu[A-Z][A-Za-z0-9_]*' "$CU/include/cuda.h"
  for d in "${CARGO_HOME:-$HOME/.cargo}"/registry/src/*/cudarc-*/src/driver/sys; do
    [ -f "$d/mod.rs" ] && grep -oE 'fn cu[A-Z][A-Za-z0-9_]*' "$d/mod.rs" | cut -c4-
  done
} | sort -u | sed 's/.*/void &(void) {}/' > "$LINK/libcuda-stub.c"
gcc -shared -fPIC -o "$LINK/lib/stubs/libcuda.so" -Wl,-soname,libcuda.so.1 "$LINK/libcuda-stub.c"

cat > "$CUDAENV/env.sh" <<ENV
export PATH="$CU/bin:\$PATH"
export CUDA_ROOT="$LINK"
export CUDA_COMPUTE_CAP=$CAP
export CUDAFORGE_THREADS=\$(nproc)
ENV
echo "ready: source $CUDAENV/env.sh, then cargo build --release -p kiln-cli --features cuda"
echo "(if the link later misses a cu* symbol, run cargo fetch first and rerun this script)"
