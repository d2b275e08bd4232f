"""The Zendesk account's data: users, tickets, comments and audits.

Storage is built for size (100,000 tickets with 300,000 comments): objects use
__slots__, shared dicts stand in for repeated metadata, audit child-event ids
are derived instead of stored, and JSON is rendered only when asked for.

Two ordered indexes make the incremental exports O(page):
  * tickets by (generated_timestamp, id);
  * audits by (timestamp, audit id).

The primitives here (new_ticket, add_audit, apply_changes, touch) keep those
indexes right; the Zendesk rules that decide which primitives a change needs
live in sim_desk.py.  The second half of the module renders the REST shapes.
"""

import bisect
import html

from sim_base import (BRAND_ID, CUSTOM_FIELD_ID, CUSTOM_STATUS_IDS,
                      OBJECT_ID_BASE, SUPPORT_GROUP_ID, TICKET_FORM_ID,
                      USER_ID_BASE, iso, not_found)

# --- shared metadata ------------------------------------------------------------

EMPTY_SOURCE = {"from": {}, "to": {}, "rel": None}

# audit metadata.system by channel (API requests carry their own client/IP)
SYSTEM_WEB = {"client": "Mozilla/5.0 (X11; Linux x86_64)", "ip_address": "198.51.100.7",
              "location": "Berlin, BE, Germany", "latitude": 52.52, "longitude": 13.405}
SYSTEM_EMAIL = {"client": "Zendesk Mail", "ip_address": None, "location": None,
                "latitude": None, "longitude": None}

# the `via` string used by the ticket-events export, per channel
VIA_NAMES = {"api": "Web Service", "web": "Web form", "email": "Email"}

DEFAULT_CUSTOM_FIELDS = ((CUSTOM_FIELD_ID, None),)


def api_system(user_agent, ip_address):
    """metadata.system of an audit made through the REST API."""
    return {"client": user_agent, "ip_address": ip_address,
            "location": "Berlin, BE, Germany", "latitude": 52.52, "longitude": 13.405}


def comment_html(body):
    """The html_body Zendesk derives from a plain `body`."""
    return ('<div class="zd-comment" dir="auto"><p dir="auto">%s</p></div>'
            % html.escape(body, quote=False))


# --- records --------------------------------------------------------------------

class User:
    """A Zendesk user (end-user, agent or admin)."""

    __slots__ = ("id", "name", "email", "role", "external_id", "created_at",
                 "updated_at", "verified", "active", "suspended", "locale_id",
                 "last_login_at")

    @property
    def is_staff(self):
        return self.role != "end-user"


class Ticket:
    """A ticket.  `status` is always the real status; deletion is a flag."""

    __slots__ = ("id", "external_id", "via_channel", "via_source", "recipient",
                 "created_at", "updated_at", "gts", "type", "subject", "priority",
                 "status", "requester_id", "submitter_id", "assignee_id", "group_id",
                 "tags", "custom_fields", "is_public", "followup_ids", "comments",
                 "audits", "deleted", "deleted_at", "deleted_by", "previous_state",
                 "scrubbed", "merged_into", "ai_agent", "closed_at")

    @property
    def description(self):
        """The first comment's body."""
        return self.comments[0].body if self.comments else ""

    @property
    def gone(self):
        """Soft-deleted or scrubbed: the REST API answers 404 for it."""
        return self.deleted or self.scrubbed


class Comment:
    """A comment; its time, via and metadata are those of its audit."""

    __slots__ = ("id", "audit", "author_id", "body", "html_body", "public")

    def html(self):
        return self.html_body if self.html_body is not None else comment_html(self.body)


class Audit:
    """An audit: one change to a ticket, with its child events.

    `events` is a tuple of (kind, field, value, previous) tuples, kind "Create"
    or "Change".  Child ids are derived: the comment (if any) is id + 1 and
    the events follow in order, as in Zendesk's own responses.
    """

    __slots__ = ("id", "ticket", "ts", "author_id", "channel", "via_source",
                 "system", "custom", "comment", "events", "merged_ticket_ids")

    def event_ids(self):
        """(id, event) pairs of the non-comment child events."""
        first = self.id + (2 if self.comment is not None else 1)
        return [(first + i, ev) for i, ev in enumerate(self.events)]


