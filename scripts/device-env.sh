# Source this ON THE GPU MACHINE before running a cuda build of kiln: it finds the driver's
# libcuda.so.1 and the CUDA 13 libraries (shipped there inside PyTorch's Python environment)
# and puts them on LD_LIBRARY_PATH.   source scripts/device-env.sh
_kiln_py=${PY:-/opt/torch/.venv/bin/python3}; [ -x "$_kiln_py" ] || _kiln_py=$(command -v python3)
_kiln_site=$("$_kiln_py" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])' 2>/dev/null)
_kiln_dirs=""
for _lib in libcuda.so.1 libcudart.so.13 libcublas.so.13 libcublasLt.so.13 libcurand.so.10 libnvrtc.so.13; do
  _d=$(find -H /usr/local/nvidia/lib64 /usr/lib/x86_64-linux-gnu ${_kiln_site:+$_kiln_site/nvidia} /usr/local/cuda \
        -name "$_lib" -not -path '*/stubs/*' 2>/dev/null | head -1 | xargs -r dirname)
  [ -n "$_d" ] || echo "device-env: $_lib not found" >&2
  case ":$_kiln_dirs:" in *":$_d:"*) ;; *) _kiln_dirs="$_kiln_dirs${_kiln_dirs:+:}$_d" ;; esac
done
export LD_LIBRARY_PATH="$_kiln_dirs${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
unset _kiln_py _kiln_site _kiln_dirs _lib _d
