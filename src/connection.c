/*-------------------------------------------------------------------------
 *
 * connection.c
 *		Managing the connection to a Zendesk account: zd_configure,
 *		zd_webhook_settings, zd_rotate_webhook_token and zd_disconnect.
 *
 * Everything a caller passes is validated before any request is made.
 * zd_configure verifies the credentials against /api/v2/users/me and saves
 * nothing unless Zendesk accepts them and the agent is an admin (the
 * incremental exports are admin-only).  The API token is stored sealed
 * with the key file (secrets.c); the webhook bearer token is stored sealed,
 * to be shown again, and as a SHA-256 digest, to be verified.  The text of
 * the statement, which may contain the token as a literal, is hidden from
 * pg_stat_activity and from error reports.
 *
 * src/connection.c
 *
 *-------------------------------------------------------------------------
 */
#include "corsa_zendesk.h"

#include "catalog/pg_type_d.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/json.h"

#include "zendesk_client.h"
#include "zd_json.h"

/* 32 random bytes, 64 hexadecimal characters */
#define ZD_WEBHOOK_TOKEN_BYTES	32
#define ZD_MAX_EMAIL_LEN		254
#define ZD_MAX_TOKEN_LEN		512
/* zd_configure gives Zendesk this many attempts and this much waiting */
#define ZD_VERIFY_ATTEMPTS		3
#define ZD_VERIFY_MAX_WAIT_MS	10000

#define ZD_HIDDEN_CONFIGURE \
	"SELECT zd_configure(...) -- arguments hidden by corsa_zendesk"

/* what /users/me told us about the agent */
typedef struct VerifiedAgent
{
	int64		id;
	char	   *name;
	char	   *role;
} VerifiedAgent;

static char *arg_text(FunctionCallInfo fcinfo, int argno, const char *argname);
static char *validate_email(const char *email);
static char *validate_token(const char *token);
static void verify_credentials(const char *subdomain, const char *email,
							   const char *token, VerifiedAgent *agent);
static char *webhook_url_for(const char *subdomain, bool notice);

PG_FUNCTION_INFO_V1(zd_configure);
PG_FUNCTION_INFO_V1(zd_webhook_settings);
PG_FUNCTION_INFO_V1(zd_rotate_webhook_token);
PG_FUNCTION_INFO_V1(zd_disconnect);

/*
 * zd_normalize_subdomain
 *		Check a subdomain (the "acme" of acme.zendesk.com) and return it in
 *		lower case.  It becomes part of a URL, so anything but letters,
 *		digits and inner hyphens is refused before any request is made.
 */
char *
zd_normalize_subdomain(const char *input)
{
	size_t		len = strlen(input);
	char	   *result = pstrdup(input);
	size_t		i;
	bool		ok = (len >= 1 && len <= 63);

	for (i = 0; ok && i < len; i++)
	{
		char		c = pg_ascii_tolower((unsigned char) input[i]);

		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-'))
			ok = false;
		result[i] = c;
	}
	if (ok && (result[0] == '-' || result[len - 1] == '-'))
		ok = false;

	if (len == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("the Zendesk subdomain must not be empty"),
				 errhint("Give the first part of the account's address: \"acme\" for acme.zendesk.com.")));
	if (!ok)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid Zendesk subdomain \"%s\"", input),
				 errdetail("A subdomain has 1 to 63 letters, digits or hyphens and does not "
						   "start or end with a hyphen."),
				 strchr(input, '.') != NULL
				 ? errhint("Give only the first part of the address: \"acme\" for acme.zendesk.com.")
				 : 0));
	return result;
}

static char *
arg_text(FunctionCallInfo fcinfo, int argno, const char *argname)
{
	if (PG_ARGISNULL(argno))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("%s must not be null", argname)));
	return text_to_cstring(PG_GETARG_TEXT_PP(argno));
}

/*
 * validate_email
 *		The agent's e-mail becomes the Basic-auth user "EMAIL/token", so it
 *		must not contain white space, control characters or a colon.
 */
static char *
validate_email(const char *email)
{
	const char *at = strchr(email, '@');
	size_t		len = strlen(email);
	size_t		i;
	bool		ok = (len > 2 && len <= ZD_MAX_EMAIL_LEN && at != NULL &&
					  at != email && at[1] != '\0' && strchr(at + 1, '@') == NULL);

	for (i = 0; ok && i < len; i++)
	{
		unsigned char c = (unsigned char) email[i];

		if (c <= ' ' || c == 0x7f || c == ':')
			ok = false;
	}
	if (!ok)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid agent e-mail address \"%s\"", email),
				 errdetail("Give the e-mail address the Zendesk admin signs in with.")));
	return pstrdup(email);
}

