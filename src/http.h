/*-------------------------------------------------------------------------
 *
 * http.h
 *		The HTTP transfer engine of corsa_zendesk (libcurl multi interface,
 *		waiting on the process latch and the sockets together).
 *
 * src/http.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef ZD_HTTP_H
#define ZD_HTTP_H

#include "postgres.h"

/* Largest response body accepted; bigger ones fail the transfer. */
#define ZD_HTTP_MAX_RESPONSE	(256 * 1024 * 1024)

/* curl's error buffer size (CURL_ERROR_SIZE), without including curl.h */
#define ZD_HTTP_ERROR_SIZE		256

typedef struct ZdHttpRequest
{
	/* set by the caller before zdh_start() */
	const char *method;			/* "GET", "POST", "PUT" or "DELETE" */
	char	   *url;
	const char *body;			/* request body, or NULL */
	size_t		body_len;
	const char *username;		/* Basic auth user and password, or NULL */
	const char *password;
	const char *idempotency_key;	/* Idempotency-Key header, or NULL */
	bool		allow_plain_http;	/* only for corsa_zendesk.api_base_url */
	bool		fresh_connection;	/* never on a reused connection (below) */
	long		timeout_ms;
	long		connect_timeout_ms;
	void	   *caller_data;	/* the caller's own pointer */

	/* filled in when the transfer has ended */
	bool		done;
	int			curl_code;		/* CURLcode; 0 (CURLE_OK) on success */
	long		status;			/* HTTP status; 0 when none was received */
	char		error[ZD_HTTP_ERROR_SIZE];	/* transport error text */
	char	   *response;		/* NUL-terminated body, palloc'd */
	size_t		response_len;
	int			retry_after_s;	/* Retry-After, -1 when absent */
	int			rate_limit;		/* X-Rate-Limit, -1 when absent */
	int			rate_limit_remaining;	/* X-Rate-Limit-Remaining, -1 */
	int			rate_limit_reset_s; /* ratelimit-reset, -1 */
	bool		idempotency_hit;	/* x-idempotency-lookup: hit */
	double		elapsed_ms;

	/* private to http.c */
	void	   *easy;
	void	   *header_list;
	char	   *buffer;			/* malloc'd while the transfer runs */
	size_t		buffer_len;
	size_t		buffer_cap;
	MemoryContext result_context;
} ZdHttpRequest;

typedef struct ZdHttpEngine ZdHttpEngine;

extern ZdHttpEngine *zdh_engine_create(MemoryContext context);
extern void zdh_engine_destroy(ZdHttpEngine *engine);
extern void zdh_start(ZdHttpEngine *engine, ZdHttpRequest *req);
extern int	zdh_in_flight(ZdHttpEngine *engine);
extern ZdHttpRequest *zdh_wait(ZdHttpEngine *engine, long timeout_ms,
							   bool *latch_set);
extern void zdh_abandon_all(ZdHttpEngine *engine);
extern void zdh_perform(ZdHttpRequest *req);
extern char *zdh_url_escape(const char *s);
extern bool zdh_transport_failed(const ZdHttpRequest *req);
extern bool zdh_timed_out(const ZdHttpRequest *req);
extern bool zdh_maybe_delivered(const ZdHttpRequest *req);

#endif							/* ZD_HTTP_H */
