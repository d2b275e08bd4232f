/*-------------------------------------------------------------------------
 *
 * zd_json.h
 *		Mapping of Zendesk JSON (REST responses, exports, webhooks) onto
 *		plain C structs.  Backend-independent: no PostgreSQL headers, no
 *		allocation of its own; strings are borrowed from the json-c tree,
 *		which the caller keeps alive and frees with zdjson_free().
 *
 * This header does not include json-c, so backend files that need
 * utils/builtins.h (whose json_object clashes with json-c's) can use it.
 *
 * src/zd_json.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef ZD_JSON_H
#define ZD_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct json_object;

/* A Zendesk user (REST shape). */
typedef struct ZdJsonUser
{
	bool		has_id;			/* false for the anonymous user */
	int64_t		id;
	const char *name;
	const char *email;
	const char *role;			/* "end-user", "agent", "admin" */
	bool		active;
	bool		suspended;
} ZdJsonUser;

/* A ticket (REST shape; also the "detail" of webhook events). */
typedef struct ZdJsonTicket
{
	int64_t		id;
	bool		has_generated_timestamp;
	int64_t		generated_timestamp;	/* epoch seconds */
	const char *external_id;
	const char *subject;
	const char *description;
	const char *status;			/* as given: "open" (REST) or "OPEN" (webhook) */
	const char *priority;
	const char *type;
	const char *created_at;
	const char *updated_at;
	const char *via_channel;
	bool		has_requester_id;
	int64_t		requester_id;
	bool		has_followup_source;	/* via.source.rel = follow_up */
	int64_t		followup_source_id;
	struct json_object *tags;	/* array of strings, or NULL */
	struct json_object *object; /* the ticket object itself */
} ZdJsonTicket;

/* A comment, from a REST list, an audit, the ticket-event export or a
 * webhook. */
typedef struct ZdJsonComment
{
	int64_t		id;
	int64_t		ticket_id;		/* 0 when the source does not say */
	bool		has_author_id;
	int64_t		author_id;
	bool		has_audit_id;
	int64_t		audit_id;
	const char *author_name;	/* when the source names the author */
	const char *body;
	const char *html_body;
	const char *created_at;
	bool		is_public;
	struct json_object *object;
} ZdJsonComment;

/* One page of the cursor-based incremental ticket export. */
typedef struct ZdJsonTicketPage
{
	struct json_object *tickets;	/* array */
	struct json_object *users;	/* sideloaded users, array or NULL */
	const char *after_cursor;
	bool		end_of_stream;
} ZdJsonTicketPage;

/* One page of the time-based incremental ticket-event export. */
typedef struct ZdJsonEventPage
{
	struct json_object *events; /* array */
	bool		has_end_time;
	int64_t		end_time;
	bool		end_of_stream;
} ZdJsonEventPage;

/* An entry of /api/v2/deleted_tickets. */
typedef struct ZdJsonDeletedTicket
{
	int64_t		id;
	const char *deleted_at;
	const char *previous_state;
	bool		has_actor_id;
	int64_t		actor_id;
	const char *actor_name;
} ZdJsonDeletedTicket;

/* A cursor-paginated list (meta.has_more, meta.after_cursor). */
typedef struct ZdJsonListPage
{
	struct json_object *items;	/* array */
	bool		has_more;
	const char *after_cursor;
} ZdJsonListPage;

/* What a webhook event asks of the store. */
typedef enum ZdWebhookKind
{
	ZD_WEBHOOK_NOT_AN_EVENT,	/* JSON, but not a Zendesk event (see error) */
	ZD_WEBHOOK_IGNORED,			/* a valid event that is not synced */
	ZD_WEBHOOK_TICKET_STATE,	/* created, field changes: apply detail */
	ZD_WEBHOOK_COMMENT,			/* comment_added: detail and the comment */
	ZD_WEBHOOK_SOFT_DELETED,
	ZD_WEBHOOK_PERMANENTLY_DELETED,
	ZD_WEBHOOK_UNDELETED,
	ZD_WEBHOOK_MERGED,
	ZD_WEBHOOK_SPAM
} ZdWebhookKind;

