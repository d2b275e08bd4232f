/*-------------------------------------------------------------------------
 *
 * clients.c
 *		Matching tickets to the application's clients by requester e-mail:
 *		zd_set_client_source, zd_rematch_clients, and the matching that the
 *		import, the polls and webhook ingestion run on the rows they write.
 *
 * The application's clients live in a table of its own, named with
 * zd_set_client_source.  Matching is case-insensitive on the e-mail.  A
 * ticket is matched only when exactly one client has its requester's
 * e-mail; an e-mail shared by several clients leaves the ticket unmatched
 * and is reported in the sync log, rather than guessed.  For tickets that
 * came from Zendesk the match is authoritative (it is recomputed); a
 * client_id the application gave a ticket it created is never changed.
 *
 * src/clients.c
 *
 *-------------------------------------------------------------------------
 */
#include "corsa_zendesk.h"

#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_class.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "storage/proc.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/regproc.h"

#include "direct.h"

typedef struct ClientSource
{
	char	   *table;			/* schema-qualified, quoted */
	char	   *id_column;
	char	   *email_column;
} ClientSource;

static ClientSource *read_client_source(void);
static void check_column(Oid relid, const char *column, bool must_be_text);
static char *clients_sql(const ClientSource *src, const char *ticket_filter);
static char *matching_sql(const ClientSource *src, const char *ticket_filter);

/* the matching statement for rows just written, kept per client source */
static SPIPlanPtr match_plan = NULL;
static char *match_plan_key = NULL;

PG_FUNCTION_INFO_V1(zd_set_client_source);
PG_FUNCTION_INFO_V1(zd_rematch_clients);

/*
 * check_column
 *		The column must exist (and, for the e-mail, be of a string type).
 */
static void
check_column(Oid relid, const char *column, bool must_be_text)
{
	AttrNumber	attnum = get_attnum(relid, column);
	char		category;
	bool		preferred;

	if (attnum == InvalidAttrNumber)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_COLUMN),
				 errmsg("column \"%s\" does not exist in \"%s\"",
						column, get_rel_name(relid))));
	if (!must_be_text)
		return;
	get_type_category_preferred(get_atttype(relid, attnum), &category, &preferred);
	if (category != TYPCATEGORY_STRING)
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("column \"%s\" of \"%s\" is not of a string type",
						column, get_rel_name(relid)),
				 errdetail("Client e-mails are compared as text.")));
}

/*
 * zd_set_client_source(client_table regclass, id_column name DEFAULT 'id',
 *						email_column name DEFAULT 'email') RETURNS void
 *		Record where the clients are, then match every ticket against them.
 */
Datum
zd_set_client_source(PG_FUNCTION_ARGS)
{
	Oid			relid;
	char	   *id_column;
	char	   *email_column;
	char		relkind;
	char	   *qualified;
	int64		changed;

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1) || PG_ARGISNULL(2))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("client_table, id_column and email_column must not be null")));
	relid = PG_GETARG_OID(0);
	id_column = pstrdup(NameStr(*PG_GETARG_NAME(1)));
	email_column = pstrdup(NameStr(*PG_GETARG_NAME(2)));

	relkind = get_rel_relkind(relid);
	if (relkind != RELKIND_RELATION && relkind != RELKIND_PARTITIONED_TABLE &&
		relkind != RELKIND_VIEW && relkind != RELKIND_MATVIEW &&
		relkind != RELKIND_FOREIGN_TABLE)
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("\"%s\" is not a table or view", get_rel_name(relid))));
	check_column(relid, id_column, false);
	check_column(relid, email_column, true);

	qualified = quote_qualified_identifier(get_namespace_name(get_rel_namespace(relid)),
										   get_rel_name(relid));

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	zd_spi_exec_params(psprintf("INSERT INTO %s (singleton, table_name, id_column, email_column) "
								"VALUES (true, $1, $2, $3) ON CONFLICT (singleton) DO UPDATE "
								"SET table_name = EXCLUDED.table_name, "
								"id_column = EXCLUDED.id_column, "
								"email_column = EXCLUDED.email_column, updated_at = now()",
								zd_qualified("zd_client_source")),
					   3, (Oid[]) {TEXTOID, NAMEOID, NAMEOID},
					   (Datum[]) {CStringGetTextDatum(qualified),
						   CStringGetDatum(id_column), CStringGetDatum(email_column)},
					   SPI_OK_INSERT);
	CommandCounterIncrement();	/* the matching reads the source just written */
	changed = zd_match_clients("true", 0, NULL, NULL, true);
	zd_log(ZD_LOG_INFO, 0, 0, NULL,
		   "clients are read from %s (id %s, e-mail %s); %lld ticket(s) matched anew",
		   qualified, quote_identifier(id_column), quote_identifier(email_column),
		   (long long) changed);
	SPI_finish();

	PG_RETURN_VOID();
}

