"""Rubrics as code: the authoring API, the trace view, discovery, selection and grading."""
