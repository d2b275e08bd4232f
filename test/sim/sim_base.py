"""Foundation shared by every part of the Zendesk simulator.

What lives here:
  * the fixed identity of the simulated account (ids that Zendesk would
    assign once: brand, ticket form, group, custom field, custom statuses);
  * the simulator clock (real time plus an adjustable offset) and the
    timestamp formats Zendesk uses;
  * the run-time configuration (rate limits, export lag, latency, webhooks);
  * the wire-level Request/Response objects and the ApiError exception that
    every endpoint raises to answer with an error body;
  * compact JSON encoding.

Nothing here knows about HTTP sockets, tickets or webhooks.
"""

import json
import math
import threading
import time
import urllib.parse

# --- the simulated account --------------------------------------------------

ACCOUNT_ID = 22129848         # subdomain "acme"; the Host header is not checked
SUPPORT_ADDRESS = "support@acme.zendesk.com"

USER_ID_BASE = 8447388090000      # user ids are USER_ID_BASE + n
OBJECT_ID_BASE = 58789190000000   # audits, comments and audit events share it
BRAND_ID = 8447346621310
TICKET_FORM_ID = 8646151517822
SUPPORT_GROUP_ID = 8447320466430
CUSTOM_FIELD_ID = 27642
# System custom statuses, one per status category.  Closed tickets keep the
# "solved" custom status (closed is not a custom-status category).
CUSTOM_STATUS_IDS = {
    "new": 8447320465790,
    "open": 8447320465791,
    "pending": 8447320465792,
    "hold": 8447320465793,
    "solved": 8447320465794,
    "closed": 8447320465794,
}

STATUSES = ("new", "open", "pending", "hold", "solved", "closed")
PRIORITIES = ("urgent", "high", "normal", "low")
TICKET_TYPES = ("problem", "incident", "question", "task")
ROLES = ("end-user", "agent", "admin")

STAFF_ADMIN = {"name": "Sam Admin", "email": "admin@acme.example",
               "role": "admin", "token": "sim-admin-token"}
STAFF_AGENT = {"name": "Alex Agent", "email": "agent@acme.example",
               "role": "agent", "token": "sim-agent-token"}

# The static test signing secret of ZENDESK_API.md section 9.6 (used verbatim
# as the HMAC key, never base64-decoded).
TEST_SIGNING_SECRET = "dGhpc19zZWNyZXRfaXNfZm9yX3Rlc3Rpbmdfb25seQ=="


# --- time ---------------------------------------------------------------------

def iso(ts):
    """Epoch seconds -> Zendesk's REST timestamp "YYYY-MM-DDTHH:MM:SSZ"."""
    if ts is None:
        return None
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts))


def iso_nanos(ns):
    """Epoch nanoseconds -> RFC 3339 with 9 fractional digits (webhook time)."""
    secs, frac = divmod(ns, 1_000_000_000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(secs)) + ".%09dZ" % frac


class Clock:
    """The simulator clock: real time plus an offset that only grows.

    Every timestamp the simulator hands out (ticket times, export lag, rate
    windows, idempotency expiry, Retry-After deadlines) is read from here, so
    advancing the clock moves all of them together.
    """

    def __init__(self):
        self._offset_ns = 0
        self._guard = threading.Lock()

    def now(self):
        """Current simulator time, epoch seconds (float)."""
        return self.now_ns() / 1e9

    def now_ns(self):
        """Current simulator time, epoch nanoseconds (int)."""
        return time.time_ns() + self._offset_ns

    def seconds(self):
        """Current simulator time truncated to whole seconds."""
        return self.now_ns() // 1_000_000_000

    @property
    def offset(self):
        """Seconds the clock runs ahead of real time."""
        return self._offset_ns / 1e9

    def advance(self, seconds):
        """Move the clock forward by a non-negative number of seconds."""
        if seconds < 0:
            raise ValueError("the clock only moves forward")
        with self._guard:
            self._offset_ns += int(round(seconds * 1e9))

    def reset(self):
        """Back to real time."""
        with self._guard:
            self._offset_ns = 0


# --- configuration ------------------------------------------------------------

