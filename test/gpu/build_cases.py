"""Compiles GPU test cases here (where MLIR is) into an artifacts folder the
GPU machine runs with test/gpu/run_cases.py.

Usage (from the repository root, after `make check`):
  PYTHONPATH=build/python_packages:test/Python /usr/bin/python3 \\
      test/gpu/build_cases.py build/gpu-cases [--per-file N] [--chip sm_90] [--options "..."]

The cases are those of the CPU golden tests (test/Python/test_*.py): each
case's IR and inputs are captured when the test calls run_cpu, and the
float64 golden results it compares against. Each case becomes a directory
with the artifact (manifest.json, PTX) and data.npz (inputs, expected
results, how to compare them).
"""

import argparse
import json
import os
import re
import sys

import numpy as np

import common as c
import golden as g
import sparse_attn

import test_attention
import test_block_mask
import test_block_sparse
import test_fused
import test_indexers
import test_token_sparse
import test_vertical_slash

sys.path.insert(0, os.path.dirname(__file__))
import mma_cases  # noqa: E402

# (title, run_case, case lists): the first cases of each list are taken.
# GPU-only lists (cpu=False) are too large for the CPU reference lowering:
# only their golden results are computed.
GPU_ONLY = {"mma", "mma_rows", "mma_attention", "mma_token", "mma_select", "mma_fused",
            "mma_vertical_slash"}
MODULES = [
    ("mma", test_block_sparse.run_case, [mma_cases.CASES]),
    ("mma_rows", test_block_sparse.run_case, [mma_cases.ROW_CASES]),
    ("mma_attention", test_attention.run_case, [mma_cases.ATTENTION_CASES]),
    ("mma_token", test_token_sparse.run_case, [mma_cases.TOKEN_CASES]),
    ("mma_select", test_indexers.run_case, [mma_cases.SELECT_CASES]),
    ("mma_fused", test_fused.run_case, [mma_cases.FUSED_CASES]),
    ("mma_vertical_slash", test_vertical_slash.run_case, [mma_cases.VS_CASES]),
    ("attention", test_attention.run_case, [test_attention.CASES]),
    ("block_sparse", test_block_sparse.run_case, [test_block_sparse.CASES]),
    ("token_sparse", test_token_sparse.run_case, [test_token_sparse.CASES]),
    ("block_mask", test_block_mask.run_case,
     [test_block_mask.STRUCTURAL, test_block_mask.DOCUMENT]),
    ("fused", test_fused.run_case, [test_fused.CASES]),
    ("vertical_slash", test_vertical_slash.run_case,
     [test_vertical_slash.COLUMNS, test_vertical_slash.VS]),
    ("indexers", test_indexers.run_case,
     [test_indexers.POOL, test_indexers.SCORES, test_indexers.TOPK, test_indexers.THRESHOLD,
      test_indexers.INDEXER]),
]


def reduced_wants(run_case, case, n, cpu, captured):
    """The float results of `case` recomputed by the golden model with
    torch's rounding points in the case's element type, per captured run;
    [] when the case has no float attention results."""
    elt = case.get("elt", "f32")
    if not any(check["kind"] == "float" and check["name"] == "out"
               for record in captured for check in record["checks"]):
        return []
    saved = list(captured)
    cpu_before = cpu[0]
    captured.clear()
    cpu[0] = False
    g.ROUND = lambda x: c.to_elt(np.nan_to_num(x, nan=np.nan), elt).astype(np.float64)
    try:
        run_case(dict(case), np.random.default_rng(1000 + n))
        reduced = [[check["want"] for check in record["checks"]] for record in captured]
    except Exception:  # noqa: BLE001 (no reduced reference: the old rule applies)
        reduced = []
    finally:
        g.ROUND = None
        cpu[0] = cpu_before
        captured.clear()
        captured.extend(saved)
    return reduced


