"""The control API (/_sim/...): how tests, the demo and benchmarks drive the
simulator.  No authentication, never rate limited, faulted or logged.

Endpoints (JSON in, JSON out; see README.md for examples):
  POST   /_sim/reset                  empty account, defaults, logs cleared
  GET    /_sim/config, POST /_sim/config
  GET    /_sim/clock,  POST /_sim/clock {"advance": seconds}
  GET    /_sim/users,  POST /_sim/users
  POST   /_sim/seed
  POST   /_sim/actions/<action>       what an agent or end user does in the UI
  GET    /_sim/webhooks?since=N, DELETE /_sim/webhooks
  GET    /_sim/faults, POST /_sim/faults, DELETE /_sim/faults[/<id>]
  GET    /_sim/requests?since=N[&limit=M], DELETE /_sim/requests
  GET    /_sim/state[?ids=1,2&comments=false], GET /_sim/state/tickets/<id>
"""

import re

from sim_base import (PRIORITIES, ROLES, STAFF_ADMIN, STAFF_AGENT, STATUSES,
                      TICKET_TYPES, ApiError, Response, iso)
from sim_desk import make_comment
from sim_model import SYSTEM_WEB, comment_json, state_ticket_json, ticket_json, user_json
from sim_seed import Seeder, SeedError


class ControlError(Exception):
    """A bad control request: answered 400 (or `status`) with {"error": ...}."""

    def __init__(self, message, status=400):
        super().__init__(message)
        self.status = status


def _require_int(spec, key):
    value = spec.get(key)
    if isinstance(value, bool) or not isinstance(value, int):
        raise ControlError("%s is required and must be an integer" % key)
    return value


