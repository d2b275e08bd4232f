#!/usr/bin/python3
"""floor_csv.py: turn saved export pages into CSV files for COPY.

Used by test/bench/import.pl for the floor of the import benchmark (this
conversion is not timed).  Reads the pages of the cursor-based ticket export
(with include=users) and of the ticket-event export (with
include=comment_events) that curl saved, and writes one row per ticket and
one row per comment, with the columns the extension stores (see the
floor_tickets and floor_replies tables in import.pl):

  tickets.csv: zendesk_id, external_id, requester_zendesk_id, requester_email,
               requester_name, subject, description, status, priority,
               ticket_type, tags (a text[] literal), zendesk_created_at,
               zendesk_updated_at, raw (the ticket's JSON)
  replies.csv: zendesk_comment_id, zendesk_audit_id, ticket_zendesk_id,
               author_zendesk_id, author_email, author_name, body, html_body,
               public, zendesk_created_at, raw (the comment event's JSON)

A ticket or comment seen twice (the time-based export repeats the items of
its boundary second) is written once, its latest state winning.  Prints
"tickets N replies M users U" on success.

usage: floor_csv.py TICKET_PAGES_DIR EVENT_PAGES_DIR OUT_DIR
(pages are read in file-name order)
"""

import csv
import json
import os
import sys


def pages(directory):
    for name in sorted(os.listdir(directory)):
        if name.endswith(".json"):
            with open(os.path.join(directory, name), "rb") as f:
                yield json.loads(f.read())


def pg_array(values):
    if values is None:
        return None
    out = []
    for v in values:
        v = str(v).replace("\\", "\\\\").replace('"', '\\"')
        out.append('"%s"' % v)
    return "{" + ",".join(out) + "}"


def raw(obj):
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"))


def main():
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    ticket_dir, event_dir, out_dir = sys.argv[1:]

    users = {}
    tickets = {}
    for page in pages(ticket_dir):
        for u in page.get("users") or []:
            users[u["id"]] = (u.get("email"), u.get("name"))
        for t in page["tickets"]:
            tickets[t["id"]] = t      # pages come in export order: later wins

    replies = {}
    for page in pages(event_dir):
        for event in page["ticket_events"]:
            for child in event.get("child_events") or []:
                kind = child.get("event_type") or child.get("type")
                if kind != "Comment":
                    continue
                replies[child["id"]] = (event, child)

    # QUOTE_NONNUMERIC: None is written as an unquoted empty field (NULL for
    # COPY ... CSV) and every string is quoted (so "" stays an empty string)
    with open(os.path.join(out_dir, "tickets.csv"), "w", encoding="utf-8", newline="") as f:
        w = csv.writer(f, quoting=csv.QUOTE_NONNUMERIC, lineterminator="\n")
        for tid in sorted(tickets):
            t = tickets[tid]
            email, name = users.get(t.get("requester_id"), (None, None))
            w.writerow([t["id"], t.get("external_id"), t.get("requester_id"), email, name,
                        t.get("subject"), t.get("description"), t.get("status"),
                        t.get("priority"), t.get("type"), pg_array(t.get("tags")),
                        t.get("created_at"), t.get("updated_at"), raw(t)])

    with open(os.path.join(out_dir, "replies.csv"), "w", encoding="utf-8", newline="") as f:
        w = csv.writer(f, quoting=csv.QUOTE_NONNUMERIC, lineterminator="\n")
        for cid in sorted(replies):
            event, c = replies[cid]
            email, name = users.get(c.get("author_id"), (None, None))
            public = c.get("public")
            w.writerow([c["id"], c.get("audit_id", event.get("id")), event.get("ticket_id"),
                        c.get("author_id"), email, name, c.get("body"), c.get("html_body"),
                        None if public is None else ("t" if public else "f"),
                        c.get("created_at") or event.get("created_at"), raw(c)])

    print("tickets %d replies %d users %d" % (len(tickets), len(replies), len(users)))


if __name__ == "__main__":
    main()
