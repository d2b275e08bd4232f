"""Traffic control: rate limits, injected faults and the request log.

  * SlidingWindow / RateLimits: Zendesk's limits as sliding windows on the
    simulator clock, the rate-limit headers, and the Retry-After deadline
    bookkeeping (a request that arrives before the last Retry-After expired is
    flagged in the log).
  * FaultRule / FaultTable: faults injected into /api requests by method and
    path, on the Nth matching request or with a probability.
  * RequestLog: every /api request with its outcome, for the tests.
"""

import bisect
import collections
import random
import re

from sim_base import ceil_seconds

# --- rate limits ----------------------------------------------------------------


class SlidingWindow:
    """The times of the requests accepted during the last `period` seconds."""

    __slots__ = ("period", "_times")

    def __init__(self, period):
        self.period = period
        self._times = collections.deque()

    def _prune(self, now):
        times = self._times
        while times and times[0] <= now - self.period:
            times.popleft()

    def used(self, now):
        self._prune(now)
        return len(self._times)

    def record(self, now):
        self._times.append(now)

    def free_in(self, now):
        """Seconds until the oldest request leaves the window."""
        self._prune(now)
        if not self._times:
            return self.period
        return self._times[0] + self.period - now


class Bucket:
    """One limit that applies to a request: a window, its size, a header name."""

    __slots__ = ("window", "limit", "header")

    def __init__(self, window, limit, header=None):
        self.window = window
        self.limit = limit
        self.header = header    # Zendesk-RateLimit-<header>, or None

    def header_value(self, now):
        """"total=N; remaining=N; resets=S" as in Zendesk-RateLimit-* headers."""
        remaining = max(0, self.limit - self.window.used(now))
        return "total=%d; remaining=%d; resets=%d" % (
            self.limit, remaining, ceil_seconds(self.window.free_in(now)))


class RateLimits:
    """All of the account's limits, read from the configuration when used."""

    def __init__(self, config):
        self._config = config
        self.reset()

    def reset(self):
        """Empty windows, no Retry-After deadline."""
        self._account = SlidingWindow(60)
        self._incremental = SlidingWindow(60)
        self._deleted_index = SlidingWindow(60)
        self._ticket_updates = SlidingWindow(60)
        self._user_writes = SlidingWindow(1)
        self._per_ticket_user = {}       # (ticket id, user id) -> 10-minute window
        self._per_target_user = {}       # target user key -> 1-minute window
        self.retry_deadline = None

    # the buckets an endpoint adds to the account limit

    def account(self):
        return Bucket(self._account, self._config["rate_limit_per_min"])

    def incremental(self):
        return Bucket(self._incremental, self._config["incremental_limit_per_min"],
                      "incremental-exports")

    def deleted_index(self):
        return Bucket(self._deleted_index, self._config["deleted_tickets_limit_per_min"],
                      "deleted-tickets-index")

    def ticket_update(self, ticket_id, user_id):
        """Per ticket and user (30 per 10 minutes) plus the account's update limit."""
        window = self._per_ticket_user.setdefault((ticket_id, user_id), SlidingWindow(600))
        return [Bucket(window, self._config["ticket_update_limit_per_ticket_user"],
                       "tickets-update"),
                Bucket(self._ticket_updates, self._config["ticket_update_limit_per_min"])]

    def user_write(self, target):
        """Create-or-update user: 1 per second per account, 5 per minute per user."""
        window = self._per_target_user.setdefault(target, SlidingWindow(60))
        return [Bucket(self._user_writes, self._config["user_write_limit_per_sec"]),
                Bucket(window, self._config["user_write_limit_per_user_per_min"])]

    # checking and recording

    @staticmethod
    def blocked(buckets, now):
        """Seconds to wait if any bucket is full, else None."""
        waits = [b.window.free_in(now) for b in buckets if b.window.used(now) >= b.limit]
        return ceil_seconds(max(waits)) if waits else None

    @staticmethod
    def record(buckets, now):
        for bucket in buckets:
            bucket.window.record(now)

    def headers(self, buckets, now):
        """Rate-limit headers of a response: the account's plus the endpoint's."""
        account = self.account()
        remaining = max(0, account.limit - account.window.used(now))
        reset = ceil_seconds(account.window.free_in(now))
        headers = [("X-Rate-Limit", str(account.limit)),
                   ("X-Rate-Limit-Remaining", str(remaining)),
                   ("ratelimit-limit", str(account.limit)),
                   ("ratelimit-remaining", str(remaining)),
                   ("ratelimit-reset", str(reset))]
        for bucket in buckets:
            if bucket.header:
                headers.append(("Zendesk-RateLimit-" + bucket.header,
                                bucket.header_value(now)))
        return headers

    # Retry-After bookkeeping (account-wide)

    def note_retry_after(self, now, seconds):
        """We answered with Retry-After: nobody should call before it passes."""
        deadline = now + seconds
        if self.retry_deadline is None or deadline > self.retry_deadline:
            self.retry_deadline = deadline

    def violated(self, now):
        """Does a request arriving now ignore a Retry-After we sent?"""
        return self.retry_deadline is not None and now < self.retry_deadline


# --- faults -----------------------------------------------------------------------

FAULT_KINDS = ("5xx", "429", "delay", "hang", "truncate", "reset", "apply_then_drop")


