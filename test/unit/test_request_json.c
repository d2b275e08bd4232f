/*-------------------------------------------------------------------------
 *
 * test_request_json.c
 *		Unit tests of src/zd_request_json.c: the bodies of the push requests
 *		(compared, once parsed, with the shapes of Zendesk's documented
 *		requests in reference/fixtures), and the reading of the answers a
 *		push needs (a user found, the audit carrying our marker, a ticket
 *		looked up by external_id).
 *
 * test/unit/test_request_json.c
 *
 *-------------------------------------------------------------------------
 */
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "harness.h"
#include "zd_json.h"

/* a built body, parsed back; the text is freed */
static struct json_object *
parsed(char *text)
{
	struct json_object *root;
	const char *error;

	if (text == NULL)
		return NULL;
	root = zdjson_parse(text, strlen(text), &error);
	free(text);
	return root;
}

/* two JSON documents equal once parsed (key order aside) */
static void
check_same_json(struct json_object *got, const char *want_text)
{
	struct json_object *want = json_tokener_parse(want_text);

	if (!json_object_equal(got, want))
		zt_fail(__FILE__, __LINE__, "JSON differs:\n#   got  %s\n#   want %s",
				got ? zdjson_text(got) : "(null)", want_text);
	json_object_put(want);
}

static void
test_create_by_email(const void *arg)
{
	ZdPushTicket t = {0};
	struct json_object *root;

	t.subject = "Damaged order #1042";
	t.body = "My order #1042 arrived damaged. Can I get a replacement?";
	t.is_public = true;
	t.requester_email = "pat@example.com";
	t.requester_name = "Pat Requester";
	t.external_id = "corsa:42";
	t.status = "new";
	t.priority = "normal";
	t.type = "question";
	t.tags_json = "[\"order\",\"damaged\"]";
	root = parsed(zdjson_build_ticket_create(&t));
	REQUIRE(root != NULL);
	check_same_json(root,
					"{\"ticket\": {\"subject\": \"Damaged order #1042\","
					" \"comment\": {\"body\": \"My order #1042 arrived damaged. Can I get a replacement?\","
					" \"public\": true},"
					" \"requester\": {\"name\": \"Pat Requester\", \"email\": \"pat@example.com\"},"
					" \"external_id\": \"corsa:42\", \"status\": \"new\", \"priority\": \"normal\","
					" \"type\": \"question\", \"tags\": [\"order\", \"damaged\"]}}");
	json_object_put(root);
}

static void
test_create_minimal(const void *arg)
{
	ZdPushTicket t = {0};
	struct json_object *root;

	/* no subject, no tags (empty array left out), a NULL body sent empty */
	t.requester_email = "a@b.example";
	t.tags_json = "[]";
	root = parsed(zdjson_build_ticket_create(&t));
	REQUIRE(root != NULL);
	check_same_json(root, "{\"ticket\": {\"comment\": {\"body\": \"\", \"public\": false},"
					" \"requester\": {\"email\": \"a@b.example\"}}}");
	json_object_put(root);

	/* tags that are not a JSON array are left out, not sent broken */
	t.tags_json = "not json";
	root = parsed(zdjson_build_ticket_create(&t));
	REQUIRE(root != NULL);
	CHECK(zdjson_path(root, "ticket", "tags", NULL) == NULL);
	json_object_put(root);
}

static void
test_create_followup(const void *arg)
{
	ZdPushTicket t = {0};
	struct json_object *root;

	t.subject = "Re: closed";
	t.body = "One more thing";
	t.is_public = true;
	t.author_id = 8447388090494;
	t.requester_id = 8447388090494;
	t.requester_email = "ignored@example.com";	/* the id wins */
	t.followup_source_id = 7001;
	t.marker_key = "corsa_reply_id";
	t.marker_value = 99;
	root = parsed(zdjson_build_ticket_create(&t));
	REQUIRE(root != NULL);
	check_same_json(root,
					"{\"ticket\": {\"subject\": \"Re: closed\","
					" \"comment\": {\"body\": \"One more thing\", \"public\": true,"
					" \"author_id\": 8447388090494},"
					" \"requester_id\": 8447388090494, \"via_followup_source_id\": 7001,"
					" \"metadata\": {\"corsa_reply_id\": 99}}}");
	json_object_put(root);
}

static void
test_update_comment(const void *arg)
{
	struct json_object *root;

	/* the documented request (fixture update_ticket_add_comment_request.json) */
	root = parsed(zdjson_build_ticket_update("Thanks - the replacement arrived.", true,
											 8447388090494, "open", NULL, 0));
	REQUIRE(root != NULL);
	check_same_json(root,
					"{\"ticket\": {\"comment\": {\"body\": \"Thanks - the replacement arrived.\","
					" \"public\": true, \"author_id\": 8447388090494}, \"status\": \"open\"}}");
	json_object_put(root);

	/* an internal note by the API user, with our marker; public is sent even when false */
	root = parsed(zdjson_build_ticket_update("note \"quoted\" {{ticket.id}}", false, 0, NULL,
											 "corsa_reply_id", 12));
	REQUIRE(root != NULL);
	check_same_json(root,
					"{\"ticket\": {\"comment\": {\"body\": \"note \\\"quoted\\\" {{ticket.id}}\","
					" \"public\": false}, \"metadata\": {\"corsa_reply_id\": 12}}}");
	json_object_put(root);

	/* a status alone */
	root = parsed(zdjson_build_ticket_update(NULL, true, 0, "solved", NULL, 0));
	REQUIRE(root != NULL);
	check_same_json(root, "{\"ticket\": {\"status\": \"solved\"}}");
	json_object_put(root);
}

