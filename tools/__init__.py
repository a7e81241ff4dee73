"""Command-line tools for operators (run with the project's virtualenv)."""
