"""Records a finished recipe run as a committed results file.

A figure quoted in the README or `docs/` needs a file in the repository
that holds it, the command that made it and the machine. A recipe run
writes all of that under its `--output-dir` (`args.json`, `metrics.json`,
`history.csv`), which is not committed (`runs/` is ignored); this copies
what matters of it into one JSON file:

    python benchmarks/record_run.py runs/face_verification \\
        benchmarks/results/face_verification.json \\
        --what "recipes/face_verification.py at its defaults" \\
        --note "run alone on the machine"

Fields: `what`, `note`, `command` (as it was run, from the repository
root), `cpu` and `machine`, `started`, the versions, every metric of
`metrics.json` (paths to files of the run dropped) and the per-epoch
`history`.
"""

import argparse
import csv
import json
import os
import sys

PATH_KEYS = ("saved_model", "backbone", "pairs_png", "keras_models",
             "export_command", "export_commands")


def _number(text):
    try:
        value = float(text)
    except ValueError:
        return text
    return int(value) if value.is_integer() and "." not in text else value


def record(run_dir, what, note=""):
    """The results dict of a finished run in `run_dir`."""
    paths = {name: os.path.join(run_dir, name)
             for name in ("args.json", "metrics.json", "history.csv")}
    for name in ("args.json", "metrics.json"):
        if not os.path.isfile(paths[name]):
            raise SystemExit(f"error: {paths[name]} is missing: is the run "
                             f"finished? Received: run_dir={run_dir}")
    with open(paths["args.json"]) as f:
        args = json.load(f)
    with open(paths["metrics.json"]) as f:
        metrics = json.load(f)
    history = []
    if os.path.isfile(paths["history.csv"]):
        with open(paths["history.csv"]) as f:
            history = [{k: _number(v) for k, v in row.items() if v != ""}
                       for row in csv.DictReader(f)]
    recipe = args["command"].split()[0]
    return {
        "what": what,
        "note": note,
        "command": f"python recipes/{args['command']}",
        "recipe": recipe,
        "cpu": args.get("cpu", args.get("machine")),
        "machine": args.get("machine"),
        "started": args.get("started"),
        "versions": {k: args[k] for k in ("tensorflow", "keras", "python",
                                          "backend") if k in args},
        "metrics": {k: v for k, v in metrics.items() if k not in PATH_KEYS},
        "history": history,
    }


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("run_dir", help="the run's --output-dir")
    parser.add_argument("out", help="the results file to write (JSON)")
    parser.add_argument("--what", required=True,
                        help="one sentence: what the run measures")
    parser.add_argument("--note", default="",
                        help="conditions: alone or not, interruptions")
    args = parser.parse_args(argv)
    from kzoo._results import write_json

    result = record(args.run_dir, args.what, args.note)
    write_json(args.out, result)
    print(f"wrote {args.out} ({len(result['metrics'])} metrics, "
          f"{len(result['history'])} epochs)", file=sys.stderr)


if __name__ == "__main__":
    main()
