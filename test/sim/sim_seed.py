"""Bulk history for POST /_sim/seed: many tickets with comments, fast.

Seeded history is what an account looks like before the extension connects:
no webhooks are emitted.  Each ticket is created by e-mail by its requester
(first comment, public), later comments alternate agent (web, some private)
and requester (e-mail), each comment is its own audit at increasing times
between start_time and end_time, the final status is set by the last audit,
and deletions happen in the last 7 days before end_time.

Objects are built with the account primitives in unindexed mode and
registered with one sort per index at the end (Account.bulk_load).
"""

import gc
import random
import time

from sim_base import STAFF_ADMIN, SUPPORT_ADDRESS, SUPPORT_GROUP_ID
from sim_model import SYSTEM_EMAIL, SYSTEM_WEB

DAY = 86400
MAX_GAP = 3 * DAY               # longest pause between two comments of a ticket

TOPICS = ("Cannot log in", "Invoice question", "Damaged order", "Password reset",
          "Shipping delay", "Refund request", "Feature request", "Account locked",
          "Wrong item received", "Export fails", "Billing address change",
          "Two-factor authentication", "API error 500", "Cancel subscription")
TAG_SETS = ((), ("billing",), ("login",), ("order", "damaged"), ("vip",),
            ("refund", "billing"), ("bug",), ("shipping",), ("gdpr", "compliance"))
PRIORITY_CHOICES = (None, None, "low", "normal", "normal", "normal", "high", "urgent")
TYPE_CHOICES = (None, "question", "question", "incident", "problem", "task")
# final statuses (closed ones are chosen separately); "new" only for
# tickets without agent replies
STATUS_CHOICES_REPLIED = ("open",) * 6 + ("pending",) * 3 + ("hold",) + ("solved",) * 6
STATUS_CHOICES_NEW = ("new",) * 5 + ("open",) * 3 + ("pending",) + ("solved",)
REQUESTER_LINES = ("Hello, I need help with this. My reference is {ref}.",
                   "Thanks for the quick answer, but it still does not work ({ref}).",
                   "Any news on {ref}? We are blocked.",
                   "Ünïcödé check for {ref}: \"quotes\", <angle brackets> & ampersands.",
                   "Following up on {ref}.\nSecond line of the message.")
AGENT_LINES = ("Thanks for reaching out about {ref}. We are looking into it.",
               "Could you send us a screenshot of the error for {ref}?",
               "This should be fixed now for {ref}. Please confirm.",
               "Internal: escalated {ref} to tier 2.",
               "We have issued the refund for {ref}; it takes 3-5 days.")

DEFAULT_CLOSED_FRACTION = 0.1


class SeedError(ValueError):
    """Invalid seed parameters."""


def _count(params, key, default, low=0):
    value = params.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise SeedError("%s must be an integer >= %d" % (key, low))
    return value


