/*-------------------------------------------------------------------------
 *
 * webhook.c
 *		Zendesk's webhooks: zd_ingest_webhook applies one event in the
 *		caller's transaction; zd_set_signing_secret stores the secret that
 *		signatures are checked with.
 *
 * The application's HTTP endpoint passes the raw body and headers.  The
 * event is authenticated (bearer token, compared by digest in constant
 * time; Zendesk's HMAC signature when a signing secret is set), checked
 * for size, parsed (zd_json.c), recorded by its event id (a redelivery is
 * a duplicate) and applied through the same store as the polls: the event's
 * detail is the ticket's full state at the event's time, so an older event
 * never undoes a newer state, while a comment it carries is recorded if
 * new.  Nothing here calls Zendesk: what an event lacks (a requester's
 * e-mail) is fetched by the worker, which is woken at commit.  Every error
 * is raised before anything is written, and no message holds a secret.
 *
 * src/webhook.c
 *
 *-------------------------------------------------------------------------
 */
#include "corsa_zendesk.h"

#include "catalog/pg_type_d.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

#include "crypto.h"
#include "direct.h"
#include "store.h"
#include "store_direct.h"
#include "zd_json.h"

/*
 * Zendesk documents no maximum for webhook bodies; comments are capped at
 * 64 kB, so real events stay far below this.
 */
#define ZD_WEBHOOK_MAX_BODY		(1024 * 1024)
#define ZD_MAX_SECRET_LEN		512

#define ZD_HIDDEN_SIGNING_SECRET \
	"SELECT zd_set_signing_secret(...) -- arguments hidden by corsa_zendesk"

/* the connection a bearer token belongs to */
typedef struct WebhookConnection
{
	int32		id;
	bool		enabled;
	char	   *subdomain;
	bytea	   *signing_secret_enc; /* NULL: signatures are not checked */
	ItemPointerData tid;		/* of its row */
} WebhookConnection;

/* the last decrypted signing secret, per backend */
static int32 secret_connection = 0;
static bytea *secret_sealed = NULL;
static char *secret_plain = NULL;

/* kept out of line: inlined next to zd_ingest_webhook's PG_TRY, gcc warns */
static pg_noinline WebhookConnection *authenticate(text *auth_header);
static void verify_signature(WebhookConnection *conn, const char *body, size_t len,
							 text *signature, text *timestamp);
static const char *signing_secret(WebhookConnection *conn);
static const char *apply_event(WebhookConnection *conn, ZdJsonWebhook *event);
static TimestampTz to_timestamptz(int64 epoch_us);

PG_FUNCTION_INFO_V1(zd_ingest_webhook);
PG_FUNCTION_INFO_V1(zd_set_signing_secret);

/*
 * authenticate
 *		The connection whose webhook token is in the Authorization header,
 *		or a 28000 error.  Tokens are compared by their SHA-256 digests with
 *		CRYPTO_memcmp, so timing tells nothing about them.  The connections
 *		are read straight from the table, as a statement would read them:
 *		they are few.
 */
