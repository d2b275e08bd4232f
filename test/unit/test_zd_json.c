/*-------------------------------------------------------------------------
 *
 * test_zd_json.c
 *		Unit tests of src/zd_json.c: parsing, the mapping of webhooks, REST
 *		responses and exports onto structs, RFC 3339 times and error bodies.
 *		Built with ASan/UBSan by test/unit/run.sh; every input is copied to
 *		a heap buffer of exactly its size so that over-reads are caught, and
 *		every json-c tree is freed (LeakSanitizer checks each case).
 *
 * test/unit/test_zd_json.c
 *
 *-------------------------------------------------------------------------
 */
#include "harness.h"
#include "zd_json.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#define countof(a) (sizeof(a) / sizeof((a)[0]))

/* ------------------------------------------------------------------------
 * helpers
 * ------------------------------------------------------------------------
 */

/* parse len bytes from an exact-size copy; the copy is freed at once */
static struct json_object *
parse_len(const char *text, size_t len, const char **error)
{
	char	   *buf = zt_exact(text, len);
	struct json_object *root = zdjson_parse(buf, len, error);

	free(buf);					/* the tree must not point into the input */
	return root;
}

/* parse a document that must be valid */
static struct json_object *
parse_ok(const char *text)
{
	const char *error = NULL;
	struct json_object *root = parse_len(text, strlen(text), &error);

	if (root == NULL)
		zt_fail(__FILE__, __LINE__, "could not parse %.60s...: %s", text,
				error ? error : "(no error)");
	return root;
}

/* parse a fixture file */
static struct json_object *
parse_fixture(const char *name)
{
	size_t		len;
	char	   *buf = zt_fixture(name, &len);
	const char *error = NULL;
	struct json_object *root;

	if (buf == NULL)
		return NULL;
	root = zdjson_parse(buf, len, &error);
	free(buf);
	if (root == NULL)
		zt_fail(__FILE__, __LINE__, "could not parse fixture %s: %s", name,
				error ? error : "(no error)");
	return root;
}

static const char *
kind_name(ZdWebhookKind kind)
{
	switch (kind)
	{
		case ZD_WEBHOOK_NOT_AN_EVENT:
			return "NOT_AN_EVENT";
		case ZD_WEBHOOK_IGNORED:
			return "IGNORED";
		case ZD_WEBHOOK_TICKET_STATE:
			return "TICKET_STATE";
		case ZD_WEBHOOK_COMMENT:
			return "COMMENT";
		case ZD_WEBHOOK_SOFT_DELETED:
			return "SOFT_DELETED";
		case ZD_WEBHOOK_PERMANENTLY_DELETED:
			return "PERMANENTLY_DELETED";
		case ZD_WEBHOOK_UNDELETED:
			return "UNDELETED";
		case ZD_WEBHOOK_MERGED:
			return "MERGED";
		case ZD_WEBHOOK_SPAM:
			return "SPAM";
	}
	return "?";
}

#define CHECK_KIND(got, want) CHECK_STR(kind_name(got), kind_name(want))

/* a ticket's tags as "a,b,c" (NULL when there is no array) */
static const char *
tags_joined(struct json_object *tags, char *buf, size_t buflen)
{
	size_t		i;

	if (tags == NULL)
		return NULL;
	buf[0] = '\0';
	for (i = 0; i < zdjson_length(tags); i++)
	{
		const char *t = zdjson_string_at(tags, i);

		if (i > 0)
			strncat(buf, ",", buflen - strlen(buf) - 1);
		strncat(buf, t ? t : "(null)", buflen - strlen(buf) - 1);
	}
	return buf;
}

/* ------------------------------------------------------------------------
 * zdjson_parse
 * ------------------------------------------------------------------------
 */

typedef struct ParseCase
{
	const char *desc;
	const char *text;
	size_t		len;			/* 0: strlen(text) unless empty_input */
	bool		empty_input;
	bool		want_root;
	json_type	want_type;
	bool		want_error;
	const char *want_error_text;	/* NULL: any */
} ParseCase;

static const ParseCase parse_cases[] = {
	{"object", "{\"a\":1,\"b\":[true,null,\"x\"]}", 0, false, true, json_type_object, false, NULL},
	{"array", "[1,2,3]", 0, false, true, json_type_array, false, NULL},
	{"string", "\"abc\"", 0, false, true, json_type_string, false, NULL},
	{"true", "true", 0, false, true, json_type_boolean, false, NULL},
	{"whitespace around the value", " \t\r\n{\"a\":1} \t\r\n", 0, false, true, json_type_object, false, NULL},
	{"bare number 123", "123", 0, false, true, json_type_int, false, NULL},
	{"bare negative number -12", "-12", 0, false, true, json_type_int, false, NULL},
	{"bare number 1.5", "1.5", 0, false, true, json_type_double, false, NULL},
	{"bare number with trailing space", "123 ", 0, false, true, json_type_int, false, NULL},
	{"null gives NULL without an error", "null", 0, false, false, json_type_null, false, NULL},
	{"null with whitespace gives NULL without an error", " null\n", 0, false, false, json_type_null, false, NULL},
	{"trailing garbage after an object", "{\"a\":1} x", 0, false, false, json_type_null, true,
	"trailing characters after the JSON value"},
	{"two values", "{} {}", 0, false, false, json_type_null, true,
	"trailing characters after the JSON value"},
	{"trailing garbage after a number", "12a", 0, false, false, json_type_null, true,
	"trailing characters after the JSON value"},
	{"trailing garbage after null", "null x", 0, false, false, json_type_null, true, NULL},
	{"truncated object", "{\"a\":", 0, false, false, json_type_null, true, NULL},
	{"truncated string", "{\"a\":\"abc", 0, false, false, json_type_null, true, NULL},
	{"truncated literal", "tru", 0, false, false, json_type_null, true, NULL},
	{"lone minus", "-", 0, false, false, json_type_null, true, NULL},
	{"unbalanced close", "]", 0, false, false, json_type_null, true, NULL},
	{"empty input", "", 0, true, false, json_type_null, true, NULL},
	{"whitespace only", "   \n", 0, false, false, json_type_null, true, NULL},
	{"embedded NUL inside a string", "{\"a\":\"x\0y\"}", 11, false, false, json_type_null, true, NULL},
	{"embedded NUL after the value", "{\"a\":1}\0xx", 10, false, false, json_type_null, true,
	"trailing characters after the JSON value"},
	{"embedded NUL before the value", "\0{}", 3, false, false, json_type_null, true, NULL},
	{"only a NUL byte", "\0", 1, false, false, json_type_null, true, NULL},
	{"length bound respected ({} of {}garbage)", "{}garbage", 2, false, true, json_type_object, false, NULL},
};

static void
test_parse_case(const void *arg)
{
	const ParseCase *c = arg;
	size_t		len = c->empty_input ? 0 : (c->len ? c->len : strlen(c->text));
	const char *error = (const char *) 1;	/* must be overwritten */
	struct json_object *root = parse_len(c->text, len, &error);

	if (c->want_root)
	{
		CHECK(root != NULL);
		if (root != NULL)
			CHECK_STR(json_type_to_name(json_object_get_type(root)), json_type_to_name(c->want_type));
	}
	else
		CHECK(root == NULL);
	if (c->want_error)
	{
		CHECK(error != NULL && error != (const char *) 1);
		if (c->want_error_text != NULL && error != (const char *) 1)
			CHECK_STR(error, c->want_error_text);
	}
	else
		CHECK(error == NULL);
	zdjson_free(root);
}

static void
test_parse_values(const void *arg)
{
	const char *error;
	struct json_object *root;

	(void) arg;
	root = parse_len("123", 3, &error);
	REQUIRE(root != NULL);
	CHECK_I64(json_object_get_int64(root), 123);
	zdjson_free(root);

	root = parse_ok("{\"s\":\"h\\u00e9\\n\",\"n\":-5}");
	REQUIRE(root != NULL);
	CHECK_STR(zdjson_string(root, "s"), "h\xc3\xa9\n");
	CHECK_STR(zdjson_text(root), "{\"s\":\"h\xc3\xa9\\n\",\"n\":-5}");
	zdjson_free(root);

	zdjson_free(NULL);			/* allowed */
}

static void
test_parse_too_large(const void *arg)
{
	char	   *one = zt_exact("{", 1);
	const char *error = NULL;

	(void) arg;
	/* refused before anything is read (json-c takes an int length) */
	CHECK(zdjson_parse(one, (size_t) INT32_MAX + 1, &error) == NULL);
	CHECK_STR(error, "document too large");
	free(one);
}

static void
test_parse_deep(const void *arg)
{
	size_t		depth = (size_t) (uintptr_t) arg;
	char	   *text = malloc(2 * depth);
	const char *error = NULL;
	struct json_object *root;

	REQUIRE(text != NULL);
	memset(text, '[', depth);
	memset(text + depth, ']', depth);
	root = parse_len(text, 2 * depth, &error);
	free(text);
	if (depth <= 32)
	{
		/* json-c's default depth limit is 32 */
		CHECK(root != NULL);
		CHECK(error == NULL);
	}
	else
	{
		CHECK(root == NULL);
		CHECK_STR(error, "nesting too deep");
	}
	zdjson_free(root);
}

static void
test_parse_deep_objects(const void *arg)
{
	const size_t depth = 5000;
	char	   *text = malloc(6 * depth + 2 + depth);
	size_t		n = 0;
	size_t		i;
	const char *error = NULL;
	struct json_object *root;

	(void) arg;
	REQUIRE(text != NULL);
	for (i = 0; i < depth; i++)
	{
		memcpy(text + n, "{\"a\": ", 6);
		n += 6;
	}
	text[n++] = '1';
	for (i = 0; i < depth; i++)
		text[n++] = '}';
	root = parse_len(text, n, &error);
	free(text);
	CHECK(root == NULL);
	CHECK_STR(error, "nesting too deep");
	zdjson_free(root);
}

static void
test_parse_non_utf8(const void *arg)
{
	static const char text[] = "{\"a\":\"\xff\xfe\x80 \xc3\x28 \xed\xa0\x80\",\"\xc3\x28\":1}";
	const char *error = NULL;
	struct json_object *root = parse_len(text, sizeof(text) - 1, &error);

	(void) arg;
	/* text that is not UTF-8 must never reach a text column: refused */
	CHECK(root == NULL);
	CHECK(error != NULL);
	zdjson_free(root);
	/* while UTF-8 of 2, 3 and 4 bytes passes unchanged */
	root = parse_ok("{\"a\":\"\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80\"}");
	REQUIRE(root != NULL);
	CHECK_STR(zdjson_string(root, "a"), "\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80");
	zdjson_free(root);
}

static void
test_parse_escapes(const void *arg)
{
	struct json_object *root;

	(void) arg;
	/* lone surrogates become U+FFFD; a pair becomes one 4-byte sequence */
	root = parse_ok("{\"a\":\"\\ud800\",\"b\":\"\\ud83d\\ude00\",\"c\":\"x\\u0000y\"}");
	REQUIRE(root != NULL);
	CHECK_STR(zdjson_string(root, "a"), "\xef\xbf\xbd");
	CHECK_STR(zdjson_string(root, "b"), "\xf0\x9f\x98\x80");
	/* an escaped NUL ends the C string; the JSON string is 3 bytes long */
	CHECK_STR(zdjson_string(root, "c"), "x");
	CHECK_I64(json_object_get_string_len(zdjson_get(root, "c")), 3);
	zdjson_free(root);
}

/* every proper prefix of a document is an error, never a crash */
static void
test_parse_prefixes(const void *arg)
{
	const char *name = arg;
	size_t		len;
	char	   *doc = zt_fixture(name, &len);
	size_t		end;
	size_t		cut;
	int			bad = 0;

	REQUIRE(doc != NULL);
	end = len;
	while (end > 0 && doc[end - 1] != '}')
		end--;
	REQUIRE(end > 0);
	for (cut = 0; cut < end; cut++)
	{
		const char *error = NULL;
		struct json_object *root = parse_len(doc, cut, &error);

		if (root != NULL || error == NULL)
		{
			if (bad++ < 5)
				zt_fail(__FILE__, __LINE__, "prefix of %zu bytes was not an error", cut);
			zdjson_free(root);
		}
	}
	{
		const char *error = NULL;
		struct json_object *root = parse_len(doc, end, &error);

		CHECK(root != NULL);
		zdjson_free(root);
	}
	free(doc);
}

