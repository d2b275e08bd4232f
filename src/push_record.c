/*-------------------------------------------------------------------------
 *
 * push_record.c
 *		Recording what Zendesk answered to a push, each in its own
 *		transaction: Zendesk's ids and times on the pushed rows (folding in
 *		any row a webhook or poll made for the same object meanwhile), the
 *		queue item sent, or its failure (backoff or dead letter) with the
 *		log entry a person reads.
 *
 * The worker writes these rows on behalf of the sync, so the queue
 * triggers leave them alone.
 *
 * src/push_record.c
 *
 *-------------------------------------------------------------------------
 */
#include "corsa_zendesk.h"

#include "catalog/pg_type_d.h"
#include "executor/spi.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"

#include "push.h"
#include "store.h"
#include "zd_json.h"

static const char *kind_name(PushKind kind);

/* the outbox item is done */
static void
mark_item_sent(PushItem *item)
{
	Datum		values[2] = {Int64GetDatum(item->outbox_id),
	Int32GetDatum(item->req ? (int32) item->req->status : 0)};

	zd_spi_exec_params(psprintf("UPDATE %s SET state = 'sent', sent_at = now(),"
								" last_http_status = nullif($2, 0), last_error = NULL"
								" WHERE id = $1", zd_qualified("zd_outbox")),
					   2, (Oid[]) {INT8OID, INT4OID}, values, SPI_OK_UPDATE);
}

/* the row needed no request after all */
void
zd_push_record_sent(void *arg)
{
	PushItem   *item = (PushItem *) arg;
	const char *table = item->kind == PUSH_REPLY ? "zd_replies" : "zd_tickets";
	Datum		id = Int64GetDatum(item->kind == PUSH_REPLY ? item->reply_id : item->ticket_id);

	zd_xact_begin("corsa_zendesk: recording a push");
	zd_spi_exec_params(psprintf("UPDATE %s SET sync_state = 'synced', sync_error = NULL"
								" WHERE id = $1 AND sync_state <> 'synced'", zd_qualified(table)),
					   1, (Oid[]) {INT8OID}, &id, SPI_OK_UPDATE);
	mark_item_sent(item);
	zd_xact_commit();
}

/*
 * fold_duplicate_ticket
 *		A webhook or poll that showed Zendesk ticket zid before we recorded
 *		it made a row of its own (a comment's placeholder, say): its replies
 *		and follow-ups move to our row, and it goes.
 */
static void
fold_duplicate_ticket(int32 connection_id, int64 ticket_id, int64 zid)
{
	const char *tickets = zd_qualified("zd_tickets");
	Datum		values[3] = {Int32GetDatum(connection_id), Int64GetDatum(ticket_id),
	Int64GetDatum(zid)};
	Oid			types[3] = {INT4OID, INT8OID, INT8OID};
	bool		isnull;

	zd_spi_exec_params(psprintf("SELECT id FROM %s WHERE connection_id = $1 AND zendesk_id = $3"
								" AND id <> $2", tickets), 3, types, values, SPI_OK_SELECT);
	if (SPI_processed == 0)
		return;
	values[2] = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
	zd_spi_exec_params(psprintf("UPDATE %s SET ticket_id = $2 WHERE ticket_id = $3"
								" AND connection_id = $1", zd_qualified("zd_replies")),
					   3, types, values, SPI_OK_UPDATE);
	zd_spi_exec_params(psprintf("UPDATE %s SET ticket_id = $2 WHERE ticket_id = $3"
								" AND connection_id = $1", zd_qualified("zd_outbox")),
					   3, types, values, SPI_OK_UPDATE);
	zd_spi_exec_params(psprintf("UPDATE %s SET followup_of_ticket_id = $2"
								" WHERE followup_of_ticket_id = $3 AND connection_id = $1",
								tickets), 3, types, values, SPI_OK_UPDATE);
	zd_spi_exec_params(psprintf("DELETE FROM %s WHERE id = $3 AND connection_id = $1", tickets),
					   3, types, values, SPI_OK_DELETE);
}

/*
 * store_pushed_comment
 *		Put Zendesk's ids on reply reply_id (moving it to ticket_id), after
 *		removing a row a webhook or poll made for the same comment.  With
 *		reply_id 0, insert the comment as a new synced row (a created
 *		ticket's description).
 */
