#!/usr/bin/env bash
# test/demo.sh: corsa_zendesk's main job, end to end, against the bundled
# Zendesk simulator, on a throw-away PostgreSQL server.  Run as root from a
# clone; it installs what it needs, builds, and cleans up after itself.
#
#   1. connect to "Zendesk" (verified credentials, webhook URL and token)
#   2. import its history, matching tickets to the application's clients
#   3. an agent deletes a ticket in Zendesk: a poll labels it Deleted
#   4. an agent replies in Zendesk: its webhooks are applied at once
#   5. the application writes a ticket and a reply: they arrive in Zendesk
#   6. "View logs" and the status view
#
# KEEP=1 leaves the server and the simulator running at the end (the
# script prints how to reach them).
set -u

here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=test/lib/common.sh
. "$here/test/lib/common.sh"

zd_require_root
zd_install_packages
work=$(zd_stage_copy "$here")
zd_build_and_install "$work" || exit 1

data=$work/demo/data
sock=$work/demo
port=54329
simport=$work/demo/sim.port
mkdir -p "$work/demo"
chown -R postgres:postgres "$work/demo"

cleanup() {
	if [ -n "${KEEP:-}" ]; then
		echo
		echo "left running: psql -h $sock -p $port -d demo   (as postgres);  simulator $sim_url"
		return
	fi
	as_pg $PG_BIN/pg_ctl -D "$data" -m fast stop >/dev/null 2>&1
	# runuser does not pass the signal on: stop the simulator itself
	[ -n "${sim_pid:-}" ] && pkill -f "$work/test/sim/zendesk_sim.py" 2>/dev/null
	rm -rf "$work"
}
trap cleanup EXIT

sim() { as_pg $PYTHON "$work/test/lib/simctl.py" "$sim_url" "$@"; }
sql() { as_pg psql -X -q -v ON_ERROR_STOP=1 -P pager=off -h "$sock" -p "$port" -d demo "$@"; }
title() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

title "starting the Zendesk simulator and a PostgreSQL 15 server"
as_pg $PYTHON "$work/test/sim/zendesk_sim.py" --port-file "$simport" --quiet \
	>"$work/demo/sim.log" 2>&1 &
sim_pid=$!
for _ in $(seq 100); do [ -s "$simport" ] && break; sleep 0.1; done
sim_url="http://127.0.0.1:$(cat "$simport")"
echo "simulator: $sim_url"
sim POST /_sim/config '{"export_lag_seconds": 1}' >/dev/null
sim POST /_sim/seed '{"tickets": 200, "comments_per_ticket": 3, "requesters": 40,
	"soft_deleted": 4, "email_case_mix": true}' >/dev/null
echo "Zendesk holds 200 tickets with 3 comments each, from 40 requesters (4 tickets soft-deleted)"

as_pg $PG_BIN/initdb -D "$data" -A trust --no-sync >/dev/null
cat >>"$data/postgresql.conf" <<EOF
shared_preload_libraries = 'corsa_zendesk'
listen_addresses = ''
unix_socket_directories = '$sock'
port = $port
corsa_zendesk.api_base_url = '$sim_url'
corsa_zendesk.webhook_base_url = 'https://corsa.example/hooks/zendesk'
corsa_zendesk.poll_interval = '30min'
EOF
as_pg $PG_BIN/pg_ctl -D "$data" -l "$work/demo/server.log" -w start >/dev/null
as_pg createdb -h "$sock" -p "$port" demo

title "the application's own clients table (10 of the 40 requesters are clients)"
sql <<'EOF'
CREATE TABLE clients (id serial PRIMARY KEY, name text, email text);
INSERT INTO clients (name, email)
SELECT 'Client ' || n, 'requester' || n || '@example.com' FROM generate_series(1, 10) n;
SELECT id, name, email FROM clients ORDER BY id LIMIT 3;
EOF

title "1. connect: CREATE EXTENSION, zd_set_client_source, zd_configure"
sql <<'EOF'
CREATE EXTENSION corsa_zendesk;
SELECT zd_set_client_source('clients', 'id', 'email');
\x on
SELECT connection_id, webhook_url, webhook_token, import_run_id
FROM zd_configure('acme', 'admin@acme.example', 'sim-admin-token');
\x off
EOF
echo "(the webhook URL and bearer token are what Zendesk's webhook configuration screen needs)"

title "2. the historical import runs in the background worker"
for _ in $(seq 600); do
	state=$(sql -At -c "SELECT state || ' ' || coalesce(progress::text, '-') || '%' FROM zd_sync_runs WHERE kind = 'import'")
	printf '\r   import: %-30s' "$state"
	case "$state" in succeeded*|failed*) break ;; esac
	sleep 0.2
done
echo
sql <<'EOF'
SELECT kind, state, requests, pages, tickets, replies, deletions, progress,
	round(extract(epoch FROM finished_at - started_at), 2) AS seconds
FROM zd_sync_runs ORDER BY id;
SELECT count(*) AS tickets, count(client_id) AS matched_to_a_client,
	count(*) FILTER (WHERE label = 'Deleted') AS deleted,
	(SELECT count(*) FROM zd_replies) AS replies
