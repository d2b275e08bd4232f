/*-------------------------------------------------------------------------
 *
 * push.c
 *		The worker's push task: drains zd_outbox, sending Corsa-side
 *		tickets, replies and status changes to Zendesk, up to
 *		corsa_zendesk.max_concurrency requests in flight per account and
 *		under the account's rate limit.
 *
 * An item goes through stages, one request each:
 *  - create_ticket: POST /tickets with an Idempotency-Key and external_id
 *    corsa:<id>, the requester given by e-mail (Zendesk finds the end user
 *    or creates one).  A retry first looks the ticket up by external_id,
 *    in case an earlier attempt landed after all.
 *  - add_reply: PUT /tickets/{id} with the comment, public set explicitly,
 *    and the reply's id in the audit's custom metadata.  Comments have no
 *    idempotency key, so a retry first reads the ticket's latest audits
 *    for that marker.  An author other than the configured agent is found
 *    (or created) by e-mail first.  A closed ticket (422) turns the reply
 *    into a follow-up ticket.
 *  - update_status: PUT /tickets/{id} with the status.
 *
 * Items are claimed in a short transaction (FOR UPDATE SKIP LOCKED, marked
 * in_flight), the requests run with no transaction open, and each answer
 * is recorded in its own transaction (push_record.c): Zendesk's ids on the
 * local rows, the item sent.  Items of one ticket go one at a time, in queue order, and a
 * reply waits until its ticket has its Zendesk id.  Failures are retried
 * with backoff and jitter (Retry-After on 429); a 4xx that cannot succeed
 * is dead-lettered at once with Zendesk's error, anything else after
 * corsa_zendesk.max_attempts.  Items found in_flight after a start or a
 * reset (a restart, a crash) are claimed again, as retries.
 *
 * Echoes: a webhook or poll that shows a pushed object before its answer
 * was recorded links to the same row (tickets by external_id in store.c);
 * a row it made anyway is folded into ours when the answer is recorded.
 *
 * src/push.c
 *
 *-------------------------------------------------------------------------
 */
#include "corsa_zendesk.h"

#include "catalog/pg_type_d.h"
#include "executor/spi.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

#include "push.h"
#include "worker.h"
#include "zd_json.h"

/* when nothing is claimable, look again this often anyway */
#define ZD_PUSH_RECHECK_MS		5000
struct ZdPushState
{
	MemoryContext context;
	List	   *items;			/* claimed, not finished */
	TimestampTz next_claim_at;
	int			generation;		/* bumped by each reset; tags requests */
	int			stale_in_flight;	/* requests sent before the last reset */
	bool		orphans_requeued;	/* items left in flight were requeued */
};

static TimestampTz start_due(ZdConnState *conn, TimestampTz now);
static void push_claim(void *arg);
static void push_start(ZdConnState *conn, PushItem *item);
static void push_finish(ZdConnState *conn, PushItem *item);
static void push_retry_later(ZdConnState *conn, PushItem *item, long retry_ms,
							 const char *why);
static void push_dead_letter(ZdConnState *conn, PushItem *item, const char *why);

/*
 * zd_push_reset
 *		(Re)initialize a connection's push state.  Items still in flight in
 *		zd_outbox are claimed again, as retries, by the first claim after
 *		the requests sent before the reset have ended: a retry must not
 *		overtake the attempt it repeats (a reply's retry first looks for
 *		the reply in the ticket's audits).
 */
void
zd_push_reset(ZdConnState *conn)
{
	ZdPushState *p = conn->push;

	if (p == NULL)
	{
		p = MemoryContextAllocZero(conn->context, sizeof(ZdPushState));
		p->context = AllocSetContextCreate(conn->context, "corsa_zendesk push",
										   ALLOCSET_SMALL_SIZES);
		conn->push = p;
	}
	else
	{
		ListCell   *lc;

		foreach(lc, p->items)
		{
			if (((PushItem *) lfirst(lc))->in_flight)
				p->stale_in_flight++;
		}
		MemoryContextReset(p->context);
		p->items = NIL;
		p->generation++;
		p->orphans_requeued = false;
	}
	p->next_claim_at = 0;
}

/*
 * zd_push_wake
 *		Something may have been queued: claim at the next step.
 */
void
zd_push_wake(ZdConnState *conn)
{
	if (conn->push != NULL)
		conn->push->next_claim_at = 0;
}

/*
 * zd_push_step
 *		Start the requests that are due, then claim more items while there
 *		is room.  Returns when to look again (0: only when woken or when a
 *		request ends).
 */
