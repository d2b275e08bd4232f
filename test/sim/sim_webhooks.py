"""Zendesk event-subscription webhooks: payloads, signatures, log, delivery.

Every change to a ticket (REST write or agent action) emits events through an
EventBatch, one batch per action.  Each event is rendered once, to the exact
bytes Zendesk would POST, signed, and kept in the hub's log, where tests read
it (GET /_sim/webhooks) and feed the body byte for byte to the extension.
When `webhook_url` is configured, each event is also POSTed there, once, by a
background thread, and the outcome is recorded on the event.

Payload quirks kept on purpose (ZENDESK_API.md section 9.3): ids in `detail`
are JSON strings, enum values are upper case, and via.channel says
"web_service" where the REST API says "api".
"""

import base64
import bisect
import hashlib
import hmac
import json
import queue
import threading
import time
import urllib.error
import urllib.request
import uuid

from sim_base import (ACCOUNT_ID, BRAND_ID, CUSTOM_STATUS_IDS, TICKET_FORM_ID,
                      iso, iso_nanos)

WEBHOOK_ID = "01JH5Z7Q3W8C4N2M6P9R1T0V5X"
INVOCATION_ID_BASE = 8350205582
SEQUENCE_ID_BASE = 9190863564285
EVENT_VERSION = "2022-11-06"

# REST via.channel -> the Via type name webhooks use
WEBHOOK_CHANNELS = {"api": "web_service", "web": "web", "email": "mail"}


def _sid(value):
    """Ids travel as JSON strings in webhooks."""
    return None if value is None else str(value)


def _upper(value):
    return None if value is None else value.upper()


def sign(secret, timestamp, body):
    """base64(HMAC-SHA256(secret, timestamp + body)), the secret used verbatim."""
    digest = hmac.new(secret.encode("utf-8"), (timestamp + body).encode("utf-8"),
                      hashlib.sha256).digest()
    return base64.b64encode(digest).decode("ascii")


def webhook_comment_html(comment):
    """html_body as webhook captures show it (no dir attribute on <p>)."""
    if comment.html_body is not None:
        return comment.html_body
    body = comment.html()
    return body.replace('<p dir="auto">', "<p>")


def ticket_detail(t, actor_id, channel):
    """The `detail` object: the ticket's state when the event happened."""
    via = {"channel": WEBHOOK_CHANNELS.get(channel, channel)}
    if t.scrubbed:
        return {
            "actor_id": _sid(actor_id), "assignee_id": None, "brand_id": _sid(BRAND_ID),
            "created_at": iso(t.created_at), "custom_status": None, "description": "",
            "external_id": None, "form_id": None, "group_id": None, "id": _sid(t.id),
            "is_public": False, "organization_id": None, "priority": None,
            "requester_id": None, "status": "DELETED", "subject": "", "submitter_id": None,
            "tags": [], "type": None, "updated_at": iso(t.updated_at), "via": via,
        }
    return {
        "actor_id": _sid(actor_id),
        "assignee_id": _sid(t.assignee_id),
        "brand_id": _sid(BRAND_ID),
        "created_at": iso(t.created_at),
        "custom_status": _sid(CUSTOM_STATUS_IDS[t.status]),
        "description": t.description,
        "external_id": t.external_id,
        "form_id": _sid(TICKET_FORM_ID),
        "group_id": _sid(t.group_id),
        "id": _sid(t.id),
        "is_public": t.is_public,
        "organization_id": None,
        "priority": _upper(t.priority),
        "requester_id": _sid(t.requester_id),
        "status": "DELETED" if t.deleted else t.status.upper(),
        "subject": t.subject,
        "submitter_id": _sid(t.submitter_id),
        "tags": list(t.tags),
        "type": _upper(t.type),
        "updated_at": iso(t.updated_at),
        "via": via,
    }


class EventBatch:
    """The events of one action; they share event.meta.sequence.id."""

    def __init__(self, hub, actor_id, channel):
        self._hub = hub
        self._actor_id = actor_id
        self._channel = channel
        self._sequence_id = None
        self._position = 0
        self.event_ids = []

    def emit(self, ticket, kind, event=None, sequenced=True):
        """Emit zen:event-type:ticket.<kind> with the ticket's current state.

        `sequenced=False` leaves out event.meta (ticket.created is captured
        with "event": {}).
        """
        event = dict(event or {})
        if sequenced:
            if self._sequence_id is None:
                self._sequence_id = self._hub.next_sequence_id()
            self._position += 1
            event["meta"] = {"sequence": {"id": self._sequence_id,
                                          "position": self._position}}
        detail = ticket_detail(ticket, self._actor_id, self._channel)
        record = self._hub.publish(ticket.id, kind, detail, event)
        self.event_ids.append(record["event_id"])


