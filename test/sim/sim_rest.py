"""The Zendesk Support REST API (/api/v2) of the simulator.

RestApi.authenticate() checks the credentials of a request; RestApi.serve()
applies the rate limits, routes the request and runs its endpoint.  Both run
under the simulator's state lock.  The HTTP server in zendesk_sim.py calls
them and injects faults in between.

Sections: authentication, routing and limits, pagination helpers, users,
incremental exports, tickets, deleted tickets and jobs, idempotency.
"""

import base64
import binascii
import json
import re
import urllib.parse

from sim_base import (CUSTOM_FIELD_ID, PRIORITIES, ROLES, STATUSES, TICKET_TYPES,
                      ApiError, Response, dump_json, not_found, record_invalid)
from sim_desk import make_comment
from sim_model import (anonymous_user_json, api_system, audit_json, comment_json,
                       deleted_ticket_json, ticket_event_json, ticket_json,
                       ticket_user_ids, user_json)

# --- error bodies -------------------------------------------------------------------

AUTH_FAILED = {"error": "Couldn't authenticate you"}
OAUTH_FAILED = {"error": "invalid_token",
                "error_description": "The access token provided is expired, revoked, "
                                     "malformed or invalid for other reasons."}
FORBIDDEN = {"error": "Forbidden",
             "description": "You do not have access to this page. Please contact the "
                            "account owner of this help desk for further help."}
NO_ENDPOINT = {"error": "InvalidEndpoint", "description": "Not found"}
RATE_LIMITED = {"error": "RateLimited",
                "description": "Number of allowed API requests per minute exceeded"}
MALFORMED_JSON = {"error": "Unprocessable Entity",
                  "description": "Server could not parse JSON"}
TOO_RECENT = {"error": "InvalidValue",
              "description": "Too recent start_time. Use a start_time older than 5 minutes"}
IDEMPOTENCY_MISMATCH = {"error": "IdempotentRequestError",
                        "description": "Request parameters don't match the given "
                                       "idempotency key"}

MAX_KEY = 2 ** 63 - 1          # larger than any id or timestamp in index keys
EXPORT_MAX_PER_PAGE = 1000
PAGE_MAX = 100
OFFSET_RECORD_LIMIT = 10000
DELETED_TICKETS_DAYS = 30
IDEMPOTENCY_TTL = 2 * 3600
SCOPES = ("all", "agent", "ai_agent")
ROLE_RANK = {"end-user": 0, "agent": 1, "admin": 2}


def invalid(description):
    """400 InvalidValue for a malformed parameter."""
    return ApiError(400, {"error": "InvalidValue", "description": description})


# --- cursors --------------------------------------------------------------------------

def export_cursor(gts, ticket_id):
    """Opaque export cursor, shaped like Zendesk's: base64("{gts}.0||{id}|")."""
    return base64.b64encode(("%d.0||%d|" % (gts, ticket_id)).encode()).decode()


_EXPORT_CURSOR_RE = re.compile(r"^(\d+)\.\d+\|\|(\d+)\|$")


def parse_export_cursor(cursor):
    """(gts, id) of an export cursor; 400 when it is not one of ours."""
    try:
        # a "+" the client did not percent-encode arrives as a space
        text = base64.b64decode(cursor.replace(" ", "+"), validate=True).decode("ascii")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        text = ""
    match = _EXPORT_CURSOR_RE.match(text)
    if not match:
        raise invalid("Invalid cursor")
    return int(match.group(1)), int(match.group(2))


def page_cursor(order, key):
    """Opaque cursor of the cursor-paginated lists (base64 of a small JSON)."""
    return base64.b64encode(dump_json({"o": order, "v": list(key)}).encode()).decode()


def parse_page_cursor(cursor, order):
    """The position a list cursor encodes; 400 when it is not one of ours."""
    try:
        data = json.loads(base64.b64decode(cursor.replace(" ", "+"), validate=True))
        if data["o"] == order and isinstance(data["v"], list):
            return tuple(data["v"])
    except (binascii.Error, ValueError, KeyError, TypeError):
        pass
    raise invalid("Invalid cursor")


# positions of list items (what cursors of the paginated lists encode)
def comment_position(comment):
    return (comment.audit.ts, comment.id)


def audit_position(audit):
    return (audit.ts, audit.id)


DELETED_SORT_KEYS = {
    "id": lambda t: (t.id,),
    "subject": lambda t: (t.subject or "", t.id),
    "deleted_at": lambda t: (t.deleted_at, t.id),
}


class IdempotencyStore:
    """Idempotency-Key -> the response of the ticket create that used it."""

    def __init__(self):
        self._entries = {}

    def clear(self):
        self._entries = {}

    def lookup(self, key, now):
        """(fingerprint, response) still kept for the key, or None."""
        entry = self._entries.get(key)
        if entry is None:
            return None
        fingerprint, response, expires = entry
        if now >= expires:
            del self._entries[key]
            return None
        return fingerprint, response

    def remember(self, key, fingerprint, response, now):
        self._entries[key] = (fingerprint, response, now + IDEMPOTENCY_TTL)


