/*-------------------------------------------------------------------------
 *
 * store.c
 *		Writing mapped Zendesk objects (zd_json.c) into the tables: users,
 *		tickets, comments and deletion details.  For a page each call is
 *		one set-based statement over arrays (one per column), so 1000
 *		tickets cost one statement; a webhook's single ticket and comment go
 *		through the same rules in one-row statements of scalars, prepared
 *		once per session with generic plans.
 *
 * Rules kept here, for every path (export, webhook, push response):
 *  - rows are keyed by Zendesk ids; an object seen twice is one row;
 *  - a ticket's content (subject, status, priority, tags ...) and its
 *    deletion state each have a version (the Zendesk change time they come
 *    from); a state applies to each only when it is newer, so states that
 *    arrive in any order, more than once, converge to the newest content
 *    and the newest deletion state;
 *  - a deleted ticket keeps its row, its replies and its content: a
 *    deleted (or scrubbed) state sets the deletion columns and never
 *    replaces content (it gives content only to a row that has none yet,
 *    leaving its status unknown); a state that is not deleted clears them
 *    (restore);
 *  - a ticket or comment Corsa pushed, seen before the push's answer was
 *    recorded, links to the pushed row (external_id corsa:<id>; the reply
 *    in flight on that ticket with the same text);
 *  - a comment whose ticket is not known yet creates a placeholder ticket,
 *    which the next ticket state fills in;
 *  - rows written here never queue pushes (zd_store_sync_writes).
 *
 * A webhook's rows are mostly written without these statements, by
 * store_direct.c, under the same rules written again in C: a change to a
 * rule here must be made there too (pg_regress 007 delivers every kind of
 * event both ways and compares the rows).
 *
 * Runs in the caller's transaction, connected to SPI by the caller or not.
 *
 * src/store.c
 *
 *-------------------------------------------------------------------------
 */
#include "corsa_zendesk.h"

#include "catalog/pg_type_d.h"
#include "executor/spi.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/timestamp.h"

#include "store.h"
#include "store_direct.h"

/* set while this backend writes rows on behalf of the sync */
static bool sync_writing = false;

/*
 * zd_store_sync_writes
 *		Mark (or unmark) this process as writing on behalf of the sync; the
 *		push triggers then leave the rows alone.  The worker keeps it on.
 */
void
zd_store_sync_writes(bool on)
{
	sync_writing = on;
}

bool
zd_store_is_sync_writing(void)
{
	return sync_writing;
}

/*
 * zd_version_from_generated
 *		The version of an exported ticket state.  generated_timestamp has
 *		whole seconds and the export leaves out the last minute, so the
 *		state holds every change made up to the end of that second.
 */
TimestampTz
zd_version_from_generated(int64 generated_timestamp)
{
	return time_t_to_timestamptz((pg_time_t) generated_timestamp + 1) - 1;
}

const char *
zd_seen_by_name(ZdSeenBy seen_by)
{
	switch (seen_by)
	{
		case ZD_SEEN_BY_POLL:
			return "poll";
		case ZD_SEEN_BY_WEBHOOK:
			return "webhook";
		case ZD_SEEN_BY_PUSH:
			return "poll";		/* a push response is read like an export */
	}
	return "poll";
}

/* ---- column arrays ---- */

typedef struct Column
{
	ArrayBuildState *state;		/* NULL in one-row mode */
	Oid			type;
	Datum		first;			/* the first value added, and whether null */
	bool		first_null;
	bool		has_first;
} Column;

/*
 * col_init
 *		A column of values of that type, collected as an array; in one-row
 *		mode (a webhook's single object) only the value is kept, for a
 *		statement that takes scalars.
 */
static void
col_init(Column *col, Oid type, bool one_row)
{
	col->type = type;
	col->state = one_row ? NULL : initArrayResult(type, CurrentMemoryContext, false);
	col->has_first = false;
	col->first = (Datum) 0;
	col->first_null = true;
}

static void
col_add(Column *col, Datum value, bool isnull)
{
	if (!col->has_first)
	{
		col->first = value;
		col->first_null = isnull;
		col->has_first = true;
	}
	if (col->state != NULL)
		col->state = accumArrayResult(col->state, value, isnull, col->type,
									  CurrentMemoryContext);
}

static void
col_text(Column *col, const char *value)
{
	col_add(col, value ? CStringGetTextDatum(value) : (Datum) 0, value == NULL);
}

static void
col_int8(Column *col, bool present, int64 value)
{
	col_add(col, Int64GetDatum(value), !present);
}

static Datum
col_done(Column *col)
{
	return makeArrayResult(col->state, CurrentMemoryContext);
}

/*
 * cols_to_params
 *		The columns as statement parameters from position 1 on (0 is the
 *		connection): arrays, or in one-row mode the values themselves.
 */
static void
cols_to_params(Column *cols, int ncols, Oid *types, Datum *values, char *nulls)
{
	int			i;

	for (i = 0; i < ncols; i++)
	{
		if (cols[i].state != NULL)
		{
			types[i + 1] = get_array_type(cols[i].type);
			values[i + 1] = col_done(&cols[i]);
			nulls[i + 1] = ' ';
		}
		else
		{
			types[i + 1] = cols[i].type;
			values[i + 1] = cols[i].first;
			nulls[i + 1] = cols[i].first_null ? 'n' : ' ';
		}
	}
}

/* lower-cased copy of an enum value when it is one of the allowed ones */
static const char *
enum_value(const char *value, const char *const *allowed)
{
	char		lower[32];
	int			i;

	if (value == NULL || strlen(value) >= sizeof(lower))
		return NULL;
	for (i = 0; value[i]; i++)
		lower[i] = pg_ascii_tolower((unsigned char) value[i]);
	lower[i] = '\0';
	for (i = 0; allowed[i] != NULL; i++)
	{
		if (strcmp(lower, allowed[i]) == 0)
			return allowed[i];
	}
	return NULL;
}

