"""Calls to the bridge's REST APIs that wait out their rate limit: a request answered 429 is sent
again once the wait the answer names has passed (`Retry-After-Ms`, else `Retry-After` in seconds,
else 1 s), as `config-service load-directory` does. At most BRIDGE_MAX_RATE_LIMIT_WAIT_S (300)
seconds of waiting in all per process; past that the 429 is raised as it came. Only the standard
library. The scripts of scripts/ and bench/ use it:

    import bridge_http
    with bridge_http.urlopen(request, timeout=30) as response: ...
    response = bridge_http.waiting_on_429(lambda: generated_api.sync_detailed(client=c))
"""
import math
import os
import sys
import threading
import time
import urllib.error
import urllib.request

DEFAULT_WAIT_S = 1.0
MAX_TOTAL_WAIT_S = float(os.environ.get("BRIDGE_MAX_RATE_LIMIT_WAIT_S", "300"))


class RateLimitWaits:
    """The 429s this process met and the seconds it waited on them, shared by its threads."""

    def __init__(self, max_s):
        self.max_s = max_s
        self.times = 0
        self.waited_s = 0.0
        self._lock = threading.Lock()

    def take(self, wait_s):
        """Books `wait_s` of waiting; False when it would pass the most allowed in all."""
        with self._lock:
            if self.waited_s + wait_s > self.max_s:
                return False
            self.times += 1
            self.waited_s += wait_s
            return True

    def __str__(self):
        return f"rate limited {self.times} times, waited {self.waited_s:.1f} s in all"


WAITS = RateLimitWaits(MAX_TOTAL_WAIT_S)


class RateLimited(Exception):
    """Still 429 when one more wait would pass BRIDGE_MAX_RATE_LIMIT_WAIT_S."""


def wait_of(headers):
    """Seconds a 429 with `headers` (anything with .get(name)) asks to wait: Retry-After-Ms, else
    Retry-After in seconds; DEFAULT_WAIT_S when neither is a number (a date, say)."""
    for name, scale in (("Retry-After-Ms", 1000.0), ("Retry-After", 1.0)):
        value = headers.get(name) if headers is not None else None
        try:
            seconds = float(str(value).strip()) / scale
        except (TypeError, ValueError):
            continue
        if math.isfinite(seconds) and seconds >= 0:
            return seconds
    return DEFAULT_WAIT_S


def _wait_or_give_up(what, headers, waits):
    wait_s = wait_of(headers)
    if not waits.take(wait_s):
        raise RateLimited(
            f"{what}: still answered 429 (rate limited) after {waits.times} waits, "
            f"{waits.waited_s:.1f} s in all; waiting the {wait_s:.1f} s more it asks for would "
            f"pass the {waits.max_s:g} s allowed (BRIDGE_MAX_RATE_LIMIT_WAIT_S)")
    time.sleep(wait_s)


def urlopen(request, timeout=None, waits=WAITS):
    """urllib.request.urlopen for the bridge's APIs: after a 429, waits as it says and opens the
    same request again (its body is bytes, so it is sent again as it was). Other answers and
    errors are urlopen's own; a 429 past the most allowed raises RateLimited."""
    if isinstance(request, str):
        request = urllib.request.Request(request)
    while True:
        try:
            return urllib.request.urlopen(request, timeout=timeout)
        except urllib.error.HTTPError as error:
            if error.code != 429:
                raise
            headers = error.headers
            error.close()
            _wait_or_give_up(f"{request.get_method()} {request.full_url}", headers, waits)


def waiting_on_429(send, what="request", waits=WAITS):
    """Calls `send()` (which makes and sends a request, and returns an answer with .status_code
    or .status, and .headers) again after each 429, once the wait it names has passed. `send`
    builds the request anew each time, so that a body it reads from a stream is whole again."""
    while True:
        response = send()
        status = getattr(response, "status_code", None) or getattr(response, "status", None)
        if int(status) != 429:
            return response
        _wait_or_give_up(what, response.headers, waits)


if __name__ == "__main__":
    sys.exit(__doc__)
