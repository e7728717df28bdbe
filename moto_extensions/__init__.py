"""What moto's server lacks, answered in front of it as AWS answers: SQS message move tasks (the DLQ
redrive), the CloudWatch console's dashboard page (metric math, percentiles and Logs Insights queries
included), and one clear 501 for any other operation moto does not implement.

Each piece is WSGI middleware around moto's server app and knows nothing of the image pipeline:
local_pipeline/server.py stacks them in front of moto for the local stack.
"""

from collections.abc import Callable, Iterable
from typing import Any

WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]
