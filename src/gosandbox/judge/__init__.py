"""Judging a program's answers: how an output is compared with the expected one, and the verdicts that follow.

Pure logic, no sandbox: :mod:`.compare` finds the first difference under a comparison mode (``exact``,
``lines``, ``tokens`` with float tolerances), :mod:`.verdicts` turns a run and its comparison (or a Kattis-style
checker's exit code) into a case's status, and the cases' statuses into the submission's.
"""
