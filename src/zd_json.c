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

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
	else if (root != NULL)
	{
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
		errno = 0;
		*out = json_object_get_int64(val);
		return errno == 0;
	}
	if (json_object_is_type(val, json_type_string))
	{
		const char *s = json_object_get_string(val);
		char	   *end;
		long long	v;

		if (s == NULL || *s == '\0')
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

/* copy printable text, collapsing control characters */
static void
copy_printable(char *out, size_t outlen, const char *in, size_t inlen)
{
	size_t		o = 0;
	size_t		i;

	for (i = 0; i < inlen && o + 1 < outlen; i++)
	{
		unsigned char c = (unsigned char) in[i];

		out[o++] = (c < 0x20 || c == 0x7f) ? ' ' : (char) c;
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
