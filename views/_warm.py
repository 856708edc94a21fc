"""When the app was started with plain `streamlit run app.py`: start atlas.serve's preload on the first run.

`atlas app` (the README's command) starts it with the server; this covers the other way in. Python's
import lock makes the page wait for a module the thread is importing rather than import it twice.
"""

from __future__ import annotations

import threading

import streamlit as st

from atlas.serve import preload_in_background


@st.cache_resource(show_spinner=False)
def start_warming() -> threading.Thread:
    """Start the preload thread once per server process."""
    return preload_in_background()