class SortedIndex:
    """A sorted list of (time, id) keys with bisect lookups."""

    __slots__ = ("keys",)

    def __init__(self):
        self.keys = []

    def add(self, key):
        keys = self.keys
        if not keys or keys[-1] < key:
            keys.append(key)
        else:
            bisect.insort(keys, key)

    def remove(self, key):
        i = bisect.bisect_left(self.keys, key)
        if i < len(self.keys) and self.keys[i] == key:
            del self.keys[i]

    def extend(self, keys):
        """Add many keys at once (one sort instead of many inserts)."""
        self.keys.extend(keys)
        self.keys.sort()

    def index_after(self, key):
        """Position of the first key strictly greater than `key`."""
        return bisect.bisect_right(self.keys, key)

    def index_from(self, key):
        """Position of the first key greater than or equal to `key`."""
        return bisect.bisect_left(self.keys, key)


# --- the account ----------------------------------------------------------------

class Account:
    """Everything stored in the simulated Zendesk account."""

    def __init__(self):
        self.clear()

    def clear(self):
        """An empty account: no users, no tickets, ids start over."""
        self.users = {}
        self.users_by_email = {}          # lower-cased e-mail -> User
        self.users_by_external_id = {}    # lower-cased external id -> User
        self.api_tokens = {}              # API token -> id of the user who owns it
        self.oauth_tokens = {}            # OAuth access token -> user id
        self.tickets = {}
        self.ticket_index = SortedIndex()     # (generated_timestamp, id)
        self.audits = {}
        self.audit_index = SortedIndex()      # (timestamp, audit id)
        self.jobs = {}
        self._next_user = USER_ID_BASE + 1
        self._next_ticket = 1
        self._next_object = OBJECT_ID_BASE + 1

    # ids

    def object_ids(self, count):
        """Reserve `count` consecutive ids for audits, comments and events."""
        first = self._next_object
        self._next_object += count
        return first

    # users

    def add_user(self, name, email, role, ts, *, external_id=None, verified=True,
                 locale_id=1):
        """Create a user and index it."""
        user = User()
        user.id = self._next_user
        self._next_user += 1
        user.name = name
        user.email = email
        user.role = role
        user.external_id = external_id
        user.created_at = user.updated_at = ts
        user.verified = verified
        user.active = True
        user.suspended = False
        user.locale_id = locale_id
        user.last_login_at = ts if role != "end-user" else None
        self.users[user.id] = user
        if email:
            self.users_by_email[email.lower()] = user
        if external_id:
            self.users_by_external_id[external_id.lower()] = user
        return user

    def set_external_id(self, user, external_id):
        """Change a user's external id, keeping the index right."""
        if user.external_id:
            self.users_by_external_id.pop(user.external_id.lower(), None)
        user.external_id = external_id
        if external_id:
            self.users_by_external_id[external_id.lower()] = user

    def user_by_email(self, email):
        """E-mail lookup, case-insensitive like Zendesk's."""
        return self.users_by_email.get(email.lower()) if email else None

    def user_name(self, user_id):
        user = self.users.get(user_id)
        return user.name if user else None

    # tickets

    def new_ticket(self, ts, *, requester_id, submitter_id, subject, via_channel,
                   via_source=EMPTY_SOURCE, recipient=None, status="new",
                   priority=None, ticket_type=None, tags=(), custom_fields=None,
                   external_id=None, ai_agent=False, index=True):
        """Create a ticket (without audits).

        With index=False the ticket is not registered yet: the caller hands it
        to bulk_load later (bulk seeding).
        """
        t = Ticket()
        t.id = self._next_ticket
        self._next_ticket += 1
        t.external_id = external_id
        t.via_channel = via_channel
        t.via_source = via_source
        t.recipient = recipient
        t.created_at = t.updated_at = t.gts = ts
        t.type = ticket_type
        t.subject = subject
        t.priority = priority
        t.status = status
        t.requester_id = requester_id
        t.submitter_id = submitter_id
        t.assignee_id = None
        t.group_id = None
        t.tags = list(tags)
        t.custom_fields = custom_fields or DEFAULT_CUSTOM_FIELDS
        t.is_public = True
        t.followup_ids = []
        t.comments = []
        t.audits = []
        t.deleted = False
        t.deleted_at = None
        t.deleted_by = None
        t.previous_state = None
        t.scrubbed = False
        t.merged_into = None
        t.ai_agent = ai_agent
        t.closed_at = ts if status == "closed" else None
        if index:
            self.tickets[t.id] = t
            self.ticket_index.add((t.gts, t.id))
        return t

    def add_audit(self, ticket, ts, *, author_id, channel, system, custom=None,
                  comment=None, events=(), via_source=EMPTY_SOURCE,
                  merged_ticket_ids=None, index=True):
        """Record one audit on a ticket; bumps updated_at and the timestamp.

        `comment` is (author_id, body, html_body or None, public).  `events`
        are (kind, field, value, previous) tuples already applied to the ticket
        (see apply_changes).  With index=False the audit is not registered
        (bulk seeding registers it through bulk_load).
        """
        events = tuple(events)
        audit = Audit()
        audit.id = self.object_ids(1 + (comment is not None) + len(events))
        audit.ticket = ticket
        audit.ts = ts
        audit.author_id = author_id
        audit.channel = channel
        audit.via_source = via_source
        audit.system = system
        audit.custom = custom
        audit.events = events
        audit.merged_ticket_ids = merged_ticket_ids
        audit.comment = None
        if comment is not None:
            c = Comment()
            c.id = audit.id + 1
            c.audit = audit
            c.author_id, c.body, c.html_body, c.public = comment
            audit.comment = c
            if not ticket.comments:
                ticket.is_public = c.public
            ticket.comments.append(c)
        ticket.audits.append(audit)
        ticket.updated_at = max(ticket.updated_at, ts)
        if index:
            self.audits[audit.id] = audit
            self.audit_index.add((ts, audit.id))
            self.touch(ticket, ts)
        elif ts > ticket.gts:
            ticket.gts = ts
        return audit

    @staticmethod
    def apply_changes(ticket, changes, ts):
        """Set fields from (field, value) pairs; returns the Change events.

        Fields whose value does not change produce no event.
        """
        events = []
        for field, value in changes:
            previous = getattr(ticket, field)
            if field == "tags":
                if sorted(set(value)) == sorted(set(previous)):
                    continue
                value = list(value)
                previous = list(previous)
            elif value == previous:
                continue
            setattr(ticket, field, value)
            if field == "status" and value == "closed":
                ticket.closed_at = ts
            events.append(("Change", field, value, previous))
        return events

    def touch(self, ticket, ts):
        """Bump generated_timestamp (every change does, even without an audit)."""
        new = max(ticket.gts, ts)
        if new != ticket.gts:
            self.ticket_index.remove((ticket.gts, ticket.id))
            ticket.gts = new
            self.ticket_index.add((new, ticket.id))

    def ticket(self, ticket_id):
        """Any ticket, deleted or not; None when unknown."""
        return self.tickets.get(ticket_id)

    def live_ticket(self, ticket_id):
        """A ticket the REST API can see; raises 404 when missing or deleted."""
        t = self.tickets.get(ticket_id)
        if t is None or t.gone:
            raise not_found()
        return t

    def bulk_load(self, tickets, audits):
        """Register seeded tickets and audits with one sort per index."""
        for t in tickets:
            self.tickets[t.id] = t
        for a in audits:
            self.audits[a.id] = a
        self.ticket_index.extend([(t.gts, t.id) for t in tickets])
        self.audit_index.extend([(a.ts, a.id) for a in audits])