class Config:
    """Run-time settings, changed through POST /_sim/config.

    Some limits depend on the High Volume add-on: while their explicit value is
    None the effective value follows `high_volume` (see DERIVED).
    """

    DEFAULTS = {
        "rate_limit_per_min": None,            # 700, or 2500 with high_volume
        "incremental_limit_per_min": None,     # 10, or 30 with high_volume
        "ticket_update_limit_per_min": None,   # 100, or 300 with high_volume
        "high_volume": False,
        "ticket_update_limit_per_ticket_user": 30,   # per 10 minutes
        "deleted_tickets_limit_per_min": 10,
        "user_write_limit_per_sec": 1,
        "user_write_limit_per_user_per_min": 5,
        "export_lag_seconds": 60,
        "latency_ms": 0,
        "webhook_url": None,
        "webhook_signing_secret": TEST_SIGNING_SECRET,
        "webhook_bearer_token": None,
        "webhook_timeout_seconds": 10,
        "followup_window_seconds": None,
    }
    # key -> (value without high volume, value with high volume)
    DERIVED = {
        "rate_limit_per_min": (700, 2500),
        "incremental_limit_per_min": (10, 30),
        "ticket_update_limit_per_min": (100, 300),
    }
    _INTS = {"rate_limit_per_min", "incremental_limit_per_min",
             "ticket_update_limit_per_min", "ticket_update_limit_per_ticket_user",
             "deleted_tickets_limit_per_min", "user_write_limit_per_sec",
             "user_write_limit_per_user_per_min", "export_lag_seconds",
             "followup_window_seconds"}
    _NUMBERS = {"latency_ms", "webhook_timeout_seconds"}
    _STRINGS = {"webhook_url", "webhook_signing_secret", "webhook_bearer_token"}
    _NULLABLE = set(DERIVED) | {"webhook_url", "webhook_bearer_token",
                                "followup_window_seconds"}

    def __init__(self):
        self._values = dict(self.DEFAULTS)

    def reset(self):
        """Back to the defaults."""
        self._values = dict(self.DEFAULTS)

    def __getitem__(self, key):
        value = self._values[key]
        if value is None and key in self.DERIVED:
            return self.DERIVED[key][1 if self._values["high_volume"] else 0]
        return value

    def update(self, changes):
        """Validate and apply a dict of changes; raises ValueError."""
        if not isinstance(changes, dict):
            raise ValueError("the body must be a JSON object")
        staged = dict(self._values)
        for key, value in changes.items():
            if key not in self.DEFAULTS:
                raise ValueError("unknown setting %r" % key)
            if value is None:
                if key not in self._NULLABLE:
                    raise ValueError("%s cannot be null" % key)
            elif key == "high_volume":
                if not isinstance(value, bool):
                    raise ValueError("high_volume must be a boolean")
            elif key in self._INTS:
                if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                    raise ValueError("%s must be a non-negative integer" % key)
            elif key in self._NUMBERS:
                if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
                    raise ValueError("%s must be a non-negative number" % key)
            elif key in self._STRINGS:
                if not isinstance(value, str):
                    raise ValueError("%s must be a string" % key)
            staged[key] = value
        self._values = staged

    def as_dict(self):
        """Effective values, as GET /_sim/config shows them."""
        return {key: self[key] for key in self.DEFAULTS}


# --- JSON ---------------------------------------------------------------------

_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))


def dump_json(value):
    """Compact JSON text (UTF-8 kept as is), the way Zendesk sends it."""
    return _ENCODER.encode(value)


# --- the wire -----------------------------------------------------------------

class Request:
    """One HTTP request as the endpoints see it (already read off the socket)."""

    def __init__(self, method, target, headers, body, client_ip, base_url):
        self.method = method.upper()
        split = urllib.parse.urlsplit(target)
        self.path = urllib.parse.unquote(split.path)
        self.query = split.query
        self.params = urllib.parse.parse_qs(split.query, keep_blank_values=True)
        self.headers = headers          # case-insensitive mapping
        self.body = body
        self.client_ip = client_ip
        self.base_url = base_url        # "http://host:port" from the Host header
        self._json = None
        self._json_parsed = False

    def param(self, name, default=None):
        """First value of a query parameter."""
        values = self.params.get(name)
        return values[0] if values else default

    def json(self):
        """The body parsed as JSON ({} when empty); raises ValueError."""
        if not self._json_parsed:
            text = self.body.decode("utf-8") if self.body else ""
            self._json = json.loads(text) if text.strip() else {}
            self._json_parsed = True
        return self._json


class Response:
    """An answer: status, extra headers and a body (bytes, or None for none)."""

    def __init__(self, status, body=None, headers=None):
        self.status = status
        self.body = body
        self.headers = list(headers or [])
        self.rate_limited = False   # a 429 from a rate limit (not an injected fault)

    @classmethod
    def json(cls, status, value, headers=None):
        """A JSON response."""
        return cls(status, dump_json(value).encode("utf-8"), headers)

    def header(self, name):
        """Value of one of our headers (case-insensitive), or None."""
        lname = name.lower()
        for key, value in self.headers:
            if key.lower() == lname:
                return value
        return None


class ApiError(Exception):
    """Raised by an endpoint to answer with an error status and JSON body."""

    def __init__(self, status, body):
        super().__init__(status, body)
        self.status = status
        self.body = body

    def response(self):
        return Response.json(self.status, self.body)


def record_invalid(field, description, error="InvalidValue"):
    """422 RecordInvalid in Zendesk's validation-error shape."""
    return ApiError(422, {"error": "RecordInvalid",
                          "description": "Record validation errors",
                          "details": {field: [{"description": description,
                                               "error": error}]}})


def not_found():
    """404 for a record that does not exist (or is deleted)."""
    return ApiError(404, {"error": "RecordNotFound", "description": "Not found"})


def ceil_seconds(value):
    """Whole seconds, rounded up, at least 1 (Retry-After values)."""
    return max(1, int(math.ceil(value - 1e-9)))
