"""Exact vs FAISS nearest-neighbour search (`kzoo.search`), by gallery size.

For each gallery size N: N unit vectors of dimension 256 (the SSL presets'
embedding size) drawn around 1,000 random centres (so neighbours are
meaningful), and `--queries` queries drawn the same way. Timed in this
process, each the best of `--repeats`:

* `exact`: `kzoo.search.ExactIndex` (NumPy brute force), all queries;
* `faiss-exact`: FAISS `IndexFlatIP`, the same search in FAISS' kernels;
* `faiss-hnsw`: FAISS `IndexHNSWFlat` (M 32, efConstruction 80, efSearch
  64): the build, then the queries; its Recall@10 against exact search.

Also checks that exact search equals a NumPy brute force written out here
(`argsort` of the full similarity matrix) and that `faiss-exact` returns
the same neighbours. Prints a table and writes
`benchmarks/results/bench_search.json` with the CPU.

    python benchmarks/bench_search.py
"""

import argparse
import json
import os
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def clustered(n, dim, centres, rng):
    x = centres[rng.integers(0, len(centres), n)] + 0.35 * rng.normal(
        size=(n, dim)).astype(np.float32)
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def best_time(fn, repeats):
    best, out = None, None
    for _ in range(repeats):
        start = time.perf_counter()
        out = fn()
        seconds = time.perf_counter() - start
        best = seconds if best is None else min(best, seconds)
    return best, out


def main():
    import sys

    sys.path.insert(0, ROOT)
    from kzoo import search
    from kzoo.presets.build import cpu_description

    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.
                                     RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="1000,10000,100000,300000")
    parser.add_argument("--dim", type=int, default=256)
    parser.add_argument("--queries", type=int, default=100)
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--results", default=os.path.join(
        ROOT, "benchmarks", "results", "bench_search.json"))
    args = parser.parse_args()

    rng = np.random.default_rng(0)
    centres = rng.normal(size=(1000, args.dim)).astype(np.float32)
    queries = clustered(args.queries, args.dim, centres, rng)
    have_faiss = search.faiss_available()
    rows = []
    for n in [int(s) for s in args.sizes.split(",")]:
        gallery = clustered(n, args.dim, centres, rng)
        exact = search.ExactIndex(gallery)
        t_exact, (s_exact, i_exact) = best_time(
            lambda: exact.search(queries, args.k), args.repeats)
        # The brute force written out: the full similarity matrix sorted.
        sims = queries @ gallery.T
        reference = np.argsort(-sims, axis=1, kind="stable")[:, :args.k]
        row = {"gallery": n, "dim": args.dim, "queries": args.queries,
               "k": args.k, "exact_seconds": t_exact,
               "exact_equals_brute_force": bool(np.array_equal(i_exact,
                                                               reference))}
        if have_faiss:
            flat = search.FaissIndex(gallery, "faiss-exact")
            t_flat, (_, i_flat) = best_time(
                lambda: flat.search(queries, args.k), args.repeats)
            # Same neighbours up to ties in the last place.
            same = np.mean([len(set(a) & set(b)) / args.k
                            for a, b in zip(i_flat, i_exact)])
            t_build, hnsw = best_time(
                lambda: search.FaissIndex(gallery, "faiss-hnsw"), 1)
            t_hnsw, (_, i_hnsw) = best_time(
                lambda: hnsw.search(queries, args.k), args.repeats)
            recall = np.mean([len(set(a) & set(b)) / args.k
                              for a, b in zip(i_hnsw, i_exact)])
            row.update({"faiss_exact_seconds": t_flat,
                        "faiss_exact_overlap_with_exact": float(same),
                        "hnsw_build_seconds": t_build,
                        "hnsw_search_seconds": t_hnsw,
                        "hnsw_recall_at_k": float(recall)})
        rows.append(row)
        print(json.dumps(row), flush=True)

    print(f"\nCPU: {cpu_description()}; {args.queries} "
          f"queries, k={args.k}, dimension {args.dim}\n")
    print("| gallery | exact (NumPy) | FAISS exact | HNSW build | HNSW "
          "search | HNSW Recall@10 |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        ms = lambda s: f"{1000 * s:.1f} ms"  # noqa: E731
        print(f"| {r['gallery']:,} | {ms(r['exact_seconds'])} | "
              + (f"{ms(r['faiss_exact_seconds'])} | "
                 f"{r['hnsw_build_seconds']:.2f} s | "
                 f"{ms(r['hnsw_search_seconds'])} | "
                 f"{100 * r['hnsw_recall_at_k']:.1f}% |"
                 if have_faiss else "- | - | - | - |"))
    os.makedirs(os.path.dirname(args.results), exist_ok=True)
    with open(args.results, "w") as f:
        json.dump({"cpu": cpu_description(), "cores": os.cpu_count(),
                   "command": "python benchmarks/bench_search.py "
                              + " ".join(sys.argv[1:]),
                   "faiss": have_faiss, "rows": rows}, f, indent=2)
    print(f"results: {args.results}")


if __name__ == "__main__":
    main()
