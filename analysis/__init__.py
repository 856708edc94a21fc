"""Statistics over areas x periods count tables. Pure pandas/numpy; no Streamlit, folium or matplotlib."""
