"""The pipeline's core: everything the Lambda steps do, with no knowledge of Lambda itself.

Handlers in ``lambdas/handlers`` parse events and call into this package; the offline runtime and the
command-line tools call it directly.
"""
