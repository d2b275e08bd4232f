/*-------------------------------------------------------------------------
 *
 * shmem.c
 *		The shared state of corsa_zendesk: one slot per database that the
 *		launcher tracks, the launcher's identity, and the wake-up flags.
 *
 * Only plain values live here: process ids, PGPROC numbers, states and
 * times.  Nothing process-local (curl handles, worker handles, pointers)
 * is ever stored in shared memory.
 *
 * src/shmem.c
 *
 *-------------------------------------------------------------------------
 */
#include "corsa_zendesk.h"

#include "miscadmin.h"
#include "storage/ipc.h"
#include "storage/proc.h"
#include "storage/shmem.h"
#include "utils/timestamp.h"

ZdSharedState *zd_shared = NULL;

static shmem_request_hook_type prev_shmem_request_hook = NULL;
static shmem_startup_hook_type prev_shmem_startup_hook = NULL;

static Size zd_shmem_size(void);
static void zd_shmem_request(void);
static void zd_shmem_startup(void);

/*
 * zd_shmem_init_hooks
 *		Chain our shared memory request and startup hooks (postmaster only).
 */
void
zd_shmem_init_hooks(void)
{
	prev_shmem_request_hook = shmem_request_hook;
	shmem_request_hook = zd_shmem_request;
	prev_shmem_startup_hook = shmem_startup_hook;
	shmem_startup_hook = zd_shmem_startup;
}

static Size
zd_shmem_size(void)
{
	return add_size(offsetof(ZdSharedState, slots),
					mul_size(sizeof(ZdDatabaseSlot), zd_max_databases));
}

static void
zd_shmem_request(void)
{
	if (prev_shmem_request_hook)
		prev_shmem_request_hook();
	RequestAddinShmemSpace(zd_shmem_size());
	RequestNamedLWLockTranche(ZD_EXTENSION_NAME, 1);
}

/*
 * zd_shmem_startup
 *		Create or attach to the shared state.  Runs in the postmaster (and,
 *		on EXEC_BACKEND platforms, in every child).
 */
static void
zd_shmem_startup(void)
{
	bool		found;

	if (prev_shmem_startup_hook)
		prev_shmem_startup_hook();

	LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
	zd_shared = ShmemInitStruct(ZD_EXTENSION_NAME, zd_shmem_size(), &found);
	if (!found)
	{
		int			i;

		memset(zd_shared, 0, zd_shmem_size());
		zd_shared->lock = &(GetNamedLWLockTranche(ZD_EXTENSION_NAME))->lock;
		zd_shared->launcher_pid = 0;
		zd_shared->launcher_procno = -1;
		pg_atomic_init_u32(&zd_shared->rescan_requested, 1);
		zd_shared->nslots = zd_max_databases;
		for (i = 0; i < zd_shared->nslots; i++)
		{
			zd_shared->slots[i].state = ZD_SLOT_FREE;
			zd_shared->slots[i].worker_procno = -1;
			pg_atomic_init_u32(&zd_shared->slots[i].wake_requested, 0);
			pg_atomic_init_u64(&zd_shared->slots[i].reply_push_at, 0);
		}
	}
	LWLockRelease(AddinShmemInitLock);
}

/*
 * zd_find_slot
 *		The slot of a database, or NULL.  The caller holds zd_shared->lock.
 */
ZdDatabaseSlot *
zd_find_slot(Oid dboid)
{
	int			i;

	for (i = 0; i < zd_shared->nslots; i++)
	{
		ZdDatabaseSlot *slot = &zd_shared->slots[i];

		if (slot->state != ZD_SLOT_FREE && slot->dboid == dboid)
			return slot;
	}
	return NULL;
}

/*
 * zd_reply_push_recent
 *		Has this database's worker sent a reply to Zendesk lately (within
 *		ZD_REPLY_LINK_HORIZON_MS)?  Only then can a webhook's comment be one
 *		whose push is still unanswered, which zd_ingest_webhook then looks
 *		for; otherwise it spares itself that statement.  True when unknown
 *		(no shared memory, no slot).
 */
bool
zd_reply_push_recent(void)
{
	ZdDatabaseSlot *slot;
	uint64		at = 0;
	bool		known;

	if (zd_shared == NULL)
		return true;
	LWLockAcquire(zd_shared->lock, LW_SHARED);
	slot = zd_find_slot(MyDatabaseId);
	known = slot != NULL;
	if (known)
		at = pg_atomic_read_u64(&slot->reply_push_at);
	LWLockRelease(zd_shared->lock);
	if (!known)
		return true;
	return at != 0 &&
		!TimestampDifferenceExceeds((TimestampTz) at, GetCurrentTimestamp(),
									ZD_REPLY_LINK_HORIZON_MS);
}

/*
 * zd_set_latch_by_procno
 *		Set the process latch of the PGPROC with that number.  A stale number
 *		(the process exited and the PGPROC was reused) only causes a spurious
 *		wake-up, which every latch user tolerates.
 */
void
zd_set_latch_by_procno(int procno)
{
	if (procno >= 0 && procno < (int) ProcGlobal->allProcCount)
		SetLatch(&ProcGlobal->allProcs[procno].procLatch);
}

/*
 * zd_worker_pid_for
 *		Process id of the worker attached to a database, 0 when none (or when
 *		the library was not preloaded, so that no worker can exist).
 */
int
zd_worker_pid_for(Oid dboid)
{
	ZdDatabaseSlot *slot;
	int			pid = 0;

	if (zd_shared == NULL)
		return 0;

	LWLockAcquire(zd_shared->lock, LW_SHARED);
	slot = zd_find_slot(dboid);
	if (slot != NULL)
		pid = slot->worker_pid;
	LWLockRelease(zd_shared->lock);
	return pid;
}
