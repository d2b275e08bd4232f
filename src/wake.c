/*-------------------------------------------------------------------------
 *
 * wake.c
 *		Commit-time wake-up of the database's worker.
 *
 * A transaction that queues work (a push, a poll, a full sync) calls
 * zd_wake_at_commit().  Nothing happens until the transaction commits: the
 * transaction callback then flags the database's slot and sets the
 * worker's latch, so the worker finds committed rows when it looks.  An
 * aborted or prepared transaction wakes nobody.  When no worker is attached
 * to the database the launcher is woken instead and starts one.
 *
 * src/wake.c
 *
 *-------------------------------------------------------------------------
 */
#include "corsa_zendesk.h"

#include "access/xact.h"
#include "miscadmin.h"

static uint32 wake_pending = 0;	/* ZD_WAKE_* bits for the next commit */
static bool callback_registered = false;

static void zd_wake_xact_callback(XactEvent event, void *arg);

PG_FUNCTION_INFO_V1(zd_wake_worker);
PG_FUNCTION_INFO_V1(zd_worker_pid);

/*
 * zd_wake_at_commit
 *		Ask for the current database's worker to be woken, for these
 *		ZD_WAKE_* reasons, when the current transaction commits.  Cheap
 *		enough to call once per queued row.
 */
void
zd_wake_at_commit(uint32 reasons)
{
	if (zd_shared == NULL)
		return;					/* not preloaded: there is no worker */

	if (!callback_registered)
	{
		RegisterXactCallback(zd_wake_xact_callback, NULL);
		callback_registered = true;
	}
	wake_pending |= reasons;
}

static void
zd_wake_xact_callback(XactEvent event, void *arg)
{
	switch (event)
	{
		case XACT_EVENT_COMMIT:
		case XACT_EVENT_PARALLEL_COMMIT:
			if (wake_pending != 0)
			{
				uint32		reasons = wake_pending;

				wake_pending = 0;
				zd_wake_database_now(MyDatabaseId, reasons);
			}
			break;
		case XACT_EVENT_ABORT:
		case XACT_EVENT_PARALLEL_ABORT:
		case XACT_EVENT_PREPARE:
			wake_pending = 0;
			break;
		default:
			break;
	}
}

/*
 * zd_wake_database_now
 *		Add the reasons to a database's slot and set the latch of its
 *		worker, or of the launcher when no worker is attached.  Never raises
 *		an error, so it is safe in a commit callback.
 */
void
zd_wake_database_now(Oid dboid, uint32 reasons)
{
	ZdDatabaseSlot *slot;
	int			procno = -1;

	if (zd_shared == NULL)
		return;

	LWLockAcquire(zd_shared->lock, LW_SHARED);
	slot = zd_find_slot(dboid);
	if (slot != NULL)
	{
		pg_atomic_fetch_or_u32(&slot->wake_requested, reasons);
		procno = slot->worker_procno;
	}
	if (procno < 0)
	{
		pg_atomic_write_u32(&zd_shared->rescan_requested, 1);
		procno = zd_shared->launcher_procno;
	}
	LWLockRelease(zd_shared->lock);

	zd_set_latch_by_procno(procno);
}

/*
 * zd_warn_if_worker_unavailable
 *		Say so when queued work cannot start because no worker can run.
 */
void
zd_warn_if_worker_unavailable(const char *what)
{
	if (!zd_preloaded)
		ereport(WARNING,
				(errmsg("the corsa_zendesk background worker is not running, so %s will not start", what),
				 errdetail("corsa_zendesk is not in shared_preload_libraries."),
				 errhint("Add corsa_zendesk to shared_preload_libraries and restart the server.")));
	else if (!zd_enabled)
		ereport(WARNING,
				(errmsg("the corsa_zendesk background worker is switched off, so %s will not start", what),
				 errhint("Set corsa_zendesk.enabled = on and reload the configuration.")));
}

/*
 * zd_wake_worker() RETURNS void
 *		SQL entry point of zd_wake_at_commit, for triggers and scripts: the
 *		worker looks at everything.
 */
Datum
zd_wake_worker(PG_FUNCTION_ARGS)
{
	zd_wake_at_commit(ZD_WAKE_ALL);
	PG_RETURN_VOID();
}

/*
 * zd_worker_pid() RETURNS integer
 *		Process id of this database's worker, NULL when none runs.
 */
Datum
zd_worker_pid(PG_FUNCTION_ARGS)
{
	int			pid = zd_worker_pid_for(MyDatabaseId);

	if (pid == 0)
		PG_RETURN_NULL();
	PG_RETURN_INT32(pid);
}