/* A Zendesk event-subscription webhook (zen:event-type:ticket.*). */
typedef struct ZdJsonWebhook
{
	ZdWebhookKind kind;
	const char *error;			/* for NOT_AN_EVENT: what is wrong */
	const char *event_id;		/* top-level "id": dedupe on it */
	const char *type;			/* "zen:event-type:ticket.created" */
	const char *time;			/* RFC 3339 with nanoseconds */
	bool		has_ticket;
	ZdJsonTicket ticket;		/* "detail": ids as strings, enums upper case */
	bool		has_actor_id;
	int64_t		actor_id;
	bool		has_comment;
	ZdJsonComment comment;		/* comment_added: event.comment */
	bool		has_target;
	int64_t		target_ticket_id;	/* merged: event.target_ticket_id */
} ZdJsonWebhook;

/* A ticket to create in Zendesk (zd_request_json.c); NULL/0: left out. */
typedef struct ZdPushTicket
{
	const char *subject;
	const char *body;			/* the first comment */
	bool		is_public;
	int64_t		author_id;
	const char *requester_email;
	const char *requester_name;
	int64_t		requester_id;	/* instead of the e-mail (follow-ups) */
	const char *external_id;
	const char *status;
	const char *priority;
	const char *type;
	const char *tags_json;		/* a JSON array of strings */
	int64_t		followup_source_id;
	const char *marker_key;		/* audit metadata: marker_key = marker_value */
	int64_t		marker_value;
} ZdPushTicket;

extern struct json_object *zdjson_parse(const char *text, size_t len,
										const char **error);
extern void zdjson_free(struct json_object *root);

extern bool zdjson_user(struct json_object *obj, ZdJsonUser *user);
extern bool zdjson_user_response(struct json_object *root, ZdJsonUser *user);

extern bool zdjson_ticket(struct json_object *obj, ZdJsonTicket *ticket);
extern bool zdjson_comment(struct json_object *obj, ZdJsonComment *comment);
extern bool zdjson_ticket_page(struct json_object *root, ZdJsonTicketPage *page);
extern bool zdjson_event_page(struct json_object *root, ZdJsonEventPage *page);
extern int	zdjson_event_comments(struct json_object *event, ZdJsonComment *out,
								  int max);
extern bool zdjson_list_page(struct json_object *root, const char *key,
							 ZdJsonListPage *page);
extern bool zdjson_deleted_ticket(struct json_object *obj, ZdJsonDeletedTicket *del);
extern bool zdjson_audit_comment(struct json_object *root, ZdJsonComment *comment);
extern bool zdjson_comment_of_audit(struct json_object *audit, ZdJsonComment *comment);
extern void zdjson_webhook(struct json_object *root, ZdJsonWebhook *event);
extern bool zdjson_parse_time(const char *text, int64_t *epoch_us);

extern void zdjson_error_summary(const char *body, size_t len,
								 char *out, size_t outlen);

/* zd_request_json.c: push request bodies (malloc'd) and their answers */
extern char *zdjson_build_ticket_create(const ZdPushTicket *ticket);
extern char *zdjson_build_ticket_update(const char *body, bool is_public,
										int64_t author_id, const char *status,
										const char *marker_key, int64_t marker_value);
extern char *zdjson_build_end_user(const char *email, const char *name);
extern bool zdjson_found_user_id(struct json_object *root, int64_t *id);
extern bool zdjson_marked_audit_comment(struct json_object *root, const char *key,
										int64_t value, ZdJsonComment *comment);
extern bool zdjson_first_ticket(struct json_object *root, ZdJsonTicket *ticket);

/* helpers shared by the mapping code */
extern struct json_object *zdjson_get(struct json_object *obj, const char *key);
extern const char *zdjson_string(struct json_object *obj, const char *key);
extern bool zdjson_int64(struct json_object *obj, const char *key, int64_t *out);
extern bool zdjson_bool(struct json_object *obj, const char *key, bool dflt);
extern size_t zdjson_length(struct json_object *array);
extern struct json_object *zdjson_at(struct json_object *array, size_t i);
extern const char *zdjson_string_at(struct json_object *array, size_t i);
extern const char *zdjson_text(struct json_object *obj);
extern struct json_object *zdjson_path(struct json_object *obj, const char *key1,
									   const char *key2, const char *key3);

#endif							/* ZD_JSON_H */
