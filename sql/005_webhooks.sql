--
-- zd_ingest_webhook: every synced event type in Zendesk's shapes (string
-- ids, upper-case enums), each outcome, each error with its SQLSTATE, and
-- signatures (valid, tampered, stale, Zendesk's own test secret).
--
\set VERBOSITY default
SET client_min_messages = error;
SELECT webhook_token AS token FROM zd_configure('hooks', 'admin@hooks.example', 'secret-token-h', false) \gset
RESET client_min_messages;
SELECT 'Bearer ' || :'token' AS bearer \gset
SELECT id AS hooks FROM zd_connections WHERE subdomain = 'hooks' \gset

-- a ticket event in Zendesk's shape: ticket 7001, at a given time
CREATE FUNCTION hook(event_id text, type text, at text, status text DEFAULT 'OPEN',
					 event jsonb DEFAULT '{}', ticket text DEFAULT '7001',
					 subject text DEFAULT 'Damaged order #1042', priority text DEFAULT 'NORMAL',
					 tags jsonb DEFAULT '["order", "damaged"]')
RETURNS text LANGUAGE sql AS $$
SELECT jsonb_build_object(
	'account_id', 22129848,
	'detail', jsonb_build_object(
		'actor_id', '8447388090111', 'assignee_id', '8447388090777',
		'brand_id', '8447346621310', 'created_at', '2025-01-08T10:12:07Z',
		'custom_status', '8447320465791',
		'description', 'My order #1042 arrived damaged. Can I get a replacement?',
		'external_id', 'pgzd-local-42', 'form_id', '8646151517822',
		'group_id', '8447320466430', 'id', ticket, 'is_public', true,
		'organization_id', NULL, 'priority', priority,
		'requester_id', '8447388090494', 'status', status, 'subject', subject,
		'submitter_id', '8447388090494', 'tags', tags, 'type', 'QUESTION',
		'updated_at', at, 'via', jsonb_build_object('channel', 'web')),
	'event', event,
	'id', event_id,
	'subject', 'zen:ticket:' || ticket,
	'time', at,
	'type', 'zen:event-type:ticket.' || type,
	'zendesk_event_version', '2022-11-06')::text
$$;

CREATE VIEW t7001 AS
SELECT zendesk_id, subject, status, priority, ticket_type, tags, external_id, origin,
	sync_state, label, deletion_kind, deleted_by_zendesk_id, deleted_previous_status,
	deletion_seen_by, merged_into_zendesk_id, requester_zendesk_id, requester_email,
	source_version, last_webhook_at IS NOT NULL AS via_webhook
FROM zd_tickets WHERE zendesk_id = 7001;

-- authentication: 28000 for a missing, malformed or wrong token
SELECT zd_ingest_webhook(hook('e0', 'created', '2025-01-08T10:12:07Z', 'NEW'), NULL);
SELECT zd_ingest_webhook(hook('e0', 'created', '2025-01-08T10:12:07Z', 'NEW'), 'Basic YWRtaW4=');
SELECT zd_ingest_webhook(hook('e0', 'created', '2025-01-08T10:12:07Z', 'NEW'), 'Bearer not-the-token');

-- bodies that are not events: 22P02 not JSON, 22023 not an event, 54000 too large
SELECT zd_ingest_webhook('{"type": "zen:event-type:ticket.created", "id": ', :'bearer');
SELECT zd_ingest_webhook('', :'bearer');
SELECT zd_ingest_webhook('[1, 2, 3]', :'bearer');
SELECT zd_ingest_webhook('null', :'bearer');
SELECT zd_ingest_webhook('null x', :'bearer');
SELECT zd_ingest_webhook('{"id": "e1", "time": "2025-01-08T10:12:07Z"}', :'bearer');
SELECT zd_ingest_webhook('{"type": "ticket.created", "id": "e1"}', :'bearer');
SELECT zd_ingest_webhook('{"type": "zen:event-type:ticket.created", "time": "2025-01-08T10:12:07Z"}', :'bearer');
SELECT zd_ingest_webhook('{"type": "zen:event-type:ticket.created", "id": "e1", "time": "2025-01-08T10:12:07Z", "detail": {"subject": "no id"}}', :'bearer');
SELECT zd_ingest_webhook(replace(hook('e1', 'created', '2025-01-08T10:12:07Z'), '"2025-01-08T10:12:07Z"', '"yesterday"'), :'bearer');
SELECT zd_ingest_webhook('{"pad": "' || repeat('x', 1100000) || '"}', :'bearer');
-- ... and none of them wrote anything
SELECT count(*) AS events, (SELECT count(*) FROM zd_tickets WHERE zendesk_id = 7001) AS tickets
FROM zd_webhook_events;

-- ticket.created: applied, normalized (lower-case enums, ids from strings)
SELECT zd_ingest_webhook(hook('e1', 'created', '2025-01-08T10:12:07.672717030Z', 'NEW'), :'bearer');
SELECT * FROM t7001;
-- the same event again: duplicate (Zendesk delivers at least once)
SELECT zd_ingest_webhook(hook('e1', 'created', '2025-01-08T10:12:07.672717030Z', 'NEW'), :'bearer');

-- ticket.comment_added: the comment is recorded, the ticket's state applied
SELECT zd_ingest_webhook(hook('e2', 'comment_added', '2025-01-08T11:40:02.304701605Z', 'OPEN',
	'{"comment": {"author": {"id": "8447388090777", "is_staff": true, "name": "Alex Agent"},
	  "body": "Sorry about that! A replacement ships today.",
	  "html_body": "<div class=\"zd-comment\" dir=\"auto\"><p>Sorry about that! A replacement ships today.</p></div>",
	  "id": "58789194475545", "is_public": true},
	  "meta": {"sequence": {"id": "39313930383633353634323835", "position": 1}}}'), :'bearer');
SELECT r.zendesk_comment_id, r.author_zendesk_id, r.author_name, r.body, r.public, r.origin, r.zendesk_created_at
FROM zd_replies r JOIN zd_tickets t ON t.id = r.ticket_id WHERE t.zendesk_id = 7001;
SELECT status FROM t7001;

-- an older event never undoes a newer state: stale ...
SELECT zd_ingest_webhook(hook('e3', 'status_changed', '2025-01-08T11:00:00Z', 'PENDING',
	'{"current": "PENDING", "previous": "NEW"}'), :'bearer');
SELECT status FROM t7001;
-- ... but the comment an older event carries is still recorded
SELECT zd_ingest_webhook(hook('e4', 'comment_added', '2025-01-08T11:30:00Z', 'PENDING',
	'{"comment": {"author": {"id": "8447388090494", "is_staff": false, "name": "Pat Requester"},
	  "body": "Any news?", "html_body": "<p>Any news?</p>", "id": "58789194470000", "is_public": true}}'),
	:'bearer');
