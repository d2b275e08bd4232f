/*-------------------------------------------------------------------------
 *
 * zd_json.c
 *		Mapping of Zendesk JSON onto C structs (see zd_json.h).
 *
 * Only json-c and the C library are used here, so this file also builds
 * into standalone unit tests and fuzz targets (test/fuzz).  Ids may arrive
 * as JSON numbers (REST) or as strings (webhooks); both are accepted.
 *
 * src/zd_json.c
 *
 *-------------------------------------------------------------------------
 */
#include "zd_json.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <json-c/json.h>

/*
 * zdjson_parse
 *		Parse a whole document.  Returns NULL, with *error set to json-c's
 *		description, when the text is not one complete JSON value; the JSON
 *		literal null also gives NULL, but with *error left NULL.
 */
struct json_object *
zdjson_parse(const char *text, size_t len, const char **error)
{
	struct json_tokener *tok;
	struct json_object *root;
	enum json_tokener_error jerr;

	*error = NULL;
	if (len > (size_t) INT32_MAX)
	{
		*error = "document too large";
		return NULL;
	}
	tok = json_tokener_new();
	if (tok == NULL)
	{
		*error = "out of memory";
		return NULL;
	}
	/* Zendesk sends UTF-8; anything else must not reach a text column */
	json_tokener_set_flags(tok, JSON_TOKENER_VALIDATE_UTF8);
	root = json_tokener_parse_ex(tok, text, (int) len);
	jerr = json_tokener_get_error(tok);
	if (root == NULL && jerr == json_tokener_continue)
	{
		/* a bare number may still be waiting for digits: end the input */
		root = json_tokener_parse_ex(tok, "", 1);
		jerr = json_tokener_get_error(tok);
		if (root == NULL && jerr == json_tokener_continue)
			*error = "unexpected end of input";
	}
	else if (root != NULL || jerr == json_tokener_success)
	{
		/* (a valid "null" is a NULL root too: check what follows it) */
		size_t		end = json_tokener_get_parse_end(tok);

		while (end < len && (text[end] == ' ' || text[end] == '\t' ||
							 text[end] == '\n' || text[end] == '\r'))
			end++;
		if (end < len)
		{
			*error = "trailing characters after the JSON value";
			json_object_put(root);
			root = NULL;
		}
	}
	if (root == NULL && *error == NULL && jerr != json_tokener_success)
		*error = json_tokener_error_desc(jerr);
	json_tokener_free(tok);
	return root;
}

void
zdjson_free(struct json_object *root)
{
	if (root != NULL)
		json_object_put(root);
}

struct json_object *
zdjson_get(struct json_object *obj, const char *key)
{
	struct json_object *val = NULL;

	if (obj == NULL || !json_object_is_type(obj, json_type_object))
		return NULL;
	if (!json_object_object_get_ex(obj, key, &val))
		return NULL;
	if (val == NULL || json_object_is_type(val, json_type_null))
		return NULL;
	return val;
}

/*
 * zdjson_string
 *		A string member, or NULL when absent, null or not a string.
 */
const char *
zdjson_string(struct json_object *obj, const char *key)
{
	struct json_object *val = zdjson_get(obj, key);

	if (val == NULL || !json_object_is_type(val, json_type_string))
		return NULL;
	return json_object_get_string(val);
}

/*
 * zdjson_int64
 *		An integer member given as a JSON number or a decimal string ("5158"
 *		in webhooks).  False when absent, null, "" or not an integer.
 */
bool
zdjson_int64(struct json_object *obj, const char *key, int64_t *out)
{
	struct json_object *val = zdjson_get(obj, key);

	if (val == NULL)
		return false;
	if (json_object_is_type(val, json_type_int))
	{
		/* json-c clamps numbers out of range to the limits: refuse those */
		int64_t		v = json_object_get_int64(val);

		if (v == INT64_MAX || v == INT64_MIN)
			return false;
		*out = v;
		return true;
	}
	if (json_object_is_type(val, json_type_string))
	{
		const char *s = json_object_get_string(val);
		char	   *end;
		long long	v;

		/* digits, with an optional minus: no space, no plus sign */
		if (s == NULL || !(isdigit((unsigned char) s[0]) ||
						   (s[0] == '-' && isdigit((unsigned char) s[1]))))
			return false;
		errno = 0;
		v = strtoll(s, &end, 10);
		if (errno != 0 || *end != '\0')
			return false;
		*out = (int64_t) v;
		return true;
	}
	return false;
}

