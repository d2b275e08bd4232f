/*-------------------------------------------------------------------------
 *
 * store_direct.c
 *		A webhook's rows written straight into the tables (direct.c): its
 *		event id, its ticket's state, its new comment, under the rules of
 *		store.c's statements.
 *
 * Through SPI, one event cost several times the application's own INSERT
 * (see direct.c).  These functions write the common events -- a ticket's
 * new or newer state, a deletion, a merge, a comment not held yet -- and
 * return false, having written nothing, for what needs a statement's
 * look-ups: a ticket Corsa pushed (linked by external_id corsa:<id>), a
 * follow-up's source, a deleted state that gives content to a row without
 * any, a comment already held (whose missing details the statement fills
 * in), a reply whose push may still be unanswered, and every table that
 * holds what the application added (direct.c's shapes).  store.c then runs
 * its statement, so both ways give the same rows; pg_regress 007 checks
 * that they do.
 *
 * The tables' constraints hold by construction: statuses, priorities and
 * types come from store.c's mapping against the lists the CHECKs name,
 * deletion columns are set together, the connection's row is locked as a
 * foreign-key check would lock it (zd_direct_lock_connection, by the
 * caller), and a comment's ticket is locked before the comment is written.
 * The extension's own triggers have nothing to do for these rows: they
 * queue pushes, and rows written for the sync never queue one.
 *
 * Runs in zd_ingest_webhook's transaction and memory context.
 *
 * src/store_direct.c
 *
 *-------------------------------------------------------------------------
 */
#include "corsa_zendesk.h"

#include "access/genam.h"
#include "access/table.h"
#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_type_d.h"
#include "commands/sequence.h"
#include "executor/executor.h"
#include "parser/parse_relation.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"

#include "direct.h"
#include "store_direct.h"

/* the columns of each table this code writes, by position in the lists below */
enum
{
	EV_CONNECTION, EV_EVENT_ID, EV_EVENT_TYPE, EV_TICKET, EV_EVENT_TIME,
	EV_RECEIVED_AT, EV_OUTCOME, EV_NCOLS
};
static const char *const event_columns[] = {
	"connection_id", "event_id", "event_type", "zendesk_ticket_id", "event_time",
	"received_at", "outcome", NULL
};

enum
{
	TK_ID, TK_CONNECTION, TK_ZENDESK_ID, TK_EXTERNAL_ID, TK_CLIENT_ID, TK_REQUESTER_EMAIL,
	TK_REQUESTER_NAME, TK_REQUESTER_ZID, TK_SUBJECT, TK_DESCRIPTION, TK_STATUS,
	TK_PRIORITY, TK_TICKET_TYPE, TK_TAGS, TK_ORIGIN, TK_SYNC_STATE, TK_SYNC_ERROR,
	TK_DELETED_AT, TK_LABEL, TK_DELETION_KIND, TK_DELETED_BY, TK_DELETED_BY_NAME,
	TK_PREVIOUS_STATUS, TK_DELETION_SEEN_BY, TK_MERGED_INTO, TK_FOLLOWUP_OF,
	TK_CREATED, TK_UPDATED, TK_SOURCE_VERSION, TK_CONTENT_VERSION,
	TK_DELETION_VERSION, TK_LAST_WEBHOOK_AT, TK_CREATED_AT, TK_UPDATED_AT, TK_RAW,
	TK_NCOLS
};
static const char *const ticket_columns[] = {
	"id", "connection_id", "zendesk_id", "external_id", "client_id", "requester_email",
	"requester_name", "requester_zendesk_id", "subject", "description", "status",
	"priority", "ticket_type", "tags", "origin", "sync_state", "sync_error",
	"deleted_at", "label", "deletion_kind", "deleted_by_zendesk_id", "deleted_by_name",
	"deleted_previous_status", "deletion_seen_by", "merged_into_zendesk_id",
	"followup_of_ticket_id", "zendesk_created_at", "zendesk_updated_at", "source_version",
	"content_version", "deletion_version", "last_webhook_at", "created_at", "updated_at",
	"raw", NULL
};

