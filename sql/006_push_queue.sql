--
-- The push queue: what the application writes is queued in zd_outbox in
-- the same transaction; a ticket given only a client gets its e-mail;
-- rows that are already in Zendesk (a restore) are not queued again;
-- zd_retry_failed puts dead letters back.  (The worker is off in this
-- suite, so the queue keeps what the triggers put there.)
--
\set VERBOSITY default
\set SHOW_CONTEXT never
SET client_min_messages = error;
SELECT connection_id AS pushc FROM zd_configure('pushes', 'admin@pushes.example', 'secret-token-p', false) \gset
RESET client_min_messages;

-- a ticket and a reply, written by the application
INSERT INTO zd_tickets (connection_id, subject, description, requester_email)
VALUES (:pushc, 'Audit report', 'Where is my report?', 'ana@example.org');
SELECT id AS t1 FROM zd_tickets WHERE subject = 'Audit report' \gset
INSERT INTO zd_replies (ticket_id, body) VALUES (:t1, 'It is attached.');
SELECT origin, sync_state, zendesk_id FROM zd_tickets WHERE id = :t1;
SELECT o.kind, o.state, o.attempts, o.ticket_id = :t1 AS same_ticket, o.reply_id IS NOT NULL AS has_reply
FROM zd_outbox o WHERE o.connection_id = :pushc ORDER BY o.id;

-- a status change is queued; other changes, and a "change" to the same status, are not
UPDATE zd_tickets SET status = 'pending' WHERE id = :t1;
UPDATE zd_tickets SET status = 'pending', subject = 'Audit report (2025)' WHERE id = :t1;
SELECT kind, status FROM zd_outbox WHERE connection_id = :pushc AND kind = 'update_status';

-- a rolled-back insert leaves nothing queued
BEGIN;
INSERT INTO zd_tickets (connection_id, subject, description, requester_email)
VALUES (:pushc, 'Never mind', 'x', 'ana@example.org');
ROLLBACK;
SELECT count(*) AS queued FROM zd_outbox WHERE connection_id = :pushc;

-- rows that are already in Zendesk, as pg_restore brings them back, are not queued
INSERT INTO zd_tickets (connection_id, zendesk_id, subject, origin, sync_state)
VALUES (:pushc, 9001, 'Pushed before the dump', 'corsa', 'synced'),
	   (:pushc, 9002, 'From Zendesk', 'zendesk', 'synced');
INSERT INTO zd_replies (ticket_id, connection_id, zendesk_comment_id, body, origin, sync_state)
SELECT id, :pushc, 77001, 'old reply', 'corsa', 'synced' FROM zd_tickets WHERE zendesk_id = 9001;
SELECT count(*) AS queued FROM zd_outbox WHERE connection_id = :pushc;

-- rows loaded by COPY (pg_restore, psql from a dump) queue nothing: the
-- dump brings its own queue items
-- (psql does not substitute variables in COPY data: a default for the load)
ALTER TABLE zd_tickets ALTER COLUMN connection_id SET DEFAULT :pushc;
COPY zd_tickets (subject, description, requester_email, origin, sync_state) FROM stdin;
Restored, still pending	x	ana@example.org	corsa	pending
\.
ALTER TABLE zd_tickets ALTER COLUMN connection_id SET DEFAULT zd_default_connection_id();
SELECT sync_state FROM zd_tickets WHERE subject = 'Restored, still pending';
SELECT count(*) AS queued FROM zd_outbox WHERE connection_id = :pushc;

-- only a client: the client's e-mail becomes the requester's
CREATE TABLE push_clients (id int PRIMARY KEY, email text);
INSERT INTO push_clients VALUES (7, 'Bea@Example.org'), (8, NULL);
SET client_min_messages = error;
SELECT zd_set_client_source('push_clients');
RESET client_min_messages;
INSERT INTO zd_tickets (connection_id, subject, description, client_id)
VALUES (:pushc, 'Only a client', 'Hello', '7');
SELECT requester_email, client_id FROM zd_tickets WHERE subject = 'Only a client';
INSERT INTO zd_tickets (connection_id, subject, description, client_id)
VALUES (:pushc, 'Client without e-mail', 'x', '8');
\echo :LAST_ERROR_SQLSTATE
INSERT INTO zd_tickets (connection_id, subject, description, client_id)
VALUES (:pushc, 'Unknown client', 'x', '99');
\echo :LAST_ERROR_SQLSTATE

-- an application role needs only its grants: the queue is not its business
CREATE ROLE push_app;
GRANT SELECT, INSERT, UPDATE ON zd_tickets, zd_replies TO push_app;
GRANT SELECT ON push_clients TO push_app;
SET ROLE push_app;
INSERT INTO zd_tickets (connection_id, subject, description, requester_email)
VALUES (:pushc, 'From the application role', 'Hi', 'cy@example.org');
INSERT INTO zd_replies (ticket_id, body)
SELECT id, 'and more' FROM zd_tickets WHERE subject = 'From the application role';
SELECT count(*) FROM zd_outbox;
\echo :LAST_ERROR_SQLSTATE
RESET ROLE;
SELECT kind, count(*) FROM zd_outbox WHERE connection_id = :pushc GROUP BY kind ORDER BY kind;