static const char *const all_fixtures[] = {
	"create_ticket_request.json",
	"create_ticket_response_201.json",
	"deleted_tickets_page.json",
	"error_400_idempotency_key_mismatch.json",
	"error_401_bad_credentials.json",
	"error_401_oauth_invalid_token.json",
	"error_422_closed_ticket.json",
	"error_too_many_jobs.json",
	"incremental_ticket_events_comment_events_page.json",
	"incremental_tickets_cursor_last_page.json",
	"incremental_tickets_cursor_page.json",
	"incremental_tickets_time_page.json",
	"job_status_create_many_completed.json",
	"ticket_comments_page_cursor.json",
	"update_ticket_add_comment_request.json",
	"update_ticket_add_comment_response_200.json",
	"user_create_or_update_request.json",
	"user_show_response.json",
	"users_search_by_email_response.json",
	"webhook_ticket_comment_added.json",
	"webhook_ticket_created.json",
	"webhook_ticket_permanently_deleted.json",
	"webhook_ticket_soft_deleted.json",
	"webhook_ticket_status_changed.json",
};

static void
test_parse_fixture(const void *arg)
{
	struct json_object *root = parse_fixture(arg);

	CHECK(root != NULL);
	if (root != NULL)
		CHECK(json_object_is_type(root, json_type_object));
	zdjson_free(root);
}

/* ------------------------------------------------------------------------
 * helpers: zdjson_get/string/int64/bool/length/at/path
 * ------------------------------------------------------------------------
 */

static void
test_helpers(const void *arg)
{
	struct json_object *root;
	int64_t		v;

	(void) arg;
	root = parse_ok("{\"n\":42,\"s\":\"5158\",\"neg\":\"-7\",\"e\":\"\",\"z\":null,\"d\":1.5,"
					"\"b\":false,\"x\":\"12x\",\"big\":\"99999999999999999999\","
					"\"bignum\":99999999999999999999,\"smallnum\":-99999999999999999999,"
					"\"sp\":\" 12\",\"plus\":\"+12\",\"minus\":\"-\",\"max\":9223372036854775806,"
					"\"a\":[\"p\",1,\"q\"],\"o\":{\"p\":{\"q\":{\"r\":1}}}}");
	REQUIRE(root != NULL);

	CHECK(zdjson_get(root, "missing") == NULL);
	CHECK(zdjson_get(root, "z") == NULL);	/* null is absent */
	CHECK(zdjson_get(NULL, "n") == NULL);
	CHECK(zdjson_get(zdjson_get(root, "a"), "n") == NULL);	/* not an object */

	CHECK_STR(zdjson_string(root, "s"), "5158");
	CHECK_STR(zdjson_string(root, "n"), NULL);	/* not a string */
	CHECK_STR(zdjson_string(root, "z"), NULL);
	CHECK_STR(zdjson_string(root, "e"), "");

	v = -1;
	CHECK(zdjson_int64(root, "n", &v) && v == 42);
	CHECK(zdjson_int64(root, "s", &v) && v == 5158);
	CHECK(zdjson_int64(root, "neg", &v) && v == -7);
	v = 99;
	CHECK(!zdjson_int64(root, "e", &v));	/* "" */
	CHECK(!zdjson_int64(root, "z", &v));	/* null */
	CHECK(!zdjson_int64(root, "d", &v));	/* 1.5 */
	CHECK(!zdjson_int64(root, "b", &v));	/* false */
	CHECK(!zdjson_int64(root, "x", &v));	/* "12x" */
	CHECK(!zdjson_int64(root, "big", &v));	/* out of range as a string */
	CHECK(!zdjson_int64(root, "bignum", &v));	/* out of range as a number */
	CHECK(!zdjson_int64(root, "smallnum", &v));
	CHECK(!zdjson_int64(root, "sp", &v));	/* " 12" */
	CHECK(!zdjson_int64(root, "plus", &v));	/* "+12" */
	CHECK(!zdjson_int64(root, "minus", &v));	/* "-" */
	CHECK(!zdjson_int64(root, "missing", &v));
	CHECK(!zdjson_int64(NULL, "n", &v));
	CHECK_I64(v, 99);			/* untouched by failures */
	CHECK(zdjson_int64(root, "max", &v) && v == INT64_C(9223372036854775806));

	CHECK(zdjson_bool(root, "b", true) == false);
	CHECK(zdjson_bool(root, "missing", true) == true);
	CHECK(zdjson_bool(root, "n", false) == false);	/* not a boolean: default */

	CHECK_I64(zdjson_length(zdjson_get(root, "a")), 3);
	CHECK_I64(zdjson_length(zdjson_get(root, "o")), 0);
	CHECK_I64(zdjson_length(NULL), 0);
	CHECK_STR(zdjson_string_at(zdjson_get(root, "a"), 0), "p");
	CHECK_STR(zdjson_string_at(zdjson_get(root, "a"), 1), NULL);
	CHECK_STR(zdjson_string_at(zdjson_get(root, "a"), 3), NULL);
	CHECK(zdjson_at(zdjson_get(root, "a"), 3) == NULL);
	CHECK(zdjson_at(NULL, 0) == NULL);

	CHECK(zdjson_path(root, "o", "p", "q") != NULL);
	CHECK(zdjson_int64(zdjson_path(root, "o", "p", "q"), "r", &v) && v == 1);
	CHECK(zdjson_path(root, "o", NULL, NULL) == zdjson_get(root, "o"));
	CHECK(zdjson_path(root, "o", "x", "q") == NULL);
	CHECK(zdjson_path(NULL, "o", "p", "q") == NULL);
	CHECK_STR(zdjson_text(zdjson_get(root, "a")), "[\"p\",1,\"q\"]");
	zdjson_free(root);
}

/* ------------------------------------------------------------------------
 * webhooks: the fixtures
 * ------------------------------------------------------------------------
 */

static void
check_fixture_detail(const ZdJsonWebhook *ev)
{
	CHECK(ev->has_ticket);
	CHECK_I64(ev->ticket.id, 5158);
	CHECK(ev->ticket.object != NULL);
	CHECK(!ev->ticket.has_generated_timestamp);
	CHECK_STR(ev->ticket.created_at, "2025-01-08T10:12:07Z");
	CHECK(!ev->ticket.has_followup_source);
}

static void
test_webhook_created(const void *arg)
{
	struct json_object *root = parse_fixture("webhook_ticket_created.json");
	ZdJsonWebhook ev;
	char		buf[256];
	int64_t		us;

	(void) arg;
	REQUIRE(root != NULL);
	zdjson_webhook(root, &ev);
	CHECK_KIND(ev.kind, ZD_WEBHOOK_TICKET_STATE);
	CHECK_STR(ev.error, NULL);
	CHECK_STR(ev.event_id, "cbe4028c-7239-495d-b020-f22348516046");
	CHECK_STR(ev.type, "zen:event-type:ticket.created");
	CHECK_STR(ev.time, "2025-01-08T10:12:07.672717030Z");
	check_fixture_detail(&ev);
	CHECK_STR(ev.ticket.status, "NEW");
	CHECK_STR(ev.ticket.priority, "NORMAL");
	CHECK_STR(ev.ticket.type, "QUESTION");
	CHECK_STR(ev.ticket.subject, "Damaged order #1042");
	CHECK_STR(ev.ticket.description, "My order #1042 arrived damaged. Can I get a replacement?");
	CHECK_STR(ev.ticket.external_id, "pgzd-local-42");
	CHECK_STR(ev.ticket.updated_at, "2025-01-08T10:12:07Z");
	CHECK_STR(ev.ticket.via_channel, "web_service");
	CHECK(ev.ticket.has_requester_id);
	CHECK_I64(ev.ticket.requester_id, 8447388090494LL);
	CHECK_STR(tags_joined(ev.ticket.tags, buf, sizeof(buf)), "order,damaged");
	CHECK(ev.has_actor_id);
	CHECK_I64(ev.actor_id, 8447388090494LL);
	CHECK(!ev.has_comment);
	CHECK(!ev.has_target);
	CHECK(zdjson_parse_time(ev.time, &us));
	CHECK_I64(us, 1736331127672717LL);
	zdjson_free(root);
}

static void
test_webhook_comment_added(const void *arg)
{
	struct json_object *root = parse_fixture("webhook_ticket_comment_added.json");
	ZdJsonWebhook ev;
	int64_t		us;

	(void) arg;
	REQUIRE(root != NULL);
	zdjson_webhook(root, &ev);
	CHECK_KIND(ev.kind, ZD_WEBHOOK_COMMENT);
	CHECK_STR(ev.error, NULL);
	CHECK_STR(ev.event_id, "d8551ba3-4243-433c-8629-aa79dc3e7182");
	CHECK_STR(ev.type, "zen:event-type:ticket.comment_added");
	CHECK_STR(ev.time, "2025-01-08T11:40:02.304701605Z");
	check_fixture_detail(&ev);
	CHECK_STR(ev.ticket.status, "OPEN");
	CHECK_STR(ev.ticket.updated_at, "2025-01-08T11:40:02Z");
	CHECK_STR(ev.ticket.via_channel, "web");
	CHECK(ev.has_actor_id);
	CHECK_I64(ev.actor_id, 8447388090777LL);
	CHECK(ev.has_comment);
	CHECK_I64(ev.comment.id, 58789194475545LL);
	CHECK_I64(ev.comment.ticket_id, 5158);
	CHECK(ev.comment.has_author_id);
	CHECK_I64(ev.comment.author_id, 8447388090777LL);
	CHECK_STR(ev.comment.author_name, "Alex Agent");
	CHECK(!ev.comment.has_audit_id);
	CHECK_STR(ev.comment.body, "Sorry about that! A replacement ships today.");
	CHECK_STR(ev.comment.html_body,
			  "<div class=\"zd-comment\" dir=\"auto\"><p>Sorry about that! A replacement ships today.</p></div>");
	CHECK_STR(ev.comment.created_at, "2025-01-08T11:40:02.304701605Z");
	CHECK(ev.comment.is_public);
	CHECK(ev.comment.object != NULL);
	CHECK(zdjson_parse_time(ev.time, &us));
	CHECK_I64(us, 1736336402304701LL);
	zdjson_free(root);
}

static void
test_webhook_status_changed(const void *arg)
{
	struct json_object *root = parse_fixture("webhook_ticket_status_changed.json");
	ZdJsonWebhook ev;
	int64_t		us;

	(void) arg;
	REQUIRE(root != NULL);
	zdjson_webhook(root, &ev);
	CHECK_KIND(ev.kind, ZD_WEBHOOK_TICKET_STATE);
	CHECK_STR(ev.error, NULL);
	CHECK_STR(ev.event_id, "5f0f6d0c-2c5e-4d8a-9a0e-6b1f2c3d4e5f");
	CHECK_STR(ev.type, "zen:event-type:ticket.status_changed");
	check_fixture_detail(&ev);
	CHECK_STR(ev.ticket.status, "OPEN");
	CHECK_STR(ev.ticket.updated_at, "2025-01-08T11:40:02Z");
	CHECK_I64(ev.actor_id, 8447388090777LL);
	CHECK(!ev.has_comment);
	CHECK(zdjson_parse_time(ev.time, &us));
	CHECK_I64(us, 1736336402304950LL);
	zdjson_free(root);
}

static void
test_webhook_soft_deleted(const void *arg)
{
	struct json_object *root = parse_fixture("webhook_ticket_soft_deleted.json");
	ZdJsonWebhook ev;
	int64_t		us;

	(void) arg;
	REQUIRE(root != NULL);
	zdjson_webhook(root, &ev);
	CHECK_KIND(ev.kind, ZD_WEBHOOK_SOFT_DELETED);
	CHECK_STR(ev.error, NULL);
	CHECK_STR(ev.event_id, "0b1e7f3a-6a7e-4f55-9f0d-1e2a3b4c5d6e");
	check_fixture_detail(&ev);
	CHECK_STR(ev.ticket.status, "DELETED");
	CHECK(ev.has_actor_id);
	CHECK_I64(ev.actor_id, 8447388090111LL);
	CHECK(zdjson_parse_time(ev.time, &us));
	CHECK_I64(us, 1736409614906323LL);
	zdjson_free(root);
}