/*
 * validate_token
 *		An API token is one word of printable ASCII.  The message never
 *		shows the value.
 */
static char *
validate_token(const char *token)
{
	size_t		len = strlen(token);
	size_t		i;
	bool		ok = (len >= 1 && len <= ZD_MAX_TOKEN_LEN);

	for (i = 0; ok && i < len; i++)
	{
		unsigned char c = (unsigned char) token[i];

		if (c <= ' ' || c >= 0x7f)
			ok = false;
	}
	if (!ok)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid Zendesk API token"),
				 errdetail("An API token is one word of 1 to %d printable characters.",
						   ZD_MAX_TOKEN_LEN),
				 errhint("Copy it from Admin Center, Apps and integrations, Zendesk API.")));
	return pstrdup(token);
}

/*
 * verify_credentials
 *		Ask Zendesk who the credentials belong to; raise the matching error
 *		unless they belong to an active admin.
 */
static void
verify_credentials(const char *subdomain, const char *email, const char *token,
				   VerifiedAgent *agent)
{
	ZdAccount  *account = zdapi_account_create(CurrentMemoryContext, 0,
											   subdomain, email, token);
	ZdHttpRequest *req;
	struct json_object *root;
	const char *parse_error;
	ZdJsonUser	user;
	bool		is_user;
	bool		active;

	req = zdapi_call(account, ZD_ENDPOINT_ACCOUNT, "GET", "/api/v2/users/me.json",
					 NULL, ZD_VERIFY_ATTEMPTS, ZD_VERIFY_MAX_WAIT_MS);
	zdapi_account_destroy(account);

	if (zdh_transport_failed(req))
		ereport(ERROR,
				(errcode(ERRCODE_CONNECTION_FAILURE),
				 errmsg("could not reach Zendesk for subdomain \"%s\"", subdomain),
				 errdetail("%s", zdapi_describe_failure(req)),
				 zdh_timed_out(req)
				 ? errhint("Zendesk did not answer within corsa_zendesk.http_timeout (%d ms).",
						   zd_http_timeout)
				 : errhint("Check that the server can reach %s.", req->url)));
	if (req->status == 401)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION),
				 errmsg("Zendesk rejected the credentials for subdomain \"%s\"", subdomain),
				 errdetail("%s", zdapi_describe_failure(req)),
				 errhint("Check the agent e-mail and the API token "
						 "(Admin Center, Apps and integrations, Zendesk API).")));
	if (req->status != 200)
		ereport(ERROR,
				(errcode(ERRCODE_CONNECTION_FAILURE),
				 errmsg("Zendesk could not verify the credentials for subdomain \"%s\"",
						subdomain),
				 errdetail("%s", zdapi_describe_failure(req))));

	root = zdjson_parse(req->response, req->response_len, &parse_error);
	is_user = zdjson_user_response(root, &user);
	if (is_user)
	{
		agent->id = user.id;
		agent->name = user.name ? pstrdup(user.name) : NULL;
		agent->role = user.role ? pstrdup(user.role) : pstrdup("unknown");
	}
	active = is_user && user.has_id && user.active && !user.suspended;
	zdjson_free(root);

	if (!is_user)
		ereport(ERROR,
				(errcode(ERRCODE_CONNECTION_FAILURE),
				 errmsg("unexpected answer from Zendesk for subdomain \"%s\"", subdomain),
				 errdetail("The response to /api/v2/users/me holds no user.")));
	if (!active)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION),
				 errmsg("Zendesk did not accept the credentials for subdomain \"%s\"", subdomain),
				 errdetail("Zendesk answered with an anonymous, inactive or suspended user."),
				 errhint("Check the agent e-mail and the API token.")));
	if (strcmp(agent->role, "admin") != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("the Zendesk user \"%s\" is not an admin", email),
				 errdetail("Zendesk reports the role \"%s\".", agent->role),
				 errhint("The import and the polls use Zendesk's incremental exports, which only "
						 "admins may call; configure an admin's e-mail and API token.")));
}

