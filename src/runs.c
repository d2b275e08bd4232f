/*-------------------------------------------------------------------------
 *
 * runs.c
 *		Asking the worker for work from SQL: zd_full_sync and zd_poll_now.
 *
 * Neither function talks to Zendesk: they record the request and wake the
 * worker when the transaction commits, and return at once.
 *
 * src/runs.c
 *
 *-------------------------------------------------------------------------
 */
#include "corsa_zendesk.h"

#include "catalog/pg_type_d.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "utils/builtins.h"

PG_FUNCTION_INFO_V1(zd_full_sync);
PG_FUNCTION_INFO_V1(zd_poll_now);

/* the connection of the (optional) subdomain argument, locked */
static ZdConnection *
connection_for_update(FunctionCallInfo fcinfo)
{
	ZdConnection *conn = zd_lookup_connection(PG_ARGISNULL(0) ? NULL
											  : text_to_cstring(PG_GETARG_TEXT_PP(0)),
											  false);

	if (!conn->enabled)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("the connection to \"%s\" is disconnected", conn->subdomain),
				 errhint("Run zd_configure() to connect it again.")));
	/* serialize concurrent requests for the same connection */
	zd_spi_exec_params(psprintf("SELECT 1 FROM %s WHERE id = $1 FOR UPDATE",
								zd_qualified("zd_connections")),
					   1, (Oid[]) {INT4OID}, (Datum[]) {Int32GetDatum(conn->id)},
					   SPI_OK_SELECT);
	return conn;
}

/*
 * zd_full_sync(subdomain DEFAULT NULL) RETURNS bigint
 *		Queue a full re-import for the worker and return its run id.  When a
 *		full sync or import is already queued (not yet started), that run's
 *		id is returned instead of queueing a second one.
 */
Datum
zd_full_sync(PG_FUNCTION_ARGS)
{
	ZdConnection *conn;
	int64		run_id;
	bool		isnull;

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	conn = connection_for_update(fcinfo);

	zd_spi_exec_params(psprintf("SELECT id FROM %s WHERE connection_id = $1 AND state = 'queued' "
								"AND kind IN ('import', 'full_sync') ORDER BY id LIMIT 1",
								zd_qualified("zd_sync_runs")),
					   1, (Oid[]) {INT4OID}, (Datum[]) {Int32GetDatum(conn->id)},
					   SPI_OK_SELECT);
	if (SPI_processed == 1)
		run_id = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc,
											 1, &isnull));
	else
	{
		zd_spi_exec_params(psprintf("INSERT INTO %s (connection_id, kind) VALUES ($1, 'full_sync') "
									"RETURNING id", zd_qualified("zd_sync_runs")),
						   1, (Oid[]) {INT4OID}, (Datum[]) {Int32GetDatum(conn->id)},
						   SPI_OK_INSERT_RETURNING);
		run_id = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc,
											 1, &isnull));
		zd_log(ZD_LOG_INFO, conn->id, run_id, NULL,
			   "full sync of %s requested by %s", conn->subdomain,
			   GetUserNameFromId(GetUserId(), false));
	}
	SPI_finish();

	zd_wake_at_commit(ZD_WAKE_CONFIG);
	zd_warn_if_worker_unavailable("the full sync");
	PG_RETURN_INT64(run_id);
}

/*
 * zd_poll_now(subdomain DEFAULT NULL) RETURNS void
 *		Make the next poll due now and wake the worker.  If a run is in
 *		progress, the poll follows it.
 */
Datum
zd_poll_now(PG_FUNCTION_ARGS)
{
	ZdConnection *conn;

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	conn = connection_for_update(fcinfo);
	zd_spi_exec_params(psprintf("UPDATE %s SET next_poll_at = now() WHERE id = $1",
								zd_qualified("zd_connections")),
					   1, (Oid[]) {INT4OID}, (Datum[]) {Int32GetDatum(conn->id)},
					   SPI_OK_UPDATE);
	SPI_finish();

	zd_wake_at_commit(ZD_WAKE_CONFIG);
	zd_warn_if_worker_unavailable("the poll");
	PG_RETURN_VOID();
}
