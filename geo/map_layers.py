"""Leaflet elements of the atlas map: outlines drawn once, fills/tooltips/legend swapped per measure and period.

A map in the app has two parts. The outlines (``AreaOutlines``: simplified polygons, the view, the
attribution) depend only on which areas are shown, so they stay the same while a user steps through
periods or measures; st_folium then keeps the same Leaflet map (no iframe reload, pan and zoom kept).
What changes is a small feature group (``AreaStyle`` + ``LegendLayer``) that st_folium swaps in
place (its ``feature_group_to_add``): a colour and a tooltip per area code, and the legend. In the app
the outlines are fetched once from the server (views/_cache.outlines_url), so reruns do not resend them.
No streamlit here; the elements render in a plain folium HTML page too.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from branca.element import Element, Figure, MacroElement
from folium.template import Template

# The outline layer registers itself here: the style group finds it by this name, whatever variable
# names folium or st_folium give the elements.
AREAS_GLOBAL = "atlasAreas"
OUTLINE_COLOUR = "#555555"
OUTLINE_WEIGHT = 0.5
FILL_OPACITY = 0.75
HIGHLIGHT = {"weight": 2.5, "color": "#000000"}


TOOLTIP_CSS = ".leaflet-tooltip th{text-align:left;padding-right:8px;font-weight:600}"


class _RawScript(Element):
    """Finished JavaScript, rendered as is (branca would compile it as a Jinja template: 0.1 s for 0.4 MB)."""

    def __init__(self, text: str):
        super().__init__()
        self.text = text

    def render(self, **kwargs: object) -> str:
        return self.text


class _ScriptElement(MacroElement):
    """A MacroElement that has only a script macro and no children, added to the page as finished text.

    MacroElement.render wraps the rendered script in an Element, which compiles it as a Jinja template:
    for the style layer of 5,000 areas (0.4 MB of colours and tooltips) that was ~0.1 s of every rerun.
    """

    def render(self, **kwargs: object) -> None:
        figure = self.get_root()
        if not isinstance(figure, Figure):
            raise TypeError(f"{type(self).__name__} must be on a map inside a Figure to render")
        figure.script.add_child(_RawScript(self._template.module.script(self, kwargs)), name=self.get_name())


class AreaOutlines(_ScriptElement):
    """The areas as one L.geoJson layer (feature id = area code), filled from each feature's ``_fill``.

    The outlines arrive compact (geo.display_areas.encode_outlines: delta-coded integer rings) and are decoded
    here straight into Leaflet polygons (no intermediate GeoJSON); ``_i`` is each feature's position,
    which the style layer's arrays follow. With ``url`` (the app: a file the Streamlit server holds for
    the session) the page fetches them once as JSON, so a rerun (new period or measure) does not send
    the outlines again; without it (a standalone HTML file, tests) they are inlined as a JSON string.
    The layer exists (empty, with its key) before they arrive: the style layer waits for them.
    """

    _template = Template(
        """
        {% macro script(this, kwargs) %}
            var {{ this.get_name() }} = (function () {
                var layer = L.geoJson(null, {
                    style: function (f) {
                        return {fillColor: f.properties._fill || {{ this.no_data|tojson }},
                                color: {{ this.outline|tojson }}, weight: {{ this.weight }},
                                fillOpacity: {{ this.opacity }}};
                    }
                });
                layer.atlasKey = {{ this.key|tojson }};
                layer.atlasLoad = function (src) {
                    if (src.key !== layer.atlasKey) { return; }
                    var scale = src.scale, style = layer.options.style;
                    for (var i = 0; i < src.ids.length; i++) {
                        var latlngs = src.shapes[i].map(function (polygon) {
                            return polygon.map(function (ring) {
                                var out = new Array(ring.length / 2), x = 0, y = 0;
                                for (var j = 0; j < ring.length; j += 2) {
                                    x += ring[j]; y += ring[j + 1];
                                    out[j / 2] = new L.LatLng(y / scale, x / scale);
                                }
                                return out;
                            });
                        });
                        var feature = {type: "Feature", id: src.ids[i], properties: {_i: i}};
                        var polygon = new L.Polygon(latlngs, style(feature));
                        polygon.feature = feature;
                        layer.addLayer(polygon);
                    }
                    layer.atlasLoaded = true;
                    if (layer.atlasApply) { layer.atlasApply(); }
                };
                return layer;
            })();
            {{ this.get_name() }}.on("mouseover", function (e) { e.layer.setStyle({{ this.highlight|tojson }}); });
            {{ this.get_name() }}.on("mouseout", function (e) { {{ this.get_name() }}.resetStyle(e.layer); });
            {{ this.get_name() }}.bindTooltip(function (layer) {
                return layer.feature.properties._tip || "";
            }, {sticky: true});
            {{ this.get_name() }}.addTo({{ this._parent.get_name() }});
            window.{{ this.registry }} = {{ this.get_name() }};
            // JSON from a URL of this server; a gzip file (views/_cache.served_json) is unpacked here.
            window.atlasFetchJson = function (url) {
                return fetch(url, {credentials: "same-origin"}).then(function (r) {
                    if (!r.ok) { throw new Error("HTTP " + r.status); }
                    if ((r.headers.get("Content-Type") || "").indexOf("gzip") < 0) { return r.json(); }
                    if (typeof DecompressionStream === "undefined") {
                        var err = new Error("no DecompressionStream");
                        err.permanent = true;
                        throw err;
                    }
                    return new Response(r.body.pipeThrough(new DecompressionStream("gzip"))).json();
                });
            };
            {%- if this.url %}
            (function (layer, url) {
                var tries = 0;
                var load = function () {
                    window.atlasFetchJson(url).then(layer.atlasLoad).catch(function (err) {
                        if (err.permanent) {  // no retry helps: say so on the map
                            tries = 8;
                            if (layer._map && layer._map.attributionControl) {
                                layer._map.attributionControl.addAttribution(
                                    "Outlines need a newer browser (Chrome or Edge 80+, Firefox 113+, Safari 16.4+)");
                            }
                        }
                        // e.g. a rerun replaced the file just before this fetch: the next run serves it again
                        if (++tries < 8) { setTimeout(load, 250 * tries); } else { console.error("outlines", err); }
                    });
                };
                load();
            })({{ this.get_name() }}, {{ this.url|tojson }});
            {%- else %}
            {{ this.get_name() }}.atlasLoad(JSON.parse({{ this.outlines_literal }}));
            {%- endif %}
        {% endmacro %}
        """
    )

    def __init__(self, outlines: str, no_data: str, key: str | None = None, url: str | None = None):
        super().__init__()
        self._name = "AreaOutlines"
        # Serialised once per set of areas (geo.display_areas.DisplayAreas) and inserted verbatim: it is JSON.
        self.outlines, self.no_data, self.url = outlines, no_data, url
        self.key = key if key is not None else json.loads(outlines)["key"]
        self.outline, self.weight, self.opacity = OUTLINE_COLOUR, OUTLINE_WEIGHT, FILL_OPACITY
        self.highlight, self.registry = HIGHLIGHT, AREAS_GLOBAL

    @property
    def outlines_literal(self) -> str:
        """The outlines as a JS string literal for JSON.parse (V8 parses JSON text faster than a JS literal)."""
        return "" if self.url else _js_string(self.outlines)


def _js_string(text: str) -> str:
    """`text` as a JavaScript string literal, safe inside an HTML <script> element."""
    # json.dumps escapes quotes, backslashes and control characters; "<" as \\u003c keeps "</script>" out.
    return json.dumps(text).replace("<", "\\u003c").replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")


class AreaStyle(_ScriptElement):
    """Sets each area's fill colour and tooltip on the outline layer, as arrays in the outlines' order.

    ``key`` is the outlines' key (geo.display_areas.DisplayAreas.key): a style built for other areas is not applied.
    Colours travel as indices into ``palette``; tooltips as text columns (one per label, one value per
    area), which become an HTML table in the browser, every piece escaped there: area names come from
    user files. A tooltip's HTML is built when it first opens, not for every area up front. With
    ``tips_url`` (the app) the columns are a file the page fetches once the colours are on (``tips_json``),
    so a rerun's script carries colours only: 0.4 MB of tooltip text for 5,000 areas otherwise.
    """

    _template = Template(
        """
        {% macro script(this, kwargs) %}
            (function () {
                var key = {{ this.key|tojson }}, palette = {{ this.palette|tojson }};
                var fill = {{ this.fill_index|tojson }}, columns = {{ this.columns|tojson }};
                var labels = {{ this.labels|tojson }}, tipsUrl = {{ this.tips_url|tojson }};
                var areas = window.{{ this.registry }};
                if (!areas || areas.atlasKey !== key) { return; }
                var esc = function (s) {
                    return String(s).replace(/[&<>"']/g, function (c) { return "&#" + c.charCodeAt(0) + ";"; });
                };
                var loading = null;
                // Served tooltips (tipsUrl) arrive after the colours: an open tooltip is refreshed then.
                var loadTips = function () {
                    if (loading || !tipsUrl || !window.atlasFetchJson) { return; }
                    loading = window.atlasFetchJson(tipsUrl).then(function (data) {
                        if (data.key !== key) { return; }
                        columns = data.columns;
                        var open = areas.getTooltip && areas.getTooltip();
                        if (open && areas.isTooltipOpen()) { open.update(); }
                    }).catch(function (err) { loading = null; console.error("tooltips", err); });
                };
                var tip = function (i) {
                    if (!columns) { loadTips(); return "…"; }
                    return "<table>" + labels.map(function (label, c) {
                        return "<tr><th>" + esc(label) + "</th><td>" + esc(columns[c][i]) + "</td></tr>";
                    }).join("") + "</table>";
                };
                // The outlines may still be on their way: the outline layer applies this once they arrive.
                areas.atlasApply = function () {
                    areas.eachLayer(function (layer) {
                        var p = layer.feature.properties, i = p._i;
                        p._fill = palette[fill[i]];
                        delete p._tip;
                        Object.defineProperty(p, "_tip", {configurable: true, enumerable: false,
                                                          get: function () { return tip(i); }});
                        layer.setStyle({fillColor: p._fill});
                    });
                };
                areas.atlasApply();
                loadTips();
            })();
        {% endmacro %}
        """
    )

    def __init__(self, key: str, fills: Sequence[str], columns: Sequence[Sequence[str]], labels: Sequence[str],
                 tips_url: str | None = None):
        super().__init__()
        self._name = "AreaStyle"
        self.palette = list(dict.fromkeys(fills))
        where = {c: i for i, c in enumerate(self.palette)}
        self.key, self.fill_index = key, [where[c] for c in fills]
        # With tips_url (tips_json() served by the app) the columns are fetched, not part of every rerun's script.
        self.columns = None if tips_url else [list(c) for c in columns]
        self.labels, self.registry, self.tips_url = list(labels), AREAS_GLOBAL, tips_url

    @staticmethod
    def tips_json(key: str, columns: Sequence[Sequence[str]]) -> str:
        """What a tips_url serves: the outlines' key and the tooltip columns (one text per area, in outline order)."""
        return json.dumps({"key": key, "columns": [list(c) for c in columns]}, separators=(",", ":"))


class LegendLayer(_ScriptElement):
    """An HTML legend (a Leaflet control) that comes and goes with the feature group holding it."""

    # A control is not a layer, so a feature group cannot remove it; this small layer adds the
    # control when its group joins the map and removes it when st_folium swaps the group out.
    _template = Template(
        """
        {% macro script(this, kwargs) %}
            var {{ this.get_name() }} = new (L.Layer.extend({
                onAdd: function (map) {
                    var control = this._control = L.control({position: "bottomright"});
                    control.onAdd = function () {
                        var div = L.DomUtil.create("div", "atlas-legend");
                        div.style.cssText = "background:rgba(255,255,255,0.9);padding:6px 8px;"
                            + "font:12px/1.4 sans-serif;border-radius:4px;box-shadow:0 0 4px rgba(0,0,0,0.3);";
                        div.innerHTML = {{ this.html|tojson }};
                        return div;
                    };
                    control.addTo(map);
                },
                onRemove: function () { if (this._control) { this._control.remove(); } }
            }))();
            {{ this.get_name() }}.addTo({{ this._parent.get_name() }});
        {% endmacro %}
        """
    )

    def __init__(self, html: str):
        super().__init__()
        self._name = "LegendLayer"
        self.html = html