static const char *const ticket_statuses[] =
{"new", "open", "pending", "hold", "solved", "closed", NULL};
static const char *const ticket_priorities[] = {"urgent", "high", "normal", "low", NULL};
static const char *const ticket_types[] = {"problem", "incident", "question", "task", NULL};

/*
 * tag_list
 *		A ticket's tags as one string, separated by the ASCII unit separator
 *		(Zendesk tags are single words), which SQL splits with
 *		string_to_array; NULL when the ticket has no tag array.
 */
static const char *
tag_list(struct json_object *tags)
{
	StringInfoData buf;
	size_t		n = zdjson_length(tags);
	size_t		i;

	if (tags == NULL)
		return NULL;
	initStringInfo(&buf);
	for (i = 0; i < n; i++)
	{
		const char *tag = zdjson_string_at(tags, i);

		if (tag == NULL || tag[0] == '\0' || strchr(tag, '\x1f') != NULL)
			continue;
		if (buf.len > 0)
			appendStringInfoChar(&buf, '\x1f');
		appendStringInfoString(&buf, tag);
	}
	return buf.data;
}

/* ---- users ---- */

static char *
users_sql(void)
{
	return psprintf("INSERT INTO %s AS u (connection_id, zendesk_id, email, name, role) "
					"SELECT DISTINCT ON (x.id) $1, x.id, x.email, x.name, x.role "
					"FROM unnest($2::int8[], $3::text[], $4::text[], $5::text[]) "
					"AS x(id, email, name, role) ORDER BY x.id "
					"ON CONFLICT (connection_id, zendesk_id) DO UPDATE SET "
					"email = EXCLUDED.email, name = EXCLUDED.name, role = EXCLUDED.role, "
					"updated_at = now() "
					"WHERE (u.email, u.name, u.role) IS DISTINCT FROM "
					"(EXCLUDED.email, EXCLUDED.name, EXCLUDED.role)",
					zd_qualified("zd_users"));
}

/*
 * zd_store_users
 *		Remember users (an array of user objects, e.g. a sideload).
 */
void
zd_store_users(int32 connection_id, struct json_object *users)
{
	size_t		n = zdjson_length(users);
	Column		ids,
				emails,
				names,
				roles;
	Datum		values[5];
	size_t		i;
	Oid			types[5] = {INT4OID, INT8ARRAYOID, TEXTARRAYOID, TEXTARRAYOID, TEXTARRAYOID};

	if (n == 0)
		return;
	col_init(&ids, INT8OID, false);
	col_init(&emails, TEXTOID, false);
	col_init(&names, TEXTOID, false);
	col_init(&roles, TEXTOID, false);
	for (i = 0; i < n; i++)
	{
		ZdJsonUser	user;

		if (!zdjson_user(zdjson_at(users, i), &user) || !user.has_id)
			continue;
		col_int8(&ids, true, user.id);
		col_text(&emails, user.email);
		col_text(&names, user.name);
		col_text(&roles, user.role);
	}

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	values[0] = Int32GetDatum(connection_id);
	values[1] = col_done(&ids);
	values[2] = col_done(&emails);
	values[3] = col_done(&names);
	values[4] = col_done(&roles);
	zd_spi_run_plan(zd_saved_plan(ZD_PLAN_UPSERT_USERS, users_sql, 5, types),
					values, NULL, SPI_OK_INSERT);
	SPI_finish();
}

/* ---- tickets ---- */

/*
 * tickets_upsert_sql
 *		The ticket upsert.  For a page it also counts deletions and changes
 *		against the rows as they were ("before"); a webhook needs neither,
 *		and its statement is cheaper without them, but says whether its
 *		ticket needs client matching (a sixth column).
 */
