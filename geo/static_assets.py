"""The vendored Leaflet files in static/ and their same-origin URLs (no folium import: app.py checks them first)."""

from __future__ import annotations

from pathlib import Path

from geo.schema import PROJECT_ROOT

LEAFLET_VERSION = "1.9.3"
STATIC_DIR = PROJECT_ROOT / "static"
# Same-origin URL prefix under which Streamlit serves STATIC_DIR.
STATIC_URL = "/app/static"
LEAFLET_JS: tuple[str, str] = ("leaflet", f"{STATIC_URL}/leaflet/leaflet.js")
LEAFLET_CSS: tuple[str, str] = ("leaflet_css", f"{STATIC_URL}/leaflet/leaflet.css")
ICON_IMAGE_PATH = f"{STATIC_URL}/leaflet/images/"
# Files a polygons-only map needs, relative to STATIC_DIR.
REQUIRED_FILES: tuple[str, ...] = (
    "leaflet/leaflet.js",
    "leaflet/leaflet.css",
    "leaflet/images/layers.png",
    "leaflet/images/marker-icon.png",
    "leaflet/images/marker-shadow.png",
    "leaflet/LICENSE",
)


def missing_static_files(static_dir: Path = STATIC_DIR) -> list[str]:
    """Required vendored files absent from `static_dir` (empty when the app can serve maps)."""
    return [f for f in REQUIRED_FILES if not (static_dir / f).is_file()]