static pg_noinline WebhookConnection *
authenticate(text *auth_header)
{
	char	   *header;
	char	   *token;
	unsigned char digest[ZD_SHA256_LEN];
	WebhookConnection *found = NULL;
	ZdTableRead r;

	if (auth_header == NULL || VARSIZE_ANY_EXHDR(auth_header) == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION),
				 errmsg("the webhook request has no bearer token"),
				 errhint("Pass the request's Authorization header; the webhook in Zendesk must "
						 "authenticate with the bearer token zd_webhook_settings() shows.")));
	header = text_to_cstring(auth_header);
	token = header;
	while (*token == ' ')
		token++;
	if (pg_strncasecmp(token, "Bearer ", 7) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION),
				 errmsg("the webhook's Authorization header is not a bearer token"),
				 errhint("Set the webhook's authentication in Zendesk to \"Bearer token\".")));
	token += 7;
	while (*token == ' ')
		token++;
	{
		size_t		len = strlen(token);

		while (len > 0 && (token[len - 1] == ' ' || token[len - 1] == '\r' ||
						   token[len - 1] == '\n'))
			token[--len] = '\0';
		if (!zdcrypt_sha256(token, len, digest))
			elog(ERROR, "could not compute a SHA-256 digest");
	}
	explicit_bzero(header, strlen(header));

	zd_read_begin(&r, "zd_connections", NULL, NULL, 0);
	while (zd_read_next(&r))
	{
		bool		isnull;
		Datum		value = zd_read_column(&r, "webhook_token_sha256", &isnull);
		bytea	   *stored = isnull ? NULL : DatumGetByteaPP(value);

		if (stored != NULL && VARSIZE_ANY_EXHDR(stored) == ZD_SHA256_LEN &&
			zdcrypt_equal(VARDATA_ANY(stored), digest, ZD_SHA256_LEN) && found == NULL)
		{
			found = palloc0(sizeof(WebhookConnection));
			found->id = DatumGetInt32(zd_read_column(&r, "id", &isnull));
			found->enabled = DatumGetBool(zd_read_column(&r, "enabled", &isnull));
			found->subdomain = TextDatumGetCString(zd_read_column(&r, "subdomain", &isnull));
			value = zd_read_column(&r, "signing_secret_enc", &isnull);
			found->signing_secret_enc = isnull ? NULL : DatumGetByteaPCopy(value);
			found->tid = r.row->tts_tid;
		}
	}
	zd_read_end(&r);

	if (found == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION),
				 errmsg("invalid webhook bearer token"),
				 errhint("Compare it with zd_webhook_settings(); after zd_rotate_webhook_token(), "
						 "the webhook in Zendesk must be updated.")));
	return found;
}

/*
 * signing_secret
 *		The connection's signing secret in plain text (kept decrypted for the
 *		next call while the stored value does not change).
 */
static const char *
signing_secret(WebhookConnection *conn)
{
	if (secret_plain == NULL || secret_connection != conn->id ||
		VARSIZE_ANY(secret_sealed) != VARSIZE_ANY(conn->signing_secret_enc) ||
		memcmp(secret_sealed, conn->signing_secret_enc, VARSIZE_ANY(secret_sealed)) != 0)
	{
		char	   *plain = zd_decrypt_secret(ZD_SECRET_SIGNING_SECRET, conn->signing_secret_enc);

		if (secret_plain != NULL)
		{
			explicit_bzero(secret_plain, strlen(secret_plain));
			pfree(secret_plain);
			pfree(secret_sealed);
		}
		secret_plain = MemoryContextStrdup(TopMemoryContext, plain);
		secret_sealed = MemoryContextAlloc(TopMemoryContext, VARSIZE_ANY(conn->signing_secret_enc));
		memcpy(secret_sealed, conn->signing_secret_enc, VARSIZE_ANY(conn->signing_secret_enc));
		secret_connection = conn->id;
		explicit_bzero(plain, strlen(plain));
	}
	return secret_plain;
}

/*
 * verify_signature
 *		base64(HMAC-SHA256(secret, timestamp || body)) must match, and the
 *		timestamp be within corsa_zendesk.webhook_max_age of now (either
 *		way); otherwise 28000.
 */
static void
verify_signature(WebhookConnection *conn, const char *body, size_t len,
				 text *signature, text *timestamp)
{
	char	   *given;
	char	   *stamp;
	int64		stamp_us;
	int64		now_us;
	int64		age_s;
	unsigned char mac[ZD_SHA256_LEN];
	char		expected[64];
	size_t		expected_len;
	const char *secret;

	if (signature == NULL || timestamp == NULL ||
		VARSIZE_ANY_EXHDR(signature) == 0 || VARSIZE_ANY_EXHDR(timestamp) == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION),
				 errmsg("the webhook request is not signed, but a signing secret is set for \"%s\"",
						conn->subdomain),
				 errhint("Pass the X-Zendesk-Webhook-Signature and "
						 "X-Zendesk-Webhook-Signature-Timestamp headers.")));
	given = text_to_cstring(signature);
	stamp = text_to_cstring(timestamp);

	if (!zdjson_parse_time(stamp, &stamp_us))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION),
				 errmsg("invalid webhook signature timestamp"),
				 errdetail("X-Zendesk-Webhook-Signature-Timestamp must be an ISO 8601 time such as "
						   "2025-01-08T10:12:07Z.")));
	now_us = (int64) time(NULL) * 1000000;
	age_s = (now_us - stamp_us) / 1000000;
	if (age_s > zd_webhook_max_age || -age_s > zd_webhook_max_age)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION),
				 errmsg("the webhook signature timestamp is out of range"),
				 errdetail("It was signed at %s, %lld s from now; corsa_zendesk.webhook_max_age "
						   "allows %d s.", stamp, (long long) age_s, zd_webhook_max_age)));

	secret = signing_secret(conn);
	if (!zdcrypt_hmac_sha256(secret, strlen(secret), stamp, strlen(stamp), body, len, mac))
		elog(ERROR, "could not compute an HMAC-SHA256");
	expected_len = zdcrypt_base64_encode(mac, sizeof(mac), expected);
	if (strlen(given) != expected_len || !zdcrypt_equal(given, expected, expected_len))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION),
				 errmsg("invalid webhook signature"),
				 errhint("Check that the body is passed exactly as received and that the secret "
						 "given to zd_set_signing_secret() is the webhook's signing secret.")));
}

