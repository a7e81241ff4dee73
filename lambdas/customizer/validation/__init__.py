"""The pre-flight check of a run's data and settings, before any money is spent: the same code in the
pipeline's first step and on the command line (``python -m customizer.validation``). Knows nothing of
Lambda; a data source is anything that yields the file's bytes in chunks."""

from customizer.validation import reader
from customizer.validation.report import Finding, Findings, Report
from customizer.validation.validator import CheckSettings, DataSource, Role, validate_data

__all__ = ["CheckSettings", "DataSource", "Finding", "Findings", "Report", "Role", "reader", "validate_data"]