FROM zd_tickets;
SELECT t.zendesk_id, t.subject, t.requester_email, c.name AS client, t.status, t.label
FROM zd_tickets t LEFT JOIN clients c ON c.id::text = t.client_id
ORDER BY t.client_id IS NULL, t.zendesk_id LIMIT 6;
EOF

replied=$(sql -At -c "SELECT zendesk_id FROM zd_tickets WHERE deleted_at IS NULL AND client_id IS NOT NULL ORDER BY zendesk_id OFFSET 1 LIMIT 1")
victim=$(sql -At -c "SELECT zendesk_id FROM zd_tickets WHERE deleted_at IS NULL AND client_id IS NOT NULL ORDER BY zendesk_id LIMIT 1")
title "3. an agent deletes ticket $victim in Zendesk; a poll picks it up"
sim POST /_sim/actions/soft_delete "{\"ticket_id\": $victim}" >/dev/null
sleep 1.5	# the export leaves out the last second
wait_poll() {
	local before
	before=$(sql -At -c "SELECT coalesce(max(id), 0) FROM zd_sync_runs")
	sql -c "SELECT zd_poll_now()" >/dev/null
	for _ in $(seq 300); do
		[ "$(sql -At -c "SELECT state FROM zd_sync_runs WHERE kind = 'poll' AND id > $before")" = succeeded ] && return
		sleep 0.1
	done
}
wait_poll
sql <<EOF
SELECT zendesk_id, subject, status, label, deletion_kind, deleted_by_name,
	deleted_previous_status, deletion_seen_by,
	(SELECT count(*) FROM zd_replies r WHERE r.ticket_id = t.id) AS replies_kept
FROM zd_tickets t WHERE zendesk_id = $victim;
EOF

title "4. an agent replies to ticket $replied in Zendesk; the webhooks arrive"
token=$(sql -At -c "SELECT webhook_token FROM zd_webhook_settings()")
sim DELETE /_sim/webhooks >/dev/null
sim POST /_sim/config "{\"webhook_bearer_token\": \"$token\"}" >/dev/null
sim POST /_sim/actions/reply "{\"ticket_id\": $replied, \"body\": \"Your audit report is attached.\", \"status\": \"pending\"}" >/dev/null
echo "(the application's webhook endpoint passes each body and its headers on)"
sim GET "/_sim/webhooks?since=0" | as_pg $PYTHON -c '
import json, sys
for e in json.load(sys.stdin)["events"]:
    print(json.dumps([e["type"], e["body"], e["headers"].get("authorization", ""),
                      e["headers"]["x-zendesk-webhook-signature"],
                      e["headers"]["x-zendesk-webhook-signature-timestamp"]]))' |
while IFS= read -r event; do
	sql -At -v ev="$event" <<'EOF'
SELECT rpad((:'ev'::jsonb)->>0, 40) || ' -> ' ||
	zd_ingest_webhook((:'ev'::jsonb)->>1, (:'ev'::jsonb)->>2,
		(:'ev'::jsonb)->>3, (:'ev'::jsonb)->>4);
EOF
done
sql <<EOF
SELECT t.zendesk_id, t.status, r.author_name, r.public, r.body
FROM zd_replies r JOIN zd_tickets t ON t.id = r.ticket_id
WHERE t.zendesk_id = $replied ORDER BY r.created_at DESC LIMIT 1;
EOF

title "5. the application writes a ticket and a reply (as its own role); the worker pushes them"
sql <<'EOF'
CREATE ROLE app;
GRANT SELECT, INSERT, UPDATE ON zd_tickets, zd_replies TO app;
SET ROLE app;
INSERT INTO zd_tickets (subject, description, client_id)
VALUES ('Annual compliance review', 'Please confirm the review date.', '3');
INSERT INTO zd_replies (ticket_id, body, public)
SELECT id, 'Internal note: review booked for Monday.', false
FROM zd_tickets WHERE subject = 'Annual compliance review';
EOF
for _ in $(seq 100); do
	[ "$(sql -At -c "SELECT count(*) FROM zd_outbox WHERE state <> 'sent'")" = 0 ] && break
	sleep 0.1
done
sql <<'EOF'
SELECT o.kind, o.state, o.attempts, o.last_http_status AS http,
	round(extract(epoch FROM o.sent_at - o.created_at) * 1000, 1) AS ms_queued_to_answered
FROM zd_outbox o ORDER BY o.id;
SELECT id, zendesk_id, external_id, requester_email, sync_state FROM zd_tickets
WHERE subject = 'Annual compliance review';
EOF
zid=$(sql -At -c "SELECT zendesk_id FROM zd_tickets WHERE subject = 'Annual compliance review'")
echo "in Zendesk (the simulator), ticket $zid:"
sim GET "/_sim/state/tickets/$zid" | as_pg $PYTHON -c '
import json, sys
t = json.load(sys.stdin)["ticket"]
print("  subject: %s | status: %s | external_id: %s" % (t["subject"], t["status"], t["external_id"]))
for c in t["comments"]:
    print("  comment %d (%s): %s" % (c["id"], "public" if c["public"] else "internal", c["body"]))'

title "6. View logs (zd_sync_log) and zd_sync_status"
sql <<'EOF'
SELECT to_char(logged_at, 'HH24:MI:SS') AS at, level, message FROM zd_sync_log ORDER BY id;
\x on
SELECT * FROM zd_sync_status;
EOF

echo
echo "demo finished"
