"""Operator and test tools built on the library packages: the ``matchbook journal`` and
``matchbook snapshot`` commands (:mod:`~matchbook.tools.journal_cli`) and the kill -9
crash harness (:mod:`~matchbook.tools.crash`)."""
