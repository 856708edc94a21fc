"""Data page: import incident files, list and delete datasets, upload boundaries and locality lookups.

The handlers (handle_import, handle_boundaries, handle_localities) take (bytes, file name, options) and
never touch streamlit, so tests call them directly; the page body runs only as a Streamlit script.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import streamlit as st

from analysis.periods import DATE_FORMATS
from atlas.uploads import (
    BoundaryOptions, ImportDone, ImportOptions, boundary_columns, boundary_layers, handle_boundaries,
    handle_import, handle_localities, locality_summary,
)
from boundaries.hierarchy import reset_localities
from boundaries.registry import list_boundary_sets
from geo.schema import LEVELS, SYNTHETIC_LABEL, AtlasError
from ingest import KINDS
from views import _cache
from views._frame import current_frame, plain
from store import Store

INCIDENT_TYPES = ["csv", "gz", "xlsx"]
BOUNDARY_TYPES = ["geojson", "json", "gpkg", "zip", "parquet"]
AUTO = "auto-detect"
KIND_LABELS = {AUTO: "Detect from the header", "counts": "Counts per area and period",
               "records": "Records (one incident per row, with coordinates)", "policeuk": "police.uk street-level CSV"}
_LAST_IMPORT, _MESSAGE, _PENDING_DELETE = "data_last_import", "data_message", "data_delete_pending"


def dataset_view(datasets: pd.DataFrame) -> pd.DataFrame:
    """Store.datasets() as shown on the page."""
    periods = datasets["first_period"].fillna("").astype(str) + " – " + datasets["last_period"].fillna("").astype(str)
    return pd.DataFrame({
        "Dataset": datasets["name"], "Synthetic": datasets["synthetic"].astype(bool),
        "Boundary set": datasets["boundary_set"], "Rows": datasets["n_rows"], "Incidents": datasets["total_count"],
        "Periods": periods.where(datasets["n_rows"] > 0, ""), "Grains": datasets["grains"],
        "Imports": datasets["n_imports"],
    })


def refresh_after_boundary_change() -> None:
    """Drop cached areas and roll-ups: their keys name the boundary set, not the lookup files behind it."""
    st.cache_data.clear()
    cached = type(_cache.areas)
    for name, value in vars(_cache).items():
        # Every cached resource but the demo guard (clearing it would rebuild a deleted demo dataset).
        if isinstance(value, cached) and name != "ensure_demo":
            value.clear()


# ---------------------------------------------------------------------------------------------- page


def _show_error(exc: AtlasError) -> None:
    st.error(str(exc), icon=":material/block:")


def _show_import(done: ImportDone) -> None:
    """The validation report of the last import."""
    s, r = done.summary, done.summary.report
    text = f"**{plain(r.file_name)}** → dataset **{plain(s.dataset)}**: {s.status} ({r.kind}); {s.rows_added:,} count rows added."
    {"imported": st.success, "already imported": st.info}.get(s.status, st.warning)(text)
    c1, c2, c3 = st.columns(3)
    c1.metric("Rows read", f"{r.rows_read:,}")
    c2.metric("Rows accepted", f"{r.rows_accepted:,}")
    c3.metric("Rows rejected", f"{r.rows_rejected:,}")
    if r.reasons:
        reasons = pd.DataFrame(sorted(r.reasons.items(), key=lambda kv: -kv[1]), columns=["Reason", "Rows"])
        st.dataframe(reasons, hide_index=True, key="data_reasons")
    for note in r.notes:
        st.caption(f"Note: {note}")
    if r.dropped_columns:
        st.caption(f"Columns not kept (never stored): {', '.join(plain(c) for c in r.dropped_columns)}")
    if done.rejected_csv:
        st.download_button(
            f"Download the {r.rows_rejected:,} rejected rows (CSV)", done.rejected_csv,
            file_name=f"{Path(r.file_name).name.split('.')[0]}_rejected.csv", mime="text/csv",
            on_click="ignore", key="data_rejected_download",
        )


def _import_tab(datasets: pd.DataFrame, current: str | None) -> None:
    st.subheader("Import incidents")
    upload = st.file_uploader(
        "Incident file (CSV, CSV.GZ or XLSX)", type=INCIDENT_TYPES, key="data_upload",
        help=f"Up to {st.get_option('server.maxUploadSize')} MB (server.maxUploadSize). Coordinates, free text and "
        "unused columns are dropped after counting; only counts per area, period and category are stored.",
    )
    c1, c2 = st.columns(2)
    kind = c1.selectbox("Kind of file", [AUTO, *KINDS], format_func=KIND_LABELS.get, key="data_kind")
    date_format = c2.selectbox(
        "Date format", [AUTO, *DATE_FORMATS], key="data_date_format",
        help="Only needed when slash dates such as 03/04/2021 cannot be settled from the file itself; "
        "undecidable dates are rejected, never guessed.",
    )
    names = datasets["name"].tolist()
    mode = st.radio("Into", ["Existing dataset", "New dataset"] if names else ["New dataset"],
                    horizontal=True, key="data_target_mode")
    boundary_set = description = None
    if mode == "Existing dataset":
        target = st.selectbox("Dataset", names, index=names.index(current) if current in names else 0,
                              key="data_target")
    else:
        target = st.text_input("New dataset name", key="data_new_name").strip()
        sets = [bs.name for bs in list_boundary_sets()]
        boundary_set = st.selectbox("Boundary set", sets, key="data_new_set")
        description = st.text_input("Description (optional)", key="data_new_description")
    if st.button("Import", type="primary", disabled=upload is None, key="data_import"):
        if not target:
            st.error("Enter a name for the new dataset.")
        else:
            options = ImportOptions(target, None if kind == AUTO else kind, None if date_format == AUTO else date_format,
                                    boundary_set, description or "")
            try:
                with st.spinner(f"Importing {upload.name}…"):
                    st.session_state[_LAST_IMPORT] = handle_import(upload.getvalue(), upload.name, options)
            except AtlasError as exc:
                _show_error(exc)
            else:
                st.rerun()  # the sidebar was drawn before the import: redraw it on the new store
    if _LAST_IMPORT in st.session_state:
        _show_import(st.session_state[_LAST_IMPORT])


def _datasets_tab(store: Store, datasets: pd.DataFrame) -> None:
    st.subheader("Datasets")
    if datasets.empty:
        st.info("No datasets yet: import a file to create one.")
    else:
        st.dataframe(dataset_view(datasets), hide_index=True, key="data_datasets")
        if datasets["synthetic"].any():
            st.caption(f"Synthetic = {SYNTHETIC_LABEL}: generated counts for trying the dashboard, not real incidents.")
        target = st.selectbox("Dataset to delete", datasets["name"].tolist(), key="data_delete_target")
        if st.button("Delete dataset…", key="data_delete"):
            st.session_state[_PENDING_DELETE] = target
    pending = st.session_state.get(_PENDING_DELETE)
    if pending:
        st.warning(f"Delete **{plain(pending)}** with all its counts and import log? This cannot be undone "
                   "(the synthetic demo dataset is rebuilt when the app next starts).")
        c1, c2 = st.columns(2)
        if c1.button("Yes, delete it", type="primary", key="data_delete_confirm"):
            del st.session_state[_PENDING_DELETE]
            try:
                store.delete_dataset(pending)
            except AtlasError as exc:
                _show_error(exc)
            else:
                st.session_state[_MESSAGE] = f"Deleted dataset {plain(repr(pending))}."
                st.session_state.pop(_LAST_IMPORT, None)
                st.rerun()
        if c2.button("Cancel", key="data_delete_cancel"):
            del st.session_state[_PENDING_DELETE]
            st.rerun()
    st.subheader("Import log")
    log = store.import_log()
    if log.empty:
        st.caption("No imports yet.")
    else:
        cols = ["import_id", "dataset", "file_name", "kind", "imported_at", "rows_read", "rows_accepted",
                "rows_rejected", "rows_added", "duplicate_keys", "status"]
        st.dataframe(log[cols].assign(sha256=log["sha256"].str[:12]), hide_index=True, key="data_log")


def _boundaries_tab() -> None:
    st.subheader("Boundary sets")
    st.dataframe(pd.DataFrame([{"Name": b.name, "Levels": ", ".join(b.levels), "Vintage": b.vintage,
                                "Shipped": b.shipped} for b in list_boundary_sets()]), hide_index=True)
    upload = st.file_uploader("Boundary file (GeoJSON, GeoPackage, zipped Shapefile or GeoParquet)",
                              type=BOUNDARY_TYPES, key="data_boundary_upload")
    c1, c2, c3 = st.columns(3)
    name = c1.text_input("Set name (letters, digits, - and _)", key="data_boundary_name")
    level = c2.selectbox("Level", LEVELS, key="data_boundary_level")
    vintage = c3.text_input("Vintage, e.g. WD23 (optional)", key="data_boundary_vintage")
    layer = code_col = name_col = None
    if upload is not None:
        data = upload.getvalue()
        layers = boundary_layers(data, upload.name)
        if len(layers) > 1:
            layer = st.selectbox("GeoPackage layer", layers, key="data_boundary_layer")
        columns = boundary_columns(data, upload.name, layer)
        with st.expander("Code and name columns (only if detection fails)"):
            detect = "(detect)"
            code_col = st.selectbox("Code column", [detect, *columns], key="data_boundary_code")
            name_col = st.selectbox("Name column", [detect, *columns], key="data_boundary_namecol")
            code_col, name_col = (None if c == detect else c for c in (code_col, name_col))
    if st.button("Register boundaries", disabled=upload is None, key="data_boundary_register"):
        try:
            with st.spinner(f"Checking {upload.name}…"):
                bs, report = handle_boundaries(upload.getvalue(), upload.name,
                                               BoundaryOptions(name, level, layer, code_col, name_col, vintage))
        except AtlasError as exc:
            _show_error(exc)
        else:
            st.success(f"Registered **{bs.name}** ({level}): {report.n_features:,} areas from {plain(report.file)}"
                       + (f", layer {plain(report.layer)}" if report.layer else "") + ".")
            st.caption(f"Code column {plain(report.code_col)}; name column {plain(report.name_col) if report.name_col else '(none)'}.")
            if report.reprojected_from:
                st.caption(f"Reprojected from {report.reprojected_from} to British National Grid (EPSG:27700).")
            if report.repaired_codes:
                st.caption(f"Repaired invalid geometry of {len(report.repaired_codes)} areas: "
                           f"{', '.join(report.repaired_codes[:10])}")
            for note in report.notes:
                st.caption(f"Note: {note}")


def _localities_tab() -> None:
    st.subheader("Localities")
    sets = [b.name for b in list_boundary_sets() if "locality" in b.levels]
    if not sets:
        st.info("No boundary set has a locality level (it needs wards).")
        return
    bs = st.selectbox("Boundary set", sets, key="data_localities_set")
    st.caption("Upload a CSV or Excel workbook (.xlsx, first sheet) with columns ward_code,locality. Wards it "
               "does not list form one locality per local authority. The shipped file is example localities, "
               "not an official geography.")
    upload = st.file_uploader("Localities CSV or XLSX", type=["csv", "xlsx"], key="data_localities_upload")
    c1, c2 = st.columns(2)
    if c1.button("Use these localities", disabled=upload is None, key="data_localities_set_btn"):
        try:
            handle_localities(upload.getvalue(), upload.name, bs)
        except AtlasError as exc:
            _show_error(exc)
        else:
            refresh_after_boundary_change()
            st.session_state[_MESSAGE] = f"Localities of {bs} now come from {plain(upload.name)}."
            st.rerun()
    if c2.button("Reset to the shipped example", key="data_localities_reset"):
        reset_localities(bs)
        refresh_after_boundary_change()
        st.session_state[_MESSAGE] = f"Localities of {bs} reset to the shipped example."
        st.rerun()
    try:
        st.dataframe(locality_summary(bs), hide_index=True, key="data_localities")
    except AtlasError as exc:
        _show_error(exc)


def render() -> None:
    """The Data page."""
    st.header("Data")
    if _MESSAGE in st.session_state:
        st.success(st.session_state.pop(_MESSAGE))
    key = _cache.store_key()
    store, datasets = Store(key[0]), _cache.dataset_table(key)
    frame = current_frame()
    tabs = st.tabs(["Import", "Datasets", "Boundaries", "Localities"])
    with tabs[0]:
        _import_tab(datasets, frame.dataset if frame else None)
    with tabs[1]:
        _datasets_tab(store, datasets)
    with tabs[2]:
        _boundaries_tab()
    with tabs[3]:
        _localities_tab()


if __name__ == "__main__":  # Streamlit runs pages as __main__; tests import the handlers without it
    render()
