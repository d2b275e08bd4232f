/*-------------------------------------------------------------------------
 *
 * pull.c
 *		Zendesk -> Corsa: the historical import, zd_full_sync runs and the
 *		polls, as one state machine per connection driven by the worker.
 *
 * A run reads two streams at once: the cursor-based incremental ticket
 * export (with the users sideloaded, for requester e-mails) and the
 * time-based ticket-event export with comment events (every comment, the
 * first one included).  The number of requests grows with pages, never
 * with tickets.  Each page is applied in one transaction together with the
 * run's position in its stream, so a crash or restart resumes exactly
 * where the last committed page left off; upserts keyed by Zendesk ids make
 * re-read pages harmless.  When both streams have reached their end the
 * run fetches who deleted the tickets it saw deleted (deleted_tickets),
 * asks for users it still lacks (users/show_many), and hands its cursors
 * to the connection, where the next poll resumes (the ticket cursor is
 * kept even after end_of_stream, as Zendesk asks).
 *
 * Requests go out only as Zendesk's limits allow (zendesk_client.c): the
 * incremental endpoints' own per-minute window and the account's.  A
 * failed request is retried with backoff and jitter, Retry-After first;
 * after corsa_zendesk.max_attempts failures of the same request, or an
 * error retrying cannot fix (401, 403, 404 ...), the run fails and the
 * next poll starts again from the last saved position.
 *
 * src/pull.c
 *
 *-------------------------------------------------------------------------
 */
#include "corsa_zendesk.h"

#include "catalog/pg_type_d.h"
#include "executor/spi.h"
#include "utils/builtins.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

#include "store.h"
#include "worker.h"
#include "zd_json.h"

/* steps of a run (ZdRequestTag.step) */
typedef enum PullStep
{
	STEP_TICKETS,
	STEP_EVENTS,
	STEP_DELETED,
	STEP_USERS
} PullStep;

/* pages of deleted_tickets read per run at most */
#define ZD_MAX_DELETED_PAGES	10
/* users/show_many requests per run at most (100 users each) */
#define ZD_MAX_USER_REQUESTS	10
#define ZD_FILL_GAP_MS			1000
/* how long to wait before retrying after a failure to even start a run */
#define ZD_RUN_START_RETRY_MS	10000

/* One request stream of a run, with its retry state. */
typedef struct Stream
{
	bool		done;
	bool		in_flight;
	int			attempts;		/* consecutive failures of the current request */
	TimestampTz retry_at;
	int64		first_mark;		/* first timestamp seen (for progress) */
	double		fraction;		/* progress of this stream, 0..1 */
} Stream;

struct ZdPullState
{
	MemoryContext context;		/* cursors and ids; reset with each run */
	int			generation;		/* bumped by each reset; tags requests */
	int64		run_id;			/* 0 while no run is active */
	char		kind[16];		/* import, full_sync, poll */
	TimestampTz started_at;
	bool		any_page;		/* progress becomes known with the first page */

	Stream		tickets;
	char	   *ticket_cursor;	/* NULL: start at start_time 0 */
	bool		last_was_tickets;	/* which export took the last turn */

	Stream		events;
	int64		events_start_time;

	Stream		deleted;
	char	   *deleted_cursor;
	int			deleted_pages;
	bool		saw_deletions;	/* this run marked tickets deleted */

	Stream		users;
	int			user_requests;
	char	   *missing_users;	/* "id,id,..." being asked for */
	bool		filling;		/* asking for users outside a run */
	TimestampTz next_fill_at;	/* no new fill before this */

	int64		unsaved_requests;	/* requests made since the run row was saved */
	int64		changes;		/* new objects and newer states (missed webhooks) */
};

/* context handed to the guarded helpers */
typedef struct PageApply
{
	ZdConnState *conn;
	ZdHttpRequest *req;
	struct json_object *root;
	PullStep	step;
} PageApply;

static void pull_begin_run(void *arg);
static void pull_finish_run(void *arg);
static void pull_fail_run(ZdConnState *conn, const char *error);
static void log_fill_failure(void *arg);
static TimestampTz pull_streams_step(ZdConnState *conn, TimestampTz now,
									 TimestampTz next);
static TimestampTz pull_fill_step(ZdConnState *conn, TimestampTz now, TimestampTz next);
static TimestampTz pull_consider(ZdConnState *conn, Stream *stream, PullStep step,
								 ZdEndpointClass cls, TimestampTz now, TimestampTz next);
static void pull_start(ZdConnState *conn, PullStep step, ZdEndpointClass cls);
static void apply_ticket_page(void *arg);
static void apply_event_page(void *arg);
static void apply_deleted_page(void *arg);
static void apply_users(void *arg);
static void find_missing_users(void *arg);
static void save_progress(ZdPullState *p, int64 pages, ZdStoreCounts *counts);
static Stream *step_stream(ZdPullState *p, PullStep step);
static const char *step_name(PullStep step);

/*
 * zd_pull_reset
 *		(Re)initialize a connection's pull state: no run active.  Answers
 *		of requests started before are stale from then on (a new run must
 *		not take the old run's page).
 */