static void
test_webhook_permanently_deleted(const void *arg)
{
	struct json_object *root = parse_fixture("webhook_ticket_permanently_deleted.json");
	ZdJsonWebhook ev;
	char		buf[64];
	int64_t		us;

	(void) arg;
	REQUIRE(root != NULL);
	zdjson_webhook(root, &ev);
	CHECK_KIND(ev.kind, ZD_WEBHOOK_PERMANENTLY_DELETED);
	CHECK_STR(ev.error, NULL);
	CHECK_STR(ev.event_id, "7c9e2d41-0f3b-4b8e-a1c2-3d4e5f607182");
	check_fixture_detail(&ev);
	CHECK_STR(ev.ticket.status, "DELETED");
	CHECK_STR(ev.ticket.subject, "");
	CHECK_STR(ev.ticket.description, "");
	CHECK_STR(ev.ticket.external_id, NULL);
	CHECK_STR(ev.ticket.priority, NULL);
	CHECK_STR(ev.ticket.type, NULL);
	CHECK(!ev.ticket.has_requester_id);
	CHECK_STR(tags_joined(ev.ticket.tags, buf, sizeof(buf)), "");
	CHECK_I64(ev.actor_id, 8447388090111LL);
	CHECK(zdjson_parse_time(ev.time, &us));
	CHECK_I64(us, 1736411441118273LL);
	zdjson_free(root);
}

/* ------------------------------------------------------------------------
 * webhooks: hand-made variants
 * ------------------------------------------------------------------------
 */

#define WH_DETAIL \
	"{\"id\":\"5158\",\"actor_id\":\"8447388090777\",\"requester_id\":\"8447388090494\"," \
	"\"status\":\"OPEN\",\"updated_at\":\"2025-01-08T11:40:02Z\",\"tags\":[\"a\",\"b\"]," \
	"\"via\":{\"channel\":\"web\"}}"

/* a ticket webhook body: type suffix, then the event object (or NULL) */
static char *
wh_body(const char *suffix, const char *event)
{
	char	   *buf = malloc(4096);

	if (buf == NULL)
		exit(2);
	snprintf(buf, 4096,
			 "{\"account_id\":22129848,\"id\":\"evt-1\",\"type\":\"zen:event-type:ticket.%s\","
			 "\"time\":\"2025-01-08T11:40:02.304701605Z\",\"subject\":\"zen:ticket:5158\","
			 "\"detail\":" WH_DETAIL "%s%s}",
			 suffix, event ? ",\"event\":" : "", event ? event : "");
	return buf;
}

static void
run_webhook(const char *body, ZdJsonWebhook *ev, struct json_object **root)
{
	*root = parse_ok(body);
	zdjson_webhook(*root, ev);
}

typedef struct KindCase
{
	const char *suffix;
	const char *event;
	ZdWebhookKind kind;
} KindCase;

static const KindCase kind_cases[] = {
	{"created", "{}", ZD_WEBHOOK_TICKET_STATE},
	{"status_changed", "{\"current\":\"OPEN\",\"previous\":\"NEW\"}", ZD_WEBHOOK_TICKET_STATE},
	{"custom_status_changed", "{}", ZD_WEBHOOK_TICKET_STATE},
	{"priority_changed", "{}", ZD_WEBHOOK_TICKET_STATE},
	{"type_changed", "{}", ZD_WEBHOOK_TICKET_STATE},
	{"subject_changed", "{}", ZD_WEBHOOK_TICKET_STATE},
	{"description_changed", "{}", ZD_WEBHOOK_TICKET_STATE},
	{"tags_changed", "{\"tags_added\":[\"x\"],\"tags_removed\":[]}", ZD_WEBHOOK_TICKET_STATE},
	{"external_id_changed", "{}", ZD_WEBHOOK_TICKET_STATE},
	{"requester_changed", "{}", ZD_WEBHOOK_TICKET_STATE},
	{"submitter_changed", "{}", ZD_WEBHOOK_TICKET_STATE},
	{"agent_assignment_changed", "{}", ZD_WEBHOOK_TICKET_STATE},
	{"group_assignment_changed", "{}", ZD_WEBHOOK_TICKET_STATE},
	{"organization_changed", "{}", ZD_WEBHOOK_TICKET_STATE},
	{"brand_changed", "{}", ZD_WEBHOOK_TICKET_STATE},
	{"form_changed", "{}", ZD_WEBHOOK_TICKET_STATE},
	{"custom_field_changed", "{}", ZD_WEBHOOK_TICKET_STATE},
	{"task_due_at_changed", "{}", ZD_WEBHOOK_TICKET_STATE},
	{"problem_link_changed", "{}", ZD_WEBHOOK_TICKET_STATE},
	{"email_ccs_changed", "{}", ZD_WEBHOOK_TICKET_STATE},
	{"followers_changed", "{}", ZD_WEBHOOK_TICKET_STATE},
	{"comment_added", "{\"comment\":{\"id\":\"99\",\"body\":\"hi\",\"is_public\":false}}", ZD_WEBHOOK_COMMENT},
	{"soft_deleted", "{}", ZD_WEBHOOK_SOFT_DELETED},
	{"permanently_deleted", NULL, ZD_WEBHOOK_PERMANENTLY_DELETED},
	{"undeleted", "{}", ZD_WEBHOOK_UNDELETED},
	{"marked_as_spam", "{}", ZD_WEBHOOK_SPAM},
	{"merged", "{\"target_ticket_id\":\"5200\"}", ZD_WEBHOOK_MERGED},
	{"csat_received", "{}", ZD_WEBHOOK_IGNORED},
	{"csat_requested", "{}", ZD_WEBHOOK_IGNORED},
	{"sla_policy_changed", "{}", ZD_WEBHOOK_IGNORED},
	{"comment_made_private", "{\"comment\":{\"id\":\"99\"}}", ZD_WEBHOOK_IGNORED},
	{"attachment_linked_to_comment", "{}", ZD_WEBHOOK_IGNORED},
	{"some_future_type", "{}", ZD_WEBHOOK_IGNORED},
	{"", "{}", ZD_WEBHOOK_IGNORED},
};

static void
test_webhook_kind(const void *arg)
{
	const KindCase *c = arg;
	char	   *body = wh_body(c->suffix, c->event);
	struct json_object *root;
	ZdJsonWebhook ev;
	char		buf[64];

	run_webhook(body, &ev, &root);
	free(body);
	REQUIRE(root != NULL);
	CHECK_KIND(ev.kind, c->kind);
	CHECK_STR(ev.error, NULL);
	CHECK_STR(ev.event_id, "evt-1");
	CHECK(ev.has_ticket);
	CHECK_I64(ev.ticket.id, 5158);
	CHECK_STR(ev.ticket.status, "OPEN");
	CHECK_STR(tags_joined(ev.ticket.tags, buf, sizeof(buf)), "a,b");
	CHECK(ev.has_actor_id);
	CHECK_I64(ev.actor_id, 8447388090777LL);
	CHECK(ev.has_comment == (c->kind == ZD_WEBHOOK_COMMENT));
	if (c->kind == ZD_WEBHOOK_COMMENT)
	{
		CHECK_I64(ev.comment.id, 99);
		CHECK_I64(ev.comment.ticket_id, 5158);
		CHECK_STR(ev.comment.body, "hi");
		CHECK(!ev.comment.is_public);
		CHECK(!ev.comment.has_author_id);
		CHECK_STR(ev.comment.author_name, NULL);
	}
	CHECK(ev.has_target == (c->kind == ZD_WEBHOOK_MERGED));
	if (c->kind == ZD_WEBHOOK_MERGED)
		CHECK_I64(ev.target_ticket_id, 5200);
	zdjson_free(root);
}

/* IGNORED for other domains: no "detail" needed */
static void
test_webhook_other_domain(const void *arg)
{
	const char *type = arg;
	char		body[512];
	struct json_object *root;
	ZdJsonWebhook ev;

	snprintf(body, sizeof(body),
			 "{\"account_id\":1,\"id\":\"01J0000000000000000000000\",\"type\":\"%s\","
			 "\"time\":\"2025-01-08T10:12:07Z\",\"detail\":{\"id\":\"\",\"email\":\"\"},\"event\":{}}",
			 type);
	run_webhook(body, &ev, &root);
	REQUIRE(root != NULL);
	CHECK_KIND(ev.kind, ZD_WEBHOOK_IGNORED);
	CHECK_STR(ev.error, NULL);
	CHECK_STR(ev.type, type);
	CHECK_STR(ev.event_id, "01J0000000000000000000000");
	CHECK(!ev.has_ticket);
	CHECK(!ev.has_comment);
	zdjson_free(root);
}

static void
test_webhook_merged_variants(const void *arg)
{
	static const struct
	{
		const char *event;
		bool		has_target;
		int64_t		target;
	}			v[] = {
		{"{\"target_ticket_id\":\"5200\"}", true, 5200},
		{"{\"target_ticket_id\":5201}", true, 5201},
		{"{\"target_ticket_id\":\"\"}", false, 0},
		{"{\"target_ticket_id\":null}", false, 0},
		{"{\"target_ticket_id\":\"abc\"}", false, 0},
		{"{}", false, 0},
		{"[]", false, 0},
		{NULL, false, 0},
	};
	size_t		i;

	(void) arg;
	for (i = 0; i < countof(v); i++)
	{
		char	   *body = wh_body("merged", v[i].event);
		struct json_object *root;
		ZdJsonWebhook ev;

		run_webhook(body, &ev, &root);
		free(body);
		if (root == NULL)
			continue;
		CHECK_KIND(ev.kind, ZD_WEBHOOK_MERGED);
		if (ev.has_target != v[i].has_target)
			zt_fail(__FILE__, __LINE__, "event %s: has_target %d", v[i].event ? v[i].event : "(none)",
					ev.has_target);
		if (v[i].has_target)
			CHECK_I64(ev.target_ticket_id, v[i].target);
		zdjson_free(root);
	}
}

typedef struct ErrCase
{
	const char *desc;
	const char *body;
	const char *error;
} ErrCase;

#define E_NOT_OBJECT "the body is not a JSON object"
#define E_NO_TYPE "the event has no \"type\""
#define E_NO_ID "the event has no \"id\""
#define E_NOT_ZEN "the event type is not a Zendesk event type (zen:event-type:...)"
#define E_NO_DETAIL "the ticket event has no \"detail\" object with the ticket's id"
#define E_NO_TIME "the ticket event has no \"time\""
#define T_OK "\"type\":\"zen:event-type:ticket.created\""