TimestampTz
zd_push_step(ZdConnState *conn, TimestampTz now)
{
	ZdPushState *p = conn->push;
	TimestampTz next = 0;
	TimestampTz ready;

	if (conn->account == NULL || !conn->enabled)
		return 0;

	next = start_due(conn, now);
	if (zd_max_concurrency - list_length(p->items) <= 0 || p->stale_in_flight > 0)
		return next;
	if (p->next_claim_at > now)
		return zd_earliest(next, p->next_claim_at);
	ready = zdapi_ready_at(conn->account, ZD_ENDPOINT_ACCOUNT, now);
	if (ready > now)
		return zd_earliest(next, ready);

	p->next_claim_at = TimestampTzPlusMilliseconds(now, ZD_PUSH_RECHECK_MS);
	if (zd_worker_guarded("claiming pushes", push_claim, conn))
		next = zd_earliest(next, start_due(conn, now));
	/* an item that needed no request leaves room: claim again at once */
	return zd_earliest(next, p->next_claim_at == 0 ? now : p->next_claim_at);
}

/*
 * start_due
 *		Send the next request of every item that is not in flight, as far
 *		as the account's rate limit allows.  Returns when the first of the
 *		others may go (0: none waits).
 */
static TimestampTz
start_due(ZdConnState *conn, TimestampTz now)
{
	List	   *items = list_copy(conn->push->items);
	TimestampTz next = 0;
	ListCell   *lc;

	/* push_start may finish an item (and drop it from the list) */
	foreach(lc, items)
	{
		PushItem   *item = (PushItem *) lfirst(lc);
		TimestampTz ready;

		if (item->in_flight)
			continue;
		ready = Max(item->start_at, zdapi_ready_at(conn->account, ZD_ENDPOINT_ACCOUNT, now));
		if (ready > now)
		{
			item->start_at = ready;
			next = zd_earliest(next, ready);
			continue;
		}
		push_start(conn, item);
	}
	list_free(items);
	return next;
}

/* a bigint column of an SPI row, 0 when null */
static int64
spi_int8(HeapTuple tup, TupleDesc desc, int col)
{
	bool		isnull;
	Datum		d = SPI_getbinval(tup, desc, col, &isnull);

	return isnull ? 0 : DatumGetInt64(d);
}

/* a boolean column of an SPI row, dflt when null */
static bool
spi_bool(HeapTuple tup, TupleDesc desc, int col, bool dflt)
{
	bool		isnull;
	Datum		d = SPI_getbinval(tup, desc, col, &isnull);

	return isnull ? dflt : DatumGetBool(d);
}

/* the claim: $1 connection, $2 tickets already in flight, $3 room */
static char *
claim_sql(void)
{
	const char *outbox = zd_qualified("zd_outbox");
	const char *tickets = zd_qualified("zd_tickets");
	const char *replies = zd_qualified("zd_replies");
	const char *conns = zd_qualified("zd_connections");

	return psprintf("WITH claimable AS ("
					" SELECT o.id FROM %s o JOIN %s t ON t.id = o.ticket_id"
					" WHERE o.connection_id = $1 AND o.state = 'pending'"
					" AND o.next_attempt_at <= now() AND o.ticket_id <> ALL ($2)"
					" AND (o.kind = 'create_ticket' OR t.zendesk_id IS NOT NULL)"
					" AND NOT EXISTS (SELECT 1 FROM %s e WHERE e.ticket_id = o.ticket_id"
					" AND e.id < o.id AND e.state IN ('pending', 'in_flight'))"
					" ORDER BY o.next_attempt_at, o.id LIMIT $3 FOR UPDATE OF o SKIP LOCKED),"
					" claimed AS ("
					" UPDATE %s o SET state = 'in_flight', attempts = o.attempts + 1,"
					" claimed_at = now(), idempotency_key = CASE WHEN o.kind = 'create_ticket'"
					" THEN coalesce(o.idempotency_key, k.push_key_prefix || '-ticket-' || o.ticket_id)"
					" END"
					" FROM claimable c, %s k WHERE o.id = c.id AND k.id = o.connection_id"
					" RETURNING o.*)"
					" SELECT c.id, c.kind, c.ticket_id, c.reply_id, c.status, c.attempts,"
					" c.idempotency_key, t.zendesk_id, t.subject, t.description, t.requester_email,"
					" t.requester_name, t.requester_zendesk_id, t.status, t.priority, t.ticket_type,"
					" array_to_json(t.tags)::text, r.body, r.public, r.author_email,"
					" r.author_zendesk_id, r.zendesk_comment_id IS NOT NULL,"
					" k.agent_email, k.push_key_prefix"
					" FROM claimed c JOIN %s t ON t.id = c.ticket_id"
					" LEFT JOIN %s r ON r.id = c.reply_id JOIN %s k ON k.id = c.connection_id"
					" ORDER BY c.id",
					outbox, tickets, outbox, outbox, conns, tickets, replies, conns);
}

