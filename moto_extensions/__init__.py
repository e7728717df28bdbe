"""What moto lacks or answers otherwise than AWS, made to answer as AWS does: SQS message move tasks (the
DLQ redrive), the CloudWatch console's dashboard page (metric math, percentiles and Logs Insights queries
included), S3's event notifications field for field, and one clear 501 for any other operation moto does
not implement.

None of it knows the image pipeline. The answers are WSGI middleware around moto's server app, which
local_pipeline/server.py stacks in front of moto for the local stack; the notifications are a patch of
moto in the process that runs its server.
"""

from collections.abc import Callable, Iterable
from typing import Any

WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]
