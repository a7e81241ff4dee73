"""Unit tests of the evaluation (``customizer.evaluation``). A package, so its module names cannot clash with
other suites'."""