/* when the first item waiting out its backoff is due: $1 connection */
static char *
next_due_sql(void)
{
	return psprintf("SELECT min(next_attempt_at) FROM %s WHERE state = 'pending'"
					" AND next_attempt_at > now() AND connection_id = $1",
					zd_qualified("zd_outbox"));
}

/*
 * push_claim
 *		Take the next items that may go now (own transaction), and decide
 *		each one's first stage.
 */
static void
push_claim(void *arg)
{
	ZdConnState *conn = (ZdConnState *) arg;
	ZdPushState *p = conn->push;
	ArrayBuildState *ticket_ids;
	Oid			types[3] = {INT4OID, INT8ARRAYOID, INT4OID};
	Datum		values[3];
	ListCell   *lc;
	uint64		i;

	zd_xact_begin("corsa_zendesk: claiming pushes");

	/*
	 * Items in flight that this process is not sending were left by a
	 * restart or a crash: they go again, as retries.  Looked at once, when
	 * nothing of ours is in flight (after start and after a reset).  A
	 * reply's retry looks in the audits no sooner than twice the request
	 * timeout after its attempt left, as after a failure it saw
	 * (zd_push_handle): Zendesk may still be applying that attempt.
	 */
	if (!p->orphans_requeued && p->items == NIL)
	{
		Datum		args[2] = {Int32GetDatum(conn->id), Int64GetDatum(2 * (int64) zd_http_timeout)};

		zd_spi_exec_params(psprintf("UPDATE %s SET state = 'pending',"
									" next_attempt_at = CASE WHEN kind = 'add_reply'"
									" THEN greatest(next_attempt_at,"
									" claimed_at + $2 * interval '1 millisecond')"
									" ELSE next_attempt_at END"
									" WHERE connection_id = $1 AND state = 'in_flight'",
									zd_qualified("zd_outbox")),
						   2, (Oid[]) {INT4OID, INT8OID}, args, SPI_OK_UPDATE);
		p->orphans_requeued = true;
	}

	ticket_ids = initArrayResult(INT8OID, CurrentMemoryContext, false);
	foreach(lc, p->items)
	{
		PushItem   *item = (PushItem *) lfirst(lc);

		accumArrayResult(ticket_ids, Int64GetDatum(item->ticket_id), false, INT8OID,
						 CurrentMemoryContext);
	}
	values[0] = Int32GetDatum(conn->id);
	/* items of the tickets already in flight wait for those */
	values[1] = makeArrayResult(ticket_ids, CurrentMemoryContext);
	values[2] = Int32GetDatum(zd_max_concurrency - list_length(p->items));
	zd_spi_run_plan(zd_saved_plan(ZD_PLAN_PUSH_CLAIM, claim_sql, 3, types), values, NULL,
					SPI_OK_SELECT);
	for (i = 0; i < SPI_processed; i++)
	{
		HeapTuple	tup = SPI_tuptable->vals[i];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		MemoryContext context = AllocSetContextCreate(p->context, "corsa_zendesk push item",
													  ALLOCSET_SMALL_SIZES);
		MemoryContext oldcxt = MemoryContextSwitchTo(context);
		PushItem   *item = palloc0(sizeof(PushItem));
		char	   *kind = SPI_getvalue(tup, desc, 2);
		bool		isnull;

		item->context = context;
		item->connection_id = conn->id;
		item->outbox_id = spi_int8(tup, desc, 1);
		item->kind = strcmp(kind, "create_ticket") == 0 ? PUSH_CREATE
			: strcmp(kind, "add_reply") == 0 ? PUSH_REPLY : PUSH_STATUS;
		item->ticket_id = spi_int8(tup, desc, 3);
		item->reply_id = spi_int8(tup, desc, 4);
		item->new_status = SPI_getvalue(tup, desc, 5);
		item->attempts = (int) DatumGetInt32(SPI_getbinval(tup, desc, 6, &isnull));
		item->idempotency_key = SPI_getvalue(tup, desc, 7);
		item->zendesk_id = spi_int8(tup, desc, 8);
		item->subject = SPI_getvalue(tup, desc, 9);
		item->description = SPI_getvalue(tup, desc, 10);
		item->requester_email = SPI_getvalue(tup, desc, 11);
		item->requester_name = SPI_getvalue(tup, desc, 12);
		item->requester_id = spi_int8(tup, desc, 13);
		item->ticket_status = SPI_getvalue(tup, desc, 14);
		item->priority = SPI_getvalue(tup, desc, 15);
		item->ticket_type = SPI_getvalue(tup, desc, 16);
		item->tags_json = SPI_getvalue(tup, desc, 17);
		item->body = SPI_getvalue(tup, desc, 18);
		item->is_public = spi_bool(tup, desc, 19, true);
		item->author_email = SPI_getvalue(tup, desc, 20);
		item->author_id = spi_int8(tup, desc, 21);
		item->has_comment_id = spi_bool(tup, desc, 22, false);
		item->agent_email = SPI_getvalue(tup, desc, 23);
		item->key_prefix = SPI_getvalue(tup, desc, 24);

		switch (item->kind)
		{
			case PUSH_CREATE:
				item->stage = item->attempts > 1 ? STAGE_FIND_CREATED : STAGE_CREATE;
				break;
			case PUSH_REPLY:
				item->stage = item->attempts > 1 ? STAGE_FIND_COMMENT : STAGE_REPLY;
				break;
			case PUSH_STATUS:
				item->stage = STAGE_STATUS;
				break;
		}
		/* the list outlives the transaction */
		MemoryContextSwitchTo(p->context);
		p->items = lappend(p->items, item);
		MemoryContextSwitchTo(oldcxt);
	}

	/* an item waiting out its backoff: look again when it is due */
	zd_spi_run_plan(zd_saved_plan(ZD_PLAN_PUSH_NEXT_DUE, next_due_sql, 1, types), values, NULL,
					SPI_OK_SELECT);
	if (SPI_processed == 1)
	{
		bool		isnull;
		Datum		due = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);

		if (!isnull)
			p->next_claim_at = Min(p->next_claim_at, DatumGetTimestampTz(due));
	}
	zd_xact_commit();
}

