/*-------------------------------------------------------------------------
 *
 * direct.c
 *		Rows written straight into a table's heap and indexes, as logical
 *		replication's apply writes them, for the webhook's hot path
 *		(store_direct.c).
 *
 * A statement through SPI pays executor start-up, reads the table's CHECK
 * and generated-column expressions back from the catalog on every
 * execution, and runs a query per foreign key.  Here a row is inserted with
 * INSERT ... ON CONFLICT's speculative insertion, or updated after being
 * locked as ON CONFLICT DO UPDATE locks it, and its indexes are maintained
 * by the executor's own functions.  NOT NULL and CHECK constraints (the
 * application's too) and generated columns are evaluated from expressions
 * planned once per relcache version, where a statement would read them
 * back from the catalog on every execution.  What this skips -- triggers,
 * foreign-key queries, row security -- the caller answers for: a table is
 * written here only while it holds nothing of the kind but what the
 * extension defined, and its known columns keep their types and defaults
 * (its shape), so that whatever an application adds keeps working,
 * through the caller's SQL statements.  The verdict is kept per backend
 * until the table's relcache entry is invalidated.
 *
 * Everything runs in the caller's transaction and memory context; only
 * the shapes' verdicts outlive it.
 *
 * src/direct.c
 *
 *-------------------------------------------------------------------------
 */
#include "corsa_zendesk.h"

#include "access/genam.h"
#include "access/table.h"
#include "access/xact.h"
#include "catalog/namespace.h"
#include "executor/executor.h"
#include "optimizer/optimizer.h"
#include "parser/parse_relation.h"
#include "rewrite/rewriteHandler.h"
#include "storage/lmgr.h"
#include "access/sysattr.h"
#include "utils/fmgroids.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"

#include "direct.h"

#define MAX_SHAPES 8

/* the shapes seen, whose verdicts an invalidation forgets */
static ZdTableShape *shapes[MAX_SHAPES];
static int	nshapes = 0;

static void
shapes_invalidate(Datum arg, Oid relid)
{
	int			i;

	for (i = 0; i < nshapes; i++)
	{
		if (!OidIsValid(relid) || shapes[i]->relid == relid)
			shapes[i]->relid = InvalidOid;
	}
}

static void
remember_shape(ZdTableShape *shape)
{
	int			i;

	if (nshapes == 0)
		CacheRegisterRelcacheCallback(shapes_invalidate, (Datum) 0);
	for (i = 0; i < nshapes; i++)
	{
		if (shapes[i] == shape)
			return;
	}
	if (nshapes == MAX_SHAPES)
		elog(ERROR, "too many table shapes");
	shapes[nshapes++] = shape;
	shape->cxt = AllocSetContextCreate(CacheMemoryContext, "corsa_zendesk table shape",
									   ALLOCSET_SMALL_SIZES);
}

static bool
name_in(const char *name, const char *const *names)
{
	for (; *names != NULL; names++)
	{
		if (strcmp(name, *names) == 0)
			return true;
	}
	return false;
}

/* is this column's default now(), as the direct writes assume? */
static bool
default_is_now(Relation rel, AttrNumber attnum)
{
	Node	   *expr = build_column_default(rel, attnum);

	return expr != NULL && IsA(expr, FuncExpr) && ((FuncExpr *) expr)->funcid == F_NOW;
}

/*
 * known_columns
 *		Record the attribute numbers of the shape's columns; false when one
 *		is missing or has changed (its type, a default the writes would not
 *		give, generated or identity where it was not), or the table has a
 *		column of its own that a row written here would leave wrong (NOT
 *		NULL, a default, identity, generated).
 */
