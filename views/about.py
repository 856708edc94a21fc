"""About / method page: what each statistic means, assumptions, caveats and data sources (docs/method.md)."""

from __future__ import annotations

import streamlit as st

from geo.schema import PROJECT_ROOT

METHOD_DOC = PROJECT_ROOT / "docs" / "method.md"


def method_text() -> str:
    """The method document the page shows (README links the same file)."""
    return METHOD_DOC.read_text(encoding="utf-8")


if __name__ == "__main__":  # Streamlit runs pages as __main__; tests import method_text without it
    try:
        st.markdown(method_text())
    except OSError as exc:  # a damaged install should say what is missing, not show a traceback
        st.error(f"The method notes could not be read from {METHOD_DOC}: {exc}")