static const ErrCase err_cases[] = {
	{"array body", "[1,2]", E_NOT_OBJECT},
	{"string body", "\"zen:event-type:ticket.created\"", E_NOT_OBJECT},
	{"number body", "123", E_NOT_OBJECT},
	{"missing type", "{\"id\":\"e\",\"time\":\"2025-01-08T10:12:07Z\",\"detail\":{\"id\":\"1\"}}", E_NO_TYPE},
	{"empty type", "{\"id\":\"e\",\"type\":\"\",\"detail\":{\"id\":\"1\"}}", E_NO_TYPE},
	{"null type", "{\"id\":\"e\",\"type\":null}", E_NO_TYPE},
	{"numeric type", "{\"id\":\"e\",\"type\":7}", E_NO_TYPE},
	{"missing id", "{" T_OK ",\"time\":\"2025-01-08T10:12:07Z\",\"detail\":{\"id\":\"1\"}}", E_NO_ID},
	{"empty id", "{\"id\":\"\"," T_OK ",\"detail\":{\"id\":\"1\"}}", E_NO_ID},
	{"numeric event id", "{\"id\":123," T_OK ",\"detail\":{\"id\":\"1\"}}", E_NO_ID},
	{"type without the zen: prefix", "{\"id\":\"e\",\"type\":\"ticket.created\"}", E_NOT_ZEN},
	{"type zen:event-type (no colon)", "{\"id\":\"e\",\"type\":\"zen:event-type\"}", E_NOT_ZEN},
	{"missing detail", "{\"id\":\"e\"," T_OK ",\"time\":\"2025-01-08T10:12:07Z\"}", E_NO_DETAIL},
	{"null detail", "{\"id\":\"e\"," T_OK ",\"time\":\"2025-01-08T10:12:07Z\",\"detail\":null}", E_NO_DETAIL},
	{"array detail", "{\"id\":\"e\"," T_OK ",\"time\":\"2025-01-08T10:12:07Z\",\"detail\":[]}", E_NO_DETAIL},
	{"string detail", "{\"id\":\"e\"," T_OK ",\"time\":\"2025-01-08T10:12:07Z\",\"detail\":\"5158\"}", E_NO_DETAIL},
	{"detail without id", "{\"id\":\"e\"," T_OK ",\"time\":\"2025-01-08T10:12:07Z\",\"detail\":{\"status\":\"OPEN\"}}", E_NO_DETAIL},
	{"detail id \"\"", "{\"id\":\"e\"," T_OK ",\"time\":\"2025-01-08T10:12:07Z\",\"detail\":{\"id\":\"\"}}", E_NO_DETAIL},
	{"detail id null", "{\"id\":\"e\"," T_OK ",\"time\":\"2025-01-08T10:12:07Z\",\"detail\":{\"id\":null}}", E_NO_DETAIL},
	{"detail id not a number", "{\"id\":\"e\"," T_OK ",\"time\":\"2025-01-08T10:12:07Z\",\"detail\":{\"id\":\"5158a\"}}", E_NO_DETAIL},
	{"detail id 1.5", "{\"id\":\"e\"," T_OK ",\"time\":\"2025-01-08T10:12:07Z\",\"detail\":{\"id\":1.5}}", E_NO_DETAIL},
	{"no time and no updated_at", "{\"id\":\"e\"," T_OK ",\"detail\":{\"id\":\"1\"}}", E_NO_TIME},
	{"null time and null updated_at", "{\"id\":\"e\"," T_OK ",\"time\":null,\"detail\":{\"id\":\"1\",\"updated_at\":null}}", E_NO_TIME},
};

static void
test_webhook_error(const void *arg)
{
	const ErrCase *c = arg;
	struct json_object *root;
	ZdJsonWebhook ev;

	run_webhook(c->body, &ev, &root);
	REQUIRE(root != NULL);
	CHECK_KIND(ev.kind, ZD_WEBHOOK_NOT_AN_EVENT);
	CHECK_STR(ev.error, c->error);
	CHECK(!ev.has_ticket);
	CHECK(!ev.has_comment);
	zdjson_free(root);
}

static void
test_webhook_null_root(const void *arg)
{
	ZdJsonWebhook ev;
	const char *error;
	struct json_object *root;

	(void) arg;
	memset(&ev, 0x5a, sizeof(ev));
	zdjson_webhook(NULL, &ev);
	CHECK_KIND(ev.kind, ZD_WEBHOOK_NOT_AN_EVENT);
	CHECK_STR(ev.error, E_NOT_OBJECT);
	CHECK_STR(ev.event_id, NULL);
	CHECK(!ev.has_ticket);

	/* "null" parses to NULL, which is not an event either */
	root = parse_len("null", 4, &error);
	CHECK(root == NULL);
	zdjson_webhook(root, &ev);
	CHECK_KIND(ev.kind, ZD_WEBHOOK_NOT_AN_EVENT);
}

static void
test_webhook_time_fallback(const void *arg)
{
	struct json_object *root;
	ZdJsonWebhook ev;

	(void) arg;
	/* no "time": the detail's updated_at is enough */
	run_webhook("{\"id\":\"e\",\"type\":\"zen:event-type:ticket.created\","
				"\"detail\":{\"id\":\"1\",\"updated_at\":\"2025-01-08T10:12:07Z\"}}", &ev, &root);
	REQUIRE(root != NULL);
	CHECK_KIND(ev.kind, ZD_WEBHOOK_TICKET_STATE);
	CHECK_STR(ev.time, NULL);
	CHECK_STR(ev.ticket.updated_at, "2025-01-08T10:12:07Z");
	CHECK(ev.has_ticket);
	CHECK_I64(ev.ticket.id, 1);
	CHECK(!ev.has_actor_id);
	zdjson_free(root);
}

static void
test_webhook_numeric_ids(const void *arg)
{
	struct json_object *root;
	ZdJsonWebhook ev;

	(void) arg;
	run_webhook("{\"id\":\"e\",\"type\":\"zen:event-type:ticket.comment_added\","
				"\"time\":\"2025-01-08T10:12:07Z\","
				"\"detail\":{\"id\":5158,\"actor_id\":8447388090777,\"requester_id\":8447388090494},"
				"\"event\":{\"comment\":{\"id\":58789194475545,\"author\":{\"id\":8447388090777,"
				"\"name\":\"Alex\"},\"body\":\"b\"}}}", &ev, &root);
	REQUIRE(root != NULL);
	CHECK_KIND(ev.kind, ZD_WEBHOOK_COMMENT);
	CHECK_I64(ev.ticket.id, 5158);
	CHECK(ev.has_actor_id);
	CHECK_I64(ev.actor_id, 8447388090777LL);
	CHECK(ev.ticket.has_requester_id);
	CHECK_I64(ev.ticket.requester_id, 8447388090494LL);
	CHECK_I64(ev.comment.id, 58789194475545LL);
	CHECK(ev.comment.has_author_id);
	CHECK_I64(ev.comment.author_id, 8447388090777LL);
	CHECK_STR(ev.comment.author_name, "Alex");
	CHECK(ev.comment.is_public);	/* default when not given */
	zdjson_free(root);
}

static void
test_webhook_empty_ids(const void *arg)
{
	struct json_object *root;
	ZdJsonWebhook ev;

	(void) arg;
	run_webhook("{\"id\":\"e\",\"type\":\"zen:event-type:ticket.status_changed\","
				"\"time\":\"2025-01-08T10:12:07Z\","
				"\"detail\":{\"id\":\"5158\",\"actor_id\":\"\",\"requester_id\":\"\","
				"\"external_id\":\"\",\"assignee_id\":\"0\",\"tags\":null,\"status\":\"open\"}}",
				&ev, &root);
	REQUIRE(root != NULL);
	CHECK_KIND(ev.kind, ZD_WEBHOOK_TICKET_STATE);
	CHECK(!ev.has_actor_id);
	CHECK(!ev.ticket.has_requester_id);
	CHECK_STR(ev.ticket.external_id, "");
	CHECK(ev.ticket.tags == NULL);	/* null tags */
	CHECK_STR(ev.ticket.status, "open");
	CHECK_STR(ev.ticket.via_channel, NULL);
	zdjson_free(root);

	/* "0" is an id of zero, not a missing one */
	run_webhook("{\"id\":\"e\",\"type\":\"zen:event-type:ticket.status_changed\","
				"\"time\":\"2025-01-08T10:12:07Z\",\"detail\":{\"id\":\"5158\",\"actor_id\":\"0\","
				"\"tags\":\"a b\"}}", &ev, &root);
	REQUIRE(root != NULL);
	CHECK(ev.has_actor_id);
	CHECK_I64(ev.actor_id, 0);
	CHECK(ev.ticket.tags == NULL);	/* a string is not an array */
	zdjson_free(root);
}

static void
test_webhook_comment_variants(const void *arg)
{
	static const struct
	{
		const char *desc;
		const char *event;
		ZdWebhookKind kind;
		bool		has_author;
		int64_t		author;
		const char *name;
		bool		is_public;
		const char *body;
	}			v[] = {
		{"missing event object", NULL, ZD_WEBHOOK_TICKET_STATE, false, 0, NULL, true, NULL},
		{"empty event object", "{}", ZD_WEBHOOK_TICKET_STATE, false, 0, NULL, true, NULL},
		{"event is an array", "[]", ZD_WEBHOOK_TICKET_STATE, false, 0, NULL, true, NULL},
		{"null comment", "{\"comment\":null}", ZD_WEBHOOK_TICKET_STATE, false, 0, NULL, true, NULL},
		{"comment without id", "{\"comment\":{\"body\":\"x\"}}", ZD_WEBHOOK_TICKET_STATE, false, 0, NULL, true, NULL},
		{"comment with id \"\"", "{\"comment\":{\"id\":\"\",\"body\":\"x\"}}", ZD_WEBHOOK_TICKET_STATE, false, 0, NULL, true, NULL},
		{"author id and name", "{\"comment\":{\"id\":\"7\",\"author\":{\"id\":\"123\",\"name\":\"N\","
			"\"is_staff\":false},\"body\":\"x\"}}", ZD_WEBHOOK_COMMENT, true, 123, "N", true, "x"},
		{"author without id", "{\"comment\":{\"id\":\"7\",\"author\":{\"name\":\"N\"}}}",
			ZD_WEBHOOK_COMMENT, false, 0, "N", true, NULL},
		{"author id \"\"", "{\"comment\":{\"id\":\"7\",\"author\":{\"id\":\"\",\"name\":\"N\"}}}",
			ZD_WEBHOOK_COMMENT, false, 0, "N", true, NULL},
		{"author name not a string", "{\"comment\":{\"id\":\"7\",\"author\":{\"id\":\"5\",\"name\":5}}}",
			ZD_WEBHOOK_COMMENT, true, 5, NULL, true, NULL},
		{"author is a string", "{\"comment\":{\"id\":\"7\",\"author\":\"someone\"}}",
			ZD_WEBHOOK_COMMENT, false, 0, NULL, true, NULL},
		{"author_id wins over author.id", "{\"comment\":{\"id\":\"7\",\"author_id\":\"9\",\"author\":{\"id\":\"5\"}}}",
			ZD_WEBHOOK_COMMENT, true, 9, NULL, true, NULL},
		{"is_public false", "{\"comment\":{\"id\":\"7\",\"is_public\":false}}",
			ZD_WEBHOOK_COMMENT, false, 0, NULL, false, NULL},
		{"public wins over is_public", "{\"comment\":{\"id\":\"7\",\"public\":false,\"is_public\":true}}",
			ZD_WEBHOOK_COMMENT, false, 0, NULL, false, NULL},
		{"plain_body when there is no body", "{\"comment\":{\"id\":\"7\",\"plain_body\":\"pb\"}}",
			ZD_WEBHOOK_COMMENT, false, 0, NULL, true, "pb"},
	};
	size_t		i;

	(void) arg;
	for (i = 0; i < countof(v); i++)
	{
		char	   *body = wh_body("comment_added", v[i].event);
		struct json_object *root;
		ZdJsonWebhook ev;
		int			before = zt_failures;

		run_webhook(body, &ev, &root);
		free(body);
		if (root == NULL)
			continue;
		CHECK_KIND(ev.kind, v[i].kind);
		CHECK(ev.has_ticket);
		CHECK(ev.has_comment == (v[i].kind == ZD_WEBHOOK_COMMENT));
		if (ev.has_comment)
		{
			CHECK_I64(ev.comment.id, 7);
			CHECK_I64(ev.comment.ticket_id, 5158);
			CHECK(ev.comment.has_author_id == v[i].has_author);
			if (v[i].has_author)
				CHECK_I64(ev.comment.author_id, v[i].author);
			CHECK_STR(ev.comment.author_name, v[i].name);
			CHECK(ev.comment.is_public == v[i].is_public);
			CHECK_STR(ev.comment.body, v[i].body);
			CHECK_STR(ev.comment.created_at, "2025-01-08T11:40:02.304701605Z");
		}
		if (zt_failures != before)
			zt_note("in variant: %s", v[i].desc);
		zdjson_free(root);
	}
}

/* ------------------------------------------------------------------------
 * REST: tickets, comments, pages
 * ------------------------------------------------------------------------
 */