bool
zdjson_bool(struct json_object *obj, const char *key, bool dflt)
{
	struct json_object *val = zdjson_get(obj, key);

	if (val == NULL || !json_object_is_type(val, json_type_boolean))
		return dflt;
	return json_object_get_boolean(val);
}

/*
 * zdjson_length, zdjson_at, zdjson_string_at
 *		Array access that tolerates NULL and non-arrays (length 0).
 */
size_t
zdjson_length(struct json_object *array)
{
	if (array == NULL || !json_object_is_type(array, json_type_array))
		return 0;
	return json_object_array_length(array);
}

struct json_object *
zdjson_at(struct json_object *array, size_t i)
{
	if (i >= zdjson_length(array))
		return NULL;
	return json_object_array_get_idx(array, i);
}

const char *
zdjson_string_at(struct json_object *array, size_t i)
{
	struct json_object *val = zdjson_at(array, i);

	if (val == NULL || !json_object_is_type(val, json_type_string))
		return NULL;
	return json_object_get_string(val);
}

/*
 * zdjson_text
 *		The compact JSON text of a value (owned by the value).
 */
const char *
zdjson_text(struct json_object *obj)
{
	return json_object_to_json_string_ext(obj, JSON_C_TO_STRING_PLAIN |
										  JSON_C_TO_STRING_NOSLASHESCAPE);
}

/*
 * zdjson_path
 *		obj[key1][key2][key3] (NULL keys end the path), or NULL.
 */
struct json_object *
zdjson_path(struct json_object *obj, const char *key1, const char *key2,
			const char *key3)
{
	obj = zdjson_get(obj, key1);
	if (obj != NULL && key2 != NULL)
		obj = zdjson_get(obj, key2);
	if (obj != NULL && key3 != NULL)
		obj = zdjson_get(obj, key3);
	return obj;
}

/*
 * zdjson_ticket
 *		Map a ticket object.  False unless it is an object with an id.
 */
bool
zdjson_ticket(struct json_object *obj, ZdJsonTicket *ticket)
{
	const char *rel;
	struct json_object *tags;

	memset(ticket, 0, sizeof(*ticket));
	if (obj == NULL || !json_object_is_type(obj, json_type_object) ||
		!zdjson_int64(obj, "id", &ticket->id))
		return false;
	ticket->object = obj;
	ticket->has_generated_timestamp =
		zdjson_int64(obj, "generated_timestamp", &ticket->generated_timestamp);
	ticket->external_id = zdjson_string(obj, "external_id");
	ticket->subject = zdjson_string(obj, "subject");
	ticket->description = zdjson_string(obj, "description");
	ticket->status = zdjson_string(obj, "status");
	ticket->priority = zdjson_string(obj, "priority");
	ticket->type = zdjson_string(obj, "type");
	ticket->created_at = zdjson_string(obj, "created_at");
	ticket->updated_at = zdjson_string(obj, "updated_at");
	ticket->via_channel = zdjson_string(zdjson_get(obj, "via"), "channel");
	ticket->has_requester_id = zdjson_int64(obj, "requester_id", &ticket->requester_id);

	rel = zdjson_string(zdjson_path(obj, "via", "source", NULL), "rel");
	if (rel != NULL && strcmp(rel, "follow_up") == 0)
		ticket->has_followup_source =
			zdjson_int64(zdjson_path(obj, "via", "source", "from"), "ticket_id",
						 &ticket->followup_source_id);

	tags = zdjson_get(obj, "tags");
	ticket->tags = (tags != NULL && json_object_is_type(tags, json_type_array)) ? tags : NULL;
	return true;
}

