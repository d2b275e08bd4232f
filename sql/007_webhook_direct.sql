--
-- zd_ingest_webhook writes its common rows straight into the tables
-- (store_direct.c, direct.c) and takes SQL statements for the rest, and for
-- every table that holds something of the application's own that direct
-- writes would skip: a trigger, a foreign key, a column with a default, a
-- changed column.  Both ways give the same rows, and what the application
-- added keeps working (its CHECKs are checked by direct writes too).
--
\set VERBOSITY default
SET client_min_messages = error;
SELECT 'Bearer ' || webhook_token AS bearer
FROM zd_configure('direct', 'admin@direct.example', 'secret-token-d', false) \gset
RESET client_min_messages;
SELECT id AS direct FROM zd_connections WHERE subdomain = 'direct' \gset
CREATE TABLE direct_conf AS SELECT :direct AS conn, :'bearer' AS bearer;
INSERT INTO zd_users (connection_id, zendesk_id, email, name, role)
VALUES (:direct, 9400, 'rita@example.org', 'Rita Requester', 'end-user'),
	(:direct, 9401, NULL, 'Ned No-Mail', 'end-user'),
	(:direct, 9450, 'alex@direct.example', 'Alex Agent', 'agent');

-- an event of ticket t at a time, in Zendesk's shape; detail merges extra
CREATE FUNCTION dhook(id text, type text, t int, at text, status text DEFAULT 'OPEN',
					  event jsonb DEFAULT '{}', extra jsonb DEFAULT '{}')
RETURNS text LANGUAGE sql AS $$
SELECT jsonb_build_object(
	'account_id', 22129848,
	'detail', jsonb_build_object(
		'actor_id', '9450', 'created_at', '2025-05-01T08:00:00Z',
		'description', 'It broke', 'external_id', NULL, 'id', t::text,
		'priority', 'HIGH', 'requester_id', '9400', 'status', status,
		'subject', 'Ticket ' || t, 'tags', '["alpha", "beta"]'::jsonb, 'type', 'INCIDENT',
		'updated_at', at, 'via', jsonb_build_object('channel', 'web')) || extra,
	'event', event, 'id', id, 'subject', 'zen:ticket:' || t, 'time', at,
	'type', 'zen:event-type:ticket.' || type,
	'zendesk_event_version', '2022-11-06')::text
$$;

CREATE FUNCTION dcomment(cid text, author text, body text) RETURNS jsonb LANGUAGE sql AS $$
SELECT jsonb_build_object('comment', jsonb_build_object('id', cid, 'body', body,
	'html_body', '<p>' || body || '</p>', 'is_public', true,
	'author', jsonb_build_object('id', author, 'is_staff', false, 'name', 'Author ' || author)))
$$;

-- every kind of event the direct writes take, and those they leave to SQL
CREATE TABLE direct_events (n int PRIMARY KEY, body text);
INSERT INTO direct_events VALUES
	(1, dhook('d1', 'created', 9101, '2025-05-01T09:00:00Z', 'NEW')),
	(2, dhook('d2', 'comment_added', 9101, '2025-05-01T09:05:00Z', 'OPEN', dcomment('81', '9400', 'Still broken'))),
	(3, dhook('d3', 'status_changed', 9101, '2025-05-01T09:10:00Z', 'PENDING')),
	(4, dhook('d4', 'status_changed', 9101, '2025-05-01T09:02:00Z', 'SOLVED')),
	(5, dhook('d3', 'status_changed', 9101, '2025-05-01T09:10:00Z', 'PENDING')),
	(6, dhook('d6', 'comment_added', 9102, '2025-05-01T09:20:00Z', 'OPEN', dcomment('82', '9450', 'Looking into it'))),
	(7, dhook('d7', 'soft_deleted', 9102, '2025-05-01T09:30:00Z', 'DELETED')),
	(8, dhook('d8', 'marked_as_spam', 9102, '2025-05-01T09:30:00.000001Z', 'DELETED')),
	(9, dhook('d9', 'priority_changed', 9102, '2025-05-01T09:25:00Z', 'OPEN', extra => '{"priority": "LOW"}')),
	(10, dhook('d10', 'created', 9103, '2025-05-01T09:00:00Z', 'NEW')),
	(11, dhook('d11', 'permanently_deleted', 9103, '2025-05-01T09:50:00Z', 'DELETED', extra => '{"subject": "", "tags": []}')),
	(12, dhook('d12', 'soft_deleted', 9103, '2025-05-01T09:40:00Z', 'DELETED')),
	(13, dhook('d13', 'created', 9104, '2025-05-01T09:00:00Z', 'NEW')),
	(14, dhook('d14', 'merged', 9104, '2025-05-01T10:00:00Z', 'CLOSED', '{"target_ticket_id": "9101"}')),
	(15, dhook('d15', 'created', 9105, '2025-05-01T10:00:00Z', 'NEW',
		extra => '{"via": {"channel": "web", "source": {"rel": "follow_up", "from": {"ticket_id": "9101"}}}}')),
	(16, dhook('d16', 'created', 9106, '2025-05-01T10:00:00Z', 'NEW', extra => '{"requester_id": "9499"}')),
	(17, dhook('d17', 'created', 9107, '2025-05-01T10:00:00Z', 'NEW', extra => '{"requester_id": "9401", "description": null, "tags": []}')),
	(18, dhook('d18', 'comment_added', 9101, '2025-05-01T10:05:00Z', 'OPEN', dcomment('83', '9499', 'From someone new'))),
	(19, dhook('d19', 'comment_added', 9101, '2025-05-01T10:05:00Z', 'OPEN', dcomment('83', '9499', 'From someone new'))),
	(20, dhook('d20', 'undeleted', 9102, '2025-05-01T11:00:00Z', 'OPEN')),
	(21, dhook('d21', 'csat_received', 9101, '2025-05-01T11:00:00Z')),
	(22, dhook('d22', 'created', 9108, '2025-05-01T11:00:00Z', 'NEW', extra => '{"external_id": "corsa:999999"}'));

