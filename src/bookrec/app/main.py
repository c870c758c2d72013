"""The Streamlit entry point, ``streamlit run main.py`` (``bookrec app`` does); one file per page in views/.

The model comes from ``$BOOKREC_APP_MODEL``, else the last trained model (see ``bookrec.app``).
"""

from __future__ import annotations

import streamlit as st

from bookrec.app import state

st.set_page_config(page_title="bookrec", page_icon=":material/menu_book:", layout="wide")

pages = [
    st.Page("views/similar.py", title="Similar books", icon=":material/search:", default=True),
    st.Page("views/next_read.py", title="Your next read", icon=":material/auto_stories:"),
    st.Page("views/explore.py", title="Explore", icon=":material/map:"),
    st.Page("views/about.py", title="About this model", icon=":material/info:"),
]
navigation = st.navigation(pages)
state.sidebar_summary()
navigation.run()