/*
 * zdjson_comment
 *		Map a comment object: REST ("public"), export child event
 *		("public") or webhook event.comment ("is_public", author.id).
 */
bool
zdjson_comment(struct json_object *obj, ZdJsonComment *comment)
{
	struct json_object *author;

	memset(comment, 0, sizeof(*comment));
	if (obj == NULL || !json_object_is_type(obj, json_type_object) ||
		!zdjson_int64(obj, "id", &comment->id))
		return false;
	comment->object = obj;
	comment->has_author_id = zdjson_int64(obj, "author_id", &comment->author_id);
	author = zdjson_get(obj, "author");
	if (!comment->has_author_id && author != NULL)
		comment->has_author_id = zdjson_int64(author, "id", &comment->author_id);
	comment->author_name = zdjson_string(author, "name");
	comment->has_audit_id = zdjson_int64(obj, "audit_id", &comment->audit_id);
	(void) zdjson_int64(obj, "ticket_id", &comment->ticket_id);
	comment->body = zdjson_string(obj, "body");
	if (comment->body == NULL)
		comment->body = zdjson_string(obj, "plain_body");
	comment->html_body = zdjson_string(obj, "html_body");
	comment->created_at = zdjson_string(obj, "created_at");
	if (zdjson_get(obj, "public") != NULL)
		comment->is_public = zdjson_bool(obj, "public", true);
	else
		comment->is_public = zdjson_bool(obj, "is_public", true);
	return true;
}

/*
 * zdjson_ticket_page
 *		Map a page of /api/v2/incremental/tickets/cursor.
 */
bool
zdjson_ticket_page(struct json_object *root, ZdJsonTicketPage *page)
{
	struct json_object *users;

	memset(page, 0, sizeof(*page));
	page->tickets = zdjson_get(root, "tickets");
	if (page->tickets == NULL || !json_object_is_type(page->tickets, json_type_array))
		return false;
	users = zdjson_get(root, "users");
	page->users = (users != NULL && json_object_is_type(users, json_type_array)) ? users : NULL;
	page->after_cursor = zdjson_string(root, "after_cursor");
	page->end_of_stream = zdjson_bool(root, "end_of_stream", false);
	return true;
}

/*
 * zdjson_event_page
 *		Map a page of /api/v2/incremental/ticket_events.
 */
bool
zdjson_event_page(struct json_object *root, ZdJsonEventPage *page)
{
	memset(page, 0, sizeof(*page));
	page->events = zdjson_get(root, "ticket_events");
	if (page->events == NULL || !json_object_is_type(page->events, json_type_array))
		return false;
	page->has_end_time = zdjson_int64(root, "end_time", &page->end_time);
	page->end_of_stream = zdjson_bool(root, "end_of_stream", false);
	return true;
}

/*
 * audit_comments
 *		The comments among the events an audit lists under key (an exported
 *		audit's child_events, a REST audit's events), up to max, in order;
 *		their ticket id comes from the audit, and so do the audit id and the
 *		time when an event lacks them.  Returns how many were found
 *		(possibly more than max: the caller may retry).
 */
static int
audit_comments(struct json_object *audit, const char *key, ZdJsonComment *out, int max)
{
	struct json_object *events = zdjson_get(audit, key);
	int64_t		ticket_id = 0;
	int64_t		audit_id = 0;
	bool		has_audit = zdjson_int64(audit, "id", &audit_id);
	const char *created_at = zdjson_string(audit, "created_at");
	int			found = 0;
	size_t		i;

	(void) zdjson_int64(audit, "ticket_id", &ticket_id);
	for (i = 0; i < zdjson_length(events); i++)
	{
		struct json_object *event = zdjson_at(events, i);
		const char *type = zdjson_string(event, "event_type");
		ZdJsonComment comment;

		if (type == NULL)
			type = zdjson_string(event, "type");
		if (type == NULL || strcmp(type, "Comment") != 0 ||
			!zdjson_comment(event, &comment))
			continue;
		if (found < max)
		{
			comment.ticket_id = ticket_id;
			if (!comment.has_audit_id && has_audit)
			{
				comment.has_audit_id = true;
				comment.audit_id = audit_id;
			}
			if (comment.created_at == NULL)
				comment.created_at = created_at;
			out[found] = comment;
		}
		found++;
	}
	return found;
}

