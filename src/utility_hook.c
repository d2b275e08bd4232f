/*-------------------------------------------------------------------------
 *
 * utility_hook.c
 *		Keeps our workers out of the way of commands that need a database to
 *		themselves, and tells a worker when its extension is dropped.
 *
 * DROP DATABASE, ALTER DATABASE ... RENAME / SET TABLESPACE and CREATE
 * DATABASE ... TEMPLATE fail while another process is connected to the
 * database.  Before such a command runs, the database's slot is paused and
 * its worker terminated (and waited for); afterwards the slot resumes, or,
 * when the database is gone, the launcher forgets it.
 *
 * Dropping the extension (directly or through DROP SCHEMA ... CASCADE) is
 * seen by the object access hook, which wakes the worker at commit; the
 * worker then finds the extension gone and exits.
 *
 * src/utility_hook.c
 *
 *-------------------------------------------------------------------------
 */
#include "corsa_zendesk.h"

#include <signal.h>

#include "catalog/objectaccess.h"
#include "catalog/pg_extension.h"
#include "commands/dbcommands.h"
#include "commands/defrem.h"
#include "commands/extension.h"
#include "miscadmin.h"
#include "nodes/parsenodes.h"
#include "pgstat.h"
#include "storage/latch.h"
#include "tcop/utility.h"
#include "utils/timestamp.h"

/* how long a released database stays paused if nothing resumes it */
#define ZD_PAUSE_MS			60000
/* how long we wait for the worker to exit before letting the command try */
#define ZD_RELEASE_WAIT_MS	10000

static ProcessUtility_hook_type prev_process_utility = NULL;
static object_access_hook_type prev_object_access = NULL;

static void zd_process_utility(PlannedStmt *pstmt, const char *queryString,
							   bool readOnlyTree, ProcessUtilityContext context,
							   ParamListInfo params, QueryEnvironment *queryEnv,
							   DestReceiver *dest, QueryCompletion *qc);
static void zd_object_access(ObjectAccessType access, Oid classId,
							 Oid objectId, int subId, void *arg);
static const char *database_to_release(Node *parsetree, bool *dropping);
static Oid	release_database(const char *dbname);
static void resume_database(Oid dboid, bool dropped);

/*
 * zd_install_utility_hooks
 *		Chain our hooks (postmaster, while preloading).
 */
void
zd_install_utility_hooks(void)
{
	prev_process_utility = ProcessUtility_hook;
	ProcessUtility_hook = zd_process_utility;
	prev_object_access = object_access_hook;
	object_access_hook = zd_object_access;
}

static void
zd_process_utility(PlannedStmt *pstmt, const char *queryString,
				   bool readOnlyTree, ProcessUtilityContext context,
				   ParamListInfo params, QueryEnvironment *queryEnv,
				   DestReceiver *dest, QueryCompletion *qc)
{
	bool		dropping = false;
	const char *dbname = database_to_release(pstmt->utilityStmt, &dropping);
	volatile bool drops = dropping;
	volatile Oid dboid = InvalidOid;

	if (dbname != NULL)
		dboid = release_database(dbname);

	PG_TRY();
	{
		if (prev_process_utility)
			prev_process_utility(pstmt, queryString, readOnlyTree, context,
								 params, queryEnv, dest, qc);
		else
			standard_ProcessUtility(pstmt, queryString, readOnlyTree, context,
									params, queryEnv, dest, qc);
	}
	PG_CATCH();
	{
		if (OidIsValid(dboid))
			resume_database(dboid, false);
		PG_RE_THROW();
	}
	PG_END_TRY();

	if (OidIsValid(dboid))
		resume_database(dboid, drops);
}

/*
 * database_to_release
 *		The name of the database a command needs free of other sessions, or
 *		NULL.  *dropping tells whether the database disappears.
 */