SELECT status, (SELECT count(*) FROM zd_replies r JOIN zd_tickets t ON t.id = r.ticket_id
	WHERE t.zendesk_id = 7001) AS replies FROM t7001;

-- field changes carry the whole ticket: priority, subject, tags, status
SELECT zd_ingest_webhook(hook('e5', 'priority_changed', '2025-01-08T12:00:00Z', 'OPEN',
	'{"current": "URGENT", "previous": "NORMAL"}', priority => 'URGENT'), :'bearer');
SELECT zd_ingest_webhook(hook('e6', 'subject_changed', '2025-01-08T12:01:00Z', 'OPEN',
	'{"current": "Damaged order #1042 (urgent)", "previous": "Damaged order #1042"}',
	subject => 'Damaged order #1042 (urgent)', priority => 'URGENT'), :'bearer');
SELECT zd_ingest_webhook(hook('e7', 'tags_changed', '2025-01-08T12:02:00Z', 'OPEN',
	'{"tags_added": ["vip"], "tags_removed": []}', subject => 'Damaged order #1042 (urgent)',
	priority => 'URGENT', tags => '["order", "damaged", "vip"]'), :'bearer');
SELECT zd_ingest_webhook(hook('e8', 'status_changed', '2025-01-08T12:03:00Z', 'SOLVED',
	'{"current": "SOLVED", "previous": "OPEN"}', subject => 'Damaged order #1042 (urgent)',
	priority => 'URGENT', tags => '["order", "damaged", "vip"]'), :'bearer');