class ControlApi:
    """Routes /_sim requests to the simulator's parts."""

    def __init__(self, sim):
        self.sim = sim
        self.routes = [
            ("POST", r"reset", self.reset),
            ("GET", r"config", self.get_config),
            ("POST", r"config", self.set_config),
            ("GET", r"clock", self.get_clock),
            ("POST", r"clock", self.advance_clock),
            ("GET", r"users", self.list_users),
            ("POST", r"users", self.add_user),
            ("POST", r"seed", self.seed),
            ("POST", r"actions/(\w+)", self.action),
            ("GET", r"webhooks", self.get_webhooks),
            ("DELETE", r"webhooks", self.clear_webhooks),
            ("GET", r"faults", self.get_faults),
            ("POST", r"faults", self.add_fault),
            ("DELETE", r"faults", self.clear_faults),
            ("DELETE", r"faults/(\d+)", self.remove_fault),
            ("GET", r"requests", self.get_requests),
            ("DELETE", r"requests", self.clear_requests),
            ("GET", r"state", self.get_state),
            ("GET", r"state/tickets/(\d+)", self.get_state_ticket),
        ]
        self.routes = [(m, re.compile("^" + p + "$"), h) for m, p, h in self.routes]
        self.actions = {
            "create_ticket": self.act_create_ticket,
            "reply": self.act_reply,
            "set_status": self.act_set_status,
            "update": self.act_update,
            "soft_delete": self.act_soft_delete,
            "permanent_delete": self.act_permanent_delete,
            "restore": self.act_restore,
            "merge": self.act_merge,
            "mark_spam": self.act_mark_spam,
        }

    def handle(self, req):
        """Answer one /_sim request (called under the state lock)."""
        rel = req.path[len("/_sim/"):].strip("/") if req.path.startswith("/_sim/") else ""
        for method, regex, handler in self.routes:
            match = regex.match(rel)
            if match and method == req.method:
                try:
                    body = req.json()
                except ValueError:
                    return Response.json(400, {"error": "the body is not valid JSON"})
                try:
                    status, value = handler(req, body, *match.groups())
                except ControlError as exc:
                    return Response.json(exc.status, {"error": str(exc)})
                except ApiError as exc:
                    return Response.json(exc.status, {"error": "rejected by Zendesk rules",
                                                      "zendesk": exc.body})
                return Response.json(status, value)
        return Response.json(404, {"error": "no control endpoint %s %s" % (req.method,
                                                                          req.path)})

    # --- account, configuration, clock ------------------------------------------

    def reset(self, req, body):
        self.sim.reset()
        return 200, {"reset": True, "users": [user_json(u, req.base_url)
                                              for u in self.sim.account.users.values()]}

    def get_config(self, req, body):
        return 200, self.sim.config.as_dict()

    def set_config(self, req, body):
        try:
            self.sim.config.update(body)
        except ValueError as exc:
            raise ControlError(str(exc)) from None
        return 200, self.sim.config.as_dict()

    def _clock(self):
        clock = self.sim.clock
        now = clock.now()
        return {"now": now, "now_iso": iso(int(now)), "offset_seconds": clock.offset}

    def get_clock(self, req, body):
        return 200, self._clock()

    def advance_clock(self, req, body):
        seconds = body.get("advance") if isinstance(body, dict) else None
        if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or seconds < 0:
            raise ControlError("advance must be a non-negative number of seconds")
        self.sim.clock.advance(seconds)
        return 200, self._clock()

    # --- users ----------------------------------------------------------------------

    def list_users(self, req, body):
        return 200, {"users": [user_json(u, req.base_url)
                               for u in self.sim.account.users.values()]}

    def add_user(self, req, body):
        """Create (201) or update (200) a user by e-mail; optionally give it an
        API token and/or an OAuth access token."""
        account = self.sim.account
        email, name = body.get("email"), body.get("name")
        role = body.get("role", "end-user")
        if not isinstance(email, str) or "@" not in email:
            raise ControlError("email is required")
        if role not in ROLES:
            raise ControlError("role must be one of %s" % ", ".join(ROLES))
        for key in ("token", "oauth_token", "external_id"):
            if body.get(key) is not None and not isinstance(body[key], str):
                raise ControlError("%s must be a string" % key)
        user = account.user_by_email(email)
        created = user is None
        now = self.sim.clock.seconds()
        if created:
            user = account.add_user(name or email.split("@")[0], email, role, now,
                                    external_id=body.get("external_id"))
        else:
            if name:
                user.name = name
            if "role" in body:
                user.role = role
            if body.get("external_id") is not None:
                account.set_external_id(user, body["external_id"])
            user.updated_at = now
        for flag in ("active", "suspended", "verified"):
            if flag in body:
                if not isinstance(body[flag], bool):
                    raise ControlError("%s must be a boolean" % flag)
                setattr(user, flag, body[flag])
        if body.get("token"):
            account.api_tokens[body["token"]] = user.id
        if body.get("oauth_token"):
            account.oauth_tokens[body["oauth_token"]] = user.id
        return (201 if created else 200), {"user": user_json(user, req.base_url),
                                           "created": created}

    # --- seeding --------------------------------------------------------------------

    def seed(self, req, body):
        sim = self.sim
        try:
            seeder = Seeder(sim.account, sim.clock.seconds(),
                            sim.config["export_lag_seconds"], body,
                            sim.rng.getrandbits(32))
        except SeedError as exc:
            raise ControlError(str(exc)) from None
        return 200, seeder.run()

    # --- agent actions ----------------------------------------------------------------

    def action(self, req, body, name):
        handler = self.actions.get(name)
        if handler is None:
            raise ControlError("unknown action %r (known: %s)"
                               % (name, ", ".join(sorted(self.actions))), 404)
        if not isinstance(body, dict):
            raise ControlError("the body must be a JSON object")
        ticket, comment, events = handler(body)
        return 200, {
            "ticket": ticket_json(ticket, req.base_url) if ticket and not ticket.scrubbed
            else None,
            "comment": comment_json(comment) if comment else None,
            "events": events,
        }

    def _ticket(self, body):
        ticket = self.sim.account.ticket(_require_int(body, "ticket_id"))
        if ticket is None:
            raise ControlError("no ticket %s" % body["ticket_id"], 404)
        return ticket

    def _person(self, who, ticket=None):
        """"agent", "admin", "requester" (of `ticket`) or an e-mail address."""
        account = self.sim.account
        if who == "agent":
            user = account.user_by_email(STAFF_AGENT["email"])
        elif who == "admin":
            user = account.user_by_email(STAFF_ADMIN["email"])
        elif who == "requester" and ticket is not None:
            user = account.users.get(ticket.requester_id)
        elif isinstance(who, str) and "@" in who:
            user = account.user_by_email(who)
        else:
            raise ControlError("a person is \"agent\", \"admin\", \"requester\" or an e-mail")
        if user is None:
            raise ControlError("no user %r" % who)
        return user

    def _web(self, actor):
        return self.sim.desk.context(actor, "web", SYSTEM_WEB)

    @staticmethod
    def _choice(body, key, allowed, default=None):
        value = body.get(key, default)
        if value is not None and value not in allowed:
            raise ControlError("%s must be one of %s" % (key, ", ".join(allowed)))
        return value

    @staticmethod
    def _tag_list(body):
        tags = body.get("tags", [])
        if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
            raise ControlError("tags must be a list of strings")
        return tags

    def act_create_ticket(self, body):
        """An end user submits a ticket through the web form."""
        email = body.get("requester_email")
        if not isinstance(email, str) or "@" not in email:
            raise ControlError("requester_email is required")
        desk = self.sim.desk
        requester, _created = desk.find_or_create_end_user(email, body.get("requester_name"))
        ctx = self._web(requester)
        ticket, audit = desk.create_ticket(
            ctx, requester=requester, submitter=requester,
            comment=make_comment(requester.id, body.get("body"), None,
                                 body.get("public", True)),
            subject=body.get("subject"),
            status=self._choice(body, "status", STATUSES, "new"),
            priority=self._choice(body, "priority", PRIORITIES),
            ticket_type=self._choice(body, "type", TICKET_TYPES),
            tags=self._tag_list(body))
        if body.get("ai_agent"):
            ticket.ai_agent = True
        return ticket, audit.comment, ctx.events.event_ids

    def act_reply(self, body):
        """A comment by the agent, the admin, the requester or any user.

        Without an explicit status, UI rules apply: a staff reply opens a new
        ticket; a requester reply reopens a pending or solved ticket.
        """
        ticket = self._ticket(body)
        author = self._person(body.get("author", "agent"), ticket)
        status = self._choice(body, "status", STATUSES)
        if status is None:
            if author.is_staff and ticket.status == "new":
                status = "open"
            elif not author.is_staff and ticket.status in ("pending", "solved"):
                status = "open"
        ctx = self._web(author)
        changes = [("status", status)] if status else []
        audit = self.sim.desk.update_ticket(
            ctx, ticket, comment=make_comment(author.id, body.get("body"), None,
                                              body.get("public", True)),
            changes=changes)
        return ticket, audit.comment, ctx.events.event_ids

    def act_set_status(self, body):
        ticket = self._ticket(body)
        status = self._choice(body, "status", STATUSES)
        if status is None:
            raise ControlError("status is required")
        ctx = self._web(self._person(body.get("actor", "agent"), ticket))
        self.sim.desk.update_ticket(ctx, ticket, changes=[("status", status)])
        return ticket, None, ctx.events.event_ids

    def act_update(self, body):
        ticket = self._ticket(body)
        changes = []
        if "subject" in body:
            if not isinstance(body["subject"], str):
                raise ControlError("subject must be a string")
            changes.append(("subject", body["subject"]))
        if "priority" in body:
            changes.append(("priority", self._choice(body, "priority", PRIORITIES)))
        if "type" in body:
            changes.append(("type", self._choice(body, "type", TICKET_TYPES)))
        if "tags" in body:
            changes.append(("tags", list(dict.fromkeys(self._tag_list(body)))))
        ctx = self._web(self._person(body.get("actor", "agent"), ticket))
        self.sim.desk.update_ticket(ctx, ticket, changes=changes)
        return ticket, None, ctx.events.event_ids

    def act_soft_delete(self, body):
        ticket = self._ticket(body)
        ctx = self._web(self._person(body.get("actor", "admin"), ticket))
        self.sim.desk.soft_delete(ctx, ticket)
        return ticket, None, ctx.events.event_ids

    def act_permanent_delete(self, body):
        """Soft-delete first when needed (both events share a sequence)."""
        ticket = self._ticket(body)
        ctx = self._web(self._person(body.get("actor", "admin"), ticket))
        if not ticket.deleted:
            self.sim.desk.soft_delete(ctx, ticket)
        self.sim.desk.scrub(ctx, ticket)
        return ticket, None, ctx.events.event_ids

    def act_restore(self, body):
        ticket = self._ticket(body)
        ctx = self._web(self._person(body.get("actor", "admin"), ticket))
        self.sim.desk.restore(ctx, ticket)
        return ticket, None, ctx.events.event_ids

    def act_merge(self, body):
        account = self.sim.account
        source = account.ticket(_require_int(body, "source_id"))
        target = account.ticket(_require_int(body, "target_id"))
        if source is None or target is None:
            raise ControlError("no such ticket", 404)
        ctx = self._web(self._person(body.get("actor", "agent"), target))
        self.sim.desk.merge(ctx, target, [source],
                            target_comment=body.get("target_comment"),
                            source_comment=body.get("source_comment"),
                            target_public=bool(body.get("target_comment_is_public", False)),
                            source_public=bool(body.get("source_comment_is_public", False)))
        return target, None, ctx.events.event_ids

    def act_mark_spam(self, body):
        ticket = self._ticket(body)
        ctx = self._web(self._person(body.get("actor", "agent"), ticket))
        self.sim.desk.mark_spam(ctx, ticket)
        return ticket, None, ctx.events.event_ids

    # --- webhooks, faults, request log ------------------------------------------------

    @staticmethod
    def _since(req):
        try:
            return int(req.param("since", "0") or 0)
        except ValueError:
            raise ControlError("since must be an integer") from None

    def get_webhooks(self, req, body):
        hub = self.sim.hub
        return 200, {"events": hub.events_since(self._since(req)), "last_seq": hub.last_seq}

    def clear_webhooks(self, req, body):
        self.sim.hub.clear()
        return 200, {"last_seq": self.sim.hub.last_seq}

    def get_faults(self, req, body):
        return 200, {"faults": self.sim.faults.rules()}

    def add_fault(self, req, body):
        try:
            rule = self.sim.faults.add(body, self.sim.rng.getrandbits(32))
        except ValueError as exc:
            raise ControlError(str(exc)) from None
        return 201, {"id": rule.id, "fault": rule.as_dict()}

    def clear_faults(self, req, body):
        self.sim.faults.clear()
        return 200, {"faults": []}

    def remove_fault(self, req, body, rule_id):
        if not self.sim.faults.remove(int(rule_id)):
            raise ControlError("no fault %s" % rule_id, 404)
        return 200, {"deleted": int(rule_id)}

    def get_requests(self, req, body):
        log = self.sim.log
        limit = req.param("limit")
        try:
            limit = int(limit) if limit else None
        except ValueError:
            raise ControlError("limit must be an integer") from None
        return 200, {"requests": log.since(self._since(req), limit), "last_seq": log.last_seq}

    def clear_requests(self, req, body):
        self.sim.log.clear()
        return 200, {"last_seq": self.sim.log.last_seq}

    # --- state --------------------------------------------------------------------------

    def get_state(self, req, body):
        """Every ticket (or ?ids=) with internal state, and every user."""
        account = self.sim.account
        if req.param("ids"):
            try:
                ids = [int(x) for x in req.param("ids").split(",") if x.strip()]
            except ValueError:
                raise ControlError("ids must be a comma-separated list") from None
            tickets = [account.tickets[i] for i in ids if i in account.tickets]
        else:
            tickets = sorted(account.tickets.values(), key=lambda t: t.id)
        with_comments = req.param("comments", "true").lower() != "false"
        items = [state_ticket_json(t, req.base_url, account, with_comments) for t in tickets]
        return 200, {"tickets": items,
                     "users": [user_json(u, req.base_url) for u in account.users.values()]}

    def get_state_ticket(self, req, body, ticket_id):
        account = self.sim.account
        ticket = account.tickets.get(int(ticket_id))
        if ticket is None:
            raise ControlError("no ticket %s" % ticket_id, 404)
        return 200, {"ticket": state_ticket_json(ticket, req.base_url, account)}
