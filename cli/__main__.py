"""``python -m cli``: the same as ``bedrock-customize``."""

from cli.app import main

main()