class Route:
    """An endpoint: method, path pattern, handler, minimum role, extra limits."""

    def __init__(self, method, pattern, handler, role, buckets=None):
        self.method = method
        self.regex = re.compile("^" + pattern + "$")
        self.handler = handler
        self.role = role          # minimum role, or None: anonymous allowed
        self.buckets = buckets    # function(req, user, match) -> [Bucket], or None


class RestApi:
    """The /api/v2 endpoints."""

    def __init__(self, account, desk, clock, config, limits):
        self.account = account
        self.desk = desk
        self.clock = clock
        self.config = config
        self.limits = limits
        self.idempotency = IdempotencyStore()
        agent, admin = "agent", "admin"
        self.routes = [
            Route("GET", r"users/me", self.users_me, None),
            Route("GET", r"users/show_many", self.users_show_many, agent),
            Route("GET", r"users/search", self.users_search, agent),
            Route("POST", r"users/create_or_update", self.users_create_or_update, admin,
                  self._user_write_buckets),
            Route("GET", r"users/(\d+)", self.users_show, agent),
            Route("GET", r"incremental/tickets/cursor", self.export_tickets_cursor, admin,
                  lambda *_: [self.limits.incremental()]),
            Route("GET", r"incremental/tickets", self.export_tickets_time, admin,
                  lambda *_: [self.limits.incremental()]),
            Route("GET", r"incremental/ticket_events", self.export_ticket_events, admin,
                  lambda *_: [self.limits.incremental()]),
            Route("GET", r"tickets", self.tickets_list, agent),
            Route("POST", r"tickets", self.tickets_create, agent),
            Route("GET", r"tickets/show_many", self.tickets_show_many, agent),
            Route("GET", r"tickets/(\d+)", self.tickets_show, agent),
            Route("PUT", r"tickets/(\d+)", self.tickets_update, agent,
                  lambda req, user, m: self.limits.ticket_update(int(m.group(1)), user.id)),
            Route("DELETE", r"tickets/(\d+)", self.tickets_delete, agent),
            Route("GET", r"tickets/(\d+)/comments", self.tickets_comments, agent),
            Route("GET", r"tickets/(\d+)/audits", self.tickets_audits, agent),
            Route("POST", r"tickets/(\d+)/merge", self.tickets_merge, agent),
            Route("PUT", r"tickets/(\d+)/mark_as_spam", self.tickets_mark_spam, agent),
            Route("GET", r"deleted_tickets", self.deleted_list, agent,
                  lambda *_: [self.limits.deleted_index()]),
            Route("PUT", r"deleted_tickets/(\d+)/restore", self.deleted_restore, agent),
            Route("DELETE", r"deleted_tickets/(\d+)", self.deleted_destroy, agent),
            Route("GET", r"job_statuses/(\w+)", self.job_show, agent),
        ]

    def reset(self):
        self.idempotency.clear()

    # --- authentication -----------------------------------------------------------

    def authenticate(self, req):
        """The user a request acts as; None for an anonymous GET /users/me.

        API tokens are account-wide (as in Zendesk): any valid token with the
        e-mail of an active, unsuspended user authenticates as that user.
        """
        header = req.headers.get("Authorization")
        if not header:
            if req.method == "GET" and self._relative(req.path) == "users/me":
                return None
            raise ApiError(401, AUTH_FAILED)
        scheme, _, credentials = header.strip().partition(" ")
        if scheme.lower() == "bearer":
            user = self.account.users.get(self.account.oauth_tokens.get(credentials.strip()))
            if user is None or not user.active or user.suspended:
                raise ApiError(401, OAUTH_FAILED)
            return user
        if scheme.lower() != "basic":
            raise ApiError(401, AUTH_FAILED)
        try:
            decoded = base64.b64decode(credentials.strip(), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError, ValueError):
            raise ApiError(401, AUTH_FAILED) from None
        username, colon, secret = decoded.partition(":")
        if not colon or not username.endswith("/token") or secret not in self.account.api_tokens:
            raise ApiError(401, AUTH_FAILED)
        user = self.account.user_by_email(username[:-len("/token")])
        if user is None or not user.active or user.suspended:
            raise ApiError(401, AUTH_FAILED)
        return user

    # --- routing and limits -------------------------------------------------------

    @staticmethod
    def _relative(path):
        """"/api/v2/tickets/5.json" -> "tickets/5"; None outside /api/v2."""
        if not path.startswith("/api/v2/"):
            return None
        rel = path[len("/api/v2/"):].rstrip("/")
        return rel[:-5] if rel.endswith(".json") else rel

    def _route(self, req):
        rel = self._relative(req.path)
        if rel is None:
            return None, None
        for route in self.routes:
            if route.method == req.method:
                match = route.regex.match(rel)
                if match:
                    return route, match
        return None, None

    def serve(self, req, user):
        """Apply limits and run the endpoint; returns a Response.

        Anonymous requests (GET /users/me only) are not counted.  A request
        answered 429 consumes no quota.  Endpoint limits (incremental exports,
        deleted tickets, ticket updates, user writes) come on top of the
        account limit.
        """
        now = self.clock.now()
        route, match = self._route(req)
        if user is None:
            return self._run(route, req, user, match)
        buckets = [self.limits.account()]
        wait = self.limits.blocked(buckets, now)
        if wait is None and route is not None and self._allowed(route, user) \
                and route.buckets is not None:
            try:
                buckets += route.buckets(req, user, match)
            except ApiError as exc:
                self.limits.record(buckets, now)
                return self._with_headers(exc.response(), buckets, now)
            wait = self.limits.blocked(buckets, now)
        if wait is not None:
            response = Response.json(429, RATE_LIMITED, [("Retry-After", str(wait))])
            response.rate_limited = True
            return self._with_headers(response, buckets, now)
        self.limits.record(buckets, now)
        if route is None:
            response = Response.json(404, NO_ENDPOINT)
        elif not self._allowed(route, user):
            response = Response.json(403, FORBIDDEN)
        else:
            response = self._run(route, req, user, match)
        return self._with_headers(response, buckets, now)

    @staticmethod
    def _allowed(route, user):
        return route.role is None or ROLE_RANK[user.role] >= ROLE_RANK[route.role]

    @staticmethod
    def _run(route, req, user, match):
        if route is None:
            return Response.json(404, NO_ENDPOINT)
        try:
            return route.handler(req, user, match)
        except ApiError as exc:
            return exc.response()

    def _with_headers(self, response, buckets, now):
        response.headers.extend(self.limits.headers(buckets, now))
        return response

    def rate_headers(self):
        """Account rate-limit headers, for answers made outside serve()."""
        return self.limits.headers([], self.clock.now())

    # --- request helpers ----------------------------------------------------------

    @staticmethod
    def _body(req, key):
        """The JSON object under `key` in the request body."""
        try:
            data = req.json()
        except ValueError:
            raise ApiError(400, MALFORMED_JSON) from None
        if not isinstance(data, dict) or not isinstance(data.get(key), dict):
            raise invalid("Parameter %s is required and must be an object" % key)
        return data[key]

    @staticmethod
    def _int_param(req, name, default=None, low=None, high=None):
        """An integer query parameter; clamped to [low, high]; 400 if not a number."""
        raw = req.param(name)
        if raw is None or raw == "":
            return default
        try:
            value = int(raw)
        except ValueError:
            raise invalid("%s must be an integer" % name) from None
        if low is not None:
            value = max(low, value)
        if high is not None:
            value = min(high, value)
        return value

    @staticmethod
    def _ids_param(req, name):
        """A comma-separated id list (at most 100)."""
        raw = req.param(name, "")
        try:
            ids = [int(part) for part in raw.split(",") if part.strip()]
        except ValueError:
            raise invalid("%s must be a comma-separated list of ids" % name) from None
        if len(ids) > PAGE_MAX:
            raise invalid("at most %d ids are allowed" % PAGE_MAX)
        return ids

    def _user_ref(self, value, field):
        """The user an id in a request body refers to, or a 422."""
        user = self.account.users.get(value) if isinstance(value, int) else None
        if user is None:
            raise record_invalid(field, "%s: is invalid" % field.replace("_", " ").capitalize())
        return user

    @staticmethod
    def _url(req, first, drop=()):
        """This endpoint's URL with `first` params, then the request's others."""
        pairs = list(first) + [(k, v) for k, v in
                               urllib.parse.parse_qsl(req.query, keep_blank_values=True)
                               if k not in drop and k not in dict(first)]
        return "%s%s?%s" % (req.base_url, req.path,
                            urllib.parse.urlencode(pairs, quote_via=urllib.parse.quote))

    # --- pagination ---------------------------------------------------------------

    def _paginate(self, req, items, key, collection, order, render):
        """Cursor pagination when page[size]/page[after]/page[before] is given,
        else offset pagination.  `items` are already in the requested order;
        `key(item)` is the item's position, encoded in cursors."""
        if any(p in req.params for p in ("page[size]", "page[after]", "page[before]")):
            return self._cursor_page(req, items, key, collection, order, render)
        return self._offset_page(req, items, collection, render)

    def _cursor_page(self, req, items, key, collection, order, render):
        size = self._int_param(req, "page[size]", PAGE_MAX, 1, PAGE_MAX)
        after, before = req.param("page[after]"), req.param("page[before]")
        if after and before:
            raise invalid("page[after] and page[before] cannot be combined")
        keys = [key(item) for item in items]
        if before:
            position = parse_page_cursor(before, order)
            stop = next((i for i, k in enumerate(keys) if k == position), None)
            if stop is None:
                stop = self._first_beyond(keys, position, items, key)
            start = max(0, stop - size)
            has_more = start > 0
        else:
            start = 0
            if after:
                start = self._first_beyond(keys, parse_page_cursor(after, order), items, key)
            stop = min(len(items), start + size)
            has_more = stop < len(items)
        page = items[start:stop]
        after_cursor = page_cursor(order, keys[stop - 1]) if page else None
        before_cursor = page_cursor(order, keys[start]) if page else None
        drop = ("page[after]", "page[before]", "page[size]")
        return {
            collection: [render(item) for item in page],
            "meta": {"has_more": has_more, "after_cursor": after_cursor,
                     "before_cursor": before_cursor},
            "links": {
                "next": self._url(req, [("page[after]", after_cursor),
                                        ("page[size]", str(size))], drop) if page else None,
                "prev": self._url(req, [("page[before]", before_cursor),
                                        ("page[size]", str(size))], drop) if page else None,
            },
        }

    @staticmethod
    def _first_beyond(keys, position, items, key):
        """Index of the first item that comes after `position` in list order."""
        ascending = len(keys) < 2 or keys[0] <= keys[-1]
        for i, k in enumerate(keys):
            if (k > position) if ascending else (k < position):
                return i
        return len(keys)

    def _offset_page(self, req, items, collection, render):
        page = self._int_param(req, "page", 1, 1)
        per_page = self._int_param(req, "per_page", PAGE_MAX, 1, PAGE_MAX)
        if (page - 1) * per_page >= OFFSET_RECORD_LIMIT:
            raise ApiError(400, {"error": "InvalidPaginationParameter",
                                 "description": "Offset pagination is limited to the first "
                                                "10000 records; use cursor pagination"})
        start = (page - 1) * per_page
        chunk = items[start:start + per_page]
        more = start + per_page < len(items)
        return {
            collection: [render(item) for item in chunk],
            "next_page": self._url(req, [("page", str(page + 1)),
                                         ("per_page", str(per_page))]) if more else None,
            "previous_page": self._url(req, [("page", str(page - 1)),
                                             ("per_page", str(per_page))]) if page > 1 else None,
            "count": len(items),
        }

    # --- users --------------------------------------------------------------------

    def users_me(self, req, user, match):
        if user is None:
            return Response.json(200, {"user": anonymous_user_json()})
        return Response.json(200, {"user": user_json(user, req.base_url)})

    def users_show(self, req, user, match):
        found = self.account.users.get(int(match.group(1)))
        if found is None:
            raise not_found()
        return Response.json(200, {"user": user_json(found, req.base_url)})

    def users_show_many(self, req, user, match):
        if req.param("external_ids") is not None:
            wanted = [x for x in req.param("external_ids").split(",") if x.strip()]
            found = [self.account.users_by_external_id.get(x.strip().lower()) for x in wanted]
        else:
            found = [self.account.users.get(uid) for uid in self._ids_param(req, "ids")]
        return Response.json(200, {"users": [user_json(u, req.base_url)
                                             for u in found if u is not None]})

    def users_search(self, req, user, match):
        """?query= (Zendesk search syntax, a subset) or ?external_id= (exact)."""
        if req.param("external_id") is not None:
            found = self.account.users_by_external_id.get(req.param("external_id").lower())
            users = [found] if found else []
        elif req.param("query") is not None:
            users = self._search(req.param("query"))
        else:
            raise invalid("query or external_id is required")
        base = req.base_url
        return Response.json(200, self._offset_page(req, users, "users",
                                                    lambda u: user_json(u, base)))

    def _search(self, query):
        """Users matching every term: email:, name:, role:, external_id: or
        free text (an e-mail address matches exactly, other text is a
        substring of the name or e-mail).  Case-insensitive."""
        tests = []
        for term in query.split():
            field, colon, value = term.partition(":")
            value = value.strip('"').lower()
            field = field.lower()
            if colon and field == "type":
                continue
            if colon and field == "email":
                tests.append(lambda u, v=value: (u.email or "").lower() == v)
            elif colon and field == "name":
                tests.append(lambda u, v=value: v in u.name.lower())
            elif colon and field == "role":
                tests.append(lambda u, v=value: u.role == v)
            elif colon and field == "external_id":
                tests.append(lambda u, v=value: (u.external_id or "").lower() == v)
            elif "@" in term:
                tests.append(lambda u, v=term.strip('"').lower(): (u.email or "").lower() == v)
            else:
                tests.append(lambda u, v=term.strip('"').lower():
                             v in u.name.lower() or v in (u.email or "").lower())
        if not tests:
            return []
        return [u for u in sorted(self.account.users.values(), key=lambda u: u.id)
                if all(test(u) for test in tests)]

    def _user_write_target(self, req):
        """The existing user a create_or_update request matches, and its body."""
        spec = self._body(req, "user")
        email, external_id = spec.get("email"), spec.get("external_id")
        found = None
        if isinstance(email, str):
            found = self.account.user_by_email(email)
        if found is None and external_id is not None:
            found = self.account.users_by_external_id.get(str(external_id).lower())
        return found, spec

    def _user_write_buckets(self, req, user, match):
        """Per-user limit key: the e-mail, else the matched user, else the external id."""
        found, spec = self._user_write_target(req)
        if isinstance(spec.get("email"), str):
            target = "email:" + spec["email"].lower()
        elif found is not None:
            target = "email:" + found.email.lower() if found.email else "id:%d" % found.id
        else:
            target = "external:" + str(spec.get("external_id")).lower()
        return self.limits.user_write(target)

    def users_create_or_update(self, req, user, match):
        """201 with the new user, or 200 with the one matched by e-mail or
        external_id (its name, role and external_id updated)."""
        found, spec = self._user_write_target(req)
        name, email, role = spec.get("name"), spec.get("email"), spec.get("role")
        external_id = spec.get("external_id")
        if external_id is not None:
            external_id = str(external_id)
        if role is not None and role not in ROLES:
            raise record_invalid("role", "Role: is invalid")
        now = self.clock.seconds()
        if found is not None:
            if isinstance(name, str) and name.strip():
                found.name = name
            if role is not None:
                found.role = role
            if external_id is not None and external_id != found.external_id:
                self.account.set_external_id(found, external_id)
            found.updated_at = now
            return Response.json(200, {"user": user_json(found, req.base_url)})
        if not isinstance(name, str) or not name.strip():
            raise record_invalid("name", "Name: cannot be blank", "BlankValue")
        if email is not None and (not isinstance(email, str) or "@" not in email):
            raise record_invalid("email", "Email: %s is not properly formatted" % email)
        created = self.account.add_user(name, email, role or "end-user", now,
                                        external_id=external_id,
                                        verified=bool(spec.get("verified", False)))
        return Response.json(201, {"user": user_json(created, req.base_url)})

    # --- incremental exports ------------------------------------------------------

    def _export_options(self, req):
        """(per_page, support_type_scope, visible cutoff) of an export request."""
        per_page = self._int_param(req, "per_page", EXPORT_MAX_PER_PAGE, 1,
                                   EXPORT_MAX_PER_PAGE)
        scope = req.param("support_type_scope", "agent")
        if scope not in SCOPES:
            raise invalid("support_type_scope must be one of all, agent, ai_agent")
        cutoff = self.clock.seconds() - self.config["export_lag_seconds"]
        return per_page, scope, cutoff

    def _start_time(self, req, cutoff):
        raw = req.param("start_time")
        if raw is None or raw == "":
            raise invalid("start_time is required")
        try:
            start = int(raw)
        except ValueError:
            raise invalid("start_time must be an integer (epoch seconds)") from None
        if start > cutoff:
            raise ApiError(422, TOO_RECENT)
        return start

    @staticmethod
    def _scope_test(scope):
        if scope == "agent":
            return lambda t: not t.ai_agent
        if scope == "ai_agent":
            return lambda t: t.ai_agent
        return lambda t: True

    def _ticket_filter(self, req, scope):
        in_scope = self._scope_test(scope)
        if req.param("exclude_deleted", "").lower() == "true":
            return lambda t: in_scope(t) and not t.gone
        return in_scope

    @staticmethod
    def _includes(req):
        return {part.strip() for part in req.param("include", "").split(",")}

    def _sideload_users(self, tickets, base):
        seen, users = set(), []
        for t in tickets:
            for uid in ticket_user_ids(t):
                if uid is not None and uid not in seen:
                    seen.add(uid)
                    found = self.account.users.get(uid)
                    if found is not None:
                        users.append(user_json(found, base))
        return users

    def export_tickets_cursor(self, req, user, match):
        """Cursor-based incremental ticket export, ordered by (gts, id)."""
        per_page, scope, cutoff = self._export_options(req)
        visible = self._ticket_filter(req, scope)
        index = self.account.ticket_index
        if req.param("cursor"):
            position = parse_export_cursor(req.param("cursor"))
        else:
            position = (self._start_time(req, cutoff), 0)
        keys, tickets = index.keys, self.account.tickets
        i, end = index.index_after(position), index.index_after((cutoff, MAX_KEY))
        page = []
        while i < end and len(page) < per_page:
            t = tickets[keys[i][1]]
            if visible(t):
                page.append(t)
            i += 1
        end_of_stream = not any(visible(tickets[keys[j][1]]) for j in range(i, end))
        after = export_cursor(page[-1].gts, page[-1].id) if page else export_cursor(*position)
        before = export_cursor(page[0].gts, page[0].id) if page else None
        drop = ("cursor", "start_time")
        base = req.base_url
        body = {
            "after_cursor": after,
            "after_url": self._url(req, [("cursor", after)], drop),
            "before_cursor": before,
            "before_url": self._url(req, [("cursor", before)], drop) if before else None,
            "end_of_stream": end_of_stream,
            "tickets": [ticket_json(t, base) for t in page],
        }
        if "users" in self._includes(req):
            body["users"] = self._sideload_users(page, base)
        return Response.json(200, body)

    @staticmethod
    def _time_page(index, lookup, visible, start, cutoff, per_page):
        """One page of a time-based export over a (time, id) index.

        Takes `per_page` visible items from `start` on, then every further item
        sharing the last one's time (so a page may exceed per_page).  Returns
        (items, end_time, end_of_stream).  end_time is the last item's time, so
        the next page, which starts there, repeats the boundary items (as
        Zendesk does); when the whole page shares the start time and more
        items follow, end_time is start + 1 so that a client cannot loop on the
        same page forever.
        """
        keys = index.keys
        i, end = index.index_from((start, 0)), index.index_after((cutoff, MAX_KEY))
        items, last_time = [], None
        while i < end and len(items) < per_page:
            item = lookup[keys[i][1]]
            if visible(item):
                items.append(item)
                last_time = keys[i][0]
            i += 1
        while i < end and keys[i][0] == last_time:
            item = lookup[keys[i][1]]
            if visible(item):
                items.append(item)
            i += 1
        end_of_stream = not any(visible(lookup[keys[j][1]]) for j in range(i, end))
        if last_time is None:
            end_time = start
        elif last_time == start and not end_of_stream:
            end_time = start + 1
        else:
            end_time = last_time
        return items, end_time, end_of_stream

    def export_tickets_time(self, req, user, match):
        """Time-based incremental ticket export (start_time inclusive)."""
        per_page, scope, cutoff = self._export_options(req)
        start = self._start_time(req, cutoff)
        tickets, end_time, end_of_stream = self._time_page(
            self.account.ticket_index, self.account.tickets,
            self._ticket_filter(req, scope), start, cutoff, per_page)
        base = req.base_url
        body = {
            "count": len(tickets),
            "end_of_stream": end_of_stream,
            "end_time": end_time,
            "next_page": self._url(req, [("start_time", str(end_time))]),
            "tickets": [ticket_json(t, base) for t in tickets],
        }
        if "users" in self._includes(req):
            body["users"] = self._sideload_users(tickets, base)
        return Response.json(200, body)

    def export_ticket_events(self, req, user, match):
        """Time-based ticket-events export: one item per audit."""
        per_page, scope, cutoff = self._export_options(req)
        start = self._start_time(req, cutoff)
        in_scope = self._scope_test(scope)
        audits, end_time, end_of_stream = self._time_page(
            self.account.audit_index, self.account.audits,
            lambda a: in_scope(a.ticket), start, cutoff, per_page)
        with_comments = "comment_events" in self._includes(req)
        return Response.json(200, {
            "count": len(audits),
            "end_of_stream": end_of_stream,
            "end_time": end_time,
            "next_page": self._url(req, [("start_time", str(end_time))]),
            "ticket_events": [ticket_event_json(a, with_comments) for a in audits],
        })

    # --- tickets ------------------------------------------------------------------

    def _context(self, req, user, spec):
        metadata = spec.get("metadata")
        return self.desk.context(user, "api",
                                 api_system(req.headers.get("User-Agent"), req.client_ip),
                                 metadata if isinstance(metadata, dict) else None)

    @staticmethod
    def _enum(spec, field, allowed, nullable):
        value = spec.get(field)
        if value is None and nullable:
            return None
        if value not in allowed:
            raise record_invalid(field, "%s: %r is not valid" % (field.capitalize(), value))
        return value

    @staticmethod
    def _tags(value):
        if not isinstance(value, list) or not all(isinstance(t, str) for t in value):
            raise record_invalid("tags", "Tags: must be a list of strings")
        return list(dict.fromkeys(part for tag in value for part in tag.split()))

    @staticmethod
    def _custom_fields(value):
        """Values for the account's custom field (unknown field ids are ignored)."""
        if value is None:
            return None
        if not isinstance(value, list):
            raise record_invalid("custom_fields", "Custom fields: must be a list")
        for item in value:
            if isinstance(item, dict) and item.get("id") == CUSTOM_FIELD_ID:
                return ((CUSTOM_FIELD_ID, item.get("value")),)
        return None

    def _comment(self, spec, default_author, default_public):
        """The comment of a create/update body as a Desk comment spec."""
        comment = spec.get("comment")
        if not isinstance(comment, dict):
            raise record_invalid("comment", "Comment: must be an object")
        author = default_author
        if comment.get("author_id") is not None:
            author = self._user_ref(comment["author_id"], "author_id")
        return make_comment(author.id, comment.get("body"), comment.get("html_body"),
                            comment.get("public", default_public))

    def tickets_create(self, req, user, match):
        """POST /tickets, honouring Idempotency-Key."""
        try:
            data = req.json()
        except ValueError:
            raise ApiError(400, MALFORMED_JSON) from None
        key = req.headers.get("Idempotency-Key")
        if not key:
            return self._create_ticket(req, user)
        now = self.clock.now()
        fingerprint = json.dumps(data, sort_keys=True)
        kept = self.idempotency.lookup(key, now)
        if kept is not None:
            if kept[0] != fingerprint:
                raise ApiError(400, IDEMPOTENCY_MISMATCH)
            original = kept[1]
            headers = [(k, v) for k, v in original.headers if k == "Location"]
            return Response(original.status, original.body,
                            headers + [("x-idempotency-lookup", "hit")])
        response = self._create_ticket(req, user)
        if response.status == 201:
            self.idempotency.remember(key, fingerprint, response, now)
        response.headers.append(("x-idempotency-lookup", "miss"))
        return response

    def _create_ticket(self, req, user):
        spec = self._body(req, "ticket")
        if not isinstance(spec.get("comment"), dict):
            raise record_invalid("base", "Description: cannot be blank", "BlankValue")
        requester = user
        if isinstance(spec.get("requester"), dict):
            email = spec["requester"].get("email")
            if not isinstance(email, str) or "@" not in email:
                raise record_invalid("requester", "Requester: Email is invalid")
            requester, _created = self.desk.find_or_create_end_user(
                email, spec["requester"].get("name"), spec["requester"].get("locale_id"))
        elif spec.get("requester_id") is not None:
            requester = self._user_ref(spec["requester_id"], "requester_id")
        submitter = user
        if spec.get("submitter_id") is not None:
            submitter = self._user_ref(spec["submitter_id"], "submitter_id")
        comment = self._comment(spec, submitter, True)
        followup = None
        if spec.get("via_followup_source_id") is not None:
            followup = self.desk.check_followup_source(spec["via_followup_source_id"])
        subject = spec.get("subject")
        external_id = spec.get("external_id")
        ticket, audit = self.desk.create_ticket(
            self._context(req, user, spec), requester=requester, submitter=submitter,
            comment=comment, subject=subject if isinstance(subject, str) else None,
            status=self._enum(spec, "status", STATUSES, True) or "new",
            priority=self._enum(spec, "priority", PRIORITIES, True),
            ticket_type=self._enum(spec, "type", TICKET_TYPES, True),
            tags=self._tags(spec.get("tags", [])),
            custom_fields=self._custom_fields(spec.get("custom_fields")),
            external_id=None if external_id is None else str(external_id),
            followup_source=followup)
        location = "%s/api/v2/tickets/%d.json" % (req.base_url, ticket.id)
        return Response.json(201, {"ticket": ticket_json(ticket, req.base_url),
                                   "audit": audit_json(audit)},
                             [("Location", location)])

    def tickets_update(self, req, user, match):
        """PUT /tickets/{id}: a comment and/or field changes, in one audit."""
        spec = self._body(req, "ticket")
        ticket = self.account.live_ticket(int(match.group(1)))
        comment = None
        if "comment" in spec:
            inherited = ticket.comments[0].public if ticket.comments else True
            comment = self._comment(spec, user, inherited)
        changes = []
        if "status" in spec:
            changes.append(("status", self._enum(spec, "status", STATUSES, False)))
        if "subject" in spec:
            if spec["subject"] is not None and not isinstance(spec["subject"], str):
                raise record_invalid("subject", "Subject: must be a string")
            changes.append(("subject", spec["subject"]))
        if "priority" in spec:
            changes.append(("priority", self._enum(spec, "priority", PRIORITIES, True)))
        if "type" in spec:
            changes.append(("type", self._enum(spec, "type", TICKET_TYPES, True)))
        if "tags" in spec:
            changes.append(("tags", self._tags(spec["tags"])))
        audit = self.desk.update_ticket(self._context(req, user, spec), ticket,
                                        comment=comment, changes=changes)
        body = {"ticket": ticket_json(ticket, req.base_url)}
        if audit is not None:
            body["audit"] = audit_json(audit)
        return Response.json(200, body)

    def tickets_show(self, req, user, match):
        ticket = self.account.live_ticket(int(match.group(1)))
        return Response.json(200, {"ticket": ticket_json(ticket, req.base_url)})

    def tickets_show_many(self, req, user, match):
        found = [self.account.ticket(tid) for tid in self._ids_param(req, "ids")]
        return Response.json(200, {"tickets": [ticket_json(t, req.base_url)
                                               for t in found if t is not None and not t.gone]})

    def tickets_list(self, req, user, match):
        """GET /tickets (?external_id= filters; external_id is not unique)."""
        base = req.base_url
        if req.param("external_id") is not None:
            wanted = req.param("external_id")
            found = [t for t in self.account.tickets.values()
                     if not t.gone and t.external_id == wanted]
            return Response.json(200, {"tickets": [ticket_json(t, base) for t in found],
                                       "next_page": None, "previous_page": None,
                                       "count": len(found)})
        live = [t for t in self.account.tickets.values() if not t.gone]
        return Response.json(200, self._paginate(req, live, lambda t: (t.id,), "tickets",
                                                 "id", lambda t: ticket_json(t, base)))

    def tickets_delete(self, req, user, match):
        ticket = self.account.live_ticket(int(match.group(1)))
        self.desk.soft_delete(self._context(req, user, {}), ticket)
        return Response(204, b"")

    def _ordered(self, req, items, key):
        """Items sorted by key, descending for sort=-created_at / sort_order=desc."""
        descending = req.param("sort") == "-created_at" or req.param("sort_order") == "desc"
        return sorted(items, key=key, reverse=descending)

    def tickets_comments(self, req, user, match):
        ticket = self.account.live_ticket(int(match.group(1)))
        body = self._paginate(req, self._ordered(req, ticket.comments, comment_position),
                              comment_position, "comments", "created_at", comment_json)
        if "users" in self._includes(req):
            authors = dict.fromkeys(c.author_id for c in ticket.comments)
            body["users"] = [user_json(self.account.users[uid], req.base_url)
                             for uid in authors if uid in self.account.users]
        return Response.json(200, body)

    def tickets_audits(self, req, user, match):
        ticket = self.account.live_ticket(int(match.group(1)))
        return Response.json(200, self._paginate(
            req, self._ordered(req, ticket.audits, audit_position), audit_position,
            "audits", "created_at", audit_json))

    def tickets_merge(self, req, user, match):
        try:
            data = req.json()
        except ValueError:
            raise ApiError(400, MALFORMED_JSON) from None
        ids = data.get("ids") if isinstance(data, dict) else None
        if not isinstance(ids, list) or not all(isinstance(i, int) for i in ids):
            raise invalid("ids must be a list of ticket ids")
        target = self.account.live_ticket(int(match.group(1)))
        sources = [self.account.live_ticket(i) for i in ids]
        job = self.desk.merge(
            self._context(req, user, {}), target, sources,
            target_comment=data.get("target_comment"),
            source_comment=data.get("source_comment"),
            target_public=bool(data.get("target_comment_is_public", False)),
            source_public=bool(data.get("source_comment_is_public", False)))
        return Response.json(200, {"job_status": self.job_json(job, req.base_url)})

    def tickets_mark_spam(self, req, user, match):
        ticket = self.account.live_ticket(int(match.group(1)))
        self.desk.mark_spam(self._context(req, user, {}), ticket)
        return Response(200, b"")

    # --- deleted tickets and jobs -------------------------------------------------

    def deleted_list(self, req, user, match):
        """Soft-deleted, not scrubbed, deleted within the last 30 days."""
        sort_by = req.param("sort_by", "id")
        if sort_by not in DELETED_SORT_KEYS:
            raise invalid("sort_by must be one of id, subject, deleted_at")
        if req.param("sort_order", "asc") not in ("asc", "desc"):
            raise invalid("sort_order must be asc or desc")
        since = self.clock.seconds() - DELETED_TICKETS_DAYS * 86400
        found = [t for t in self.account.tickets.values()
                 if t.deleted and not t.scrubbed and t.deleted_at >= since]
        key = DELETED_SORT_KEYS[sort_by]
        found.sort(key=key, reverse=req.param("sort_order") == "desc")
        return Response.json(200, self._paginate(
            req, found, key, "deleted_tickets", sort_by,
            lambda t: deleted_ticket_json(t, self.account)))

    def deleted_restore(self, req, user, match):
        ticket = self.account.ticket(int(match.group(1)))
        if ticket is None:
            raise not_found()
        self.desk.restore(self._context(req, user, {}), ticket)
        return Response(200, b"")

    def deleted_destroy(self, req, user, match):
        """Permanent deletion; answers with a completed job status."""
        ticket = self.account.ticket(int(match.group(1)))
        if ticket is None:
            raise not_found()
        self.desk.scrub(self._context(req, user, {}), ticket)
        job = self.desk.new_job([{"id": ticket.id, "action": "delete", "success": True,
                                  "status": "Deleted"}])
        return Response.json(200, {"job_status": self.job_json(job, req.base_url)})

    def job_show(self, req, user, match):
        job = self.account.jobs.get(match.group(1))
        if job is None:
            raise not_found()
        return Response.json(200, {"job_status": self.job_json(job, req.base_url)})

    @staticmethod
    def job_json(job, base):
        """A job status as fixtures/job_status_create_many_completed.json."""
        return {"id": job["id"],
                "url": "%s/api/v2/job_statuses/%s.json" % (base, job["id"]),
                "total": job["total"], "progress": job["progress"],
                "status": job["status"], "message": job["message"],
                "results": job["results"]}
