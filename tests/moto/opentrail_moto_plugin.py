"""pytest plugin for running moto's tests against opentrail in moto's server mode.

moto's decorator would reset its own server with `POST /moto-api/reset`; opentrail offers
`POST /_opentrail/reset` (development mode) instead, so this plugin wipes opentrail's state
before every test and `run.sh` turns moto's reset off (`MOTO_CALL_RESET_API=false`).
"""

import os
import urllib.request

import pytest


def _reset(endpoint: str) -> None:
    request = urllib.request.Request(f"{endpoint}/_opentrail/reset", method="POST", data=b"")
    with urllib.request.urlopen(request, timeout=30) as response:
        if response.status != 200:
            raise RuntimeError(f"opentrail reset answered {response.status}")


@pytest.fixture(autouse=True)
def _opentrail_reset():
    endpoint = os.environ.get("TEST_SERVER_MODE_ENDPOINT")
    if not endpoint:
        raise RuntimeError("TEST_SERVER_MODE_ENDPOINT is not set; run tests/moto/run.sh")
    _reset(endpoint)
    yield