enum
{
	RP_ID, RP_TICKET, RP_CONNECTION, RP_COMMENT_ID, RP_AUDIT_ID, RP_AUTHOR_EMAIL,
	RP_AUTHOR_NAME, RP_AUTHOR_ZID, RP_BODY, RP_HTML_BODY, RP_PUBLIC, RP_ORIGIN,
	RP_SYNC_STATE, RP_SYNC_ERROR, RP_ZENDESK_CREATED, RP_CREATED_AT, RP_UPDATED_AT,
	RP_RAW, RP_NCOLS
};
static const char *const reply_columns[] = {
	"id", "ticket_id", "connection_id", "zendesk_comment_id", "zendesk_audit_id",
	"author_email", "author_name", "author_zendesk_id", "body", "html_body", "public",
	"origin", "sync_state", "sync_error", "zendesk_created_at", "created_at",
	"updated_at", "raw", NULL
};

static const Oid event_types[] = {
	INT4OID, TEXTOID, TEXTOID, INT8OID, TIMESTAMPTZOID, TIMESTAMPTZOID, TEXTOID
};
static const Oid ticket_types[] = {
	INT8OID, INT4OID, INT8OID, TEXTOID, TEXTOID, TEXTOID, TEXTOID, INT8OID, TEXTOID, TEXTOID,
	TEXTOID, TEXTOID, TEXTOID, TEXTARRAYOID, TEXTOID, TEXTOID, TEXTOID, TIMESTAMPTZOID,
	TEXTOID, TEXTOID, INT8OID, TEXTOID, TEXTOID, TEXTOID, INT8OID, INT8OID, TIMESTAMPTZOID,
	TIMESTAMPTZOID, TIMESTAMPTZOID, TIMESTAMPTZOID, TIMESTAMPTZOID, TIMESTAMPTZOID,
	TIMESTAMPTZOID, TIMESTAMPTZOID, JSONBOID
};
static const Oid reply_types[] = {
	INT8OID, INT8OID, INT4OID, INT8OID, INT8OID, TEXTOID, TEXTOID, INT8OID, TEXTOID, TEXTOID,
	BOOLOID, TEXTOID, TEXTOID, TEXTOID, TIMESTAMPTZOID, TIMESTAMPTZOID, TIMESTAMPTZOID, JSONBOID
};

StaticAssertDecl(lengthof(event_types) == EV_NCOLS, "a type per event column");
StaticAssertDecl(lengthof(ticket_types) == TK_NCOLS, "a type per ticket column");
StaticAssertDecl(lengthof(reply_types) == RP_NCOLS, "a type per reply column");
StaticAssertDecl(TK_NCOLS <= ZD_DIRECT_MAX_COLUMNS, "room for the ticket columns");

static const char *const no_names[] = {NULL};

/*
 * The tables as the extension defines them; unset and now_defaults are the
 * columns store.c's INSERTs leave to their defaults (none, or now()).
 */
static ZdTableShape event_shape = {
	.name = "zd_webhook_events",
	.columns = event_columns,
	.types = event_types,
	.unset = no_names,
	.now_defaults = (const char *const[]) {"received_at", NULL},
	.triggers = no_names,
	.foreign_keys = (const char *const[]) {"zd_webhook_events_connection_id_fkey", NULL},
	.unique_index = "zd_webhook_events_pkey"
};
static ZdTableShape ticket_shape = {
	.name = "zd_tickets",
	.columns = ticket_columns,
	.types = ticket_types,
	.unset = (const char *const[]) {"client_id", "sync_error", "deleted_by_name", "label",
	"deleted_previous_status", NULL},
	.now_defaults = (const char *const[]) {"created_at", "updated_at", NULL},
	.triggers = (const char *const[]) {"zd_tickets_enqueue_create", "zd_tickets_enqueue_status",
	"zd_tickets_fill_requester", NULL},
	.foreign_keys = (const char *const[]) {"zd_tickets_connection_id_fkey",
	"zd_tickets_followup_of_ticket_id_fkey", NULL},
	.unique_index = "zd_tickets_zendesk_id_key"
};
static ZdTableShape reply_shape = {
	.name = "zd_replies",
	.columns = reply_columns,
	.types = reply_types,
	.unset = (const char *const[]) {"sync_error", NULL},
	.now_defaults = (const char *const[]) {"created_at", "updated_at", NULL},
	.triggers = (const char *const[]) {"zd_replies_enqueue_reply", "zd_replies_set_connection",
	NULL},
	.foreign_keys = (const char *const[]) {"zd_replies_connection_id_fkey",
	"zd_replies_ticket_id_fkey", NULL},
	.unique_index = "zd_replies_zendesk_comment_id_key"
};

