"""The offline runtime: moto, the Bedrock emulator and the runner. Never deployed."""