static bool
known_columns(ZdTableShape *shape, Relation rel, const char **reason)
{
	TupleDesc	desc = RelationGetDescr(rel);
	int			i;
	int			k;

	for (k = 0; shape->columns[k] != NULL; k++)
		shape->attnums[k] = InvalidAttrNumber;
	for (i = 0; i < desc->natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, i);
		const char *name = NameStr(att->attname);
		bool		unset;
		bool		as_defined;

		if (att->attisdropped)
			continue;
		for (k = 0; shape->columns[k] != NULL; k++)
		{
			if (strcmp(name, shape->columns[k]) == 0)
				break;
		}
		if (shape->columns[k] == NULL)
		{
			/* the application's: left null by every write here */
			if (att->attnotnull || att->atthasdef || att->attgenerated || att->attidentity)
			{
				*reason = psprintf("its column \"%s\" is NOT NULL, has a default or is generated",
								   name);
				return false;
			}
			continue;
		}
		shape->attnums[k] = att->attnum;
		unset = name_in(name, shape->unset);
		as_defined = att->atttypid == shape->types[k] && att->atttypmod == -1 &&
			(!att->attidentity || strcmp(name, "id") == 0) &&
			(!att->attgenerated || unset) &&
			(!unset || !att->atthasdef || att->attgenerated) &&
			(!name_in(name, shape->now_defaults) || default_is_now(rel, att->attnum));
		if (!as_defined)
		{
			*reason = psprintf("its column \"%s\" is not as the extension defines it "
							   "(type, default, generated or identity)", name);
			return false;
		}
	}
	for (k = 0; shape->columns[k] != NULL; k++)
	{
		if (shape->attnums[k] == InvalidAttrNumber)
		{
			*reason = psprintf("its column \"%s\" is missing", shape->columns[k]);
			return false;
		}
	}
	return true;
}

/* only the extension's own triggers (and foreign keys' checks) */
static bool
known_triggers(ZdTableShape *shape, TriggerDesc *trigdesc)
{
	int			i;

	for (i = 0; trigdesc != NULL && i < trigdesc->numtriggers; i++)
	{
		Trigger    *trig = &trigdesc->triggers[i];

		if (!trig->tgisinternal)
		{
			if (!name_in(trig->tgname, shape->triggers))
				return false;
		}
		else if (trig->tgfoid == F_RI_FKEY_CHECK_INS || trig->tgfoid == F_RI_FKEY_CHECK_UPD)
		{
			char	   *fk = get_constraint_name(trig->tgconstraint);

			if (fk == NULL || !name_in(fk, shape->foreign_keys))
				return false;
		}
		/* the other internal triggers act when a referenced key changes: never here */
	}
	return true;
}

/*
 * plan_expressions
 *		Plan the stored generated columns' expressions and the CHECK
 *		constraints, kept in the shape's context until an invalidation.
 */
static void
plan_expressions(ZdTableShape *shape, Relation rel)
{
	TupleDesc	desc = RelationGetDescr(rel);
	TupleConstr *constr = desc->constr;
	MemoryContext oldcxt = MemoryContextSwitchTo(shape->cxt);
	int			i;

	shape->ngenerated = 0;
	shape->generated_attnums = palloc(sizeof(AttrNumber) * desc->natts);
	shape->generated_exprs = palloc(sizeof(ExprState *) * desc->natts);
	for (i = 0; i < desc->natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, i);

		if (att->attgenerated == ATTRIBUTE_GENERATED_STORED && !att->attisdropped)
		{
			Expr	   *expr = (Expr *) build_column_default(rel, att->attnum);

			if (expr == NULL)
				elog(ERROR, "no generation expression found for column \"%s\" of %s",
					 NameStr(att->attname), RelationGetRelationName(rel));
			shape->generated_attnums[shape->ngenerated] = att->attnum;
			shape->generated_exprs[shape->ngenerated] = ExecInitExpr(expression_planner(expr),
																	 NULL);
			shape->ngenerated++;
		}
	}

	shape->nchecks = constr ? constr->num_check : 0;
	shape->check_names = palloc(sizeof(char *) * (shape->nchecks + 1));
	shape->check_exprs = palloc(sizeof(ExprState *) * (shape->nchecks + 1));
	for (i = 0; i < shape->nchecks; i++)
	{
		Expr	   *expr = (Expr *) stringToNode(constr->check[i].ccbin);

		shape->check_names[i] = pstrdup(constr->check[i].ccname);
		shape->check_exprs[i] = ExecInitCheck(list_make1(expression_planner(expr)), NULL);
	}
	MemoryContextSwitchTo(oldcxt);
}

