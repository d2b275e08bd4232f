/*-------------------------------------------------------------------------
 *
 * launcher.c
 *		The corsa_zendesk launcher: one background process per cluster that
 *		starts a worker in every database where the extension is created.
 *
 * There is no database-name setting.  The launcher connects to no
 * database; it scans pg_database (shared catalog) and keeps one slot per
 * database in shared memory.  A database it has not seen yet gets a worker
 * that looks for the extension and exits at once, marking the slot
 * NOT_INSTALLED, when there is none.  CREATE EXTENSION wakes the launcher at
 * commit (wake.c) so that such a database gets its worker without waiting
 * for the next scan.  A worker that dies is restarted with backoff.
 *
 * Like every worker of ours, the launcher starts only once recovery has
 * finished, so nothing runs on a standby; after promotion it starts and
 * the workers continue from the cursors persisted in their database.
 *
 * src/launcher.c
 *
 *-------------------------------------------------------------------------
 */
#include "corsa_zendesk.h"

#include <signal.h>

#include "access/heapam.h"
#include "access/htup_details.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "catalog/pg_database.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/proc.h"
#include "tcop/tcopprot.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"

/* restart backoff for a worker that keeps dying: 1 s, 2 s, 4 s ... 60 s */
#define ZD_RESTART_MIN_MS	1000
#define ZD_RESTART_MAX_MS	60000
/* a worker that ran this long before dying starts a fresh backoff */
#define ZD_HEALTHY_RUN_MS	60000

/* Launcher-local bookkeeping, indexed like zd_shared->slots. */
typedef struct LauncherSlotLocal
{
	BackgroundWorkerHandle *handle;
	TimestampTz started_at;
} LauncherSlotLocal;

static LauncherSlotLocal *local_slots = NULL;
static MemoryContext launcher_context = NULL;
static bool start_failure_reported = false;

static void launcher_attach(void);
static void launcher_detach(int code, Datum arg);
static void launcher_terminate_orphans(void);
static void launcher_scan_databases(void);
static long launcher_manage_slots(void);
static bool launcher_start_worker(int slotno);

/* 1 s, 2 s, 4 s ... up to a minute */
static long
restart_delay_ms(int failures)
{
	return Min((long) ZD_RESTART_MIN_MS << Max(failures - 1, 0), (long) ZD_RESTART_MAX_MS);
}

/*
 * zd_register_launcher
 *		Register the launcher as a static background worker (postmaster,
 *		while preloading).
 */
void
zd_register_launcher(void)
{
	BackgroundWorker worker;

	memset(&worker, 0, sizeof(worker));
	worker.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
	worker.bgw_start_time = BgWorkerStart_RecoveryFinished;
	worker.bgw_restart_time = 5;
	snprintf(worker.bgw_library_name, BGW_MAXLEN, ZD_EXTENSION_NAME);
	snprintf(worker.bgw_function_name, BGW_MAXLEN, "zd_launcher_main");
	snprintf(worker.bgw_name, BGW_MAXLEN, ZD_LAUNCHER_TYPE);
	snprintf(worker.bgw_type, BGW_MAXLEN, ZD_LAUNCHER_TYPE);
	RegisterBackgroundWorker(&worker);
}

/*
 * zd_launcher_main
 *		Entry point of the launcher.  Loops until SIGTERM or postmaster
 *		death; errors end the process, and the postmaster restarts it.
 */