SELECT subject, status, priority, tags FROM t7001;

-- ticket.soft_deleted: kept, labelled, who and what it was before
SELECT zd_ingest_webhook(hook('e9', 'soft_deleted', '2025-01-09T08:00:14.906323869Z', 'DELETED',
	subject => 'Damaged order #1042 (urgent)', priority => 'URGENT',
	tags => '["order", "damaged", "vip"]'), :'bearer');
SELECT subject, status, label, deletion_kind, deleted_by_zendesk_id, deleted_previous_status,
	deletion_seen_by FROM t7001;
-- a late event from before the deletion does not bring the ticket back; its
-- content is newer than what we held, so it is the status it was deleted in
SELECT zd_ingest_webhook(hook('e10', 'status_changed', '2025-01-09T07:00:00Z', 'OPEN',
	subject => 'Damaged order #1042 (urgent)'), :'bearer');
SELECT status, label, deleted_previous_status FROM t7001;
-- one older than the content held is stale
SELECT zd_ingest_webhook(hook('e10b', 'status_changed', '2025-01-09T06:00:00Z', 'PENDING',
	subject => 'Damaged order #1042 (urgent)'), :'bearer');
SELECT status, label FROM t7001;

-- ticket.undeleted: the label goes
SELECT zd_ingest_webhook(hook('e11', 'undeleted', '2025-01-09T09:00:00Z', 'SOLVED',
	subject => 'Damaged order #1042 (urgent)', priority => 'URGENT',
	tags => '["order", "damaged", "vip"]'), :'bearer');
SELECT status, label, deletion_kind FROM t7001;

-- ticket.permanently_deleted: Zendesk scrubs the ticket, we keep the content
SELECT zd_ingest_webhook(hook('e12', 'permanently_deleted', '2025-01-09T10:00:00Z', 'DELETED',
	subject => '', priority => NULL, tags => '[]'), :'bearer');
SELECT subject, status, priority, tags, label, deletion_kind FROM t7001;
SELECT count(*) AS replies_kept FROM zd_replies r JOIN zd_tickets t ON t.id = r.ticket_id
WHERE t.zendesk_id = 7001;

-- an event for a ticket we do not know yet creates it
SELECT zd_ingest_webhook(hook('e13', 'comment_added', '2025-02-01T10:00:00Z', 'OPEN',
	'{"comment": {"author": {"id": "8447388090555", "is_staff": false, "name": "Dana Customer"},
	  "body": "First contact", "html_body": "<p>First contact</p>", "id": "58789199990001",
	  "is_public": false}}', ticket => '7002', subject => 'Cannot log in'), :'bearer');
SELECT t.zendesk_id, t.subject, t.status, r.body, r.public, r.author_name
FROM zd_tickets t JOIN zd_replies r ON r.ticket_id = t.id WHERE t.zendesk_id = 7002;

-- ticket.merged: the source is closed and says where it went
SELECT zd_ingest_webhook(hook('e14', 'merged', '2025-02-01T11:00:00Z', 'CLOSED',
	'{"target_ticket_id": "7003"}', ticket => '7002', subject => 'Cannot log in'), :'bearer');
SELECT zendesk_id, status, merged_into_zendesk_id, label FROM zd_tickets WHERE zendesk_id = 7002;

