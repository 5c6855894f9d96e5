"""
Helpers for test_observability.py: a client for the --admin listener, parsers for the
access log and the connection trace, and a headless Chromium runner with a small PNG
reader for the dashboard tests. Like the rest of the suite they see the server from
outside only: its stdout, its stderr, its files and its sockets.
"""
