#!/usr/bin/env bash
# What building kiln needs besides Rust, installed when missing; source it before cargo.
# LightGBM (kiln's gradient-boosted trees, through the lightgbm3-sys crate) is compiled from its
# vendored C++ source: it needs cmake 3.28 or newer (Debian 12 ships 3.25, so it comes from pip),
# a C++ compiler with OpenMP, and libclang for the generated bindings. See
# docs/dev/decisions/003-gbdt-lightgbm-c-api.md.
# Exports CMAKE (the cmake binary the cmake crate runs).

kiln_cmake_ok() {
  local version
  version=$("$1" --version 2>/dev/null | head -n 1 | grep -oE '[0-9]+\.[0-9]+' | head -n 1) || return 1
  [ -n "$version" ] && python3 - "$version" <<'PY'
import sys
major, minor = map(int, sys.argv[1].split("."))
sys.exit(0 if (major, minor) >= (3, 28) else 1)
PY
}

kiln_build_deps() {
  local pip_cmake
  if ! command -v c++ >/dev/null 2>&1 || ! ls /usr/lib/llvm-*/lib/libclang.so* >/dev/null 2>&1; then
    echo "== installing a C++ compiler and libclang (apt: g++ libclang-dev) for LightGBM" >&2
    if command -v apt-get >/dev/null 2>&1; then
      (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq g++ libclang-dev) >&2 \
        || { echo "could not install g++ and libclang-dev: install them and retry" >&2; return 1; }
    else
      echo "install a C++ compiler and libclang (e.g. clang development files), then retry" >&2
      return 1
    fi
  fi
  if [ -n "${CMAKE:-}" ] && kiln_cmake_ok "$CMAKE"; then
    return 0
  fi
  if command -v cmake >/dev/null 2>&1 && kiln_cmake_ok "$(command -v cmake)"; then
    CMAKE=$(command -v cmake)
  else
    pip_cmake=$(python3 -c "import cmake, os; print(os.path.join(cmake.CMAKE_BIN_DIR, 'cmake'))" 2>/dev/null || true)
    if [ -z "$pip_cmake" ] || ! kiln_cmake_ok "$pip_cmake"; then
      echo "== installing cmake >= 3.28 (pip: cmake) for LightGBM" >&2
      python3 -m pip install --quiet --disable-pip-version-check "cmake>=3.28" >&2 \
        || { echo "could not install cmake >= 3.28 with pip: install it and retry" >&2; return 1; }
      pip_cmake=$(python3 -c "import cmake, os; print(os.path.join(cmake.CMAKE_BIN_DIR, 'cmake'))")
    fi
    CMAKE=$pip_cmake
  fi
  export CMAKE
}

kiln_build_deps
