/*-------------------------------------------------------------------------
 *
 * worker.c
 *		The per-database worker: attaches to its launcher slot, checks that
 *		the extension is there, resumes what a previous incarnation left
 *		half done, then loops until told to stop.
 *
 * One loop serves every connection of the database.  Each turn it does
 * what its wake-up reasons call for (ZD_WAKE_*: re-read the connections
 * after a change, claim queued pushes, fetch missing e-mails; each is also
 * done every so often), lets every connection's tasks start the requests
 * that are due, and then waits in
 * the HTTP engine: on the sockets of every transfer in flight, on the
 * process latch (commit-time wake-ups, SIGTERM, postmaster death) and on
 * the time the next task is due, whichever comes first.  A finished
 * request is handed back to the task that started it.
 *
 * Transactions are short and never span a request to Zendesk.  Errors in
 * a task are caught, written to the server log and to zd_sync_log, and the
 * loop goes on; SIGTERM and postmaster death end the process promptly,
 * even in the middle of a transfer.
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

#include "store.h"
#include "worker.h"

/* how often the worker re-checks, unprompted, that the extension exists */
#define ZD_EXTENSION_CHECK_MS	10000
/* how often it re-reads zd_connections unprompted */
#define ZD_RELOAD_MS			5000
/* how often it looks, unprompted, for rows lacking an e-mail */
#define ZD_FILL_MS				(300 * 1000)
/* longest sleep */
#define ZD_MAX_SLEEP_MS			10000
/* how long to wait before decrypting a token again after a failure */
#define ZD_ACCOUNT_RETRY_MS		60000
/* how often old log entries are trimmed */
#define ZD_MAINTENANCE_MS		(3600 * 1000)

static ZdDatabaseSlot *my_slot = NULL;
static ZdHttpEngine *engine = NULL;
static List *connections = NIL;
static MemoryContext worker_context = NULL;

static bool worker_attach(Oid dboid, uint32 generation);
static void worker_detach(int code, Datum arg);
static void worker_leave(ZdSlotState state);
static bool worker_extension_present(void);
static void worker_maintenance(void *arg);
static void worker_reload_connections(void *arg);
static ZdConnState *worker_connection(int32 id);
static void worker_reset_tasks(ZdConnState *conn);
static void worker_forget_connections(void);
static void worker_dispatch(ZdHttpRequest *req);

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
	TimestampTz next_reload = 0;
	TimestampTz next_fill = 0;
	TimestampTz next_maintenance;
	MemoryContext loop_context;

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

	worker_context = AllocSetContextCreate(TopMemoryContext, "corsa_zendesk worker",
										   ALLOCSET_DEFAULT_SIZES);
	loop_context = AllocSetContextCreate(TopMemoryContext, "corsa_zendesk worker loop",
										 ALLOCSET_DEFAULT_SIZES);
	engine = zdh_engine_create(worker_context);

	/* rows this process writes come from Zendesk: they never queue pushes */
	zd_store_sync_writes(true);

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
		TimestampTz next;
		uint32		woken;			/* ZD_WAKE_* reasons */
		bool		reconfigure;
		bool		latch_set;
		ListCell   *lc;
		ZdHttpRequest *req;

		CHECK_FOR_INTERRUPTS();
		if (ConfigReloadPending)
		{
			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
		}
		MemoryContextSwitchTo(loop_context);

		now = GetCurrentTimestamp();
		woken = pg_atomic_exchange_u32(&my_slot->wake_requested, 0);
		reconfigure = (woken & ZD_WAKE_CONFIG) != 0;

		/* DROP EXTENSION wakes us at commit; also look now and then */
		if (reconfigure ||
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

		if (reconfigure || now >= next_reload)
		{
			zd_worker_guarded("reading the connections", worker_reload_connections, NULL);
			next_reload = TimestampTzPlusMilliseconds(now, ZD_RELOAD_MS);
		}
		/* rows that lack what only the API can tell */
		if ((woken & ZD_WAKE_FILL) || now >= next_fill)
		{
			foreach(lc, connections)
				((ZdConnState *) lfirst(lc))->fill_requested = true;
			next_fill = TimestampTzPlusMilliseconds(now, ZD_FILL_MS);
		}

		if (now >= next_maintenance)
		{
			zd_worker_guarded("maintenance", worker_maintenance, NULL);
			next_maintenance = TimestampTzPlusMilliseconds(now, ZD_MAINTENANCE_MS);
		}

		/* let every connection start what is due */
		next = Min(next_reload, TimestampTzPlusMilliseconds(now, ZD_MAX_SLEEP_MS));
		foreach(lc, connections)
		{
			ZdConnState *conn = (ZdConnState *) lfirst(lc);
			TimestampTz due;

			if (!conn->present)
				continue;
			due = zd_pull_step(conn, now);
			if (due != 0)
				next = Min(next, due);
			if (woken & (ZD_WAKE_PUSH | ZD_WAKE_CONFIG))
				zd_push_wake(conn);
			due = zd_push_step(conn, now);
			if (due != 0)
				next = Min(next, due);
		}
		worker_forget_connections();

		pgstat_report_activity(STATE_IDLE, NULL);
		now = GetCurrentTimestamp();
		req = zdh_wait(engine, next > now ? TimestampDifferenceMilliseconds(now, next) : 0,
					   &latch_set);
		if (req != NULL)
			worker_dispatch(req);

		MemoryContextReset(loop_context);
	}
}

