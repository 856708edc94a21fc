#!/usr/bin/env bash
# Vendor Leaflet into static/leaflet/ so folium maps work with no internet access.
#
# How static/leaflet/ was obtained: `npm pack leaflet@1.9.3` from the npm registry
# (registry.npmjs.org), the version folium 0.20 asks for, checked against the tarball's
# integrity hash that npm prints. Only dist/leaflet.js, dist/leaflet.css, dist/images/* and the
# licence are kept (a polygons-only map needs nothing else: no jQuery, Bootstrap,
# awesome-markers or Font Awesome). Leaflet is BSD-2-Clause; its LICENSE ships beside it.
#
# Usage: scripts/vendor_leaflet.sh   (from the repository root; needs npm and tar)
set -euo pipefail

LEAFLET_VERSION="${LEAFLET_VERSION:-1.9.3}"
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
DEST="$ROOT/static/leaflet"
TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT

cd "$TMP"
npm pack "leaflet@${LEAFLET_VERSION}" --json > pack.json
tar -xzf "leaflet-${LEAFLET_VERSION}.tgz"

rm -rf "$DEST"
mkdir -p "$DEST/images"
cp package/dist/leaflet.js package/dist/leaflet.css "$DEST/"
cp package/dist/images/*.png "$DEST/images/"
cp package/LICENSE "$DEST/LICENSE"
# Record provenance (version, tarball integrity) next to the files.
python3 - "$TMP/pack.json" "$DEST/VERSION.txt" <<'PY'
import json, sys
info = json.load(open(sys.argv[1]))[0]
with open(sys.argv[2], "w") as f:
    f.write(f"{info['name']}@{info['version']} from the npm registry (npm pack)\n")
    f.write(f"integrity {info['integrity']}\nshasum {info['shasum']}\n")
PY
echo "Vendored leaflet@${LEAFLET_VERSION} into $DEST"
ls -l "$DEST" "$DEST/images"
