--
-- The extension's objects: every one is commented, privileges are closed,
-- and the data tables are kept by pg_dump.
--
CREATE EXTENSION corsa_zendesk;

-- every relation, column, view column and function of the extension has a comment
SELECT 'relation ' || c.relname AS missing_comment
FROM pg_depend d JOIN pg_class c ON c.oid = d.objid AND d.classid = 'pg_class'::regclass
WHERE d.refobjid = (SELECT oid FROM pg_extension WHERE extname = 'corsa_zendesk')
  AND d.deptype = 'e' AND c.relkind IN ('r', 'v')
  AND obj_description(c.oid, 'pg_class') IS NULL
UNION ALL
SELECT 'column ' || c.relname || '.' || a.attname
FROM pg_depend d JOIN pg_class c ON c.oid = d.objid AND d.classid = 'pg_class'::regclass
JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
WHERE d.refobjid = (SELECT oid FROM pg_extension WHERE extname = 'corsa_zendesk')
  AND d.deptype = 'e' AND c.relkind IN ('r', 'v')
  AND col_description(c.oid, a.attnum) IS NULL
UNION ALL
SELECT 'function ' || p.oid::regprocedure
FROM pg_depend d JOIN pg_proc p ON p.oid = d.objid AND d.classid = 'pg_proc'::regclass
WHERE d.refobjid = (SELECT oid FROM pg_extension WHERE extname = 'corsa_zendesk')
  AND d.deptype = 'e' AND obj_description(p.oid, 'pg_proc') IS NULL
ORDER BY 1;

-- tables and views of the extension
SELECT c.relname, c.relkind
FROM pg_depend d JOIN pg_class c ON c.oid = d.objid AND d.classid = 'pg_class'::regclass
WHERE d.refobjid = (SELECT oid FROM pg_extension WHERE extname = 'corsa_zendesk')
  AND d.deptype = 'e' AND c.relkind IN ('r', 'v')
ORDER BY 1;

-- pg_dump keeps the data of these tables and sequences
SELECT unnest(extconfig)::regclass AS dumped
FROM pg_extension WHERE extname = 'corsa_zendesk' ORDER BY 1::text;

-- nothing is granted to PUBLIC but zd_worker_pid()
SELECT c.relname AS readable_by_public
FROM pg_depend d JOIN pg_class c ON c.oid = d.objid AND d.classid = 'pg_class'::regclass
WHERE d.refobjid = (SELECT oid FROM pg_extension WHERE extname = 'corsa_zendesk')
  AND d.deptype = 'e' AND c.relkind IN ('r', 'v')
  AND has_table_privilege('public', c.oid, 'SELECT')
ORDER BY 1;
SELECT p.oid::regprocedure AS public_function
FROM pg_depend d JOIN pg_proc p ON p.oid = d.objid AND d.classid = 'pg_proc'::regclass
WHERE d.refobjid = (SELECT oid FROM pg_extension WHERE extname = 'corsa_zendesk')
  AND d.deptype = 'e' AND has_function_privilege('public', p.oid, 'EXECUTE')
ORDER BY 1;

-- a role that does not own the extension cannot read the credentials
CREATE ROLE zd_regress_app;
SET ROLE zd_regress_app;
SELECT count(*) FROM zd_connections;
SELECT * FROM zd_webhook_settings();
SELECT zd_rotate_webhook_token();
RESET ROLE;

-- the label follows deleted_at, and only known statuses are accepted
INSERT INTO zd_connections (subdomain, agent_email, webhook_token_enc, webhook_token_sha256, enabled)
VALUES ('labeltest', 'a@b.example', '\x00', '\x00', false);
INSERT INTO zd_tickets (connection_id, subject) SELECT id, 'x' FROM zd_connections;
SELECT label FROM zd_tickets;
UPDATE zd_tickets SET deleted_at = now(), deletion_kind = 'soft';
SELECT label FROM zd_tickets;
\set VERBOSITY terse
UPDATE zd_tickets SET label = 'Deleted';
UPDATE zd_tickets SET status = 'deleted';
UPDATE zd_tickets SET deleted_at = NULL;
\set VERBOSITY default
-- replies take their ticket's connection
INSERT INTO zd_replies (ticket_id, body) SELECT id, 'hello' FROM zd_tickets;
SELECT r.connection_id = t.connection_id AS same_connection
FROM zd_replies r JOIN zd_tickets t ON t.id = r.ticket_id;

-- without a connection there is no default for connection_id
DELETE FROM zd_outbox;
DELETE FROM zd_replies;
DELETE FROM zd_tickets;
DELETE FROM zd_connections;
INSERT INTO zd_tickets (subject) VALUES ('no connection');

-- the worker is switched off in this suite
SELECT zd_worker_pid() IS NULL AS no_worker;