/*
 * What the current event has written directly: its event row, and the
 * ticket row it wrote or locked, which its comment then refers to without
 * looking it up again.  zd_direct_begin_event forgets it.
 */
static struct
{
	bool		has_event_row;
	ItemPointerData event_row;
	bool		has_ticket;
	int32		connection_id;
	int64		zendesk_id;
	int64		ticket_row_id;
}			this_event;

/* a new event: what the last one wrote is not this one's */
void
zd_direct_begin_event(void)
{
	memset(&this_event, 0, sizeof(this_event));
}

/* the SQL cast text::timestamptz, or null */
static Datum
timestamptz_from_text(const char *text, bool *isnull)
{
	*isnull = (text == NULL);
	if (text == NULL)
		return (Datum) 0;
	return DirectFunctionCall3(timestamptz_in, CStringGetDatum(text),
							   ObjectIdGetDatum(InvalidOid), Int32GetDatum(-1));
}

/* the SQL cast text::jsonb, or null */
static Datum
jsonb_from_text(const char *text, bool *isnull)
{
	*isnull = (text == NULL);
	if (text == NULL)
		return (Datum) 0;
	return DirectFunctionCall1(jsonb_in, CStringGetDatum(text));
}

/*
 * zd_direct_lock_connection
 *		Lock the webhook's connection row (tid, as its token was found) as a
 *		foreign-key check would, before rows that refer to it are written:
 *		it cannot be deleted before they commit.
 */
void
zd_direct_lock_connection(ItemPointer tid)
{
	Relation	rel = table_open(zd_relation_oid("zd_connections"), RowShareLock);

	zd_direct_lock_key_share(rel, tid);
	table_close(rel, NoLock);
}

/*
 * zd_direct_insert_event
 *		Record a webhook event's id (and its outcome); *recorded is false
 *		when the id was there already (a redelivery).  Returns false,
 *		having done nothing, when the row must take the SQL statement.
 */
bool
zd_direct_insert_event(const ZdDirectEvent *event, bool *recorded)
{
	ZdDirectTable t;
	Datum		now = TimestampTzGetDatum(GetCurrentTransactionStartTimestamp());

	if (!zd_direct_open(&event_shape, true, &t))
		return false;
	zd_direct_set(&t, EV_CONNECTION, Int32GetDatum(event->connection_id), false);
	zd_direct_set_text(&t, EV_EVENT_ID, event->event_id);
	zd_direct_set_text(&t, EV_EVENT_TYPE, event->event_type);
	zd_direct_set_int8(&t, EV_TICKET, event->has_ticket, event->zendesk_ticket_id);
	zd_direct_set(&t, EV_EVENT_TIME, TimestampTzGetDatum(event->event_time), event->event_time == 0);
	zd_direct_set(&t, EV_RECEIVED_AT, now, false);
	zd_direct_set_text(&t, EV_OUTCOME, event->outcome);

	*recorded = zd_direct_insert_unless_held(&t);
	if (*recorded)
	{
		this_event.has_event_row = true;
		this_event.event_row = t.slot->tts_tid;
	}
	zd_direct_close(&t);
	return true;
}

/*
 * zd_direct_set_event_outcome
 *		Give the event row this event inserted (zd_direct_insert_event) its
 *		outcome, when applying it showed one other than the row's; false,
 *		having done nothing, when the statement must.  The row is this
 *		transaction's own: no one else can see or lock it.
 */
bool
zd_direct_set_event_outcome(const char *outcome)
{
	ZdDirectTable t;
	TupleTableSlot *row;
	bool		found;

	if (!this_event.has_event_row || !zd_direct_open(&event_shape, false, &t))
		return false;
	row = table_slot_create(t.rel, NULL);
	found = table_tuple_fetch_row_version(t.rel, &this_event.event_row, SnapshotSelf, row);
	if (found)
	{
		zd_direct_copy_row(&t, row);
		zd_direct_set_text(&t, EV_OUTCOME, outcome);
		zd_direct_update(&t, row);
	}
	ExecDropSingleTupleTableSlot(row);
	zd_direct_close(&t);
	return found;
}

