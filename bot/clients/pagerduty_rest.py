"""The ``pagerduty`` library's REST client, made to hand a 429 back at once.

Kept apart from bot/clients/pagerduty.py so that the library (and httpx2, ~0.2 s to import) loads
with the first ``PagerDutyClient`` built, not with every module that reads its types.
"""

from __future__ import annotations

import pagerduty
from httpx2 import Response


class RateLimited(Exception):
    """A 429 from PagerDuty, with the response (its ``Retry-After``)."""

    def __init__(self, response: Response) -> None:
        super().__init__("429")
        self.response = response


class RestClient(pagerduty.RestApiV2Client):
    """``RestApiV2Client`` that hands a 429 back at once instead of sleeping in a loop.

    ``postprocess`` is the library's per-response hook (it runs before the retry logic); raising
    from it ends ``request()`` with the response in hand.
    """

    def postprocess(self, response: Response, suffix: str | None = None) -> None:
        super().postprocess(response, suffix)
        if response.status_code == 429:
            raise RateLimited(response)