/*
 * webhook_url_for
 *		corsa_zendesk.webhook_base_url + "/" + subdomain, or NULL (with a
 *		NOTICE when asked) while the setting is empty.
 */
static char *
webhook_url_for(const char *subdomain, bool notice)
{
	const char *base = zd_webhook_base_url;
	size_t		len;

	if (base == NULL || base[0] == '\0')
	{
		if (notice)
			ereport(NOTICE,
					(errmsg("corsa_zendesk.webhook_base_url is not set, so there is no webhook URL to show"),
					 errhint("Set it to the public address of the application's webhook endpoint; "
							 "zd_webhook_settings() then shows the URL.")));
		return NULL;
	}
	len = strlen(base);
	while (len > 0 && base[len - 1] == '/')
		len--;
	return psprintf("%.*s/%s", (int) len, base, subdomain);
}

/* {"agent_email": ..., "verified": ...} */
static char *
configure_detail(const char *email, bool verified, const VerifiedAgent *agent)
{
	StringInfoData buf;

	initStringInfo(&buf);
	appendStringInfoString(&buf, "{\"agent_email\": ");
	escape_json(&buf, email);
	appendStringInfo(&buf, ", \"verified\": %s", verified ? "true" : "false");
	if (verified)
	{
		appendStringInfo(&buf, ", \"agent_zendesk_id\": " INT64_FORMAT, agent->id);
		appendStringInfoString(&buf, ", \"agent_role\": ");
		escape_json(&buf, agent->role);
	}
	appendStringInfoChar(&buf, '}');
	return buf.data;
}

/*
 * zd_configure(subdomain, agent_email, api_token, verify DEFAULT true)
 *		RETURNS TABLE (connection_id, webhook_url, webhook_token, import_run_id)
 *
 * Creates or updates the connection of a subdomain.  The first
 * configuration of a subdomain queues the historical import (the worker
 * starts it when this transaction commits) and returns its run id.
 */