/*
 * shape_allows_direct
 *		Does the table hold only what the extension defined (see the header
 *		comment)?  Records what the writes need.  Its indexes are open.
 */
static bool
shape_allows_direct(ZdTableShape *shape, Relation rel, ResultRelInfo *rri)
{
	const char *reason = NULL;
	int			i;

	MemoryContextReset(shape->cxt);
	shape->ngenerated = 0;
	shape->nchecks = 0;
	shape->unique_index_oid = InvalidOid;

	if (rel->rd_rel->relkind != RELKIND_RELATION)
		reason = "it is not a plain table";
	else if (rel->rd_rel->relrowsecurity)
		reason = "it has row security";
	else if (known_columns(shape, rel, &reason) && !known_triggers(shape, rel->trigdesc))
		reason = "it has a trigger or a foreign key of its own";
	for (i = 0; reason == NULL && i < rri->ri_NumIndices; i++)
	{
		Relation	index = rri->ri_IndexRelationDescs[i];

		if (!index->rd_index->indimmediate || rri->ri_IndexRelationInfo[i]->ii_ExclusionOps)
			reason = "it has a deferrable unique or an exclusion constraint";
		else if (strcmp(RelationGetRelationName(index), shape->unique_index) == 0)
			shape->unique_index_oid = RelationGetRelid(index);
	}
	if (reason == NULL && !OidIsValid(shape->unique_index_oid))
		reason = psprintf("its index \"%s\" is missing", shape->unique_index);

	if (reason != NULL)
	{
		/* once per change of the table: it explains a slower webhook */
		ereport(LOG,
				(errmsg("%s rows of webhooks are written with SQL statements: %s",
						shape->name, reason)));
		return false;
	}
	plan_expressions(shape, rel);
	return true;
}

/*
 * zd_direct_open
 *		Open the extension's table for direct writes, or return false
 *		(nothing open) when its rows must go through SQL: it holds what the
 *		application added, the transaction is not READ COMMITTED (a
 *		statement would raise serialization failures a direct write cannot
 *		see), or it may not write at all (read-only, a standby).
 *		speculative: rows will be inserted unless held.
 */
bool
zd_direct_open(ZdTableShape *shape, bool speculative, ZdDirectTable *t)
{
	Oid			relid;

	/* (a read-only transaction gets the statements' own error) */
	if (IsolationUsesXactSnapshot() || XactReadOnly || RecoveryInProgress())
		return false;
	relid = zd_relation_oid(shape->name);
	remember_shape(shape);
	if (shape->relid == relid && !shape->direct)
		return false;

	t->shape = shape;
	t->rel = table_open(relid, RowExclusiveLock);
	t->estate = CreateExecutorState();
	t->rri = makeNode(ResultRelInfo);
	InitResultRelInfo(t->rri, t->rel, 1, NULL, 0);
	ExecOpenIndices(t->rri, speculative);

	/* (opening may have processed an invalidation: decide again then) */
	if (shape->relid != relid)
	{
		shape->direct = shape_allows_direct(shape, t->rel, t->rri);
		shape->relid = relid;
	}
	if (!shape->direct)
	{
		ExecCloseIndices(t->rri);
		FreeExecutorState(t->estate);
		table_close(t->rel, RowExclusiveLock);
		return false;
	}
	t->slot = ExecInitExtraTupleSlot(t->estate, RelationGetDescr(t->rel), &TTSOpsVirtual);
	zd_direct_clear_row(t);
	return true;
}

void
zd_direct_close(ZdDirectTable *t)
{
	ExecCloseIndices(t->rri);
	ExecResetTupleTable(t->estate->es_tupleTable, false);
	FreeExecutorState(t->estate);
	table_close(t->rel, NoLock);
}

/* set column k (of the shape's list) of the row to write */
void
zd_direct_set(ZdDirectTable *t, int k, Datum value, bool isnull)
{
	int			i = t->shape->attnums[k] - 1;

	t->slot->tts_values[i] = value;
	t->slot->tts_isnull[i] = isnull;
	t->set_columns = bms_add_member(t->set_columns,
									t->shape->attnums[k] - FirstLowInvalidHeapAttributeNumber);
}