def result_count(text):
    """The results of the function in `text` (its last `return`): as many
    placeholders as a case's checks of the result count expect."""
    returns = re.findall(r"^\s*(?:func\.)?return\s+([^:\n]*?)\s*:", text, re.M)
    return len(returns[-1].split(",")) if returns else 8


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("out")
    parser.add_argument("--per-file", type=int, default=12)
    parser.add_argument("--chip", default="sm_90")
    parser.add_argument("--options", default="", help="other sparse-attn-to-ptx-pipeline options")
    parser.add_argument("--only", default=None, help="comma-separated titles (mma, attention, ...)")
    parser.add_argument("--cases", default=None,
                        help="comma-separated case numbers within each title (default: all)")
    options = parser.parse_args()

    captured = []
    real_run, real_float, real_exact = c.run_cpu, c.check_float, c.check_exact

    cpu = [True]

    def run(text, args):
        # Without the CPU run, placeholders stand for the results; the
        # checks below only record what the GPU must match.
        results = (real_run(text, args) if cpu[0]
                   else [np.empty(0) for _ in range(result_count(text))])
        captured.append(dict(text=text, args=[np.asarray(a) for a in args],
                             results=results, checks=[]))
        return results

    def position(got):
        for n, result in enumerate(captured[-1]["results"]):
            if result is got:
                return n
        raise RuntimeError("a checked value is not a result of the last run_cpu call")

    def check_float(name, got, want, elt, row_scope="row"):
        captured[-1]["checks"].append(dict(result=position(got), kind="float", elt=elt,
                                           name=name, want=np.asarray(want)))
        return real_float(name, got, want, elt, row_scope) if cpu[0] else None

    def check_exact(name, got, want):
        captured[-1]["checks"].append(dict(result=position(got), kind="exact", elt="i32",
                                           name=name, want=np.asarray(want)))
        return real_exact(name, got, want) if cpu[0] else None

    real_attention = c.check_attention

    def check_attention(got, want, elt):
        if cpu[0]:
            return real_attention(got, want, elt)
        check_float("out", got[0], want[0], elt)
        check_float("lse", got[1], want[1], "f32", "tensor")
        return None

    real_topk = test_indexers.check_topk_tolerant

    def check_topk(name, got, scores, bound, allowed, topk, want):
        captured[-1]["checks"].append(dict(
            result=position(got), kind="topk", elt="i32", name=name, topk=topk,
            want=np.asarray(want), scores=np.asarray(scores, dtype=np.float64),
            bound=np.asarray(bound, dtype=np.float64), allowed=np.asarray(allowed)))
        return real_topk(name, got, scores, bound, allowed, topk, want) if cpu[0] else None

    test_indexers.check_topk_tolerant = check_topk
    c.run_cpu, c.check_float, c.check_exact = run, check_float, check_exact
    c.check_attention = check_attention
    written = 0
    for title, run_case, lists in MODULES:
        if options.only and title not in options.only.split(","):
            continue
        cpu[0] = title not in GPU_ONLY
        cases = [case for cases in lists for case in cases[:options.per_file]]
        for n, case in enumerate(cases):
            if options.cases and str(n) not in options.cases.split(","):
                continue
            captured.clear()
            try:
                run_case(case, np.random.default_rng(1000 + n))
            except Exception as error:  # noqa: BLE001
                print(f"skip {title} #{n}: the CPU run failed: {error}", file=sys.stderr)
                continue
            # The same computation rounded as torch rounds in the input
            # precision (golden.ROUND): its error sets the pass rule.
            reduced = reduced_wants(run_case, case, n, cpu, captured)
            for k, record in enumerate(captured):
                if not record["checks"]:
                    continue
                name = f"{title}-{n:03d}-{k}"
                directory = os.path.join(options.out, name)
                try:
                    artifact = sparse_attn.compile_gpu(record["text"], "f", options.chip,
                                                       options.options)
                except Exception as error:  # noqa: BLE001
                    print(f"FAIL {name}: compile_gpu: {error}", file=sys.stderr)
                    return 1
                artifact.save(directory)
                data = {f"arg{i}": a for i, a in enumerate(record["args"])}
                meta = dict(case=c.describe(case), checks=[])
                for j, check in enumerate(record["checks"]):
                    want = check.pop("want")
                    for extra in ("scores", "bound", "allowed"):
                        if extra in check:
                            data[f"{extra}{j}"] = check.pop(extra)
                    # float32 keeps the golden values far inside every
                    # tolerance and halves what travels to the GPU machine.
                    if want.dtype == np.float64:
                        want = want.astype(np.float32)
                    data[f"want{j}"] = want
                    if reduced and k < len(reduced) and j < len(reduced[k]):
                        data[f"ref{j}"] = reduced[k][j].astype(np.float32)
                    meta["checks"].append(check)
                meta["arg_dtypes"] = [b["dtype"] for b in sorted(
                    (b for b in artifact.plan["buffers"] if b["kind"] == "input"),
                    key=lambda b: b["input"])]
                np.savez_compressed(os.path.join(directory, "data.npz"), **data)
                with open(os.path.join(directory, "meta.json"), "w") as f:
                    json.dump(meta, f, indent=1)
                with open(os.path.join(directory, "source.mlir"), "w") as f:
                    f.write(record["text"])
                written += 1
    print(f"{written} GPU cases for {options.chip} in {options.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
