"""One grader for a run, declared once (``settings.grader``): the reward a reinforcement fine-tuning job trains
on and the ``grader`` metric its evaluation reports. Nothing here knows about Lambda handlers.

- ``spec``: the settings model (``GraderSettings``), strict, every error naming its path
- ``scorers``: the project's scorers (the evaluation's string metrics, numeric, regex, JSON field, weighted)
- ``reward``: the reward function's request and response (Bedrock's documented batch format)
- ``data``: the RFT training data with the run's grader embedded, for the deployed reward function
- ``invoke``: calling a grader Lambda function; ``preflight``: the check of a grader before any job

Modules are imported by name (``customizer.settings`` imports ``spec``, which needs nothing else here)."""
