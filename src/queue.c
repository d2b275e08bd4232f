/*-------------------------------------------------------------------------
 *
 * queue.c
 *		The push queue's trigger: a ticket or reply the application inserts,
 *		and a status it changes, become a zd_outbox item in the same
 *		transaction, and the worker is woken when that transaction commits
 *		(not before: it would find nothing).
 *
 * Rows written on behalf of the sync (the worker, zd_ingest_webhook) never
 * enqueue: they came from Zendesk.  Neither do rows loaded by COPY, which
 * is how pg_restore (and psql, from a plain dump) brings tables back: the
 * dump holds zd_outbox too, with the items that were still to be sent, and
 * a second item, whose id the restored queue also uses, would make its
 * restore fail.  The triggers' WHEN clauses pass only rows still pending
 * besides.  Should an item be queued twice all the same, it is harmless:
 * before each request the worker checks that the row still needs it.
 *
 * The trigger function is SECURITY DEFINER: the application's role needs
 * no privilege on the queue.
 *
 * src/queue.c
 *
 *-------------------------------------------------------------------------
 */
#include "corsa_zendesk.h"

#include "catalog/pg_type_d.h"
#include "commands/trigger.h"
#include "executor/spi.h"
#include "utils/builtins.h"
#include "tcop/pquery.h"
#include "utils/rel.h"

#include "store.h"

PG_FUNCTION_INFO_V1(zd_enqueue_push);

/* one statement for every kind; $4 only for add_reply, $5 for update_status */
static char *
enqueue_sql(void)
{
	return psprintf("INSERT INTO %s (connection_id, kind, ticket_id, reply_id, status) "
					"VALUES ($1, $2, $3, $4, $5)", zd_qualified("zd_outbox"));
}

/* the value of a column of the trigger's new row, by name */
static Datum
new_value(TriggerData *trigdata, HeapTuple tuple, const char *column, bool *isnull)
{
	TupleDesc	desc = RelationGetDescr(trigdata->tg_relation);
	int			attno = SPI_fnumber(desc, column);

	if (attno <= 0)
		elog(ERROR, "column \"%s\" is missing from %s", column,
			 RelationGetRelationName(trigdata->tg_relation));
	return heap_getattr(tuple, attno, desc, isnull);
}

/*
 * zd_enqueue_push
 *		AFTER INSERT on zd_tickets (create_ticket), AFTER UPDATE OF status on
 *		zd_tickets (update_status), AFTER INSERT on zd_replies (add_reply).
 *		Runs in the writing transaction; the queue item commits or rolls
 *		back with the row.
 */
Datum
zd_enqueue_push(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata = (TriggerData *) fcinfo->context;
	HeapTuple	tuple;
	const char *relname;
	const char *kind;
	Datum		values[5];
	char		nulls[5] = {' ', ' ', ' ', 'n', 'n'};
	Oid			types[5] = {INT4OID, TEXTOID, INT8OID, INT8OID, TEXTOID};
	bool		isnull;

	if (!CALLED_AS_TRIGGER(fcinfo) || !TRIGGER_FIRED_AFTER(trigdata->tg_event) ||
		!TRIGGER_FIRED_FOR_ROW(trigdata->tg_event))
		elog(ERROR, "zd_enqueue_push must be an AFTER ... FOR EACH ROW trigger");

	tuple = TRIGGER_FIRED_BY_UPDATE(trigdata->tg_event)
		? trigdata->tg_newtuple : trigdata->tg_trigtuple;

	/* what the sync itself writes came from Zendesk */
	if (zd_store_is_sync_writing())
		return PointerGetDatum(tuple);

	/* a COPY (a restore) brings its queue items along */
	if (ActivePortal != NULL && ActivePortal->commandTag == CMDTAG_COPY)
		return PointerGetDatum(tuple);

	relname = RelationGetRelationName(trigdata->tg_relation);
	values[0] = new_value(trigdata, tuple, "connection_id", &isnull);
	if (strcmp(relname, "zd_replies") == 0)
	{
		kind = "add_reply";
		values[2] = new_value(trigdata, tuple, "ticket_id", &isnull);
		values[3] = new_value(trigdata, tuple, "id", &isnull);
		nulls[3] = ' ';
	}
	else if (TRIGGER_FIRED_BY_UPDATE(trigdata->tg_event))
	{
		kind = "update_status";
		values[2] = new_value(trigdata, tuple, "id", &isnull);
		values[4] = new_value(trigdata, tuple, "status", &isnull);
		nulls[4] = ' ';
	}
	else
	{
		kind = "create_ticket";
		values[2] = new_value(trigdata, tuple, "id", &isnull);
	}
	values[1] = CStringGetTextDatum(kind);

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	zd_spi_run_plan(zd_saved_plan(ZD_PLAN_ENQUEUE_PUSH, enqueue_sql, 5, types),
					values, nulls, SPI_OK_INSERT);
	SPI_finish();

	zd_wake_at_commit(ZD_WAKE_PUSH);
	return PointerGetDatum(tuple);
}