Datum
zd_configure(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	char	   *subdomain;
	char	   *email;
	char	   *token;
	bool		verify;
	VerifiedAgent agent = {0};
	char	   *new_webhook_token;
	char	   *webhook_token;
	int32		connection_id;
	int64		import_run_id = 0;
	bool		created;
	MemoryContext callercxt;
	Datum		values[4];
	bool		nulls[4] = {false, false, false, false};
	char	   *url;

	zd_hide_statement_text(ZD_HIDDEN_CONFIGURE);

	subdomain = zd_normalize_subdomain(arg_text(fcinfo, 0, "subdomain"));
	email = validate_email(arg_text(fcinfo, 1, "agent_email"));
	token = validate_token(arg_text(fcinfo, 2, "api_token"));
	verify = PG_ARGISNULL(3) ? true : PG_GETARG_BOOL(3);

	if (verify)
		verify_credentials(subdomain, email, token, &agent);

	new_webhook_token = zd_random_token(ZD_WEBHOOK_TOKEN_BYTES);
	callercxt = CurrentMemoryContext;

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");

	{
		Oid			types[8] = {TEXTOID, TEXTOID, BYTEAOID, INT8OID, TEXTOID,
		BYTEAOID, BYTEAOID, BOOLOID};
		Datum		args[8];
		char		argnulls[8] = {' ', ' ', ' ', ' ', ' ', ' ', ' ', ' '};
		bool		isnull;

		args[0] = CStringGetTextDatum(subdomain);
		args[1] = CStringGetTextDatum(email);
		args[2] = PointerGetDatum(zd_encrypt_secret(ZD_SECRET_API_TOKEN, token));
		args[3] = Int64GetDatum(agent.id);
		argnulls[3] = verify ? ' ' : 'n';
		args[4] = agent.name ? CStringGetTextDatum(agent.name) : (Datum) 0;
		argnulls[4] = agent.name ? ' ' : 'n';
		args[5] = PointerGetDatum(zd_encrypt_secret(ZD_SECRET_WEBHOOK_TOKEN, new_webhook_token));
		args[6] = PointerGetDatum(zd_sha256_bytea(new_webhook_token, strlen(new_webhook_token)));
		args[7] = BoolGetDatum(verify);
		explicit_bzero(token, strlen(token));

		/* a new subdomain: insert (a concurrent insert makes us update) */
		if (SPI_execute_with_args(psprintf("INSERT INTO %s (subdomain, agent_email, api_token_enc, "
										   "agent_zendesk_id, agent_name, webhook_token_enc, "
										   "webhook_token_sha256, verified_at) "
										   "VALUES ($1, $2, $3, $4, $5, $6, $7, "
										   "CASE WHEN $8 THEN now() END) "
										   "ON CONFLICT (subdomain) DO NOTHING RETURNING id",
										   zd_qualified("zd_connections")),
								  8, types, args, argnulls, false, 0) != SPI_OK_INSERT_RETURNING)
			elog(ERROR, "could not insert into zd_connections");
		created = (SPI_processed == 1);

		if (created)
		{
			connection_id = DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[0],
														SPI_tuptable->tupdesc, 1, &isnull));
			webhook_token = new_webhook_token;
		}
		else
		{
			bytea	   *sealed;

			if (SPI_execute_with_args(psprintf("UPDATE %s SET agent_email = $2, api_token_enc = $3, "
											   "agent_zendesk_id = $4, agent_name = $5, "
											   "verified_at = CASE WHEN $8 THEN now() END, "
											   "enabled = true, disconnected_at = NULL, "
											   "updated_at = now() "
											   "WHERE subdomain = $1 "
											   "RETURNING id, webhook_token_enc",
											   zd_qualified("zd_connections")),
									  8, types, args, argnulls, false, 0) != SPI_OK_UPDATE_RETURNING ||
				SPI_processed != 1)
				elog(ERROR, "could not update zd_connections");
			connection_id = DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[0],
														SPI_tuptable->tupdesc, 1, &isnull));
			sealed = DatumGetByteaPP(SPI_getbinval(SPI_tuptable->vals[0],
												   SPI_tuptable->tupdesc, 2, &isnull));
			webhook_token = MemoryContextStrdup(callercxt,
												zd_decrypt_secret(ZD_SECRET_WEBHOOK_TOKEN, sealed));
		}
	}

	if (created)
	{
		bool		isnull;

		if (SPI_execute_with_args(psprintf("INSERT INTO %s (connection_id, kind) "
										   "VALUES ($1, 'import') RETURNING id",
										   zd_qualified("zd_sync_runs")),
								  1, (Oid[]) {INT4OID}, (Datum[]) {Int32GetDatum(connection_id)},
								  NULL, false, 0) != SPI_OK_INSERT_RETURNING)
			elog(ERROR, "could not queue the import");
		import_run_id = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0],
													SPI_tuptable->tupdesc, 1, &isnull));
		zd_log(ZD_LOG_INFO, connection_id, import_run_id,
			   configure_detail(email, verify, &agent),
			   verify ? "connected to %s as %s; historical import queued"
			   : "connection to %s saved for %s without verification; historical import queued",
			   subdomain, email);
	}
	else
		zd_log(ZD_LOG_INFO, connection_id, 0,
			   configure_detail(email, verify, &agent),
			   verify ? "credentials for %s updated (agent %s)"
			   : "credentials for %s updated for %s without verification",
			   subdomain, email);
	/* the worker takes the new account (and its import) at commit */
	zd_wake_at_commit(ZD_WAKE_CONFIG);

	SPI_finish();

	if (created)
		zd_warn_if_worker_unavailable("the historical import");

	url = webhook_url_for(subdomain, true);
	values[0] = Int32GetDatum(connection_id);
	values[1] = url ? CStringGetTextDatum(url) : (Datum) 0;
	nulls[1] = (url == NULL);
	values[2] = CStringGetTextDatum(webhook_token);
	values[3] = Int64GetDatum(import_run_id);
	nulls[3] = !created;

	InitMaterializedSRF(fcinfo, 0);
	tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	return (Datum) 0;
}

/*
 * zd_webhook_settings(subdomain DEFAULT NULL)
 *		RETURNS TABLE (subdomain, webhook_url, webhook_token)
 *
 * What the webhook configuration screen needs, again: for one subdomain,
 * or for every connection when none is named.
 */
