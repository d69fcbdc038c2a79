"""Load benchmarks: a real `tokend serve`, wrk, ratios measured in one run."""