void
zd_direct_set_text(ZdDirectTable *t, int k, const char *value)
{
	zd_direct_set(t, k, value ? CStringGetTextDatum(value) : (Datum) 0, value == NULL);
}

void
zd_direct_set_int8(ZdDirectTable *t, int k, bool present, int64 value)
{
	zd_direct_set(t, k, Int64GetDatum(value), !present);
}

/* column k of a fetched row */
Datum
zd_direct_get(ZdDirectTable *t, TupleTableSlot *row, int k, bool *isnull)
{
	return slot_getattr(row, t->shape->attnums[k], isnull);
}

/* the row to write: all nulls */
void
zd_direct_clear_row(ZdDirectTable *t)
{
	ExecClearTuple(t->slot);
	memset(t->slot->tts_isnull, true, sizeof(bool) * RelationGetDescr(t->rel)->natts);
	t->set_columns = NULL;
}

/* the row to write: a copy of a fetched row (its values stay the row's) */
void
zd_direct_copy_row(ZdDirectTable *t, TupleTableSlot *row)
{
	int			natts = RelationGetDescr(t->rel)->natts;

	slot_getallattrs(row);
	ExecClearTuple(t->slot);
	memcpy(t->slot->tts_values, row->tts_values, sizeof(Datum) * natts);
	memcpy(t->slot->tts_isnull, row->tts_isnull, sizeof(bool) * natts);
	t->set_columns = NULL;
}

/*
 * finish_row
 *		Store the row to write, with its generated columns computed, and
 *		check it as ExecConstraints would: NOT NULL, then every CHECK.
 */
static void
finish_row(ZdDirectTable *t)
{
	ExprContext *econtext = GetPerTupleExprContext(t->estate);
	TupleDesc	desc = RelationGetDescr(t->rel);
	int			i;

	ExecStoreVirtualTuple(t->slot);
	econtext->ecxt_scantuple = t->slot;
	for (i = 0; i < t->shape->ngenerated; i++)
	{
		int			att = t->shape->generated_attnums[i] - 1;
		bool		isnull;

		t->slot->tts_values[att] = ExecEvalExpr(t->shape->generated_exprs[i], econtext,
												&isnull);
		t->slot->tts_isnull[att] = isnull;
	}
	for (i = 0; i < desc->natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, i);

		if (att->attnotnull && t->slot->tts_isnull[i])
			ereport(ERROR,
					(errcode(ERRCODE_NOT_NULL_VIOLATION),
					 errmsg("null value in column \"%s\" of relation \"%s\" violates not-null constraint",
							NameStr(att->attname), RelationGetRelationName(t->rel)),
					 errtablecol(t->rel, att->attnum)));
	}
	for (i = 0; i < t->shape->nchecks; i++)
	{
		if (!ExecCheck(t->shape->check_exprs[i], econtext))
			ereport(ERROR,
					(errcode(ERRCODE_CHECK_VIOLATION),
					 errmsg("new row for relation \"%s\" violates check constraint \"%s\"",
							RelationGetRelationName(t->rel), t->shape->check_names[i]),
					 errtableconstraint(t->rel, t->shape->check_names[i])));
	}
}

/*
 * zd_direct_insert_unless_held
 *		Insert the row unless the shape's unique index holds its key, as
 *		INSERT ... ON CONFLICT does (speculative insertion: an inserter of
 *		the same key still in progress is waited for); false when it is
 *		held.  The table must be open with speculative set.
 */
bool
zd_direct_insert_unless_held(ZdDirectTable *t)
{
	List	   *arbiters = list_make1_oid(t->shape->unique_index_oid);

	finish_row(t);
	for (;;)
	{
		ItemPointerData conflict;
		uint32		token;
		bool		spec_conflict = false;

		if (!ExecCheckIndexConstraints(t->rri, t->slot, t->estate, &conflict, arbiters))
			return false;
		token = SpeculativeInsertionLockAcquire(GetCurrentTransactionId());
		table_tuple_insert_speculative(t->rel, t->slot, GetCurrentCommandId(true), 0, NULL,
									   token);
		(void) ExecInsertIndexTuples(t->rri, t->slot, t->estate, false, true, &spec_conflict,
									 arbiters);
		table_tuple_complete_speculative(t->rel, t->slot, token, !spec_conflict);
		SpeculativeInsertionLockRelease(GetCurrentTransactionId());
		if (!spec_conflict)
		{
			CommandCounterIncrement();
			return true;
		}
		/* another transaction inserted the key meanwhile: look again */
	}
}