static char *
tickets_upsert_sql(bool for_page)
{
	const char *tickets = zd_qualified("zd_tickets");
	const char *users = zd_qualified("zd_users");
	const char *before = for_page ?
		psprintf(" before AS ("
				 " SELECT b.zendesk_id, b.deleted_at IS NOT NULL AS was_deleted,"
				 " b.zendesk_updated_at, b.source_version FROM %s b"
				 " WHERE b.connection_id = $1 AND b.zendesk_id IN (SELECT zid FROM input)),",
				 tickets) : "";
	const char *summary = for_page ?
		" SELECT count(*), count(*) FILTER (WHERE w.inserted),"
		" count(*) FILTER (WHERE w.is_deleted AND NOT coalesce(b.was_deleted, false)),"
		" count(*) FILTER (WHERE b.zendesk_id IS NULL OR b.source_version IS NULL"
		" OR w.updated IS DISTINCT FROM b.zendesk_updated_at"
		" OR w.is_deleted <> b.was_deleted),"
		" 0::int8"				/* pages fetch users themselves */
		" FROM written w LEFT JOIN before b ON b.zendesk_id = w.zendesk_id" :
		" SELECT count(*), count(*) FILTER (WHERE w.inserted), 0::int8, 0::int8,"
		" count(*) FILTER (WHERE w.lacks_email), count(*) FILTER (WHERE w.needs_match)"
		" FROM written w";

	/*
	 * NEWER_CONTENT: a state that is not deleted, newer than the content
	 * held.  Its status is not taken while a status the application set is
	 * still on its way to Zendesk (queued or in flight): that one is newer.  PROVISIONAL: a deleted state (whose status is unknown) gives
	 * the content of a row that has none yet; it never replaces content.
	 * NEWER_DELETION: newer than the deletion state held.
	 */
#define NEWER_CONTENT "(EXCLUDED.content_version IS NOT NULL AND (t.content_version IS NULL" \
	" OR t.content_version < EXCLUDED.content_version))"
#define PROVISIONAL "(EXCLUDED.content_version IS NULL AND t.content_version IS NULL" \
	" AND coalesce(t.subject, '') = '' AND coalesce(EXCLUDED.subject, '') <> '')"
#define CONTENT "(" NEWER_CONTENT " OR " PROVISIONAL ")"
#define NEWER_DELETION "(t.deletion_version IS NULL OR t.deletion_version < EXCLUDED.deletion_version)"
	/*
	 * STRONGER: while deleted, a permanent deletion (which cannot be undone)
	 * or a spam marking of the same action (Zendesk sends it with its soft
	 * deletion, microseconds apart) sets the kind, in whatever order the
	 * states arrive.
	 */
#define STRONGER "(EXCLUDED.deleted_at IS NOT NULL AND t.deleted_at IS NOT NULL" \
	" AND t.deletion_kind <> 'permanent' AND t.deletion_kind <> EXCLUDED.deletion_kind" \
	" AND (EXCLUDED.deletion_kind = 'permanent' OR (EXCLUDED.deletion_kind = 'spam'" \
	" AND EXCLUDED.deletion_version >= t.deletion_version - interval '1 second')))"
	/*
	 * NEW_MERGE: a merge cannot be undone, so the target it names is kept
	 * even when the state that carries it is older than the content held
	 * (Zendesk sends the source's status and tag changes after its merge).
	 */
#define NEW_MERGE "(EXCLUDED.merged_into_zendesk_id IS NOT NULL" \
	" AND t.merged_into_zendesk_id IS DISTINCT FROM EXCLUDED.merged_into_zendesk_id)"
	/* only a webhook asks the worker for e-mails it lacks (pages fetch users) */
	const char *lacks_email = for_page ? "false" :
		psprintf("t.requester_email IS NULL AND t.requester_zendesk_id IS NOT NULL"
				 " AND NOT EXISTS (SELECT 1 FROM %s k WHERE k.connection_id = $1"
				 " AND k.zendesk_id = t.requester_zendesk_id)", users);

#define TICKET_COLUMNS "zid, external_id, requester_id, subject, description, status, priority," \
	" ticket_type, tags, created_at, updated_at, version, deleted, deletion_kind," \
	" deleted_at, deleted_by, raw, merged_into, followup_source"
	/* a page: arrays, newest state per ticket; a webhook: one row of scalars */
	const char *input = for_page ?
		"SELECT DISTINCT ON (x.zid) x.* FROM unnest($2::int8[], $3::text[], $4::int8[],"
		" $5::text[], $6::text[], $7::text[], $8::text[], $9::text[], $10::text[],"
		" $11::text[], $12::text[], $13::timestamptz[], $14::bool[], $15::text[],"
		" $16::timestamptz[], $17::int8[], $18::text[], $19::int8[], $20::int8[])"
		" AS x(" TICKET_COLUMNS ") ORDER BY x.zid, x.version DESC" :
		"SELECT * FROM (VALUES ($2::int8, $3::text, $4::int8, $5::text, $6::text, $7::text,"
		" $8::text, $9::text, $10::text, $11::text, $12::text, $13::timestamptz, $14::bool,"
		" $15::text, $16::timestamptz, $17::int8, $18::text, $19::int8, $20::int8))"
		" AS x(" TICKET_COLUMNS ")";
#undef TICKET_COLUMNS

	return psprintf(
					"WITH input AS (%s),"
					"%s"
					" written AS ("
					" INSERT INTO %s AS t (connection_id, zendesk_id, external_id,"
					" requester_zendesk_id, requester_email, requester_name, subject, description,"
					" status, priority, ticket_type, tags, origin, sync_state, deleted_at,"
					" deletion_kind, deleted_by_zendesk_id, deletion_seen_by,"
					" merged_into_zendesk_id, followup_of_ticket_id, zendesk_created_at,"
					" zendesk_updated_at, source_version, content_version, deletion_version,"
					" last_webhook_at, raw)"
					" SELECT $1, x.zid, x.external_id, x.requester_id, u.email, u.name, x.subject,"
					" x.description, coalesce(x.status, 'new'), x.priority, x.ticket_type,"
					" coalesce(string_to_array(x.tags, E'\\x1f'), '{}'), 'zendesk', 'synced',"
					" CASE WHEN x.deleted THEN coalesce(x.deleted_at, x.version) END,"
					" CASE WHEN x.deleted THEN coalesce(x.deletion_kind, 'soft') END,"
					" CASE WHEN x.deleted THEN x.deleted_by END,"
					" CASE WHEN x.deleted THEN $21 END, x.merged_into,"
					" (SELECT f.id FROM %s f WHERE f.connection_id = $1"
					" AND f.zendesk_id = x.followup_source),"
					" x.created_at::timestamptz, x.updated_at::timestamptz, x.version,"
					" CASE WHEN NOT x.deleted THEN x.version END, x.version,"
					" CASE WHEN $21 = 'webhook' THEN now() END, x.raw::jsonb"
					" FROM input x LEFT JOIN %s u ON u.connection_id = $1"
					" AND u.zendesk_id = x.requester_id"
					" ON CONFLICT (connection_id, zendesk_id) DO UPDATE SET"
					" external_id = CASE WHEN " CONTENT " THEN EXCLUDED.external_id ELSE t.external_id END,"
					" requester_zendesk_id = CASE WHEN " CONTENT " THEN EXCLUDED.requester_zendesk_id"
					" ELSE t.requester_zendesk_id END,"
					" requester_email = CASE WHEN " CONTENT " THEN coalesce(EXCLUDED.requester_email,"
					" CASE WHEN EXCLUDED.requester_zendesk_id = t.requester_zendesk_id"
					" THEN t.requester_email END) ELSE t.requester_email END,"
					" requester_name = CASE WHEN " CONTENT " THEN coalesce(EXCLUDED.requester_name,"
					" CASE WHEN EXCLUDED.requester_zendesk_id = t.requester_zendesk_id"
					" THEN t.requester_name END) ELSE t.requester_name END,"
					" subject = CASE WHEN " CONTENT " THEN EXCLUDED.subject ELSE t.subject END,"
					" description = CASE WHEN " CONTENT " THEN coalesce(EXCLUDED.description,"
					" t.description) ELSE t.description END,"
					" status = CASE WHEN " NEWER_CONTENT " AND NOT EXISTS (SELECT 1 FROM %s q"
					" WHERE q.ticket_id = t.id AND q.kind = 'update_status'"
					" AND q.state IN ('pending', 'in_flight')) THEN EXCLUDED.status ELSE t.status END,"
					" priority = CASE WHEN " CONTENT " THEN EXCLUDED.priority ELSE t.priority END,"
					" ticket_type = CASE WHEN " CONTENT " THEN EXCLUDED.ticket_type ELSE t.ticket_type END,"
					" tags = CASE WHEN " CONTENT " THEN EXCLUDED.tags ELSE t.tags END,"
					" raw = CASE WHEN " CONTENT " THEN EXCLUDED.raw ELSE t.raw END,"
					" content_version = CASE WHEN " NEWER_CONTENT " THEN EXCLUDED.content_version"
					" ELSE t.content_version END,"
					" deleted_at = CASE WHEN NOT " NEWER_DELETION " THEN t.deleted_at"
					" WHEN EXCLUDED.deleted_at IS NULL THEN NULL"
					" ELSE coalesce(t.deleted_at, EXCLUDED.deleted_at) END,"
					" deletion_kind = CASE WHEN " STRONGER " THEN EXCLUDED.deletion_kind"
					" WHEN NOT " NEWER_DELETION " THEN t.deletion_kind"
					" WHEN EXCLUDED.deleted_at IS NULL THEN NULL"
					" WHEN EXCLUDED.deletion_kind IN ('permanent', 'spam') THEN EXCLUDED.deletion_kind"
					" ELSE coalesce(t.deletion_kind, EXCLUDED.deletion_kind) END,"
					" deleted_by_zendesk_id = CASE WHEN NOT " NEWER_DELETION " THEN t.deleted_by_zendesk_id"
					" WHEN EXCLUDED.deleted_at IS NULL THEN NULL"
					" ELSE coalesce(EXCLUDED.deleted_by_zendesk_id, t.deleted_by_zendesk_id) END,"
					" deleted_by_name = CASE WHEN NOT " NEWER_DELETION " THEN t.deleted_by_name"
					" WHEN EXCLUDED.deleted_at IS NULL THEN NULL ELSE t.deleted_by_name END,"
					" deletion_seen_by = CASE WHEN NOT " NEWER_DELETION " THEN t.deletion_seen_by"
					" WHEN EXCLUDED.deleted_at IS NULL THEN NULL"
					" ELSE coalesce(t.deletion_seen_by, EXCLUDED.deletion_seen_by) END,"
					" deletion_version = CASE WHEN " NEWER_DELETION " THEN EXCLUDED.deletion_version"
					" ELSE t.deletion_version END,"
					" merged_into_zendesk_id = coalesce(EXCLUDED.merged_into_zendesk_id,"
					" t.merged_into_zendesk_id),"
					" followup_of_ticket_id = coalesce(t.followup_of_ticket_id,"
					" EXCLUDED.followup_of_ticket_id),"
					" zendesk_created_at = coalesce(EXCLUDED.zendesk_created_at, t.zendesk_created_at),"
					" zendesk_updated_at = greatest(EXCLUDED.zendesk_updated_at, t.zendesk_updated_at),"
					" source_version = greatest(EXCLUDED.source_version, t.source_version),"
					" last_webhook_at = coalesce(EXCLUDED.last_webhook_at, t.last_webhook_at),"
					" updated_at = now()"
					" WHERE " CONTENT " OR " NEWER_DELETION " OR " STRONGER " OR " NEW_MERGE
					" RETURNING t.zendesk_id, t.deleted_at IS NOT NULL AS is_deleted,"
					" t.zendesk_updated_at AS updated, (t.xmax = 0) AS inserted,"
					" %s AS lacks_email,"
					" t.requester_email IS NOT NULL OR t.client_id IS NOT NULL AS needs_match)"
					"%s",
					input, before, tickets, tickets, users, zd_qualified("zd_outbox"), lacks_email,
					summary);
#undef NEWER_CONTENT
#undef PROVISIONAL
#undef CONTENT
#undef NEWER_DELETION
#undef STRONGER
#undef NEW_MERGE
}