/*
 * zdjson_event_comments
 *		The comments among an exported audit's child events (present with
 *		include=comment_events), up to max; see audit_comments.
 */
int
zdjson_event_comments(struct json_object *event, ZdJsonComment *out, int max)
{
	return audit_comments(event, "child_events", out, max);
}

/*
 * zdjson_list_page
 *		Map a cursor-paginated list response: root[key] plus meta.
 */
bool
zdjson_list_page(struct json_object *root, const char *key, ZdJsonListPage *page)
{
	struct json_object *meta = zdjson_get(root, "meta");

	memset(page, 0, sizeof(*page));
	page->items = zdjson_get(root, key);
	if (page->items == NULL || !json_object_is_type(page->items, json_type_array))
		return false;
	page->has_more = zdjson_bool(meta, "has_more", false);
	page->after_cursor = zdjson_string(meta, "after_cursor");
	return true;
}

/*
 * zdjson_deleted_ticket
 *		Map an entry of /api/v2/deleted_tickets.
 */
bool
zdjson_deleted_ticket(struct json_object *obj, ZdJsonDeletedTicket *del)
{
	struct json_object *actor;

	memset(del, 0, sizeof(*del));
	if (!zdjson_int64(obj, "id", &del->id))
		return false;
	del->deleted_at = zdjson_string(obj, "deleted_at");
	del->previous_state = zdjson_string(obj, "previous_state");
	actor = zdjson_get(obj, "actor");
	del->has_actor_id = zdjson_int64(actor, "id", &del->actor_id);
	del->actor_name = zdjson_string(actor, "name");
	return true;
}

/*
 * zdjson_audit_comment / zdjson_comment_of_audit
 *		The comment a ticket create or update added: the first audit event
 *		of type Comment in {"ticket": ..., "audit": {"events": [...]}}, or
 *		in the audit object itself.
 */
bool
zdjson_audit_comment(struct json_object *root, ZdJsonComment *comment)
{
	return zdjson_comment_of_audit(zdjson_get(root, "audit"), comment);
}

bool
zdjson_comment_of_audit(struct json_object *audit, ZdJsonComment *comment)
{
	return audit_comments(audit, "events", comment, 1) > 0;
}

/* ticket event types whose detail carries the ticket's state to apply */
static const char *const webhook_state_types[] = {
	"created", "status_changed", "custom_status_changed", "priority_changed",
	"type_changed", "subject_changed", "description_changed", "tags_changed",
	"external_id_changed", "requester_changed", "submitter_changed",
	"agent_assignment_changed", "group_assignment_changed", "organization_changed",
	"brand_changed", "form_changed", "custom_field_changed", "task_due_at_changed",
	"problem_link_changed", "email_ccs_changed", "followers_changed", NULL
};

#define ZD_TICKET_EVENT_PREFIX "zen:event-type:ticket."

/*
 * zdjson_webhook
 *		Classify and map a webhook body.  Anything that is not a JSON object
 *		with a string "type" and "id" is NOT_AN_EVENT; a ticket event also
 *		needs a "detail" object with the ticket's id and a time.  Events of
 *		other kinds (users, organizations, SLA, CSAT ...) are IGNORED.
 */