static void
test_ticket_create_response(const void *arg)
{
	struct json_object *root = parse_fixture("create_ticket_response_201.json");
	struct json_object *obj;
	ZdJsonTicket t;
	char		buf[64];

	(void) arg;
	REQUIRE(root != NULL);
	obj = zdjson_get(root, "ticket");
	CHECK(zdjson_ticket(obj, &t));
	CHECK(t.object == obj);
	CHECK_I64(t.id, 5158);
	CHECK(t.has_generated_timestamp);
	CHECK_I64(t.generated_timestamp, 1736331127);
	CHECK_STR(t.external_id, "pgzd-local-42");
	CHECK_STR(t.subject, "Damaged order #1042");
	CHECK_STR(t.description, "My order #1042 arrived damaged. Can I get a replacement?");
	CHECK_STR(t.status, "new");
	CHECK_STR(t.priority, "normal");
	CHECK_STR(t.type, "question");
	CHECK_STR(t.created_at, "2025-01-08T10:12:07Z");
	CHECK_STR(t.updated_at, "2025-01-08T10:12:07Z");
	CHECK_STR(t.via_channel, "api");
	CHECK(t.has_requester_id);
	CHECK_I64(t.requester_id, 8447388090494LL);
	CHECK(!t.has_followup_source);
	CHECK_STR(tags_joined(t.tags, buf, sizeof(buf)), "damaged,order");
	zdjson_free(root);
}

static void
test_ticket_page_cursor(const void *arg)
{
	struct json_object *root = parse_fixture("incremental_tickets_cursor_page.json");
	ZdJsonTicketPage page;
	ZdJsonTicket t;
	ZdJsonUser u;
	char		buf[64];

	(void) arg;
	REQUIRE(root != NULL);
	CHECK(zdjson_ticket_page(root, &page));
	CHECK_I64(zdjson_length(page.tickets), 3);
	CHECK_I64(zdjson_length(page.users), 2);
	CHECK_STR(page.after_cursor, "MTczNjMzNTIwMi4wfHw1MTU5fA==");
	CHECK(!page.end_of_stream);

	CHECK(zdjson_ticket(zdjson_at(page.tickets, 0), &t));
	CHECK_I64(t.id, 5157);
	CHECK_I64(t.generated_timestamp, 1736330727);
	CHECK_STR(t.external_id, NULL);
	CHECK_STR(t.type, NULL);
	CHECK_STR(t.priority, NULL);
	CHECK_STR(t.status, "open");
	CHECK_STR(t.subject, "Cannot log in");
	CHECK_STR(t.via_channel, "email");
	CHECK_STR(t.updated_at, "2025-01-08T10:05:27Z");
	CHECK_I64(t.requester_id, 8447388090555LL);
	CHECK_STR(tags_joined(t.tags, buf, sizeof(buf)), "");

	CHECK(zdjson_ticket(zdjson_at(page.tickets, 1), &t));
	CHECK_I64(t.id, 5158);
	CHECK_I64(t.generated_timestamp, 1736336402);
	CHECK_STR(t.updated_at, "2025-01-08T11:40:02Z");
	CHECK_STR(tags_joined(t.tags, buf, sizeof(buf)), "damaged,order");

	CHECK(zdjson_ticket(zdjson_at(page.tickets, 2), &t));
	CHECK_I64(t.id, 5120);
	CHECK_STR(t.status, "deleted");
	CHECK_STR(t.via_channel, "web");
	CHECK_I64(t.generated_timestamp, 1736336802);

	CHECK(zdjson_user(zdjson_at(page.users, 0), &u));
	CHECK(u.has_id);
	CHECK_I64(u.id, 8447388090494LL);
	CHECK_STR(u.name, "Pat Requester");
	CHECK_STR(u.email, "pat@example.com");
	CHECK_STR(u.role, "end-user");
	CHECK(u.active);
	CHECK(!u.suspended);
	CHECK(zdjson_user(zdjson_at(page.users, 1), &u));
	CHECK_I64(u.id, 8447388090777LL);
	CHECK_STR(u.name, "Alex Agent");
	CHECK_STR(u.role, "agent");
	zdjson_free(root);
}

static void
test_ticket_page_last(const void *arg)
{
	struct json_object *root = parse_fixture("incremental_tickets_cursor_last_page.json");
	ZdJsonTicketPage page;

	(void) arg;
	REQUIRE(root != NULL);
	CHECK(zdjson_ticket_page(root, &page));
	CHECK(page.tickets != NULL);
	CHECK_I64(zdjson_length(page.tickets), 0);
	CHECK(page.users == NULL);
	CHECK_STR(page.after_cursor, "MTczNjMzNjgwMi4wfHw1MTIwfA==");
	CHECK(page.end_of_stream);
	zdjson_free(root);
}

static void
test_ticket_page_time(const void *arg)
{
	struct json_object *root = parse_fixture("incremental_tickets_time_page.json");
	ZdJsonTicketPage page;
	ZdJsonTicket t;

	(void) arg;
	REQUIRE(root != NULL);
	CHECK(zdjson_ticket_page(root, &page));
	CHECK_I64(zdjson_length(page.tickets), 2);
	CHECK_STR(page.after_cursor, NULL);
	CHECK(page.end_of_stream);
	CHECK(zdjson_ticket(zdjson_at(page.tickets, 1), &t));
	CHECK_I64(t.id, 5158);
	CHECK_STR(t.external_id, "pgzd-local-42");
	zdjson_free(root);
}

static void
test_ticket_page_invalid(const void *arg)
{
	static const char *const docs[] = {
		"{}", "{\"tickets\":null}", "{\"tickets\":{}}", "{\"tickets\":\"x\"}", "[]",
	};
	size_t		i;
	ZdJsonTicketPage page;
	struct json_object *root;

	(void) arg;
	CHECK(!zdjson_ticket_page(NULL, &page));
	for (i = 0; i < countof(docs); i++)
	{
		root = parse_ok(docs[i]);
		if (zdjson_ticket_page(root, &page))
			zt_fail(__FILE__, __LINE__, "%s accepted as a ticket page", docs[i]);
		CHECK(page.users == NULL && page.after_cursor == NULL && !page.end_of_stream);
		zdjson_free(root);
	}
	/* users that are not an array are dropped */
	root = parse_ok("{\"tickets\":[],\"users\":{},\"end_of_stream\":\"true\",\"after_cursor\":5}");
	REQUIRE(root != NULL);
	CHECK(zdjson_ticket_page(root, &page));
	CHECK(page.users == NULL);
	CHECK(!page.end_of_stream); /* a string is not a boolean */
	CHECK_STR(page.after_cursor, NULL);
	zdjson_free(root);
}

static void
test_ticket_invalid(const void *arg)
{
	static const char *const docs[] = {
		"{}", "{\"id\":null}", "{\"id\":\"\"}", "{\"id\":\"x\"}", "{\"id\":1.5}", "{\"id\":true}",
		"[{\"id\":1}]", "\"id\"",
	};
	size_t		i;
	ZdJsonTicket t;

	(void) arg;
	memset(&t, 0x5a, sizeof(t));
	CHECK(!zdjson_ticket(NULL, &t));
	CHECK(t.object == NULL && t.subject == NULL && t.id == 0);
	for (i = 0; i < countof(docs); i++)
	{
		struct json_object *root = parse_ok(docs[i]);

		memset(&t, 0x5a, sizeof(t));
		if (zdjson_ticket(root, &t))
			zt_fail(__FILE__, __LINE__, "%s accepted as a ticket", docs[i]);
		CHECK(t.object == NULL && t.tags == NULL && t.status == NULL);
		zdjson_free(root);
	}
}

static void
test_ticket_followup(const void *arg)
{
	static const struct
	{
		const char *doc;
		bool		has;
		int64_t		id;
	}			v[] = {
		{"{\"id\":7,\"via\":{\"channel\":\"web\",\"source\":{\"rel\":\"follow_up\",\"from\":{\"ticket_id\":5120}}}}", true, 5120},
		{"{\"id\":7,\"via\":{\"channel\":\"web\",\"source\":{\"rel\":\"follow_up\",\"from\":{\"ticket_id\":\"5121\"}}}}", true, 5121},
		{"{\"id\":7,\"via\":{\"source\":{\"rel\":\"follow_up\",\"from\":{}}}}", false, 0},
		{"{\"id\":7,\"via\":{\"source\":{\"rel\":\"follow_up\"}}}", false, 0},
		{"{\"id\":7,\"via\":{\"source\":{\"rel\":\"merge\",\"from\":{\"ticket_id\":5120}}}}", false, 0},
		{"{\"id\":7,\"via\":{\"source\":{\"rel\":null,\"from\":{\"ticket_id\":5120}}}}", false, 0},
		{"{\"id\":7,\"via\":\"Web form\"}", false, 0},
	};
	size_t		i;

	(void) arg;
	for (i = 0; i < countof(v); i++)
	{
		struct json_object *root = parse_ok(v[i].doc);
		ZdJsonTicket t;

		if (root == NULL)
			continue;
		CHECK(zdjson_ticket(root, &t));
		CHECK_I64(t.id, 7);
		if (t.has_followup_source != v[i].has)
			zt_fail(__FILE__, __LINE__, "%s: has_followup_source %d", v[i].doc, t.has_followup_source);
		if (v[i].has)
			CHECK_I64(t.followup_source_id, v[i].id);
		zdjson_free(root);
	}
}

static void
test_comments_list(const void *arg)
{
	struct json_object *root = parse_fixture("ticket_comments_page_cursor.json");
	ZdJsonListPage page;
	ZdJsonComment c;

	(void) arg;
	REQUIRE(root != NULL);
	CHECK(zdjson_list_page(root, "comments", &page));
	CHECK_I64(zdjson_length(page.items), 3);
	CHECK(!page.has_more);
	CHECK_STR(page.after_cursor, "eyJvIjoiY3JlYXRlZF9hdCIsInYiOiJaQ0FBQUFBQUFBQUEifQ==");

	CHECK(zdjson_comment(zdjson_at(page.items, 0), &c));
	CHECK_I64(c.id, 58789190000002LL);
	CHECK_I64(c.ticket_id, 0);	/* a REST comment does not say */
	CHECK(c.has_author_id);
	CHECK_I64(c.author_id, 8447388090494LL);
	CHECK_STR(c.author_name, NULL);
	CHECK(c.has_audit_id);
	CHECK_I64(c.audit_id, 58789190000001LL);
	CHECK_STR(c.body, "My order #1042 arrived damaged. Can I get a replacement?");
	CHECK_STR(c.html_body,
			  "<div class=\"zd-comment\" dir=\"auto\"><p dir=\"auto\">My order #1042 arrived damaged. Can I get a replacement?</p></div>");
	CHECK_STR(c.created_at, "2025-01-08T10:12:07Z");
	CHECK(c.is_public);
	CHECK(c.object == zdjson_at(page.items, 0));

	CHECK(zdjson_comment(zdjson_at(page.items, 1), &c));
	CHECK_I64(c.id, 58789194475545LL);
	CHECK_I64(c.author_id, 8447388090777LL);
	CHECK_I64(c.audit_id, 58789194475500LL);
	CHECK_STR(c.body, "Sorry about that! A replacement ships today.");
	CHECK_STR(c.created_at, "2025-01-08T11:40:02Z");
	CHECK(c.is_public);

	CHECK(zdjson_comment(zdjson_at(page.items, 2), &c));
	CHECK_I64(c.id, 58789199990001LL);
	CHECK_I64(c.audit_id, 58789199990000LL);
	CHECK_STR(c.body, "Internal: customer is a VIP, expedite.");
	CHECK_STR(c.created_at, "2025-01-08T11:41:10Z");
	CHECK(!c.is_public);

	CHECK(!zdjson_list_page(root, "tickets", &page));
	CHECK(page.items == NULL);
	zdjson_free(root);
}

static void
test_comment_invalid(const void *arg)
{
	static const char *const docs[] = {"{}", "{\"id\":\"\"}", "{\"id\":null}", "[]", "7"};
	size_t		i;
	ZdJsonComment c;

	(void) arg;
	CHECK(!zdjson_comment(NULL, &c));
	CHECK(c.object == NULL && c.body == NULL);
	for (i = 0; i < countof(docs); i++)
	{
		struct json_object *root = parse_ok(docs[i]);

		memset(&c, 0x5a, sizeof(c));
		if (zdjson_comment(root, &c))
			zt_fail(__FILE__, __LINE__, "%s accepted as a comment", docs[i]);
		CHECK(c.object == NULL && c.body == NULL && !c.has_author_id);
		zdjson_free(root);
	}
}