static char *
tickets_sql(void)
{
	return tickets_upsert_sql(true);
}

static char *
webhook_ticket_sql(void)
{
	return tickets_upsert_sql(false);
}

/*
 * link_sql
 *		A ticket Corsa created carries external_id corsa:<zd_tickets.id>.
 *		When Zendesk's state of it (a webhook, a poll) arrives before the
 *		worker recorded the push's answer, it links to that row instead of
 *		making a second one.
 */
static char *
link_sql(void)
{
	const char *tickets = zd_qualified("zd_tickets");

	return psprintf("UPDATE %s t SET zendesk_id = x.zid, sync_state = 'synced', sync_error = NULL,"
					" updated_at = now()"
					" FROM unnest($2::int8[], $3::text[]) AS x(zid, ext)"
					" WHERE x.ext ~ '^corsa:[0-9]{1,18}$' AND t.id = substr(x.ext, 7)::int8"
					" AND t.connection_id = $1 AND t.zendesk_id IS NULL AND t.origin = 'corsa'"
					" AND NOT EXISTS (SELECT 1 FROM %s o WHERE o.connection_id = $1"
					" AND o.zendesk_id = x.zid)", tickets, tickets);
}

static void
link_pushed_tickets(int32 connection_id, ZdTicketWrite *tickets, int n)
{
	Column		zids;
	Column		exts;
	Oid			types[3] = {INT4OID, INT8ARRAYOID, TEXTARRAYOID};
	Datum		values[3];
	bool		any = false;
	int			i;

	col_init(&zids, INT8OID, false);
	col_init(&exts, TEXTOID, false);
	for (i = 0; i < n; i++)
	{
		const char *ext = tickets[i].ticket.external_id;

		if (ext != NULL && strncmp(ext, "corsa:", 6) == 0)
		{
			col_int8(&zids, true, tickets[i].ticket.id);
			col_text(&exts, ext);
			any = true;
		}
	}
	if (!any)
		return;
	values[0] = Int32GetDatum(connection_id);
	values[1] = col_done(&zids);
	values[2] = col_done(&exts);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	zd_spi_run_plan(zd_saved_plan(ZD_PLAN_LINK_PUSHED_TICKETS, link_sql, 3, types),
					values, NULL, SPI_OK_UPDATE);
	SPI_finish();
}