-- the rows, without what differs between two deliveries (row ids, now())
CREATE VIEW direct_rows AS
SELECT 'ticket' AS kind, t.zendesk_id AS key, row(t.external_id, t.client_id, t.requester_email,
	t.requester_name, t.requester_zendesk_id, t.subject, t.description, t.status, t.priority,
	t.ticket_type, t.tags, t.origin, t.sync_state, t.sync_error, t.deleted_at, t.label,
	t.deletion_kind, t.deleted_by_zendesk_id, t.deleted_by_name, t.deleted_previous_status,
	t.deletion_seen_by, t.merged_into_zendesk_id, f.zendesk_id, t.zendesk_created_at,
	t.zendesk_updated_at, t.source_version, t.content_version, t.deletion_version,
	t.last_webhook_at IS NOT NULL, t.raw)::text AS value
FROM zd_tickets t LEFT JOIN zd_tickets f ON f.id = t.followup_of_ticket_id
WHERE t.connection_id = :direct
UNION ALL
SELECT 'reply', r.zendesk_comment_id, row(t.zendesk_id, r.zendesk_audit_id, r.author_email,
	r.author_name, r.author_zendesk_id, r.body, r.html_body, r.public, r.origin, r.sync_state,
	r.zendesk_created_at, r.raw)::text
FROM zd_replies r JOIN zd_tickets t ON t.id = r.ticket_id WHERE r.connection_id = :direct
UNION ALL
SELECT 'event', substr(e.event_id, 2)::int8, row(e.event_type, e.zendesk_ticket_id, e.event_time,
	e.outcome)::text
FROM zd_webhook_events e WHERE e.connection_id = :direct;

CREATE FUNCTION deliver_all() RETURNS TABLE (n int, outcome text) LANGUAGE sql AS $$
SELECT n, zd_ingest_webhook(body, (SELECT bearer FROM direct_conf)) FROM direct_events ORDER BY n
$$;

CREATE FUNCTION forget_direct() RETURNS void LANGUAGE sql AS $$
DELETE FROM zd_replies WHERE connection_id = (SELECT conn FROM direct_conf);
UPDATE zd_tickets SET followup_of_ticket_id = NULL
WHERE connection_id = (SELECT conn FROM direct_conf);
DELETE FROM zd_tickets WHERE connection_id = (SELECT conn FROM direct_conf);
DELETE FROM zd_webhook_events WHERE connection_id = (SELECT conn FROM direct_conf);
$$;

-- first delivery: the extension's tables as it made them (direct writes)
SET client_min_messages = log;
SELECT * FROM deliver_all();
RESET client_min_messages;
SELECT kind, key, value FROM direct_rows ORDER BY kind, key;
CREATE TABLE direct_written AS SELECT * FROM direct_rows;

-- the application audits the tables with triggers of its own: the same
-- events then take the statements, which fire them
CREATE TABLE app_audit (tab text, op text, n bigint);
CREATE FUNCTION app_audit() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	INSERT INTO public.app_audit VALUES (TG_TABLE_NAME, TG_OP, 1);
	RETURN NEW;
END $$;
CREATE TRIGGER app_audit AFTER INSERT OR UPDATE ON zd_tickets
	FOR EACH ROW EXECUTE FUNCTION app_audit();
CREATE TRIGGER app_audit AFTER INSERT OR UPDATE ON zd_replies
	FOR EACH ROW EXECUTE FUNCTION app_audit();