/* the reply's author needs looking up: an e-mail that is not the agent's */
static bool
needs_author(PushItem *item)
{
	return item->author_id == 0 && item->author_email != NULL &&
		pg_strcasecmp(item->author_email, item->agent_email) != 0;
}

/*
 * push_start
 *		Send the request of the item's stage, or finish it at once when the
 *		row no longer needs it (already pushed: a duplicate queue item, or a
 *		webhook that linked it first).
 */
static void
push_start(ZdConnState *conn, PushItem *item)
{
	MemoryContext oldcxt = MemoryContextSwitchTo(item->context);
	const char *method = "GET";
	char	   *path = NULL;
	char	   *body = NULL;
	char	   *json = NULL;
	const char *key = NULL;

	if ((item->kind == PUSH_CREATE && item->zendesk_id != 0) ||
		(item->kind == PUSH_REPLY && item->has_comment_id))
	{
		MemoryContextSwitchTo(oldcxt);
		if (!zd_worker_guarded("recording a push", zd_push_record_sent, item))
			push_retry_later(conn, item, 1000, "could not record the push");
		else
			push_finish(conn, item);
		return;
	}
	if (item->stage == STAGE_REPLY && needs_author(item))
		item->stage = STAGE_FIND_AUTHOR;

	switch (item->stage)
	{
		case STAGE_FIND_CREATED:
			path = psprintf("/api/v2/tickets.json?external_id=corsa%%3A" INT64_FORMAT,
							item->ticket_id);
			break;
		case STAGE_CREATE:
		case STAGE_FOLLOWUP:
			{
				ZdPushTicket t = {0};

				t.subject = item->subject;
				t.body = item->stage == STAGE_CREATE ? item->description : item->body;
				t.is_public = item->stage == STAGE_CREATE ? true : item->is_public;
				t.priority = item->priority;
				t.type = item->ticket_type;
				t.tags_json = item->tags_json;
				if (item->stage == STAGE_CREATE)
				{
					t.requester_email = item->requester_email;
					t.requester_name = item->requester_name;
					t.external_id = psprintf("corsa:" INT64_FORMAT, item->ticket_id);
					t.status = item->ticket_status;
					key = item->idempotency_key;
				}
				else
				{
					t.requester_id = item->requester_id;
					if (item->requester_id == 0)
					{
						t.requester_email = item->requester_email;
						t.requester_name = item->requester_name;
					}
					t.author_id = item->author_id;
					t.followup_source_id = item->zendesk_id;
					t.marker_key = ZD_REPLY_MARKER;
					t.marker_value = item->reply_id;
					key = psprintf("%s-followup-" INT64_FORMAT, item->key_prefix, item->reply_id);
				}
				json = zdjson_build_ticket_create(&t);
				method = "POST";
				path = pstrdup("/api/v2/tickets.json");
				break;
			}
		case STAGE_FIND_COMMENT:
			path = psprintf("/api/v2/tickets/" INT64_FORMAT
							"/audits.json?page%%5Bsize%%5D=100&sort=-created_at",
							item->zendesk_id);
			break;
		case STAGE_FIND_AUTHOR:
			path = psprintf("/api/v2/users/search.json?query=%s",
							zdh_url_escape(psprintf("email:%s", item->author_email)));
			break;
		case STAGE_CREATE_AUTHOR:
			json = zdjson_build_end_user(item->author_email, NULL);
			method = "POST";
			path = pstrdup("/api/v2/users/create_or_update.json");
			break;
		case STAGE_REPLY:
			json = zdjson_build_ticket_update(item->body != NULL ? item->body : "",
											  item->is_public, item->author_id, NULL,
											  ZD_REPLY_MARKER, item->reply_id);
			method = "PUT";
			path = psprintf("/api/v2/tickets/" INT64_FORMAT ".json", item->zendesk_id);
			break;
		case STAGE_STATUS:
			json = zdjson_build_ticket_update(NULL, true, 0, item->new_status, NULL, 0);
			method = "PUT";
			path = psprintf("/api/v2/tickets/" INT64_FORMAT ".json", item->zendesk_id);
			break;
	}
	if (json != NULL)
	{
		body = pstrdup(json);
		free(json);
	}
	else if (strcmp(method, "GET") != 0)
		elog(ERROR, "out of memory building a push request");
	MemoryContextSwitchTo(oldcxt);

	if (item->kind == PUSH_REPLY)
		zd_worker_note_reply_push();
	(void) zd_worker_start_request(conn, ZD_TASK_PUSH, 0, conn->push->generation, item,
								   ZD_ENDPOINT_ACCOUNT, method, path, body, key);
	item->in_flight = true;
}