void
zd_pull_reset(ZdConnState *conn)
{
	ZdPullState *p = conn->pull;

	if (p == NULL)
	{
		p = MemoryContextAllocZero(conn->context, sizeof(ZdPullState));
		p->context = AllocSetContextCreate(conn->context, "corsa_zendesk pull",
										   ALLOCSET_SMALL_SIZES);
		conn->pull = p;
	}
	else
	{
		MemoryContext context = p->context;
		int			generation = p->generation;

		MemoryContextReset(context);
		memset(p, 0, sizeof(ZdPullState));
		p->context = context;
		p->generation = generation + 1;
	}
}

/*
 * zd_pull_step
 *		Start whatever the connection's pull can start now: a run when one
 *		is queued or a poll is due, then the next requests of that run.
 *		Returns when to look again (0: nothing planned).
 */
TimestampTz
zd_pull_step(ZdConnState *conn, TimestampTz now)
{
	ZdPullState *p = conn->pull;
	TimestampTz next = 0;

	if (conn->account == NULL || !conn->enabled)
		return 0;

	if (p->run_id == 0)
	{
		bool		due = conn->has_pending_run ||
			(conn->next_poll_at != 0 && conn->next_poll_at <= now);

		/* finish asking for users first; then the run (or more filling) */
		if (p->filling && p->users.in_flight)
			return 0;
		if (!due)
		{
			if (conn->fill_requested)
				return pull_fill_step(conn, now, conn->next_poll_at);
			return conn->next_poll_at;
		}
		p->filling = false;
		if (!zd_worker_guarded("starting a sync run", pull_begin_run, conn))
			return TimestampTzPlusMilliseconds(now, ZD_RUN_START_RETRY_MS);
		if (p->run_id == 0)
			return conn->next_poll_at;
	}

	next = pull_streams_step(conn, now, next);
	if (p->run_id == 0 || !p->tickets.done || !p->events.done)
		return next;

	/* then who deleted what */
	if (p->saw_deletions && !p->deleted.done)
		return pull_consider(conn, &p->deleted, STEP_DELETED, ZD_ENDPOINT_EXPORT, now, next);

	/* then the users we still lack */
	if (!p->users.done)
	{
		if (!p->users.in_flight && p->missing_users == NULL &&
			!zd_worker_guarded("looking for missing users", find_missing_users, conn))
			p->users.done = true;
		if (!p->users.done)
			return pull_consider(conn, &p->users, STEP_USERS, ZD_ENDPOINT_ACCOUNT, now, next);
	}

	if (!zd_worker_guarded("finishing a sync run", pull_finish_run, conn))
		pull_fail_run(conn, "the run could not be finished; see the server log");
	return conn->next_poll_at;
}

/*
 * pull_fill_step
 *		Between runs: ask Zendesk for users that rows written by webhooks
 *		refer to without an e-mail (the worker is woken at commit when there
 *		are some), so that their tickets get the requester's e-mail and
 *		client.  Stops when none is left, or after ZD_MAX_USER_REQUESTS
 *		requests until the next wake-up.
 */
static TimestampTz
pull_fill_step(ZdConnState *conn, TimestampTz now, TimestampTz next)
{
	ZdPullState *p = conn->pull;

	if (p->users.in_flight)
		return next;
	if (!p->filling && now < p->next_fill_at)
		return next == 0 ? p->next_fill_at : Min(next, p->next_fill_at);
	if (!p->filling)
	{
		p->filling = true;
		p->users.done = false;
		p->users.attempts = 0;
		p->user_requests = 0;
		p->missing_users = NULL;
	}
	if (p->missing_users == NULL &&
		!zd_worker_guarded("looking for missing users", find_missing_users, conn))
		p->users.done = true;
	if (p->users.done)
	{
		/* a burst of webhooks gets one fill a second, not one per commit */
		conn->fill_requested = false;
		p->filling = false;
		p->next_fill_at = TimestampTzPlusMilliseconds(now, ZD_FILL_GAP_MS);
		return next;
	}
	return pull_consider(conn, &p->users, STEP_USERS, ZD_ENDPOINT_ACCOUNT, now, next);
}

/*
 * pull_streams_step
 *		The two exports take turns: one export request in flight at a time,
 *		so that a 429 is always heard before the next request leaves.  The
 *		page handlers call this too, once they know the next position and
 *		before they apply their page, so that the next page downloads while
 *		this one is written.
 */
static TimestampTz
pull_streams_step(ZdConnState *conn, TimestampTz now, TimestampTz next)
{
	ZdPullState *p = conn->pull;
	bool		tickets_first;

	if (p->tickets.in_flight || p->events.in_flight)
		return next;
	tickets_first = !p->tickets.done && (p->events.done || !p->last_was_tickets);
	if (tickets_first)
		next = pull_consider(conn, &p->tickets, STEP_TICKETS, ZD_ENDPOINT_EXPORT, now, next);
	if (!p->tickets.in_flight)
		next = pull_consider(conn, &p->events, STEP_EVENTS, ZD_ENDPOINT_EXPORT, now, next);
	if (!tickets_first && !p->events.in_flight)
		next = pull_consider(conn, &p->tickets, STEP_TICKETS, ZD_ENDPOINT_EXPORT, now, next);
	return next;
}

