"""The operator tools, run as modules from the project root (`python -m scripts.reprocess`, docs/operations.md),
and the build and test scripts."""