# --- REST shapes ----------------------------------------------------------------
# `base` is "http://host:port" of the request, so that urls point back at us.

def user_json(u, base):
    """A user, as GET /users/{id} shows it."""
    staff = u.role != "end-user"
    admin = u.role == "admin"
    return {
        "id": u.id,
        "url": "%s/api/v2/users/%d.json" % (base, u.id),
        "name": u.name,
        "email": u.email,
        "created_at": iso(u.created_at),
        "updated_at": iso(u.updated_at),
        "time_zone": "Europe/Berlin",
        "iana_time_zone": "Europe/Berlin",
        "phone": None,
        "shared_phone_number": None,
        "photo": None,
        "locale_id": u.locale_id,
        "locale": "en-US",
        "organization_id": None,
        "role": u.role,
        "verified": u.verified,
        "external_id": u.external_id,
        "tags": [],
        "alias": "" if staff else None,
        "active": u.active,
        "shared": False,
        "shared_agent": False,
        "last_login_at": iso(u.last_login_at),
        "two_factor_auth_enabled": None,
        "signature": "" if staff else None,
        "details": "" if staff else None,
        "notes": "" if staff else None,
        "role_type": 4 if admin else None,
        "custom_role_id": None,
        "moderator": admin,
        "ticket_restriction": None if staff else "requested",
        "only_private_comments": False,
        "restricted_agent": not staff,
        "suspended": u.suspended,
        "default_group_id": SUPPORT_GROUP_ID if staff else None,
        "report_csv": admin,
        "user_fields": {},
    }


