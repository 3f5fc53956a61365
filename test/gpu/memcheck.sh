#!/bin/sh
# Runs every case of an artifacts folder (test/gpu/build_cases.py) under
# compute-sanitizer's memcheck, one process per case; prints each case's
# verdict and the sanitizer's error summary. Usage (on the GPU machine):
#   PYTHONPATH=python-bindings sh test/gpu/memcheck.sh build/gpu-small
root=$1
status=0
for case in "$root"/*/; do
  name=$(basename "$case")
  out=$(compute-sanitizer --tool memcheck --error-exitcode 9 \
        python3 test/gpu/run_cases.py "$root" "$name" 2>&1)
  code=$?
  echo "$out" | grep -E "^\[(ok|FAIL)\]|ERROR SUMMARY" | sed "s/^/$name: /"
  [ $code -eq 0 ] || status=1
done
exit $status
