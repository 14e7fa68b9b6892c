"""`python -m kzoo.presets`: list, verify, re-measure and build presets.

    python -m kzoo.presets list
    python -m kzoo.presets verify [NAME ...]
    python -m kzoo.presets measure NAME [--subset ci|full]
    python -m kzoo.presets build NAME --run RUN_DIR [--wall-time SECONDS]
"""

import argparse
import json
import sys


def _table():
    from kzoo import presets

    rows = []
    for name in presets.names():
        card = presets.card(name)
        head = card["headline"]
        base = head.get("baseline")
        rows.append(f"{name:40s} {card['task']:18s} {head['metric']} "
                    f"{head['value']:.4f}"
                    + (f" (baseline {base:.4f})" if base is not None else ""))
    return rows or ["(no presets installed)"]


def _pct(value, metric):
    """A figure as the README prints it: percent for accuracies, plain
    for NME."""
    if value is None:
        return "-"
    if "nme" in metric:
        return f"{value:.4f}"
    return f"{100 * value:.2f}%"


def markdown_table():
    """The README's preset table, from the cards (one row per preset)."""
    from kzoo import presets

    rows = ["| preset | task | headline (test data never trained on) | "
            "baseline | target | budget | precision | wall time | trained "
            "on |",
            "|---|---|---|---|---|---|---|---|---|"]
    for name in presets.names():
        card = presets.card(name)
        head, target = card["headline"], card.get("target")
        metric = head["metric"]
        budget = ", ".join(f"{k.replace('_', ' ')} {v}"
                           for k, v in card["budget"].items()
                           if v is not None)
        if target:
            sign = ">=" if "at_least" in target else "<="
            bound = target.get("at_least", target.get("at_most"))
            goal = (f"{target['metric']} {sign} {_pct(bound, metric)}: "
                    + ("met" if target["met"] else "**missed**"))
        else:
            goal = "-"
        minutes = (card["wall_time_seconds"] or 0) / 60
        rows.append(
            f"| `{name}` | {card['task']} | {metric} "
            f"**{_pct(head['value'], metric)}** | "
            f"{_pct(head['baseline'], metric)} ({head['baseline_is']}) | "
            f"{goal} | {budget} | {card['precision']} | {minutes:.0f} min | "
            f"{card['cpu']} |")
    return "\n".join(rows)


TABLE_START = "<!-- presets table: python -m kzoo.presets table -->"
TABLE_END = "<!-- end of presets table -->"


def update_readme(path):
    """Writes `markdown_table()` between the table markers of `path`."""
    with open(path, encoding="utf-8") as f:
        text = f.read()
    if TABLE_START not in text or TABLE_END not in text:
        raise SystemExit(f"error: {path} has no presets table markers")
    head, rest = text.split(TABLE_START, 1)
    _, tail = rest.split(TABLE_END, 1)
    with open(path, "w", encoding="utf-8") as f:
        f.write(f"{head}{TABLE_START}\n{markdown_table()}\n{TABLE_END}"
                f"{tail}")


def main(argv=None):
    parser = argparse.ArgumentParser(
        prog="python -m kzoo.presets", description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("list", help="the presets and their headline metrics")
    table = sub.add_parser("table", help="the README's markdown table of "
                           "presets")
    table.add_argument("--update", metavar="FILE",
                       help="replace the table between its markers in FILE "
                       "(README.md) instead of printing it")
    verify = sub.add_parser("verify", help="check every file's sha256")
    verify.add_argument("names", nargs="*")
    meas = sub.add_parser("measure", help="re-measure a card's headline")
    meas.add_argument("name")
    meas.add_argument("--subset", choices=["ci", "full"], default="ci")
    meas.add_argument("--data-dir", default=None)
    train = sub.add_parser("train", help="run a preset's recipe with its "
                           "spec's flags (resumable), then build it")
    train.add_argument("name")
    train.add_argument("--data-dir", default="../shared/datasets")
    train.add_argument("--runs-dir", default="runs/presets")
    train.add_argument("--no-build", action="store_true",
                       help="train only.")
    build = sub.add_parser("build", help="make a preset from a recipe run")
    build.add_argument("name")
    build.add_argument("--run", required=True, help="the run's output dir")
    build.add_argument("--wall-time", type=float, default=None,
                       help="the run's wall time in seconds (all of its "
                       "processes). Default: metrics.json's.")
    build.add_argument("--commit", default=None,
                       help="kzoo's commit that trained it. Default: the "
                       "run's commit.txt.")
    build.add_argument("--notes", default=None)
    build.add_argument("--data-dir", default=None)
    build.add_argument("--out-root", default=None,
                       help="Default: kzoo/presets/files (package data).")
    args = parser.parse_args(argv)

    from kzoo import presets

    try:
        if args.command == "list":
            print("\n".join(_table()))
        elif args.command == "table":
            if args.update:
                update_readme(args.update)
            else:
                print(markdown_table())
        elif args.command == "verify":
            for name in args.names or presets.names():
                presets.verify(name)
                print(f"{name}: ok")
        elif args.command == "measure":
            from kzoo.presets import measure

            found = measure.measure(args.name, args.subset, args.data_dir)
            card = presets.card(args.name)
            print(json.dumps({"measured": found, "card": card["remeasure"][
                args.subset]}, indent=2))
        elif args.command == "train":
            import os

            from kzoo.presets import build as build_lib

            code = build_lib.train(args.name, args.data_dir, args.runs_dir)
            if code:
                print(f"error: the recipe exited {code}; see "
                      f"{args.runs_dir}/{args.name}.log (run the same "
                      "command again to resume)", file=sys.stderr)
                return code
            if not args.no_build:
                card = build_lib.build(args.name,
                                       os.path.join(args.runs_dir, args.name),
                                       data_dir=args.data_dir)
                print(json.dumps({k: card[k] for k in
                                  ("name", "headline", "target")}, indent=2))
        elif args.command == "build":
            from kzoo.presets import build as build_lib

            card = build_lib.build(args.name, args.run, args.out_root,
                                   args.wall_time, args.commit,
                                   args.data_dir, args.notes)
            print(json.dumps({k: card[k] for k in
                              ("name", "headline", "target", "remeasure",
                               "files")}, indent=2))
    except presets.PresetError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