/*
 * zd_direct_fetch_locked
 *		The newest version of the row whose key in the shape's unique index
 *		-- (connection_id, a Zendesk id) -- is this, locked in the given
 *		mode, in row; false when there is none.  A writer still in progress
 *		is waited for, as INSERT ... ON CONFLICT waits.
 */
bool
zd_direct_fetch_locked(ZdDirectTable *t, int32 connection_id, int64 zendesk_id,
					   LockTupleMode mode, TupleTableSlot *row)
{
	Relation	index = NULL;
	ScanKeyData keys[2];
	int			i;

	for (i = 0; i < t->rri->ri_NumIndices; i++)
	{
		if (RelationGetRelid(t->rri->ri_IndexRelationDescs[i]) == t->shape->unique_index_oid)
			index = t->rri->ri_IndexRelationDescs[i];
	}
	if (index == NULL)
		elog(ERROR, "index \"%s\" of %s is not open", t->shape->unique_index, t->shape->name);
	ScanKeyInit(&keys[0], 1, BTEqualStrategyNumber, F_INT4EQ, Int32GetDatum(connection_id));
	ScanKeyInit(&keys[1], 2, BTEqualStrategyNumber, F_INT8EQ, Int64GetDatum(zendesk_id));

	for (;;)
	{
		SnapshotData dirty;
		IndexScanDesc scan;
		TransactionId xwait = InvalidTransactionId;
		TM_FailureData tmfd;
		TM_Result	result;
		bool		found;

		InitDirtySnapshot(dirty);
		scan = index_beginscan(t->rel, index, &dirty, 2, 0);
		index_rescan(scan, keys, 2, NULL, 0);
		found = index_getnext_slot(scan, ForwardScanDirection, row);
		if (found)
			xwait = TransactionIdIsValid(dirty.xmin) ? dirty.xmin : dirty.xmax;
		index_endscan(scan);
		if (!found)
			return false;
		if (TransactionIdIsValid(xwait))
		{
			/* an insert in progress (only its speculative one, if so), or a change */
			if (dirty.speculativeToken != 0)
				SpeculativeInsertionWait(dirty.xmin, dirty.speculativeToken);
			else
				XactLockTableWait(xwait, NULL, NULL, XLTW_None);
			continue;
		}

		/*
		 * A key-share lock also locks the versions an update in progress
		 * makes, as a foreign-key check's does (ExecLockRows); a stronger
		 * one waits for it, and the row is then found again.
		 */
		result = table_tuple_lock(t->rel, &row->tts_tid, GetLatestSnapshot(), row,
								  GetCurrentCommandId(false), mode, LockWaitBlock,
								  mode == LockTupleKeyShare ?
								  TUPLE_LOCK_FLAG_LOCK_UPDATE_IN_PROGRESS : 0, &tmfd);
		if (result == TM_Ok)
			return true;
		if (result != TM_Updated && result != TM_Deleted)
			elog(ERROR, "unexpected result %d locking a row of %s", (int) result,
				 t->shape->name);
		/* changed since it was found: find it again */
	}
}

/*
 * zd_direct_update
 *		Replace the locked row old by the row to write.
 */
void
zd_direct_update(ZdDirectTable *t, TupleTableSlot *old)
{
	bool		update_indexes;

	RangeTblEntry *rte = makeNode(RangeTblEntry);

	finish_row(t);
	CheckCmdReplicaIdentity(t->rel, CMD_UPDATE);
	simple_table_tuple_update(t->rel, &old->tts_tid, t->slot, GetActiveSnapshot(),
							  &update_indexes);
	if (update_indexes)
	{
		/*
		 * The columns set, as a statement's range table says them, tell
		 * the indexes whose key did not change (btree's bottom-up deletion
		 * of the versions an update leaves behind).
		 */
		rte->rtekind = RTE_RELATION;
		rte->relid = RelationGetRelid(t->rel);
		rte->relkind = t->rel->rd_rel->relkind;
		rte->rellockmode = RowExclusiveLock;
		rte->updatedCols = t->set_columns;
		ExecInitRangeTable(t->estate, list_make1(rte));
		(void) ExecInsertIndexTuples(t->rri, t->slot, t->estate, true, false, NULL, NIL);
	}
	CommandCounterIncrement();
}