def anonymous_user_json():
    """GET /users/me without credentials."""
    return {
        "id": None, "url": None, "name": "Anonymous user", "email": "invalid@example.com",
        "created_at": None, "updated_at": None, "time_zone": "Europe/Berlin",
        "iana_time_zone": "Europe/Berlin", "phone": None, "shared_phone_number": None,
        "photo": None, "locale_id": 1, "locale": "en-US", "organization_id": None,
        "role": "end-user", "verified": False, "external_id": None, "tags": [],
        "alias": None, "active": True, "shared": False, "shared_agent": False,
        "last_login_at": None, "two_factor_auth_enabled": None, "signature": None,
        "details": None, "notes": None, "role_type": None, "custom_role_id": None,
        "moderator": False, "ticket_restriction": "requested",
        "only_private_comments": False, "restricted_agent": True, "suspended": False,
        "default_group_id": None, "report_csv": False, "user_fields": {},
    }


def ticket_json(t, base, real_status=False):
    """A ticket in the REST and export shape.

    A soft-deleted or scrubbed ticket shows status "deleted" (the export is
    the only REST place that still returns it); a scrubbed ticket also has its
    subject and description blanked.  `real_status` keeps the real status (for
    /_sim/state).
    """
    status = t.status
    if (t.deleted or t.scrubbed) and not real_status:
        status = "deleted"
    if t.scrubbed and not real_status:
        subject = description = ""
    else:
        subject = t.subject
        description = t.description
    fields = [{"id": fid, "value": value} for fid, value in t.custom_fields]
    return {
        "url": "%s/api/v2/tickets/%d.json" % (base, t.id),
        "id": t.id,
        "external_id": t.external_id,
        "via": {"channel": t.via_channel, "source": t.via_source},
        "created_at": iso(t.created_at),
        "updated_at": iso(t.updated_at),
        "generated_timestamp": t.gts,
        "type": t.type,
        "subject": subject,
        "raw_subject": subject,
        "description": description,
        "priority": t.priority,
        "status": status,
        "recipient": t.recipient,
        "requester_id": t.requester_id,
        "submitter_id": t.submitter_id,
        "assignee_id": t.assignee_id,
        "organization_id": None,
        "group_id": t.group_id,
        "collaborator_ids": [],
        "follower_ids": [],
        "email_cc_ids": [],
        "forum_topic_id": None,
        "problem_id": None,
        "has_incidents": False,
        "is_public": t.is_public,
        "due_at": None,
        "tags": sorted(t.tags),
        "custom_fields": fields,
        "satisfaction_rating": None,
        "sharing_agreement_ids": [],
        "custom_status_id": CUSTOM_STATUS_IDS[t.status],
        "fields": [dict(f) for f in fields],
        "followup_ids": list(t.followup_ids),
        "ticket_form_id": TICKET_FORM_ID,
        "brand_id": BRAND_ID,
        "allow_channelback": False,
        "allow_attachments": True,
        "from_messaging_channel": False,
    }


def ticket_user_ids(t):
    """Users a ticket refers to (the include=users sideload)."""
    return (t.requester_id, t.submitter_id, t.assignee_id)