-- dead letters back in the queue
UPDATE zd_outbox SET state = 'failed', attempts = 10, last_error = 'HTTP 422: Requester email is invalid'
WHERE connection_id = :pushc AND kind = 'create_ticket' AND ticket_id = :t1;
UPDATE zd_tickets SET sync_state = 'failed', sync_error = 'HTTP 422: Requester email is invalid'
WHERE id = :t1;
SELECT failed_pushes FROM zd_sync_status WHERE subdomain = 'pushes';
SELECT zd_retry_failed('pushes') AS requeued;
SELECT state, attempts FROM zd_outbox WHERE kind = 'create_ticket' AND ticket_id = :t1;
SELECT sync_state, sync_error FROM zd_tickets WHERE id = :t1;
SELECT zd_retry_failed() AS nothing_left;
SELECT zd_retry_failed('nowhere');
\echo :LAST_ERROR_SQLSTATE
SELECT message FROM zd_sync_log WHERE connection_id = :pushc AND message ~ 'zd_retry_failed';

DROP OWNED BY push_app;
DROP ROLE push_app;

-- the trigger writes its items into the table and its indexes directly:
-- each item is the row the table's defaults and constraints would make,
-- in a subtransaction too, and every index holds every row (amcheck)
BEGIN;
INSERT INTO zd_tickets (connection_id, subject, description, requester_email)
VALUES (:pushc, 'Checked item', 'x', 'dee@example.org');
SAVEPOINT s;
INSERT INTO zd_replies (ticket_id, body)
SELECT id, 'gone with the savepoint' FROM zd_tickets WHERE subject = 'Checked item';
ROLLBACK TO s;
INSERT INTO zd_replies (ticket_id, body)
SELECT id, 'kept' FROM zd_tickets WHERE subject = 'Checked item';
UPDATE zd_tickets SET status = 'hold' WHERE subject = 'Checked item';
SELECT o.kind, o.connection_id = :pushc AS same_connection, o.ticket_id = t.id AS same_ticket,
	CASE o.kind WHEN 'add_reply' THEN o.reply_id = (SELECT r.id FROM zd_replies r WHERE r.body = 'kept')
		ELSE o.reply_id IS NULL END AS reply_ok, o.status, o.state, o.attempts,
	o.next_attempt_at = now() AS due_now, o.created_at = now() AS created_now,
	o.last_error IS NULL AND o.last_http_status IS NULL AND o.idempotency_key IS NULL
	AND o.claimed_at IS NULL AND o.sent_at IS NULL AS rest_null
FROM zd_outbox o JOIN zd_tickets t ON t.id = o.ticket_id
WHERE t.subject = 'Checked item' ORDER BY o.id;
COMMIT;
SELECT (SELECT max(id) FROM zd_outbox) = currval(pg_get_serial_sequence('zd_outbox', 'id'))
	AS ids_from_the_sequence;
-- every index (the partial ones too) holds every row it should: amcheck
-- raises an error otherwise
CREATE EXTENSION amcheck;
SELECT c.relname, bt_index_check(c.oid, true)
FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
WHERE i.indrelid = 'zd_outbox'::regclass ORDER BY c.relname;
DROP EXTENSION amcheck;
-- a column the trigger does not know of: left null when it may be, an
-- error (and nothing written) when it has a default; a dropped one is skipped
ALTER TABLE zd_outbox ADD COLUMN operator_note text;
INSERT INTO zd_tickets (connection_id, subject, description, requester_email)
VALUES (:pushc, 'With an operator column', 'x', 'dee@example.org');
SELECT operator_note IS NULL AS left_null FROM zd_outbox
WHERE ticket_id = (SELECT id FROM zd_tickets WHERE subject = 'With an operator column');
ALTER TABLE zd_outbox DROP COLUMN operator_note;
ALTER TABLE zd_outbox ADD COLUMN priority_hint integer DEFAULT 0;
INSERT INTO zd_tickets (connection_id, subject, description, requester_email)
VALUES (:pushc, 'With a defaulted column', 'x', 'dee@example.org');
SELECT count(*) AS written FROM zd_tickets WHERE subject = 'With a defaulted column';
ALTER TABLE zd_outbox DROP COLUMN priority_hint;
INSERT INTO zd_tickets (connection_id, subject, description, requester_email)
VALUES (:pushc, 'After the dropped columns', 'x', 'dee@example.org');
SELECT o.kind, o.state FROM zd_outbox o JOIN zd_tickets t ON t.id = o.ticket_id
WHERE t.subject = 'After the dropped columns';
