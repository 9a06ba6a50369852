#!/usr/bin/env bash
# Prepares, on a machine without a GPU, what scripts/gpu-check.sh needs on a GPU machine that
# cannot install anything (this workplace's device machines reach no package registry and lack
# the libraries cusweep links): writes .gpu/ (ignored by git), to be carried along:
#   .gpu/cusweep-gpu.tar.xz  cusweep, cusweep_tests and bench/cusweep_bench built with CUDA for
#                            sm_90 (H100/H200), and lib/: every shared library they load except
#                            the C library's own, the C++ runtime and CUDA's (the GPU machine's
#                            CUDA 13 toolkit and driver provide those)
#   .gpu/source_dir          where this checkout was when it was built: the tests find the
#                            cusweep binary and the examples under that path
#   .gpu/fashion-mnist/      the four Fashion-MNIST files, for machines without them
# Then, with the device tool: command `bash scripts/gpu-check.sh`, carry [".gpu"].
set -euo pipefail
cd "$(dirname "$0")/.."
# gpu-check.sh unpacks into build-gpu, and the tests carry this build's paths: one name for both.
build=build-gpu
scripts/setup.sh --test
CUSWEEP_BUILD_DIR=$build scripts/build.sh -DCMAKE_CUDA_ARCHITECTURES=90 -DCUSWEEP_TESTS=ON \
  -DCUSWEEP_BENCH=ON
[ -f "$build/libcusweep_cuda.a" ] || {
  echo "error: $build was built without CUDA (is nvcc in /usr/local/cuda/bin?)" >&2
  exit 1
}

stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
mkdir -p "$stage/bench" "$stage/lib"
cp "$build/cusweep" "$build/cusweep_tests" "$stage/"
cp "$build/bench/cusweep_bench" "$stage/bench/"
ldd "$stage/cusweep" "$stage/cusweep_tests" "$stage/bench/cusweep_bench" |
  awk '$2 == "=>" && $3 ~ /^\// {print $3}' | sort -u |
  while read -r lib; do
    case "$(basename "$lib")" in
      libc.so.* | libm.so.* | libmvec.so.* | libdl.so.* | libpthread.so.* | librt.so.* | \
        libresolv.so.* | ld-linux* | libstdc++.so.* | libgcc_s.so.* | libcuda.so.* | \
        libcudart.so.* | libcublas.so.* | libcublasLt.so.*) ;;
      *) cp -L "$lib" "$stage/lib/" ;;
    esac
  done

mkdir -p .gpu/fashion-mnist
tar -C "$stage" -cJf .gpu/cusweep-gpu.tar.xz .
pwd >.gpu/source_dir
cp /usr/share/datasets/fashion-mnist/*.gz .gpu/fashion-mnist/
echo "libraries carried: $(ls "$stage/lib" | tr '\n' ' ')"
du -sh .gpu .gpu/cusweep-gpu.tar.xz .gpu/fashion-mnist
total_mib=$(($(du -sb .gpu | cut -f1) / 1048576))
if [ "$total_mib" -ge 60 ]; then
  echo "error: .gpu is ${total_mib} MiB; the device tool carries at most 64 MiB with the repository" >&2
  exit 1
fi
echo "ready: device run with command 'bash scripts/gpu-check.sh', carry [\".gpu\"]"