/*
 * zd_store_tickets
 *		Write ticket states (newer ones win) and match their clients (a
 *		webhook's ticket only when written with an e-mail or a client).
 *		counts (may be NULL) accumulates what happened.
 */
void
zd_store_tickets(int32 connection_id, ZdTicketWrite *tickets, int n,
				 ZdSeenBy seen_by, ZdStoreCounts *counts)
{
	Column		c[19];
	Oid			elem[19] = {INT8OID, TEXTOID, INT8OID, TEXTOID, TEXTOID, TEXTOID, TEXTOID,
		TEXTOID, TEXTOID, TEXTOID, TEXTOID, TIMESTAMPTZOID, BOOLOID, TEXTOID,
	TIMESTAMPTZOID, INT8OID, TEXTOID, INT8OID, INT8OID};
	Oid			types[21];
	Datum		values[21];
	char		nulls[21];
	int64	   *zendesk_ids;
	bool		one_row = (seen_by == ZD_SEEN_BY_WEBHOOK);
	bool		match = true;
	int			i;

	if (n <= 0)
		return;
	Assert(!one_row || n == 1);

	if (one_row)
	{
		/* a webhook's ticket state: written directly when it can be */
		ZdDirectTicket direct;

		direct.write = &tickets[0];
		direct.status = tickets[0].deleted ? NULL :
			enum_value(tickets[0].ticket.status, ticket_statuses);
		direct.priority = enum_value(tickets[0].ticket.priority, ticket_priorities);
		direct.ticket_type = enum_value(tickets[0].ticket.type, ticket_types);
		direct.tags = tag_list(tickets[0].ticket.tags);
		direct.raw = tickets[0].ticket.object ? zdjson_text(tickets[0].ticket.object) : NULL;
		if (zd_direct_write_ticket(connection_id, &direct, counts, &match))
		{
			if (match)
				zd_store_match_clients(connection_id, &tickets[0].ticket.id, 1);
			return;
		}
	}

	link_pushed_tickets(connection_id, tickets, n);

	zendesk_ids = palloc(sizeof(int64) * n);
	for (i = 0; i < 19; i++)
		col_init(&c[i], elem[i], one_row);
	for (i = 0; i < n; i++)
	{
		ZdTicketWrite *w = &tickets[i];
		ZdJsonTicket *t = &w->ticket;

		zendesk_ids[i] = t->id;
		col_int8(&c[0], true, t->id);
		col_text(&c[1], t->external_id);
		col_int8(&c[2], t->has_requester_id, t->requester_id);
		col_text(&c[3], t->subject);
		col_text(&c[4], t->description);
		col_text(&c[5], w->deleted ? NULL : enum_value(t->status, ticket_statuses));
		col_text(&c[6], enum_value(t->priority, ticket_priorities));
		col_text(&c[7], enum_value(t->type, ticket_types));
		col_text(&c[8], tag_list(t->tags));
		col_text(&c[9], t->created_at);
		col_text(&c[10], t->updated_at);
		col_add(&c[11], TimestampTzGetDatum(w->version), false);
		col_add(&c[12], BoolGetDatum(w->deleted), false);
		col_text(&c[13], w->deleted ? w->deletion_kind : NULL);
		col_add(&c[14], TimestampTzGetDatum(w->deleted_at), !w->deleted || w->deleted_at == 0);
		col_int8(&c[15], w->deleted && w->has_deleted_by, w->deleted_by);
		col_text(&c[16], t->object ? zdjson_text(t->object) : NULL);
		col_int8(&c[17], w->has_merged_into, w->merged_into);
		col_int8(&c[18], t->has_followup_source, t->followup_source_id);
	}

	types[0] = INT4OID;
	values[0] = Int32GetDatum(connection_id);
	nulls[0] = ' ';
	cols_to_params(c, 19, types, values, nulls);
	types[20] = TEXTOID;
	values[20] = CStringGetTextDatum(zd_seen_by_name(seen_by));
	nulls[20] = ' ';

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	if (seen_by == ZD_SEEN_BY_WEBHOOK)
	{
		/* one event's ticket: a generic plan, no before-and-after counts */
		Assert(n == 1);
		zd_spi_run_plan(zd_saved_plan(ZD_PLAN_WEBHOOK_TICKET, webhook_ticket_sql, 21, types),
						values, nulls, SPI_OK_SELECT);
	}
	else
		zd_spi_run_plan(zd_saved_plan(ZD_PLAN_UPSERT_TICKETS, tickets_sql, 21, types),
						values, nulls, SPI_OK_SELECT);
	if (SPI_processed == 1)
	{
		HeapTuple	tup = SPI_tuptable->vals[0];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		bool		isnull;

		if (counts != NULL)
		{
			counts->tickets += DatumGetInt64(SPI_getbinval(tup, desc, 1, &isnull));
			counts->tickets_new += DatumGetInt64(SPI_getbinval(tup, desc, 2, &isnull));
			counts->deletions += DatumGetInt64(SPI_getbinval(tup, desc, 3, &isnull));
			counts->changes += DatumGetInt64(SPI_getbinval(tup, desc, 4, &isnull));
			counts->missing_emails += DatumGetInt64(SPI_getbinval(tup, desc, 5, &isnull));
		}

		/*
		 * A webhook's ticket is matched only when it was written and has an
		 * e-mail or a client: otherwise the match could change nothing.
		 */
		if (one_row)
			match = DatumGetInt64(SPI_getbinval(tup, desc, 6, &isnull)) > 0;
	}
	SPI_finish();

	if (match)
		zd_store_match_clients(connection_id, zendesk_ids, n);
}