/*
 * worker_dispatch
 *		Hand a finished request to the task that started it, then free it.
 */
static void
worker_dispatch(ZdHttpRequest *req)
{
	ZdRequestTag *tag = (ZdRequestTag *) req->caller_data;
	ZdConnState *conn = tag->conn;

	conn->in_flight--;
	switch (tag->task)
	{
		case ZD_TASK_PULL:
			zd_pull_handle(conn, req, tag);
			break;
		case ZD_TASK_PUSH:
			zd_push_handle(conn, req, tag);
			break;
	}
	MemoryContextDelete(tag->context);
}

/*
 * zd_worker_start_request
 *		Start a request for a connection's task.  The request and its answer
 *		live in their own memory context until the task has handled them.
 */
ZdHttpRequest *
zd_worker_start_request(ZdConnState *conn, ZdTaskKind task, int step, int generation,
						void *data, ZdEndpointClass cls, const char *method, const char *path,
						const char *body, const char *idempotency_key)
{
	MemoryContext context = AllocSetContextCreate(conn->context, "corsa_zendesk request",
												  ALLOCSET_DEFAULT_SIZES);
	MemoryContext oldcxt = MemoryContextSwitchTo(context);
	ZdRequestTag *tag = palloc0(sizeof(ZdRequestTag));
	ZdHttpRequest *req;

	tag->task = task;
	tag->step = step;
	tag->generation = generation;
	tag->conn = conn;
	tag->context = context;
	tag->data = data;
	req = zdapi_request(conn->account, method, path, body ? pstrdup(body) : NULL);
	req->idempotency_key = idempotency_key ? pstrdup(idempotency_key) : NULL;
	/* a write Zendesk cannot recognize when repeated is never re-sent */
	req->fresh_connection = strcmp(method, "GET") != 0 && idempotency_key == NULL;
	req->caller_data = tag;
	zdh_start(engine, req);
	MemoryContextSwitchTo(oldcxt);

	zdapi_note_sent(conn->account, cls, GetCurrentTimestamp());
	conn->in_flight++;
	return req;
}

/*
 * zd_worker_note_reply_push
 *		Tell the database's backends that a reply is being pushed: for a
 *		while, zd_ingest_webhook looks for the reply a comment may echo.
 */
void
zd_worker_note_reply_push(void)
{
	pg_atomic_write_u64(&my_slot->reply_push_at, (uint64) GetCurrentTimestamp());
}

/* a zd_connections row, as read by worker_reload_connections */
typedef struct ConnectionRow
{
	int32		id;
	char	   *subdomain;
	char	   *agent_email;
	bytea	   *token;			/* sealed; NULL when disconnected */
	bool		enabled;
	TimestampTz updated_at;
	TimestampTz next_poll_at;
	bool		has_pending_run;
} ConnectionRow;

/* build a connection's account: decrypt its token (own transaction) */
static void
worker_build_account(void *arg)
{
	ConnectionRow *row = (ConnectionRow *) arg;
	ZdConnState *conn = worker_connection(row->id);
	char	   *plain;

	MemoryContext oldcxt = CurrentMemoryContext;

	StartTransactionCommand();
	plain = MemoryContextStrdup(oldcxt, zd_decrypt_secret(ZD_SECRET_API_TOKEN, row->token));
	CommitTransactionCommand();
	MemoryContextSwitchTo(oldcxt);
	conn->account = zdapi_account_create(conn->context, row->id, row->subdomain,
										 row->agent_email, plain);
	explicit_bzero(plain, strlen(plain));
	if (conn->replaced_account != NULL)
	{
		zdapi_account_inherit_limits(conn->account, conn->replaced_account);
		zdapi_account_destroy(conn->replaced_account);
		conn->replaced_account = NULL;
	}
	conn->updated_at = row->updated_at;
}

/*
 * worker_reload_connections
 *		Bring the per-connection states in line with zd_connections: new
 *		credentials rebuild the account, a disconnected account is dropped,
 *		poll times and pending runs are refreshed.  A connection whose token
 *		cannot be decrypted is logged and left without an account; the
 *		others carry on.
 */
