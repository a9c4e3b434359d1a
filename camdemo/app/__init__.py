"""The Gradio app: a thin layer over camdemo's public API. ``build_demo`` makes the page; ``launch_options``
are the settings it is served with."""
