/*-------------------------------------------------------------------------
 *
 * push.h
 *		The push task's item (a claimed zd_outbox row and what its requests
 *		need), shared by push.c, which sends it, and push_record.c, which
 *		records Zendesk's answers.
 *
 * src/push.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef ZD_PUSH_H
#define ZD_PUSH_H

#include "postgres.h"

#include "http.h"
#include "worker.h"

/* the audit metadata key that marks a reply we sent */
#define ZD_REPLY_MARKER			"corsa_reply_id"

typedef enum PushKind
{
	PUSH_CREATE,
	PUSH_REPLY,
	PUSH_STATUS
} PushKind;

typedef enum PushStage
{
	STAGE_FIND_CREATED,			/* GET /tickets?external_id= */
	STAGE_CREATE,				/* POST /tickets */
	STAGE_FIND_COMMENT,			/* GET /tickets/{id}/audits */
	STAGE_FIND_AUTHOR,			/* GET /users/search */
	STAGE_CREATE_AUTHOR,		/* POST /users/create_or_update */
	STAGE_REPLY,				/* PUT /tickets/{id} with a comment */
	STAGE_FOLLOWUP,				/* POST /tickets, via_followup_source_id */
	STAGE_STATUS				/* PUT /tickets/{id} with a status */
} PushStage;

/* One claimed zd_outbox item, with what its requests need. */
typedef struct PushItem
{
	MemoryContext context;
	int32		connection_id;
	int64		outbox_id;
	PushKind	kind;
	int64		ticket_id;
	int64		reply_id;
	int			attempts;		/* including the current one */
	PushStage	stage;
	bool		in_flight;
	TimestampTz start_at;		/* next request not before (rate limit) */
	char	   *idempotency_key;
	/* the ticket */
	int64		zendesk_id;
	char	   *subject;
	char	   *description;
	char	   *requester_email;
	char	   *requester_name;
	int64		requester_id;
	char	   *ticket_status;
	char	   *priority;
	char	   *ticket_type;
	char	   *tags_json;
	/* the reply */
	char	   *body;
	bool		is_public;
	char	   *author_email;
	int64		author_id;
	bool		has_comment_id;
	/* update_status */
	char	   *new_status;
	/* the connection */
	char	   *agent_email;
	char	   *key_prefix;
	/* the answer being handled */
	ZdHttpRequest *req;
	bool		finished;
	struct json_object *root;
	char	   *error;
} PushItem;

/* A failed attempt to record (zd_push_record_failure). */
typedef struct PushFailure
{
	ZdConnState *conn;
	PushItem   *item;
	const char *why;
	long		retry_ms;
	bool		dead;
} PushFailure;

/* push_record.c: each runs in its own transaction (zd_worker_guarded) */
extern void zd_push_record_created(void *arg);
extern void zd_push_record_reply(void *arg);
extern void zd_push_record_followup(void *arg);
extern void zd_push_record_status(void *arg);
extern void zd_push_record_sent(void *arg);
extern void zd_push_record_failure(void *arg);

#endif							/* ZD_PUSH_H */