static void
store_pushed_comment(int32 connection_id, int64 ticket_id, int64 reply_id,
					 ZdJsonComment *c)
{
	const char *replies = zd_qualified("zd_replies");
	Oid			types[10] = {INT4OID, INT8OID, INT8OID, INT8OID, INT8OID, INT8OID,
	TEXTOID, TEXTOID, TEXTOID, TEXTOID};
	Datum		values[10];
	char		nulls[10];

	memset(nulls, ' ', sizeof(nulls));
	values[0] = Int32GetDatum(connection_id);
	values[1] = Int64GetDatum(ticket_id);
	values[2] = Int64GetDatum(reply_id);
	values[3] = Int64GetDatum(c->id);
	values[4] = Int64GetDatum(c->audit_id);
	nulls[4] = c->has_audit_id ? ' ' : 'n';
	values[5] = Int64GetDatum(c->author_id);
	nulls[5] = c->has_author_id ? ' ' : 'n';
#define TEXT_ARG(i, s) do { if ((s) != NULL) values[i] = CStringGetTextDatum(s); \
		else nulls[i] = 'n'; } while (0)
	TEXT_ARG(6, c->created_at);
	TEXT_ARG(7, c->html_body);
	TEXT_ARG(8, c->object ? zdjson_text(c->object) : NULL);
	TEXT_ARG(9, c->body);
#undef TEXT_ARG

	if (reply_id != 0)
	{
		zd_spi_exec_params_nulls(psprintf("DELETE FROM %s WHERE connection_id = $1"
										  " AND zendesk_comment_id = $4 AND id <> $3"
										  " AND origin = 'zendesk'", replies),
								 10, types, values, nulls, SPI_OK_DELETE);
		zd_spi_exec_params_nulls(psprintf("UPDATE %s SET ticket_id = $2, zendesk_comment_id = $4,"
										  " zendesk_audit_id = $5,"
										  " author_zendesk_id = coalesce(author_zendesk_id, $6),"
										  " zendesk_created_at = $7::timestamptz,"
										  " html_body = coalesce($8, html_body), raw = $9::jsonb,"
										  " sync_state = 'synced', sync_error = NULL, updated_at = now()"
										  " WHERE id = $3", replies),
								 10, types, values, nulls, SPI_OK_UPDATE);
	}
	else
		zd_spi_exec_params_nulls(psprintf("INSERT INTO %s AS r (ticket_id, connection_id,"
									" zendesk_comment_id, zendesk_audit_id, author_zendesk_id,"
									" zendesk_created_at, html_body, raw, body, public, origin,"
									" sync_state) SELECT $2, $1, $4, $5, $6, $7::timestamptz, $8,"
									" $9::jsonb, $10, (($9::jsonb)->>'public')::bool IS NOT FALSE,"
									" 'corsa', 'synced'"
									" ON CONFLICT (connection_id, zendesk_comment_id) DO UPDATE"
									" SET ticket_id = EXCLUDED.ticket_id", replies),
						   10, types, values, nulls, SPI_OK_INSERT);
	/* authors' e-mails come from zd_users, filled by the worker */
}

/* Zendesk's ids and times on a created (or found) ticket's row */
static void
store_pushed_ticket(int32 connection_id, int64 ticket_id, ZdJsonTicket *t,
					int64 followup_of)
{
	Datum		values[8];
	char		nulls[8] = {' ', ' ', ' ', ' ', ' ', ' ', ' ', ' '};
	Oid			types[8] = {INT4OID, INT8OID, INT8OID, INT8OID, TEXTOID, TEXTOID, TEXTOID,
	INT8OID};

	fold_duplicate_ticket(connection_id, ticket_id, t->id);
	values[0] = Int32GetDatum(connection_id);
	values[1] = Int64GetDatum(ticket_id);
	values[2] = Int64GetDatum(t->id);
	values[3] = Int64GetDatum(t->requester_id);
	nulls[3] = t->has_requester_id ? ' ' : 'n';
	if (t->created_at)
		values[4] = CStringGetTextDatum(t->created_at);
	else
		nulls[4] = 'n';
	if (t->updated_at)
		values[5] = CStringGetTextDatum(t->updated_at);
	else
		nulls[5] = 'n';
	values[6] = CStringGetTextDatum(zdjson_text(t->object));
	values[7] = Int64GetDatum(followup_of);
	nulls[7] = followup_of != 0 ? ' ' : 'n';
	zd_spi_exec_params_nulls(psprintf("UPDATE %s SET zendesk_id = $3,"
								" requester_zendesk_id = coalesce($4, requester_zendesk_id),"
								" external_id = coalesce(($7::jsonb)->>'external_id', external_id),"
								" zendesk_created_at = $5::timestamptz,"
								" zendesk_updated_at = greatest(zendesk_updated_at, $6::timestamptz),"
								" raw = coalesce(raw, $7::jsonb),"
								" followup_of_ticket_id = coalesce($8, followup_of_ticket_id),"
								" sync_state = 'synced', sync_error = NULL, updated_at = now()"
								" WHERE id = $2 AND connection_id = $1", zd_qualified("zd_tickets")),
					   8, types, values, nulls, SPI_OK_UPDATE);
}