/*
 * zd_store_match_clients
 *		Match the clients of the tickets with these Zendesk ids.
 */
void
zd_store_match_clients(int32 connection_id, const int64 *zendesk_ids, int n)
{
	Column		ids;
	int			i;

	if (n <= 0)
		return;
	col_init(&ids, INT8OID, false);
	for (i = 0; i < n; i++)
		col_int8(&ids, true, zendesk_ids[i]);
	zd_match_clients_by_zendesk_ids(connection_id, col_done(&ids));
}

/* ---- comments ---- */

static char *
placeholders_sql(void)
{
	/* $3: the comments' ticket ids (same arguments as comments_sql) */
	return psprintf("INSERT INTO %s (connection_id, zendesk_id, origin, sync_state) "
					"SELECT DISTINCT $1, z, 'zendesk', 'synced' FROM unnest($3::int8[]) z "
					"WHERE z IS NOT NULL "
					"ON CONFLICT (connection_id, zendesk_id) DO NOTHING",
					zd_qualified("zd_tickets"));
}

/*
 * link_replies_sql
 *		A reply Corsa sent whose answer is not recorded yet (its queue item
 *		in flight, or waiting to retry after an attempt that may have
 *		landed) takes the Zendesk comment a webhook or poll shows on its
 *		ticket with the same text, instead of that comment making a second
 *		row.  A ticket has at most one such reply: its items go one at a
 *		time.  Text is compared with runs of white space collapsed, as
 *		Zendesk stores it.  (Same arguments as comments_sql.)  A webhook
 *		runs it only while the worker pushes replies (zd_reply_push_recent);
 *		a reply folded later is the fallback (push.c).
 */
static char *
link_replies_sql_for(bool one_row)
{
	return psprintf("UPDATE %s r SET zendesk_comment_id = x.cid, updated_at = now()"
					" FROM %s AS x(cid, tzid, body), %s t, %s o"
					" WHERE t.connection_id = $1 AND t.zendesk_id = x.tzid"
					" AND o.ticket_id = t.id AND o.kind = 'add_reply'"
					" AND (o.state = 'in_flight' OR (o.state = 'pending' AND o.attempts > 0))"
					" AND r.id = o.reply_id AND r.zendesk_comment_id IS NULL"
					" AND regexp_replace(btrim(r.body), '\\s+', ' ', 'g')"
					" = regexp_replace(btrim(x.body), '\\s+', ' ', 'g')"
					" AND NOT EXISTS (SELECT 1 FROM %s d WHERE d.connection_id = $1"
					" AND d.zendesk_comment_id = x.cid)",
					zd_qualified("zd_replies"),
					one_row ? "(VALUES ($2::int8, $3::int8, $6::text))"
					: "unnest($2::int8[], $3::int8[], $6::text[])",
					zd_qualified("zd_tickets"), zd_qualified("zd_outbox"),
					zd_qualified("zd_replies"));
}

static char *
link_replies_sql(void)
{
	return link_replies_sql_for(false);
}

static char *
webhook_link_reply_sql(void)
{
	return link_replies_sql_for(true);
}