/*
 * user_lookup
 *		zd_users' e-mail and name of a Zendesk user; false when unknown.
 */
static bool
user_lookup(int32 connection_id, int64 zendesk_id, char **email, char **name)
{
	ZdTableRead r;
	ScanKeyData keys[2];
	bool		found;

	ScanKeyInit(&keys[0], 1, BTEqualStrategyNumber, F_INT4EQ, Int32GetDatum(connection_id));
	ScanKeyInit(&keys[1], 2, BTEqualStrategyNumber, F_INT8EQ, Int64GetDatum(zendesk_id));
	zd_read_begin(&r, "zd_users", "zd_users_pkey", keys, 2);
	found = zd_read_next(&r);
	*email = *name = NULL;
	if (found)
	{
		bool		isnull;
		Datum		value = zd_read_column(&r, "email", &isnull);

		if (!isnull)
			*email = TextDatumGetCString(value);
		value = zd_read_column(&r, "name", &isnull);
		if (!isnull)
			*name = TextDatumGetCString(value);
	}
	zd_read_end(&r);
	return found;
}

/*
 * status_push_waiting
 *		Is a status the application set for this ticket still on its way to
 *		Zendesk (an update_status item pending or in flight)?
 */
static bool
status_push_waiting(int64 ticket_id)
{
	ZdTableRead r;
	ScanKeyData key;
	bool		waiting = false;

	ScanKeyInit(&key, 1, BTEqualStrategyNumber, F_INT8EQ, Int64GetDatum(ticket_id));
	zd_read_begin(&r, "zd_outbox", "zd_outbox_ticket_id_idx", &key, 1);
	while (!waiting && zd_read_next(&r))
	{
		bool		isnull;
		char	   *kind = TextDatumGetCString(zd_read_column(&r, "kind", &isnull));
		char	   *state = TextDatumGetCString(zd_read_column(&r, "state", &isnull));

		waiting = strcmp(kind, "update_status") == 0 &&
			(strcmp(state, "pending") == 0 || strcmp(state, "in_flight") == 0);
	}
	zd_read_end(&r);
	return waiting;
}

/* the text array of unit-separated tags (store.c's tag_list); '{}' for none */
static Datum
tags_array(const char *tags)
{
	List	   *items = NIL;
	Datum	   *elems;
	int			n = 0;
	char	   *copy;
	char	   *tag;
	ListCell   *lc;

	if (tags != NULL && tags[0] != '\0')
	{
		copy = pstrdup(tags);
		for (tag = copy;;)
		{
			char	   *sep = strchr(tag, '\x1f');

			if (sep != NULL)
				*sep = '\0';
			items = lappend(items, tag);
			if (sep == NULL)
				break;
			tag = sep + 1;
		}
	}
	elems = palloc(sizeof(Datum) * (list_length(items) + 1));
	foreach(lc, items)
		elems[n++] = CStringGetTextDatum((char *) lfirst(lc));
	return PointerGetDatum(construct_array(elems, n, TEXTOID, -1, false, TYPALIGN_INT));
}

/* the values of a webhook's ticket state as the statement's EXCLUDED row has them */
typedef struct TicketState
{
	const ZdDirectTicket *in;
	TimestampTz version;
	bool		deleted;
	TimestampTz deleted_at;		/* when deleted */
	const char *deletion_kind;	/* when deleted */
	char	   *user_email;		/* the requester's, from zd_users */
	char	   *user_name;
	bool		user_known;
} TicketState;

/*
 * set_content
 *		The state's content columns (store.c: CONTENT), and with a newer
 *		content version also its status and that version.
 */
