"""Shared helpers for torify's python integration tests.

Import as `from lib import util, socksserver`; tests/run_all.py puts
tests/integration on sys.path (and so does running a test file directly,
through lib.util's path set-up in each test module)."""