/*
 * pull_consider
 *		Start the stream's next request if it is due and Zendesk's limits
 *		allow; otherwise note when it could go.
 */
static TimestampTz
pull_consider(ZdConnState *conn, Stream *stream, PullStep step,
			  ZdEndpointClass cls, TimestampTz now, TimestampTz next)
{
	TimestampTz ready;

	if (stream->done || stream->in_flight)
		return next;
	if (stream->retry_at > now)
		return zd_earliest(next, stream->retry_at);
	ready = zdapi_ready_at(conn->account, cls, now);
	if (ready > now)
		return zd_earliest(next, ready);
	pull_start(conn, step, cls);
	return next;
}

/*
 * pull_start
 *		Send the request for a step.
 */
static void
pull_start(ZdConnState *conn, PullStep step, ZdEndpointClass cls)
{
	ZdPullState *p = conn->pull;
	char	   *path;

	switch (step)
	{
		case STEP_TICKETS:
			if (p->ticket_cursor != NULL)
				path = psprintf("/api/v2/incremental/tickets/cursor.json?cursor=%s"
								"&include=users&support_type_scope=all",
								zdh_url_escape(p->ticket_cursor));
			else
				path = pstrdup("/api/v2/incremental/tickets/cursor.json?start_time=0"
							   "&include=users&support_type_scope=all");
			break;
		case STEP_EVENTS:
			path = psprintf("/api/v2/incremental/ticket_events.json?start_time=" INT64_FORMAT
							"&include=comment_events&support_type_scope=all",
							p->events_start_time);
			break;
		case STEP_DELETED:
			if (p->deleted_cursor != NULL)
				path = psprintf("/api/v2/deleted_tickets.json?page%%5Bsize%%5D=100"
								"&page%%5Bafter%%5D=%s&sort_by=deleted_at&sort_order=desc",
								zdh_url_escape(p->deleted_cursor));
			else
				path = pstrdup("/api/v2/deleted_tickets.json?page%5Bsize%5D=100"
							   "&sort_by=deleted_at&sort_order=desc");
			break;
		case STEP_USERS:
			path = psprintf("/api/v2/users/show_many.json?ids=%s", p->missing_users);
			break;
		default:
			elog(ERROR, "unexpected pull step %d", step);
	}

	(void) zd_worker_start_request(conn, ZD_TASK_PULL, step, p->generation, NULL, cls,
								   "GET", path, NULL, NULL);
	step_stream(p, step)->in_flight = true;
	if (step == STEP_TICKETS || step == STEP_EVENTS)
		p->last_was_tickets = (step == STEP_TICKETS);
	p->unsaved_requests++;
	pfree(path);
}

/*
 * zd_pull_handle
 *		A request of the pull has ended: retry it later, fail the run, or
 *		apply the page.
 */
void
zd_pull_handle(ZdConnState *conn, ZdHttpRequest *req, ZdRequestTag *tag)
{
	ZdPullState *p = conn->pull;
	PullStep	step = (PullStep) tag->step;
	Stream	   *stream = step_stream(p, step);
	PageApply	apply = {0};
	long		retry_ms;
	ZdOutcome	outcome;
	const char *parse_error = NULL;

	if (tag->generation != p->generation)
		return;					/* started before a reset: not this state's */
	stream->in_flight = false;
	if (!conn->present || conn->account == NULL)
		return;					/* asked again once the account is back */
	if (p->run_id == 0 && !(p->filling && step == STEP_USERS))
		return;					/* the run ended meanwhile */

	outcome = zdapi_note_result(conn->account, req, stream->attempts + 1, &retry_ms);

	/* a start_time in the last minute or so means "nothing yet" */
	if (outcome == ZD_OUTCOME_FAIL && step == STEP_EVENTS && req->status == 422 &&
		strstr(req->response, "Too recent") != NULL)
	{
		stream->done = true;
		stream->attempts = 0;
		return;
	}

	if (outcome == ZD_OUTCOME_OK)
	{
		apply.root = zdjson_parse(req->response, req->response_len, &parse_error);
		if (apply.root == NULL)
		{
			/* a complete response that is not JSON: treat as a failure */
			outcome = ZD_OUTCOME_RETRY;
			retry_ms = zdapi_retry_delay_ms(stream->attempts + 1);
		}
	}

	if (outcome == ZD_OUTCOME_RETRY)
	{
		char	   *why = parse_error
			? psprintf("response is not JSON: %s", parse_error)
			: zdapi_describe_failure(req);

		stream->attempts++;
		if (stream->attempts >= zd_max_attempts)
		{
			pull_fail_run(conn, psprintf("%s failed %d times; last: %s",
										 step_name(step), stream->attempts, why));
			return;
		}
		stream->retry_at = TimestampTzPlusMilliseconds(GetCurrentTimestamp(), retry_ms);
		zd_xact_begin("corsa_zendesk: logging a retry");
		zd_log(ZD_LOG_WARNING, conn->id, p->run_id, NULL,
			   "%s of %s failed (%s); retrying in %.1f s (attempt %d of %d)",
			   step_name(step), conn->subdomain, why, retry_ms / 1000.0,
			   stream->attempts + 1, zd_max_attempts);
		zd_xact_commit();
		return;
	}
	if (outcome == ZD_OUTCOME_FAIL)
	{
		pull_fail_run(conn, psprintf("%s failed: %s%s", step_name(step),
									 zdapi_describe_failure(req),
									 req->status == 401 || req->status == 403
									 ? " (check the credentials with zd_configure)" : ""));
		return;
	}

	stream->attempts = 0;
	apply.conn = conn;
	apply.req = req;
	apply.step = step;
	PG_TRY();
	{
		bool		ok;

		switch (step)
		{
			case STEP_TICKETS:
				ok = zd_worker_guarded("applying a ticket page", apply_ticket_page, &apply);
				break;
			case STEP_EVENTS:
				ok = zd_worker_guarded("applying a ticket-event page", apply_event_page, &apply);
				break;
			case STEP_DELETED:
				ok = zd_worker_guarded("applying deleted tickets", apply_deleted_page, &apply);
				break;
			default:
				ok = zd_worker_guarded("applying users", apply_users, &apply);
				break;
		}
		if (!ok)
			pull_fail_run(conn, psprintf("%s could not be applied; see the server log",
										 step_name(step)));
	}
	PG_FINALLY();
	{
		zdjson_free(apply.root);
	}
	PG_END_TRY();
}

