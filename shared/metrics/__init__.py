"""Prometheus metrics of every process of the node (see operations.md)."""
