"""What the build-here, run-there benchmarks (attention.py, decode.py,
general.py) share: their command line and their verdict line. No torch or
sparse_attn import here: the build side has neither torch nor a GPU."""

import argparse


def numerics_verdict(results):
    """Prints which cases failed their numerics check; the exit status."""
    failed = [r["case"] for r in results if not r["numerics_ok"]]
    print(f"{len(results)} cases, numerics failed: {failed or 'none'}")
    return 1 if failed else 0


def build_or_run(build, run, with_only=False):
    """`build ARTIFACTS [--chip C]` compiles here; `run ARTIFACTS OUT_DIR`
    (with `--only a,b` when the benchmark takes it) runs on the GPU."""
    parser = argparse.ArgumentParser()
    parser.add_argument("mode", choices=["build", "run"])
    parser.add_argument("paths", nargs="+")
    parser.add_argument("--chip", default="sm_90a")
    if with_only:
        parser.add_argument("--only", default=None, help="comma-separated masks to run")
    options = parser.parse_args()
    if options.mode == "build":
        build(options.paths[0], options.chip)
        return 0
    if len(options.paths) < 2:
        parser.error("run needs ARTIFACTS and OUT_DIR")
    if with_only:
        return run(options.paths[0], options.paths[1],
                   options.only.split(",") if options.only else None)
    return run(options.paths[0], options.paths[1])
