/*-------------------------------------------------------------------------
 *
 * fuzz_webhook.c
 *		libFuzzer target over the Zendesk JSON mapping code (src/zd_json.c):
 *		the raw input goes to zdjson_error_summary and zdjson_parse_time,
 *		and, when it parses, to zdjson_webhook and every other mapping entry
 *		point (ticket pages, ticket-event pages and their comments, cursor
 *		lists, deleted tickets, users, audits).  Every string a mapping
 *		returns is read to its end (strlen) and every time string found is
 *		given to zdjson_parse_time, so that AddressSanitizer sees any bad
 *		pointer.  Build and run with test/fuzz/run.sh.
 *
 * test/fuzz/fuzz_webhook.c
 *
 *-------------------------------------------------------------------------
 */
#include "zd_json.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

int			LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static volatile size_t sink;

/* read a returned string to its end */
static void
touch(const char *s)
{
	if (s != NULL)
		sink += strlen(s);
}

static void
parse_time(const char *s)
{
	int64_t		us;

	if (s == NULL)
		return;
	if (zdjson_parse_time(s, &us))
		sink += (size_t) us;
}

static void
touch_tags(struct json_object *tags)
{
	size_t		i;

	for (i = 0; i < zdjson_length(tags); i++)
		touch(zdjson_string_at(tags, i));
}

static void
touch_ticket(const ZdJsonTicket *t)
{
	touch(t->external_id);
	touch(t->subject);
	touch(t->description);
	touch(t->status);
	touch(t->priority);
	touch(t->type);
	touch(t->created_at);
	touch(t->updated_at);
	touch(t->via_channel);
	touch_tags(t->tags);
	parse_time(t->created_at);
	parse_time(t->updated_at);
	if (t->object != NULL)
		touch(zdjson_text(t->object));
}

static void
touch_comment(const ZdJsonComment *c)
{
	touch(c->author_name);
	touch(c->body);
	touch(c->html_body);
	touch(c->created_at);
	parse_time(c->created_at);
	if (c->object != NULL && !json_object_is_type(c->object, json_type_object))
		abort();				/* a mapped comment is always an object */
}

static void
touch_user(const ZdJsonUser *u)
{
	touch(u->name);
	touch(u->email);
	touch(u->role);
}

static void
fuzz_webhook(struct json_object *root)
{
	ZdJsonWebhook ev;

	zdjson_webhook(root, &ev);
	touch(ev.error);
	touch(ev.event_id);
	touch(ev.type);
	touch(ev.time);
	parse_time(ev.time);
	if (ev.kind == ZD_WEBHOOK_NOT_AN_EVENT && ev.error == NULL)
		abort();				/* NOT_AN_EVENT always says why */
	if (ev.kind != ZD_WEBHOOK_NOT_AN_EVENT && ev.error != NULL)
		abort();
	if (ev.has_ticket)
		touch_ticket(&ev.ticket);
	if (ev.has_comment)
	{
		if (ev.kind != ZD_WEBHOOK_COMMENT || ev.comment.ticket_id != ev.ticket.id)
			abort();
		touch_comment(&ev.comment);
	}
}

static void
fuzz_ticket_page(struct json_object *root)
{
	ZdJsonTicketPage page;
	size_t		i;

	if (!zdjson_ticket_page(root, &page))
		return;
	touch(page.after_cursor);
	for (i = 0; i < zdjson_length(page.tickets); i++)
	{
		ZdJsonTicket t;

		if (zdjson_ticket(zdjson_at(page.tickets, i), &t))
			touch_ticket(&t);
	}
	for (i = 0; i < zdjson_length(page.users); i++)
	{
		ZdJsonUser u;

		if (zdjson_user(zdjson_at(page.users, i), &u))
			touch_user(&u);
	}
}