static const char *
database_to_release(Node *parsetree, bool *dropping)
{
	ListCell   *lc;

	if (parsetree == NULL)
		return NULL;

	switch (nodeTag(parsetree))
	{
		case T_DropdbStmt:
			*dropping = true;
			return ((DropdbStmt *) parsetree)->dbname;
		case T_RenameStmt:
			if (((RenameStmt *) parsetree)->renameType == OBJECT_DATABASE)
				return ((RenameStmt *) parsetree)->subname;
			return NULL;
		case T_AlterDatabaseStmt:
			foreach(lc, ((AlterDatabaseStmt *) parsetree)->options)
			{
				if (strcmp(((DefElem *) lfirst(lc))->defname, "tablespace") == 0)
					return ((AlterDatabaseStmt *) parsetree)->dbname;
			}
			return NULL;
		case T_CreatedbStmt:
			foreach(lc, ((CreatedbStmt *) parsetree)->options)
			{
				DefElem    *opt = (DefElem *) lfirst(lc);

				if (strcmp(opt->defname, "template") == 0 && opt->arg != NULL)
					return defGetString(opt);
			}
			return NULL;
		default:
			return NULL;
	}
}

/*
 * release_database
 *		Pause the database's slot and terminate its worker, waiting for it to
 *		exit.  Returns the database's OID, or InvalidOid when we do not
 *		track it.
 */
static Oid
release_database(const char *dbname)
{
	Oid			dboid;
	ZdDatabaseSlot *slot;
	int			pid = 0;
	TimestampTz deadline;

	if (zd_shared == NULL)
		return InvalidOid;
	dboid = get_database_oid(dbname, true);
	if (!OidIsValid(dboid))
		return InvalidOid;

	LWLockAcquire(zd_shared->lock, LW_EXCLUSIVE);
	slot = zd_find_slot(dboid);
	if (slot != NULL)
	{
		slot->state = ZD_SLOT_PAUSED;
		slot->paused_until = TimestampTzPlusMilliseconds(GetCurrentTimestamp(),
														 ZD_PAUSE_MS);
		pid = slot->worker_pid;
	}
	LWLockRelease(zd_shared->lock);

	if (slot == NULL)
		return InvalidOid;
	if (pid == 0)
		return dboid;

	(void) kill(pid, SIGTERM);
	deadline = TimestampTzPlusMilliseconds(GetCurrentTimestamp(), ZD_RELEASE_WAIT_MS);
	while (zd_worker_pid_for(dboid) != 0 && GetCurrentTimestamp() < deadline)
	{
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 10, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
		CHECK_FOR_INTERRUPTS();
	}
	return dboid;
}

/*
 * resume_database
 *		Lift the pause after the command; a dropped database's slot is left
 *		for the launcher's next scan, which frees it.
 */
static void
resume_database(Oid dboid, bool dropped)
{
	ZdDatabaseSlot *slot;

	LWLockAcquire(zd_shared->lock, LW_EXCLUSIVE);
	slot = zd_find_slot(dboid);
	if (slot != NULL && slot->state == ZD_SLOT_PAUSED && !dropped)
		slot->paused_until = GetCurrentTimestamp();
	LWLockRelease(zd_shared->lock);

	pg_atomic_write_u32(&zd_shared->rescan_requested, 1);
	zd_set_latch_by_procno(zd_shared->launcher_procno);
}

/*
 * zd_object_access
 *		When our extension is dropped, wake the database's worker at commit
 *		so that it notices and exits.
 */
static void
zd_object_access(ObjectAccessType access, Oid classId, Oid objectId,
				 int subId, void *arg)
{
	if (prev_object_access)
		prev_object_access(access, classId, objectId, subId, arg);

	if (access == OAT_DROP && classId == ExtensionRelationId)
	{
		char	   *name = get_extension_name(objectId);

		if (name != NULL && strcmp(name, ZD_EXTENSION_NAME) == 0)
			zd_wake_at_commit(ZD_WAKE_CONFIG);
	}
}
