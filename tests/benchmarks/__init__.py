"""Benchmark of gobbler-sdk against pygobbler and the physical limits of each workload (issue 5).

Run it with ``make bench`` or
``python -m tests.benchmarks [--quick] [--rounds N] [--only a,c] [--scale] [--json PATH]``.
Every round runs, for each workload, the floor (what the hardware and the service allow), gobbler-sdk and
pygobbler one after the other in a rotating order against the same service; a warm-up round is discarded and
the table reports medians of raw times and of per-round ratios. Nothing here is collected by pytest: the
modules have no ``test_`` prefix and ``conftest.py`` ignores the directory. ``docs/performance.md`` summarises
the latest figures for users; ``JOURNAL.md`` beside this file explains the workloads and keeps every
measurement.
"""
