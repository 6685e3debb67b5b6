"""Tests of the Ray job entrypoints (ray_jobs/)."""
