"""Views of every batch workload: `kubectl taskmill status|alerts|dashboard|why|ui`.

Everything here reads with the viewer's own credentials and normalizes under the
viewer's own policy layers (taskmill.status). Pure parts (rows, filters, sorting,
alerts, the dashboard, why) take objects and return plain data; the CLI and the web UI
only fetch and render.
"""
