#!/usr/bin/python3
"""Tests of the Zendesk simulator, through its HTTP interfaces only.

Run from the repository root with either
    /usr/bin/python3 test/sim/test_zendesk_sim.py
    /usr/bin/python3 -m unittest -v test/sim/test_zendesk_sim.py
Each test class starts its own simulator process on a free port and stops
it; each test starts from POST /_sim/reset.
"""

import base64
import hashlib
import hmac
import http.client
import http.server
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import unittest
import urllib.parse

HERE = os.path.dirname(os.path.abspath(__file__))
SIMULATOR = os.path.join(HERE, "zendesk_sim.py")

ADMIN = ("admin@acme.example", "sim-admin-token")
AGENT = ("agent@acme.example", "sim-agent-token")
SECRET = "dGhpc19zZWNyZXRfaXNfZm9yX3Rlc3Rpbmdfb25seQ=="
# fixtures/create_ticket_request.json
CREATE_REQUEST = {"ticket": {
    "subject": "Damaged order #1042",
    "comment": {"body": "My order #1042 arrived damaged. Can I get a replacement?",
                "public": True},
    "requester": {"name": "Pat Requester", "email": "pat@example.com"},
    "external_id": "pgzd-local-42", "priority": "normal", "type": "question",
    "tags": ["order", "damaged"], "custom_fields": [{"id": 27642, "value": "1042"}],
    "metadata": {"pg_zendesk_local_ticket_id": "42"}}}
# fixtures/error_422_closed_ticket.json
CLOSED_422 = {"error": "RecordInvalid", "description": "Record validation errors",
              "details": {"status": [{"description": "Status: closed prevents ticket update"}]}}

TICKET_KEYS = ["url", "id", "external_id", "via", "created_at", "updated_at",
               "generated_timestamp", "type", "subject", "raw_subject", "description",
               "priority", "status", "recipient", "requester_id", "submitter_id",
               "assignee_id", "organization_id", "group_id", "collaborator_ids",
               "follower_ids", "email_cc_ids", "forum_topic_id", "problem_id",
               "has_incidents", "is_public", "due_at", "tags", "custom_fields",
               "satisfaction_rating", "sharing_agreement_ids", "custom_status_id", "fields",
               "followup_ids", "ticket_form_id", "brand_id", "allow_channelback",
               "allow_attachments", "from_messaging_channel"]
USER_KEYS = ["id", "url", "name", "email", "created_at", "updated_at", "time_zone",
             "iana_time_zone", "phone", "shared_phone_number", "photo", "locale_id",
             "locale", "organization_id", "role", "verified", "external_id", "tags",
             "alias", "active", "shared", "shared_agent", "last_login_at",
             "two_factor_auth_enabled", "signature", "details", "notes", "role_type",
             "custom_role_id", "moderator", "ticket_restriction", "only_private_comments",
             "restricted_agent", "suspended", "default_group_id", "report_csv",
             "user_fields"]
COMMENT_KEYS = ["id", "type", "author_id", "body", "html_body", "plain_body", "public",
                "attachments", "audit_id", "via", "created_at", "metadata"]


def basic(email, token):
    raw = ("%s/token:%s" % (email, token)).encode()
    return "Basic " + base64.b64encode(raw).decode()


class Reply:
    """A decoded HTTP answer."""

    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers
        self.body = body

    def json(self):
        return json.loads(self.body) if self.body else None


class SimProcess:
    """A simulator running in a subprocess, with small HTTP helpers."""

    def __init__(self, seed=1):
        self.dir = tempfile.mkdtemp(prefix="zdsim-test-")
        port_file = os.path.join(self.dir, "port")
        self.log_path = os.path.join(self.dir, "sim.log")
        self._log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(
            [sys.executable, SIMULATOR, "--port-file", port_file, "--quiet",
             "--seed", str(seed)], stdout=self._log, stderr=self._log)
        deadline = time.monotonic() + 20
        while not os.path.exists(port_file):
            if time.monotonic() > deadline or self.proc.poll() is not None:
                raise RuntimeError("simulator did not start: " + self.log())
            time.sleep(0.02)
        with open(port_file, encoding="ascii") as f:
            self.port = int(f.read())

    def log(self):
        with open(self.log_path, encoding="utf-8", errors="replace") as f:
            return f.read()

    def stop(self):
        self.proc.send_signal(15)
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self._log.close()
        shutil.rmtree(self.dir, ignore_errors=True)

    def request(self, method, path, body=None, auth=ADMIN, headers=None, timeout=30,
                raw=None):
        """One request on a fresh connection; auth is (email, token), a header
        string, or None."""
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        hdrs = dict(headers or {})
        if isinstance(auth, tuple):
            hdrs["Authorization"] = basic(*auth)
        elif isinstance(auth, str):
            hdrs["Authorization"] = auth
        data = raw if raw is not None else (json.dumps(body) if body is not None else None)
        if data is not None:
            hdrs["Content-Type"] = "application/json"
        try:
            conn.request(method, path, body=data, headers=hdrs)
            resp = conn.getresponse()
            payload = resp.read()
            return Reply(resp.status, {k.lower(): v for k, v in resp.getheaders()}, payload)
        finally:
            conn.close()

    def api(self, method, path, body=None, **kw):
        return self.request(method, "/api/v2/" + path, body, **kw)

    def control(self, method, path, body=None):
        reply = self.request(method, "/_sim/" + path, body, auth=None)
        if reply.status >= 300:
            raise AssertionError("control %s %s -> %d %s" % (method, path, reply.status,
                                                           reply.body))
        return reply.json()


class SimTestCase(unittest.TestCase):
    """Starts one simulator per class; resets it before every test."""

    sim = None
    config = {"export_lag_seconds": 1, "incremental_limit_per_min": 10000}

    @classmethod
    def setUpClass(cls):
        cls.sim = SimProcess()

    @classmethod
    def tearDownClass(cls):
        cls.sim.stop()

    def setUp(self):
        self.sim.control("POST", "reset")
        if self.config:
            self.sim.control("POST", "config", self.config)

    # helpers

    def seed(self, **params):
        return self.sim.control("POST", "seed", params)

    def advance(self, seconds):
        self.sim.control("POST", "clock", {"advance": seconds})

    def action(self, name, **body):
        return self.sim.control("POST", "actions/" + name, body)

    def create_ticket(self, ticket, **kw):
        reply = self.sim.api("POST", "tickets.json", {"ticket": ticket}, **kw)
        self.assertEqual(reply.status, 201, reply.body)
        return reply.json()

    def export_all(self, per_page=1000, extra=""):
        """Drain the cursor export from start_time=0; returns (tickets, last reply)."""
        url = "incremental/tickets/cursor.json?start_time=0&per_page=%d%s" % (per_page, extra)
        seen, pages = [], 0
        while True:
            reply = self.sim.api("GET", url)
            self.assertEqual(reply.status, 200, reply.body)
            page = reply.json()
            seen.extend(page["tickets"])
            pages += 1
            if page["end_of_stream"]:
                return seen, page, pages
            url = "incremental/tickets/cursor.json?cursor=%s&per_page=%d%s" % (
                urllib.parse.quote(page["after_cursor"]), per_page, extra)

    def webhooks(self, since=0):
        return self.sim.control("GET", "webhooks?since=%d" % since)["events"]

    def requests_log(self, since=0):
        return self.sim.control("GET", "requests?since=%d" % since)["requests"]


# --- authentication ---------------------------------------------------------------


