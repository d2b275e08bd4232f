/*-------------------------------------------------------------------------
 *
 * worker.h
 *		The per-database worker's shared pieces: its transaction helpers,
 *		the state it keeps for each connection, and the tags that tie a
 *		request in flight to the task that started it.
 *
 * src/worker.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef ZD_WORKER_H
#define ZD_WORKER_H

#include "postgres.h"

#include "datatype/timestamp.h"

#include "http.h"
#include "zendesk_client.h"

typedef struct ZdPullState ZdPullState;
typedef struct ZdPushState ZdPushState;

/* What the worker keeps for one row of zd_connections. */
typedef struct ZdConnState
{
	int32		id;
	char	   *subdomain;
	bool		enabled;
	bool		present;		/* still in zd_connections at the last look */
	TimestampTz updated_at;		/* of the row the account was built from */
	TimestampTz account_retry_at;	/* after a failed decryption: try again */
	ZdAccount  *account;		/* NULL while disconnected or undecryptable */
	ZdAccount  *replaced_account;	/* until its successor inherits its limits */
	TimestampTz next_poll_at;	/* 0 when no poll is scheduled */
	bool		has_pending_run;	/* a queued or running run exists */
	bool		fill_requested;	/* something lacks data the API can give */
	int			in_flight;		/* requests of this connection in flight */
	ZdPullState *pull;
	ZdPushState *push;
	MemoryContext context;
} ZdConnState;

/* Which task a request belongs to (ZdHttpRequest.caller_data). */
typedef enum ZdTaskKind
{
	ZD_TASK_PULL,
	ZD_TASK_PUSH
} ZdTaskKind;

typedef struct ZdRequestTag
{
	ZdTaskKind	task;
	int			step;			/* the task's own sub-kind */
	int			generation;		/* its task's state when the request started */
	ZdConnState *conn;
	MemoryContext context;		/* holds the request; deleted after handling */
	void	   *data;			/* the task's own data */
} ZdRequestTag;

/* the earlier of two times, 0 meaning "none" (the tasks' "look again at") */
static inline TimestampTz
zd_earliest(TimestampTz a, TimestampTz b)
{
	if (a == 0)
		return b;
	if (b == 0)
		return a;
	return Min(a, b);
}

/* worker.c */
extern void zd_xact_begin(const char *activity);
extern void zd_xact_commit(void);
extern bool zd_worker_guarded(const char *task, void (*fn) (void *), void *arg);
extern void zd_worker_log_failure(const char *task, const char *message);
extern void zd_worker_recover(void *arg);
extern void zd_worker_note_reply_push(void);
extern ZdHttpRequest *zd_worker_start_request(ZdConnState *conn, ZdTaskKind task,
											  int step, int generation, void *data,
											  ZdEndpointClass cls,
											  const char *method, const char *path,
											  const char *body,
											  const char *idempotency_key);

/* pull.c */
extern void zd_pull_reset(ZdConnState *conn);
extern TimestampTz zd_pull_step(ZdConnState *conn, TimestampTz now);
extern void zd_pull_handle(ZdConnState *conn, ZdHttpRequest *req, ZdRequestTag *tag);

/* push.c */
extern void zd_push_reset(ZdConnState *conn);
extern void zd_push_wake(ZdConnState *conn);
extern TimestampTz zd_push_step(ZdConnState *conn, TimestampTz now);
extern void zd_push_handle(ZdConnState *conn, ZdHttpRequest *req, ZdRequestTag *tag);

#endif							/* ZD_WORKER_H */