static void
set_content(ZdDirectTable *t, TupleTableSlot *old, const TicketState *s, bool newer,
			int64 ticket_id)
{
	const ZdJsonTicket *x = &s->in->write->ticket;
	bool		old_req_null = true;
	int64		old_req = 0;
	bool		same_requester;
	bool		isnull;
	Datum		value;

	if (old != NULL)
		old_req = DatumGetInt64(zd_direct_get(t, old, TK_REQUESTER_ZID, &old_req_null));
	same_requester = x->has_requester_id && !old_req_null && old_req == x->requester_id;

	zd_direct_set_text(t, TK_EXTERNAL_ID, x->external_id);
	zd_direct_set_int8(t, TK_REQUESTER_ZID, x->has_requester_id, x->requester_id);
	if (s->user_email != NULL)
		zd_direct_set_text(t, TK_REQUESTER_EMAIL, s->user_email);
	else if (!same_requester)
		zd_direct_set(t, TK_REQUESTER_EMAIL, (Datum) 0, true);
	if (s->user_name != NULL)
		zd_direct_set_text(t, TK_REQUESTER_NAME, s->user_name);
	else if (!same_requester)
		zd_direct_set(t, TK_REQUESTER_NAME, (Datum) 0, true);
	zd_direct_set_text(t, TK_SUBJECT, x->subject);
	if (x->description != NULL)
		zd_direct_set_text(t, TK_DESCRIPTION, x->description);
	zd_direct_set_text(t, TK_PRIORITY, s->in->priority);
	zd_direct_set_text(t, TK_TICKET_TYPE, s->in->ticket_type);
	zd_direct_set(t, TK_TAGS, tags_array(s->in->tags), false);
	value = jsonb_from_text(s->in->raw, &isnull);
	zd_direct_set(t, TK_RAW, value, isnull);
	if (newer)
	{
		/* a state that is not deleted; its status waits for ours, if one is on its way */
		const char *status = s->in->status ? s->in->status : "new";
		bool		old_null = true;
		Datum		old_status = (Datum) 0;

		if (old != NULL)
			old_status = zd_direct_get(t, old, TK_STATUS, &old_null);
		if (old == NULL || old_null || strcmp(TextDatumGetCString(old_status), status) != 0)
		{
			if (old == NULL || !status_push_waiting(ticket_id))
				zd_direct_set_text(t, TK_STATUS, status);
		}
		zd_direct_set(t, TK_CONTENT_VERSION, TimestampTzGetDatum(s->version), false);
	}
}

/* the state's deletion columns, when its deletion state is newer */
static void
set_deletion(ZdDirectTable *t, TupleTableSlot *old, const TicketState *s)
{
	const ZdTicketWrite *w = s->in->write;
	bool		isnull = true;

	zd_direct_set(t, TK_DELETION_VERSION, TimestampTzGetDatum(s->version), false);
	if (!s->deleted)
	{
		zd_direct_set(t, TK_DELETED_AT, (Datum) 0, true);
		zd_direct_set(t, TK_DELETION_KIND, (Datum) 0, true);
		zd_direct_set(t, TK_DELETED_BY, (Datum) 0, true);
		zd_direct_set(t, TK_DELETED_BY_NAME, (Datum) 0, true);
		zd_direct_set(t, TK_DELETION_SEEN_BY, (Datum) 0, true);
		return;
	}
	/* deleted: what the row says of its deletion stays, but for the kind */
	if (old != NULL)
		(void) zd_direct_get(t, old, TK_DELETED_AT, &isnull);
	if (isnull)
		zd_direct_set(t, TK_DELETED_AT, TimestampTzGetDatum(s->deleted_at), false);
	isnull = true;
	if (old != NULL)
		(void) zd_direct_get(t, old, TK_DELETION_KIND, &isnull);
	if (strcmp(s->deletion_kind, "soft") != 0 || isnull)
		zd_direct_set_text(t, TK_DELETION_KIND, s->deletion_kind);
	if (w->has_deleted_by)
		zd_direct_set_int8(t, TK_DELETED_BY, true, w->deleted_by);
	isnull = true;
	if (old != NULL)
		(void) zd_direct_get(t, old, TK_DELETION_SEEN_BY, &isnull);
	if (isnull)
		zd_direct_set_text(t, TK_DELETION_SEEN_BY, "webhook");
}

