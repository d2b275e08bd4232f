/*-------------------------------------------------------------------------
 *
 * worker.c
 *		The per-database worker: attaches to its launcher slot, checks that
 *		the extension is there, recovers what a previous incarnation left
 *		half done, then loops over its tasks until told to stop.
 *
 * Transactions are short and never span a request to Zendesk.  Errors in
 * a task are caught, written to the server log and to zd_sync_log, and the
 * loop goes on; SIGTERM and postmaster death end the process promptly.
 *
 * src/worker.c
 *
 *-------------------------------------------------------------------------
 */
#include "corsa_zendesk.h"

#include "access/xact.h"
#include "catalog/pg_type_d.h"
#include "commands/dbcommands.h"
#include "commands/extension.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/proc.h"
#include "tcop/tcopprot.h"
#include "utils/builtins.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"

#include "worker.h"

/* how often the worker re-checks, unprompted, that the extension exists */
#define ZD_EXTENSION_CHECK_MS	10000
/* how often old log entries are trimmed */
#define ZD_MAINTENANCE_MS		(3600 * 1000)

static ZdDatabaseSlot *my_slot = NULL;
static MemoryContext loop_context = NULL;

static bool worker_attach(Oid dboid, uint32 generation);
static void worker_detach(int code, Datum arg);
static void worker_leave(ZdSlotState state);
static bool worker_extension_present(void);
static void worker_maintenance(void *arg);

/*
 * zd_worker_main
 *		Entry point of the worker of one database (bgw_main_arg: its OID).
 */