class AuthTests(SimTestCase):

    def test_good_token(self):
        reply = self.sim.api("GET", "users/me.json")
        self.assertEqual(reply.status, 200)
        user = reply.json()["user"]
        self.assertEqual(list(user), USER_KEYS)
        self.assertEqual((user["email"], user["role"], user["name"]),
                         ("admin@acme.example", "admin", "Sam Admin"))
        self.assertEqual(reply.headers["content-type"], "application/json; charset=utf-8")

    def test_path_without_json_suffix(self):
        self.assertEqual(self.sim.api("GET", "users/me").status, 200)

    def test_agent_is_not_admin(self):
        user = self.sim.api("GET", "users/me", auth=AGENT).json()["user"]
        self.assertEqual(user["role"], "agent")

    def test_wrong_token(self):
        reply = self.sim.api("GET", "users/me.json", auth=("admin@acme.example", "nope"))
        self.assertEqual(reply.status, 401)
        self.assertEqual(reply.json(), {"error": "Couldn't authenticate you"})

    def test_missing_token_suffix(self):
        raw = base64.b64encode(b"admin@acme.example:sim-admin-token").decode()
        reply = self.sim.api("GET", "tickets.json", auth="Basic " + raw)
        self.assertEqual(reply.status, 401)
        self.assertEqual(reply.json(), {"error": "Couldn't authenticate you"})

    def test_unknown_and_suspended_users(self):
        reply = self.sim.api("GET", "users/me", auth=("ghost@acme.example", ADMIN[1]))
        self.assertEqual(reply.status, 401)
        self.sim.control("POST", "users", {"email": "sus@acme.example", "role": "agent",
                                           "token": "sus-token", "suspended": True})
        reply = self.sim.api("GET", "users/me", auth=("sus@acme.example", "sus-token"))
        self.assertEqual(reply.status, 401)

    def test_email_is_case_insensitive(self):
        reply = self.sim.api("GET", "users/me", auth=("ADMIN@Acme.Example", ADMIN[1]))
        self.assertEqual(reply.json()["user"]["email"], "admin@acme.example")

    def test_oauth(self):
        reply = self.sim.api("GET", "users/me", auth="Bearer nope")
        self.assertEqual(reply.status, 401)
        self.assertEqual(reply.json()["error"], "invalid_token")
        self.sim.control("POST", "users", {"email": "admin@acme.example",
                                           "oauth_token": "oauth-1"})
        reply = self.sim.api("GET", "users/me", auth="Bearer oauth-1")
        self.assertEqual(reply.json()["user"]["email"], "admin@acme.example")

    def test_anonymous(self):
        reply = self.sim.api("GET", "users/me.json", auth=None)
        self.assertEqual(reply.status, 200)
        user = reply.json()["user"]
        self.assertIsNone(user["id"])
        self.assertEqual((user["name"], user["role"]), ("Anonymous user", "end-user"))
        self.assertEqual(self.sim.api("GET", "tickets.json", auth=None).status, 401)

    def test_agent_forbidden_on_exports(self):
        for path in ("incremental/tickets/cursor.json?start_time=0",
                     "incremental/tickets.json?start_time=0",
                     "incremental/ticket_events.json?start_time=0"):
            reply = self.sim.api("GET", path, auth=AGENT)
            self.assertEqual(reply.status, 403, path)
            self.assertEqual(reply.json()["error"], "Forbidden")
            self.assertIn("You do not have access to this page", reply.json()["description"])

    def test_end_user_forbidden(self):
        self.sim.control("POST", "users", {"email": "eu@example.com", "token": "eu-token"})
        self.assertEqual(self.sim.api("GET", "tickets.json", auth=("eu@example.com",
                                                                   "eu-token")).status, 403)

    def test_unknown_endpoint_and_bad_json(self):
        reply = self.sim.api("GET", "no/such/thing.json")
        self.assertEqual(reply.status, 404)
        self.assertEqual(reply.json(), {"error": "InvalidEndpoint", "description": "Not found"})
        reply = self.sim.api("POST", "tickets.json", raw="{not json")
        self.assertEqual(reply.status, 400)
        self.assertEqual(reply.json()["error"], "Unprocessable Entity")

    def test_keep_alive(self):
        conn = http.client.HTTPConnection("127.0.0.1", self.sim.port, timeout=10)
        try:
            for _ in range(3):
                conn.request("GET", "/api/v2/users/me.json",
                             headers={"Authorization": basic(*ADMIN)})
                resp = conn.getresponse()
                self.assertEqual(resp.status, 200)
                self.assertTrue(resp.getheader("Content-Length"))
                resp.read()
        finally:
            conn.close()


# --- cursor export ------------------------------------------------------------------


class CursorExportTests(SimTestCase):

    def test_pages_and_end_of_stream(self):
        self.seed(tickets=25, comments_per_ticket=2)
        url = "incremental/tickets/cursor.json?start_time=0&per_page=10&include=users"
        sizes, ids, keys = [], [], []
        while True:
            page = self.sim.api("GET", url).json()
            self.assertEqual(list(page)[:6], ["after_cursor", "after_url", "before_cursor",
                                              "before_url", "end_of_stream", "tickets"])
            sizes.append(len(page["tickets"]))
            for t in page["tickets"]:
                self.assertEqual(list(t), TICKET_KEYS)
                ids.append(t["id"])
                keys.append((t["generated_timestamp"], t["id"]))
            self.assertIn("include=users", page["after_url"])
            self.assertIn("per_page=10", page["after_url"])
            if page["end_of_stream"]:
                break
            url = page["after_url"].split("/api/v2/", 1)[1]
        self.assertEqual(sizes, [10, 10, 5])
        self.assertEqual(sorted(ids), list(range(1, 26)))
        self.assertEqual(keys, sorted(keys))

    def test_cursor_reuse_after_end_of_stream(self):
        self.seed(tickets=5)
        tickets, last, _ = self.export_all()
        self.assertEqual(len(tickets), 5)
        cursor = last["after_cursor"]
        url = "incremental/tickets/cursor.json?cursor=" + urllib.parse.quote(cursor)
        empty = self.sim.api("GET", url).json()
        self.assertEqual(empty["tickets"], [])
        self.assertTrue(empty["end_of_stream"])
        self.assertEqual(empty["after_cursor"], cursor)
        self.assertIsNone(empty["before_cursor"])
        self.assertIsNone(empty["before_url"])
        # a later change shows up behind the same cursor (after the lag)
        self.action("reply", ticket_id=3, body="one more thing", author="requester")
        self.assertEqual(self.sim.api("GET", url).json()["tickets"], [])
        self.advance(2)
        page = self.sim.api("GET", url).json()
        self.assertEqual([t["id"] for t in page["tickets"]], [3])
        self.assertGreater(page["tickets"][0]["generated_timestamp"],
                           max(t["generated_timestamp"] for t in tickets))
        # and that cursor keeps working too
        url2 = "incremental/tickets/cursor.json?cursor=" + urllib.parse.quote(
            page["after_cursor"])
        self.assertEqual(self.sim.api("GET", url2).json()["tickets"], [])

    def test_start_time_selects_by_generated_timestamp(self):
        info = self.seed(tickets=10)
        all_tickets, _, _ = self.export_all()
        middle = sorted(t["generated_timestamp"] for t in all_tickets)[5]
        page = self.sim.api("GET", "incremental/tickets/cursor.json?start_time=%d"
                            % middle).json()
        self.assertEqual(len(page["tickets"]), 5)
        self.assertTrue(all(t["generated_timestamp"] >= middle for t in page["tickets"]))
        self.assertEqual(info["tickets"], 10)

    def test_deleted_tickets_and_exclude_deleted(self):
        info = self.seed(tickets=10, soft_deleted=2, scrubbed=1)
        tickets, _, _ = self.export_all()
        by_id = {t["id"]: t for t in tickets}
        for tid in info["soft_deleted_ids"]:
            self.assertEqual(by_id[tid]["status"], "deleted")
            self.assertNotEqual(by_id[tid]["subject"], "")
        scrubbed = by_id[info["scrubbed_ids"][0]]
        self.assertEqual((scrubbed["status"], scrubbed["subject"], scrubbed["description"],
                          scrubbed["raw_subject"]), ("deleted", "", "", ""))
        kept, _, _ = self.export_all(extra="&exclude_deleted=true")
        self.assertEqual(len(kept), 7)
        self.assertNotIn("deleted", {t["status"] for t in kept})

    def test_include_users(self):
        self.seed(tickets=12, requesters=4, agents=2)
        page = self.sim.api("GET", "incremental/tickets/cursor.json?start_time=0"
                            "&include=users").json()
        wanted = set()
        for t in page["tickets"]:
            wanted |= {t["requester_id"], t["submitter_id"], t["assignee_id"]} - {None}
        users = page["users"]
        self.assertEqual(len(users), len({u["id"] for u in users}))
        self.assertEqual({u["id"] for u in users}, wanted)
        self.assertEqual(list(users[0]), USER_KEYS)
        plain = self.sim.api("GET", "incremental/tickets/cursor.json?start_time=0").json()
        self.assertNotIn("users", plain)

    def test_support_type_scope(self):
        info = self.seed(tickets=10, ai_agent_tickets=3)
        default, _, _ = self.export_all()
        self.assertEqual(len(default), 7)
        self.assertFalse({t["id"] for t in default} & set(info["ai_agent_ids"]))
        everything, _, _ = self.export_all(extra="&support_type_scope=all")
        self.assertEqual(len(everything), 10)
        ai_only, _, _ = self.export_all(extra="&support_type_scope=ai_agent")
        self.assertEqual(sorted(t["id"] for t in ai_only), info["ai_agent_ids"])
        reply = self.sim.api("GET", "incremental/tickets/cursor.json?start_time=0"
                             "&support_type_scope=bots")
        self.assertEqual(reply.status, 400)

    def test_cursor_is_zendesk_shaped(self):
        self.seed(tickets=3)
        page = self.sim.api("GET", "incremental/tickets/cursor.json?start_time=0").json()
        last = page["tickets"][-1]
        decoded = base64.b64decode(page["after_cursor"]).decode()
        self.assertEqual(decoded, "%d.0||%d|" % (last["generated_timestamp"], last["id"]))
        self.assertEqual(self.sim.api("GET", "incremental/tickets/cursor.json?cursor=zzz")
                         .status, 400)