/* the columns every written state sets (Zendesk's times, versions, ours) */
static void
set_common(ZdDirectTable *t, TupleTableSlot *old, const TicketState *s)
{
	const ZdJsonTicket *x = &s->in->write->ticket;
	Datum		now = TimestampTzGetDatum(GetCurrentTransactionStartTimestamp());
	Datum		value;
	bool		isnull;
	bool		old_null = true;
	TimestampTz old_value = 0;

	value = timestamptz_from_text(x->created_at, &isnull);
	if (!isnull)
		zd_direct_set(t, TK_CREATED, value, false);
	value = timestamptz_from_text(x->updated_at, &isnull);
	if (old != NULL)
		old_value = DatumGetTimestampTz(zd_direct_get(t, old, TK_UPDATED, &old_null));
	if (!isnull && (old_null || DatumGetTimestampTz(value) > old_value))
		zd_direct_set(t, TK_UPDATED, value, false);
	old_null = true;
	if (old != NULL)
		old_value = DatumGetTimestampTz(zd_direct_get(t, old, TK_SOURCE_VERSION, &old_null));
	if (old_null || s->version > old_value)
		zd_direct_set(t, TK_SOURCE_VERSION, TimestampTzGetDatum(s->version), false);
	if (s->in->write->has_merged_into)
		zd_direct_set_int8(t, TK_MERGED_INTO, true, s->in->write->merged_into);
	zd_direct_set(t, TK_LAST_WEBHOOK_AT, now, false);
	zd_direct_set(t, TK_UPDATED_AT, now, false);
}

/*
 * ticket_insert
 *		The state as a new row, unless the ticket's key is held meanwhile
 *		(false).  Values as store.c's INSERT has them.
 */
static bool
ticket_insert(ZdDirectTable *t, int32 connection_id, const TicketState *s)
{
	const ZdJsonTicket *x = &s->in->write->ticket;
	int64		id = nextval_internal(zd_relation_oid("zd_tickets_id_seq"), false);

	zd_direct_clear_row(t);
	zd_direct_set(t, TK_ID, Int64GetDatum(id), false);
	zd_direct_set(t, TK_CONNECTION, Int32GetDatum(connection_id), false);
	zd_direct_set_int8(t, TK_ZENDESK_ID, true, x->id);
	zd_direct_set_text(t, TK_ORIGIN, "zendesk");
	zd_direct_set_text(t, TK_SYNC_STATE, "synced");
	zd_direct_set_text(t, TK_STATUS, "new");
	set_content(t, NULL, s, !s->deleted, id);
	if (s->deleted)
		set_deletion(t, NULL, s);
	else
		zd_direct_set(t, TK_DELETION_VERSION, TimestampTzGetDatum(s->version), false);
	set_common(t, NULL, s);
	zd_direct_set(t, TK_CREATED_AT, TimestampTzGetDatum(GetCurrentTransactionStartTimestamp()), false);
	return zd_direct_insert_unless_held(t);
}

/*
 * ticket_update
 *		Apply the state to the row held (old, locked), by store.c's rules;
 *		false when the statement must (a deleted state giving content to a
 *		row that has none).  *written: whether it changed the row.
 */
static bool
ticket_update(ZdDirectTable *t, TupleTableSlot *old, const TicketState *s, bool *written)
{
	bool		cv_null,
				dv_null,
				isnull;
	TimestampTz cv = DatumGetTimestampTz(zd_direct_get(t, old, TK_CONTENT_VERSION, &cv_null));
	TimestampTz dv = DatumGetTimestampTz(zd_direct_get(t, old, TK_DELETION_VERSION, &dv_null));
	bool		newer_content = !s->deleted && (cv_null || cv < s->version);
	bool		newer_deletion = dv_null || dv < s->version;
	bool		stronger = false;
	bool		new_merge = false;

	/* PROVISIONAL: a deleted state's content for a row without any */
	if (s->deleted && cv_null)
	{
		Datum		subject = zd_direct_get(t, old, TK_SUBJECT, &isnull);
		const char *new_subject = s->in->write->ticket.subject;

		if ((isnull || VARSIZE_ANY_EXHDR(DatumGetTextPP(subject)) == 0) &&
			new_subject != NULL && new_subject[0] != '\0')
			return false;
	}
	/* STRONGER: a permanent deletion, or the spam marking of the same deletion */
	if (s->deleted)
	{
		bool		kind_null;
		bool		deleted_null;
		Datum		kind = zd_direct_get(t, old, TK_DELETION_KIND, &kind_null);

		(void) zd_direct_get(t, old, TK_DELETED_AT, &deleted_null);
		if (!deleted_null && !kind_null)
		{
			char	   *old_kind = TextDatumGetCString(kind);

			/* (a null deletion version: only a permanent deletion is stronger) */
			stronger = strcmp(old_kind, "permanent") != 0 &&
				strcmp(old_kind, s->deletion_kind) != 0 &&
				(strcmp(s->deletion_kind, "permanent") == 0 ||
				 (strcmp(s->deletion_kind, "spam") == 0 && !dv_null &&
				  s->version >= dv - USECS_PER_SEC));
		}
	}
	if (s->in->write->has_merged_into)
	{
		bool		merged_null;
		int64		merged = DatumGetInt64(zd_direct_get(t, old, TK_MERGED_INTO, &merged_null));

		new_merge = merged_null || merged != s->in->write->merged_into;
	}
	*written = newer_content || newer_deletion || stronger || new_merge;
	if (!*written)
		return true;			/* stale: the row stays locked, as the statement's would */

	zd_direct_copy_row(t, old);
	if (newer_content)
		set_content(t, old, s, true, DatumGetInt64(zd_direct_get(t, old, TK_ID, &isnull)));
	if (newer_deletion)
		set_deletion(t, old, s);
	else if (stronger)
		zd_direct_set_text(t, TK_DELETION_KIND, s->deletion_kind);
	set_common(t, old, s);
	zd_direct_update(t, old);
	return true;
}

