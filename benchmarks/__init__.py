"""Benchmarks: parse-time import cost, deferred-wait scale, client overhead, beside the nearest peers.

``python dev.py bench`` runs them all, prints a table and writes ``benchmarks/RESULTS.md``.
"""