# --- export lag -----------------------------------------------------------------------


class ExportLagTests(SimTestCase):
    config = {"incremental_limit_per_min": 10000}     # default 60 s lag

    def test_recent_changes_are_hidden(self):
        now = int(self.sim.control("GET", "clock")["now"])
        self.create_ticket({"subject": "fresh", "comment": {"body": "hi"}})
        url = "incremental/tickets/cursor.json?start_time=%d" % (now - 3600)
        self.assertEqual(self.sim.api("GET", url).json()["tickets"], [])
        self.advance(61)
        self.assertEqual([t["subject"] for t in self.sim.api("GET", url).json()["tickets"]],
                         ["fresh"])

    def test_too_recent_start_time(self):
        now = int(self.sim.control("GET", "clock")["now"])
        for path in ("incremental/tickets/cursor.json", "incremental/tickets.json",
                     "incremental/ticket_events.json"):
            reply = self.sim.api("GET", "%s?start_time=%d" % (path, now - 30))
            self.assertEqual(reply.status, 422, path)
            self.assertEqual(reply.json(), {
                "error": "InvalidValue",
                "description": "Too recent start_time. Use a start_time older than 5 minutes"})
        self.assertEqual(self.sim.api("GET", "incremental/tickets.json?start_time=%d"
                                      % (now - 61)).status, 200)

    def test_seed_default_end_time_is_visible(self):
        self.seed(tickets=4)
        tickets, _, _ = self.export_all()
        self.assertEqual(len(tickets), 4)


# --- time-based exports -------------------------------------------------------------------


class TimeExportTests(SimTestCase):

    def setUp(self):
        super().setUp()
        now = int(self.sim.control("GET", "clock")["now"])
        self.t0 = now - 1000
        # 10 tickets at each of t0, t0+1, t0+2 (one comment each)
        self.seed(tickets=30, comments_per_ticket=1, start_time=self.t0, end_time=self.t0 + 3)

    def test_page_extension_and_boundary_duplicates(self):
        page1 = self.sim.api("GET", "incremental/tickets.json?start_time=%d&per_page=15"
                             % self.t0).json()
        self.assertEqual(list(page1), ["count", "end_of_stream", "end_time", "next_page",
                                       "tickets"])
        self.assertEqual(page1["count"], 20)           # 15 extended to all of t0+1
        self.assertEqual(page1["end_time"], self.t0 + 1)
        self.assertFalse(page1["end_of_stream"])
        self.assertIn("start_time=%d" % (self.t0 + 1), page1["next_page"])
        self.assertIn("per_page=15", page1["next_page"])
        page2 = self.sim.api("GET", page1["next_page"].split("/api/v2/", 1)[1]).json()
        self.assertEqual(page2["count"], 20)           # t0+1 again, then all of t0+2
        self.assertTrue(page2["end_of_stream"])
        ids1 = {t["id"] for t in page1["tickets"]}
        ids2 = {t["id"] for t in page2["tickets"]}
        self.assertEqual(len(ids1 & ids2), 10)         # the boundary duplicates
        self.assertEqual(ids1 | ids2, set(range(1, 31)))

    def test_page_of_one_timestamp_moves_on(self):
        page = self.sim.api("GET", "incremental/tickets.json?start_time=%d&per_page=5"
                            % self.t0).json()
        self.assertEqual(page["count"], 10)
        self.assertEqual(page["end_time"], self.t0 + 1)

    def test_empty_page(self):
        page = self.sim.api("GET", "incremental/tickets.json?start_time=%d"
                            % (self.t0 + 500)).json()
        self.assertEqual((page["count"], page["end_time"], page["end_of_stream"]),
                         (0, self.t0 + 500, True))

    def test_include_users(self):
        page = self.sim.api("GET", "incremental/tickets.json?start_time=%d&include=users"
                            % self.t0).json()
        self.assertTrue(page["users"])


# --- ticket events -------------------------------------------------------------------------


class TicketEventsTests(SimTestCase):

    def test_with_and_without_comment_events(self):
        self.seed(tickets=3, comments_per_ticket=3)
        with_c = self.sim.api("GET", "incremental/ticket_events.json?start_time=0"
                              "&include=comment_events").json()
        self.assertEqual(list(with_c), ["count", "end_of_stream", "end_time", "next_page",
                                        "ticket_events"])
        events = with_c["ticket_events"]
        self.assertEqual(with_c["count"], 9)
        self.assertTrue(with_c["end_of_stream"])
        self.assertEqual(with_c["end_time"], events[-1]["timestamp"])
        self.assertIn("include=comment_events", with_c["next_page"])
        keys = [(e["timestamp"], e["id"]) for e in events]
        self.assertEqual(keys, sorted(keys))
        first = events[0]
        self.assertEqual(list(first), ["id", "ticket_id", "timestamp", "created_at",
                                       "updater_id", "via", "system", "event_type",
                                       "merged_ticket_ids", "child_events"])
        self.assertEqual((first["event_type"], first["via"]), ("Audit", "Email"))
        comment = first["child_events"][0]
        self.assertEqual(list(comment), ["id", "via", "via_reference_id", "type", "author_id",
                                         "body", "html_body", "plain_body", "public",
                                         "attachments", "audit_id", "created_at",
                                         "event_type"])
        self.assertEqual((comment["event_type"], comment["audit_id"]), ("Comment", first["id"]))
        self.assertEqual(comment["id"], first["id"] + 1)
        create = first["child_events"][1]
        self.assertEqual((create["event_type"], create["status"], create["via"]),
                         ("Create", "new", "Email"))
        # comment ids match the comments API
        ticket_id = first["ticket_id"]
        rest = self.sim.api("GET", "tickets/%d/comments.json" % ticket_id).json()["comments"]
        exported = [c["id"] for e in events if e["ticket_id"] == ticket_id
                    for c in e["child_events"] if c["event_type"] == "Comment"]
        self.assertEqual(exported, [c["id"] for c in rest])

        without = self.sim.api("GET", "incremental/ticket_events.json?start_time=0").json()
        for item in without["ticket_events"]:
            self.assertNotIn("Comment", {c["event_type"] for c in item["child_events"]})
            self.assertTrue(item["comment_present"])
            self.assertIn(item["comment_public"], (True, False))
        changes = [c for e in without["ticket_events"] for c in e["child_events"]
                   if c["event_type"] == "Change" and "status" in c]
        self.assertTrue(all("previous_value" in c for c in changes))

    def test_api_changes_and_scope(self):
        created = self.create_ticket({"subject": "s", "comment": {"body": "b"},
                                      "metadata": {"k": "v"}})
        tid = created["ticket"]["id"]
        self.sim.api("PUT", "tickets/%d.json" % tid, {"ticket": {"status": "pending"}})
        self.advance(2)
        events = self.sim.api("GET", "incremental/ticket_events.json?start_time=0"
                              "&include=comment_events").json()["ticket_events"]
        self.assertEqual([e["via"] for e in events], ["Web Service", "Web Service"])
        self.assertEqual(events[1]["child_events"][0]["status"], "pending")
        self.assertEqual(events[1]["child_events"][0]["previous_value"], "new")
        self.assertEqual([c["event_type"] for c in events[1]["child_events"]], ["Change"])
        self.assertNotIn("comment_present", events[1])     # only without comment_events
        self.seed(tickets=2, ai_agent_tickets=2)
        default = self.sim.api("GET", "incremental/ticket_events.json?start_time=0").json()
        everything = self.sim.api("GET", "incremental/ticket_events.json?start_time=0"
                                  "&support_type_scope=all").json()
        self.assertEqual(everything["count"] - default["count"], 6)

    def test_scrubbed_ticket_comments_are_gone(self):
        info = self.seed(tickets=2, scrubbed=1)
        tid = info["scrubbed_ids"][0]
        events = self.sim.api("GET", "incremental/ticket_events.json?start_time=0"
                              "&include=comment_events").json()["ticket_events"]
        mine = [e for e in events if e["ticket_id"] == tid]
        self.assertTrue(mine)
        for e in mine:
            self.assertNotIn("Comment", {c["event_type"] for c in e["child_events"]})


# --- ticket writes ---------------------------------------------------------------------------


