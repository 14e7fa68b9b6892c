"""Results files of the benchmark scripts: one writer for all of them.

Each benchmark keeps its results in a JSON file (rewritten after every
finished run, so an interrupted benchmark resumes where it stopped) and
its table in a markdown file beside it (`X.json` -> `X.md`).
"""

import json
import os


def write_json(path, data, sort_keys=False, ensure_ascii=True):
    """Writes `data` to `path` atomically (a temporary file, then a rename:
    an interruption never leaves half a file), creating its folder."""
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(data, f, indent=1, sort_keys=sort_keys,
                  ensure_ascii=ensure_ascii)
        f.write("\n")
    os.replace(tmp, path)
    return path


def markdown_path(json_path):
    """`X.json` -> `X.md`."""
    return os.path.splitext(json_path)[0] + ".md"


def write_markdown(path, text):
    """Writes the markdown `text` to `path` (UTF-8); returns `path`."""
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)
    return path


def provenance(script, argv=None, **versions):
    """What a benchmark's results file records of its run: the command as
    run from the repository root (`python benchmarks/SCRIPT ARGS`), the
    CPU, and the versions given (e.g. `tensorflow=tf.__version__`)."""
    import sys

    from kzoo._machine import cpu_description

    args = sys.argv[1:] if argv is None else argv
    return {"command": " ".join(["python", f"benchmarks/{script}", *args]),
            "cpu": cpu_description(), **versions}