static void
test_deleted_tickets(const void *arg)
{
	struct json_object *root = parse_fixture("deleted_tickets_page.json");
	ZdJsonListPage page;
	ZdJsonDeletedTicket d;

	(void) arg;
	REQUIRE(root != NULL);
	CHECK(zdjson_list_page(root, "deleted_tickets", &page));
	CHECK_I64(zdjson_length(page.items), 1);
	CHECK(!page.has_more);
	CHECK_STR(page.after_cursor, "eyJvIjoiaWQiLCJ2IjoiYVFBQUFBQUFBQUE9In0=");
	CHECK(zdjson_deleted_ticket(zdjson_at(page.items, 0), &d));
	CHECK_I64(d.id, 5120);
	CHECK_STR(d.deleted_at, "2025-01-08T11:46:42Z");
	CHECK_STR(d.previous_state, "new");
	CHECK(d.has_actor_id);
	CHECK_I64(d.actor_id, 8447388090111LL);
	CHECK_STR(d.actor_name, "Sam Admin");
	zdjson_free(root);
}

static void
test_deleted_ticket_variants(const void *arg)
{
	struct json_object *root;
	ZdJsonDeletedTicket d;

	(void) arg;
	root = parse_ok("{\"id\":\"17\",\"actor\":null,\"deleted_at\":null}");
	REQUIRE(root != NULL);
	CHECK(zdjson_deleted_ticket(root, &d));
	CHECK_I64(d.id, 17);
	CHECK(!d.has_actor_id);
	CHECK_STR(d.actor_name, NULL);
	CHECK_STR(d.deleted_at, NULL);
	zdjson_free(root);

	root = parse_ok("{\"subject\":\"no id\",\"actor\":{\"id\":1}}");
	REQUIRE(root != NULL);
	CHECK(!zdjson_deleted_ticket(root, &d));
	CHECK(!d.has_actor_id);
	zdjson_free(root);
	CHECK(!zdjson_deleted_ticket(NULL, &d));
}

static void
test_list_page_variants(const void *arg)
{
	struct json_object *root;
	ZdJsonListPage page;

	(void) arg;
	root = parse_fixture("users_search_by_email_response.json");
	REQUIRE(root != NULL);
	CHECK(zdjson_list_page(root, "users", &page));
	CHECK_I64(zdjson_length(page.items), 1);
	CHECK(!page.has_more);
	CHECK_STR(page.after_cursor, NULL);
	zdjson_free(root);

	root = parse_ok("{\"comments\":[{\"id\":1}],\"meta\":{\"has_more\":true,\"after_cursor\":\"xyz\"}}");
	REQUIRE(root != NULL);
	CHECK(zdjson_list_page(root, "comments", &page));
	CHECK(page.has_more);
	CHECK_STR(page.after_cursor, "xyz");
	zdjson_free(root);

	root = parse_ok("{\"comments\":{},\"meta\":{\"has_more\":true}}");
	REQUIRE(root != NULL);
	CHECK(!zdjson_list_page(root, "comments", &page));
	CHECK(!page.has_more);
	zdjson_free(root);
	CHECK(!zdjson_list_page(NULL, "comments", &page));
}

/* ------------------------------------------------------------------------
 * the ticket-event export
 * ------------------------------------------------------------------------
 */

static void
test_event_page_fixture(const void *arg)
{
	struct json_object *root = parse_fixture("incremental_ticket_events_comment_events_page.json");
	ZdJsonEventPage page;
	ZdJsonComment *out;
	int			n;

	(void) arg;
	REQUIRE(root != NULL);
	CHECK(zdjson_event_page(root, &page));
	CHECK_I64(zdjson_length(page.events), 2);
	CHECK(page.has_end_time);
	CHECK_I64(page.end_time, 1736336402);
	CHECK(page.end_of_stream);

	out = malloc(sizeof(ZdJsonComment) * 1);	/* exactly one slot */
	REQUIRE(out != NULL);
	n = zdjson_event_comments(zdjson_at(page.events, 0), out, 1);
	CHECK_I64(n, 1);
	CHECK_I64(out[0].id, 58789190000002LL);
	CHECK_I64(out[0].ticket_id, 5158);
	CHECK(out[0].has_audit_id);
	CHECK_I64(out[0].audit_id, 58789190000001LL);
	CHECK(out[0].has_author_id);
	CHECK_I64(out[0].author_id, 8447388090494LL);
	CHECK_STR(out[0].body, "My order #1042 arrived damaged. Can I get a replacement?");
	CHECK_STR(out[0].created_at, "2025-01-08T10:12:07Z");
	CHECK(out[0].is_public);

	n = zdjson_event_comments(zdjson_at(page.events, 1), out, 1);
	CHECK_I64(n, 1);
	CHECK_I64(out[0].id, 58789194475545LL);
	CHECK_I64(out[0].ticket_id, 5158);
	CHECK_I64(out[0].audit_id, 58789194475500LL);
	CHECK_I64(out[0].author_id, 8447388090777LL);
	CHECK_STR(out[0].body, "Sorry about that! A replacement ships today.");
	CHECK_STR(out[0].created_at, "2025-01-08T11:40:02Z");
	free(out);
	zdjson_free(root);
}

#define FIVE_COMMENTS_EVENT \
	"{\"id\":900,\"ticket_id\":\"77\",\"created_at\":\"2025-02-01T00:00:00Z\",\"event_type\":\"Audit\"," \
	"\"child_events\":[" \
	"{\"id\":1,\"event_type\":\"Comment\",\"body\":\"one\",\"audit_id\":800}," \
	"{\"id\":2,\"event_type\":\"Create\",\"status\":\"new\"}," \
	"{\"id\":3,\"type\":\"Comment\",\"body\":\"three\",\"created_at\":\"2025-02-02T00:00:00Z\"}," \
	"42,null,\"Comment\"," \
	"{\"event_type\":\"Comment\",\"body\":\"no id\"}," \
	"{\"id\":\"4\",\"event_type\":\"Comment\",\"public\":false}," \
	"{\"id\":5,\"event_type\":\"Comment\",\"type\":\"Change\"}," \
	"{\"id\":6,\"event_type\":\"comment\"}," \
	"{\"id\":7,\"event_type\":\"Comment\",\"body\":\"seven\"}," \
	"{\"id\":8,\"event_type\":\"Comment\",\"body\":\"eight\"}]}"

static void
test_event_comments_capacity(const void *arg)
{
	struct json_object *root = parse_ok(FIVE_COMMENTS_EVENT);
	ZdJsonComment *out;
	int			n;
	int			i;
	static const int64_t ids[] = {1, 3, 4, 5, 7, 8};

	(void) arg;
	REQUIRE(root != NULL);

	/* fewer slots than comments: the total is returned, max are written */
	out = malloc(sizeof(ZdJsonComment) * 2);
	REQUIRE(out != NULL);
	n = zdjson_event_comments(root, out, 2);
	CHECK_I64(n, 6);
	CHECK_I64(out[0].id, 1);
	CHECK_I64(out[1].id, 3);
	free(out);

	/* no room at all */
	CHECK_I64(zdjson_event_comments(root, NULL, 0), 6);
	CHECK_I64(zdjson_event_comments(root, NULL, -1), 6);

	/* exactly enough room, as pull.c retries */
	out = malloc(sizeof(ZdJsonComment) * 6);
	REQUIRE(out != NULL);
	n = zdjson_event_comments(root, out, 6);
	CHECK_I64(n, 6);
	for (i = 0; i < 6 && i < n; i++)
	{
		CHECK_I64(out[i].id, ids[i]);
		CHECK_I64(out[i].ticket_id, 77);	/* from the parent, given as a string */
		CHECK(out[i].has_audit_id);
		CHECK_I64(out[i].audit_id, i == 0 ? 800 : 900);	/* own, else the parent's */
	}
	CHECK_STR(out[0].body, "one");
	CHECK_STR(out[0].created_at, "2025-02-01T00:00:00Z");	/* the parent's */
	CHECK_STR(out[1].body, "three");
	CHECK_STR(out[1].created_at, "2025-02-02T00:00:00Z");	/* its own */
	CHECK(!out[2].is_public);
	CHECK(out[3].is_public);
	free(out);
	zdjson_free(root);
}

static void
test_event_comments_edge(const void *arg)
{
	static const char *const docs[] = {
		"{}", "{\"child_events\":null}", "{\"child_events\":{}}", "{\"child_events\":[]}",
		"{\"child_events\":[1,2,3]}", "[{\"id\":1,\"event_type\":\"Comment\"}]",
	};
	ZdJsonComment slot[1];
	size_t		i;
	struct json_object *root;
	ZdJsonEventPage page;

	(void) arg;
	CHECK_I64(zdjson_event_comments(NULL, slot, 1), 0);
	for (i = 0; i < countof(docs); i++)
	{
		root = parse_ok(docs[i]);
		CHECK_I64(zdjson_event_comments(root, slot, 1), 0);
		zdjson_free(root);
	}
	/* a child without the parent's id or ticket id */
	root = parse_ok("{\"child_events\":[{\"id\":5,\"event_type\":\"Comment\"}]}");
	REQUIRE(root != NULL);
	CHECK_I64(zdjson_event_comments(root, slot, 1), 1);
	CHECK_I64(slot[0].ticket_id, 0);
	CHECK(!slot[0].has_audit_id);
	CHECK_STR(slot[0].created_at, NULL);
	zdjson_free(root);

	root = parse_ok("{\"ticket_events\":{}}");
	CHECK(!zdjson_event_page(root, &page));
	zdjson_free(root);
	root = parse_ok("{\"ticket_events\":[],\"end_time\":\"1736336402\"}");
	REQUIRE(root != NULL);
	CHECK(zdjson_event_page(root, &page));
	CHECK(page.has_end_time);
	CHECK_I64(page.end_time, 1736336402);
	CHECK(!page.end_of_stream);
	zdjson_free(root);
	CHECK(!zdjson_event_page(NULL, &page));
}

/* ------------------------------------------------------------------------
 * audits, users
 * ------------------------------------------------------------------------
 */

static void
test_audit_comment_create(const void *arg)
{
	struct json_object *root = parse_fixture("create_ticket_response_201.json");
	ZdJsonComment c;

	(void) arg;
	REQUIRE(root != NULL);
	CHECK(zdjson_audit_comment(root, &c));
	CHECK_I64(c.id, 58789190000002LL);
	CHECK_I64(c.ticket_id, 5158);
	CHECK(c.has_audit_id);
	CHECK_I64(c.audit_id, 58789190000001LL);
	CHECK(c.has_author_id);
	CHECK_I64(c.author_id, 8447388090494LL);
	CHECK_STR(c.body, "My order #1042 arrived damaged. Can I get a replacement?");
	CHECK_STR(c.created_at, "2025-01-08T10:12:07Z");	/* the audit's */
	CHECK(c.is_public);
	zdjson_free(root);
}

static void
test_audit_comment_update(const void *arg)
{
	struct json_object *root = parse_fixture("update_ticket_add_comment_response_200.json");
	ZdJsonComment c;

	(void) arg;
	REQUIRE(root != NULL);
	CHECK(zdjson_audit_comment(root, &c));
	CHECK_I64(c.id, 58790011223311LL);
	CHECK_I64(c.ticket_id, 5158);
	CHECK_I64(c.audit_id, 58790011223300LL);
	CHECK_I64(c.author_id, 8447388090494LL);
	CHECK_STR(c.body, "Thanks - the replacement arrived.");
	CHECK_STR(c.html_body, "<div class=\"zd-comment\" dir=\"auto\"><p dir=\"auto\">Thanks - the replacement arrived.</p></div>");
	CHECK_STR(c.created_at, "2025-01-12T16:03:55Z");
	CHECK(c.is_public);
	zdjson_free(root);
}