/* create_ticket answered (or the ticket was found by external_id) */
void
zd_push_record_created(void *arg)
{
	PushItem   *item = (PushItem *) arg;
	ZdJsonTicket ticket;
	ZdJsonComment comment;
	struct json_object *obj = zdjson_get(item->root, "ticket");

	if (obj == NULL ? !zdjson_first_ticket(item->root, &ticket) : !zdjson_ticket(obj, &ticket))
		elog(ERROR, "Zendesk's answer holds no ticket");

	zd_xact_begin("corsa_zendesk: recording a pushed ticket");
	store_pushed_ticket(item->connection_id, item->ticket_id, &ticket, 0);
	if (obj != NULL && zdjson_audit_comment(item->root, &comment))
		store_pushed_comment(item->connection_id, item->ticket_id, 0, &comment);
	mark_item_sent(item);
	zd_xact_commit();
}

/* add_reply answered (or its marker was found in the audits) */
void
zd_push_record_reply(void *arg)
{
	PushItem   *item = (PushItem *) arg;
	ZdJsonComment comment;
	bool		found = item->stage == STAGE_FIND_COMMENT
		? zdjson_marked_audit_comment(item->root, ZD_REPLY_MARKER, item->reply_id, &comment)
		: zdjson_audit_comment(item->root, &comment);

	if (!found)
		elog(ERROR, "Zendesk's answer holds no comment");
	zd_xact_begin("corsa_zendesk: recording a pushed reply");
	store_pushed_comment(item->connection_id, item->ticket_id, item->reply_id, &comment);
	mark_item_sent(item);
	zd_xact_commit();
}

/*
 * zd_push_record_followup
 *		A reply to a closed ticket became a follow-up ticket: a new local
 *		ticket row, linked to the original, and the reply moves to it.
 */
void
zd_push_record_followup(void *arg)
{
	PushItem   *item = (PushItem *) arg;
	int32		connection_id = item->connection_id;
	ZdJsonTicket ticket;
	ZdJsonComment comment;
	Datum		values[4];
	int64		followup_id;
	bool		isnull;

	if (!zdjson_ticket(zdjson_get(item->root, "ticket"), &ticket) ||
		!zdjson_audit_comment(item->root, &comment))
		elog(ERROR, "Zendesk's answer holds no ticket and comment");

	zd_xact_begin("corsa_zendesk: recording a follow-up ticket");
	values[0] = Int32GetDatum(connection_id);
	values[1] = Int64GetDatum(ticket.id);
	values[2] = Int64GetDatum(item->ticket_id);
	values[3] = CStringGetTextDatum(zdjson_text(ticket.object));
	zd_spi_exec_params(psprintf("INSERT INTO %s AS t (connection_id, zendesk_id, subject,"
								" description, requester_email, requester_name, status, origin,"
								" sync_state, followup_of_ticket_id)"
								" SELECT $1, $2, ($4::jsonb)->>'subject', ($4::jsonb)->>'description',"
								" o.requester_email, o.requester_name,"
								" coalesce(($4::jsonb)->>'status', 'open'), 'corsa', 'synced', $3"
								" FROM %s o WHERE o.id = $3"
								" ON CONFLICT (connection_id, zendesk_id) DO UPDATE"
								" SET followup_of_ticket_id = EXCLUDED.followup_of_ticket_id"
								" RETURNING t.id", zd_qualified("zd_tickets"),
								zd_qualified("zd_tickets")),
					   4, (Oid[]) {INT4OID, INT8OID, INT8OID, TEXTOID}, values,
					   SPI_OK_INSERT_RETURNING);
	if (SPI_processed != 1)
		elog(ERROR, "the follow-up ticket could not be recorded");
	followup_id = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc,
											  1, &isnull));
	store_pushed_ticket(connection_id, followup_id, &ticket, item->ticket_id);
	store_pushed_comment(connection_id, followup_id, item->reply_id, &comment);
	mark_item_sent(item);
	zd_log(ZD_LOG_INFO, connection_id, 0, NULL,
		   "reply " INT64_FORMAT " was for closed ticket " INT64_FORMAT
		   "; it became follow-up ticket " INT64_FORMAT,
		   item->reply_id, item->zendesk_id, (int64) ticket.id);
	zd_xact_commit();
}