void
zd_launcher_main(Datum main_arg)
{
	TimestampTz last_scan = 0;

	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	pqsignal(SIGTERM, die);
	BackgroundWorkerUnblockSignals();

	/* shared catalogs only */
	BackgroundWorkerInitializeConnection(NULL, NULL, 0);
	pgstat_report_appname(ZD_LAUNCHER_TYPE);

	launcher_context = AllocSetContextCreate(TopMemoryContext,
											 "corsa_zendesk launcher",
											 ALLOCSET_DEFAULT_SIZES);
	local_slots = MemoryContextAllocZero(TopMemoryContext,
										 sizeof(LauncherSlotLocal) * zd_shared->nslots);

	launcher_attach();
	launcher_terminate_orphans();

	ereport(LOG, (errmsg("corsa_zendesk launcher started")));

	for (;;)
	{
		TimestampTz now;
		long		timeout_ms;

		CHECK_FOR_INTERRUPTS();

		if (ConfigReloadPending)
		{
			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
		}

		now = GetCurrentTimestamp();
		if (pg_atomic_exchange_u32(&zd_shared->rescan_requested, 0) != 0 ||
			TimestampDifferenceExceeds(last_scan, now, zd_launcher_naptime * 1000))
		{
			launcher_scan_databases();
			last_scan = now;
		}

		timeout_ms = Min(launcher_manage_slots(), zd_launcher_naptime * 1000L);

		pgstat_report_activity(STATE_IDLE, NULL);
		(void) WaitLatch(MyLatch,
						 WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 timeout_ms,
						 PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
		MemoryContextReset(launcher_context);
	}
}

/*
 * launcher_attach
 *		Publish our identity so that backends can wake us.
 */
static void
launcher_attach(void)
{
	LWLockAcquire(zd_shared->lock, LW_EXCLUSIVE);
	zd_shared->launcher_pid = MyProcPid;
	zd_shared->launcher_procno = MyProc->pgprocno;
	LWLockRelease(zd_shared->lock);
	before_shmem_exit(launcher_detach, 0);
}

static void
launcher_detach(int code, Datum arg)
{
	LWLockAcquire(zd_shared->lock, LW_EXCLUSIVE);
	if (zd_shared->launcher_pid == MyProcPid)
	{
		zd_shared->launcher_pid = 0;
		zd_shared->launcher_procno = -1;
	}
	LWLockRelease(zd_shared->lock);
}

/*
 * launcher_terminate_orphans
 *		A restarted launcher has no handles for the workers its predecessor
 *		started.  End them; bumping every slot's generation also makes a
 *		worker that was registered but has not started yet exit on arrival.
 *		Slots are re-probed from scratch.
 */
static void
launcher_terminate_orphans(void)
{
	int			i;

	LWLockAcquire(zd_shared->lock, LW_EXCLUSIVE);
	for (i = 0; i < zd_shared->nslots; i++)
	{
		ZdDatabaseSlot *slot = &zd_shared->slots[i];

		if (slot->state == ZD_SLOT_FREE)
			continue;
		slot->generation++;
		if (slot->worker_pid != 0)
			(void) kill(slot->worker_pid, SIGTERM);
		if (slot->state != ZD_SLOT_PAUSED)
			slot->state = ZD_SLOT_UNKNOWN;
	}
	LWLockRelease(zd_shared->lock);
}

/*
 * launcher_scan_databases
 *		Give every connectable, non-template database a slot, and free the
 *		slots of databases that are gone.  Runs a short transaction.
 */
static void
launcher_scan_databases(void)
{
	List	   *dboids = NIL;
	Relation	rel;
	TableScanDesc scan;
	HeapTuple	tup;
	MemoryContext oldcxt;
	int			i;
	ListCell   *lc;

	pgstat_report_activity(STATE_RUNNING, "scanning pg_database");
	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	(void) GetTransactionSnapshot();

	rel = table_open(DatabaseRelationId, AccessShareLock);
	scan = table_beginscan_catalog(rel, 0, NULL);
	while ((tup = heap_getnext(scan, ForwardScanDirection)) != NULL)
	{
		Form_pg_database db = (Form_pg_database) GETSTRUCT(tup);

		if (!db->datallowconn || db->datistemplate ||
			database_is_invalid_form(db))
			continue;
		oldcxt = MemoryContextSwitchTo(launcher_context);
		dboids = lappend_oid(dboids, db->oid);
		MemoryContextSwitchTo(oldcxt);
	}
	table_endscan(scan);
	table_close(rel, AccessShareLock);
	CommitTransactionCommand();

	LWLockAcquire(zd_shared->lock, LW_EXCLUSIVE);

	/* forget databases that no longer exist (their worker is gone too) */
	for (i = 0; i < zd_shared->nslots; i++)
	{
		ZdDatabaseSlot *slot = &zd_shared->slots[i];

		if (slot->state == ZD_SLOT_FREE || list_member_oid(dboids, slot->dboid))
			continue;
		if (slot->worker_pid != 0 || local_slots[i].handle != NULL)
			continue;
		slot->state = ZD_SLOT_FREE;
	}

	foreach(lc, dboids)
	{
		Oid			dboid = lfirst_oid(lc);
		ZdDatabaseSlot *slot = NULL;

		if (zd_find_slot(dboid) != NULL)
			continue;
		for (i = 0; i < zd_shared->nslots; i++)
		{
			if (zd_shared->slots[i].state == ZD_SLOT_FREE &&
				local_slots[i].handle == NULL)
			{
				slot = &zd_shared->slots[i];
				break;
			}
		}
		if (slot == NULL)
		{
			ereport(WARNING,
					(errcode(ERRCODE_CONFIGURATION_LIMIT_EXCEEDED),
					 errmsg("corsa_zendesk cannot track more than %d databases",
							zd_shared->nslots),
					 errhint("Increase corsa_zendesk.max_databases.")));
			break;
		}
		slot->dboid = dboid;
		slot->state = ZD_SLOT_UNKNOWN;
		slot->worker_pid = 0;
		slot->worker_procno = -1;
		slot->failures = 0;
		slot->generation++;
		pg_atomic_write_u32(&slot->wake_requested, 0);
		pg_atomic_write_u64(&slot->reply_push_at, 0);
	}
	LWLockRelease(zd_shared->lock);
}

/*
 * launcher_manage_slots
 *		Notice exited workers and start the ones that are due.  Returns how
 *		long the launcher may sleep before something else becomes due.
 */
static long
launcher_manage_slots(void)
{
	TimestampTz now = GetCurrentTimestamp();
	long		sleep_ms = LONG_MAX;
	int			i;

	LWLockAcquire(zd_shared->lock, LW_EXCLUSIVE);
	for (i = 0; i < zd_shared->nslots; i++)
	{
		ZdDatabaseSlot *slot = &zd_shared->slots[i];
		LauncherSlotLocal *local = &local_slots[i];
		bool		start = false;

		if (slot->state == ZD_SLOT_FREE)
			continue;

		/* has the worker we started gone away? */
		if (local->handle != NULL)
		{
			pid_t		pid;

			if (GetBackgroundWorkerPid(local->handle, &pid) == BGWH_STOPPED)
			{
				pfree(local->handle);
				local->handle = NULL;
				if (slot->state == ZD_SLOT_RUNNING && !zd_enabled)
					slot->state = ZD_SLOT_UNKNOWN;	/* we stopped it */
				else if (slot->state == ZD_SLOT_RUNNING)
				{
					/* it did not leave on purpose: restart with backoff */
					if (TimestampDifferenceExceeds(local->started_at, now, ZD_HEALTHY_RUN_MS))
						slot->failures = 0;
					slot->failures = Min(slot->failures + 1, 16);
					slot->state = ZD_SLOT_RESTART_WAIT;
					slot->restart_at = TimestampTzPlusMilliseconds(now, restart_delay_ms(slot->failures));
				}
			}
			else if (!zd_enabled)
				TerminateBackgroundWorker(local->handle);
		}

		switch (slot->state)
		{
			case ZD_SLOT_UNKNOWN:
				start = true;
				break;
			case ZD_SLOT_NOT_INSTALLED:
				start = pg_atomic_exchange_u32(&slot->wake_requested, 0) != 0;
				break;
			case ZD_SLOT_RESTART_WAIT:
				if (now >= slot->restart_at)
					start = true;
				else
					sleep_ms = Min(sleep_ms, TimestampDifferenceMilliseconds(now, slot->restart_at));
				break;
			case ZD_SLOT_PAUSED:
				if (now >= slot->paused_until)
				{
					slot->state = ZD_SLOT_UNKNOWN;
					start = true;
				}
				else
					sleep_ms = Min(sleep_ms, TimestampDifferenceMilliseconds(now, slot->paused_until));
				break;
			default:
				break;
		}

		/* one process per database: wait until a previous one detached */
		if (start && zd_enabled && local->handle == NULL && slot->worker_pid == 0)
		{
			if (launcher_start_worker(i))
			{
				slot->state = ZD_SLOT_RUNNING;
				local->started_at = now;
			}
			else
			{
				/* no free background worker slot (yet): try again soon */
				slot->failures = Min(slot->failures + 1, 16);
				slot->state = ZD_SLOT_RESTART_WAIT;
				slot->restart_at = TimestampTzPlusMilliseconds(now, restart_delay_ms(slot->failures));
			}
		}
		else if (start && slot->worker_pid != 0)
			sleep_ms = Min(sleep_ms, 100);
	}
	LWLockRelease(zd_shared->lock);

	return Max(sleep_ms, 10);
}

/*
 * launcher_start_worker
 *		Register a dynamic worker for a slot.  Caller holds the lock.
 */
static bool
launcher_start_worker(int slotno)
{
	ZdDatabaseSlot *slot = &zd_shared->slots[slotno];
	BackgroundWorker worker;
	BackgroundWorkerHandle *handle;
	MemoryContext oldcxt;
	bool		ok;

	memset(&worker, 0, sizeof(worker));
	worker.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
	worker.bgw_start_time = BgWorkerStart_RecoveryFinished;
	worker.bgw_restart_time = BGW_NEVER_RESTART;
	snprintf(worker.bgw_library_name, BGW_MAXLEN, ZD_EXTENSION_NAME);
	snprintf(worker.bgw_function_name, BGW_MAXLEN, "zd_worker_main");
	snprintf(worker.bgw_name, BGW_MAXLEN, "%s for database %u",
			 ZD_WORKER_TYPE, slot->dboid);
	snprintf(worker.bgw_type, BGW_MAXLEN, ZD_WORKER_TYPE);
	worker.bgw_main_arg = ObjectIdGetDatum(slot->dboid);
	slot->generation++;
	memcpy(worker.bgw_extra, &slot->generation, sizeof(uint32));
	worker.bgw_notify_pid = MyProcPid;

	oldcxt = MemoryContextSwitchTo(TopMemoryContext);
	ok = RegisterDynamicBackgroundWorker(&worker, &handle);
	MemoryContextSwitchTo(oldcxt);

	if (!ok)
	{
		if (!start_failure_reported)
			ereport(WARNING,
					(errcode(ERRCODE_INSUFFICIENT_RESOURCES),
					 errmsg("could not start a corsa_zendesk worker for database %u",
							slot->dboid),
					 errhint("Increase max_worker_processes: the launcher needs one "
							 "background worker per database with the extension.")));
		start_failure_reported = true;
		return false;
	}
	start_failure_reported = false;
	local_slots[slotno].handle = handle;
	return true;
}