static void
test_audit_comment_variants(const void *arg)
{
	static const char *const no_comment[] = {
		"{}", "{\"audit\":null}", "{\"audit\":{\"events\":[]}}",
		"{\"audit\":{\"events\":[{\"id\":1,\"type\":\"Change\"}]}}",
		"{\"audit\":{\"events\":[{\"type\":\"Comment\"}]}}",
		"{\"audit\":{\"events\":{\"type\":\"Comment\",\"id\":1}}}",
		"{\"audit\":[{\"events\":[]}]}",
	};
	size_t		i;
	struct json_object *root;
	ZdJsonComment c;

	(void) arg;
	CHECK(!zdjson_audit_comment(NULL, &c));
	for (i = 0; i < countof(no_comment); i++)
	{
		root = parse_ok(no_comment[i]);
		if (zdjson_audit_comment(root, &c))
			zt_fail(__FILE__, __LINE__, "a comment found in %s", no_comment[i]);
		zdjson_free(root);
	}
	/* the audit's id and time fill in; the first Comment wins */
	root = parse_ok("{\"audit\":{\"id\":\"55\",\"ticket_id\":9,\"created_at\":\"2025-03-01T00:00:00Z\","
					"\"events\":[{\"id\":1,\"type\":\"Change\"},{\"id\":2,\"type\":\"Comment\",\"public\":false},"
					"{\"id\":3,\"type\":\"Comment\"}]}}");
	REQUIRE(root != NULL);
	CHECK(zdjson_audit_comment(root, &c));
	CHECK_I64(c.id, 2);
	CHECK_I64(c.ticket_id, 9);
	CHECK(c.has_audit_id);
	CHECK_I64(c.audit_id, 55);
	CHECK_STR(c.created_at, "2025-03-01T00:00:00Z");
	CHECK(!c.is_public);
	zdjson_free(root);
}

static void
test_user_response(const void *arg)
{
	struct json_object *root = parse_fixture("user_show_response.json");
	ZdJsonUser u;

	(void) arg;
	REQUIRE(root != NULL);
	CHECK(zdjson_user_response(root, &u));
	CHECK(u.has_id);
	CHECK_I64(u.id, 8447388090494LL);
	CHECK_STR(u.name, "Pat Requester");
	CHECK_STR(u.email, "pat@example.com");
	CHECK_STR(u.role, "end-user");
	CHECK(u.active);
	CHECK(!u.suspended);
	zdjson_free(root);

	root = parse_fixture("user_create_or_update_request.json");
	REQUIRE(root != NULL);
	CHECK(zdjson_user_response(root, &u));
	CHECK(!u.has_id);
	CHECK_STR(u.name, "Pat Requester");
	CHECK_STR(u.role, "end-user");
	zdjson_free(root);
}

static void
test_user_variants(const void *arg)
{
	static const char *const not_user[] = {"{}", "{\"user\":null}", "{\"user\":[]}", "{\"user\":\"x\"}", "[]"};
	size_t		i;
	struct json_object *root;
	ZdJsonUser u;

	(void) arg;
	CHECK(!zdjson_user_response(NULL, &u));
	for (i = 0; i < countof(not_user); i++)
	{
		root = parse_ok(not_user[i]);
		memset(&u, 0x5a, sizeof(u));
		if (zdjson_user_response(root, &u))
			zt_fail(__FILE__, __LINE__, "%s accepted as a user", not_user[i]);
		CHECK(!u.has_id && u.name == NULL);
		zdjson_free(root);
	}
	root = parse_ok("{\"user\":{\"name\":\"Anon\"}}");
	REQUIRE(root != NULL);
	CHECK(zdjson_user_response(root, &u));
	CHECK(!u.has_id);
	CHECK_STR(u.name, "Anon");
	CHECK_STR(u.email, NULL);
	CHECK(u.active);			/* defaults */
	CHECK(!u.suspended);
	zdjson_free(root);

	root = parse_ok("{\"user\":{\"id\":\"12\",\"active\":false,\"suspended\":true,\"role\":\"admin\",\"email\":null}}");
	REQUIRE(root != NULL);
	CHECK(zdjson_user_response(root, &u));
	CHECK(u.has_id);
	CHECK_I64(u.id, 12);
	CHECK(!u.active);
	CHECK(u.suspended);
	CHECK_STR(u.role, "admin");
	CHECK_STR(u.email, NULL);
	zdjson_free(root);
}

/* ------------------------------------------------------------------------
 * zdjson_parse_time
 * ------------------------------------------------------------------------
 */

typedef struct TimeCase
{
	const char *text;
	bool		ok;
	int64_t		us;
	const char *why;
} TimeCase;

static const TimeCase time_cases[] = {
	{"2021-03-25T05:09:27Z", true, 1616648967000000LL, "Z"},
	{"1970-01-01T00:00:00Z", true, 0, "the epoch"},
	{"2025-01-08T10:12:07Z", true, 1736331127000000LL, "Z (generated_timestamp of the fixtures)"},
	{"2025-01-08T10:12:07.672717030Z", true, 1736331127672717LL, "9 fractional digits truncated to microseconds"},
	{"2025-01-08T10:12:07.999999999Z", true, 1736331127999999LL, "9 nines truncated, not rounded"},
	{"2025-01-08T10:12:07.5Z", true, 1736331127500000LL, "1 fractional digit"},
	{"2025-01-08T10:12:07.123Z", true, 1736331127123000LL, "3 fractional digits"},
	{"2025-01-08T10:12:07.000001Z", true, 1736331127000001LL, "6 fractional digits"},
	{"2025-01-08t10:12:07z", true, 1736331127000000LL, "lower-case t and z"},
	{"2021-03-25T06:09:27+01:00", true, 1616648967000000LL, "offset +01:00"},
	{"2021-03-24T23:39:27-05:30", true, 1616648967000000LL, "offset -05:30 across midnight"},
	{"2021-03-25T10:39:27+05:30", true, 1616648967000000LL, "offset +05:30"},
	{"2021-03-25T06:09:27.250+01:00", true, 1616648967250000LL, "fraction and offset"},
	{"2021-03-25T05:09:27+00:00", true, 1616648967000000LL, "offset +00:00"},
	{"2021-03-25T05:09:27-00:00", true, 1616648967000000LL, "offset -00:00"},
	{"2024-02-29T12:00:00Z", true, 1709208000000000LL, "leap day"},
	{"2038-01-19T03:14:08Z", true, 2147483648000000LL, "past 2^31 seconds"},
	{"9999-12-31T23:59:59Z", true, 253402300799000000LL, "year 9999"},
	{"2025-01-08T11:40:02.304701605Z", true, 1736336402304701LL, "comment_added fixture time"},
	{"2025-01-09T08:30:41.118273645Z", true, 1736411441118273LL, "permanently_deleted fixture time"},
	{"2021-03-25T05:09:27", false, 0, "missing Z"},
	{"2021-03-25T05:09:27.123", false, 0, "fraction, missing Z"},
	{"2021-03-25T05:09:27.123456789", false, 0, "long fraction, missing Z"},
	{"2021-13-25T05:09:27Z", false, 0, "bad month 13"},
	{"2021-00-25T05:09:27Z", false, 0, "bad month 00"},
	{"2021-03-00T05:09:27Z", false, 0, "day 00"},
	{"2021-03-32T05:09:27Z", false, 0, "day 32"},
	{"2021-03-25T24:00:00Z", false, 0, "hour 24"},
	{"2021-03-25T05:60:27Z", false, 0, "minute 60"},
	{"2021-03-25T05:09:61Z", false, 0, "second 61"},
	{"2021-02-29T05:09:27Z", false, 0, "February 29 of a common year"},
	{"2021-02-31T05:09:27Z", false, 0, "February 31"},
	{"2021-04-31T05:09:27Z", false, 0, "April 31"},
	{"2100-02-29T00:00:00Z", false, 0, "no leap day in 2100"},
	{"2000-02-29T00:00:00Z", true, 951782400000000LL, "leap day of 2000"},
	{"2021-01-31T00:00:00Z", true, 1612051200000000LL, "January 31"},
	{"2016-12-31T23:59:60Z", true, 1483228800000000LL, "leap second 60: the next minute"},
	{"2021-0a-25T05:09:27Z", false, 0, "letter in the month"},
	{"abcd-ef-ghTij:kl:mnZ", false, 0, "letters"},
	{"2021-03-25T05:09Z", false, 0, "too short (no seconds)"},
	{"2021-03-25", false, 0, "too short (date only)"},
	{"1616648967", false, 0, "epoch seconds"},
	{"", false, 0, "empty"},
	{"2021-03-25T05:09:27Zx", false, 0, "trailing junk after Z"},
	{"2021-03-25T05:09:27Z ", false, 0, "trailing space"},
	{"2021-03-25T05:09:27+01:00x", false, 0, "trailing junk after the offset"},
	{"2021-03-25T05:09:27.Z", false, 0, "dot without digits"},
	{"2021-03-25 05:09:27Z", false, 0, "space instead of T"},
	{"2021/03/25T05:09:27Z", false, 0, "slashes"},
	{"1969-12-31T23:59:59Z", false, 0, "before 1970"},
	{"2021-03-25T05:09:27+24:00", false, 0, "offset hour 24"},
	{"2021-03-25T05:09:27+01:60", false, 0, "offset minute 60"},
	{"2021-03-25T05:09:27+0100", false, 0, "offset without colon"},
	{"2021-03-25T05:09:27+01", false, 0, "offset without minutes"},
	{"2021-03-25T05:09:27+01:", false, 0, "offset with a colon and no minutes"},
	{"2021-03-25T05:09:27+01:0", false, 0, "offset with one minute digit"},
	{"2021-03-25T05:09:27+", false, 0, "a bare + at the end"},
	{"2021-03-25T05:09:27-0", false, 0, "offset with one hour digit"},
	{"2021-03-25T05:09:27Z\n", false, 0, "trailing newline"},
};

static void
test_parse_time_case(const void *arg)
{
	const TimeCase *c = arg;
	char	   *text = zt_exact_str(c->text);	/* exactly strlen + 1 bytes */
	int64_t		us = -12345;
	bool		ok = zdjson_parse_time(text, &us);

	free(text);
	CHECK(ok == c->ok);
	if (c->ok)
		CHECK_I64(us, c->us);
}

static void
test_parse_time_null(const void *arg)
{
	int64_t		us = 5;

	(void) arg;
	CHECK(!zdjson_parse_time(NULL, &us));
	CHECK_I64(us, 5);
}

/* ------------------------------------------------------------------------
 * zdjson_error_summary
 * ------------------------------------------------------------------------
 */

typedef struct SummaryCase
{
	const char *desc;
	const char *fixture;		/* or: */
	const char *body;
	size_t		body_len;		/* 0: strlen(body) */
	size_t		outlen;
	const char *want;
} SummaryCase;