def comment_json(c):
    """A comment, as GET /tickets/{id}/comments shows it."""
    a = c.audit
    return {
        "id": c.id,
        "type": "Comment",
        "author_id": c.author_id,
        "body": c.body,
        "html_body": c.html(),
        "plain_body": c.body,
        "public": c.public,
        "attachments": [],
        "audit_id": a.id,
        "via": {"channel": a.channel, "source": a.via_source},
        "created_at": iso(a.ts),
        "metadata": {"system": a.system, "custom": a.custom or {}},
    }


def audit_json(a):
    """An audit, as in ticket create/update responses and GET .../audits."""
    events = []
    c = a.comment
    if c is not None:
        events.append({"id": c.id, "type": "Comment", "author_id": c.author_id,
                       "body": c.body, "html_body": c.html(), "plain_body": c.body,
                       "public": c.public, "attachments": [], "audit_id": a.id})
    for event_id, (kind, field, value, previous) in a.event_ids():
        ev = {"id": event_id, "type": kind, "value": value, "field_name": field}
        if kind == "Change":
            ev["previous_value"] = previous
        events.append(ev)
    return {
        "id": a.id,
        "ticket_id": a.ticket.id,
        "created_at": iso(a.ts),
        "author_id": a.author_id,
        "metadata": {"system": a.system, "custom": a.custom or {}},
        "via": {"channel": a.channel, "source": a.via_source},
        "events": events,
    }


def ticket_event_json(a, with_comments):
    """An audit as an item of the incremental ticket-events export.

    Scrubbed tickets keep their audits in the stream, but their comments are
    gone and subject values are blanked.
    """
    via = VIA_NAMES.get(a.channel, a.channel)
    scrubbed = a.ticket.scrubbed
    children = []
    c = None if scrubbed else a.comment
    if c is not None and with_comments:
        children.append({
            "id": c.id,
            "via": {"channel": a.channel, "source": a.via_source},
            "via_reference_id": None,
            "type": "Comment",
            "author_id": c.author_id,
            "body": c.body,
            "html_body": c.html(),
            "plain_body": c.body,
            "public": c.public,
            "attachments": [],
            "audit_id": a.id,
            "created_at": iso(a.ts),
            "event_type": "Comment",
        })
    for event_id, (kind, field, value, previous) in a.event_ids():
        if scrubbed and field == "subject":
            value = previous = ""
        ev = {"id": event_id, "via": via, "via_reference_id": None, field: value,
              "event_type": kind}
        if kind == "Change":
            ev["previous_value"] = previous
        children.append(ev)
    item = {
        "id": a.id,
        "ticket_id": a.ticket.id,
        "timestamp": a.ts,
        "created_at": iso(a.ts),
        "updater_id": a.author_id,
        "via": via,
        "system": a.system,
        "event_type": "Audit",
        "merged_ticket_ids": list(a.merged_ticket_ids or ()),
        "child_events": children,
    }
    if not with_comments:
        item["comment_present"] = c is not None
        item["comment_public"] = bool(c is not None and c.public)
    return item


def deleted_ticket_json(t, account):
    """An item of GET /deleted_tickets."""
    return {
        "id": t.id,
        "subject": t.subject,
        "description": t.description,
        "actor": {"id": t.deleted_by, "name": account.user_name(t.deleted_by)},
        "deleted_at": iso(t.deleted_at),
        "previous_state": t.previous_state,
    }


def state_ticket_json(t, base, account, with_comments=True):
    """A ticket for GET /_sim/state: the real status plus internal state."""
    item = ticket_json(t, base, real_status=True)
    item.update({
        "deleted": t.deleted,
        "scrubbed": t.scrubbed,
        "deleted_at": iso(t.deleted_at),
        "deleted_by": ({"id": t.deleted_by, "name": account.user_name(t.deleted_by)}
                       if t.deleted_by else None),
        "previous_state": t.previous_state,
        "merged_into": t.merged_into,
        "ai_agent": t.ai_agent,
    })
    if with_comments:
        item["comments"] = [comment_json(c) for c in t.comments]
    return item
