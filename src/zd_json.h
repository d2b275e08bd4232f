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

extern struct json_object *zdjson_parse(const char *text, size_t len,
										const char **error);
extern void zdjson_free(struct json_object *root);

extern bool zdjson_user(struct json_object *obj, ZdJsonUser *user);
extern bool zdjson_user_response(struct json_object *root, ZdJsonUser *user);

extern void zdjson_error_summary(const char *body, size_t len,
								 char *out, size_t outlen);

/* helpers shared by the mapping code */
extern struct json_object *zdjson_get(struct json_object *obj, const char *key);
extern const char *zdjson_string(struct json_object *obj, const char *key);
extern bool zdjson_int64(struct json_object *obj, const char *key, int64_t *out);
extern bool zdjson_bool(struct json_object *obj, const char *key, bool dflt);

#endif							/* ZD_JSON_H */