class WebhookHub:
    """Renders, signs, stores and delivers webhook events."""

    def __init__(self, clock, config, lock):
        self._clock = clock
        self._config = config
        self._lock = lock            # the simulator's state lock
        self._queue = queue.Queue()
        self._thread = None
        self._generation = 0
        self.reset(None)

    def reset(self, rng):
        """Forget every event; a new random source for event ids."""
        self._rng = rng
        self._records = []
        self._seq = 0
        self._last_ns = 0
        self._next_sequence = SEQUENCE_ID_BASE
        self._generation += 1       # deliveries still queued are dropped

    def clear(self):
        """DELETE /_sim/webhooks: drop the stored events (numbering goes on)."""
        self._records = []

    def batch(self, actor_id, channel):
        """A new EventBatch for one action."""
        return EventBatch(self, actor_id, channel)

    def next_sequence_id(self):
        """Sequence ids look like Zendesk's: hex digits of a decimal counter."""
        self._next_sequence += 1
        return str(self._next_sequence).encode("ascii").hex()

    def _next_time_ns(self):
        """Event times strictly increase, by at least 1 microsecond."""
        ns = max(self._clock.now_ns(), self._last_ns + 1000)
        self._last_ns = ns
        return ns

    def publish(self, ticket_id, kind, detail, event):
        """Render, sign, store and (if configured) queue one event."""
        self._seq += 1
        event_id = str(uuid.UUID(int=self._rng.getrandbits(128), version=4))
        ns = self._next_time_ns()
        payload = {
            "account_id": ACCOUNT_ID,
            "detail": detail,
            "event": event,
            "id": event_id,
            "subject": "zen:ticket:%d" % ticket_id,
            "time": iso_nanos(ns),
            "type": "zen:event-type:ticket." + kind,
            "zendesk_event_version": EVENT_VERSION,
        }
        body = json.dumps(payload, sort_keys=True, separators=(",", ":"),
                          ensure_ascii=False)
        timestamp = iso(ns // 1_000_000_000)
        headers = {
            "content-type": "application/json",
            "user-agent": "Zendesk Webhook",
            "x-zendesk-account-id": str(ACCOUNT_ID),
            "x-zendesk-webhook-id": WEBHOOK_ID,
            "x-zendesk-webhook-invocation-id": str(INVOCATION_ID_BASE + self._seq),
            "x-zendesk-webhook-signature": sign(self._config["webhook_signing_secret"],
                                                timestamp, body),
            "x-zendesk-webhook-signature-timestamp": timestamp,
        }
        if self._config["webhook_bearer_token"]:
            headers["authorization"] = "Bearer " + self._config["webhook_bearer_token"]
        record = {
            "seq": self._seq,
            "event_id": event_id,
            "type": payload["type"],
            "ticket_id": ticket_id,
            "time": payload["time"],
            "body": body,
            "headers": headers,
            "delivery": None,
        }
        self._records.append(record)
        url = self._config["webhook_url"]
        if url:
            record["delivery"] = {"state": "pending"}
            self._start_thread()
            self._queue.put((self._generation, url, record))
        return record

    def events_since(self, since):
        """Stored events with seq > since (copies)."""
        start = bisect.bisect_right(self._records, since, key=lambda r: r["seq"])
        return [dict(r, headers=dict(r["headers"]),
                     delivery=dict(r["delivery"]) if r["delivery"] else None)
                for r in self._records[start:]]

    @property
    def last_seq(self):
        return self._seq

    # delivery

    def _start_thread(self):
        if self._thread is None:
            self._thread = threading.Thread(target=self._deliver_loop,
                                            name="webhook-delivery", daemon=True)
            self._thread.start()

    def _deliver_loop(self):
        while True:
            generation, url, record = self._queue.get()
            if generation != self._generation:
                continue
            with self._lock:
                timeout = self._config["webhook_timeout_seconds"]
            request = urllib.request.Request(url, data=record["body"].encode("utf-8"),
                                             headers=record["headers"], method="POST")
            started = time.monotonic()
            status = error = None
            try:
                with urllib.request.urlopen(request, timeout=timeout) as answer:
                    answer.read()
                    status = answer.status
            except urllib.error.HTTPError as exc:
                status = exc.code
                error = "HTTP %d" % exc.code
            except (OSError, ValueError) as exc:
                error = str(exc) or exc.__class__.__name__
            outcome = {
                "state": "delivered" if error is None else "failed",
                "status": status,
                "error": error,
                "duration_ms": round((time.monotonic() - started) * 1000, 1),
            }
            with self._lock:
                record["delivery"] = outcome
