--
-- Connection management without network: input validation (nothing is
-- requested for a bad subdomain), saving without verification, the webhook
-- token, disconnecting.  Verification against Zendesk is in the TAP tests.
--
\set VERBOSITY default

-- bad subdomains, e-mails and tokens are refused before anything happens
SELECT * FROM zd_configure('a/b', 'admin@acme.example', 'tok');
SELECT * FROM zd_configure('x.evil.com', 'admin@acme.example', 'tok');
SELECT * FROM zd_configure('', 'admin@acme.example', 'tok');
SELECT * FROM zd_configure('-acme', 'admin@acme.example', 'tok');
SELECT * FROM zd_configure(repeat('a', 64), 'admin@acme.example', 'tok');
SELECT * FROM zd_configure('acme?x=1', 'admin@acme.example', 'tok');
SELECT * FROM zd_configure(NULL, 'admin@acme.example', 'tok');
SELECT * FROM zd_configure('acme', 'not-an-email', 'tok');
SELECT * FROM zd_configure('acme', 'a:b@acme.example', 'tok');
SELECT * FROM zd_configure('acme', 'admin@acme.example', 'two words');
SELECT * FROM zd_configure('acme', 'admin@acme.example', '');
SELECT count(*) AS saved FROM zd_connections;

-- saving without verification; the first configuration queues the import
-- (the key-file WARNING names a path that differs per run: hidden here)
SET client_min_messages = error;
CREATE TEMP TABLE first AS
	SELECT * FROM zd_configure('ACME', 'admin@acme.example', 'secret-token-1', verify => false);
RESET client_min_messages;
SELECT connection_id, webhook_url, length(webhook_token) AS token_length,
	import_run_id IS NOT NULL AS import_queued FROM first;
SELECT subdomain, agent_email, enabled, verified_at IS NULL AS unverified,
	api_token_enc IS NOT NULL AS has_token,
	position('secret-token-1' in encode(api_token_enc, 'escape')) AS plain_token_found,
	webhook_token_sha256 = sha256(convert_to((SELECT webhook_token FROM first), 'UTF8')) AS token_digest
FROM zd_connections;
SELECT kind, state FROM zd_sync_runs ORDER BY id;

-- a second configuration updates the credentials, keeps the webhook token,
-- queues no import; the webhook URL follows the setting
SET corsa_zendesk.webhook_base_url = 'https://corsa.example/hooks/zendesk/';
SELECT c.connection_id = f.connection_id AS same_connection, c.webhook_url,
	c.webhook_token = f.webhook_token AS same_token, c.import_run_id
FROM zd_configure('acme', 'other@acme.example', 'secret-token-2', false) c, first f;
SELECT agent_email FROM zd_connections;
SELECT count(*) AS runs FROM zd_sync_runs;

-- the webhook settings screen, again
SELECT s.subdomain, s.webhook_url, s.webhook_token = f.webhook_token AS same_token
FROM zd_webhook_settings() s, first f;
SELECT subdomain FROM zd_webhook_settings('acme');
SELECT * FROM zd_webhook_settings('nosuch');

-- rotating the token
SELECT length(zd_rotate_webhook_token()) AS new_token_length;
SELECT s.webhook_token <> f.webhook_token AS rotated,
	c.webhook_token_sha256 = sha256(convert_to(s.webhook_token, 'UTF8')) AS digest_follows
FROM zd_webhook_settings('acme') s, first f, zd_connections c;

-- several connections: the subdomain must then be named
SELECT connection_id > 0 AS ok FROM zd_configure('beta', 'admin@beta.example', 'secret-token-3', false);
SELECT zd_rotate_webhook_token();
SELECT length(zd_rotate_webhook_token('beta')) AS token_length;
INSERT INTO zd_tickets (subject) VALUES ('which connection?');

-- the log tells what happened, without any secret
SELECT level, message FROM zd_sync_log ORDER BY id;
SELECT count(*) AS secrets_in_log FROM zd_sync_log
WHERE message ~ 'secret-token' OR detail::text ~ 'secret-token';

-- disconnecting keeps the row but erases the token and cancels queued runs
SELECT zd_disconnect('beta');
SELECT subdomain, enabled, api_token_enc IS NULL AS token_erased,
	disconnected_at IS NOT NULL AS disconnected
FROM zd_connections ORDER BY id;
SELECT r.kind, r.state, r.error FROM zd_sync_runs r
JOIN zd_connections c ON c.id = r.connection_id WHERE c.subdomain = 'beta';
SELECT zd_disconnect('nosuch');
SELECT zd_disconnect(NULL);

-- with one enabled connection left, it is the default for new tickets
INSERT INTO zd_tickets (subject) VALUES ('default connection') RETURNING connection_id = (SELECT id FROM zd_connections WHERE subdomain = 'acme') AS acme;

-- reconfiguring a disconnected account enables it again, without a new import
SELECT import_run_id FROM zd_configure('beta', 'admin@beta.example', 'secret-token-4', false);
SELECT subdomain, enabled, api_token_enc IS NOT NULL AS has_token FROM zd_connections ORDER BY id;

-- the status view, one row per connection
SELECT subdomain, enabled, worker_running, pending_pushes, failed_pushes,
	current_run_kind, current_run_state
FROM zd_sync_status ORDER BY connection_id;

-- pg_stat_activity does not show the statement that carries the token
SELECT (SELECT query FROM pg_stat_activity WHERE pid = pg_backend_pid()) AS shown
FROM zd_configure('acme', 'admin@acme.example', 'secret-token-5', false);
