"""Zendesk's rules for changing tickets, shared by the REST API and agent actions.

A Desk operation decides which audits a change needs, applies it through the
account primitives (sim_model), and emits the webhook events it causes.  The
caller describes who acts and how with a Context: the authenticated user and
channel "api" for a REST request, a UI user and channel "web" for an agent
action.  Validation failures raise ApiError with Zendesk's error bodies; the
REST layer returns them as they are, the control API wraps them.
"""

import html.parser

from sim_base import ApiError, iso, not_found, record_invalid
from sim_model import EMPTY_SOURCE
from sim_webhooks import webhook_comment_html

# fixtures/error_422_closed_ticket.json, byte for byte
CLOSED_TICKET_ERROR = {"error": "RecordInvalid", "description": "Record validation errors",
                       "details": {"status": [{"description":
                                               "Status: closed prevents ticket update"}]}}

MAX_BODY_BYTES = 65536          # longer comment bodies are silently truncated
MERGE_TAG = "closed_by_merge"

_CHANGE_EVENTS = {"status": "status_changed", "subject": "subject_changed",
                  "priority": "priority_changed", "type": "type_changed"}


class _TextExtractor(html.parser.HTMLParser):
    """Collects the text of an HTML fragment."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.parts = []

    def handle_data(self, data):
        self.parts.append(data)


def plain_from_html(fragment):
    """The plain text of an html_body."""
    parser = _TextExtractor()
    parser.feed(fragment)
    parser.close()
    return " ".join("".join(parser.parts).split())


def _truncate(text):
    """Zendesk keeps at most 64 kB of a comment body, without an error."""
    raw = text.encode("utf-8")
    if len(raw) <= MAX_BODY_BYTES:
        return text
    return raw[:MAX_BODY_BYTES].decode("utf-8", "ignore")


def make_comment(author_id, body=None, html_body=None, public=True):
    """A comment spec (author_id, body, html_body, public) for Desk methods.

    html_body wins over body (the plain body is then derived from it); an
    empty comment is a validation error.
    """
    if html_body is not None:
        if not isinstance(html_body, str) or not html_body.strip():
            raise record_invalid("base", "Comment: cannot be blank", "BlankValue")
        html_body = _truncate(html_body)
        return (author_id, plain_from_html(html_body), html_body, bool(public))
    if not isinstance(body, str) or not body.strip():
        raise record_invalid("base", "Comment: cannot be blank", "BlankValue")
    return (author_id, _truncate(body), None, bool(public))


class Context:
    """Who makes one change, through which channel, and its webhook batch."""

    def __init__(self, actor, channel, system, custom, events):
        self.actor = actor          # the User acting (audit author, webhook actor)
        self.channel = channel      # "api" (REST) or "web" (agent UI)
        self.system = system        # audit metadata.system
        self.custom = custom        # audit metadata.custom (the request's ticket.metadata)
        self.events = events        # sim_webhooks.EventBatch


class Desk:
    """Ticket operations with Zendesk's side effects."""

    def __init__(self, account, clock, config, hub):
        self.account = account
        self.clock = clock
        self.config = config
        self.hub = hub
        self.rng = None

    def reset(self, rng):
        """Use a new random source (job ids)."""
        self.rng = rng

    def context(self, actor, channel, system, custom=None):
        """A Context for one action of `actor`."""
        return Context(actor, channel, system, custom,
                       self.hub.batch(actor.id if actor else None, channel))

    # users

    def find_or_create_end_user(self, email, name=None, locale_id=1):
        """The user with that e-mail (case-insensitive, used unchanged), or a
        new unverified end-user.  Returns (user, created)."""
        user = self.account.user_by_email(email)
        if user is not None:
            return user, False
        name = name or email.split("@", 1)[0]
        user = self.account.add_user(name, email, "end-user", self.clock.seconds(),
                                     verified=False, locale_id=locale_id or 1)
        return user, True

    # webhook helpers

    def _comment_event(self, comment):
        author = self.account.users.get(comment.author_id)
        return {"comment": {
            "author": {"id": str(comment.author_id),
                       "is_staff": bool(author and author.is_staff),
                       "name": author.name if author else None},
            "body": comment.body,
            "html_body": webhook_comment_html(comment),
            "id": str(comment.id),
            "is_public": comment.public,
        }}

    @staticmethod
    def _emit_changes(ctx, ticket, events):
        """One *_changed webhook event per Change audit event."""
        for _kind, field, value, previous in events:
            if field == "tags":
                ctx.events.emit(ticket, "tags_changed", {
                    "tags_added": [tag for tag in value if tag not in previous],
                    "tags_removed": [tag for tag in previous if tag not in value]})
            elif field == "subject":
                ctx.events.emit(ticket, "subject_changed",
                                {"current": value, "previous": previous})
            elif field in _CHANGE_EVENTS:
                ctx.events.emit(ticket, _CHANGE_EVENTS[field], {
                    "current": value.upper() if value else None,
                    "previous": previous.upper() if previous else None})

    # tickets

    def check_followup_source(self, source_id):
        """The closed ticket a follow-up may point at, or a 422."""
        source = self.account.ticket(source_id) if isinstance(source_id, int) else None
        if source is None or source.gone:
            raise record_invalid("via_followup_source_id",
                                 "Via followup source: is invalid")
        if source.status != "closed":
            raise record_invalid("via_followup_source_id",
                                 "Via followup source: ticket %d is not closed" % source.id)
        window = self.config["followup_window_seconds"]
        if window is not None and self.clock.seconds() - source.closed_at > window:
            raise record_invalid("via_followup_source_id",
                                 "Via followup source: ticket %d was closed too long ago"
                                 % source.id)
        return source

    def create_ticket(self, ctx, *, requester, submitter, comment, subject=None,
                      status="new", priority=None, ticket_type=None, tags=(),
                      custom_fields=None, external_id=None, followup_source=None):
        """A new ticket with its first comment; emits created + comment_added."""
        ts = self.clock.seconds()
        tags = list(dict.fromkeys(tags))
        via_source = EMPTY_SOURCE
        if followup_source is not None:
            via_source = {"from": {"ticket_id": followup_source.id}, "to": {},
                          "rel": "follow_up"}
        ticket = self.account.new_ticket(
            ts, requester_id=requester.id, submitter_id=submitter.id, subject=subject,
            via_channel=ctx.channel, via_source=via_source, status=status,
            priority=priority, ticket_type=ticket_type, tags=tags,
            custom_fields=custom_fields, external_id=external_id)
        creates = [("Create", "status", status, None)]
        if subject is not None:
            creates.append(("Create", "subject", subject, None))
        if priority is not None:
            creates.append(("Create", "priority", priority, None))
        if ticket_type is not None:
            creates.append(("Create", "type", ticket_type, None))
        creates.append(("Create", "requester_id", str(requester.id), None))
        if tags:
            creates.append(("Create", "tags", list(tags), None))
        audit = self.account.add_audit(
            ticket, ts, author_id=ctx.actor.id, channel=ctx.channel, system=ctx.system,
            custom=ctx.custom, comment=comment, events=creates, via_source=via_source)
        if followup_source is not None:
            followup_source.followup_ids.append(ticket.id)
            self.account.touch(followup_source, ts)
        ctx.events.emit(ticket, "created", sequenced=False)
        ctx.events.emit(ticket, "comment_added", self._comment_event(audit.comment))
        return ticket, audit

    def update_ticket(self, ctx, ticket, *, comment=None, changes=()):
        """Add a comment and/or change fields in one audit.

        Returns the audit, or None when nothing changed (then nothing is
        recorded).  A deleted ticket is not found; a closed ticket answers 422
        whatever the update.
        """
        if ticket.gone:
            raise not_found()
        if ticket.status == "closed":
            raise ApiError(422, CLOSED_TICKET_ERROR)
        ts = self.clock.seconds()
        events = self.account.apply_changes(ticket, changes, ts)
        if not events and comment is None:
            return None
        audit = self.account.add_audit(
            ticket, ts, author_id=ctx.actor.id, channel=ctx.channel, system=ctx.system,
            custom=ctx.custom, comment=comment, events=events)
        if comment is not None:
            ctx.events.emit(ticket, "comment_added", self._comment_event(audit.comment))
        self._emit_changes(ctx, ticket, events)
        return audit

    def soft_delete(self, ctx, ticket):
        """Delete: status shows "deleted" in exports, restorable for 30 days."""
        if ticket.gone:
            raise not_found()
        ts = self.clock.seconds()
        ticket.deleted = True
        ticket.deleted_at = ts
        ticket.deleted_by = ctx.actor.id
        ticket.previous_state = ticket.status
        self.account.add_audit(
            ticket, ts, author_id=ctx.actor.id, channel=ctx.channel, system=ctx.system,
            custom=ctx.custom, events=[("Change", "status", "deleted", ticket.status)])
        ctx.events.emit(ticket, "soft_deleted")

    def restore(self, ctx, ticket):
        """Undelete a soft-deleted ticket: its status comes back."""
        if not ticket.deleted or ticket.scrubbed:
            raise not_found()
        ts = self.clock.seconds()
        ticket.deleted = False
        ticket.deleted_at = ticket.deleted_by = ticket.previous_state = None
        self.account.add_audit(
            ticket, ts, author_id=ctx.actor.id, channel=ctx.channel, system=ctx.system,
            custom=ctx.custom, events=[("Change", "status", ticket.status, "deleted")])
        ctx.events.emit(ticket, "undeleted")

    def scrub(self, ctx, ticket):
        """Permanently delete a soft-deleted ticket (no audit: its data is gone)."""
        if not ticket.deleted or ticket.scrubbed:
            raise not_found()
        ts = self.clock.seconds()
        ticket.scrubbed = True
        ticket.updated_at = ts
        self.account.touch(ticket, ts)
        ctx.events.emit(ticket, "permanently_deleted")

    def mark_spam(self, ctx, ticket):
        """Suspend the requester and delete the ticket."""
        if ticket.gone:
            raise not_found()
        requester = self.account.users.get(ticket.requester_id)
        if requester is not None and not requester.is_staff:
            requester.suspended = True
            requester.updated_at = self.clock.seconds()
        ctx.events.emit(ticket, "marked_as_spam")
        self.soft_delete(ctx, ticket)

    def merge(self, ctx, target, sources, *, target_comment=None, source_comment=None,
              target_public=False, source_public=False):
        """Merge `sources` into `target`: each source gets a private comment
        (by default), the closed_by_merge tag and status closed; the target
        gets a comment.  Returns the completed job status."""
        if target.gone:
            raise not_found()
        if target.status == "closed":
            raise record_invalid("base", "Target ticket %d is closed" % target.id)
        if not sources:
            raise record_invalid("ids", "Ids: at least one source ticket is required")
        for source in sources:
            if source.id == target.id:
                raise record_invalid("ids", "Ids: a ticket cannot be merged into itself")
            if source.gone:
                raise not_found()
            if source.status == "closed":
                raise record_invalid("ids", "Source ticket %d is closed" % source.id)
        ts = self.clock.seconds()
        for source in sources:
            body = source_comment or ('This request was closed and merged into request '
                                      '#%d "%s".' % (target.id, target.subject or ""))
            events = self.account.apply_changes(
                source, [("status", "closed"), ("tags", source.tags + [MERGE_TAG])], ts)
            audit = self.account.add_audit(
                source, ts, author_id=ctx.actor.id, channel=ctx.channel,
                system=ctx.system, custom=ctx.custom,
                comment=make_comment(ctx.actor.id, body, None, source_public),
                events=events)
            source.merged_into = target.id
            ctx.events.emit(source, "merged", {"target_ticket_id": str(target.id)})
            ctx.events.emit(source, "comment_added", self._comment_event(audit.comment))
            self._emit_changes(ctx, source, events)
        if target_comment:
            body = target_comment
        elif len(sources) == 1:
            body = ('Request #%d "%s" was closed and merged into this request.'
                    % (sources[0].id, sources[0].subject or ""))
        else:
            body = ("Requests %s were closed and merged into this request."
                    % ", ".join("#%d" % s.id for s in sources))
        audit = self.account.add_audit(
            target, ts, author_id=ctx.actor.id, channel=ctx.channel, system=ctx.system,
            custom=ctx.custom, comment=make_comment(ctx.actor.id, body, None, target_public),
            merged_ticket_ids=[s.id for s in sources])
        ctx.events.emit(target, "comment_added", self._comment_event(audit.comment))
        return self.new_job([{"id": target.id, "action": "merge", "success": True,
                              "status": "Merged", "source_ids": [s.id for s in sources]}])

    # jobs

    def new_job(self, results):
        """A job status that is already completed (the simulator has no queue)."""
        job_id = "%032x" % self.rng.getrandbits(128)
        job = {"id": job_id, "total": len(results), "progress": len(results),
               "status": "completed",
               "message": "Completed at %s" % iso(self.clock.seconds())
               .replace("T", " ").replace("Z", " +0000"),
               "results": results}
        self.account.jobs[job_id] = job
        return job