static void
fuzz_event_page(struct json_object *root)
{
	ZdJsonEventPage page;
	size_t		i;

	if (!zdjson_event_page(root, &page))
		return;
	for (i = 0; i < zdjson_length(page.events); i++)
	{
		struct json_object *event = zdjson_at(page.events, i);
		ZdJsonComment *few = malloc(sizeof(ZdJsonComment) * 2);	/* exact */
		ZdJsonComment *all;
		int			n;
		int			again;
		int			k;

		if (few == NULL)
			abort();
		n = zdjson_event_comments(event, few, 2);
		if (n < 0)
			abort();
		for (k = 0; k < n && k < 2; k++)
			touch_comment(&few[k]);
		free(few);
		if (n > 2)
		{
			/* the caller's retry with room for all (pull.c) */
			all = malloc(sizeof(ZdJsonComment) * (size_t) n);
			if (all == NULL)
				abort();
			again = zdjson_event_comments(event, all, n);
			if (again != n)
				abort();
			for (k = 0; k < n; k++)
				touch_comment(&all[k]);
			free(all);
		}
		if (zdjson_event_comments(event, NULL, 0) != n)
			abort();
		touch(zdjson_string(event, "created_at"));
	}
}

static void
fuzz_list_pages(struct json_object *root)
{
	static const char *const keys[] = {"deleted_tickets", "comments", "users", "tickets"};
	size_t		k;

	for (k = 0; k < sizeof(keys) / sizeof(keys[0]); k++)
	{
		ZdJsonListPage page;
		size_t		i;

		if (!zdjson_list_page(root, keys[k], &page))
			continue;
		touch(page.after_cursor);
		for (i = 0; i < zdjson_length(page.items); i++)
		{
			struct json_object *item = zdjson_at(page.items, i);
			ZdJsonDeletedTicket d;
			ZdJsonComment c;
			ZdJsonUser u;
			ZdJsonTicket t;

			switch (k)
			{
				case 0:
					if (zdjson_deleted_ticket(item, &d))
					{
						touch(d.deleted_at);
						touch(d.previous_state);
						touch(d.actor_name);
						parse_time(d.deleted_at);
					}
					break;
				case 1:
					if (zdjson_comment(item, &c))
						touch_comment(&c);
					break;
				case 2:
					if (zdjson_user(item, &u))
						touch_user(&u);
					break;
				default:
					if (zdjson_ticket(item, &t))
						touch_ticket(&t);
					break;
			}
		}
	}
}

static void
fuzz_singles(struct json_object *root)
{
	ZdJsonUser u;
	ZdJsonComment c;
	ZdJsonTicket t;
	ZdJsonDeletedTicket d;

	if (zdjson_user_response(root, &u))
		touch_user(&u);
	if (zdjson_audit_comment(root, &c))
		touch_comment(&c);
	if (zdjson_ticket(zdjson_get(root, "ticket"), &t))
		touch_ticket(&t);
	if (zdjson_ticket(root, &t))
		touch_ticket(&t);
	if (zdjson_comment(root, &c))
		touch_comment(&c);
	if (zdjson_deleted_ticket(root, &d))
	{
		touch(d.deleted_at);
		touch(d.actor_name);
	}
	if (zdjson_event_comments(root, NULL, 0) < 0)
		abort();
	touch(zdjson_text(root));
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *text = (const char *) data;
	const char *error = NULL;
	struct json_object *root;
	char		small[9];
	char	   *line;

	/* error bodies: the raw bytes, into a 512-byte and a small buffer */
	line = malloc(512);
	if (line == NULL)
		abort();
	zdjson_error_summary(text, size, line, 512);
	if (strlen(line) >= 512)
		abort();
	zdjson_error_summary(text, size, small, sizeof(small));
	touch(small);
	free(line);

	/* the raw bytes as a time string (a signature timestamp header) */
	if (size < 64)
	{
		char	   *s = malloc(size + 1);

		if (s == NULL)
			abort();
		memcpy(s, data, size);
		s[size] = '\0';
		parse_time(s);
		free(s);
	}

	root = zdjson_parse(text, size, &error);
	if (root == NULL)
	{
		touch(error);
		fuzz_webhook(NULL);
		return 0;
	}
	if (error != NULL)
		abort();				/* a tree and an error: contract broken */
	fuzz_webhook(root);
	fuzz_ticket_page(root);
	fuzz_event_page(root);
	fuzz_list_pages(root);
	fuzz_singles(root);
	zdjson_free(root);
	return 0;
}
