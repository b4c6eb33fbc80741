"""Judging: rendering traces for judges, the litellm call path, and the batch runner."""
