"""Speed benchmarks: each module with a main() prints how long its case took against its target."""