static void
worker_reload_connections(void *arg)
{
	ListCell   *lc;
	List	   *rows = NIL;
	uint64		i;
	MemoryContext callercxt = CurrentMemoryContext;
	MemoryContext oldcxt;

	zd_xact_begin("corsa_zendesk: reading connections");
	zd_spi_exec_params(psprintf("SELECT c.id, c.subdomain, c.agent_email, c.api_token_enc, "
								"c.enabled, c.updated_at, c.next_poll_at, "
								"EXISTS (SELECT 1 FROM %s r WHERE r.connection_id = c.id "
								"AND r.state IN ('queued', 'running')) "
								"FROM %s c ORDER BY c.id",
								zd_qualified("zd_sync_runs"), zd_qualified("zd_connections")),
					   0, NULL, NULL, SPI_OK_SELECT);
	oldcxt = MemoryContextSwitchTo(callercxt);
	for (i = 0; i < SPI_processed; i++)
	{
		HeapTuple	tup = SPI_tuptable->vals[i];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		ConnectionRow *row = palloc0(sizeof(ConnectionRow));
		bool		isnull;
		Datum		value;

		row->id = DatumGetInt32(SPI_getbinval(tup, desc, 1, &isnull));
		row->subdomain = SPI_getvalue(tup, desc, 2);
		row->agent_email = SPI_getvalue(tup, desc, 3);
		value = SPI_getbinval(tup, desc, 4, &isnull);
		row->token = isnull ? NULL : DatumGetByteaPCopy(value);
		row->enabled = DatumGetBool(SPI_getbinval(tup, desc, 5, &isnull)) && row->token != NULL;
		row->updated_at = DatumGetTimestampTz(SPI_getbinval(tup, desc, 6, &isnull));
		value = SPI_getbinval(tup, desc, 7, &isnull);
		row->next_poll_at = isnull ? 0 : DatumGetTimestampTz(value);
		row->has_pending_run = DatumGetBool(SPI_getbinval(tup, desc, 8, &isnull));
		rows = lappend(rows, row);
	}
	MemoryContextSwitchTo(oldcxt);
	zd_xact_commit();

	foreach(lc, connections)
		((ZdConnState *) lfirst(lc))->present = false;

	foreach(lc, rows)
	{
		ConnectionRow *row = (ConnectionRow *) lfirst(lc);
		ZdConnState *conn = worker_connection(row->id);

		conn->present = true;
		conn->enabled = row->enabled;
		conn->next_poll_at = row->next_poll_at;
		conn->has_pending_run = row->has_pending_run;
		if (conn->subdomain == NULL || strcmp(conn->subdomain, row->subdomain) != 0)
			conn->subdomain = MemoryContextStrdup(conn->context, row->subdomain);

		if (conn->account != NULL && (!conn->enabled || row->updated_at != conn->updated_at))
		{
			/*
			 * settings changed: the next account inherits the rate limits
			 * (while there is an account, it has inherited any before it)
			 */
			Assert(conn->replaced_account == NULL);
			if (conn->enabled)
				conn->replaced_account = conn->account;
			else
				zdapi_account_destroy(conn->account);
			conn->account = NULL;
		}
		if (!conn->enabled)
		{
			worker_reset_tasks(conn);
			if (conn->replaced_account != NULL)
				zdapi_account_destroy(conn->replaced_account);
			conn->replaced_account = NULL;
		}
		else if (conn->account == NULL &&
				 (row->updated_at != conn->updated_at ||
				  GetCurrentTimestamp() >= conn->account_retry_at))
		{
			/* a failure is logged, and tried again a minute later */
			conn->updated_at = row->updated_at;
			if (!zd_worker_guarded(psprintf("decrypting the API token of %s", row->subdomain),
								   worker_build_account, row))
				conn->account_retry_at =
					TimestampTzPlusMilliseconds(GetCurrentTimestamp(), ZD_ACCOUNT_RETRY_MS);
		}
	}
}

/*
 * worker_connection
 *		The state of a connection, created on first sight.
 */
static ZdConnState *
worker_connection(int32 id)
{
	ListCell   *lc;
	ZdConnState *conn;
	MemoryContext oldcxt;

	foreach(lc, connections)
	{
		conn = (ZdConnState *) lfirst(lc);
		if (conn->id == id)
			return conn;
	}
	oldcxt = MemoryContextSwitchTo(worker_context);
	conn = palloc0(sizeof(ZdConnState));
	conn->id = id;
	conn->context = AllocSetContextCreate(worker_context, "corsa_zendesk connection",
										  ALLOCSET_DEFAULT_SIZES);
	worker_reset_tasks(conn);
	connections = lappend(connections, conn);
	MemoryContextSwitchTo(oldcxt);
	return conn;
}

/*
 * worker_reset_tasks
 *		Start a connection's pull and push afresh (no run, no item).  Each
 *		reset starts a new generation of its task's requests: the answers
 *		of earlier ones are known for stale.
 */