class TicketWriteTests(SimTestCase):

    def test_create_with_new_requester(self):
        reply = self.sim.api("POST", "tickets.json", CREATE_REQUEST)
        self.assertEqual(reply.status, 201, reply.body)
        body = reply.json()
        ticket, audit = body["ticket"], body["audit"]
        self.assertEqual(list(ticket), TICKET_KEYS)
        self.assertEqual(reply.headers["location"],
                         "http://127.0.0.1:%d/api/v2/tickets/%d.json"
                         % (self.sim.port, ticket["id"]))
        self.assertEqual(ticket["id"], 1)
        self.assertEqual((ticket["status"], ticket["via"]["channel"]), ("new", "api"))
        self.assertEqual(ticket["tags"], ["damaged", "order"])
        self.assertEqual(audit["metadata"]["custom"], {"pg_zendesk_local_ticket_id": "42"})
        comment_event = audit["events"][0]
        self.assertEqual(comment_event["type"], "Comment")
        self.assertEqual([e["field_name"] for e in audit["events"][1:]],
                         ["status", "subject", "priority", "type", "requester_id", "tags"])
        self.assertEqual(ticket["custom_fields"], [{"id": 27642, "value": "1042"}])
        self.assertEqual(ticket["external_id"], "pgzd-local-42")
        requester = self.sim.api("GET", "users/%d.json" % ticket["requester_id"]).json()["user"]
        self.assertEqual((requester["email"], requester["name"], requester["role"]),
                         ("pat@example.com", "Pat Requester", "end-user"))
        admin = self.sim.api("GET", "users/me.json").json()["user"]
        self.assertEqual(ticket["submitter_id"], admin["id"])
        self.assertEqual(comment_event["author_id"], admin["id"])
        comments = self.sim.api("GET", "tickets/%d/comments.json" % ticket["id"]).json()
        self.assertEqual(comments["comments"][0]["id"], comment_event["id"])
        self.assertEqual(list(comments["comments"][0]), COMMENT_KEYS)
        self.assertEqual(comments["count"], 1)

    def test_existing_requester_reused_unchanged(self):
        self.sim.control("POST", "users", {"email": "Pat@Example.com", "name": "Pat Original"})
        ticket = self.create_ticket({"comment": {"body": "x"},
                                     "requester": {"name": "Other Name",
                                                   "email": "pat@example.COM"}})["ticket"]
        user = self.sim.api("GET", "users/%d" % ticket["requester_id"]).json()["user"]
        self.assertEqual((user["name"], user["email"]), ("Pat Original", "Pat@Example.com"))
        again = self.create_ticket({"comment": {"body": "y"},
                                    "requester": {"email": "new.person@example.org"}})["ticket"]
        user = self.sim.api("GET", "users/%d" % again["requester_id"]).json()["user"]
        self.assertEqual(user["name"], "new.person")

    def test_comment_is_required(self):
        reply = self.sim.api("POST", "tickets.json", {"ticket": {"subject": "no comment"}})
        self.assertEqual(reply.status, 422)
        self.assertEqual(reply.json()["error"], "RecordInvalid")
        self.assertIsInstance(reply.json()["details"], dict)

    def test_idempotency(self):
        body = {"ticket": {"subject": "once", "comment": {"body": "only once"}}}
        key = {"Idempotency-Key": "key-1"}
        first = self.sim.api("POST", "tickets.json", body, headers=key)
        self.assertEqual((first.status, first.headers["x-idempotency-lookup"]), (201, "miss"))
        again = self.sim.api("POST", "tickets.json", body, headers=key)
        self.assertEqual((again.status, again.headers["x-idempotency-lookup"]), (201, "hit"))
        self.assertEqual(again.body, first.body)
        self.assertEqual(again.headers["location"], first.headers["location"])
        state = self.sim.control("GET", "state?comments=false")
        self.assertEqual(len(state["tickets"]), 1)
        other = self.sim.api("POST", "tickets.json",
                             {"ticket": {"subject": "different", "comment": {"body": "x"}}},
                             headers=key)
        self.assertEqual(other.status, 400)
        self.assertEqual(other.json(), {"error": "IdempotentRequestError",
                                        "description": "Request parameters don't match the "
                                                       "given idempotency key"})
        self.advance(2 * 3600 + 1)
        later = self.sim.api("POST", "tickets.json", body, headers=key)
        self.assertEqual((later.status, later.headers["x-idempotency-lookup"]), (201, "miss"))
        self.assertNotEqual(later.json()["ticket"]["id"], first.json()["ticket"]["id"])
        log = self.requests_log()
        self.assertEqual([e["idempotency_lookup"] for e in log],
                         ["miss", "hit", None, "miss"])
        self.assertEqual({e["idempotency_key"] for e in log}, {"key-1"})

    def test_concurrent_idempotent_creates(self):
        body = {"ticket": {"subject": "race", "comment": {"body": "race"}}}
        results = []

        def post():
            results.append(self.sim.api("POST", "tickets.json", body,
                                        headers={"Idempotency-Key": "race-key"}))
        threads = [threading.Thread(target=post) for _ in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        self.assertEqual({r.json()["ticket"]["id"] for r in results}, {1})
        self.assertEqual(sorted(r.headers["x-idempotency-lookup"] for r in results),
                         ["hit"] * 5 + ["miss"])

    def test_update_with_comment(self):
        ticket = self.create_ticket({"comment": {"body": "first", "public": False}})["ticket"]
        requester_id = ticket["requester_id"]
        reply = self.sim.api("PUT", "tickets/%d.json" % ticket["id"], {
            "ticket": {"comment": {"body": "second", "author_id": requester_id},
                       "status": "open", "metadata": {"marker": "m1"}}})
        self.assertEqual(reply.status, 200, reply.body)
        audit = reply.json()["audit"]
        comment = audit["events"][0]
        self.assertEqual((comment["type"], comment["author_id"], comment["public"]),
                         ("Comment", requester_id, False))   # inherits the first comment
        self.assertEqual(audit["events"][1], {"id": comment["id"] + 1, "type": "Change",
                                              "value": "open", "field_name": "status",
                                              "previous_value": "new"})
        self.assertEqual(audit["author_id"], self.sim.api("GET", "users/me").json()["user"]["id"])
        self.assertEqual(audit["metadata"]["custom"], {"marker": "m1"})
        comments = self.sim.api("GET", "tickets/%d/comments.json" % ticket["id"]).json()
        self.assertEqual(comments["comments"][-1]["id"], comment["id"])
        self.assertEqual(comments["comments"][-1]["html_body"],
                         '<div class="zd-comment" dir="auto"><p dir="auto">second</p></div>')
        explicit = self.sim.api("PUT", "tickets/%d" % ticket["id"], {
            "ticket": {"comment": {"body": "third", "public": True}}}).json()
        self.assertTrue(explicit["audit"]["events"][0]["public"])
        audits = self.sim.api("GET", "tickets/%d/audits.json?page[size]=2" % ticket["id"]).json()
        self.assertEqual(len(audits["audits"]), 2)
        self.assertTrue(audits["meta"]["has_more"])

    def test_closed_ticket(self):
        ticket = self.create_ticket({"comment": {"body": "x"}, "status": "closed"})["ticket"]
        reply = self.sim.api("PUT", "tickets/%d.json" % ticket["id"],
                             {"ticket": {"comment": {"body": "late", "public": True}}})
        self.assertEqual(reply.status, 422)
        self.assertEqual(reply.json(), CLOSED_422)

    def test_followup(self):
        open_ticket = self.create_ticket({"comment": {"body": "x"}})["ticket"]
        reply = self.sim.api("POST", "tickets.json", {"ticket": {
            "comment": {"body": "follow"}, "via_followup_source_id": open_ticket["id"]}})
        self.assertEqual(reply.status, 422)
        closed = self.create_ticket({"comment": {"body": "x"}, "status": "closed"})["ticket"]
        follow = self.create_ticket({"comment": {"body": "follow"},
                                     "via_followup_source_id": closed["id"]})["ticket"]
        self.assertEqual(follow["via"]["source"], {"from": {"ticket_id": closed["id"]},
                                                   "to": {}, "rel": "follow_up"})
        source = self.sim.control("GET", "state/tickets/%d" % closed["id"])["ticket"]
        self.assertEqual(source["followup_ids"], [follow["id"]])
        self.assertGreaterEqual(source["generated_timestamp"], closed["generated_timestamp"])

    def test_reads(self):
        a = self.create_ticket({"comment": {"body": "a"}, "external_id": "ext-1"})["ticket"]
        b = self.create_ticket({"comment": {"body": "b"}, "external_id": "ext-1"})["ticket"]
        self.create_ticket({"comment": {"body": "c"}, "external_id": "ext-2"})
        found = self.sim.api("GET", "tickets.json?external_id=ext-1").json()
        self.assertEqual(found["count"], 2)
        self.assertEqual([t["id"] for t in found["tickets"]], [a["id"], b["id"]])
        self.assertIsNone(found["next_page"])
        many = self.sim.api("GET", "tickets/show_many.json?ids=%d,%d,999" % (a["id"], b["id"]))
        self.assertEqual([t["id"] for t in many.json()["tickets"]], [a["id"], b["id"]])
        self.assertEqual(self.sim.api("GET", "tickets/%d.json" % a["id"]).json()["ticket"]["id"],
                         a["id"])
        missing = self.sim.api("GET", "tickets/999.json")
        self.assertEqual((missing.status, missing.json()),
                         (404, {"error": "RecordNotFound", "description": "Not found"}))

    def test_comment_pagination(self):
        tid = self.create_ticket({"comment": {"body": "c0"}})["ticket"]["id"]
        for i in range(1, 5):
            self.sim.api("PUT", "tickets/%d" % tid,
                         {"ticket": {"comment": {"body": "c%d" % i, "public": True}}})
        url = "tickets/%d/comments.json?page[size]=2" % tid
        bodies = []
        while True:
            page = self.sim.api("GET", url).json()
            bodies += [c["body"] for c in page["comments"]]
            self.assertIn("page%5Bafter%5D=", page["links"]["next"])
            if not page["meta"]["has_more"]:
                break
            url = "tickets/%d/comments.json?page[size]=2&page[after]=%s" % (
                tid, urllib.parse.quote(page["meta"]["after_cursor"]))
        self.assertEqual(bodies, ["c0", "c1", "c2", "c3", "c4"])
        newest = self.sim.api("GET", "tickets/%d/comments.json?page[size]=2&sort=-created_at"
                              % tid).json()
        self.assertEqual([c["body"] for c in newest["comments"]], ["c4", "c3"])
        offset = self.sim.api("GET", "tickets/%d/comments.json?per_page=2&page=2" % tid).json()
        self.assertEqual([c["body"] for c in offset["comments"]], ["c2", "c3"])
        self.assertEqual(offset["count"], 5)
        self.assertIn("page=3", offset["next_page"])

    def test_long_body_is_truncated(self):
        ticket = self.create_ticket({"comment": {"body": "x" * 70000}})["ticket"]
        self.assertEqual(len(ticket["description"]), 65536)

    def test_per_ticket_update_limit(self):
        tid = self.create_ticket({"comment": {"body": "x"}})["ticket"]["id"]
        for i in range(30):
            reply = self.sim.api("PUT", "tickets/%d" % tid,
                                 {"ticket": {"comment": {"body": "n%d" % i, "public": True}}})
            self.assertEqual(reply.status, 200)
        self.assertIn("remaining=0", reply.headers["zendesk-ratelimit-tickets-update"])
        reply = self.sim.api("PUT", "tickets/%d" % tid,
                             {"ticket": {"comment": {"body": "too many", "public": True}}})
        self.assertEqual(reply.status, 429)
        self.assertGreaterEqual(int(reply.headers["retry-after"]), 1)
        other_user = self.sim.api("PUT", "tickets/%d" % tid,
                                  {"ticket": {"comment": {"body": "agent", "public": True}}},
                                  auth=AGENT)
        self.assertEqual(other_user.status, 200)


# --- deletions and merges ---------------------------------------------------------------


class DeletionTests(SimTestCase):

    def test_soft_delete_list_and_restore(self):
        tid = self.create_ticket({"subject": "bye", "comment": {"body": "x"},
                                  "status": "pending"})["ticket"]["id"]
        reply = self.sim.api("DELETE", "tickets/%d.json" % tid)
        self.assertEqual((reply.status, reply.body), (204, b""))
        self.assertEqual(self.sim.api("GET", "tickets/%d.json" % tid).status, 404)
        self.assertEqual(self.sim.api("PUT", "tickets/%d.json" % tid,
                                      {"ticket": {"status": "open"}}).status, 404)
        self.assertEqual(self.sim.api("DELETE", "tickets/%d.json" % tid).status, 404)
        agent_reply = self.sim.request("POST", "/_sim/actions/reply",
                                       {"ticket_id": tid, "body": "too late"}, auth=None)
        self.assertEqual(agent_reply.status, 404)
        self.assertEqual(agent_reply.json()["zendesk"]["error"], "RecordNotFound")
        listing = self.sim.api("GET", "deleted_tickets.json?page[size]=100")
        self.assertIn("zendesk-ratelimit-deleted-tickets-index", listing.headers)
        body = listing.json()
        item = body["deleted_tickets"][0]
        self.assertEqual(list(item), ["id", "subject", "description", "actor", "deleted_at",
                                      "previous_state"])
        self.assertEqual((item["id"], item["previous_state"], item["actor"]["name"]),
                         (tid, "pending", "Sam Admin"))
        self.assertFalse(body["meta"]["has_more"])
        self.advance(2)
        tickets, _, _ = self.export_all()
        self.assertEqual(tickets[0]["status"], "deleted")
        state = self.sim.control("GET", "state/tickets/%d" % tid)["ticket"]
        self.assertEqual((state["status"], state["deleted"], state["previous_state"]),
                         ("pending", True, "pending"))
        reply = self.sim.api("PUT", "deleted_tickets/%d/restore.json" % tid)
        self.assertEqual(reply.status, 200)
        self.assertEqual(self.sim.api("GET", "tickets/%d.json" % tid).json()["ticket"]["status"],
                         "pending")
        self.assertEqual(self.sim.api("GET", "deleted_tickets.json").json()["deleted_tickets"],
                         [])

    def test_deleted_tickets_sorting_and_window(self):
        self.seed(tickets=6, soft_deleted=4)
        body = self.sim.api("GET", "deleted_tickets.json?sort_by=deleted_at&sort_order=desc"
                            ).json()
        times = [t["deleted_at"] for t in body["deleted_tickets"]]
        self.assertEqual(times, sorted(times, reverse=True))
        self.assertEqual(body["count"], 4)
        self.advance(31 * 86400)
        self.assertEqual(self.sim.api("GET", "deleted_tickets.json").json()["count"], 0)

    def test_permanent_delete(self):
        tid = self.create_ticket({"subject": "secret", "comment": {"body": "pii"}})["ticket"]["id"]
        self.assertEqual(self.sim.api("DELETE", "deleted_tickets/%d.json" % tid).status, 404)
        self.sim.api("DELETE", "tickets/%d.json" % tid)
        reply = self.sim.api("DELETE", "deleted_tickets/%d.json" % tid)
        self.assertEqual(reply.status, 200)
        job = reply.json()["job_status"]
        self.assertEqual(list(job), ["id", "url", "total", "progress", "status", "message",
                                     "results"])
        self.assertEqual(job["status"], "completed")
        self.assertEqual(self.sim.api("GET", "job_statuses/%s.json" % job["id"]).json(),
                         reply.json())
        self.assertEqual(self.sim.api("PUT", "deleted_tickets/%d/restore" % tid).status, 404)
        self.assertEqual(self.sim.api("GET", "deleted_tickets.json").json()["count"], 0)
        self.advance(2)
        tickets, _, _ = self.export_all()
        self.assertEqual((tickets[0]["status"], tickets[0]["subject"],
                          tickets[0]["description"]), ("deleted", "", ""))
        state = self.sim.control("GET", "state/tickets/%d" % tid)["ticket"]
        self.assertTrue(state["scrubbed"])

    def test_merge(self):
        target = self.create_ticket({"subject": "target", "comment": {"body": "t"}})["ticket"]
        source = self.create_ticket({"subject": "source", "comment": {"body": "s"}})["ticket"]
        reply = self.sim.api("POST", "tickets/%d/merge.json" % target["id"],
                             {"ids": [source["id"]], "target_comment": "merged in",
                              "source_comment": "closed by merge"})
        self.assertEqual(reply.status, 200, reply.body)
        self.assertEqual(reply.json()["job_status"]["status"], "completed")
        src = self.sim.control("GET", "state/tickets/%d" % source["id"])["ticket"]
        self.assertEqual((src["status"], src["merged_into"]), ("closed", target["id"]))
        self.assertIn("closed_by_merge", src["tags"])
        self.assertEqual((src["comments"][-1]["body"], src["comments"][-1]["public"]),
                         ("closed by merge", False))
        tgt = self.sim.control("GET", "state/tickets/%d" % target["id"])["ticket"]
        self.assertEqual(tgt["comments"][-1]["body"], "merged in")
        again = self.sim.api("POST", "tickets/%d/merge.json" % target["id"],
                             {"ids": [source["id"]]})
        self.assertEqual(again.status, 422)

    def test_mark_as_spam(self):
        ticket = self.create_ticket({"comment": {"body": "buy now"},
                                     "requester": {"email": "spam@example.net"}})["ticket"]
        self.assertEqual(self.sim.api("PUT", "tickets/%d/mark_as_spam.json"
                                      % ticket["id"]).status, 200)
        self.assertEqual(self.sim.api("GET", "tickets/%d" % ticket["id"]).status, 404)
        user = self.sim.api("GET", "users/%d" % ticket["requester_id"]).json()["user"]
        self.assertTrue(user["suspended"])


# --- users ------------------------------------------------------------------------------------


class UsersTests(SimTestCase):

    def test_show_search_show_many(self):
        self.seed(tickets=3, requesters=3, email_case_mix=True)
        found = self.sim.api("GET", "users/search.json?query=email:requester1@example.com").json()
        self.assertEqual(list(found), ["users", "next_page", "previous_page", "count"])
        self.assertEqual(found["count"], 1)
        self.assertEqual(found["users"][0]["email"], "Requester1@Example.COM")
        plain = self.sim.api("GET", "users/search.json?query=requester2%40example.com").json()
        self.assertEqual([u["email"] for u in plain["users"]], ["requester2@example.com"])
        by_name = self.sim.api("GET", "users/search.json?query=Requester").json()
        self.assertEqual(by_name["count"], 3)
        ids = [u["id"] for u in by_name["users"]]
        many = self.sim.api("GET", "users/show_many.json?ids=%s" % ",".join(map(str, ids)))
        self.assertEqual([u["id"] for u in many.json()["users"]], ids)
        too_many = self.sim.api("GET", "users/show_many.json?ids=%s"
                                % ",".join(str(i) for i in range(101)))
        self.assertEqual(too_many.status, 400)
        self.assertEqual(self.sim.api("GET", "users/1.json").status, 404)

    def test_create_or_update(self):
        body = {"user": {"name": "Pat Requester", "email": "pat@example.com",
                         "external_id": "pg-user-7", "role": "end-user",
                         "skip_verify_email": True}}
        created = self.sim.api("POST", "users/create_or_update.json", body)
        self.assertEqual(created.status, 201)
        user = created.json()["user"]
        self.assertEqual(list(user), USER_KEYS)
        self.advance(1.5)
        body["user"]["email"] = "PAT@example.com"
        body["user"]["name"] = "Pat Renamed"
        existing = self.sim.api("POST", "users/create_or_update.json", body)
        self.assertEqual(existing.status, 200)
        self.assertEqual(existing.json()["user"]["id"], user["id"])
        self.assertEqual(existing.json()["user"]["name"], "Pat Renamed")
        self.advance(1.5)
        by_ext = self.sim.api("POST", "users/create_or_update.json",
                              {"user": {"name": "P", "external_id": "PG-USER-7"}})
        self.assertEqual((by_ext.status, by_ext.json()["user"]["id"]), (200, user["id"]))
        forbidden = self.sim.api("POST", "users/create_or_update.json", body, auth=AGENT)
        self.assertEqual(forbidden.status, 403)

    def test_create_or_update_rate_limit(self):
        first = self.sim.api("POST", "users/create_or_update.json",
                             {"user": {"name": "A", "email": "a@example.com"}})
        self.assertEqual(first.status, 201)
        second = self.sim.api("POST", "users/create_or_update.json",
                              {"user": {"name": "B", "email": "b@example.com"}})
        self.assertEqual(second.status, 429)       # 1 per second per account
        self.assertEqual(second.headers["retry-after"], "1")
        for _ in range(4):
            self.advance(1.1)
            self.assertEqual(self.sim.api("POST", "users/create_or_update.json",
                                          {"user": {"name": "A", "email": "a@example.com"}})
                             .status, 200)
        self.advance(1.1)
        sixth = self.sim.api("POST", "users/create_or_update.json",
                             {"user": {"name": "A", "email": "a@example.com"}})
        self.assertEqual(sixth.status, 429)        # 5 per minute per user


# --- rate limits ---------------------------------------------------------------------------------


class RateLimitTests(SimTestCase):
    config = {"rate_limit_per_min": 5, "export_lag_seconds": 1}

    def test_account_limit_and_retry_after(self):
        for i in range(5):
            reply = self.sim.api("GET", "users/me.json")
            self.assertEqual(reply.status, 200)
            self.assertEqual(reply.headers["x-rate-limit"], "5")
            self.assertEqual(reply.headers["x-rate-limit-remaining"], str(4 - i))
            self.assertEqual(reply.headers["ratelimit-remaining"], str(4 - i))
            self.assertTrue(1 <= int(reply.headers["ratelimit-reset"]) <= 60)
        limited = self.sim.api("GET", "users/me.json")
        self.assertEqual(limited.status, 429)
        self.assertEqual(limited.json(), {"error": "RateLimited", "description":
                                          "Number of allowed API requests per minute exceeded"})
        wait = int(limited.headers["retry-after"])
        self.assertTrue(1 <= wait <= 60)
        early = self.sim.api("GET", "users/me.json")          # ignores Retry-After
        self.assertEqual(early.status, 429)
        self.advance(wait)
        later = self.sim.api("GET", "users/me.json")
        self.assertEqual(later.status, 200)
        log = self.requests_log()
        self.assertEqual([e["violated_retry_after"] for e in log],
                         [False] * 6 + [True, False])
        self.assertEqual([e["rate_limited"] for e in log], [False] * 5 + [True, True, False])
        self.assertEqual(log[-1]["status"], 200)

    def test_429_consumes_no_quota(self):
        for _ in range(5):
            self.sim.api("GET", "users/me.json")
        for _ in range(3):
            self.assertEqual(self.sim.api("GET", "users/me.json").status, 429)
        self.advance(61)
        statuses = [self.sim.api("GET", "users/me.json").status for _ in range(6)]
        self.assertEqual(statuses, [200] * 5 + [429])

    def test_incremental_bucket(self):
        self.sim.control("POST", "config", {"rate_limit_per_min": 700,
                                            "incremental_limit_per_min": None})
        self.seed(tickets=2)
        url = "incremental/tickets/cursor.json?start_time=0"
        for i in range(10):
            reply = self.sim.api("GET", url)
            self.assertEqual(reply.status, 200)
            self.assertEqual(reply.headers["zendesk-ratelimit-incremental-exports"].split(";")[:2],
                             ["total=10", " remaining=%d" % (9 - i)])
        limited = self.sim.api("GET", "incremental/ticket_events.json?start_time=0")
        self.assertEqual(limited.status, 429)
        self.assertIn("retry-after", limited.headers)
        self.assertEqual(self.sim.api("GET", "users/me").status, 200)   # other endpoints fine
        self.sim.control("POST", "config", {"high_volume": True})
        config = self.sim.control("GET", "config")
        self.assertEqual((config["incremental_limit_per_min"], config["rate_limit_per_min"]),
                         (30, 700))
        self.assertEqual(self.sim.api("GET", url).status, 200)

    def test_sliding_window(self):
        self.sim.control("POST", "config", {"rate_limit_per_min": 2})
        self.sim.api("GET", "users/me")
        self.advance(30)
        self.sim.api("GET", "users/me")
        self.advance(31)      # the first left the window, the second did not
        self.assertEqual(self.sim.api("GET", "users/me").status, 200)
        self.assertEqual(self.sim.api("GET", "users/me").status, 429)


# --- faults ------------------------------------------------------------------------------------


class FaultTests(SimTestCase):

    def fault(self, **spec):
        return self.sim.control("POST", "faults", spec)["id"]

    def ticket_count(self):
        return len(self.sim.control("GET", "state?comments=false")["tickets"])

    def test_5xx(self):
        self.fault(kind="5xx", method="POST", path=r"/tickets(\.json)?$", status=502)
        reply = self.sim.api("POST", "tickets.json", {"ticket": {"comment": {"body": "x"}}})
        self.assertEqual(reply.status, 502)
        self.assertEqual(reply.json()["error"], "BadGateway")
        self.assertEqual(self.ticket_count(), 0)
        self.assertEqual(self.sim.api("GET", "users/me").status, 200)   # path does not match
        self.assertEqual(self.requests_log()[0]["fault"], "5xx")

    def test_429(self):
        self.fault(kind="429", retry_after=3)
        reply = self.sim.api("GET", "users/me")
        self.assertEqual((reply.status, reply.headers["retry-after"]), (429, "3"))
        # probability/nth not given: fires on every request
        self.assertEqual(self.sim.api("GET", "users/me").status, 429)
        self.sim.control("DELETE", "faults")
        self.assertEqual(self.sim.api("GET", "users/me").status, 200)   # still too early
        self.advance(3)
        self.assertEqual(self.sim.api("GET", "users/me").status, 200)
        log = self.requests_log()
        self.assertEqual([e["fault"] for e in log], ["429", "429", None, None])
        self.assertEqual([e["violated_retry_after"] for e in log], [False, True, True, False])
        self.assertEqual([e["rate_limited"] for e in log], [False] * 4)

    def test_delay(self):
        self.fault(kind="delay", delay_ms=400, nth=1)
        started = time.monotonic()
        self.assertEqual(self.sim.api("GET", "users/me").status, 200)
        self.assertGreaterEqual(time.monotonic() - started, 0.4)
        started = time.monotonic()
        self.sim.api("GET", "users/me")
        self.assertLess(time.monotonic() - started, 0.3)

    def test_hang(self):
        self.fault(kind="hang", hang_seconds=5, nth=1)
        started = time.monotonic()
        with self.assertRaises((socket.timeout, TimeoutError)):
            self.sim.api("GET", "users/me", timeout=0.5)
        self.assertLess(time.monotonic() - started, 3)
        self.assertEqual(self.sim.api("GET", "users/me").status, 200)
        entry = self.requests_log()[0]
        self.assertEqual(entry["fault"], "hang")

    def test_truncate(self):
        self.fault(kind="truncate", nth=1)
        with self.assertRaises(http.client.IncompleteRead):
            self.sim.api("GET", "users/me")
        self.assertEqual(self.requests_log()[0]["status"], 200)

    def test_reset(self):
        self.fault(kind="reset", method="POST", nth=1)
        with self.assertRaises((ConnectionError, http.client.RemoteDisconnected)):
            self.sim.api("POST", "tickets.json", {"ticket": {"comment": {"body": "x"}}})
        self.assertEqual(self.ticket_count(), 0)
        entry = self.requests_log()[0]
        self.assertEqual((entry["fault"], entry["status"]), ("reset", None))

    def test_apply_then_drop(self):
        self.fault(kind="apply_then_drop", method="POST", path="tickets", nth=1)
        body = {"ticket": {"subject": "dropped", "comment": {"body": "x"}}}
        key = {"Idempotency-Key": "drop-1"}
        with self.assertRaises((ConnectionError, http.client.RemoteDisconnected)):
            self.sim.api("POST", "tickets.json", body, headers=key)
        self.assertEqual(self.ticket_count(), 1)
        retry = self.sim.api("POST", "tickets.json", body, headers=key)
        self.assertEqual((retry.status, retry.headers["x-idempotency-lookup"]), (201, "hit"))
        self.assertEqual(self.ticket_count(), 1)
        self.assertEqual(len([e for e in self.webhooks() if e["type"].endswith(".created")]), 1)

    def test_nth_and_times(self):
        self.fault(kind="5xx", nth=3, times=2)
        statuses = [self.sim.api("GET", "users/me").status for _ in range(6)]
        self.assertEqual(statuses, [200, 200, 503, 503, 200, 200])
        rule = self.sim.control("GET", "faults")["faults"][0]
        self.assertEqual((rule["matched"], rule["fired"]), (6, 2))

    def test_probability_is_seeded(self):
        def run():
            self.sim.control("DELETE", "faults")
            self.fault(kind="5xx", probability=0.5, seed=42)
            return [self.sim.api("GET", "users/me").status for _ in range(30)]
        first, second = run(), run()
        self.assertEqual(first, second)
        self.assertTrue(0 < first.count(503) < 30)

    def test_rules_sharing_a_seed_are_independent(self):
        for kind, p in (("429", 0.2), ("5xx", 0.2), ("delay", 0.2)):
            self.fault(kind=kind, probability=p, seed=7, delay_ms=1)
        for _ in range(60):
            self.sim.api("GET", "users/me")
        fired = {f["kind"]: f["fired"] for f in self.sim.control("GET", "faults")["faults"]}
        self.assertTrue(all(fired.values()), fired)
        self.assertEqual({e["fault"] for e in self.requests_log()} - {None},
                         {"429", "5xx", "delay"})

    def test_remove_one(self):
        keep = self.fault(kind="5xx", path="search")
        drop = self.fault(kind="5xx", path="users/me")
        self.sim.control("DELETE", "faults/%d" % drop)
        self.assertEqual([f["id"] for f in self.sim.control("GET", "faults")["faults"]], [keep])
        self.assertEqual(self.sim.api("GET", "users/me").status, 200)


# --- webhooks ------------------------------------------------------------------------------------


class WebhookTests(SimTestCase):

    def test_agent_actions(self):
        created = self.action("create_ticket", requester_email="dana@example.org",
                              requester_name="Dana", subject="Cannot log in",
                              body="Error on login", priority="normal", type="question",
                              tags=["login"])
        tid = created["ticket"]["id"]
        self.assertEqual(created["ticket"]["via"]["channel"], "web")
        reply = self.action("reply", ticket_id=tid, body="On it", author="agent",
                            status="pending")
        self.assertEqual(len(reply["events"]), 2)
        events = self.webhooks()
        self.assertEqual([e["type"].rsplit(".", 1)[1] for e in events],
                         ["created", "comment_added", "comment_added", "status_changed"])
        payloads = [json.loads(e["body"]) for e in events]
        created_event = payloads[0]
        self.assertEqual(list(created_event), ["account_id", "detail", "event", "id",
                                               "subject", "time", "type",
                                               "zendesk_event_version"])
        self.assertEqual(created_event["event"], {})
        detail = created_event["detail"]
        self.assertEqual(detail["id"], str(tid))
        self.assertIsInstance(detail["requester_id"], str)
        self.assertEqual((detail["status"], detail["priority"], detail["type"]),
                         ("NEW", "NORMAL", "QUESTION"))
        self.assertEqual(detail["via"], {"channel": "web"})
        self.assertEqual(created_event["account_id"], 22129848)
        self.assertEqual(created_event["subject"], "zen:ticket:%d" % tid)
        self.assertEqual(created_event["zendesk_event_version"], "2022-11-06")
        comment = payloads[2]["event"]["comment"]
        self.assertEqual(comment["author"]["name"], "Alex Agent")
        self.assertTrue(comment["author"]["is_staff"])
        self.assertIsInstance(comment["id"], str)
        self.assertEqual(comment["id"], str(reply["comment"]["id"]))
        status = payloads[3]["event"]
        self.assertEqual((status["current"], status["previous"]), ("PENDING", "NEW"))
        seq2, seq3 = payloads[2]["event"]["meta"]["sequence"], status["meta"]["sequence"]
        self.assertEqual(seq2["id"], seq3["id"])
        self.assertEqual((seq2["position"], seq3["position"]), (1, 2))
        self.assertEqual(payloads[3]["detail"]["updated_at"],
                         self.sim.api("GET", "tickets/%d" % tid).json()["ticket"]["updated_at"])
        times = [p["time"] for p in payloads]
        self.assertEqual(times, sorted(times))
        self.assertEqual(len(set(times)), len(times))
        self.assertRegex(times[0], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z$")

    def test_signature_and_headers(self):
        self.action("create_ticket", requester_email="x@example.org", body="hi")
        event = self.webhooks()[0]
        headers = event["headers"]
        expected = base64.b64encode(hmac.new(
            SECRET.encode(), (headers["x-zendesk-webhook-signature-timestamp"]
                              + event["body"]).encode(), hashlib.sha256).digest()).decode()
        self.assertEqual(headers["x-zendesk-webhook-signature"], expected)
        self.assertRegex(headers["x-zendesk-webhook-signature-timestamp"],
                         r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
        self.assertEqual(headers["user-agent"], "Zendesk Webhook")
        self.assertEqual(headers["x-zendesk-account-id"], "22129848")
        self.assertNotIn("authorization", headers)
        self.assertEqual(json.loads(event["body"])["id"], event["event_id"])

    def test_rest_writes_emit_web_service_events(self):
        tid = self.create_ticket({"subject": "api", "comment": {"body": "x"},
                                  "priority": "high"})["ticket"]["id"]
        self.sim.api("PUT", "tickets/%d" % tid, {"ticket": {"subject": "api 2",
                                                            "tags": ["a", "b"],
                                                            "priority": "low"}})
        self.sim.api("DELETE", "tickets/%d" % tid)
        self.sim.api("PUT", "deleted_tickets/%d/restore" % tid)
        self.sim.api("DELETE", "tickets/%d" % tid)
        self.sim.api("DELETE", "deleted_tickets/%d" % tid)
        events = [json.loads(e["body"]) for e in self.webhooks()]
        kinds = [e["type"].rsplit(".", 1)[1] for e in events]
        self.assertEqual(kinds, ["created", "comment_added", "subject_changed",
                                 "priority_changed", "tags_changed", "soft_deleted",
                                 "undeleted", "soft_deleted", "permanently_deleted"])
        self.assertEqual({e["detail"]["via"]["channel"] for e in events}, {"web_service"})
        self.assertEqual(events[2]["event"]["current"], "api 2")
        self.assertEqual(events[3]["event"]["current"], "LOW")
        self.assertEqual((events[4]["event"]["tags_added"], events[4]["event"]["tags_removed"]),
                         (["a", "b"], []))
        self.assertEqual(events[5]["detail"]["status"], "DELETED")
        self.assertEqual(events[6]["detail"]["status"], "NEW")
        scrubbed = events[8]["detail"]
        self.assertEqual((scrubbed["subject"], scrubbed["description"], scrubbed["requester_id"],
                          scrubbed["status"]), ("", "", None, "DELETED"))

    def test_lifecycle_actions(self):
        a = self.action("create_ticket", requester_email="a@example.org", body="a")["ticket"]
        b = self.action("create_ticket", requester_email="b@example.org", body="b")["ticket"]
        self.sim.control("DELETE", "webhooks")
        merged = self.action("merge", source_id=a["id"], target_id=b["id"])
        spam = self.action("mark_spam", ticket_id=b["id"])
        c = self.action("create_ticket", requester_email="c@example.org", body="c")["ticket"]
        gone = self.action("permanent_delete", ticket_id=c["id"])
        self.assertIsNone(gone["ticket"])
        kinds = [e["type"].rsplit(".", 1)[1] for e in self.webhooks()]
        self.assertEqual(kinds, ["merged", "comment_added", "status_changed", "tags_changed",
                                 "comment_added", "marked_as_spam", "soft_deleted", "created",
                                 "comment_added", "soft_deleted", "permanently_deleted"])
        events = [json.loads(e["body"]) for e in self.webhooks()]
        self.assertEqual(events[0]["event"]["target_ticket_id"], str(b["id"]))
        self.assertEqual(len(merged["events"]), 5)
        self.assertEqual(len(spam["events"]), 2)
        seq = {e["event"]["meta"]["sequence"]["id"] for e in events[-2:]}
        self.assertEqual(len(seq), 1)
        self.assertEqual(self.sim.control("GET", "webhooks?since=%d"
                                          % self.webhooks()[-1]["seq"])["events"], [])

    def test_delivery(self):
        received = []

        class Receiver(http.server.BaseHTTPRequestHandler):
            def do_POST(self):   # noqa: N802
                body = self.rfile.read(int(self.headers["Content-Length"]))
                received.append((dict((k.lower(), v) for k, v in self.headers.items()), body))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        server = http.server.HTTPServer(("127.0.0.1", 0), Receiver)
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            self.sim.control("POST", "config", {
                "webhook_url": "http://127.0.0.1:%d/hook" % server.server_address[1],
                "webhook_bearer_token": "hook-token"})
            self.action("create_ticket", requester_email="x@example.org", body="hello")
            deadline = time.monotonic() + 10
            while len(received) < 2 and time.monotonic() < deadline:
                time.sleep(0.05)
            stored = self.webhooks()
            self.assertEqual(len(received), 2)
            self.assertEqual(received[0][1].decode(), stored[0]["body"])
            self.assertEqual(received[0][0]["authorization"], "Bearer hook-token")
            self.assertEqual(received[0][0]["x-zendesk-webhook-signature"],
                             stored[0]["headers"]["x-zendesk-webhook-signature"])
            while stored[-1]["delivery"]["state"] == "pending" and time.monotonic() < deadline:
                time.sleep(0.05)
                stored = self.webhooks()
            self.assertEqual((stored[0]["delivery"]["state"], stored[0]["delivery"]["status"]),
                             ("delivered", 200))
        finally:
            server.shutdown()
            server.server_close()

    def test_seed_emits_nothing(self):
        self.seed(tickets=5)
        self.assertEqual(self.webhooks(), [])


# --- request log ----------------------------------------------------------------------------------


class RequestLogTests(SimTestCase):

    def test_entries(self):
        self.sim.control("GET", "config")
        self.sim.api("GET", "users/me.json?x=1")
        self.sim.api("GET", "users/me", auth=("admin@acme.example", "bad"))
        body = self.sim.control("GET", "requests?since=0")
        log = body["requests"]
        self.assertEqual(body["last_seq"], 2)
        self.assertEqual(len(log), 2)
        first = log[0]
        self.assertEqual(sorted(first), sorted([
            "seq", "time", "method", "path", "query", "status", "user_id", "fault",
            "rate_limited", "violated_retry_after", "idempotency_key", "idempotency_lookup",
            "duration_ms"]))
        self.assertEqual((first["method"], first["path"], first["query"], first["status"]),
                         ("GET", "/api/v2/users/me.json", "x=1", 200))
        self.assertEqual(first["user_id"], 8447388090001)
        self.assertEqual((log[1]["status"], log[1]["user_id"]), (401, None))
        self.assertEqual(self.sim.control("GET", "requests?since=1")["requests"][0]["seq"], 2)
        self.sim.control("DELETE", "requests")
        self.assertEqual(self.requests_log(), [])
        self.sim.api("GET", "users/me")
        self.assertEqual(self.requests_log()[0]["seq"], 3)

    def test_latency(self):
        self.sim.control("POST", "config", {"latency_ms": 300})
        started = time.monotonic()
        results = []
        threads = [threading.Thread(target=lambda: results.append(
            self.sim.api("GET", "users/me").status)) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        elapsed = time.monotonic() - started
        self.assertEqual(results, [200] * 4)
        self.assertGreaterEqual(elapsed, 0.3)
        self.assertLess(elapsed, 1.1)          # concurrent, not serialized


# --- seeding and the sorted index ---------------------------------------------------------------


class SeedAndIndexTests(SimTestCase):

    def test_seed_20k_and_full_export(self):
        started = time.monotonic()
        info = self.seed(tickets=20000, comments_per_ticket=3, soft_deleted=100, scrubbed=10,
                         requesters=2000, closed=0)
        self.assertLess(time.monotonic() - started, 6)
        self.assertEqual((info["tickets"], info["comments"]), (20000, 60000))
        tickets, last, pages = self.export_all()
        self.assertEqual(pages, 20)
        self.assertEqual(len(tickets), 20000)
        self.assertEqual(len({t["id"] for t in tickets}), 20000)
        keys = [(t["generated_timestamp"], t["id"]) for t in tickets]
        self.assertEqual(keys, sorted(keys))
        # changes move tickets to the end of the stream, index stays sorted
        gone = set(info["soft_deleted_ids"]) | set(info["scrubbed_ids"])
        changed = [tid for tid in (20000, 5, 9999, 17, 18, 19, 20, 21) if tid not in gone][:4]
        for tid in changed:
            self.action("reply", ticket_id=tid, body="later", author="requester")
        self.advance(2)
        url = "incremental/tickets/cursor.json?cursor=" + urllib.parse.quote(
            last["after_cursor"])
        page = self.sim.api("GET", url).json()
        self.assertEqual(sorted(t["id"] for t in page["tickets"]), sorted(changed))
        again, _, _ = self.export_all()
        self.assertEqual(len(again), 20000)
        keys = [(t["generated_timestamp"], t["id"]) for t in again]
        self.assertEqual(keys, sorted(keys))
        self.assertEqual([t["id"] for t in again[-4:]], [t["id"] for t in page["tickets"]])

    def test_seed_shape(self):
        info = self.seed(tickets=50, comments_per_ticket=4, closed=10, soft_deleted=3)
        state = self.sim.control("GET", "state")
        tickets = state["tickets"]
        self.assertEqual(len(tickets), 50)
        self.assertEqual(sum(t["status"] == "closed" for t in tickets), 10)
        for t in tickets:
            comments = t["comments"]
            self.assertEqual(len(comments), 4)
            self.assertEqual(comments[0]["author_id"], t["requester_id"])
            self.assertTrue(comments[0]["public"])
            times = [c["created_at"] for c in comments]
            self.assertEqual(times, sorted(times))
            self.assertLessEqual(t["generated_timestamp"], info["end_time"])
        deleted = [t for t in tickets if t["deleted"]]
        self.assertEqual(sorted(t["id"] for t in deleted), info["soft_deleted_ids"])
        self.assertTrue(all(t["deleted_by"]["name"] == "Sam Admin" for t in deleted))
        events = self.sim.api("GET", "incremental/ticket_events.json?start_time=0").json()
        self.assertEqual(events["count"], 50 * 4 + 3)

    def test_bad_seed(self):
        reply = self.sim.request("POST", "/_sim/seed", {"tickets": 2, "soft_deleted": 5},
                                 auth=None)
        self.assertEqual(reply.status, 400)


if __name__ == "__main__":
    unittest.main()
