"""Optional sign-in: when an [auth] block is configured in secrets, nothing is shown without it."""

from __future__ import annotations

import streamlit as st
from streamlit.errors import StreamlitSecretNotFoundError

# Keys shared by every provider in Streamlit's [auth] secrets block; any other dict is a named provider.
_SHARED_KEYS = {"redirect_uri", "cookie_secret", "expose_tokens", "client_id", "client_secret",
                "server_metadata_url", "client_kwargs"}


def auth_settings() -> dict | None:
    """The [auth] secrets block, or None when sign-in is not configured."""
    try:
        if "auth" not in st.secrets:
            return None
        return dict(st.secrets["auth"])
    except (FileNotFoundError, StreamlitSecretNotFoundError):
        return None


def require_sign_in() -> None:
    """Stop the script before any data is read unless sign-in is off or the user has signed in (OIDC)."""
    settings = auth_settings()
    if settings is None:
        return
    # .get: st.user has no is_logged_in key in sessions without an identity cookie (e.g. AppTest).
    if st.user.get("is_logged_in", False):
        with st.sidebar:
            st.caption(f"Signed in as {st.user.get('email') or st.user.get('name') or 'user'}")
            st.button("Sign out", on_click=st.logout)
        return
    providers = [k for k, v in settings.items() if k not in _SHARED_KEYS and hasattr(v, "keys")]
    st.title("Hotspot Atlas")
    st.info("This Hotspot Atlas holds sensitive data. Sign in with your organisation account to continue.")
    if providers:
        for name in providers:
            st.button(f"Sign in with {name}", on_click=st.login, args=(name,), key=f"login_{name}")
    else:
        st.button("Sign in", on_click=st.login)
    st.stop()