/*
 * zd_rematch_clients() RETURNS bigint
 *		Match every ticket again; returns how many tickets' client changed.
 */
Datum
zd_rematch_clients(PG_FUNCTION_ARGS)
{
	int64		changed;

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	if (read_client_source() == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("no client table is set"),
				 errhint("Name it with zd_set_client_source().")));
	changed = zd_match_clients("true", 0, NULL, NULL, true);
	zd_log(ZD_LOG_INFO, 0, 0, NULL, "clients rematched: %lld ticket(s) changed",
		   (long long) changed);
	SPI_finish();

	PG_RETURN_INT64(changed);
}

/*
 * read_client_source
 *		The configured client table, or NULL when none is set; read straight
 *		from zd_client_source (a row at most), so that the writes of an
 *		account without a client table run no statement.  palloc'd in the
 *		caller's context.
 */
static ClientSource *
read_client_source(void)
{
	ClientSource *src = NULL;
	ZdTableRead r;

	zd_read_begin(&r, "zd_client_source", NULL, NULL, 0);
	if (zd_read_next(&r))
	{
		bool		isnull;

		src = palloc(sizeof(ClientSource));
		src->table = TextDatumGetCString(zd_read_column(&r, "table_name", &isnull));
		src->id_column = pstrdup(NameStr(*DatumGetName(zd_read_column(&r, "id_column",
																		&isnull))));
		src->email_column = pstrdup(NameStr(*DatumGetName(zd_read_column(&r, "email_column",
																		   &isnull))));
	}
	zd_read_end(&r);
	return src;
}

/*
 * clients_sql
 *		The clients per lower-cased e-mail, for the e-mails of the tickets
 *		selected by ticket_filter (a condition on alias "tk").
 */
static char *
clients_sql(const ClientSource *src, const char *ticket_filter)
{
	return psprintf("SELECT lower(c.%s::text) AS email_key, min(c.%s::text) AS client_id, "
					"count(*) AS n FROM %s c "
					"WHERE lower(c.%s::text) IN (SELECT lower(tk.requester_email) "
					"FROM %s tk WHERE %s) GROUP BY 1",
					quote_identifier(src->email_column), quote_identifier(src->id_column),
					src->table, quote_identifier(src->email_column),
					zd_qualified("zd_tickets"), ticket_filter);
}

/*
 * matching_sql
 *		The UPDATE that sets client_id on the tickets selected by
 *		ticket_filter: the unique client with the requester's e-mail, or
 *		NULL; a Corsa ticket's own client_id is left alone.
 */
static char *
matching_sql(const ClientSource *src, const char *ticket_filter)
{
	return psprintf("UPDATE %s t SET client_id = m.client_id, updated_at = now() "
					"FROM (SELECT tk.id, CASE WHEN c.n = 1 THEN c.client_id END AS client_id "
					"FROM %s tk LEFT JOIN (%s) c ON c.email_key = lower(tk.requester_email) "
					"WHERE %s) m "
					"WHERE t.id = m.id AND t.client_id IS DISTINCT FROM m.client_id "
					"AND (t.origin = 'zendesk' OR t.client_id IS NULL)",
					zd_qualified("zd_tickets"), zd_qualified("zd_tickets"),
					clients_sql(src, ticket_filter), ticket_filter);
}