static void
worker_reset_tasks(ZdConnState *conn)
{
	zd_pull_reset(conn);
	zd_push_reset(conn);
}

/*
 * worker_forget_connections
 *		Free the states of connections that are gone, once nothing of
 *		theirs is in flight.
 */
static void
worker_forget_connections(void)
{
	ListCell   *lc;

	foreach(lc, connections)
	{
		ZdConnState *conn = (ZdConnState *) lfirst(lc);

		if (!conn->present && conn->in_flight == 0)
		{
			connections = foreach_delete_current(connections, lc);
			if (conn->account)
				zdapi_account_destroy(conn->account);
			if (conn->replaced_account)
				zdapi_account_destroy(conn->replaced_account);
			MemoryContextDelete(conn->context);
			pfree(conn);
		}
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

	MemoryContext oldcxt = CurrentMemoryContext;

	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	present = OidIsValid(get_extension_oid(ZD_EXTENSION_NAME, true));
	CommitTransactionCommand();
	MemoryContextSwitchTo(oldcxt);
	return present;
}

/*
 * zd_worker_recover
 *		Runs once at start.  Runs a previous worker left "running" are
 *		resumed from their saved position (their pages were committed with
 *		it), and the log says so.
 */
void
zd_worker_recover(void *arg)
{
	zd_xact_begin("corsa_zendesk: recovering");
	zd_spi_exec_params(psprintf("SELECT r.id, r.kind, c.subdomain, r.connection_id FROM %s r "
								"JOIN %s c ON c.id = r.connection_id WHERE r.state = 'running'",
								zd_qualified("zd_sync_runs"), zd_qualified("zd_connections")),
					   0, NULL, NULL, SPI_OK_SELECT);
	if (SPI_processed > 0)
	{
		uint64		n = SPI_processed;
		SPITupleTable *tuptable = SPI_tuptable;
		uint64		i;

		for (i = 0; i < n; i++)
		{
			HeapTuple	tup = tuptable->vals[i];
			bool		isnull;

			zd_log(ZD_LOG_WARNING,
				   DatumGetInt32(SPI_getbinval(tup, tuptable->tupdesc, 4, &isnull)),
				   DatumGetInt64(SPI_getbinval(tup, tuptable->tupdesc, 1, &isnull)), NULL,
				   "%s of %s was interrupted by a restart; it resumes from its last saved page",
				   SPI_getvalue(tup, tuptable->tupdesc, 2),
				   SPI_getvalue(tup, tuptable->tupdesc, 3));
		}
	}
	zd_xact_commit();
}

/*
 * worker_maintenance
 *		Trim log entries, finished runs, webhook event ids and sent queue
 *		items older than log_retention (Zendesk retries a webhook for
 *		minutes, not days).
 */
static void
worker_maintenance(void *arg)
{
	Datum		interval;

	if (zd_log_retention <= 0)
		return;
	interval = CStringGetTextDatum(psprintf("%d minutes", zd_log_retention));

	zd_xact_begin("corsa_zendesk: trimming the sync log");
	zd_spi_exec_params(psprintf("DELETE FROM %s WHERE logged_at < now() - $1::interval",
								zd_qualified("zd_sync_log")),
					   1, (Oid[]) {TEXTOID}, &interval, SPI_OK_DELETE);
	zd_spi_exec_params(psprintf("DELETE FROM %s WHERE state IN ('succeeded', 'failed') "
								"AND finished_at < now() - $1::interval",
								zd_qualified("zd_sync_runs")),
					   1, (Oid[]) {TEXTOID}, &interval, SPI_OK_DELETE);
	zd_spi_exec_params(psprintf("DELETE FROM %s WHERE received_at < now() - $1::interval",
								zd_qualified("zd_webhook_events")),
					   1, (Oid[]) {TEXTOID}, &interval, SPI_OK_DELETE);
	zd_spi_exec_params(psprintf("DELETE FROM %s WHERE state = 'sent'"
								" AND sent_at < now() - $1::interval",
								zd_qualified("zd_outbox")),
					   1, (Oid[]) {TEXTOID}, &interval, SPI_OK_DELETE);
	zd_xact_commit();
}

/* the memory context to return to when the transaction ends */
static MemoryContext xact_caller_context = NULL;

/*
 * zd_xact_begin / zd_xact_commit
 *		The worker's transaction recipe (worker_spi): statement timestamp,
 *		transaction, SPI, snapshot, activity label; and back, to the memory
 *		context that was current before (a commit would otherwise leave
 *		TopMemoryContext current, and the loop's allocations would pile up
 *		there).
 */
void
zd_xact_begin(const char *activity)
{
	xact_caller_context = CurrentMemoryContext;
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
	MemoryContextSwitchTo(xact_caller_context);
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
		zd_xact_begin("corsa_zendesk: logging a failure");
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
