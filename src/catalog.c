/*-------------------------------------------------------------------------
 *
 * catalog.c
 *		Finding corsa_zendesk's own objects without relying on the caller's
 *		search_path: the extension's schema, schema-qualified table names,
 *		and the lookup of a connection by subdomain.
 *
 * src/catalog.c
 *
 *-------------------------------------------------------------------------
 */
#include "corsa_zendesk.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_extension.h"
#include "catalog/pg_type_d.h"
#include "commands/extension.h"
#include "executor/spi.h"
#include "utils/fmgroids.h"
#include "utils/inval.h"
#include "utils/rel.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"

static char *cached_schema = NULL;
static bool schema_valid = false;
static bool schema_callback = false;

/* saved plans, valid for the schema they were prepared in */
typedef struct SavedPlan
{
	SPIPlanPtr	plan;
	char	   *schema;
} SavedPlan;

static SavedPlan saved_plans[ZD_PLAN_COUNT];

/*
 * zd_extension_oid
 *		OID of the corsa_zendesk extension in the current database.
 */
Oid
zd_extension_oid(bool missing_ok)
{
	Oid			oid = get_extension_oid(ZD_EXTENSION_NAME, true);

	if (!OidIsValid(oid) && !missing_ok)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("extension \"%s\" is not installed in this database",
						ZD_EXTENSION_NAME)));
	return oid;
}

/*
 * extension_namespace
 *		Schema of our extension, from pg_extension (PG15 does not export
 *		get_extension_schema).
 */
static Oid
extension_namespace(void)
{
	Relation	rel;
	ScanKeyData key;
	SysScanDesc scan;
	HeapTuple	tup;
	Oid			nsp = InvalidOid;

	rel = table_open(ExtensionRelationId, AccessShareLock);
	ScanKeyInit(&key, Anum_pg_extension_extname, BTEqualStrategyNumber, F_NAMEEQ,
				CStringGetDatum(ZD_EXTENSION_NAME));
	scan = systable_beginscan(rel, ExtensionNameIndexId, true, NULL, 1, &key);
	tup = systable_getnext(scan);
	if (HeapTupleIsValid(tup))
		nsp = ((Form_pg_extension) GETSTRUCT(tup))->extnamespace;
	systable_endscan(scan);
	table_close(rel, AccessShareLock);

	if (!OidIsValid(nsp))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("extension \"%s\" is not installed in this database",
						ZD_EXTENSION_NAME)));
	return nsp;
}

/* forget the schema when a relation may have moved (ALTER EXTENSION SET SCHEMA, DROP ...) */
static void
schema_invalidate(Datum arg, Oid relid)
{
	schema_valid = false;
}

/*
 * zd_schema_name
 *		Name of the schema holding the extension's objects.  Looked up again
 *		after any relcache invalidation: the extension's tables move with it
 *		(and go with it), and each move or drop invalidates them.  A name
 *		once returned stays valid for the life of the process.
 */
const char *
zd_schema_name(void)
{
	if (!schema_callback)
	{
		CacheRegisterRelcacheCallback(schema_invalidate, (Datum) 0);
		schema_callback = true;
	}
	if (cached_schema == NULL || !schema_valid)
	{
		char	   *name = get_namespace_name(extension_namespace());

		/* (the old name is kept: callers may hold it) */
		if (cached_schema == NULL || strcmp(cached_schema, name) != 0)
			cached_schema = MemoryContextStrdup(TopMemoryContext, name);
		pfree(name);
		schema_valid = true;
	}
	return cached_schema;
}

/*
 * zd_relation_oid
 *		OID of the extension's relation (table, index, sequence) by name.
 */
Oid
zd_relation_oid(const char *relname)
{
	Oid			relid = get_relname_relid(relname,
										  get_namespace_oid(zd_schema_name(), false));

	if (!OidIsValid(relid))
		elog(ERROR, "relation \"%s\" of extension \"%s\" is missing", relname,
			 ZD_EXTENSION_NAME);
	return relid;
}

/*
 * zd_qualified
 *		"schema"."relname", quoted as needed; palloc'd.
 */
char *
zd_qualified(const char *relname)
{
	return quote_qualified_identifier(zd_schema_name(), relname);
}

/*
 * zd_spi_exec_params / zd_spi_exec_params_nulls
 *		SPI_execute_with_args, failing on an unexpected result code; nulls
 *		as SPI takes them ('n' for a null argument), or none.
 */
void
zd_spi_exec_params(const char *sql, int nargs, Oid *argtypes, Datum *values,
				   int expected)
{
	zd_spi_exec_params_nulls(sql, nargs, argtypes, values, NULL, expected);
}

void
zd_spi_exec_params_nulls(const char *sql, int nargs, Oid *argtypes, Datum *values,
						 const char *nulls, int expected)
{
	int			rc = SPI_execute_with_args(sql, nargs, argtypes, values, nulls,
										   false, 0);

	if (rc != expected)
		elog(ERROR, "SPI_execute_with_args failed (%d): %s", rc, sql);
}