static char *
comments_sql_for(bool one_row)
{
#define COMMENT_COLUMNS "cid, tzid, author, audit, body, html, pub, created, raw, author_name"
	const char *input = one_row ?
		"SELECT * FROM (VALUES ($2::int8, $3::int8, $4::int8, $5::int8, $6::text, $7::text,"
		" $8::bool, $9::text, $10::text, $11::text)) AS x(" COMMENT_COLUMNS ")" :
		"SELECT DISTINCT ON (x.cid) x.* FROM unnest($2::int8[], $3::int8[], $4::int8[],"
		" $5::int8[], $6::text[], $7::text[], $8::bool[], $9::text[], $10::text[],"
		" $11::text[]) AS x(" COMMENT_COLUMNS ") ORDER BY x.cid";
#undef COMMENT_COLUMNS
	/* only a webhook asks the worker for e-mails it lacks (pages fetch users) */
	const char *lacks_email = !one_row ? "false" :
		psprintf("r.author_email IS NULL AND r.author_zendesk_id IS NOT NULL"
				 " AND NOT EXISTS (SELECT 1 FROM %s k WHERE k.connection_id = $1"
				 " AND k.zendesk_id = r.author_zendesk_id)", zd_qualified("zd_users"));

	return psprintf("WITH input AS (%s)"
					" INSERT INTO %s AS r (ticket_id, connection_id, zendesk_comment_id,"
					" zendesk_audit_id, author_zendesk_id, author_email, author_name, body, html_body,"
					" public, origin, sync_state, zendesk_created_at, raw)"
					" SELECT t.id, $1, x.cid, x.audit, x.author, u.email,"
					" coalesce(u.name, x.author_name), x.body, x.html,"
					" x.pub, 'zendesk', 'synced', x.created::timestamptz, x.raw::jsonb"
					" FROM input x JOIN %s t ON t.connection_id = $1 AND t.zendesk_id = x.tzid"
					" LEFT JOIN %s u ON u.connection_id = $1 AND u.zendesk_id = x.author"
					" ON CONFLICT (connection_id, zendesk_comment_id) DO UPDATE SET"
					" author_email = coalesce(r.author_email, EXCLUDED.author_email),"
					" author_name = coalesce(r.author_name, EXCLUDED.author_name),"
					" author_zendesk_id = coalesce(r.author_zendesk_id, EXCLUDED.author_zendesk_id),"
					" zendesk_audit_id = coalesce(r.zendesk_audit_id, EXCLUDED.zendesk_audit_id),"
					" html_body = coalesce(r.html_body, EXCLUDED.html_body),"
					" zendesk_created_at = coalesce(r.zendesk_created_at, EXCLUDED.zendesk_created_at),"
					" updated_at = now()"
					" WHERE (r.author_email IS NULL AND EXCLUDED.author_email IS NOT NULL)"
					" OR (r.html_body IS NULL AND EXCLUDED.html_body IS NOT NULL)"
					" OR (r.zendesk_created_at IS NULL AND EXCLUDED.zendesk_created_at IS NOT NULL)"
					" RETURNING (r.xmax = 0) AS inserted, %s AS lacks_email",
					input, zd_qualified("zd_replies"), zd_qualified("zd_tickets"),
					zd_qualified("zd_users"), lacks_email);
}

static char *
comments_sql(void)
{
	return comments_sql_for(false);
}

static char *
webhook_comment_sql(void)
{
	return comments_sql_for(true);
}

/*
 * zd_store_comments
 *		Record comments (each once, whatever the order they arrive in).  A
 *		comment never changes a ticket's state; its ticket is created as a
 *		placeholder when unknown.  for_webhook: one comment, whose ticket
 *		the caller has just written.
 */
void
zd_store_comments(int32 connection_id, ZdJsonComment *comments, int n,
				  bool for_webhook, ZdStoreCounts *counts)
{
	Column		c[10];
	Oid			elem[10] = {INT8OID, INT8OID, INT8OID, INT8OID, TEXTOID, TEXTOID, BOOLOID,
	TEXTOID, TEXTOID, TEXTOID};
	Oid			types[11];
	Datum		values[11];
	char		nulls[11];
	int			i;
	uint64		k;

	if (n <= 0)
		return;
	Assert(!for_webhook || n == 1);
	/* a webhook's comment we do not hold yet: written directly */
	if (for_webhook &&
		zd_direct_insert_comment(connection_id, &comments[0],
								 comments[0].object ? zdjson_text(comments[0].object) : NULL,
								 counts))
		return;
	for (i = 0; i < 10; i++)
		col_init(&c[i], elem[i], for_webhook);
	for (i = 0; i < n; i++)
	{
		ZdJsonComment *cm = &comments[i];

		col_int8(&c[0], true, cm->id);
		col_int8(&c[1], cm->ticket_id != 0, cm->ticket_id);
		col_int8(&c[2], cm->has_author_id, cm->author_id);
		col_int8(&c[3], cm->has_audit_id, cm->audit_id);
		col_text(&c[4], cm->body);
		col_text(&c[5], cm->html_body);
		col_add(&c[6], BoolGetDatum(cm->is_public), false);
		col_text(&c[7], cm->created_at);
		col_text(&c[8], cm->object ? zdjson_text(cm->object) : NULL);
		col_text(&c[9], cm->author_name);
	}
	types[0] = INT4OID;
	values[0] = Int32GetDatum(connection_id);
	nulls[0] = ' ';
	cols_to_params(c, 10, types, values, nulls);

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	if (for_webhook)
	{
		/* the event's ticket was written just before: generic plans */
		Assert(n == 1);
		if (zd_reply_push_recent())
			zd_spi_run_plan(zd_saved_plan(ZD_PLAN_WEBHOOK_LINK_REPLY, webhook_link_reply_sql,
										  11, types),
							values, nulls, SPI_OK_UPDATE);
		zd_spi_run_plan(zd_saved_plan(ZD_PLAN_WEBHOOK_COMMENT, webhook_comment_sql, 11, types),
						values, nulls, SPI_OK_INSERT_RETURNING);
	}
	else
	{
		/* tickets first, in their own statement, so the insert below sees them */
		zd_spi_run_plan(zd_saved_plan(ZD_PLAN_TICKET_PLACEHOLDERS, placeholders_sql, 3, types),
						values, nulls, SPI_OK_INSERT);
		zd_spi_run_plan(zd_saved_plan(ZD_PLAN_LINK_PUSHED_REPLIES, link_replies_sql, 11, types),
						values, nulls, SPI_OK_UPDATE);
		zd_spi_run_plan(zd_saved_plan(ZD_PLAN_INSERT_COMMENTS, comments_sql, 11, types),
						values, nulls, SPI_OK_INSERT_RETURNING);
	}
	if (counts != NULL)
	{
		for (k = 0; k < SPI_processed; k++)
		{
			bool		isnull;

			if (DatumGetBool(SPI_getbinval(SPI_tuptable->vals[k], SPI_tuptable->tupdesc,
										   1, &isnull)))
			{
				counts->replies++;
				counts->changes++;
			}
			if (DatumGetBool(SPI_getbinval(SPI_tuptable->vals[k], SPI_tuptable->tupdesc,
										   2, &isnull)))
				counts->missing_emails++;
		}
	}
	SPI_finish();
}

