"""Shared plumbing of the retail services: connections, event logs, graceful stop.

Every service is an ordinary Redis client (redis-py). Nothing here knows whether the
broker is Runnel or redis-server.
"""
import argparse
import json
import os
import signal
import sys
import time

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

# Errors that mean "the broker is not reachable right now": retry after a pause.
TRANSIENT = (redis.ConnectionError, redis.TimeoutError, ConnectionError, OSError)

ORDERS = "orders"          # stream: one entry per order placed
SHIPMENTS = "shipments"    # stream: one entry per order handed to a carrier
APP_CHANNELS = "apps:*"    # Pub/Sub: apps:heartbeat:<app>, apps:error:<app>


def base_args(description):
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=6379)
    p.add_argument("--log", help="JSON-lines event log (one line per event, flushed at once)")
    return p


def connect(args, protocol=2):
    # No retries inside the client: each service decides what an unreachable broker means
    # (redis-py 6 and later retry three times by default, which would hide the outage the
    # scenario audits; 5.x did not retry).
    return redis.Redis(host=args.host, port=args.port, protocol=protocol, decode_responses=True,
                       socket_timeout=5, socket_connect_timeout=1, retry=Retry(NoBackoff(), 0))


class EventLog:
    """Append-only JSON lines; each line is written and flushed before the service acts on it,
    so the scenario can audit what every service saw and did."""

    def __init__(self, path, service):
        self.service = service
        self.f = open(path, "a", buffering=1) if path else None

    def write(self, ev, **fields):
        if self.f is None:
            return
        fields["ev"] = ev
        fields["svc"] = self.service
        fields["t"] = time.time()
        self.f.write(json.dumps(fields, separators=(",", ":")) + "\n")


class Stop:
    """SIGTERM/SIGINT ask a service to finish its current step and exit. A service started by
    the scenario also stops when the scenario is gone (its parent changed), so no worker
    outlives an interrupted run."""

    def __init__(self):
        self._set_by_signal = False
        self._parent = os.getppid()
        signal.signal(signal.SIGTERM, self._set)
        signal.signal(signal.SIGINT, self._set)

    def _set(self, *_):
        self._set_by_signal = True

    @property
    def requested(self):
        return self._set_by_signal or os.getppid() != self._parent

    def sleep(self, seconds):
        end = time.monotonic() + seconds
        while not self.requested and time.monotonic() < end:
            time.sleep(min(0.05, max(0.0, end - time.monotonic())))


def say(service, text):
    print(f"[{service}] {text}", file=sys.stderr, flush=True)