/*
 * zd_saved_plan
 *		A kept SPI plan for one of our statements (numbered by ZdPlanId),
 *		prepared on first use.  build_sql is called only then, with the
 *		caller connected to SPI.  Plans are re-prepared when the
 *		extension's schema changed (the extension was dropped and created
 *		elsewhere); PostgreSQL's plan cache handles everything else.
 *
 *		The statements that write one webhook event's ticket and comment
 *		and link a pushed reply (ZD_PLAN_WEBHOOK_TICKET, _COMMENT,
 *		_LINK_REPLY) use a generic plan from the first run: they take one
 *		row of scalars, whose values change no plan, and planning them
 *		afresh on each of the first calls was a large share of a webhook's
 *		cost.  The batch variants (export pages of 1000 rows, as arrays)
 *		keep custom plans: a generic plan, made while the tables were
 *		small, would join them by scanning.
 */
SPIPlanPtr
zd_saved_plan(ZdPlanId id, char *(*build_sql) (void), int nargs, Oid *argtypes)
{
	SavedPlan  *saved = &saved_plans[id];
	const char *schema = zd_schema_name();

	if (saved->plan == NULL || strcmp(saved->schema, schema) != 0)
	{
		SPIPlanPtr	plan;

		if (saved->plan != NULL)
		{
			SPI_freeplan(saved->plan);
			pfree(saved->schema);
			saved->plan = NULL;
		}
		plan = SPI_prepare_cursor(build_sql(), nargs, argtypes,
								  (id == ZD_PLAN_WEBHOOK_TICKET ||
								   id == ZD_PLAN_WEBHOOK_COMMENT ||
								   id == ZD_PLAN_WEBHOOK_LINK_REPLY) ?
								  CURSOR_OPT_GENERIC_PLAN : 0);
		if (plan == NULL)
			elog(ERROR, "SPI_prepare failed: %s", SPI_result_code_string(SPI_result));
		if (SPI_keepplan(plan) != 0)
			elog(ERROR, "SPI_keepplan failed");
		saved->plan = plan;
		saved->schema = MemoryContextStrdup(TopMemoryContext, schema);
	}
	return saved->plan;
}

/*
 * zd_spi_run_plan
 *		SPI_execute_plan that checks the result code.
 */
void
zd_spi_run_plan(SPIPlanPtr plan, Datum *values, const char *nulls, int expected)
{
	int			rc = SPI_execute_plan(plan, values, nulls, false, 0);

	if (rc != expected)
		elog(ERROR, "SPI_execute_plan failed: %s", SPI_result_code_string(rc));
}

/* "acme, beta" for hints */
static char *
list_subdomains(void)
{
	StringInfoData buf;
	uint64		i;

	initStringInfo(&buf);
	for (i = 0; i < SPI_processed; i++)
	{
		if (i > 0)
			appendStringInfoString(&buf, ", ");
		appendStringInfoString(&buf, SPI_getvalue(SPI_tuptable->vals[i],
												  SPI_tuptable->tupdesc, 2));
	}
	return buf.data;
}

/*
 * zd_lookup_connection
 *		The connection for a subdomain, or, when subdomain is NULL, the only
 *		connection there is.  Raises a helpful error when there is none (or,
 *		for NULL, several), unless missing_ok, which returns NULL.  Uses its
 *		own SPI connection; the result is allocated in the caller's context.
 */
ZdConnection *
zd_lookup_connection(const char *subdomain, bool missing_ok)
{
	MemoryContext callercxt = CurrentMemoryContext;
	ZdConnection *conn = NULL;
	char	   *normalized = subdomain ? zd_normalize_subdomain(subdomain) : NULL;
	char	   *sql;
	int			rc;

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");

	sql = psprintf("SELECT id, subdomain, agent_email, enabled, api_token_enc "
				   "FROM %s %s ORDER BY id",
				   zd_qualified("zd_connections"),
				   normalized ? "WHERE subdomain = $1" : "");
	rc = SPI_execute_with_args(sql, normalized ? 1 : 0, (Oid[]) {TEXTOID},
							   (Datum[]) {normalized ? CStringGetTextDatum(normalized) : (Datum) 0},
							   NULL, false, 0);
	if (rc != SPI_OK_SELECT)
		elog(ERROR, "could not read zd_connections");

	if (SPI_processed == 0)
	{
		if (!missing_ok)
		{
			if (normalized)
				ereport(ERROR,
						(errcode(ERRCODE_UNDEFINED_OBJECT),
						 errmsg("no Zendesk connection for subdomain \"%s\"", normalized),
						 errhint("Run zd_configure() for it first.")));
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_OBJECT),
					 errmsg("no Zendesk connection is configured"),
					 errhint("Run zd_configure() first.")));
		}
	}
	else if (SPI_processed > 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("several Zendesk connections exist, so the subdomain must be given"),
				 errhint("Name one of: %s.", list_subdomains())));
	else
	{
		HeapTuple	tup = SPI_tuptable->vals[0];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		bool		isnull;
		Datum		token;
		MemoryContext oldcxt = MemoryContextSwitchTo(callercxt);

		conn = palloc0(sizeof(ZdConnection));
		conn->id = DatumGetInt32(SPI_getbinval(tup, desc, 1, &isnull));
		conn->subdomain = SPI_getvalue(tup, desc, 2);
		conn->agent_email = SPI_getvalue(tup, desc, 3);
		conn->enabled = DatumGetBool(SPI_getbinval(tup, desc, 4, &isnull));
		token = SPI_getbinval(tup, desc, 5, &isnull);
		conn->api_token_enc = isnull ? NULL : DatumGetByteaPCopy(token);
		MemoryContextSwitchTo(oldcxt);
	}

	SPI_finish();
	return conn;
}