void
zdjson_webhook(struct json_object *root, ZdJsonWebhook *event)
{
	const char *name;
	struct json_object *detail;
	struct json_object *body;
	int			i;

	memset(event, 0, sizeof(*event));
	event->kind = ZD_WEBHOOK_NOT_AN_EVENT;

	if (root == NULL || !json_object_is_type(root, json_type_object))
	{
		event->error = "the body is not a JSON object";
		return;
	}
	event->type = zdjson_string(root, "type");
	event->event_id = zdjson_string(root, "id");
	event->time = zdjson_string(root, "time");
	if (event->type == NULL || event->type[0] == '\0')
	{
		event->error = "the event has no \"type\"";
		return;
	}
	if (event->event_id == NULL || event->event_id[0] == '\0')
	{
		event->error = "the event has no \"id\"";
		return;
	}
	if (strncmp(event->type, "zen:event-type:", strlen("zen:event-type:")) != 0)
	{
		event->error = "the event type is not a Zendesk event type (zen:event-type:...)";
		return;
	}
	if (strncmp(event->type, ZD_TICKET_EVENT_PREFIX, strlen(ZD_TICKET_EVENT_PREFIX)) != 0)
	{
		event->kind = ZD_WEBHOOK_IGNORED;	/* user.*, organization.* ... */
		return;
	}

	detail = zdjson_get(root, "detail");
	if (detail == NULL || !json_object_is_type(detail, json_type_object) ||
		!zdjson_ticket(detail, &event->ticket))
	{
		event->error = "the ticket event has no \"detail\" object with the ticket's id";
		return;
	}
	if (event->time == NULL && event->ticket.updated_at == NULL)
	{
		event->error = "the ticket event has no \"time\"";
		return;
	}
	event->has_ticket = true;
	event->has_actor_id = zdjson_int64(detail, "actor_id", &event->actor_id);

	name = event->type + strlen(ZD_TICKET_EVENT_PREFIX);
	body = zdjson_get(root, "event");

	if (strcmp(name, "comment_added") == 0)
	{
		struct json_object *comment = zdjson_get(body, "comment");

		event->kind = ZD_WEBHOOK_TICKET_STATE;
		if (zdjson_comment(comment, &event->comment))
		{
			event->kind = ZD_WEBHOOK_COMMENT;
			event->has_comment = true;
			event->comment.ticket_id = event->ticket.id;
			event->comment.created_at = event->time;
		}
		return;
	}
	if (strcmp(name, "soft_deleted") == 0)
		event->kind = ZD_WEBHOOK_SOFT_DELETED;
	else if (strcmp(name, "permanently_deleted") == 0)
		event->kind = ZD_WEBHOOK_PERMANENTLY_DELETED;
	else if (strcmp(name, "undeleted") == 0)
		event->kind = ZD_WEBHOOK_UNDELETED;
	else if (strcmp(name, "marked_as_spam") == 0)
		event->kind = ZD_WEBHOOK_SPAM;
	else if (strcmp(name, "merged") == 0)
	{
		event->kind = ZD_WEBHOOK_MERGED;
		event->has_target = zdjson_int64(body, "target_ticket_id", &event->target_ticket_id);
	}
	else
	{
		event->kind = ZD_WEBHOOK_IGNORED;
		for (i = 0; webhook_state_types[i] != NULL; i++)
		{
			if (strcmp(name, webhook_state_types[i]) == 0)
			{
				event->kind = ZD_WEBHOOK_TICKET_STATE;
				break;
			}
		}
	}
}

/*
 * zdjson_user
 *		Map a user object.  False when obj is not an object.
 */
bool
zdjson_user(struct json_object *obj, ZdJsonUser *user)
{
	memset(user, 0, sizeof(*user));
	if (obj == NULL || !json_object_is_type(obj, json_type_object))
		return false;
	user->has_id = zdjson_int64(obj, "id", &user->id);
	user->name = zdjson_string(obj, "name");
	user->email = zdjson_string(obj, "email");
	user->role = zdjson_string(obj, "role");
	user->active = zdjson_bool(obj, "active", true);
	user->suspended = zdjson_bool(obj, "suspended", false);
	return true;
}

/*
 * zdjson_user_response
 *		Map {"user": {...}} (users/me, users/{id}, create_or_update).
 */
bool
zdjson_user_response(struct json_object *root, ZdJsonUser *user)
{
	return zdjson_user(zdjson_get(root, "user"), user);
}

/*
 * The length of the well-formed UTF-8 character at s (RFC 3629: no
 * overlong forms, no surrogates, nothing above U+10FFFF), or 0 when the
 * bytes there, of which avail are at hand, are not one.
 */