def _number(spec, key, default, low, high=None, integer=False):
    value = spec.get(key, default)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or \
            (integer and not isinstance(value, int)):
        raise ValueError("%s must be a number" % key)
    if value < low or (high is not None and value > high):
        raise ValueError("%s out of range" % key)
    return value


class FaultRule:
    """One injected fault: what it matches, when it fires, what it does."""

    def __init__(self, rule_id, spec, default_seed):
        if not isinstance(spec, dict):
            raise ValueError("a fault is a JSON object")
        unknown = set(spec) - {"kind", "method", "path", "probability", "nth", "times",
                               "status", "retry_after", "delay_ms", "hang_seconds", "seed"}
        if unknown:
            raise ValueError("unknown fault fields: %s" % ", ".join(sorted(unknown)))
        self.id = rule_id
        self.kind = spec.get("kind")
        if self.kind not in FAULT_KINDS:
            raise ValueError("kind must be one of %s" % ", ".join(FAULT_KINDS))
        method = spec.get("method")
        if method is not None and not isinstance(method, str):
            raise ValueError("method must be a string")
        self.method = method.upper() if method else None
        self.path = spec.get("path")
        try:
            self._path_re = re.compile(self.path) if self.path else None
        except (re.error, TypeError) as exc:
            raise ValueError("path is not a valid regular expression: %s" % exc) from None
        self.probability = _number(spec, "probability", None, 0, 1)
        self.nth = _number(spec, "nth", None, 1, integer=True)
        self.times = _number(spec, "times", 1 if self.nth is not None else None, 1,
                             integer=True)
        kind = self.kind
        # parameters that do not apply to the kind stay None
        self.status = _number(spec, "status", 503, 500, 599, integer=True) \
            if kind == "5xx" else None
        self.retry_after = _number(spec, "retry_after", 1 if kind == "429" else None, 1,
                                   integer=True) if kind in ("5xx", "429") else None
        self.delay_ms = _number(spec, "delay_ms", 1000, 0) if kind == "delay" else None
        self.hang_seconds = _number(spec, "hang_seconds", 300, 0) if kind == "hang" else None
        self.seed = _number(spec, "seed", default_seed, 0, integer=True)
        # seeded from seed and kind: rules of different kinds that share a seed
        # still draw independent numbers
        self._rng = random.Random("%d:%s" % (self.seed, kind))
        self.matched = 0
        self.fired = 0

    def matches(self, method, path):
        if self.method and self.method != method:
            return False
        return self._path_re is None or self._path_re.search(path) is not None

    def wants(self):
        """Count one matching request; True when the rule would fire on it."""
        self.matched += 1
        if self.times is not None and self.fired >= self.times:
            return False
        if self.nth is not None and self.matched < self.nth:
            return False
        return self.probability is None or self._rng.random() < self.probability

    def as_dict(self):
        return {"id": self.id, "kind": self.kind, "method": self.method, "path": self.path,
                "probability": self.probability, "nth": self.nth, "times": self.times,
                "status": self.status, "retry_after": self.retry_after,
                "delay_ms": self.delay_ms, "hang_seconds": self.hang_seconds,
                "seed": self.seed, "matched": self.matched, "fired": self.fired}


class FaultTable:
    """The active fault rules, in the order they were added."""

    def __init__(self):
        self.reset()

    def reset(self):
        self._rules = []
        self._next_id = 1

    def add(self, spec, default_seed):
        rule = FaultRule(self._next_id, spec, default_seed)
        self._next_id += 1
        self._rules.append(rule)
        return rule

    def remove(self, rule_id):
        """Drop one rule; False when there is none with that id."""
        kept = [r for r in self._rules if r.id != rule_id]
        found = len(kept) != len(self._rules)
        self._rules = kept
        return found

    def clear(self):
        self._rules = []

    def rules(self):
        return [r.as_dict() for r in self._rules]

    def pick(self, method, path):
        """The rule that fires on this request, or None.

        Every matching rule counts the request and decides on its own (with
        its own random draw); when several want to fire, the oldest wins.
        """
        chosen = None
        for rule in self._rules:
            if rule.matches(method, path) and rule.wants() and chosen is None:
                chosen = rule
        if chosen is not None:
            chosen.fired += 1
        return chosen


# --- request log ------------------------------------------------------------------

class RequestLog:
    """Every /api request, in arrival order."""

    def __init__(self):
        self.reset()

    def reset(self):
        self._entries = []
        self.last_seq = 0

    def clear(self):
        """Drop the entries; numbering goes on."""
        self._entries = []

    def start(self, now, request, violated):
        """A new entry for an arriving request (completed by the server)."""
        self.last_seq += 1
        entry = {"seq": self.last_seq, "time": round(now, 6), "method": request.method,
                 "path": request.path, "query": request.query, "status": None,
                 "user_id": None, "fault": None, "rate_limited": False,
                 "violated_retry_after": violated,
                 "idempotency_key": request.headers.get("Idempotency-Key"),
                 "idempotency_lookup": None, "duration_ms": None}
        self._entries.append(entry)
        return entry

    def since(self, seq, limit=None):
        """Copies of the entries with seq > `seq` (at most `limit`)."""
        start = bisect.bisect_right(self._entries, seq, key=lambda e: e["seq"])
        stop = len(self._entries) if limit is None else start + max(0, limit)
        return [dict(e) for e in self._entries[start:stop]]