/*
 * pull_begin_run
 *		Take the connection's queued (or interrupted) run, or create a poll
 *		when one is due, and load where it stands.
 */
static void
pull_begin_run(void *arg)
{
	ZdConnState *conn = (ZdConnState *) arg;
	ZdPullState *p = conn->pull;
	Datum		id = Int32GetDatum(conn->id);
	HeapTuple	tup;
	TupleDesc	desc;
	bool		isnull;
	Datum		value;
	MemoryContext oldcxt;

	zd_pull_reset(conn);
	zd_xact_begin("corsa_zendesk: starting a run");

	zd_spi_exec_params(psprintf("UPDATE %s SET state = 'running', "
								"started_at = coalesce(started_at, now()) "
								"WHERE id = (SELECT id FROM %s WHERE connection_id = $1 "
								"AND state IN ('queued', 'running') "
								"ORDER BY state = 'running' DESC, id LIMIT 1) "
								"RETURNING id, kind, ticket_cursor, tickets_done, "
								"events_start_time, events_done, started_at, deletions",
								zd_qualified("zd_sync_runs"), zd_qualified("zd_sync_runs")),
					   1, (Oid[]) {INT4OID}, &id, SPI_OK_UPDATE_RETURNING);
	if (SPI_processed == 0 && conn->next_poll_at != 0 &&
		conn->next_poll_at <= GetCurrentTimestamp())
	{
		/* a scheduled (or zd_poll_now) poll: start where the last run ended */
		zd_spi_exec_params(psprintf("INSERT INTO %s (connection_id, kind, state, started_at, "
									"ticket_cursor, events_start_time) "
									"SELECT id, 'poll', 'running', now(), ticket_cursor, "
									"events_start_time FROM %s WHERE id = $1 AND enabled "
									"RETURNING id, kind, ticket_cursor, tickets_done, "
									"events_start_time, events_done, started_at, deletions",
									zd_qualified("zd_sync_runs"), zd_qualified("zd_connections")),
						   1, (Oid[]) {INT4OID}, &id, SPI_OK_INSERT_RETURNING);
	}

	if (SPI_processed == 1)
	{
		tup = SPI_tuptable->vals[0];
		desc = SPI_tuptable->tupdesc;
		oldcxt = MemoryContextSwitchTo(p->context);
		p->run_id = DatumGetInt64(SPI_getbinval(tup, desc, 1, &isnull));
		strlcpy(p->kind, SPI_getvalue(tup, desc, 2), sizeof(p->kind));
		value = SPI_getbinval(tup, desc, 3, &isnull);
		p->ticket_cursor = isnull ? NULL : TextDatumGetCString(value);
		p->tickets.done = DatumGetBool(SPI_getbinval(tup, desc, 4, &isnull));
		value = SPI_getbinval(tup, desc, 5, &isnull);
		p->events_start_time = isnull ? 0 : DatumGetInt64(value);
		p->events.done = DatumGetBool(SPI_getbinval(tup, desc, 6, &isnull));
		p->started_at = DatumGetTimestampTz(SPI_getbinval(tup, desc, 7, &isnull));
		p->saw_deletions = DatumGetInt32(SPI_getbinval(tup, desc, 8, &isnull)) > 0;
		MemoryContextSwitchTo(oldcxt);

		if (strcmp(p->kind, "poll") != 0)
			zd_log(ZD_LOG_INFO, conn->id, p->run_id, NULL,
				   "%s of %s started%s", strcmp(p->kind, "import") == 0
				   ? "historical import" : "full sync", conn->subdomain,
				   (p->tickets.done || p->events.done || p->ticket_cursor != NULL ||
					p->events_start_time != 0) ? " (resuming where it stopped)" : "");
	}
	else
		conn->has_pending_run = false;

	zd_xact_commit();
}

/*
 * stream_progress
 *		A stream walks Zendesk's history in time order, from its first mark
 *		to now; having reached `mark` (epoch seconds), this is how far it is.
 */
