"""Point folium maps at the Leaflet copy vendored in static/ so no map ever touches a CDN.

Streamlit serves ./static/X at /app/static/X when `server.enableStaticServing = true`
(.streamlit/config.toml). The assets came from the npm registry (scripts/vendor_leaflet.sh).
A polygons-only map needs Leaflet alone: folium's jQuery, Bootstrap, awesome-markers and
Font Awesome links are dropped, so any element that still needs them is refused, not silently
loaded from the internet.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import folium
from branca.element import Element, MacroElement
from folium.elements import JSCSSMixin
from folium.template import Template

from geo.static_assets import (  # noqa: F401  (re-exported: callers import them from here)
    ICON_IMAGE_PATH,
    LEAFLET_CSS,
    LEAFLET_JS,
    LEAFLET_VERSION,
    REQUIRED_FILES,
    STATIC_DIR,
    STATIC_URL,
    missing_static_files,
)

_URL_ATTR = re.compile(r"""\b(?:src|href)\s*=\s*["']([^"']*)["']""", re.IGNORECASE)


class OfflineLeafletSetup(MacroElement):
    """Sets Leaflet's default icon path and a URL-free attribution prefix on its parent map."""

    # Runs inside the map script, which st_folium eval()s after Leaflet has loaded; a <script>
    # in the header would not run there (the component appends the header with innerHTML).
    # Leaflet 1.9's default prefix links to leafletjs.com: replace it with plain text.
    _template = Template(
        """
        {% macro script(this, kwargs) %}
            L.Icon.Default.imagePath = {{ this.image_path|tojson }};
            if ({{ this._parent.get_name() }}.attributionControl) {
                {{ this._parent.get_name() }}.attributionControl.setPrefix("Leaflet");
                {%- if this.attribution %}
                {{ this._parent.get_name() }}.attributionControl.addAttribution({{ this.attribution|tojson }});
                {%- endif %}
            }
        {% endmacro %}
        """
    )

    def __init__(self, image_path: str = ICON_IMAGE_PATH, attribution: str = ""):
        super().__init__()
        self._name = "OfflineLeafletSetup"
        self.image_path = image_path
        self.attribution = attribution


def make_offline(m: folium.Map, attribution: str = "") -> folium.Map:
    """Make `m` load only the vendored Leaflet (instance override of default_js/default_css)."""
    # Instance attributes shadow folium's class-level lists: other folium users in the same
    # process are unaffected, and st_folium reads them the same way (getattr on the element).
    m.default_js = [LEAFLET_JS]
    m.default_css = [LEAFLET_CSS]
    m.add_child(OfflineLeafletSetup(attribution=attribution))
    return m


def offline_map(attribution: str = "", **kwargs: object) -> folium.Map:
    """A folium.Map with no tile layer whose only assets are the vendored Leaflet files."""
    kwargs.setdefault("tiles", None)
    if kwargs["tiles"] is not None:
        raise ValueError("offline maps take tiles=None: tile servers need the internet")
    return make_offline(folium.Map(**kwargs), attribution=attribution)


def _elements(element: Element) -> Iterator[Element]:
    yield element
    for child in getattr(element, "_children", {}).values():
        yield from _elements(child)


def external_assets(m: folium.Map) -> list[str]:
    """Script/stylesheet URLs of `m` and its children that are not served by this app."""
    urls = [
        url
        for el in _elements(m)
        if isinstance(el, JSCSSMixin)
        for _, url in [*el.default_js, *el.default_css]
    ]
    return [u for u in urls if not u.startswith(f"{STATIC_URL}/")]


def assert_offline(m: folium.Map) -> folium.Map:
    """Raise ValueError naming any asset `m` would fetch from outside the app."""
    bad = external_assets(m)
    if bad:
        raise ValueError(
            "map needs assets that are not vendored in static/ (add them with npm and point "
            f"the element at {STATIC_URL}/...): {', '.join(bad)}"
        )
    return m


def asset_urls(html: str) -> list[str]:
    """Every src= / href= attribute value in rendered HTML (what a browser would request)."""
    return _URL_ATTR.findall(html)