static const SummaryCase summary_cases[] = {
	{"401 bad credentials fixture", "error_401_bad_credentials.json", NULL, 0, 512,
	"Couldn't authenticate you"},
	{"422 closed ticket fixture, with its detail", "error_422_closed_ticket.json", NULL, 0, 512,
	"RecordInvalid: Record validation errors (Status: closed prevents ticket update)"},
	{"400 idempotency fixture", "error_400_idempotency_key_mismatch.json", NULL, 0, 512,
	"IdempotentRequestError: Request parameters don't match the given idempotency key"},
	{"401 OAuth fixture (error_description)", "error_401_oauth_invalid_token.json", NULL, 0, 512,
	"invalid_token: The access token provided is expired, revoked, malformed or invalid for other reasons."},
	{"TooManyJobs fixture", "error_too_many_jobs.json", NULL, 0, 512,
	"TooManyJobs: Too many TicketBulkCreateJob jobs are currently queued or running. Try again later."},
	{"{error:{title,message}}", NULL, "{\"error\":{\"title\":\"Forbidden\",\"message\":\"You do not have access to this page.\"}}", 0, 512,
	"Forbidden: You do not have access to this page."},
	{"{error:{title}}", NULL, "{\"error\":{\"title\":\"Forbidden\"}}", 0, 512, "Forbidden"},
	{"{error:{message}}", NULL, "{\"error\":{\"message\":\"Only a message\"}}", 0, 512, "Only a message"},
	{"description only", NULL, "{\"description\":\"Only a description\"}", 0, 512, "Only a description"},
	{"description wins over error_description", NULL,
		"{\"error\":\"e\",\"description\":\"d\",\"error_description\":\"ed\"}", 0, 512, "e: d"},
	{"details: first field with a description", NULL,
		"{\"error\":\"RecordInvalid\",\"details\":{\"a\":[],\"b\":[{\"x\":1}],\"c\":[{\"description\":\"C bad\"}]}}",
		0, 512, "RecordInvalid (C bad)"},
	{"details that are not an object", NULL,
		"{\"error\":\"RecordInvalid\",\"details\":[{\"description\":\"x\"}]}", 0, 512, "RecordInvalid"},
	{"object without error fields shown as text", NULL, "{\"foo\":1}", 0, 512, "{\"foo\":1}"},
	{"error of the wrong type shown as text", NULL, "{\"error\":5}", 0, 512, "{\"error\":5}"},
	{"JSON array shown as text", NULL, "[1,2]", 0, 512, "[1,2]"},
	{"JSON null shown as text", NULL, "null", 0, 512, "null"},
	{"non-JSON body, control characters collapsed", NULL,
		"<html>\r\n<body>Bad\tGateway\x01\x7f</body></html>\n", 0, 512,
	"<html>  <body>Bad Gateway  </body></html> "},
	{"non-JSON body with a NUL byte", NULL, "Bad\0Gateway", 11, 512, "Bad Gateway"},
	{"control characters in JSON strings", NULL,
		"{\"error\":\"A\\nB\",\"description\":\"C\\tD\\u0001\"}", 0, 512, "A B: C D "},
	{"small buffer truncates", "error_422_closed_ticket.json", NULL, 0, 8, "RecordI"},
	{"buffer of 1 byte", "error_422_closed_ticket.json", NULL, 0, 1, ""},
	{"non-JSON into a small buffer", NULL, "<html>hello</html>", 0, 6, "<html"},
	{"empty body", NULL, "", 0, 512, ""},
	{"whitespace body", NULL, "  \n", 0, 512, "   "},
	{"bytes that are not UTF-8 become ?", NULL, "Bad \xff\xc3\x28 \xed\xa0\x80 gateway \xc3\xa9", 0, 512,
	"Bad ??( ??? gateway \xc3\xa9"},
	{"a character is never cut by the buffer's end", NULL, "ab\xc3\xa9", 0, 4, "ab"},
	{"a 4-byte character fits exactly", NULL, "a\xf0\x9f\x98\x80" "b", 0, 6, "a\xf0\x9f\x98\x80"},
};

static void
test_summary_case(const void *arg)
{
	const SummaryCase *c = arg;
	size_t		len;
	char	   *body;
	char	   *out;

	if (c->fixture != NULL)
	{
		body = zt_fixture(c->fixture, &len);
		REQUIRE(body != NULL);
	}
	else
	{
		len = c->body_len ? c->body_len : strlen(c->body);
		body = zt_exact(c->body, len);
	}
	out = malloc(c->outlen);	/* exact: writes past outlen are caught */
	REQUIRE(out != NULL);
	memset(out, 'Z', c->outlen);
	zdjson_error_summary(body, len, out, c->outlen);
	CHECK_STR(out, c->want);
	free(out);
	free(body);
}

static void
test_summary_edges(const void *arg)
{
	char		out[16];
	char		big[1000];
	char	   *body;
	char	   *res;
	size_t		i;

	(void) arg;
	/* outlen 0: nothing written */
	memset(out, 'Z', sizeof(out));
	zdjson_error_summary("{\"error\":\"x\"}", 13, out, 0);
	CHECK(out[0] == 'Z');
	/* NULL body */
	zdjson_error_summary(NULL, 10, out, sizeof(out));
	CHECK_STR(out, "");

	/* a long non-JSON body is cut at 200 bytes */
	for (i = 0; i < sizeof(big); i++)
		big[i] = (char) ('a' + i % 26);
	body = zt_exact(big, sizeof(big));
	res = malloc(512);
	REQUIRE(res != NULL);
	zdjson_error_summary(body, sizeof(big), res, 512);
	CHECK_I64(strlen(res), 200);
	CHECK(memcmp(res, big, 200) == 0);
	free(body);

	/* a body cut at 200 bytes in the middle of a character drops it */
	memset(big, 'a', 199);
	memcpy(big + 199, "\xc3\xa9zzz", 5);
	body = zt_exact(big, 204);
	zdjson_error_summary(body, 204, res, 512);
	CHECK_I64(strlen(res), 199);
	CHECK(res[198] == 'a');
	free(body);

	/* a long description is cut to fit the 512-byte line, then outlen */
	{
		char		doc[3000];
		int			n = snprintf(doc, sizeof(doc), "{\"error\":\"Long\",\"description\":\"");

		memset(doc + n, 'x', 2000);
		n += 2000;
		n += snprintf(doc + n, sizeof(doc) - n, "\"}");
		body = zt_exact(doc, (size_t) n);
		zdjson_error_summary(body, (size_t) n, res, 512);
		CHECK_I64(strlen(res), 511);
		CHECK(strncmp(res, "Long: xxxx", 10) == 0);
		zdjson_error_summary(body, (size_t) n, out, sizeof(out));
		CHECK_STR(out, "Long: xxxxxxxxx");
		free(body);
	}
	free(res);
}

/* ------------------------------------------------------------------------
 * registration
 * ------------------------------------------------------------------------
 */

int
main(int argc, char **argv)
{
	size_t		i;
	static const size_t depths[] = {31, 32, 33, 64, 10000, 1000000};
	static const char *const other_domains[] = {
		"zen:event-type:user.created", "zen:event-type:user.deleted",
		"zen:event-type:organization.created", "zen:event-type:messaging_ticket.message_added",
		"zen:event-type:ticket", "zen:event-type:tickets.created",
	};
	static const char *const prefix_fixtures[] = {
		"webhook_ticket_comment_added.json", "error_422_closed_ticket.json",
		"incremental_ticket_events_comment_events_page.json",
	};

	/* zdjson_parse */
	for (i = 0; i < countof(parse_cases); i++)
		zt_add(test_parse_case, &parse_cases[i], "zdjson_parse: %s", parse_cases[i].desc);
	zt_add(test_parse_values, NULL, "zdjson_parse: values, escapes and zdjson_free(NULL)");
	zt_add(test_parse_too_large, NULL, "zdjson_parse: a length over INT32_MAX is refused unread");
	for (i = 0; i < countof(depths); i++)
		zt_add(test_parse_deep, (const void *) (uintptr_t) depths[i],
			   "zdjson_parse: %zu nested arrays", depths[i]);
	zt_add(test_parse_deep_objects, NULL, "zdjson_parse: 5000 nested objects");
	zt_add(test_parse_non_utf8, NULL, "zdjson_parse: non-UTF-8 bytes are rejected or kept exactly");
	zt_add(test_parse_escapes, NULL, "zdjson_parse: surrogate and NUL escapes");
	for (i = 0; i < countof(prefix_fixtures); i++)
		zt_add(test_parse_prefixes, prefix_fixtures[i],
			   "zdjson_parse: every truncation of %s is an error", prefix_fixtures[i]);
	for (i = 0; i < countof(all_fixtures); i++)
		zt_add(test_parse_fixture, all_fixtures[i], "zdjson_parse: fixture %s", all_fixtures[i]);
	zt_add(test_helpers, NULL, "zdjson_get/string/int64/bool/length/at/path/text");

	/* webhooks */
	zt_add(test_webhook_created, NULL, "zdjson_webhook: fixture ticket.created");
	zt_add(test_webhook_comment_added, NULL, "zdjson_webhook: fixture ticket.comment_added");
	zt_add(test_webhook_status_changed, NULL, "zdjson_webhook: fixture ticket.status_changed");
	zt_add(test_webhook_soft_deleted, NULL, "zdjson_webhook: fixture ticket.soft_deleted");
	zt_add(test_webhook_permanently_deleted, NULL, "zdjson_webhook: fixture ticket.permanently_deleted");
	for (i = 0; i < countof(kind_cases); i++)
		zt_add(test_webhook_kind, &kind_cases[i], "zdjson_webhook: ticket.%s is %s",
			   kind_cases[i].suffix, kind_name(kind_cases[i].kind));
	for (i = 0; i < countof(other_domains); i++)
		zt_add(test_webhook_other_domain, other_domains[i], "zdjson_webhook: %s is IGNORED",
			   other_domains[i]);
	zt_add(test_webhook_merged_variants, NULL,
		   "zdjson_webhook: merged, target_ticket_id as string, number, \"\", null, absent");
	for (i = 0; i < countof(err_cases); i++)
		zt_add(test_webhook_error, &err_cases[i], "zdjson_webhook: NOT_AN_EVENT, %s", err_cases[i].desc);
	zt_add(test_webhook_null_root, NULL, "zdjson_webhook: NULL root (the body null)");
	zt_add(test_webhook_time_fallback, NULL, "zdjson_webhook: no time, detail.updated_at instead");
	zt_add(test_webhook_numeric_ids, NULL, "zdjson_webhook: ids given as JSON numbers");
	zt_add(test_webhook_empty_ids, NULL, "zdjson_webhook: \"\" and \"0\" ids, null and string tags");
	zt_add(test_webhook_comment_variants, NULL,
		   "zdjson_webhook: comment_added variants (missing event, author id/name, public)");

	/* REST */
	zt_add(test_ticket_create_response, NULL, "zdjson_ticket: create_ticket_response_201 ticket");
	zt_add(test_ticket_page_cursor, NULL, "zdjson_ticket_page: cursor page, tickets and users");
	zt_add(test_ticket_page_last, NULL, "zdjson_ticket_page: last cursor page");
	zt_add(test_ticket_page_time, NULL, "zdjson_ticket_page: time-based page");
	zt_add(test_ticket_page_invalid, NULL, "zdjson_ticket_page: not a page");
	zt_add(test_ticket_invalid, NULL, "zdjson_ticket: not a ticket (no id, bad id, not an object)");
	zt_add(test_ticket_followup, NULL, "zdjson_ticket: via.source follow_up");
	zt_add(test_comments_list, NULL, "zdjson_list_page + zdjson_comment: ticket_comments_page_cursor");
	zt_add(test_comment_invalid, NULL, "zdjson_comment: not a comment");
	zt_add(test_deleted_tickets, NULL, "zdjson_list_page + zdjson_deleted_ticket: deleted_tickets_page");
	zt_add(test_deleted_ticket_variants, NULL, "zdjson_deleted_ticket: no actor, no id");
	zt_add(test_list_page_variants, NULL, "zdjson_list_page: no meta, has_more, not an array");
	zt_add(test_event_page_fixture, NULL,
		   "zdjson_event_page + zdjson_event_comments: ticket_events fixture");
	zt_add(test_event_comments_capacity, NULL,
		   "zdjson_event_comments: returns the total when more than max, writes at most max");
	zt_add(test_event_comments_edge, NULL, "zdjson_event_comments/zdjson_event_page: edge cases");
	zt_add(test_audit_comment_create, NULL, "zdjson_audit_comment: create_ticket_response_201");
	zt_add(test_audit_comment_update, NULL, "zdjson_audit_comment: update_ticket_add_comment_response_200");
	zt_add(test_audit_comment_variants, NULL, "zdjson_audit_comment: no Comment event, audit fallbacks");
	zt_add(test_user_response, NULL, "zdjson_user_response: user_show_response and a request body");
	zt_add(test_user_variants, NULL, "zdjson_user_response: not a user, defaults, flags");

	/* times */
	for (i = 0; i < countof(time_cases); i++)
		zt_add(test_parse_time_case, &time_cases[i], "zdjson_parse_time: %s %s (%s)",
			   time_cases[i].ok ? "accepts" : "rejects", time_cases[i].text, time_cases[i].why);
	zt_add(test_parse_time_null, NULL, "zdjson_parse_time: NULL");

	/* error bodies */
	for (i = 0; i < countof(summary_cases); i++)
		zt_add(test_summary_case, &summary_cases[i], "zdjson_error_summary: %s", summary_cases[i].desc);
	zt_add(test_summary_edges, NULL, "zdjson_error_summary: outlen 0, NULL body, long bodies");

	return zt_main(argc, argv);
}