static void
stream_progress(Stream *stream, int64 mark)
{
	double		span;

	if (stream->done)
	{
		stream->fraction = 1.0;
		return;
	}
	if (mark <= 0 || stream->first_mark == 0)
		return;
	span = (double) (time(NULL) - stream->first_mark);
	stream->fraction = span > 0 ? (double) (mark - stream->first_mark) / span : 0;
}

/*
 * apply_ticket_page
 *		One page of the ticket export, with its sideloaded users, and the
 *		run's new position, in one transaction.
 */
static void
apply_ticket_page(void *arg)
{
	PageApply  *apply = (PageApply *) arg;
	ZdConnState *conn = apply->conn;
	ZdPullState *p = conn->pull;
	ZdJsonTicketPage page;
	ZdTicketWrite *writes;
	ZdStoreCounts counts = {0};
	size_t		n;
	size_t		i;
	int			nwrites = 0;
	int64		last_gts = 0;
	MemoryContext oldcxt;

	if (!zdjson_ticket_page(apply->root, &page))
		elog(ERROR, "the ticket export page has no \"tickets\" array");

	n = zdjson_length(page.tickets);
	writes = palloc0(sizeof(ZdTicketWrite) * Max(n, 1));
	for (i = 0; i < n; i++)
	{
		ZdTicketWrite *w = &writes[nwrites];

		if (!zdjson_ticket(zdjson_at(page.tickets, i), &w->ticket) ||
			!w->ticket.has_generated_timestamp)
			continue;
		w->version = zd_version_from_generated(w->ticket.generated_timestamp);
		w->deleted = (w->ticket.status != NULL &&
					  pg_strcasecmp(w->ticket.status, "deleted") == 0);
		w->deletion_kind = "soft";
		last_gts = Max(last_gts, w->ticket.generated_timestamp);
		if (p->tickets.first_mark == 0 || w->ticket.generated_timestamp < p->tickets.first_mark)
			p->tickets.first_mark = w->ticket.generated_timestamp;
		nwrites++;
	}

	/* the new position first, so that the next page can be on its way */
	oldcxt = MemoryContextSwitchTo(p->context);
	if (page.after_cursor != NULL)
		p->ticket_cursor = pstrdup(page.after_cursor);
	MemoryContextSwitchTo(oldcxt);
	p->tickets.done = page.end_of_stream;
	stream_progress(&p->tickets, last_gts);
	(void) pull_streams_step(conn, GetCurrentTimestamp(), 0);

	zd_xact_begin("corsa_zendesk: applying a ticket page");
	zd_store_users(conn->id, page.users);
	zd_store_tickets(conn->id, writes, nwrites, ZD_SEEN_BY_POLL, &counts);
	if (counts.deletions > 0)
		p->saw_deletions = true;
	save_progress(p, 1, &counts);
	zd_xact_commit();
}

/*
 * apply_event_page
 *		One page of the ticket-event export: every comment it carries, and
 *		the run's new position, in one transaction.
 */
static void
apply_event_page(void *arg)
{
	PageApply  *apply = (PageApply *) arg;
	ZdConnState *conn = apply->conn;
	ZdPullState *p = conn->pull;
	ZdJsonEventPage page;
	ZdJsonComment *comments;
	ZdStoreCounts counts = {0};
	size_t		n;
	size_t		i;
	int			capacity;
	int			ncomments = 0;
	int64		stuck_at = 0;

	if (!zdjson_event_page(apply->root, &page))
		elog(ERROR, "the ticket-event export page has no \"ticket_events\" array");

	n = zdjson_length(page.events);
	capacity = (int) Max(n * 2, 16);
	comments = palloc(sizeof(ZdJsonComment) * capacity);
	for (i = 0; i < n; i++)
	{
		struct json_object *event = zdjson_at(page.events, i);
		int			found = zdjson_event_comments(event, comments + ncomments,
												  capacity - ncomments);

		if (found > capacity - ncomments)
		{
			capacity = (ncomments + found) * 2;
			comments = repalloc(comments, sizeof(ZdJsonComment) * capacity);
			found = zdjson_event_comments(event, comments + ncomments, capacity - ncomments);
		}
		ncomments += found;
	}

	/* the new position first, so that the next page can be on its way */
	if (page.has_end_time)
	{
		if (p->events.first_mark == 0)
			p->events.first_mark = p->events_start_time > 0 ? p->events_start_time : page.end_time;
		if (!page.end_of_stream && page.end_time <= p->events_start_time)
		{
			/* no progress: more events in one second than a page holds */
			stuck_at = page.end_time;
			p->events_start_time = page.end_time + 1;
		}
		else
			p->events_start_time = page.end_time;
	}
	p->events.done = page.end_of_stream;
	stream_progress(&p->events, p->events_start_time);
	(void) pull_streams_step(conn, GetCurrentTimestamp(), 0);

	zd_xact_begin("corsa_zendesk: applying a ticket-event page");
	if (stuck_at != 0)
		zd_log(ZD_LOG_WARNING, conn->id, p->run_id, NULL,
			   "the ticket-event export did not move past " INT64_FORMAT
			   "; skipping to the next second", stuck_at);
	zd_store_comments(conn->id, comments, ncomments, false, &counts);
	save_progress(p, 1, &counts);
	zd_xact_commit();
}