CREATE TRIGGER app_audit AFTER INSERT ON zd_webhook_events
	FOR EACH ROW EXECUTE FUNCTION app_audit();
SELECT forget_direct();
SET client_min_messages = log;
SELECT * FROM deliver_all();
RESET client_min_messages;
SELECT tab, op, count(*) FROM app_audit GROUP BY 1, 2 ORDER BY 1, 2;
-- ... and write the very same rows
SELECT 'direct only' AS side, * FROM (SELECT * FROM direct_written EXCEPT SELECT * FROM direct_rows) d
UNION ALL
SELECT 'statements only', * FROM (SELECT * FROM direct_rows EXCEPT SELECT * FROM direct_written) s;
DROP TRIGGER app_audit ON zd_tickets;
DROP TRIGGER app_audit ON zd_replies;
DROP TRIGGER app_audit ON zd_webhook_events;

-- a column of the application's own with a default: filled in by the
-- statements; one without a default or NOT NULL: left null by direct writes
ALTER TABLE zd_tickets ADD COLUMN app_queue text DEFAULT 'triage';
SELECT forget_direct();
SET client_min_messages = log;
SELECT count(*) AS delivered FROM deliver_all();
RESET client_min_messages;
SELECT app_queue, count(*) FROM zd_tickets WHERE connection_id = :direct GROUP BY 1;
ALTER TABLE zd_tickets DROP COLUMN app_queue;
ALTER TABLE zd_tickets ADD COLUMN app_note text;
SELECT forget_direct();
SET client_min_messages = log;
SELECT count(*) AS delivered FROM deliver_all();
RESET client_min_messages;
SELECT app_note, count(*) FROM zd_tickets WHERE connection_id = :direct GROUP BY 1;
SELECT count(*) AS differences FROM (
	(SELECT * FROM direct_written EXCEPT SELECT * FROM direct_rows)
	UNION ALL (SELECT * FROM direct_rows EXCEPT SELECT * FROM direct_written)) d;
ALTER TABLE zd_tickets DROP COLUMN app_note;
DROP VIEW direct_rows;

-- one of the extension's columns changed (its type, its default): statements
SET client_min_messages = log;
ALTER TABLE zd_tickets ALTER COLUMN description TYPE varchar(500);
SELECT zd_ingest_webhook(dhook('d33', 'status_changed', 9101, '2025-05-01T12:30:00Z', 'OPEN'), :'bearer');
ALTER TABLE zd_tickets ALTER COLUMN description TYPE text;
ALTER TABLE zd_tickets ALTER COLUMN created_at SET DEFAULT '2000-01-01 00:00:00+00';
SELECT zd_ingest_webhook(dhook('d34', 'created', 9110, '2025-05-01T12:30:00Z', 'NEW'), :'bearer');
SELECT created_at FROM zd_tickets WHERE connection_id = :direct AND zendesk_id = 9110;
ALTER TABLE zd_tickets ALTER COLUMN created_at SET DEFAULT now();
RESET client_min_messages;

-- a CHECK of the application's own holds for direct writes too, as for a statement
ALTER TABLE zd_tickets ADD CONSTRAINT app_subject_check CHECK (subject <> 'Ticket 9109');
SET client_min_messages = log;
\set VERBOSITY terse
SELECT zd_ingest_webhook(dhook('d30', 'created', 9109, '2025-05-01T12:00:00Z', 'NEW'), :'bearer');
\set VERBOSITY default
RESET client_min_messages;
SELECT count(*) AS written FROM zd_webhook_events WHERE event_id = 'd30';
ALTER TABLE zd_tickets DROP CONSTRAINT app_subject_check;

-- REPEATABLE READ: the statements, whose serialization checks a direct
-- write would not make
BEGIN ISOLATION LEVEL REPEATABLE READ;
SELECT zd_ingest_webhook(dhook('d31', 'status_changed', 9101, '2025-05-01T13:00:00Z', 'HOLD'), :'bearer');
COMMIT;
SELECT status FROM zd_tickets WHERE connection_id = :direct AND zendesk_id = 9101;

-- a read-only transaction (or a standby) writes nothing: 25006
BEGIN READ ONLY;
SELECT zd_ingest_webhook(dhook('d32', 'status_changed', 9101, '2025-05-01T14:00:00Z', 'SOLVED'), :'bearer');
ROLLBACK;

-- amcheck: the indexes written directly hold every row
CREATE EXTENSION amcheck;
SELECT count(*) AS indexes_checked FROM (
	SELECT bt_index_check(i.indexrelid, true) FROM pg_index i
	WHERE i.indrelid IN ('zd_tickets'::regclass, 'zd_replies'::regclass,
		'zd_webhook_events'::regclass)) c;
DROP EXTENSION amcheck;