/* ---- deletion details ---- */

static char *
deletion_sql(void)
{
	/*
	 * previous_state is the status the ticket had when deleted: it is the
	 * content's status as of the deletion, when we have none newer.  $6
	 * holds it only when it is a status zd_tickets takes.
	 */
	return psprintf("UPDATE %s t SET"
					" deleted_by_zendesk_id = coalesce(x.actor, t.deleted_by_zendesk_id),"
					" deleted_by_name = coalesce(x.actor_name, t.deleted_by_name),"
					" deleted_at = coalesce(x.deleted_at::timestamptz, t.deleted_at),"
					" status = CASE WHEN t.content_version IS NULL AND x.prev IS NOT NULL"
					" THEN x.prev ELSE t.status END,"
					" content_version = CASE WHEN t.content_version IS NULL"
					" AND x.prev IS NOT NULL"
					" THEN coalesce(x.deleted_at::timestamptz, t.deleted_at)"
					" ELSE t.content_version END,"
					" updated_at = now()"
					" FROM unnest($2::int8[], $3::int8[], $4::text[], $5::text[], $6::text[])"
					" AS x(zid, actor, actor_name, deleted_at, prev)"
					" WHERE t.connection_id = $1 AND t.zendesk_id = x.zid"
					" AND t.deleted_at IS NOT NULL",
					zd_qualified("zd_tickets"));
}

/*
 * zd_store_deletion_details
 *		Who deleted which ticket, when, and its status before, from
 *		/api/v2/deleted_tickets (for tickets we hold as deleted).
 */
void
zd_store_deletion_details(int32 connection_id, ZdJsonDeletedTicket *entries, int n)
{
	Column		c[5];
	Oid			elem[5] = {INT8OID, INT8OID, TEXTOID, TEXTOID, TEXTOID};
	Oid			types[6];
	Datum		values[6];
	char		nulls[6];
	int			i;

	if (n <= 0)
		return;
	for (i = 0; i < 5; i++)
		col_init(&c[i], elem[i], false);
	for (i = 0; i < n; i++)
	{
		col_int8(&c[0], true, entries[i].id);
		col_int8(&c[1], entries[i].has_actor_id, entries[i].actor_id);
		col_text(&c[2], entries[i].actor_name);
		col_text(&c[3], entries[i].deleted_at);
		col_text(&c[4], enum_value(entries[i].previous_state, ticket_statuses));
	}
	types[0] = INT4OID;
	values[0] = Int32GetDatum(connection_id);
	nulls[0] = ' ';
	cols_to_params(c, 5, types, values, nulls);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	zd_spi_run_plan(zd_saved_plan(ZD_PLAN_DELETION_DETAILS, deletion_sql, 6, types),
					values, nulls, SPI_OK_UPDATE);
	SPI_finish();
}

/*
 * zd_store_fill_from_users
 *		Give tickets and replies that lack a requester or author e-mail the
 *		one zd_users now knows, and match the clients of those tickets.
 *		Returns how many tickets got their e-mail.
 */
int64
zd_store_fill_from_users(int32 connection_id)
{
	int64		filled;
	Datum		conn = Int32GetDatum(connection_id);

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	zd_spi_exec_params(psprintf("UPDATE %s r SET author_email = u.email, author_name = u.name, "
								"updated_at = now() FROM %s u "
								"WHERE r.connection_id = $1 AND r.author_email IS NULL "
								"AND r.author_zendesk_id IS NOT NULL AND u.connection_id = $1 "
								"AND u.zendesk_id = r.author_zendesk_id AND u.email IS NOT NULL",
								zd_qualified("zd_replies"), zd_qualified("zd_users")),
					   1, (Oid[]) {INT4OID}, &conn, SPI_OK_UPDATE);
	zd_spi_exec_params(psprintf("UPDATE %s t SET requester_email = u.email, "
								"requester_name = u.name, updated_at = now() FROM %s u "
								"WHERE t.connection_id = $1 AND t.requester_email IS NULL "
								"AND t.requester_zendesk_id IS NOT NULL AND u.connection_id = $1 "
								"AND u.zendesk_id = t.requester_zendesk_id AND u.email IS NOT NULL "
								"RETURNING t.zendesk_id",
								zd_qualified("zd_tickets"), zd_qualified("zd_users")),
					   1, (Oid[]) {INT4OID}, &conn, SPI_OK_UPDATE_RETURNING);
	filled = (int64) SPI_processed;
	if (filled > 0)
	{
		int64	   *ids = palloc(sizeof(int64) * filled);
		int64		i;

		for (i = 0; i < filled; i++)
		{
			bool		isnull;

			ids[i] = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[i],
												 SPI_tuptable->tupdesc, 1, &isnull));
		}
		zd_store_match_clients(connection_id, ids, (int) filled);
	}
	SPI_finish();
	return filled;
}
