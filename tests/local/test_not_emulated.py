"""A call the local stack does not emulate: one clear error naming it, in the request's protocol, never retried."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError

from tests.local.conftest import Clients


@pytest.mark.parametrize(
    ("service", "operation", "named"),
    [
        ("cloudwatch", "describe_anomaly_detectors", "cloudwatch DescribeAnomalyDetectors"),  # JSON protocol
        ("sns", "list_origination_numbers", "sns ListOriginationNumbers"),  # query protocol, an XML answer
    ],
)
def test_an_unemulated_call_is_one_clear_error_naming_it(aws: Clients, service: str, operation: str, named: str):
    with pytest.raises(ClientError) as refused:
        getattr(aws(service), operation)()

    error = refused.value.response
    assert error["Error"]["Code"] == "NotImplemented"
    assert error["Error"]["Message"] == f"The local stack does not emulate {named}."
    assert error["ResponseMetadata"]["HTTPStatusCode"] == 501 and error["ResponseMetadata"]["RetryAttempts"] == 0
