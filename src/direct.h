/*-------------------------------------------------------------------------
 *
 * direct.h
 *		Rows written straight into a table's heap and indexes, as logical
 *		replication's apply writes them (direct.c), for tables that hold
 *		only what the extension defined.
 *
 * src/direct.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef ZD_DIRECT_H
#define ZD_DIRECT_H

#include "postgres.h"

#include "access/genam.h"
#include "access/tableam.h"
#include "executor/tuptable.h"
#include "nodes/execnodes.h"
#include "utils/relcache.h"

#define ZD_DIRECT_MAX_COLUMNS 40

/*
 * A table of the extension as this code knows it: what it may hold for
 * rows to be written directly, and the verdict, kept per backend until
 * the table's relcache entry is invalidated.
 */
typedef struct ZdTableShape
{
	/* set by the caller */
	const char *name;
	const char *const *columns; /* the columns written or kept, NULL-ended */
	const Oid  *types;			/* their types */
	const char *const *unset;	/* those an insert leaves null (or generated) */
	const char *const *now_defaults;	/* those an insert sets to now(), as
										 * their default does */
	const char *const *triggers;	/* the extension's own triggers */
	const char *const *foreign_keys;	/* its foreign keys */
	const char *unique_index;	/* the key rows are found and deduplicated by */

	/* the verdict, and what it found */
	Oid			relid;			/* InvalidOid: none yet, or forgotten */
	bool		direct;
	Oid			unique_index_oid;
	AttrNumber	attnums[ZD_DIRECT_MAX_COLUMNS];
	MemoryContext cxt;			/* for what follows */
	int			ngenerated;		/* stored generated columns */
	AttrNumber *generated_attnums;
	ExprState **generated_exprs;
	int			nchecks;		/* CHECK constraints, the application's too */
	const char **check_names;
	ExprState **check_exprs;
} ZdTableShape;

/* a table opened for a direct write */
typedef struct ZdDirectTable
{
	ZdTableShape *shape;
	Relation	rel;
	EState	   *estate;
	ResultRelInfo *rri;
	TupleTableSlot *slot;		/* the row to write (virtual) */
	Bitmapset  *set_columns;	/* those set since it was cleared or copied */
} ZdDirectTable;

/*
 * A read of one of the extension's tables as a statement that may write
 * would see it (earlier commands of the transaction included): by an
 * index's key, or the whole table when no index is named.
 */
typedef struct ZdTableRead
{
	Relation	rel;
	Relation	index;
	IndexScanDesc index_scan;
	TableScanDesc heap_scan;
	TupleTableSlot *row;		/* the row read */
} ZdTableRead;

extern void zd_read_begin(ZdTableRead *r, const char *relname, const char *indexname,
						  ScanKey keys, int nkeys);
extern bool zd_read_next(ZdTableRead *r);
extern Datum zd_read_column(ZdTableRead *r, const char *column, bool *isnull);
extern void zd_read_end(ZdTableRead *r);

extern bool zd_direct_open(ZdTableShape *shape, bool speculative, ZdDirectTable *t);
extern void zd_direct_close(ZdDirectTable *t);

extern void zd_direct_set(ZdDirectTable *t, int k, Datum value, bool isnull);
extern void zd_direct_set_text(ZdDirectTable *t, int k, const char *value);
extern void zd_direct_set_int8(ZdDirectTable *t, int k, bool present, int64 value);
extern Datum zd_direct_get(ZdDirectTable *t, TupleTableSlot *row, int k, bool *isnull);
extern void zd_direct_copy_row(ZdDirectTable *t, TupleTableSlot *row);
extern void zd_direct_clear_row(ZdDirectTable *t);

extern bool zd_direct_insert_unless_held(ZdDirectTable *t);
extern bool zd_direct_fetch_locked(ZdDirectTable *t, int32 connection_id, int64 zendesk_id,
								   LockTupleMode mode, TupleTableSlot *row);
extern void zd_direct_update(ZdDirectTable *t, TupleTableSlot *old);
extern void zd_direct_lock_key_share(Relation rel, ItemPointer tid);

#endif							/* ZD_DIRECT_H */
