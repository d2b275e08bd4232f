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
 * The item is written straight into zd_outbox's heap and indexes, as
 * logical replication's apply writes rows: a statement through SPI cost
 * more than the application's own INSERT (executor start-up, the queue's
 * CHECK expressions read back from the catalog, two foreign-key queries).
 * Its values come from this code and from the row just written, whose own
 * constraints held, so the queue's constraints hold by construction (its
 * ticket, reply and connection exist and stay, locked by the writing
 * statement); they still guard every other writer.  Written so, the item
 * needs no privilege of the application's role on the queue, and the
 * trigger function is not SECURITY DEFINER.
 *
 * src/queue.c
 *
 *-------------------------------------------------------------------------
 */
#include "corsa_zendesk.h"

#include "access/table.h"
#include "access/xact.h"
#include "commands/sequence.h"
#include "commands/trigger.h"
#include "executor/executor.h"
#include "executor/spi.h"
#include "tcop/pquery.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/timestamp.h"

#include "store.h"

PG_FUNCTION_INFO_V1(zd_enqueue_push);

/* a new zd_outbox item; reply_id and status null when not given */
typedef struct OutboxItem
{
	Datum		connection_id;
	const char *kind;
	Datum		ticket_id;
	Datum		reply_id;
	bool		has_reply;
	Datum		status;
	bool		has_status;
} OutboxItem;

/*
 * outbox_insert
 *		Write one pending item into zd_outbox and its indexes (see the
 *		header comment).  Columns this code does not know of are left null;
 *		one that may not be null, or has a default, is an error, and so is
 *		a queue that is not a plain table or has deferred unique checks.
 *		Runs in the trigger's transaction and memory context.
 */
static void
outbox_insert(const OutboxItem *item)
{
	Relation	rel = table_open(zd_relation_oid("zd_outbox"), RowExclusiveLock);
	TupleDesc	desc = RelationGetDescr(rel);
	Datum		now = TimestampTzGetDatum(GetCurrentTransactionStartTimestamp());
	EState	   *estate;
	ResultRelInfo *result_rel;
	TupleTableSlot *slot;
	Datum	   *values;
	bool	   *nulls;
	List	   *deferred;
	int			i;

	if (rel->rd_rel->relkind != RELKIND_RELATION)
		elog(ERROR, "zd_outbox of extension \"%s\" is not a plain table", ZD_EXTENSION_NAME);

	estate = CreateExecutorState();
	slot = ExecInitExtraTupleSlot(estate, desc, &TTSOpsVirtual);
	ExecClearTuple(slot);
	values = slot->tts_values;
	nulls = slot->tts_isnull;

	for (i = 0; i < desc->natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, i);
		const char *name = NameStr(att->attname);
		bool		isnull = false;

		if (att->attisdropped)
			isnull = true;
		else if (strcmp(name, "id") == 0)
			values[i] = Int64GetDatum(nextval_internal(zd_relation_oid("zd_outbox_id_seq"),
														false));
		else if (strcmp(name, "connection_id") == 0)
			values[i] = item->connection_id;
		else if (strcmp(name, "kind") == 0)
			values[i] = CStringGetTextDatum(item->kind);
		else if (strcmp(name, "ticket_id") == 0)
			values[i] = item->ticket_id;
		else if (strcmp(name, "reply_id") == 0)
		{
			values[i] = item->reply_id;
			isnull = !item->has_reply;
		}
		else if (strcmp(name, "status") == 0)
		{
			values[i] = item->status;
			isnull = !item->has_status;
		}
		else if (strcmp(name, "state") == 0)
			values[i] = CStringGetTextDatum("pending");
		else if (strcmp(name, "attempts") == 0)
			values[i] = Int32GetDatum(0);
		else if (strcmp(name, "next_attempt_at") == 0 || strcmp(name, "created_at") == 0)
			values[i] = now;
		else if (att->attnotnull || att->atthasdef)
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("cannot queue the push: column \"%s\" of zd_outbox is unknown to this version of %s",
							name, ZD_EXTENSION_NAME),
					 errhint("A column added to zd_outbox must allow nulls and have no default.")));
		else
			isnull = true;
		nulls[i] = isnull;
	}

	ExecStoreVirtualTuple(slot);

	result_rel = makeNode(ResultRelInfo);
	InitResultRelInfo(result_rel, rel, 1, NULL, 0);
	ExecOpenIndices(result_rel, false);

	simple_table_tuple_insert(rel, slot);
	deferred = ExecInsertIndexTuples(result_rel, slot, estate, false, false, NULL, NIL);
	if (deferred != NIL)
		elog(ERROR, "zd_outbox of extension \"%s\" has deferred unique checks", ZD_EXTENSION_NAME);

	ExecCloseIndices(result_rel);
	ExecResetTupleTable(estate->es_tupleTable, false);
	FreeExecutorState(estate);
	table_close(rel, NoLock);
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
	OutboxItem	item = {0};
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
	item.connection_id = new_value(trigdata, tuple, "connection_id", &isnull);
	if (strcmp(relname, "zd_replies") == 0)
	{
		item.kind = "add_reply";
		item.ticket_id = new_value(trigdata, tuple, "ticket_id", &isnull);
		item.reply_id = new_value(trigdata, tuple, "id", &isnull);
		item.has_reply = true;
	}
	else if (TRIGGER_FIRED_BY_UPDATE(trigdata->tg_event))
	{
		item.kind = "update_status";
		item.ticket_id = new_value(trigdata, tuple, "id", &isnull);
		item.status = new_value(trigdata, tuple, "status", &isnull);
		item.has_status = true;
	}
	else
	{
		item.kind = "create_ticket";
		item.ticket_id = new_value(trigdata, tuple, "id", &isnull);
	}
	outbox_insert(&item);

	zd_wake_at_commit(ZD_WAKE_PUSH);
	return PointerGetDatum(tuple);
}