/*
 * zd_direct_lock_key_share
 *		Lock a row as a foreign-key check locks the row it refers to (FOR
 *		KEY SHARE, its newest version under READ COMMITTED, and what an
 *		update in progress makes of it, as ExecLockRows does), so that it
 *		cannot be deleted before the rows written directly that refer to it
 *		commit.  A row deleted meanwhile is a serialization failure.
 */
void
zd_direct_lock_key_share(Relation rel, ItemPointer tid)
{
	TupleTableSlot *row = table_slot_create(rel, NULL);
	TM_FailureData tmfd;
	TM_Result	result;

	result = table_tuple_lock(rel, tid, GetLatestSnapshot(), row, GetCurrentCommandId(false),
							  LockTupleKeyShare, LockWaitBlock,
							  TUPLE_LOCK_FLAG_LOCK_UPDATE_IN_PROGRESS |
							  (IsolationUsesXactSnapshot() ? 0 : TUPLE_LOCK_FLAG_FIND_LAST_VERSION),
							  &tmfd);
	ExecDropSingleTupleTableSlot(row);
	if (result != TM_Ok)
		ereport(ERROR,
				(errcode(ERRCODE_T_R_SERIALIZATION_FAILURE),
				 errmsg("could not serialize access due to concurrent update of %s",
						RelationGetRelationName(rel))));
}

/*
 * zd_read_begin
 *		Start reading the extension's table relname, by the key of its
 *		index indexname, or whole.  The snapshot is SPI's for a statement
 *		that may write, so the transaction's earlier commands are seen (a
 *		caller that has just written in the current command increments it
 *		first); zd_read_end must follow before any other snapshot is pushed.
 */
void
zd_read_begin(ZdTableRead *r, const char *relname, const char *indexname, ScanKey keys,
			  int nkeys)
{
	Snapshot	snapshot;

	PushActiveSnapshot(GetTransactionSnapshot());
	UpdateActiveSnapshotCommandId();
	snapshot = GetActiveSnapshot();

	r->rel = table_open(zd_relation_oid(relname), AccessShareLock);
	r->row = table_slot_create(r->rel, NULL);
	r->index = NULL;
	r->index_scan = NULL;
	r->heap_scan = NULL;
	if (indexname != NULL)
	{
		r->index = index_open(zd_relation_oid(indexname), AccessShareLock);
		r->index_scan = index_beginscan(r->rel, r->index, snapshot, nkeys, 0);
		index_rescan(r->index_scan, keys, nkeys, NULL, 0);
	}
	else
		r->heap_scan = table_beginscan(r->rel, snapshot, 0, NULL);
}

/* the next row, in r->row; false at the end */
bool
zd_read_next(ZdTableRead *r)
{
	if (r->index_scan != NULL)
		return index_getnext_slot(r->index_scan, ForwardScanDirection, r->row);
	return table_scan_getnextslot(r->heap_scan, ForwardScanDirection, r->row);
}

/* a column of the row read, by name */
Datum
zd_read_column(ZdTableRead *r, const char *column, bool *isnull)
{
	return slot_getattr(r->row, attnameAttNum(r->rel, column, false), isnull);
}

/* end the read; its locks stay until the end of the transaction, as a statement's */
void
zd_read_end(ZdTableRead *r)
{
	if (r->index_scan != NULL)
	{
		index_endscan(r->index_scan);
		index_close(r->index, NoLock);
	}
	else
		table_endscan(r->heap_scan);
	ExecDropSingleTupleTableSlot(r->row);
	table_close(r->rel, NoLock);
	PopActiveSnapshot();
}
