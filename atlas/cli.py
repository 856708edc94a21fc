"""`atlas`: import incidents, manage boundary sets and datasets, and write count tables."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from geo.schema import GRAINS, LEVELS, AtlasError

if TYPE_CHECKING:  # pandas only for annotations: `atlas --help` must not import it
    import pandas as pd


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `atlas` command; returns the process exit code."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["app"] and not set(argv[1:]) & {"-h", "--help"}:
        # Everything after `app` belongs to Streamlit (argparse would read --server.port as its own).
        from atlas.serve import run_app

        return run_app(argv[1:])
    parser = _build_parser()
    args = parser.parse_args(argv)
    if not hasattr(args, "run"):
        parser.print_help()
        return 2
    _defer_numpy_tools()
    try:
        return int(args.run(args) or 0)
    except AtlasError as exc:
        print(f"atlas: error: {exc}", file=sys.stderr)
        return 1


# scipy (1.17) clones the numpy namespace for its array API layer (`from numpy import *` in
# scipy._lib.array_api_compat.numpy), which imports numpy.f2py (with charset_normalizer), numpy.testing
# and numpy.ctypeslib: ~0.2 s of every command that uses scipy, for modules no command uses. They are
# loaded lazily instead: a module object is made at once, and runs on its first attribute access.
_LAZY_MODULES = frozenset({"numpy.f2py", "numpy.testing", "numpy.ctypeslib"})


class _LazySubmoduleFinder:
    """A meta path finder that loads ``_LAZY_MODULES`` with importlib.util.LazyLoader."""

    def find_spec(self, name, path=None, target=None):  # noqa: ANN001, ANN201 - importlib protocol
        if name not in _LAZY_MODULES:
            return None
        import importlib.util

        for finder in sys.meta_path:
            if finder is self or not hasattr(finder, "find_spec"):
                continue
            spec = finder.find_spec(name, path, target)
            if spec is not None:
                if spec.loader is not None and hasattr(spec.loader, "exec_module"):
                    spec.loader = importlib.util.LazyLoader(spec.loader)
                return spec
        return None


def _defer_numpy_tools() -> None:
    """Install ``_LazySubmoduleFinder`` once (before any command imports scipy); no import happens here."""
    if not any(isinstance(f, _LazySubmoduleFinder) for f in sys.meta_path):
        sys.meta_path.insert(0, _LazySubmoduleFinder())


def _build_parser() -> argparse.ArgumentParser:
    # Only argparse and constant modules here: each command imports pandas, the store etc. when it runs,
    # so `atlas --help` and `atlas COMMAND --help` start fast (tests/test_cli_startup.py).
    p = argparse.ArgumentParser(prog="atlas", description=__doc__)
    sub = p.add_subparsers(title="commands", metavar="COMMAND")

    imp = sub.add_parser("import", help="import a counts, records or police.uk file into a dataset")
    imp.add_argument("file", type=Path)
    imp.add_argument("--dataset", required=True)
    imp.add_argument("--kind", choices=["counts", "records", "policeuk"], help="default: detect from the header")
    imp.add_argument("--date-format", choices=["dd/mm/yyyy", "mm/dd/yyyy", "yyyy-mm-dd"])
    imp.add_argument("--boundaries", default=None, help="boundary set name (default: the shipped set)")
    imp.add_argument("--rejected-out", type=Path, help="where to write rejected rows (default: beside the store)")
    imp.add_argument("--sheet", help="XLSX workbook: the sheet to read (default: the first sheet with data)")
    imp.add_argument("--json", action="store_true", help="print the report as one JSON object")
    imp.set_defaults(run=_cmd_import)

    ds = sub.add_parser("datasets", help="list stored datasets")
    ds.add_argument("--json", action="store_true")
    ds.set_defaults(run=_cmd_datasets)

    rm = sub.add_parser("delete", help="delete a dataset (logged)")
    rm.add_argument("--dataset", required=True)
    rm.set_defaults(run=_cmd_delete)

    bnd = sub.add_parser("boundaries", help="list or add boundary sets")
    bsub = bnd.add_subparsers(title="boundaries commands", metavar="ACTION")
    badd = bsub.add_parser("add", help="register a boundary file (GeoJSON, GeoPackage, zipped Shapefile, GeoParquet)")
    badd.add_argument("file", type=Path)
    badd.add_argument("--name", required=True)
    badd.add_argument("--level", required=True, choices=["lsoa", "msoa", "ward", "locality"])
    badd.add_argument("--layer")
    badd.add_argument("--code-col")
    badd.add_argument("--name-col")
    badd.add_argument("--vintage", default="", help="e.g. 'LSOA 2011'")
    badd.add_argument("--replace", action="store_true", help="replace a set already added under this name")
    badd.set_defaults(run=_cmd_boundaries_add)
    blist = bsub.add_parser("list", help="list shipped and added boundary sets")
    blist.set_defaults(run=_cmd_boundaries_list)

    pop = sub.add_parser("population", help="add population for a boundary set")
    psub = pop.add_subparsers(title="population commands", metavar="ACTION")
    padd = psub.add_parser("add", help="add a population CSV (code + population columns)")
    padd.add_argument("file", type=Path)
    padd.add_argument("--boundaries", required=True)
    padd.set_defaults(run=_cmd_population_add)

    cnt = sub.add_parser("counts", help="write stored counts rolled up to a level and grain")
    cnt.add_argument("--dataset", required=True)
    cnt.add_argument("--level", choices=LEVELS, default="lsoa")
    cnt.add_argument("--grain", choices=GRAINS, default="month")
    cnt.add_argument("--category")
    cnt.add_argument("--out", type=Path, help="CSV path (default: standard output)")
    cnt.add_argument("--publication", action="store_true",
                     help="publication mode: counts perturbed (cell-key method) and 0-4 shown as '<5' (the same "
                          "rules as every other command)")
    cnt.set_defaults(run=_cmd_counts)

    demo = sub.add_parser("demo", help="(re)build the synthetic demo dataset in the store")
    demo.set_defaults(run=_cmd_demo)

    warm = sub.add_parser("warm", help="build a dataset's map caches now (import and demo start this in the "
                                       "background; ATLAS_WARM=0 switches that off)")
    warm.add_argument("--dataset", required=True)
    warm.add_argument("--marker", type=Path, help=argparse.SUPPRESS)  # set by the background start
    warm.set_defaults(run=_cmd_warm)

    # Handled in main() before parsing (its options are Streamlit's); listed here for --help.
    sub.add_parser("app", help="start the dashboard: streamlit run app.py, Streamlit options after it "
                              "(e.g. atlas app --server.port 8502)")

    from atlas.cli_analysis import add_analysis_commands
    from atlas.cli_export import add_export_commands
    from atlas.cli_prevalence import register as add_reporting_gap_command
    from atlas.cli_services import register as add_services_command

    add_analysis_commands(sub)
    add_export_commands(sub)
    add_reporting_gap_command(sub)
    add_services_command(sub)
    return p


def _cmd_import(args: argparse.Namespace) -> int:
    from atlas.importing import import_file
    from store import Store

    store = Store()
    outcome = import_file(
        store, args.file, args.dataset, kind=args.kind, date_format=args.date_format,
        boundary_set=args.boundaries, rejected_out=args.rejected_out, sheet=args.sheet,
    )
    if args.json:
        print(json.dumps(outcome.to_dict()))
    else:
        print(outcome.summary())
    from atlas.warm import warm_after_import

    warm_after_import(store, args.dataset, outcome)  # a user set: the first map of the new data need not build caches
    return 0 if outcome.rows_accepted > 0 or outcome.status == "already imported" else 1


def _cmd_datasets(args: argparse.Namespace) -> int:
    from store import Store

    table = Store().datasets()
    if args.json:
        print(table.to_json(orient="records", date_format="iso"))
    elif table.empty:
        print("no datasets stored")
    else:
        _print_table(table)
    return 0


def _cmd_delete(args: argparse.Namespace) -> int:
    from store import Store

    Store().delete_dataset(args.dataset)
    print(f"deleted dataset {args.dataset!r}")
    return 0


def _cmd_boundaries_add(args: argparse.Namespace) -> int:
    from boundaries.registry import register_boundary_set

    bset, report = register_boundary_set(
        args.file, args.name, args.level, layer=args.layer, code_col=args.code_col, name_col=args.name_col,
        vintage=args.vintage, replace=args.replace,
    )
    print(f"registered boundary set {bset.name!r} ({args.level}, {report.n_features} areas)")
    for line in report.notes:
        print(f"  note: {line}")
    if report.repaired_codes:
        print(f"  repaired invalid geometries: {', '.join(report.repaired_codes)}")
    return 0


def _cmd_boundaries_list(args: argparse.Namespace) -> int:
    import pandas as pd

    from boundaries.registry import list_boundary_sets

    rows = [
        {"name": b.name, "levels": ",".join(b.levels), "vintage": b.vintage, "shipped": b.shipped, "source": b.source}
        for b in list_boundary_sets()
    ]
    _print_table(pd.DataFrame(rows))
    return 0


def _cmd_population_add(args: argparse.Namespace) -> int:
    from boundaries.population import add_population

    table = add_population(args.file, args.boundaries)
    print(f"population added for {len(table)} areas of boundary set {args.boundaries!r}")
    return 0


def _cmd_counts(args: argparse.Namespace) -> int:
    from atlas.queries import counts_table
    from store import Store

    from atlas.publication import publication_store

    table = counts_table(publication_store(Store(), args.publication), args.dataset, level=args.level,
                         grain=args.grain, category=args.category)
    if args.publication:
        from atlas.publication import publish

        table = publish(table, "counts")
        print(table.attrs.get("publication_note", ""), file=sys.stderr)
    from atlas.safe_output import write_csv  # formula-like category and area names neutralised

    write_csv(table, args.out)
    return 0


def _print_table(table: pd.DataFrame) -> None:
    """Print a listing for people; names are neutralised as in every CSV, since such output gets pasted into sheets."""
    from atlas.safe_output import neutralise

    print(neutralise(table).to_string(index=False))


def _cmd_demo(args: argparse.Namespace) -> int:
    from demo.dataset import ensure_demo_dataset
    from store import Store

    print(f"demo dataset ready: {ensure_demo_dataset(Store())!r}")  # a shipped set: nothing to warm
    return 0


def _cmd_warm(args: argparse.Namespace) -> int:
    import os
    import time

    from atlas.warm import run_locked, warm_dataset
    from store import Store

    if args.marker is not None:  # started in the background: say who we are, give way to the user's work
        try:
            args.marker.write_text(f"{os.getpid()}\n{args.dataset}")
            os.nice(10)
        except OSError:
            pass
    t = time.perf_counter()
    done = run_locked(lambda: warm_dataset(Store(), args.dataset, progress=print), marker=args.marker)
    print(f"warmed {args.dataset!r}: {len(done)} views in {time.perf_counter() - t:.1f} s", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