-- ticket.marked_as_spam: deleted, as spam
SELECT zd_ingest_webhook(hook('e15', 'marked_as_spam', '2025-02-02T08:00:00Z', 'DELETED',
	ticket => '7004', subject => 'Buy now'), :'bearer');
SELECT zendesk_id, subject, label, deletion_kind FROM zd_tickets WHERE zendesk_id = 7004;

-- valid events that are not synced: ignored (and still deduplicated)
SELECT zd_ingest_webhook(hook('e16', 'csat_received', '2025-02-02T09:00:00Z'), :'bearer');
SELECT zd_ingest_webhook('{"type": "zen:event-type:user.created", "id": "e17", "time": "2025-02-02T09:00:00Z", "detail": {"id": "1"}, "event": {}}', :'bearer');
SELECT zd_ingest_webhook('{"type": "zen:event-type:user.created", "id": "e17", "time": "2025-02-02T09:00:00Z", "detail": {"id": "1"}, "event": {}}', :'bearer');

SELECT event_id, event_type, zendesk_ticket_id, outcome FROM zd_webhook_events
WHERE connection_id = :hooks ORDER BY event_time, event_id;
SELECT level, message FROM zd_sync_log WHERE message ~ '\(webhook\)' ORDER BY id;
SELECT last_webhook_at IS NOT NULL AS webhook_seen FROM zd_sync_status WHERE subdomain = 'hooks';

--
-- Signatures
--
CREATE EXTENSION pgcrypto;
CREATE FUNCTION zendesk_signature(secret text, stamp text, body text) RETURNS text
LANGUAGE sql AS $$ SELECT encode(hmac(stamp || body, secret, 'sha256'), 'base64') $$;

-- Zendesk's static test secret, and the example signature its docs give
SELECT zd_set_signing_secret('dGhpc19zZWNyZXRfaXNfZm9yX3Rlc3Rpbmdfb25seQ==', 'hooks');
SELECT zendesk_signature('dGhpc19zZWNyZXRfaXNfZm9yX3Rlc3Rpbmdfb25seQ==', '2021-03-25T05:09:27Z',
	'{"event":"ticket.updated","id":123}') AS documented_example;
-- accepted (with a replay window reaching back to 2021), then refused as no
-- Zendesk event: the signature check passed
SET corsa_zendesk.webhook_max_age = '3650d';
SELECT zd_ingest_webhook('{"event":"ticket.updated","id":123}', :'bearer',
	'S/RDdU2ERmj7LHDDoWJ2onPYH+t7/f2+LTM4dL7UiLM=', '2021-03-25T05:09:27Z');
RESET corsa_zendesk.webhook_max_age;
-- the same, within the default window of an hour: too old (the detail says
-- how old, which differs from run to run)
\set VERBOSITY terse
SELECT zd_ingest_webhook('{"event":"ticket.updated","id":123}', :'bearer',
	'S/RDdU2ERmj7LHDDoWJ2onPYH+t7/f2+LTM4dL7UiLM=', '2021-03-25T05:09:27Z');
\set VERBOSITY default

-- a fresh, valid signature
SELECT to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"') AS stamp \gset
SELECT hook('s1', 'status_changed', '2025-03-01T08:00:00Z', 'OPEN', ticket => '7005') AS body \gset
SELECT zd_ingest_webhook(:'body', :'bearer',
	zendesk_signature('dGhpc19zZWNyZXRfaXNfZm9yX3Rlc3Rpbmdfb25seQ==', :'stamp', :'body'), :'stamp');
-- tampered body, wrong signature, missing headers, stale and future stamps
SELECT zd_ingest_webhook(replace(:'body', '7005', '7006'), :'bearer',
	zendesk_signature('dGhpc19zZWNyZXRfaXNfZm9yX3Rlc3Rpbmdfb25seQ==', :'stamp', :'body'), :'stamp');
