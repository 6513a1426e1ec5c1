"""Watching the model: live quality from outcomes, estimates before them, drift, incidents.

Everything here reads what the live watch recorded (the prediction log, each pass's drift
counts, the outcomes the scans brought, the outbox) and never the simulator's hidden causes;
those come in from the command line, for the post-incident review only (docs/monitoring.md).
"""
