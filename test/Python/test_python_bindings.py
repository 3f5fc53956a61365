# The bindings' own checks (parse, run_pipeline, MLIRError, run_cpu dtypes,
# shapes, ownership of results, run-time check failures, import without the
# extension), kept next to the package they test.
# RUN: %python %sparse_attn_src_root/python-bindings/tests/test_bindings.py
