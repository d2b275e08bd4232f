/*-------------------------------------------------------------------------
 *
 * zd_request_json.c
 *		The JSON bodies of the requests that push Corsa-side changes to
 *		Zendesk (ticket create, comment, status, end user), built with
 *		json-c, and the reading of the answers those pushes need (the user
 *		a search found, the audit that carries our marker).
 *
 * Like zd_json.c, only json-c and the C library are used, so this file
 * builds into the standalone unit tests too.  Builders return a malloc'd
 * string (the caller frees it), or NULL when out of memory.
 *
 * src/zd_request_json.c
 *
 *-------------------------------------------------------------------------
 */
#include "zd_json.h"

#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

/* set key to a string value when there is one */
static void
put_string(struct json_object *obj, const char *key, const char *value)
{
	if (value != NULL)
		json_object_object_add(obj, key, json_object_new_string(value));
}

/* the document as a malloc'd string; frees the document */
static char *
finish(struct json_object *root)
{
	char	   *text = strdup(zdjson_text(root));

	json_object_put(root);
	return text;
}

/* {"body": ..., "public": ..., ["author_id": ...]} */
static struct json_object *
comment_object(const char *body, bool is_public, int64_t author_id)
{
	struct json_object *comment = json_object_new_object();

	put_string(comment, "body", body != NULL ? body : "");
	/* Zendesk reuses the first comment's flag when it is left out */
	json_object_object_add(comment, "public", json_object_new_boolean(is_public));
	if (author_id != 0)
		json_object_object_add(comment, "author_id", json_object_new_int64(author_id));
	return comment;
}

/* our marker in the audit's custom metadata ({"metadata": {key: value}}), if any */
static void
put_marker(struct json_object *ticket, const char *key, int64_t value)
{
	struct json_object *metadata;

	if (key == NULL)
		return;
	metadata = json_object_new_object();
	json_object_object_add(metadata, key, json_object_new_int64(value));
	json_object_object_add(ticket, "metadata", metadata);
}

/*
 * zdjson_build_ticket_create
 *		{"ticket": {...}} for POST /api/v2/tickets.json.  The requester is
 *		given by e-mail (Zendesk finds the end user, or creates one), or by
 *		id for a follow-up.
 */
char *
zdjson_build_ticket_create(const ZdPushTicket *t)
{
	struct json_object *root = json_object_new_object();
	struct json_object *ticket = json_object_new_object();

	json_object_object_add(root, "ticket", ticket);
	put_string(ticket, "subject", t->subject);
	json_object_object_add(ticket, "comment",
						   comment_object(t->body, t->is_public, t->author_id));
	if (t->requester_id != 0)
		json_object_object_add(ticket, "requester_id", json_object_new_int64(t->requester_id));
	else
	{
		struct json_object *requester = json_object_new_object();

		put_string(requester, "email", t->requester_email);
		put_string(requester, "name", t->requester_name);
		json_object_object_add(ticket, "requester", requester);
	}
	put_string(ticket, "external_id", t->external_id);
	put_string(ticket, "status", t->status);
	put_string(ticket, "priority", t->priority);
	put_string(ticket, "type", t->type);
	if (t->tags_json != NULL)
	{
		struct json_object *tags = json_tokener_parse(t->tags_json);

		if (tags != NULL && json_object_is_type(tags, json_type_array) &&
			json_object_array_length(tags) > 0)
			json_object_object_add(ticket, "tags", tags);
		else
			json_object_put(tags);
	}
	if (t->followup_source_id != 0)
		json_object_object_add(ticket, "via_followup_source_id",
							   json_object_new_int64(t->followup_source_id));
	put_marker(ticket, t->marker_key, t->marker_value);
	return finish(root);
}

/*
 * zdjson_build_ticket_update
 *		{"ticket": {...}} for PUT /api/v2/tickets/{id}.json: a comment
 *		(body NULL: none) and/or a status, and our marker in the audit's
 *		custom metadata.
 */
char *
zdjson_build_ticket_update(const char *body, bool is_public, int64_t author_id,
						   const char *status, const char *marker_key,
						   int64_t marker_value)
{
	struct json_object *root = json_object_new_object();
	struct json_object *ticket = json_object_new_object();

	json_object_object_add(root, "ticket", ticket);
	if (body != NULL)
		json_object_object_add(ticket, "comment", comment_object(body, is_public, author_id));
	put_string(ticket, "status", status);
	put_marker(ticket, marker_key, marker_value);
	return finish(root);
}

/*
 * zdjson_build_end_user
 *		{"user": {...}} for POST /api/v2/users/create_or_update.json.
 */
char *
zdjson_build_end_user(const char *email, const char *name)
{
	struct json_object *root = json_object_new_object();
	struct json_object *user = json_object_new_object();

	json_object_object_add(root, "user", user);
	put_string(user, "email", email);
	put_string(user, "name", name != NULL ? name : email);
	put_string(user, "role", "end-user");
	json_object_object_add(user, "skip_verify_email", json_object_new_boolean(true));
	return finish(root);
}

/*
 * zdjson_found_user_id
 *		The id of the user an answer names: {"user": {...}} (create or
 *		show) or the first of {"users": [...]} (search).
 */
bool
zdjson_found_user_id(struct json_object *root, int64_t *id)
{
	struct json_object *user = zdjson_get(root, "user");

	if (user == NULL)
		user = zdjson_at(zdjson_get(root, "users"), 0);
	return user != NULL && zdjson_int64(user, "id", id);
}

/*
 * zdjson_marked_audit_comment
 *		In a page of {"audits": [...]}, the comment of the audit whose
 *		custom metadata has key = value: a comment we sent, although its
 *		answer never reached us.
 */
bool
zdjson_marked_audit_comment(struct json_object *root, const char *key, int64_t value,
							ZdJsonComment *comment)
{
	struct json_object *audits = zdjson_get(root, "audits");
	size_t		i;

	for (i = 0; i < zdjson_length(audits); i++)
	{
		struct json_object *audit = zdjson_at(audits, i);
		int64_t		found;

		if (zdjson_int64(zdjson_path(audit, "metadata", "custom", NULL), key, &found) &&
			found == value)
			return zdjson_comment_of_audit(audit, comment);
	}
	return false;
}

/*
 * zdjson_first_ticket
 *		The first ticket of {"tickets": [...]} (a lookup by external_id).
 */
bool
zdjson_first_ticket(struct json_object *root, ZdJsonTicket *ticket)
{
	struct json_object *first = zdjson_at(zdjson_get(root, "tickets"), 0);

	return first != NULL && zdjson_ticket(first, ticket);
}