/*
 * apply_deleted_page
 *		Deletion details from one page of deleted_tickets.
 */
static void
apply_deleted_page(void *arg)
{
	PageApply  *apply = (PageApply *) arg;
	ZdConnState *conn = apply->conn;
	ZdPullState *p = conn->pull;
	ZdJsonListPage page;
	ZdJsonDeletedTicket *entries;
	size_t		n;
	size_t		i;
	int			k = 0;
	MemoryContext oldcxt;

	if (!zdjson_list_page(apply->root, "deleted_tickets", &page))
		elog(ERROR, "the deleted_tickets response has no \"deleted_tickets\" array");
	n = zdjson_length(page.items);
	entries = palloc(sizeof(ZdJsonDeletedTicket) * Max(n, 1));
	for (i = 0; i < n; i++)
	{
		if (zdjson_deleted_ticket(zdjson_at(page.items, i), &entries[k]))
			k++;
	}

	zd_xact_begin("corsa_zendesk: applying deleted tickets");
	zd_store_deletion_details(conn->id, entries, k);

	/*
	 * The list holds the soft-deleted tickets Zendesk can still restore.
	 * Read to its end, it tells that a ticket the export shows deleted but
	 * the list does not hold was permanently deleted (scrubbed).
	 */
	if (!page.has_more)
		zd_spi_exec_params(psprintf("UPDATE %s SET deletion_kind = 'permanent', updated_at = now() "
									"WHERE connection_id = $1 AND deleted_at IS NOT NULL "
									"AND deletion_kind = 'soft' AND deletion_seen_by = 'poll' "
									"AND deleted_by_zendesk_id IS NULL",
									zd_qualified("zd_tickets")),
						   1, (Oid[]) {INT4OID}, (Datum[]) {Int32GetDatum(conn->id)},
						   SPI_OK_UPDATE);
	save_progress(p, 1, NULL);
	zd_xact_commit();

	p->deleted_pages++;
	oldcxt = MemoryContextSwitchTo(p->context);
	p->deleted_cursor = page.after_cursor ? pstrdup(page.after_cursor) : NULL;
	MemoryContextSwitchTo(oldcxt);
	if (!page.has_more || p->deleted_cursor == NULL || p->deleted_pages >= ZD_MAX_DELETED_PAGES)
		p->deleted.done = true;
}

/*
 * find_missing_users
 *		Give replies and tickets the e-mails zd_users already has, then list
 *		(up to 100) users nobody has asked Zendesk about yet.
 */
static void
find_missing_users(void *arg)
{
	ZdConnState *conn = (ZdConnState *) arg;
	ZdPullState *p = conn->pull;
	Datum		id = Int32GetDatum(conn->id);

	zd_xact_begin("corsa_zendesk: looking for missing users");
	(void) zd_store_fill_from_users(conn->id);
	zd_spi_exec_params(psprintf("SELECT string_agg(m.id::text, ',') FROM ("
								"SELECT DISTINCT id FROM ("
								"SELECT requester_zendesk_id AS id FROM %s WHERE connection_id = $1 "
								"AND requester_email IS NULL AND requester_zendesk_id IS NOT NULL "
								"UNION ALL SELECT author_zendesk_id FROM %s WHERE connection_id = $1 "
								"AND author_email IS NULL AND author_zendesk_id IS NOT NULL) a "
								"WHERE NOT EXISTS (SELECT 1 FROM %s u WHERE u.connection_id = $1 "
								"AND u.zendesk_id = a.id) ORDER BY id LIMIT 100) m",
								zd_qualified("zd_tickets"), zd_qualified("zd_replies"),
								zd_qualified("zd_users")),
					   1, (Oid[]) {INT4OID}, &id, SPI_OK_SELECT);
	{
		bool		isnull;
		Datum		ids = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);

		if (isnull || p->user_requests >= ZD_MAX_USER_REQUESTS)
			p->users.done = true;
		else
			p->missing_users = MemoryContextStrdup(p->context, TextDatumGetCString(ids));
	}
	zd_xact_commit();
}

/*
 * apply_users
 *		Users from users/show_many.  Ids Zendesk did not return (deleted
 *		users) are remembered without an e-mail, so they are not asked for
 *		again.
 */
static void
apply_users(void *arg)
{
	PageApply  *apply = (PageApply *) arg;
	ZdConnState *conn = apply->conn;
	ZdPullState *p = conn->pull;

	zd_xact_begin("corsa_zendesk: applying users");
	zd_store_users(conn->id, zdjson_get(apply->root, "users"));
	zd_spi_exec_params(psprintf("INSERT INTO %s (connection_id, zendesk_id) "
								"SELECT $1, unnest(string_to_array($2, ','))::bigint "
								"ON CONFLICT DO NOTHING", zd_qualified("zd_users")),
					   2, (Oid[]) {INT4OID, TEXTOID},
					   (Datum[]) {Int32GetDatum(conn->id), CStringGetTextDatum(p->missing_users)},
					   SPI_OK_INSERT);
	(void) zd_store_fill_from_users(conn->id);
	if (p->run_id != 0)
		save_progress(p, 0, NULL);
	zd_xact_commit();

	p->user_requests++;
	p->missing_users = NULL;	/* look again */
}