static TimestampTz
to_timestamptz(int64 epoch_us)
{
	return (TimestampTz) (epoch_us -
						  (int64) (POSTGRES_EPOCH_JDATE - UNIX_EPOCH_JDATE) * SECS_PER_DAY * USECS_PER_SEC);
}

static char *
event_insert_sql(void)
{
	return psprintf("INSERT INTO %s (connection_id, event_id, event_type, zendesk_ticket_id, "
					"event_time, outcome) VALUES ($1, $2, $3, $4, $5, $6) "
					"ON CONFLICT (connection_id, event_id) DO NOTHING",
					zd_qualified("zd_webhook_events"));
}

static char *
event_outcome_sql(void)
{
	return psprintf("UPDATE %s SET outcome = $3 WHERE connection_id = $1 AND event_id = $2",
					zd_qualified("zd_webhook_events"));
}

/*
 * record_event
 *		Remember the event id; false when it was already there (a duplicate).
 */
static bool
record_event(WebhookConnection *conn, ZdJsonWebhook *event, TimestampTz time,
			 const char *outcome)
{
	Datum		values[6];
	char		nulls[6] = {' ', ' ', ' ', ' ', ' ', ' '};
	bool		recorded;
	ZdDirectEvent direct;

	/* straight into the table, unless it must take the statement */
	direct.connection_id = conn->id;
	direct.event_id = event->event_id;
	direct.event_type = event->type;
	direct.has_ticket = event->has_ticket;
	direct.zendesk_ticket_id = event->ticket.id;
	direct.event_time = time;
	direct.outcome = outcome;
	if (zd_direct_insert_event(&direct, &recorded))
	{
		/*
		 * The rows written for the event refer to its connection, which
		 * must stay (a statement's foreign-key check locks it so).
		 */
		if (recorded)
			zd_direct_lock_connection(&conn->tid);
		return recorded;
	}

	values[0] = Int32GetDatum(conn->id);
	values[1] = CStringGetTextDatum(event->event_id);
	values[2] = CStringGetTextDatum(event->type);
	values[3] = Int64GetDatum(event->has_ticket ? event->ticket.id : 0);
	nulls[3] = event->has_ticket ? ' ' : 'n';
	values[4] = TimestampTzGetDatum(time);
	nulls[4] = time != 0 ? ' ' : 'n';
	values[5] = CStringGetTextDatum(outcome);

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	zd_spi_run_plan(zd_saved_plan(ZD_PLAN_WEBHOOK_EVENT, event_insert_sql, 6,
								  (Oid[]) {INT4OID, TEXTOID, TEXTOID, INT8OID,
								  TIMESTAMPTZOID, TEXTOID}),
					values, nulls, SPI_OK_INSERT);
	recorded = (SPI_processed == 1);
	SPI_finish();
	return recorded;
}

static void
record_outcome(WebhookConnection *conn, ZdJsonWebhook *event, const char *outcome)
{
	if (zd_direct_set_event_outcome(outcome))
		return;
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	zd_spi_run_plan(zd_saved_plan(ZD_PLAN_WEBHOOK_OUTCOME, event_outcome_sql, 3,
								  (Oid[]) {INT4OID, TEXTOID, TEXTOID}),
					(Datum[]) {Int32GetDatum(conn->id), CStringGetTextDatum(event->event_id),
					CStringGetTextDatum(outcome)},
					NULL, SPI_OK_UPDATE);
	SPI_finish();
}

/*
 * apply_event
 *		Record and apply a ticket event; returns the outcome.
 */
