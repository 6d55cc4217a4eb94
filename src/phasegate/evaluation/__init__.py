"""Evaluation: model versions, evaluation runs, load tests and replay suites."""