/*
 * save_progress
 *		Write the run's position, counters and progress (in the caller's
 *		transaction, with the page they belong to).
 */
static void
save_progress(ZdPullState *p, int64 pages, ZdStoreCounts *counts)
{
	ZdStoreCounts none = {0};
	Datum		values[10];
	char		nulls[10] = {' ', ' ', ' ', ' ', ' ', ' ', ' ', ' ', ' ', ' '};
	double		progress;

	if (counts == NULL)
		counts = &none;
	p->any_page = true;
	p->changes += counts->changes;
	progress = 100.0 * (Min(Max(p->tickets.fraction, 0), 1) +
						Min(Max(p->events.fraction, 0), 1)) / 2;

	values[0] = Int64GetDatum(p->run_id);
	values[1] = Int64GetDatum(p->unsaved_requests);
	values[2] = Int64GetDatum(pages);
	values[3] = Int64GetDatum(counts->tickets);
	values[4] = Int64GetDatum(counts->replies);
	values[5] = Int64GetDatum(counts->deletions);
	values[6] = Float8GetDatum(Min(progress, 99.9));
	values[7] = p->ticket_cursor ? CStringGetTextDatum(p->ticket_cursor) : (Datum) 0;
	nulls[7] = p->ticket_cursor ? ' ' : 'n';
	values[8] = BoolGetDatum(p->tickets.done);
	values[9] = Int64GetDatum(p->events_start_time);

	if (SPI_execute_with_args(psprintf("UPDATE %s SET requests = requests + $2, pages = pages + $3, "
									   "tickets = tickets + $4, replies = replies + $5, "
									   "deletions = deletions + $6, progress = $7, "
									   "ticket_cursor = $8, tickets_done = $9, "
									   "events_start_time = $10, events_done = $11 "
									   "WHERE id = $1", zd_qualified("zd_sync_runs")),
							  11,
							  (Oid[]) {INT8OID, INT8OID, INT8OID, INT8OID, INT8OID, INT8OID,
							  FLOAT8OID, TEXTOID, BOOLOID, INT8OID, BOOLOID},
							  (Datum[]) {values[0], values[1], values[2], values[3], values[4],
								  values[5], values[6], values[7], values[8], values[9],
							  BoolGetDatum(p->events.done)},
							  (char[]) {' ', ' ', ' ', ' ', ' ', ' ', ' ', nulls[7], ' ', ' ', ' '},
							  false, 0) != SPI_OK_UPDATE)
		elog(ERROR, "could not save the run's progress");
	p->unsaved_requests = 0;
}

/*
 * pull_finish_run
 *		Hand the run's cursors to the connection, schedule the next poll,
 *		and write the run's summary.
 */
static void
pull_finish_run(void *arg)
{
	ZdConnState *conn = (ZdConnState *) arg;
	ZdPullState *p = conn->pull;
	bool		isnull;
	HeapTuple	tup;
	TupleDesc	desc;

	zd_xact_begin("corsa_zendesk: finishing a run");
	(void) zd_store_fill_from_users(conn->id);

	zd_spi_exec_params(psprintf("UPDATE %s SET ticket_cursor = coalesce($2, ticket_cursor), "
								"ticket_cursor_at = now(), events_start_time = $3, "
								"last_poll_at = now(), "
								"next_poll_at = CASE WHEN $4 > 0 THEN now() + make_interval(secs => $4) END, "
								"missed_webhook_changes = missed_webhook_changes + "
								"CASE WHEN $5 AND EXISTS (SELECT 1 FROM %s w "
								"WHERE w.connection_id = $1) THEN $6 ELSE 0 END "
								"WHERE id = $1 RETURNING next_poll_at",
								zd_qualified("zd_connections"), zd_qualified("zd_webhook_events")),
					   6, (Oid[]) {INT4OID, TEXTOID, INT8OID, INT4OID, BOOLOID, INT8OID},
					   (Datum[]) {Int32GetDatum(conn->id),
						   p->ticket_cursor ? CStringGetTextDatum(p->ticket_cursor) : (Datum) 0,
						   Int64GetDatum(p->events_start_time), Int32GetDatum(zd_poll_interval),
						   BoolGetDatum(strcmp(p->kind, "poll") == 0),
					   Int64GetDatum(p->changes)},
					   SPI_OK_UPDATE_RETURNING);
	if (SPI_processed == 1)
	{
		Datum		next = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);

		conn->next_poll_at = isnull ? 0 : DatumGetTimestampTz(next);
	}

	zd_spi_exec_params(psprintf("UPDATE %s SET state = 'succeeded', finished_at = now(), "
								"progress = 100, requests = requests + $2 WHERE id = $1 "
								"RETURNING requests, pages, tickets, replies, deletions, "
								"round(extract(epoch FROM finished_at - started_at), 1)",
								zd_qualified("zd_sync_runs")),
					   2, (Oid[]) {INT8OID, INT8OID},
					   (Datum[]) {Int64GetDatum(p->run_id), Int64GetDatum(p->unsaved_requests)},
					   SPI_OK_UPDATE_RETURNING);
	tup = SPI_tuptable->vals[0];
	desc = SPI_tuptable->tupdesc;
	zd_log(ZD_LOG_INFO, conn->id, p->run_id, NULL,
		   "%s of %s done in %s s: %s tickets, %s replies, %s deletions (%s requests, %s pages)",
		   strcmp(p->kind, "import") == 0 ? "historical import"
		   : strcmp(p->kind, "full_sync") == 0 ? "full sync" : "poll",
		   conn->subdomain, SPI_getvalue(tup, desc, 6), SPI_getvalue(tup, desc, 3),
		   SPI_getvalue(tup, desc, 4), SPI_getvalue(tup, desc, 5),
		   SPI_getvalue(tup, desc, 1), SPI_getvalue(tup, desc, 2));

	zd_spi_exec_params(psprintf("SELECT 1 FROM %s WHERE connection_id = $1 AND state = 'queued'",
								zd_qualified("zd_sync_runs")),
					   1, (Oid[]) {INT4OID}, (Datum[]) {Int32GetDatum(conn->id)}, SPI_OK_SELECT);
	conn->has_pending_run = SPI_processed > 0;
	zd_xact_commit();

	zd_pull_reset(conn);
}