static void
test_end_user(const void *arg)
{
	struct json_object *root = parsed(zdjson_build_end_user("pat@example.com", "Pat Requester"));

	REQUIRE(root != NULL);
	check_same_json(root, "{\"user\": {\"name\": \"Pat Requester\", \"email\": \"pat@example.com\","
					" \"role\": \"end-user\", \"skip_verify_email\": true}}");
	json_object_put(root);
	root = parsed(zdjson_build_end_user("x@y.example", NULL));
	REQUIRE(root != NULL);
	CHECK_STR(zdjson_string(zdjson_get(root, "user"), "name"), "x@y.example");
	json_object_put(root);
}

static struct json_object *
doc(const char *text)
{
	const char *error;

	return zdjson_parse(text, strlen(text), &error);
}

static void
test_found_user(const void *arg)
{
	struct json_object *root;
	int64_t		id = 0;

	root = doc("{\"users\": [{\"id\": 8447388090494, \"email\": \"pat@example.com\"}],"
			   " \"next_page\": null, \"count\": 1}");
	CHECK(zdjson_found_user_id(root, &id));
	CHECK_I64(id, 8447388090494);
	json_object_put(root);
	root = doc("{\"user\": {\"id\": \"8447388090495\"}}");
	CHECK(zdjson_found_user_id(root, &id));
	CHECK_I64(id, 8447388090495);
	json_object_put(root);
	root = doc("{\"users\": [], \"count\": 0}");
	CHECK(!zdjson_found_user_id(root, &id));
	json_object_put(root);
	root = doc("[1]");
	CHECK(!zdjson_found_user_id(root, &id));
	json_object_put(root);
}

static const char *audits_page =
"{\"audits\": ["
" {\"id\": 300, \"ticket_id\": 5, \"created_at\": \"2026-01-02T03:04:05Z\","
"  \"metadata\": {\"system\": {}, \"custom\": {}},"
"  \"events\": [{\"id\": 301, \"type\": \"Comment\", \"body\": \"someone else\", \"public\": true}]},"
" {\"id\": 200, \"ticket_id\": 5, \"created_at\": \"2026-01-02T03:04:04Z\","
"  \"metadata\": {\"custom\": {\"corsa_reply_id\": 77}},"
"  \"events\": [{\"id\": 201, \"type\": \"Comment\", \"author_id\": 9, \"body\": \"ours\","
"   \"html_body\": \"<p>ours</p>\", \"public\": false, \"audit_id\": 200},"
"   {\"id\": 202, \"type\": \"Change\", \"field_name\": \"status\"}]},"
" {\"id\": 100, \"ticket_id\": 5, \"metadata\": {\"custom\": {\"corsa_reply_id\": \"78\"}},"
"  \"events\": [{\"id\": 101, \"type\": \"Change\"}]}"
"], \"meta\": {\"has_more\": false}}";

static void
test_marked_audit(const void *arg)
{
	struct json_object *root = doc(audits_page);
	ZdJsonComment c;

	REQUIRE(root != NULL);
	memset(&c, 0, sizeof(c));
	CHECK(zdjson_marked_audit_comment(root, "corsa_reply_id", 77, &c));
	CHECK_I64(c.id, 201);
	CHECK_I64(c.ticket_id, 5);
	CHECK_I64(c.audit_id, 200);
	CHECK_STR(c.body, "ours");
	CHECK(!c.is_public);
	CHECK_STR(c.created_at, "2026-01-02T03:04:04Z");
	/* the marker of an audit without a comment, another reply, no audits */
	CHECK(!zdjson_marked_audit_comment(root, "corsa_reply_id", 78, &c));
	CHECK(!zdjson_marked_audit_comment(root, "corsa_reply_id", 79, &c));
	json_object_put(root);
	root = doc("{\"audits\": []}");
	CHECK(!zdjson_marked_audit_comment(root, "corsa_reply_id", 77, &c));
	json_object_put(root);
	root = doc("{\"error\": \"RecordNotFound\"}");
	CHECK(!zdjson_marked_audit_comment(root, "corsa_reply_id", 77, &c));
	json_object_put(root);
}

static void
test_first_ticket(const void *arg)
{
	struct json_object *root;
	ZdJsonTicket t;

	root = doc("{\"tickets\": [{\"id\": 35436, \"external_id\": \"corsa:42\", \"status\": \"open\"},"
			   " {\"id\": 35437}], \"count\": 2}");
	memset(&t, 0, sizeof(t));
	CHECK(zdjson_first_ticket(root, &t));
	CHECK_I64(t.id, 35436);
	CHECK_STR(t.external_id, "corsa:42");
	json_object_put(root);
	root = doc("{\"tickets\": [], \"count\": 0}");
	CHECK(!zdjson_first_ticket(root, &t));
	json_object_put(root);
}

int
main(int argc, char **argv)
{
	zt_add(test_create_by_email, NULL, "zdjson_build_ticket_create: the documented create, requester by e-mail");
	zt_add(test_create_minimal, NULL, "zdjson_build_ticket_create: absent fields left out, public sent");
	zt_add(test_create_followup, NULL, "zdjson_build_ticket_create: a follow-up with requester id, author and marker");
	zt_add(test_update_comment, NULL, "zdjson_build_ticket_update: comment, note with marker, status alone");
	zt_add(test_end_user, NULL, "zdjson_build_end_user: the documented create_or_update body");
	zt_add(test_found_user, NULL, "zdjson_found_user_id: search and show answers, none found");
	zt_add(test_marked_audit, NULL, "zdjson_marked_audit_comment: finds our reply's comment by its marker");
	zt_add(test_first_ticket, NULL, "zdjson_first_ticket: a lookup by external_id");
	return zt_main(argc, argv);
}
