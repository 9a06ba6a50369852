#!/usr/bin/env bash
# Test (ctest): the one object compiled for AVX-512 (cpu/gemm_eigen_avx512.cc) must not give
# the linker a copy of anything another object also uses. Its weak (COMDAT) symbols must all
# be Eigen's, which nothing else instantiates, and it must run nothing when the program starts
# (no constructors), since it is loaded on CPUs without AVX-512 too.
#   scripts/check_isa_object.sh OBJECT...   (the library's objects; the AVX-512 one is picked)
set -euo pipefail
object=""
for f in "$@"; do
  [[ "$f" == *gemm_eigen_avx512* ]] && object=$f
done
if [[ -z "$object" ]]; then
  echo "no AVX-512 object among the arguments (built without Eigen): nothing to check"
  exit 0
fi
foreign=$(nm -C --defined-only "$object" | awk '$2 == "W" || $2 == "u"' | grep -v ' Eigen::' || true)
if [[ -n "$foreign" ]]; then
  echo "$object: weak symbols other than Eigen's (another object may link to these copies):"
  echo "$foreign"
  exit 1
fi
if objdump -h "$object" | grep -qE '\.init_array|\.ctors'; then
  echo "$object: has static constructors, which would run on every CPU"
  exit 1
fi
echo "$object: $(nm --defined-only "$object" | awk '$2 == "W"' | wc -l) weak symbols, all Eigen's; no constructors"
