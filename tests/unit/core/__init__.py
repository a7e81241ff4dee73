"""Unit tests of the core (``customizer``). A package, so its module names cannot clash with other suites'."""
