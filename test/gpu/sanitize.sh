#!/bin/sh
# Runs every case of an artifacts folder (test/gpu/build_cases.py) under
# compute-sanitizer, one tool after another (default: memcheck, then
# racecheck), all cases in one process per tool (run_cases.py with
# SPARSE_ATTN_GPU_JOBS=0), so a report lands just before the verdict line of
# the case whose kernels it names. Prints the date, each case's verdict, the
# reports (without host backtraces) and each tool's summary; exits 1 if a
# case fails or a tool reports an error. Usage (on the GPU machine, from the
# repository root):
#   PYTHONPATH=python-bindings sh test/gpu/sanitize.sh build/gpu-cases [memcheck racecheck]
root=$1
shift
tools=${*:-memcheck racecheck}
status=0
log=$(mktemp)
echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ); $(compute-sanitizer --version | tail -1)"
for tool in $tools; do
  echo "== $tool: $root"
  SPARSE_ATTN_GPU_JOBS=0 compute-sanitizer --tool "$tool" --error-exitcode 9 \
    --print-limit 20 python3 test/gpu/run_cases.py "$root" >"$log" 2>&1 || status=1
  grep -vE "Host Frame|^=========     (at |in )|Saved host backtrace" "$log"
done
rm -f "$log"
exit $status