class Seeder:
    """One POST /_sim/seed call."""

    def __init__(self, account, now, export_lag, params, default_seed):
        if not isinstance(params, dict):
            raise SeedError("the body must be a JSON object")
        unknown = set(params) - {"tickets", "comments_per_ticket", "requesters", "agents",
                                 "soft_deleted", "scrubbed", "ai_agent_tickets", "closed",
                                 "start_time", "end_time", "seed", "email_case_mix"}
        if unknown:
            raise SeedError("unknown seed parameters: %s" % ", ".join(sorted(unknown)))
        self.account = account
        self.n = _count(params, "tickets", 0)
        self.per_ticket = _count(params, "comments_per_ticket", 3, 1)
        self.requester_count = _count(params, "requesters", max(1, min(self.n, 100)), 1)
        self.agent_count = _count(params, "agents", 3, 1)
        self.soft_deleted = _count(params, "soft_deleted", 0)
        self.scrubbed = _count(params, "scrubbed", 0)
        self.ai_agent = _count(params, "ai_agent_tickets", 0)
        self.closed = _count(params, "closed", int(self.n * DEFAULT_CLOSED_FRACTION))
        self.end = _count(params, "end_time", now - 2 * export_lag - 1)
        self.start = _count(params, "start_time", now - 365 * DAY)
        self.seed = _count(params, "seed", default_seed)
        self.case_mix = params.get("email_case_mix", False)
        if not isinstance(self.case_mix, bool):
            raise SeedError("email_case_mix must be a boolean")
        if self.start >= self.end:
            raise SeedError("start_time must be before end_time")
        if self.end > now:
            raise SeedError("end_time cannot be in the future")
        if self.soft_deleted + self.scrubbed > self.n:
            raise SeedError("soft_deleted + scrubbed exceeds tickets")
        if self.ai_agent > self.n or self.closed > self.n:
            raise SeedError("ai_agent_tickets and closed cannot exceed tickets")
        self.rng = random.Random(self.seed)

    # people

    def _requesters(self):
        people = []
        for k in range(1, self.requester_count + 1):
            email = "requester%d@example.com" % k
            if self.case_mix and k % 4 == 1:
                email = "Requester%d@Example.COM" % k
            user = self.account.user_by_email(email)
            if user is None:
                user = self.account.add_user("Requester %d" % k, email, "end-user",
                                             self.start - DAY)
            people.append(user)
        return people

    def _agents(self):
        people = []
        for k in range(1, self.agent_count + 1):
            email = "agent%d@acme.example" % k
            user = self.account.user_by_email(email)
            if user is None:
                user = self.account.add_user("Agent %d" % k, email, "agent", self.start - DAY)
            people.append(user)
        return people

    def _deleter(self):
        admin = self.account.user_by_email(STAFF_ADMIN["email"])
        if admin is None:
            admin = next(u for u in self.account.users.values() if u.role == "admin")
        return admin

    # the run

    def run(self):
        """Create everything; returns the summary POST /_sim/seed answers.

        The cyclic garbage collector is paused while building and the result
        is frozen afterwards (gc.freeze), so that later collections do not scan
        millions of long-lived objects (a full scan takes about half a second
        and would stall whichever request triggers it).  Simulator.reset()
        unfreezes them.
        """
        gc.disable()
        try:
            return self._run()
        finally:
            gc.enable()
            gc.freeze()

    def _run(self):
        started = time.monotonic()
        rng = self.rng
        requesters = self._requesters()
        agents = self._agents()
        deleter = self._deleter()
        order = list(range(self.n))
        rng.shuffle(order)
        deleted = set(order[:self.soft_deleted])
        scrubbed = set(order[self.soft_deleted:self.soft_deleted + self.scrubbed])
        ai_agent = set(rng.sample(range(self.n), self.ai_agent))
        closed = set(rng.sample(range(self.n), self.closed))
        sources = {}
        tickets, audits = [], []
        span = self.end - self.start
        for i in range(self.n):
            requester = requesters[rng.randrange(len(requesters))]
            source = sources.get(requester.id)
            if source is None:
                source = sources[requester.id] = {
                    "from": {"address": requester.email, "name": requester.name},
                    "to": {"name": "Acme Support", "address": SUPPORT_ADDRESS}, "rel": None}
            ticket, ticket_audits = self._ticket(
                i, self.start + (i * span) // self.n, requester, source,
                agents[rng.randrange(len(agents))],
                "closed" if i in closed else None, i in ai_agent)
            audits.extend(ticket_audits)
            if i in deleted or i in scrubbed:
                audits.append(self._delete(ticket, deleter, i in scrubbed))
            tickets.append(ticket)
        self.account.bulk_load(tickets, audits)
        return {
            "tickets": len(tickets),
            "comments": sum(len(t.comments) for t in tickets),
            "audits": len(audits),
            "ticket_ids": [tickets[0].id, tickets[-1].id] if tickets else None,
            "requester_ids": [u.id for u in requesters],
            "agent_ids": [u.id for u in agents],
            "soft_deleted_ids": sorted(tickets[i].id for i in deleted),
            "scrubbed_ids": sorted(tickets[i].id for i in scrubbed),
            "ai_agent_ids": sorted(tickets[i].id for i in ai_agent),
            "closed": len(closed),
            "start_time": self.start,
            "end_time": self.end,
            "seed": self.seed,
            "duration_ms": round((time.monotonic() - started) * 1000, 1),
        }

    def _ticket(self, i, created, requester, source, agent, final_status, ai_agent):
        """One ticket and its audits (one per comment)."""
        rng, account, per_ticket = self.rng, self.account, self.per_ticket
        if final_status is None:
            choices = STATUS_CHOICES_NEW if per_ticket == 1 else STATUS_CHOICES_REPLIED
            final_status = choices[rng.randrange(len(choices))]
        initial_status = final_status if per_ticket == 1 else "new"
        subject = "%s #%d" % (TOPICS[i % len(TOPICS)], 1000 + i)
        priority = PRIORITY_CHOICES[rng.randrange(len(PRIORITY_CHOICES))]
        ticket_type = TYPE_CHOICES[rng.randrange(len(TYPE_CHOICES))]
        tags = TAG_SETS[rng.randrange(len(TAG_SETS))]
        t = account.new_ticket(created, requester_id=requester.id, submitter_id=requester.id,
                               subject=subject, via_channel="email", via_source=source,
                               recipient=SUPPORT_ADDRESS, status=initial_status,
                               priority=priority, ticket_type=ticket_type, tags=tags,
                               ai_agent=ai_agent, index=False)
        ref = "REF-%06d" % i
        creates = [("Create", "status", initial_status, None),
                   ("Create", "subject", subject, None)]
        if priority:
            creates.append(("Create", "priority", priority, None))
        if ticket_type:
            creates.append(("Create", "type", ticket_type, None))
        creates.append(("Create", "requester_id", str(requester.id), None))
        if tags:
            creates.append(("Create", "tags", list(tags), None))
        first_body = REQUESTER_LINES[i % len(REQUESTER_LINES)].format(ref=ref)
        audits = [account.add_audit(t, created, author_id=requester.id, channel="email",
                                    system=SYSTEM_EMAIL, comment=(requester.id, first_body,
                                                                  None, True),
                                    events=creates, via_source=source, index=False)]
        ts = created
        for k in range(1, per_ticket):
            high = min(MAX_GAP, (self.end - ts) // (per_ticket - k))
            ts += rng.randint(1, high) if high >= 1 else 0
            changes = []
            if k == 1:
                changes += [("assignee_id", agent.id), ("group_id", SUPPORT_GROUP_ID)]
            if k == per_ticket - 1:
                changes.append(("status", final_status))
            events = account.apply_changes(t, changes, ts)
            if k % 2:
                line = AGENT_LINES[(i + k) % len(AGENT_LINES)].format(ref=ref)
                comment = (agent.id, line, None, rng.random() >= 0.2)
                audits.append(account.add_audit(t, ts, author_id=agent.id, channel="web",
                                                system=SYSTEM_WEB, comment=comment,
                                                events=events, index=False))
            else:
                line = REQUESTER_LINES[(i + k) % len(REQUESTER_LINES)].format(ref=ref)
                audits.append(account.add_audit(t, ts, author_id=requester.id,
                                                channel="email", system=SYSTEM_EMAIL,
                                                comment=(requester.id, line, None, True),
                                                events=events, via_source=source,
                                                index=False))
        return t, audits

    def _delete(self, t, deleter, scrub):
        """Soft-delete (and maybe scrub) within the last 7 days before end_time."""
        rng = self.rng
        deleted_at = rng.randint(max(t.updated_at, self.end - 7 * DAY), self.end)
        t.deleted = True
        t.deleted_at = deleted_at
        t.deleted_by = deleter.id
        t.previous_state = t.status
        audit = self.account.add_audit(t, deleted_at, author_id=deleter.id, channel="web",
                                       system=SYSTEM_WEB,
                                       events=[("Change", "status", "deleted", t.status)],
                                       index=False)
        if scrub:
            t.scrubbed = True
            t.updated_at = t.gts = rng.randint(deleted_at, self.end)
        return audit
