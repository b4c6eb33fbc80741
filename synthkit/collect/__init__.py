"""Collecting traces: tasks (Crafter, math, synth-ai style task apps), policies (litellm, scripted),
and the rollout that plays episodes and hands each one, recorded, to the trace writer."""