/*
 * zd_match_clients_by_zendesk_ids
 *		The matching run on every write (import pages, polls, webhooks):
 *		the tickets of one connection with these Zendesk ids.  Uses a kept
 *		plan for the current client source, and does nothing when no
 *		source is set or its table is gone (zd_rematch_clients reports
 *		that).  Own SPI connection, caller's transaction.
 */
void
zd_match_clients_by_zendesk_ids(int32 connection_id, Datum zendesk_ids)
{
	ClientSource *src;
	char	   *key;
	Datum		values[2];

	src = read_client_source();
	if (src == NULL ||
		!OidIsValid(RangeVarGetRelid(makeRangeVarFromNameList(stringToQualifiedNameList(src->table)),
									 NoLock, true)))
		return;
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");

	key = psprintf("%s|%s|%s|%s", zd_schema_name(), src->table, src->id_column,
				   src->email_column);
	if (match_plan == NULL || strcmp(key, match_plan_key) != 0)
	{
		SPIPlanPtr	plan;

		if (match_plan != NULL)
		{
			SPI_freeplan(match_plan);
			pfree(match_plan_key);
			match_plan = NULL;
		}
		plan = SPI_prepare(matching_sql(src, "tk.connection_id = $1 AND tk.zendesk_id = ANY($2)"),
						   2, (Oid[]) {INT4OID, INT8ARRAYOID});
		if (plan == NULL || SPI_keepplan(plan) != 0)
			elog(ERROR, "could not prepare the client matching statement");
		match_plan = plan;
		match_plan_key = MemoryContextStrdup(TopMemoryContext, key);
	}
	values[0] = Int32GetDatum(connection_id);
	values[1] = zendesk_ids;
	zd_spi_run_plan(match_plan, values, NULL, SPI_OK_UPDATE);
	SPI_finish();
}

/*
 * zd_match_clients
 *		Recompute client_id for the tickets selected by ticket_filter (a
 *		condition on alias "tk", with parameters $1.. of argtypes) and
 *		return how many changed.  Does nothing (0) when no client table is
 *		set.  A client table that has gone away raises an error.  With
 *		log_ambiguous, e-mails shared by several clients are reported.
 *		Uses its own SPI connection; runs in the caller's transaction and
 *		sees its earlier writes (no read-only SPI calls).
 */
int64
zd_match_clients(const char *ticket_filter, int nargs, Oid *argtypes,
				 Datum *values, bool log_ambiguous)
{
	ClientSource *src;
	int64		changed;

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");

	src = read_client_source();
	if (src == NULL)
	{
		SPI_finish();
		return 0;
	}

	if (SPI_execute_with_args("SELECT to_regclass($1) IS NULL", 1, (Oid[]) {TEXTOID},
							  (Datum[]) {CStringGetTextDatum(src->table)}, NULL, false, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not look up the client table");
	if (DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1,
								   &(bool) {false})))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("the client table %s no longer exists", src->table),
				 errhint("Name the current one with zd_set_client_source().")));

	zd_spi_exec_params(matching_sql(src, ticket_filter), nargs, argtypes, values,
					   SPI_OK_UPDATE);
	changed = (int64) SPI_processed;

	if (log_ambiguous)
	{
		zd_spi_exec_params(psprintf("SELECT count(*), string_agg(DISTINCT c.email_key, ', ') "
									"FROM %s tk JOIN (%s) c ON c.email_key = lower(tk.requester_email) "
									"WHERE c.n > 1 AND (%s)",
									zd_qualified("zd_tickets"), clients_sql(src, ticket_filter),
									ticket_filter),
						   nargs, argtypes, values, SPI_OK_SELECT);
		if (SPI_processed == 1)
		{
			bool		isnull;
			int64		ambiguous = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0],
																SPI_tuptable->tupdesc, 1, &isnull));

			if (ambiguous > 0)
				zd_log(ZD_LOG_WARNING, 0, 0, NULL,
					   "%lld ticket(s) stay unmatched: several clients share the e-mail(s) %s",
					   (long long) ambiguous,
					   SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2));
		}
	}

	SPI_finish();
	return changed;
}