/* a failed users lookup between runs, logged on its connection */
typedef struct FillFailure
{
	int32		connection_id;
	const char *error;
} FillFailure;

static void
log_fill_failure(void *arg)
{
	FillFailure *f = (FillFailure *) arg;

	zd_xact_begin("corsa_zendesk: logging a failure");
	zd_log(ZD_LOG_WARNING, f->connection_id, 0, NULL, "%s", f->error);
	zd_xact_commit();
}

/*
 * pull_fail_run
 *		End the active run as failed; the next poll is scheduled as usual and
 *		resumes from the connection's last cursors.
 */
static void
pull_fail_run(ZdConnState *conn, const char *error)
{
	ZdPullState *p = conn->pull;
	MemoryContext oldcxt = CurrentMemoryContext;

	if (p->run_id == 0)
	{
		/* filling between runs: log, and leave it to the next wake-up */
		FillFailure f = {conn->id, error};

		if (zd_worker_guarded("logging a failed users lookup", log_fill_failure, &f))
			conn->fill_requested = false;
		zd_pull_reset(conn);
		return;
	}

	PG_TRY();
	{
		zd_xact_begin("corsa_zendesk: recording a failed run");
		zd_spi_exec_params(psprintf("UPDATE %s SET state = 'failed', finished_at = now(), "
									"error = $2, requests = requests + $3 WHERE id = $1",
									zd_qualified("zd_sync_runs")),
						   3, (Oid[]) {INT8OID, TEXTOID, INT8OID},
						   (Datum[]) {Int64GetDatum(p->run_id), CStringGetTextDatum(error),
						   Int64GetDatum(p->unsaved_requests)},
						   SPI_OK_UPDATE);
		zd_spi_exec_params(psprintf("UPDATE %s SET next_poll_at = CASE WHEN $2 > 0 "
									"THEN now() + make_interval(secs => $2) END WHERE id = $1 "
									"RETURNING next_poll_at", zd_qualified("zd_connections")),
						   2, (Oid[]) {INT4OID, INT4OID},
						   (Datum[]) {Int32GetDatum(conn->id), Int32GetDatum(zd_poll_interval)},
						   SPI_OK_UPDATE_RETURNING);
		if (SPI_processed == 1)
		{
			bool		isnull;
			Datum		next = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);

			conn->next_poll_at = isnull ? 0 : DatumGetTimestampTz(next);
		}
		zd_log(ZD_LOG_ERROR, conn->id, p->run_id, NULL, "%s of %s failed: %s",
			   p->kind, conn->subdomain, error);
		zd_spi_exec_params(psprintf("SELECT 1 FROM %s WHERE connection_id = $1 AND state = 'queued'",
									zd_qualified("zd_sync_runs")),
						   1, (Oid[]) {INT4OID}, (Datum[]) {Int32GetDatum(conn->id)}, SPI_OK_SELECT);
		conn->has_pending_run = SPI_processed > 0;
		zd_xact_commit();
	}
	PG_CATCH();
	{
		MemoryContextSwitchTo(oldcxt);
		EmitErrorReport();
		FlushErrorState();
		AbortOutOfAnyTransaction();
	}
	PG_END_TRY();

	zd_pull_reset(conn);
}

static Stream *
step_stream(ZdPullState *p, PullStep step)
{
	switch (step)
	{
		case STEP_TICKETS:
			return &p->tickets;
		case STEP_EVENTS:
			return &p->events;
		case STEP_DELETED:
			return &p->deleted;
		case STEP_USERS:
			return &p->users;
	}
	return &p->tickets;
}

static const char *
step_name(PullStep step)
{
	switch (step)
	{
		case STEP_TICKETS:
			return "the ticket export";
		case STEP_EVENTS:
			return "the ticket-event export";
		case STEP_DELETED:
			return "the deleted-tickets list";
		case STEP_USERS:
			return "the users lookup";
	}
	return "a request";
}
