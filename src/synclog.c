/*-------------------------------------------------------------------------
 *
 * synclog.c
 *		The "View logs" list: entries in zd_sync_log that a person can
 *		follow.  Warnings and errors also go to the server log.
 *
 * Callers never put a secret into a message or a detail; the messages are
 * built from subdomains, ids, counts and Zendesk's error summaries.
 *
 * src/synclog.c
 *
 *-------------------------------------------------------------------------
 */
#include "corsa_zendesk.h"

#include "catalog/pg_type_d.h"
#include "executor/spi.h"
#include "utils/builtins.h"

static const char *
level_name(ZdLogLevel level)
{
	switch (level)
	{
		case ZD_LOG_INFO:
			return "info";
		case ZD_LOG_WARNING:
			return "warning";
		case ZD_LOG_ERROR:
			return "error";
	}
	return "info";
}

static char *
log_entry_sql(void)
{
	return psprintf("INSERT INTO %s (level, connection_id, run_id, message, detail) "
					"VALUES ($1, $2, $3, $4, $5::jsonb)", zd_qualified("zd_sync_log"));
}

/*
 * zd_log
 *		Append an entry to zd_sync_log in the current transaction.
 *		connection_id and run_id of 0 are stored as NULL; detail_json is
 *		NULL or a JSON text.  Uses its own (nested) SPI connection.
 */
void
zd_log(ZdLogLevel level, int32 connection_id, int64 run_id,
	   const char *detail_json, const char *fmt,...)
{
	StringInfoData message;
	Datum		values[5];
	char		nulls[5] = {' ', ' ', ' ', ' ', ' '};
	Oid			types[5] = {TEXTOID, INT4OID, INT8OID, TEXTOID, TEXTOID};

	initStringInfo(&message);
	for (;;)
	{
		va_list		args;
		int			needed;

		va_start(args, fmt);
		needed = appendStringInfoVA(&message, fmt, args);
		va_end(args);
		if (needed == 0)
			break;
		enlargeStringInfo(&message, needed);
	}

	if (level != ZD_LOG_INFO)
		ereport(LOG,
				(errmsg("corsa_zendesk: %s", message.data)));

	values[0] = CStringGetTextDatum(level_name(level));
	values[1] = Int32GetDatum(connection_id);
	nulls[1] = connection_id ? ' ' : 'n';
	values[2] = Int64GetDatum(run_id);
	nulls[2] = run_id ? ' ' : 'n';
	values[3] = CStringGetTextDatum(message.data);
	values[4] = detail_json ? CStringGetTextDatum(detail_json) : (Datum) 0;
	nulls[4] = detail_json ? ' ' : 'n';

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	zd_spi_run_plan(zd_saved_plan(ZD_PLAN_LOG_ENTRY, log_entry_sql, 5, types),
					values, nulls, SPI_OK_INSERT);
	SPI_finish();
}
