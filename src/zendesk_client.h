/*-------------------------------------------------------------------------
 *
 * zendesk_client.h
 *		Zendesk's conventions on top of the HTTP engine: the account's base
 *		URL, Basic auth with an API token, rate limits, Retry-After, retries
 *		with backoff and jitter, and readable failure descriptions.
 *
 * src/zendesk_client.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef ZD_ZENDESK_CLIENT_H
#define ZD_ZENDESK_CLIENT_H

#include "postgres.h"

#include "datatype/timestamp.h"

#include "http.h"
#include "ratelimit.h"

/* Which of Zendesk's limits a request counts against. */
typedef enum ZdEndpointClass
{
	ZD_ENDPOINT_ACCOUNT,		/* the account-wide limit only */
	ZD_ENDPOINT_EXPORT			/* incremental exports: also 10 (30)/min */
} ZdEndpointClass;

typedef enum ZdOutcome
{
	ZD_OUTCOME_OK,				/* 2xx */
	ZD_OUTCOME_RETRY,			/* transport error, 429, 409, 5xx */
	ZD_OUTCOME_FAIL				/* any other status: retrying cannot help */
} ZdOutcome;

/* One Zendesk account as the client sees it; lives in its own context. */
typedef struct ZdAccount
{
	MemoryContext context;
	int32		connection_id;
	char	   *subdomain;
	char	   *base_url;		/* no trailing slash */
	bool		plain_http;		/* base_url is http:// (api_base_url only) */
	char	   *username;		/* "agent@example.com/token" */
	char	   *api_token;
	ZdRateWindow *account_window;	/* learned from X-Rate-Limit */
	ZdRateWindow *export_window;	/* corsa_zendesk.incremental_rate_limit */
	TimestampTz paused_until;	/* no request before this (Retry-After) */
	int			learned_limit;	/* last X-Rate-Limit, -1 while unknown */
} ZdAccount;

extern char *zdapi_base_url(const char *subdomain, bool *plain_http);
extern ZdAccount *zdapi_account_create(MemoryContext parent, int32 connection_id,
									   const char *subdomain,
									   const char *agent_email,
									   const char *api_token);
extern void zdapi_account_destroy(ZdAccount *account);
extern void zdapi_account_inherit_limits(ZdAccount *account,
										 const ZdAccount *previous);
extern ZdHttpRequest *zdapi_request(ZdAccount *account, const char *method,
									const char *path, const char *body);
extern TimestampTz zdapi_ready_at(ZdAccount *account, ZdEndpointClass cls,
								  TimestampTz now);
extern void zdapi_note_sent(ZdAccount *account, ZdEndpointClass cls,
							TimestampTz now);
extern ZdOutcome zdapi_note_result(ZdAccount *account, ZdHttpRequest *req,
								   int attempt, long *retry_in_ms);
extern long zdapi_retry_delay_ms(int attempt);
extern ZdHttpRequest *zdapi_call(ZdAccount *account, ZdEndpointClass cls,
								 const char *method, const char *path,
								 const char *body, int max_attempts,
								 long max_wait_ms);
extern char *zdapi_describe_failure(const ZdHttpRequest *req);
extern void zdapi_sleep_ms(long ms);

#endif							/* ZD_ZENDESK_CLIENT_H */