static size_t
utf8_char_length(const unsigned char *s, size_t avail)
{
	size_t		len;
	unsigned char lo = 0x80;
	unsigned char hi = 0xbf;
	size_t		i;

	if (s[0] < 0x80)
		return 1;
	if (s[0] >= 0xc2 && s[0] <= 0xdf)
		len = 2;
	else if (s[0] >= 0xe0 && s[0] <= 0xef)
	{
		len = 3;
		if (s[0] == 0xe0)
			lo = 0xa0;			/* overlong */
		else if (s[0] == 0xed)
			hi = 0x9f;			/* surrogates */
	}
	else if (s[0] >= 0xf0 && s[0] <= 0xf4)
	{
		len = 4;
		if (s[0] == 0xf0)
			lo = 0x90;			/* overlong */
		else if (s[0] == 0xf4)
			hi = 0x8f;			/* above U+10FFFF */
	}
	else
		return 0;
	if (avail < len)
		return 0;
	if (s[1] < lo || s[1] > hi)
		return 0;
	for (i = 2; i < len; i++)
		if (s[i] < 0x80 || s[i] > 0xbf)
			return 0;
	return len;
}

/*
 * copy_printable
 *		Copy text for a message: control characters become spaces, bytes
 *		that are not UTF-8 become '?', and a character is copied whole or
 *		not at all, so the result is valid UTF-8 whatever the input.
 */
static void
copy_printable(char *out, size_t outlen, const char *in, size_t inlen)
{
	const unsigned char *s = (const unsigned char *) in;
	size_t		o = 0;
	size_t		i = 0;

	while (i < inlen && o + 1 < outlen)
	{
		size_t		len = utf8_char_length(s + i, inlen - i);

		if (len == 0 && s[i] >= 0xc2 && s[i] <= 0xf4 &&
			inlen - i < (s[i] >= 0xf0 ? 4 : s[i] >= 0xe0 ? 3 : 2))
			break;				/* a character cut by the input's end */
		if (len == 0)
		{
			out[o++] = '?';
			i++;
		}
		else if (len == 1)
		{
			out[o++] = (s[i] < 0x20 || s[i] == 0x7f) ? ' ' : (char) s[i];
			i++;
		}
		else if (o + len < outlen)
		{
			memcpy(out + o, s + i, len);
			o += len;
			i += len;
		}
		else
			break;
	}
	out[o] = '\0';
}

/*
 * zdjson_error_summary
 *		A one-line description of a Zendesk error body, for error details
 *		and the sync log: "error: description (first detail)".  Handles the
 *		shapes {"error":"X","description":"Y","details":{...}},
 *		{"error":{"title":"X","message":"Y"}} and OAuth's error_description;
 *		anything else is shown as (the start of) its text.
 */
void
zdjson_error_summary(const char *body, size_t len, char *out, size_t outlen)
{
	const char *perr;
	struct json_object *root;
	struct json_object *err;
	const char *title = NULL;
	const char *text = NULL;
	const char *detail = NULL;
	struct json_object *details;

	if (outlen == 0)
		return;
	out[0] = '\0';
	if (body == NULL || len == 0)
		return;

	root = zdjson_parse(body, len, &perr);
	if (root == NULL || !json_object_is_type(root, json_type_object))
	{
		copy_printable(out, outlen, body, len < 200 ? len : 200);
		zdjson_free(root);
		return;
	}

	err = zdjson_get(root, "error");
	if (err != NULL && json_object_is_type(err, json_type_object))
	{
		title = zdjson_string(err, "title");
		text = zdjson_string(err, "message");
	}
	else
	{
		title = zdjson_string(root, "error");
		text = zdjson_string(root, "description");
		if (text == NULL)
			text = zdjson_string(root, "error_description");
	}

	/* 422 RecordInvalid: {"details": {"field": [{"description": ...}]}} */
	details = zdjson_get(root, "details");
	if (details != NULL && json_object_is_type(details, json_type_object))
	{
		json_object_object_foreach(details, key, val)
		{
			(void) key;
			if (json_object_is_type(val, json_type_array) &&
				json_object_array_length(val) > 0)
			{
				detail = zdjson_string(json_object_array_get_idx(val, 0), "description");
				if (detail != NULL)
					break;
			}
		}
	}

	if (title == NULL && text == NULL)
		copy_printable(out, outlen, body, len < 200 ? len : 200);
	else
	{
		char		line[512];

		snprintf(line, sizeof(line), "%s%s%s%s%s%s",
				 title ? title : "",
				 (title && text) ? ": " : "",
				 text ? text : "",
				 detail ? " (" : "",
				 detail ? detail : "",
				 detail ? ")" : "");
		copy_printable(out, outlen, line, strlen(line));
	}
	zdjson_free(root);
}