SELECT zd_ingest_webhook(:'body', :'bearer', 'AAAA', :'stamp');
SELECT zd_ingest_webhook(:'body', :'bearer');
SELECT to_char((now() - interval '2 hours') AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"') AS old \gset
\set VERBOSITY terse
SELECT zd_ingest_webhook(:'body', :'bearer',
	zendesk_signature('dGhpc19zZWNyZXRfaXNfZm9yX3Rlc3Rpbmdfb25seQ==', :'old', :'body'), :'old');
\set VERBOSITY default
SELECT zd_ingest_webhook(:'body', :'bearer',
	zendesk_signature('dGhpc19zZWNyZXRfaXNfZm9yX3Rlc3Rpbmdfb25seQ==', 'next week', :'body'), 'next week');
SELECT count(*) AS tampered_written FROM zd_tickets WHERE zendesk_id = 7006;

-- without a secret, signature headers are ignored and the token decides
SELECT zd_set_signing_secret(NULL, 'hooks');
SELECT zd_ingest_webhook(hook('s2', 'status_changed', '2025-03-01T09:00:00Z', 'PENDING', ticket => '7005'),
	:'bearer', 'garbage', 'garbage');
SELECT zd_set_signing_secret('two words', 'hooks');
SELECT count(*) AS secrets_in_log FROM zd_sync_log WHERE message ~ 'dGhpc19z';

-- the application's role only needs EXECUTE on zd_ingest_webhook
CREATE ROLE zd_regress_hooks;
GRANT EXECUTE ON FUNCTION zd_ingest_webhook(text, text, text, text) TO zd_regress_hooks;
SET ROLE zd_regress_hooks;
SELECT zd_ingest_webhook(hook('r1', 'status_changed', '2025-03-01T10:00:00Z', 'HOLD', ticket => '7005'), :'bearer');
SELECT count(*) FROM zd_connections;
RESET ROLE;
SELECT status FROM zd_tickets WHERE zendesk_id = 7005;

-- client matching: a ticket whose requester Zendesk has told us about is
-- matched as it is written; a later requester without a known e-mail
-- unmatches it; an older (stale) event leaves the match alone
CREATE TABLE hook_clients (id integer PRIMARY KEY, email text);
INSERT INTO hook_clients VALUES (1, 'Ana.Lopez@Example.org');
SELECT zd_set_client_source('hook_clients');
INSERT INTO zd_users (connection_id, zendesk_id, email, name, role)
VALUES (:hooks, 8447388090494, 'ana.lopez@example.org', 'Ana Lopez', 'end-user');
SELECT zd_ingest_webhook(hook('c1', 'created', '2025-03-02T08:00:00Z', 'NEW', ticket => '7010'), :'bearer');
SELECT requester_email, client_id FROM zd_tickets WHERE zendesk_id = 7010;
SELECT zd_ingest_webhook(replace(hook('c2', 'status_changed', '2025-03-02T09:00:00Z', 'OPEN', ticket => '7010'),
	'"8447388090494"', '"8447388090999"'), :'bearer');
SELECT requester_zendesk_id, requester_email, client_id FROM zd_tickets WHERE zendesk_id = 7010;
SELECT zd_ingest_webhook(hook('c3', 'status_changed', '2025-03-02T08:30:00Z', 'PENDING', ticket => '7010'), :'bearer');
SELECT requester_zendesk_id, status, client_id FROM zd_tickets WHERE zendesk_id = 7010;
SELECT zd_ingest_webhook(hook('c4', 'status_changed', '2025-03-02T10:00:00Z', 'PENDING', ticket => '7010'), :'bearer');
SELECT requester_zendesk_id, status, client_id FROM zd_tickets WHERE zendesk_id = 7010;

-- a disconnected account's events are ignored
SELECT zd_disconnect('hooks');
SELECT zd_ingest_webhook(hook('d1', 'status_changed', '2025-03-01T11:00:00Z', 'SOLVED', ticket => '7005'), :'bearer');
SELECT status FROM zd_tickets WHERE zendesk_id = 7005;