/*
 * zd_push_record_status
 *		update_status answered.  Zendesk's state after our change becomes the
 *		ticket's content version, so that a webhook or poll carrying an
 *		older state (sent before ours) is stale.
 */
void
zd_push_record_status(void *arg)
{
	PushItem   *item = (PushItem *) arg;
	ZdJsonTicket ticket;
	Datum		values[2];
	char		nulls[2] = {' ', 'n'};

	values[0] = Int64GetDatum(item->ticket_id);
	values[1] = (Datum) 0;
	if (zdjson_ticket(zdjson_get(item->root, "ticket"), &ticket) &&
		ticket.has_generated_timestamp)
	{
		values[1] = TimestampTzGetDatum(zd_version_from_generated(ticket.generated_timestamp));
		nulls[1] = ' ';
	}

	zd_xact_begin("corsa_zendesk: recording a pushed status");
	zd_spi_exec_params_nulls(psprintf("UPDATE %s SET sync_state = 'synced', sync_error = NULL,"
									" content_version = greatest(content_version, $2),"
									" source_version = greatest(source_version, $2)"
									" WHERE id = $1", zd_qualified("zd_tickets")),
							 2, (Oid[]) {INT8OID, TIMESTAMPTZOID}, values, nulls, SPI_OK_UPDATE);
	mark_item_sent(item);
	zd_xact_commit();
}

void
zd_push_record_failure(void *arg)
{
	PushFailure *f = (PushFailure *) arg;
	PushItem   *item = f->item;
	Datum		values[4];
	Oid			types[4] = {INT8OID, TEXTOID, INT4OID, INT8OID};

	values[0] = Int64GetDatum(item->outbox_id);
	values[1] = CStringGetTextDatum(f->why);
	values[2] = Int32GetDatum(item->req ? (int32) item->req->status : 0);
	values[3] = Int64GetDatum(f->retry_ms);

	zd_xact_begin("corsa_zendesk: recording a failed push");
	zd_spi_exec_params(psprintf("UPDATE %s SET state = CASE WHEN %s THEN 'failed' ELSE 'pending' END,"
								" last_error = $2, last_http_status = nullif($3, 0),"
								" next_attempt_at = now() + $4 * interval '1 millisecond'"
								" WHERE id = $1", zd_qualified("zd_outbox"),
								f->dead ? "true" : "false"),
					   4, types, values, SPI_OK_UPDATE);
	if (f->dead)
	{
		Datum		row[2];

		row[0] = Int64GetDatum(item->kind == PUSH_REPLY ? item->reply_id : item->ticket_id);
		row[1] = CStringGetTextDatum(item->kind == PUSH_STATUS
									 ? psprintf("status change to %s failed: %s",
												item->new_status, f->why)
									 : f->why);
		zd_spi_exec_params(psprintf("UPDATE %s SET sync_state = 'failed', sync_error = $2"
									" WHERE id = $1",
									zd_qualified(item->kind == PUSH_REPLY ? "zd_replies"
												 : "zd_tickets")),
						   2, (Oid[]) {INT8OID, TEXTOID}, row, SPI_OK_UPDATE);
		zd_log(ZD_LOG_ERROR, f->conn->id, 0, NULL,
			   "%s " INT64_FORMAT " of %s failed after %d attempt(s) and was set aside: %s",
			   kind_name(item->kind),
			   item->kind == PUSH_REPLY ? item->reply_id : item->ticket_id,
			   f->conn->subdomain, item->attempts, f->why);
	}
	else
		zd_log(ZD_LOG_WARNING, f->conn->id, 0, NULL,
			   "%s " INT64_FORMAT " of %s failed (%s); retrying in %.1f s (attempt %d of %d)",
			   kind_name(item->kind),
			   item->kind == PUSH_REPLY ? item->reply_id : item->ticket_id,
			   f->conn->subdomain, f->why, f->retry_ms / 1000.0, item->attempts + 1,
			   zd_max_attempts);
	zd_xact_commit();
}


static const char *
kind_name(PushKind kind)
{
	switch (kind)
	{
		case PUSH_CREATE:
			return "ticket";
		case PUSH_REPLY:
			return "reply";
		case PUSH_STATUS:
			return "status change of ticket";
	}
	return "push";
}
