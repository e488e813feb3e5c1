"""Keep pytest out of the benchmark: it runs through ``python -m tests.benchmarks``, not the test suite."""

collect_ignore_glob = ["*"]
