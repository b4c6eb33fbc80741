"""Traces: the model of a recorded episode, the SQLite store, the recording API and importers."""
