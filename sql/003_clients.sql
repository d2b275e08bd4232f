--
-- Matching tickets to the application's clients by requester e-mail.
--
CREATE TABLE app_clients (client_no integer PRIMARY KEY, mail varchar(200), name text);
INSERT INTO app_clients VALUES
	(1, 'Ann@Example.com', 'Ann'),
	(2, 'bob@example.com', 'Bob'),
	(3, 'twin@example.com', 'Twin A'),
	(4, 'TWIN@example.com', 'Twin B');

-- tickets from Zendesk (as the sync writes them) and one created here
INSERT INTO zd_tickets (connection_id, zendesk_id, requester_email, subject, origin, sync_state)
SELECT c.id, v.zid, v.email, v.subject, 'zendesk', 'synced'
FROM zd_connections c,
	(VALUES (101, 'ann@example.com', 'from ann'),
			(102, 'BOB@EXAMPLE.COM', 'from bob'),
			(103, 'twin@example.com', 'from a twin'),
			(104, 'carol@example.com', 'from carol'),
			(105, NULL, 'no requester')) v (zid, email, subject)
WHERE c.subdomain = 'acme';
INSERT INTO zd_tickets (connection_id, requester_email, client_id, subject)
SELECT id, 'someone@else.example', 'app-given', 'created here' FROM zd_connections WHERE subdomain = 'acme';

-- bad sources are refused
SELECT zd_set_client_source('no_such_table');
SELECT zd_set_client_source('app_clients', 'id', 'mail');
SELECT zd_set_client_source('app_clients', 'client_no', 'client_no');
SELECT zd_set_client_source('app_clients', NULL, 'mail');
SELECT zd_rematch_clients();

-- setting the source matches every ticket (case-insensitively, only when
-- exactly one client has the e-mail)
SELECT zd_set_client_source('app_clients', 'client_no', 'mail');
SELECT zendesk_id, requester_email, client_id FROM zd_tickets
WHERE requester_email IS NOT NULL OR zendesk_id IS NOT NULL ORDER BY zendesk_id NULLS LAST, id;
SELECT table_name, id_column, email_column FROM zd_client_source;

-- nothing changed: nothing to rematch
SELECT zd_rematch_clients();

-- a client added later is matched by the next rematch; a removed one unmatched
INSERT INTO app_clients VALUES (5, 'carol@example.com', 'Carol');
DELETE FROM app_clients WHERE client_no = 2;
SELECT zd_rematch_clients();
SELECT zendesk_id, client_id FROM zd_tickets WHERE zendesk_id IS NOT NULL ORDER BY zendesk_id;

-- the application's own client_id on a ticket it created is never changed
SELECT subject, client_id FROM zd_tickets WHERE origin = 'corsa' AND subject = 'created here';

SELECT level, message FROM zd_sync_log WHERE message ~ 'client|unmatched' ORDER BY id;

-- a client table that goes away is reported
DROP TABLE app_clients;
SELECT zd_rematch_clients();