static const char *
apply_event(WebhookConnection *conn, ZdJsonWebhook *event)
{
	ZdTicketWrite write;
	ZdStoreCounts counts = {0};
	int64		time_us;
	const char *status = event->ticket.status;
	const char *outcome;
	const char *what = NULL;

	if (!zdjson_parse_time(event->time ? event->time : event->ticket.updated_at, &time_us))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("the webhook body is not a Zendesk event"),
				 errdetail("Its \"time\" is not an RFC 3339 time.")));

	zd_direct_begin_event();

	if (event->kind == ZD_WEBHOOK_IGNORED || !conn->enabled)
	{
		/* valid, but nothing to sync (or the account is disconnected) */
		return record_event(conn, event, to_timestamptz(time_us), "ignored") ? "ignored" : "duplicate";
	}
	if (!record_event(conn, event, to_timestamptz(time_us), "applied"))
		return "duplicate";

	memset(&write, 0, sizeof(write));
	write.ticket = event->ticket;
	write.version = to_timestamptz(time_us);
	write.deleted_at = write.version;
	write.has_deleted_by = event->has_actor_id;
	write.deleted_by = event->actor_id;

	/* webhooks spell statuses in upper case; some mean a deletion */
	if (status != NULL && (pg_strcasecmp(status, "deleted") == 0 ||
						   pg_strcasecmp(status, "scrubbed") == 0))
	{
		write.deleted = true;
		write.deletion_kind = pg_strcasecmp(status, "scrubbed") == 0 ? "permanent" : "soft";
	}
	else if (status != NULL && pg_strcasecmp(status, "archived") == 0)
		write.ticket.status = "closed";

	switch (event->kind)
	{
		case ZD_WEBHOOK_SOFT_DELETED:
			write.deleted = true;
			write.deletion_kind = "soft";
			what = "deleted";
			break;
		case ZD_WEBHOOK_PERMANENTLY_DELETED:
			write.deleted = true;
			write.deletion_kind = "permanent";
			what = "permanently deleted";
			break;
		case ZD_WEBHOOK_SPAM:
			write.deleted = true;
			write.deletion_kind = "spam";
			what = "marked as spam";
			break;
		case ZD_WEBHOOK_UNDELETED:
			write.deleted = false;
			what = "restored";
			break;
		case ZD_WEBHOOK_MERGED:
			write.ticket.status = "closed";
			write.has_merged_into = event->has_target;
			write.merged_into = event->target_ticket_id;
			what = "merged";
			break;
		default:
			break;
	}

	zd_store_tickets(conn->id, &write, 1, ZD_SEEN_BY_WEBHOOK, &counts);
	if (event->has_comment)
		zd_store_comments(conn->id, &event->comment, 1, true, &counts);

	outcome = (counts.tickets > 0 || counts.replies > 0) ? "applied" : "stale";
	if (strcmp(outcome, "applied") != 0)
		record_outcome(conn, event, outcome);
	else if (what != NULL)
	{
		if (event->kind == ZD_WEBHOOK_MERGED && event->has_target)
			zd_log(ZD_LOG_INFO, conn->id, 0, NULL,
				   "ticket %lld of %s was merged into ticket %lld (webhook)",
				   (long long) event->ticket.id, conn->subdomain,
				   (long long) event->target_ticket_id);
		else
			zd_log(ZD_LOG_INFO, conn->id, 0, NULL, "ticket %lld of %s was %s in Zendesk (webhook)",
				   (long long) event->ticket.id, conn->subdomain, what);
	}

	/* e-mails of requesters and authors Zendesk has not told us yet */
	if (counts.missing_emails > 0)
		zd_wake_at_commit(ZD_WAKE_FILL);
	return outcome;
}

/* a lower-case phrase from the parser as a detail sentence: capitalized, with a period */
static char *
as_sentence(const char *phrase)
{
	char	   *s = psprintf("%s.", phrase);

	s[0] = pg_toupper((unsigned char) s[0]);
	return s;
}

/*
 * zd_ingest_webhook(body, auth_header, signature, signature_timestamp)
 *		RETURNS text: applied, duplicate, stale or ignored.
 */
