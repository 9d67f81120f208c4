"""Celery workers: the per-email pipeline, the sweeper, and what they hold per process."""