Datum
zd_webhook_settings(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	char	   *subdomain = PG_ARGISNULL(0) ? NULL
		: zd_normalize_subdomain(text_to_cstring(PG_GETARG_TEXT_PP(0)));
	MemoryContext callercxt = CurrentMemoryContext;
	uint64		i;

	InitMaterializedSRF(fcinfo, 0);

	if (subdomain != NULL)
		(void) zd_lookup_connection(subdomain, false);

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	if (SPI_execute_with_args(psprintf("SELECT subdomain, webhook_token_enc FROM %s "
									   "WHERE $1::text IS NULL OR subdomain = $1 ORDER BY id",
									   zd_qualified("zd_connections")),
							  1, (Oid[]) {TEXTOID},
							  (Datum[]) {subdomain ? CStringGetTextDatum(subdomain) : (Datum) 0},
							  subdomain ? NULL : "n", false, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not read zd_connections");

	for (i = 0; i < SPI_processed; i++)
	{
		HeapTuple	tup = SPI_tuptable->vals[i];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		bool		isnull;
		char	   *sub = SPI_getvalue(tup, desc, 1);
		bytea	   *sealed = DatumGetByteaPP(SPI_getbinval(tup, desc, 2, &isnull));
		MemoryContext oldcxt = MemoryContextSwitchTo(callercxt);
		char	   *token = zd_decrypt_secret(ZD_SECRET_WEBHOOK_TOKEN, sealed);
		char	   *url = webhook_url_for(sub, false);
		Datum		values[3];
		bool		nulls[3] = {false, url == NULL, false};

		values[0] = CStringGetTextDatum(sub);
		values[1] = url ? CStringGetTextDatum(url) : (Datum) 0;
		values[2] = CStringGetTextDatum(token);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
		MemoryContextSwitchTo(oldcxt);
	}
	SPI_finish();
	return (Datum) 0;
}

/*
 * zd_rotate_webhook_token(subdomain DEFAULT NULL) RETURNS text
 *		Replace the webhook bearer token; the old one stops working when
 *		this transaction commits.
 */
Datum
zd_rotate_webhook_token(PG_FUNCTION_ARGS)
{
	ZdConnection *conn = zd_lookup_connection(PG_ARGISNULL(0) ? NULL
											  : text_to_cstring(PG_GETARG_TEXT_PP(0)),
											  false);
	char	   *token = zd_random_token(ZD_WEBHOOK_TOKEN_BYTES);

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	zd_spi_exec_params(psprintf("UPDATE %s SET webhook_token_enc = $2, webhook_token_sha256 = $3, "
								"updated_at = now() WHERE id = $1",
								zd_qualified("zd_connections")),
					   3, (Oid[]) {INT4OID, BYTEAOID, BYTEAOID},
					   (Datum[]) {Int32GetDatum(conn->id),
						   PointerGetDatum(zd_encrypt_secret(ZD_SECRET_WEBHOOK_TOKEN, token)),
					   PointerGetDatum(zd_sha256_bytea(token, strlen(token)))},
					   SPI_OK_UPDATE);
	zd_log(ZD_LOG_INFO, conn->id, 0, NULL,
		   "webhook token of %s rotated; update the webhook in Zendesk", conn->subdomain);
	SPI_finish();

	PG_RETURN_TEXT_P(cstring_to_text(token));
}

/*
 * zd_disconnect(subdomain) RETURNS void
 *		Stop syncing an account: the stored API token is erased, queued runs
 *		are cancelled, the worker drops the account.  Synced rows, the push
 *		queue and the log stay; zd_configure reconnects.
 */
Datum
zd_disconnect(PG_FUNCTION_ARGS)
{
	ZdConnection *conn = zd_lookup_connection(arg_text(fcinfo, 0, "subdomain"), false);

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	zd_spi_exec_params(psprintf("UPDATE %s SET enabled = false, api_token_enc = NULL, "
								"disconnected_at = now(), updated_at = now() WHERE id = $1",
								zd_qualified("zd_connections")),
					   1, (Oid[]) {INT4OID}, (Datum[]) {Int32GetDatum(conn->id)},
					   SPI_OK_UPDATE);
	zd_spi_exec_params(psprintf("UPDATE %s SET state = 'failed', finished_at = now(), "
								"error = 'cancelled by zd_disconnect' "
								"WHERE connection_id = $1 AND state = 'queued'",
								zd_qualified("zd_sync_runs")),
					   1, (Oid[]) {INT4OID}, (Datum[]) {Int32GetDatum(conn->id)},
					   SPI_OK_UPDATE);
	zd_log(ZD_LOG_INFO, conn->id, 0, NULL,
		   "disconnected from %s; synced data kept", conn->subdomain);
	SPI_finish();
	zd_wake_at_commit(ZD_WAKE_CONFIG);

	PG_RETURN_VOID();
}
