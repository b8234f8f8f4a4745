"""Shared test setup.

This directory holds no package, so pytest puts it on ``sys.path`` while loading this
file: test modules import the helpers next to it (``reference``, ``workload``) by name.
"""