void
zd_worker_main(Datum main_arg)
{
	Oid			dboid = DatumGetObjectId(main_arg);
	uint32		generation;
	TimestampTz last_extension_check;
	TimestampTz next_maintenance;

	memcpy(&generation, MyBgworkerEntry->bgw_extra, sizeof(uint32));

	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	pqsignal(SIGTERM, die);
	BackgroundWorkerUnblockSignals();

	BackgroundWorkerInitializeConnectionByOid(dboid, InvalidOid, 0);
	pgstat_report_appname(ZD_WORKER_TYPE);

	if (!worker_attach(dboid, generation))
		proc_exit(0);			/* superseded by a newer start */

	if (!worker_extension_present())
	{
		worker_leave(ZD_SLOT_NOT_INSTALLED);
		proc_exit(0);
	}

	loop_context = AllocSetContextCreate(TopMemoryContext,
										 "corsa_zendesk worker loop",
										 ALLOCSET_DEFAULT_SIZES);

	StartTransactionCommand();
	ereport(LOG,
			(errmsg("corsa_zendesk worker started in database \"%s\"",
					get_database_name(dboid))));
	CommitTransactionCommand();

	zd_worker_guarded("recovery", zd_worker_recover, NULL);

	last_extension_check = GetCurrentTimestamp();
	next_maintenance = last_extension_check;

	for (;;)
	{
		TimestampTz now;
		long		timeout_ms = ZD_EXTENSION_CHECK_MS;
		bool		woken;

		CHECK_FOR_INTERRUPTS();
		if (ConfigReloadPending)
		{
			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
		}

		now = GetCurrentTimestamp();
		woken = pg_atomic_exchange_u32(&my_slot->wake_requested, 0) != 0;

		/* DROP EXTENSION wakes us at commit; also look now and then */
		if (woken ||
			TimestampDifferenceExceeds(last_extension_check, now, ZD_EXTENSION_CHECK_MS))
		{
			if (!worker_extension_present())
			{
				ereport(LOG,
						(errmsg("corsa_zendesk worker exiting: the extension was dropped")));
				worker_leave(ZD_SLOT_NOT_INSTALLED);
				proc_exit(0);
			}
			last_extension_check = now;
		}

		if (now >= next_maintenance)
		{
			zd_worker_guarded("maintenance", worker_maintenance, NULL);
			next_maintenance = TimestampTzPlusMilliseconds(now, ZD_MAINTENANCE_MS);
		}

		MemoryContextReset(loop_context);

		pgstat_report_activity(STATE_IDLE, NULL);
		(void) WaitLatch(MyLatch,
						 WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 timeout_ms,
						 PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
	}
}

/*
 * worker_attach
 *		Claim our database's slot.  Returns false when the launcher has
 *		started another worker since (generation mismatch) or one is still
 *		attached: we are not wanted.
 */
static bool
worker_attach(Oid dboid, uint32 generation)
{
	ZdDatabaseSlot *slot;
	bool		ok = false;

	LWLockAcquire(zd_shared->lock, LW_EXCLUSIVE);
	slot = zd_find_slot(dboid);
	if (slot != NULL && slot->generation == generation && slot->worker_pid == 0)
	{
		slot->worker_pid = MyProcPid;
		slot->worker_procno = MyProc->pgprocno;
		my_slot = slot;
		ok = true;
	}
	LWLockRelease(zd_shared->lock);

	if (ok)
		before_shmem_exit(worker_detach, 0);
	return ok;
}

static void
worker_detach(int code, Datum arg)
{
	LWLockAcquire(zd_shared->lock, LW_EXCLUSIVE);
	if (my_slot->worker_pid == MyProcPid)
	{
		my_slot->worker_pid = 0;
		my_slot->worker_procno = -1;
	}
	LWLockRelease(zd_shared->lock);
}

/*
 * worker_leave
 *		Record why we are leaving on purpose, so that the launcher does not
 *		treat the exit as a crash.
 */
static void
worker_leave(ZdSlotState state)
{
	LWLockAcquire(zd_shared->lock, LW_EXCLUSIVE);
	if (my_slot->state == ZD_SLOT_RUNNING)
		my_slot->state = state;
	LWLockRelease(zd_shared->lock);
}

/*
 * worker_extension_present
 *		Is corsa_zendesk created in this database?  Short transaction.
 */
static bool
worker_extension_present(void)
{
	bool		present;

	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	present = OidIsValid(get_extension_oid(ZD_EXTENSION_NAME, true));
	CommitTransactionCommand();
	return present;
}

/*
 * zd_worker_recover
 *		Runs once at start: runs a previous worker left "running" are marked
 *		failed, as pg_cron does after a restart.
 */
void
zd_worker_recover(void *arg)
{
	zd_xact_begin("recovering");
	if (SPI_execute(psprintf("UPDATE %s SET state = 'failed', finished_at = now(), "
							 "error = 'the worker stopped while the run was in progress' "
							 "WHERE state = 'running'",
							 zd_qualified("zd_sync_runs")),
					false, 0) != SPI_OK_UPDATE)
		elog(ERROR, "could not reset interrupted runs");
	if (SPI_processed > 0)
		zd_log(ZD_LOG_WARNING, 0, 0, NULL,
			   "%llu run(s) interrupted by a worker restart were marked failed",
			   (unsigned long long) SPI_processed);
	zd_xact_commit();
}

/*
 * worker_maintenance
 *		Trim log entries and finished runs older than log_retention.
 */
static void
worker_maintenance(void *arg)
{
	char	   *interval;

	if (zd_log_retention <= 0)
		return;
	interval = psprintf("%d minutes", zd_log_retention);

	zd_xact_begin("trimming the sync log");
	zd_spi_exec_params(psprintf("DELETE FROM %s WHERE logged_at < now() - $1::interval",
								zd_qualified("zd_sync_log")),
					   1, (Oid[]) {TEXTOID}, (Datum[]) {CStringGetTextDatum(interval)},
					   SPI_OK_DELETE);
	zd_spi_exec_params(psprintf("DELETE FROM %s WHERE state IN ('succeeded', 'failed') "
								"AND finished_at < now() - $1::interval",
								zd_qualified("zd_sync_runs")),
					   1, (Oid[]) {TEXTOID}, (Datum[]) {CStringGetTextDatum(interval)},
					   SPI_OK_DELETE);
	zd_xact_commit();
}

/*
 * zd_xact_begin / zd_xact_commit
 *		The worker's transaction recipe (worker_spi): statement timestamp,
 *		transaction, SPI, snapshot, activity label; and back.
 */
void
zd_xact_begin(const char *activity)
{
	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	PushActiveSnapshot(GetTransactionSnapshot());
	pgstat_report_activity(STATE_RUNNING, activity);
}

void
zd_xact_commit(void)
{
	SPI_finish();
	PopActiveSnapshot();
	CommitTransactionCommand();
	pgstat_report_stat(false);
	pgstat_report_activity(STATE_IDLE, NULL);
}

/*
 * zd_worker_guarded
 *		Run one task; if it raises an ERROR, report it to the server log and
 *		to zd_sync_log, abort its transaction and return false.  FATAL
 *		errors (SIGTERM) are not caught: they end the process.
 */
bool
zd_worker_guarded(const char *task, void (*fn) (void *), void *arg)
{
	MemoryContext oldcxt = CurrentMemoryContext;
	volatile bool ok = true;

	PG_TRY();
	{
		fn(arg);
	}
	PG_CATCH();
	{
		ErrorData  *edata;

		HOLD_INTERRUPTS();
		MemoryContextSwitchTo(oldcxt);
		EmitErrorReport();
		edata = CopyErrorData();
		FlushErrorState();
		AbortOutOfAnyTransaction();
		RESUME_INTERRUPTS();
		ok = false;

		zd_worker_log_failure(task, edata->message);
		FreeErrorData(edata);
	}
	PG_END_TRY();

	return ok;
}

/*
 * zd_worker_log_failure
 *		Write a task's failure to zd_sync_log in its own transaction; if even
 *		that fails, the server log has to do.
 */
void
zd_worker_log_failure(const char *task, const char *message)
{
	MemoryContext oldcxt = CurrentMemoryContext;

	PG_TRY();
	{
		zd_xact_begin("logging a failure");
		zd_log(ZD_LOG_ERROR, 0, 0, NULL, "%s failed: %s", task, message);
		zd_xact_commit();
	}
	PG_CATCH();
	{
		HOLD_INTERRUPTS();
		MemoryContextSwitchTo(oldcxt);
		EmitErrorReport();
		FlushErrorState();
		AbortOutOfAnyTransaction();
		RESUME_INTERRUPTS();
	}
	PG_END_TRY();
}