/*
 * zd_direct_write_ticket
 *		Write a webhook's ticket state by store.c's rules (newer content,
 *		newer deletion state, a stronger deletion, a new merge), inserting
 *		the ticket when it is not held.  *match: the ticket is to be matched
 *		to its client.  Returns false, having written nothing, for a state
 *		whose ticket Corsa pushed or that names a follow-up's source (their
 *		links are looked up by the statement) and for a deleted state that
 *		gives content to a row without any.
 */
bool
zd_direct_write_ticket(int32 connection_id, const ZdDirectTicket *in,
					   ZdStoreCounts *counts, bool *match)
{
	const ZdTicketWrite *w = in->write;
	const ZdJsonTicket *x = &w->ticket;
	ZdDirectTable t;
	TupleTableSlot *row;
	TicketState s;
	bool		written = false;
	bool		inserted = false;
	bool		done = false;
	bool		isnull;

	if (x->has_followup_source ||
		(x->external_id != NULL && strncmp(x->external_id, "corsa:", 6) == 0))
		return false;
	if (!zd_direct_open(&ticket_shape, true, &t))
		return false;

	memset(&s, 0, sizeof(s));
	s.in = in;
	s.version = w->version;
	s.deleted = w->deleted;
	s.deleted_at = w->deleted_at != 0 ? w->deleted_at : w->version;
	s.deletion_kind = w->deletion_kind ? w->deletion_kind : "soft";
	if (x->has_requester_id)
		s.user_known = user_lookup(connection_id, x->requester_id, &s.user_email, &s.user_name);

	row = table_slot_create(t.rel, NULL);
	while (!done)
	{
		if (zd_direct_fetch_locked(&t, connection_id, x->id, LockTupleNoKeyExclusive, row))
		{
			if (!ticket_update(&t, row, &s, &written))
			{
				ExecDropSingleTupleTableSlot(row);
				zd_direct_close(&t);
				return false;
			}
			done = true;
		}
		else if (ticket_insert(&t, connection_id, &s))
			done = written = inserted = true;
		/* else: inserted by another transaction meanwhile; update that row */
	}

	/* the row this event holds locked now, for its comment */
	this_event.has_ticket = true;
	this_event.connection_id = connection_id;
	this_event.zendesk_id = x->id;
	this_event.ticket_row_id =
		DatumGetInt64(inserted ? slot_getattr(t.slot, t.shape->attnums[TK_ID], &isnull) :
					  zd_direct_get(&t, row, TK_ID, &isnull));

	*match = false;
	if (written)
	{
		/* what the statement's RETURNING tells */
		bool		email_null,
					client_null,
					req_null;
		int64		req;

		(void) slot_getattr(t.slot, t.shape->attnums[TK_REQUESTER_EMAIL], &email_null);
		(void) slot_getattr(t.slot, t.shape->attnums[TK_CLIENT_ID], &client_null);
		req = DatumGetInt64(slot_getattr(t.slot, t.shape->attnums[TK_REQUESTER_ZID], &req_null));
		*match = !email_null || !client_null;
		if (counts != NULL)
		{
			char	   *email;
			char	   *name;

			counts->tickets++;
			if (inserted)
				counts->tickets_new++;
			if (email_null && !req_null &&
				!(x->has_requester_id && req == x->requester_id ? s.user_known :
				  user_lookup(connection_id, req, &email, &name)))
				counts->missing_emails++;
		}
	}
	ExecDropSingleTupleTableSlot(row);
	zd_direct_close(&t);
	return true;
}