/* n decimal digits at s, as a number; -1 when any is not a digit */
static int
fixed_digits(const char *s, int n)
{
	int			value = 0;
	int			i;

	for (i = 0; i < n; i++)
	{
		if (s[i] < '0' || s[i] > '9')
			return -1;
		value = value * 10 + (s[i] - '0');
	}
	return value;
}

/* days in a month of the proleptic Gregorian calendar */
static int
days_in_month(int year, int month)
{
	static const int days[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	bool		leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;

	return days[month - 1] + (month == 2 && leap ? 1 : 0);
}

/*
 * zdjson_parse_time
 *		An RFC 3339 time as Zendesk writes them ("2025-01-08T10:12:07Z",
 *		"2025-01-08T10:12:07.672717030Z", or with a "+01:00" offset) to
 *		microseconds since the Unix epoch (digits past the sixth are
 *		dropped).  False for anything else, including days a month does not
 *		have.  Second 60 (RFC 3339's leap second) is taken, as PostgreSQL
 *		does, as the next minute's first.
 */
bool
zdjson_parse_time(const char *text, int64_t *epoch_us)
{
	struct tm	tm;
	int			year,
				month,
				day,
				hour,
				minute,
				second;
	int64_t		micros = 0;
	int64_t		offset = 0;
	const char *p;
	time_t		t;

	if (text == NULL || strlen(text) < 20 ||
		text[4] != '-' || text[7] != '-' || (text[10] != 'T' && text[10] != 't') ||
		text[13] != ':' || text[16] != ':')
		return false;
	year = fixed_digits(text, 4);
	month = fixed_digits(text + 5, 2);
	day = fixed_digits(text + 8, 2);
	hour = fixed_digits(text + 11, 2);
	minute = fixed_digits(text + 14, 2);
	second = fixed_digits(text + 17, 2);
	if (year < 1970 || month < 1 || month > 12 || day < 1 || day > days_in_month(year, month) ||
		hour < 0 || hour > 23 || minute < 0 || minute > 59 || second < 0 || second > 60)
		return false;

	p = text + 19;
	if (*p == '.')
	{
		int			ndigits = 0;

		for (p++; *p >= '0' && *p <= '9'; p++, ndigits++)
		{
			if (ndigits < 6)
				micros = micros * 10 + (*p - '0');
		}
		if (ndigits == 0)
			return false;
		for (; ndigits < 6; ndigits++)
			micros *= 10;
	}
	if (*p == 'Z' || *p == 'z')
		p++;
	else if (*p == '+' || *p == '-')
	{
		int			oh;
		int			om;

		/* exactly "+hh:mm" */
		if (strlen(p) != 6 || p[3] != ':')
			return false;
		oh = fixed_digits(p + 1, 2);
		om = fixed_digits(p + 4, 2);
		if (oh < 0 || oh > 23 || om < 0 || om > 59)
			return false;
		offset = (int64_t) (oh * 3600 + om * 60) * (*p == '-' ? -1 : 1);
		p += 6;
	}
	else
		return false;
	if (*p != '\0')
		return false;

	memset(&tm, 0, sizeof(tm));
	tm.tm_year = year - 1900;
	tm.tm_mon = month - 1;
	tm.tm_mday = day;
	tm.tm_hour = hour;
	tm.tm_min = minute;
	tm.tm_sec = second;
	t = timegm(&tm);
	*epoch_us = ((int64_t) t - offset) * 1000000 + micros;
	return true;
}