Datum
zd_ingest_webhook(PG_FUNCTION_ARGS)
{
	text	   *body = PG_ARGISNULL(0) ? NULL : PG_GETARG_TEXT_PP(0);
	WebhookConnection *conn;
	const char *data;
	size_t		len;
	struct json_object *volatile root;
	const char *parse_error;
	const char *volatile outcome = NULL;
	bool		was_sync_writing = zd_store_is_sync_writing();

	conn = authenticate(PG_ARGISNULL(1) ? NULL : PG_GETARG_TEXT_PP(1));

	data = body ? VARDATA_ANY(body) : "";
	len = body ? VARSIZE_ANY_EXHDR(body) : 0;
	if (len > ZD_WEBHOOK_MAX_BODY)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("the webhook body of %zu bytes exceeds the limit of %d bytes",
						len, ZD_WEBHOOK_MAX_BODY),
				 errdetail("Zendesk's events stay far below it; this is not one.")));

	if (conn->signing_secret_enc != NULL)
		verify_signature(conn, data, len,
						 PG_ARGISNULL(2) ? NULL : PG_GETARG_TEXT_PP(2),
						 PG_ARGISNULL(3) ? NULL : PG_GETARG_TEXT_PP(3));

	root = zdjson_parse(data, len, &parse_error);
	if (root == NULL && parse_error != NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
				 errmsg("the webhook body is not valid JSON"),
				 errdetail("%s", as_sentence(parse_error))));

	PG_TRY();
	{
		ZdJsonWebhook event;

		zdjson_webhook(root, &event);
		if (event.kind == ZD_WEBHOOK_NOT_AN_EVENT)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("the webhook body is not a Zendesk event"),
					 errdetail("%s", as_sentence(event.error)),
					 errhint("zd_ingest_webhook takes Zendesk's event-subscription webhooks "
							 "(zen:event-type:ticket.*).")));

		/* rows are written below, some straight into the tables */
		PreventCommandIfReadOnly("zd_ingest_webhook()");
		PreventCommandDuringRecovery("zd_ingest_webhook()");
		zd_store_sync_writes(true);
		outcome = apply_event(conn, &event);
	}
	PG_FINALLY();
	{
		zd_store_sync_writes(was_sync_writing);
		zdjson_free(root);
	}
	PG_END_TRY();

	PG_RETURN_TEXT_P(cstring_to_text(outcome));
}

/*
 * zd_set_signing_secret(secret, subdomain DEFAULT NULL) RETURNS void
 *		Store the webhook's signing secret (sealed); from then on
 *		zd_ingest_webhook requires a valid, recent signature.  NULL removes
 *		it.
 */
Datum
zd_set_signing_secret(PG_FUNCTION_ARGS)
{
	ZdConnection *conn;
	char	   *secret = NULL;
	Datum		sealed = (Datum) 0;

	zd_hide_statement_text(ZD_HIDDEN_SIGNING_SECRET);
	conn = zd_lookup_connection(PG_ARGISNULL(1) ? NULL : text_to_cstring(PG_GETARG_TEXT_PP(1)),
								false);
	if (!PG_ARGISNULL(0))
	{
		size_t		len;
		size_t		i;
		bool		ok;

		secret = text_to_cstring(PG_GETARG_TEXT_PP(0));
		len = strlen(secret);
		ok = (len >= 1 && len <= ZD_MAX_SECRET_LEN);
		for (i = 0; ok && i < len; i++)
			ok = ((unsigned char) secret[i] > ' ' && (unsigned char) secret[i] < 0x7f);
		if (!ok)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("invalid webhook signing secret"),
					 errdetail("A signing secret is one word of 1 to %d printable characters.",
							   ZD_MAX_SECRET_LEN),
					 errhint("Copy it from the webhook's page in Zendesk (Reveal secret).")));
		sealed = PointerGetDatum(zd_encrypt_secret(ZD_SECRET_SIGNING_SECRET, secret));
		explicit_bzero(secret, len);
	}

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	zd_spi_exec_params_nulls(psprintf("UPDATE %s SET signing_secret_enc = $2, updated_at = now() "
									  "WHERE id = $1", zd_qualified("zd_connections")),
							 2, (Oid[]) {INT4OID, BYTEAOID},
							 (Datum[]) {Int32GetDatum(conn->id), sealed},
							 secret ? NULL : " n", SPI_OK_UPDATE);
	zd_log(ZD_LOG_INFO, conn->id, 0, NULL,
		   secret ? "webhook signing secret of %s set: signatures are now required"
		   : "webhook signing secret of %s removed: signatures are no longer checked",
		   conn->subdomain);
	SPI_finish();
	PG_RETURN_VOID();
}
