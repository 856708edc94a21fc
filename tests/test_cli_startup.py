"""`atlas --help` and `atlas COMMAND --help` start without the heavy libraries (issue 11: the CLI's start).

Building the parser needs only argparse and constant modules; each command imports pandas, the store,
the analyses ... when it runs. These tests check the modules a fresh interpreter imports (from
``python -X importtime``), not the time taken, and that the constants the parser copies
(atlas.cli_choices) still equal their sources.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
HEAVY = ("pandas", "numpy", "geopandas", "duckdb", "scipy", "streamlit", "matplotlib", "shapely", "folium",
         "pyarrow")
COMMANDS = ("import", "datasets", "delete", "boundaries", "population", "counts", "demo", "app", "rates",
            "smoothed", "rolling", "concentration", "moran", "hotspots", "emerging", "compare", "priority", "seed",
            "map", "briefing", "export", "spc", "reporting-gap", "services")


def _imported(args: list[str]) -> tuple[set[str], str]:
    """(modules imported, standard output) of ``python -X importtime ARGS`` run from the project root."""
    done = subprocess.run([sys.executable, "-X", "importtime", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    modules = {line.rsplit("|", 1)[1].strip() for line in done.stderr.splitlines()
               if line.startswith("import time:") and line.count("|") == 2}
    modules.discard("imported package")  # the header line
    assert "atlas.cli" in modules  # the parse really ran
    return modules, done.stdout


def _heavy(modules: set[str]) -> list[str]:
    return sorted(m for m in modules if m.split(".")[0] in HEAVY)


def test_top_level_help_imports_no_heavy_library_and_lists_every_command():
    modules, out = _imported(["-m", "atlas", "--help"])
    assert _heavy(modules) == []
    assert not {"atlas.analyses", "atlas.publication", "store", "geo.weights", "analysis.hotspots"} & modules
    listed = {line.split()[0] for line in out.split("commands:", 1)[1].splitlines() if line.startswith("    ")}
    assert set(COMMANDS) <= listed, set(COMMANDS) - listed


@pytest.mark.parametrize("command", [["emerging"], ["priority"], ["map"], ["export"], ["boundaries", "add"],
                                     ["app"]])
def test_command_help_imports_no_heavy_library(command):
    modules, out = _imported(["-m", "atlas", *command, "--help"])
    assert _heavy(modules) == []
    assert out.startswith(f"usage: atlas {' '.join(command)}")


def test_console_script_entry_point_help_imports_no_heavy_library():
    # pyproject's `atlas = "atlas.cli:main"`: the same as the installed `atlas` command.
    modules, out = _imported(["-c", "import sys; from atlas.cli import main; sys.exit(main(['hotspots', '--help']))"])
    assert _heavy(modules) == []
    assert "--correction {none,fdr,bonferroni}" in out


def test_parser_choices_equal_their_sources():
    from analysis.hotspots import CORRECTIONS, HotspotParams
    from analysis.priority import PriorityWeights
    from atlas import cli_choices as c
    from atlas.exports import TABLES
    from geo import schema
    from geo.classify import SCHEMES
    from geo.maps import PALETTE_LABELS
    from geo.print_page import FORMATS, ORIENTATIONS, PAPER_INCHES
    from geo.static_maps import MEASURES
    from geo.weights import METHODS

    assert METHODS is schema.WEIGHTS_METHODS and CORRECTIONS is schema.CORRECTIONS
    defaults = HotspotParams()
    assert c.HOTSPOT_DEFAULTS == {k: getattr(defaults, k) for k in c.HOTSPOT_DEFAULTS}
    assert set(c.HOTSPOT_DEFAULTS) == {"permutations", "seed", "correction", "gi_inference", "gi_correction"}
    weights = PriorityWeights()
    assert c.PRIORITY_WEIGHT_DEFAULTS == {k: getattr(weights, k) for k in weights.__dataclass_fields__}
    assert c.MAP_MEASURES == tuple(MEASURES)
    assert c.MAP_SCHEMES == tuple(SCHEMES)
    assert c.MAP_PALETTES == tuple(PALETTE_LABELS)
    assert c.MAP_FORMATS == tuple(FORMATS)
    assert c.MAP_PAPERS == tuple(PAPER_INCHES)
    assert c.MAP_ORIENTATIONS == tuple(ORIENTATIONS)
    assert c.EXPORT_TABLES == {k: v.help for k, v in TABLES.items()}


def test_cli_analysis_keeps_its_publication_names():
    from atlas import cli_analysis, publication

    assert cli_analysis._DISCLOSURE is publication.DISCLOSURE
    assert cli_analysis._WITH_TOTALS is publication.WITH_TOTALS
    assert cli_analysis._TOTAL_REVEALING is publication.TOTAL_REVEALING
    with pytest.raises(AttributeError):
        cli_analysis.no_such_name  # noqa: B018
