--
-- zd_full_sync and zd_poll_now record what the worker must do and return at
-- once (the worker is switched off in this suite, which they say).
--
SELECT zd_full_sync();
SELECT zd_poll_now();

-- an import still queued for acme: a full sync request returns that run
SELECT zd_full_sync('acme') = (SELECT r.id FROM zd_sync_runs r JOIN zd_connections c
	ON c.id = r.connection_id WHERE c.subdomain = 'acme' AND r.kind = 'import') AS import_run;

-- beta has no queued run: a full sync is queued; asking again returns it
CREATE TEMP TABLE fs AS SELECT zd_full_sync('beta') AS run_id;
SELECT zd_full_sync('beta') = (SELECT run_id FROM fs) AS same_run;
SELECT r.kind, r.state, r.progress FROM zd_sync_runs r JOIN fs ON fs.run_id = r.id;

-- a poll now
UPDATE zd_connections SET next_poll_at = now() + interval '1 hour' WHERE subdomain = 'beta';
SELECT zd_poll_now('beta');
SELECT next_poll_at <= now() AS poll_due FROM zd_connections WHERE subdomain = 'beta';

-- a disconnected account cannot be synced
SELECT zd_disconnect('beta');
SELECT zd_full_sync('beta');
SELECT zd_poll_now('beta');
SELECT zd_poll_now('nosuch');

SELECT level, message FROM zd_sync_log WHERE message ~ 'full sync' ORDER BY id;
