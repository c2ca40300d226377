"""The read-only web UI: job status, alerts, dashboard and a job page (no build step)."""
