"""Runs the whole pipeline on this machine: moto's server stands in for AWS and this package plays
the Lambda service (S3 notifications, the SQS event source mapping, logs, alarms), with what moto lacks
answered in front of it by moto_extensions: the dashboard page, SQS message move tasks, and one clear
error for the rest.

Run it as `python -m local_pipeline` (or `scripts/local.sh`, which prepares the virtualenv first).
"""
