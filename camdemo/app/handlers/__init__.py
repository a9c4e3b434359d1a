"""The app's event handlers: each takes the page's values (and ``gr.Request`` when it needs the visitor) and
returns named outputs (a ``NamedTuple`` whose field names are the names of the layout's components)."""