/* the 422 Zendesk gives an update of a closed ticket */
static bool
closed_ticket_refusal(const ZdHttpRequest *req)
{
	return req->status == 422 && req->response != NULL &&
		strstr(req->response, "closed prevents ticket update") != NULL;
}

/*
 * zd_push_handle
 *		A request of an item has ended: record the answer, go on to the
 *		item's next stage, retry later, or dead-letter it.
 */
void
zd_push_handle(ZdConnState *conn, ZdHttpRequest *req, ZdRequestTag *tag)
{
	PushItem   *item = (PushItem *) tag->data;
	long		retry_ms;
	ZdOutcome	outcome;
	const char *parse_error = NULL;
	volatile bool ok = true;

	if (tag->generation != conn->push->generation)
	{
		/* claimed before a reset: gone (the item goes again as a retry) */
		conn->push->stale_in_flight--;
		return;
	}
	item->in_flight = false;
	if (!conn->present || conn->account == NULL)
	{
		/*
		 * The account is gone (its token could not be decrypted): the
		 * answer cannot be noted.  The item goes back to the queue, as a
		 * retry (which looks for what the request may have done).
		 */
		push_retry_later(conn, item, zdapi_retry_delay_ms(item->attempts),
						 "the account's API token could not be read");
		return;
	}
	item->req = req;
	outcome = zdapi_note_result(conn->account, req, item->attempts, &retry_ms);

	if (outcome == ZD_OUTCOME_FAIL)
	{
		if (item->stage == STAGE_REPLY && closed_ticket_refusal(req))
		{
			/* a closed ticket takes no reply: a follow-up ticket does */
			item->stage = STAGE_FOLLOWUP;
			item->start_at = 0;
			item->req = NULL;
			return;
		}
		push_dead_letter(conn, item, zdapi_describe_failure(req));
		return;
	}
	if (outcome == ZD_OUTCOME_OK)
	{
		item->root = zdjson_parse(req->response, req->response_len, &parse_error);
		if (item->root == NULL)
		{
			outcome = ZD_OUTCOME_RETRY;
			retry_ms = zdapi_retry_delay_ms(item->attempts);
		}
	}
	if (outcome == ZD_OUTCOME_RETRY)
	{
		/*
		 * A comment has no idempotency key: its retry first looks for it in
		 * the ticket's audits.  When the PUT may still be in Zendesk's
		 * hands (no answer heard, or a 5xx), give Zendesk the time we gave
		 * the request before looking, or the look-up could miss a comment
		 * that lands just after it, and post it twice.
		 */
		if (item->stage == STAGE_REPLY &&
			(zdh_maybe_delivered(req) || req->status >= 500))
			retry_ms = Max(retry_ms, (long) zd_http_timeout);
		push_retry_later(conn, item, retry_ms,
						 parse_error ? psprintf("response is not JSON: %s", parse_error)
						 : zdapi_describe_failure(req));
		return;
	}

	item->finished = true;
	PG_TRY();
	{
		switch (item->stage)
		{
			case STAGE_FIND_CREATED:
				{
					ZdJsonTicket found;

					if (zdjson_first_ticket(item->root, &found))
						ok = zd_worker_guarded("recording a pushed ticket", zd_push_record_created, item);
					else
					{
						item->stage = STAGE_CREATE;
						item->start_at = 0;
						item->finished = false;
					}
					break;
				}
			case STAGE_CREATE:
				ok = zd_worker_guarded("recording a pushed ticket", zd_push_record_created, item);
				break;
			case STAGE_FIND_COMMENT:
				{
					ZdJsonComment found;

					if (zdjson_marked_audit_comment(item->root, ZD_REPLY_MARKER,
													item->reply_id, &found))
						ok = zd_worker_guarded("recording a pushed reply", zd_push_record_reply, item);
					else
					{
						item->stage = STAGE_REPLY;
						item->start_at = 0;
						item->finished = false;
					}
					break;
				}
			case STAGE_FIND_AUTHOR:
			case STAGE_CREATE_AUTHOR:
				{
					int64_t		id;

					if (zdjson_found_user_id(item->root, &id))
					{
						item->author_id = id;
						item->stage = STAGE_REPLY;
					}
					else if (item->stage == STAGE_FIND_AUTHOR)
						item->stage = STAGE_CREATE_AUTHOR;
					else
					{
						ok = false;
						item->error = pstrdup("Zendesk created no user for the reply's author");
					}
					item->start_at = 0;
					item->finished = false;
					break;
				}
			case STAGE_REPLY:
				ok = zd_worker_guarded("recording a pushed reply", zd_push_record_reply, item);
				break;
			case STAGE_FOLLOWUP:
				ok = zd_worker_guarded("recording a follow-up ticket", zd_push_record_followup, item);
				break;
			case STAGE_STATUS:
				ok = zd_worker_guarded("recording a pushed status", zd_push_record_status, item);
				break;
		}
	}
	PG_FINALLY();
	{
		zdjson_free(item->root);
		item->root = NULL;
	}
	PG_END_TRY();

	if (!ok)
	{
		if (item->error != NULL)
			push_dead_letter(conn, item, item->error);
		else
			push_retry_later(conn, item, zdapi_retry_delay_ms(item->attempts),
							 "the answer could not be recorded; see the server log");
		return;
	}
	item->req = NULL;			/* freed by the caller */
	if (item->finished)
		push_finish(conn, item);	/* recorded */
}

/*
 * push_finish
 *		Forget a finished item; the next step claims again at once (items of
 *		its ticket may now go).
 */
static void
push_finish(ZdConnState *conn, PushItem *item)
{
	ZdPushState *p = conn->push;

	p->items = list_delete_ptr(p->items, item);
	p->next_claim_at = 0;
	MemoryContextDelete(item->context);
}

/*
 * push_retry_later / push_dead_letter
 *		Put the item back in the queue with its backoff (dead-letter it
 *		instead when its attempts are used up), or set it aside at once.
 *		The item leaves this process either way.
 */
static void
push_retry_later(ZdConnState *conn, PushItem *item, long retry_ms, const char *why)
{
	PushFailure f = {conn, item, why, retry_ms, item->attempts >= zd_max_attempts};

	(void) zd_worker_guarded("recording a failed push", zd_push_record_failure, &f);
	push_finish(conn, item);
}

static void
push_dead_letter(ZdConnState *conn, PushItem *item, const char *why)
{
	PushFailure f = {conn, item, why, 0, true};

	(void) zd_worker_guarded("recording a failed push", zd_push_record_failure, &f);
	push_finish(conn, item);
}