/*
 * zd_direct_insert_comment
 *		Add a webhook's comment to its ticket's replies when we do not hold
 *		it yet.  Returns false, having written nothing, when it must take the
 *		statement: the comment is held already (whose missing details the
 *		statement fills in), its ticket is not held, or a reply of ours may
 *		be waiting for it (see store.c, link_replies_sql_for).
 */
bool
zd_direct_insert_comment(int32 connection_id, const ZdJsonComment *cm, const char *raw,
						 ZdStoreCounts *counts)
{
	ZdDirectTable t;
	Datum		now = TimestampTzGetDatum(GetCurrentTransactionStartTimestamp());
	int64		ticket_id = 0;
	char	   *email = NULL;
	char	   *name = NULL;
	bool		author_known = false;
	bool		isnull;
	Datum		value;
	bool		inserted;

	if (cm->ticket_id == 0 || zd_reply_push_recent())
		return false;
	if (this_event.has_ticket && this_event.connection_id == connection_id &&
		this_event.zendesk_id == cm->ticket_id)
	{
		/* its ticket, written (or found stale) and locked by this event */
		ticket_id = this_event.ticket_row_id;
	}
	else
	{
		/* its ticket, locked as a foreign-key check locks it */
		ZdDirectTable tickets;
		TupleTableSlot *ticket_row;
		bool		found;

		if (!zd_direct_open(&ticket_shape, false, &tickets))
			return false;
		ticket_row = table_slot_create(tickets.rel, NULL);
		found = zd_direct_fetch_locked(&tickets, connection_id, cm->ticket_id,
									   LockTupleKeyShare, ticket_row);
		if (found)
			ticket_id = DatumGetInt64(zd_direct_get(&tickets, ticket_row, TK_ID, &isnull));
		ExecDropSingleTupleTableSlot(ticket_row);
		zd_direct_close(&tickets);
		if (!found)
			return false;
	}
	if (!zd_direct_open(&reply_shape, true, &t))
		return false;

	if (cm->has_author_id)
		author_known = user_lookup(connection_id, cm->author_id, &email, &name);
	zd_direct_set(&t, RP_ID,
				  Int64GetDatum(nextval_internal(zd_relation_oid("zd_replies_id_seq"), false)),
				  false);
	zd_direct_set(&t, RP_TICKET, Int64GetDatum(ticket_id), false);
	zd_direct_set(&t, RP_CONNECTION, Int32GetDatum(connection_id), false);
	zd_direct_set_int8(&t, RP_COMMENT_ID, true, cm->id);
	zd_direct_set_int8(&t, RP_AUDIT_ID, cm->has_audit_id, cm->audit_id);
	zd_direct_set_int8(&t, RP_AUTHOR_ZID, cm->has_author_id, cm->author_id);
	zd_direct_set_text(&t, RP_AUTHOR_EMAIL, email);
	zd_direct_set_text(&t, RP_AUTHOR_NAME, name ? name : cm->author_name);
	zd_direct_set_text(&t, RP_BODY, cm->body);
	zd_direct_set_text(&t, RP_HTML_BODY, cm->html_body);
	zd_direct_set(&t, RP_PUBLIC, BoolGetDatum(cm->is_public), false);
	zd_direct_set_text(&t, RP_ORIGIN, "zendesk");
	zd_direct_set_text(&t, RP_SYNC_STATE, "synced");
	value = timestamptz_from_text(cm->created_at, &isnull);
	zd_direct_set(&t, RP_ZENDESK_CREATED, value, isnull);
	zd_direct_set(&t, RP_CREATED_AT, now, false);
	zd_direct_set(&t, RP_UPDATED_AT, now, false);
	value = jsonb_from_text(raw, &isnull);
	zd_direct_set(&t, RP_RAW, value, isnull);

	inserted = zd_direct_insert_unless_held(&t);
	zd_direct_close(&t);
	if (!inserted)
		return false;			/* held: the statement fills in what it lacks */
	if (counts != NULL)
	{
		counts->replies++;
		counts->changes++;
		if (email == NULL && cm->has_author_id && !author_known)
			counts->missing_emails++;
	}
	return true;
}
