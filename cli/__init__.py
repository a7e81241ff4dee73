"""``bedrock-customize``: start, follow, list, compare and stop the pipeline's runs, and browse them.

Against the deployed stack (its outputs read from CloudFormation, by stack name and region, with your AWS
credentials) or, with ``--offline``, against a running ``python -m offline demo --keep-running``. Every
failure is one line on stderr saying what to do, and a non-zero exit code."""
