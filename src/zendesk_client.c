/*-------------------------------------------------------------------------
 *
 * zendesk_client.c
 *		Zendesk's conventions on top of the HTTP engine.
 *
 * Only https://SUBDOMAIN.zendesk.com (or corsa_zendesk.api_base_url, for
 * the simulator) is ever called: request paths are appended to that base,
 * URLs handed back by Zendesk are never followed, and redirects are off.
 * The API token travels only as the Basic-auth password; descriptions of
 * failures contain the HTTP status and Zendesk's error text, never a
 * request header.
 *
 * Pacing: every account has a sliding window sized from the X-Rate-Limit
 * header (200/min until one is seen), the incremental exports have their
 * own window (corsa_zendesk.incremental_rate_limit), and a 429 pauses the
 * whole account for Retry-After seconds.  Retryable failures back off
 * exponentially with jitter.
 *
 * src/zendesk_client.c
 *
 *-------------------------------------------------------------------------
 */
#include "corsa_zendesk.h"

#include "common/pg_prng.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "storage/latch.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

#include "zendesk_client.h"
#include "zd_json.h"

/* Until Zendesk tells us the account's limit, assume the smallest plan's. */
#define ZD_DEFAULT_ACCOUNT_LIMIT	200
/*
 * Zendesk counts requests per minute as they arrive; ours are stamped when
 * they leave.  A second of margin keeps a request sent a full minute after
 * another from arriving, by Zendesk's clock, inside that minute.
 */
#define ZD_MINUTE_US				(61 * USECS_PER_SEC)
/* Retry-After is missing from a 429 (never seen, but be safe) */
#define ZD_DEFAULT_RETRY_AFTER_S	10

/*
 * zdapi_base_url
 *		The API base of a subdomain (validated by the caller), or the
 *		configured api_base_url.  *plain_http tells whether it is http://.
 */
char *
zdapi_base_url(const char *subdomain, bool *plain_http)
{
	if (zd_api_base_url != NULL && zd_api_base_url[0] != '\0')
	{
		char	   *base = pstrdup(zd_api_base_url);
		size_t		len = strlen(base);

		if (pg_strncasecmp(base, "http://", 7) != 0 &&
			pg_strncasecmp(base, "https://", 8) != 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("corsa_zendesk.api_base_url must start with http:// or https://")));
		while (len > 0 && base[len - 1] == '/')
			base[--len] = '\0';
		*plain_http = (pg_strncasecmp(base, "http://", 7) == 0);
		return base;
	}
	*plain_http = false;
	return psprintf("https://%s.zendesk.com", subdomain);
}

/*
 * zdapi_account_create
 *		An account handle in a new child context of parent.
 */
ZdAccount *
zdapi_account_create(MemoryContext parent, int32 connection_id,
					 const char *subdomain, const char *agent_email,
					 const char *api_token)
{
	MemoryContext context = AllocSetContextCreate(parent, "corsa_zendesk account",
												  ALLOCSET_SMALL_SIZES);
	MemoryContext oldcxt = MemoryContextSwitchTo(context);
	ZdAccount  *account = palloc0(sizeof(ZdAccount));

	account->context = context;
	account->connection_id = connection_id;
	account->subdomain = pstrdup(subdomain);
	account->base_url = zdapi_base_url(subdomain, &account->plain_http);
	account->username = psprintf("%s/token", agent_email);
	account->api_token = pstrdup(api_token);
	account->account_window = zdrl_create(context, ZD_DEFAULT_ACCOUNT_LIMIT, ZD_MINUTE_US);
	account->export_window = zdrl_create(context, zd_incremental_rate_limit, ZD_MINUTE_US);
	account->paused_until = 0;
	account->learned_limit = -1;
	MemoryContextSwitchTo(oldcxt);
	return account;
}

/*
 * zdapi_account_destroy
 *		Wipe the token and free the account.
 */
void
zdapi_account_destroy(ZdAccount *account)
{
	if (account == NULL)
		return;
	explicit_bzero(account->api_token, strlen(account->api_token));
	MemoryContextDelete(account->context);
}

/*
 * zdapi_account_inherit_limits
 *		Carry the requests counted, the learned limit and any pause of the
 *		account a connection had before its settings changed over to the
 *		new one: Zendesk's budget does not reset because we rebuilt ours.
 */
void
zdapi_account_inherit_limits(ZdAccount *account, const ZdAccount *previous)
{
	if (strcmp(account->base_url, previous->base_url) != 0)
		return;
	if (previous->learned_limit > 0)
	{
		account->learned_limit = previous->learned_limit;
		zdrl_set_limit(account->account_window, previous->learned_limit);
	}
	zdrl_copy_stamps(account->account_window, previous->account_window);
	zdrl_copy_stamps(account->export_window, previous->export_window);
	account->paused_until = previous->paused_until;
}

/*
 * zdapi_request
 *		A request to path (with its query string) on the account, ready for
 *		zdh_start; palloc'd in the current context.
 */
ZdHttpRequest *
zdapi_request(ZdAccount *account, const char *method, const char *path,
			  const char *body)
{
	ZdHttpRequest *req = palloc0(sizeof(ZdHttpRequest));

	Assert(path[0] == '/');
	req->method = method;
	req->url = psprintf("%s%s", account->base_url, path);
	req->body = body;
	req->body_len = body ? strlen(body) : 0;
	req->username = account->username;
	req->password = account->api_token;
	req->allow_plain_http = account->plain_http;
	req->timeout_ms = zd_http_timeout;
	req->connect_timeout_ms = Min(zd_connect_timeout, zd_http_timeout);
	return req;
}

/*
 * zdapi_ready_at
 *		Earliest time a request of that class may be sent.
 */
TimestampTz
zdapi_ready_at(ZdAccount *account, ZdEndpointClass cls, TimestampTz now)
{
	TimestampTz ready = Max(now, account->paused_until);

	if (account->export_window->limit != zd_incremental_rate_limit)
		zdrl_set_limit(account->export_window, zd_incremental_rate_limit);

	ready = Max(ready, zdrl_next_allowed(account->account_window, now));
	if (cls == ZD_ENDPOINT_EXPORT)
		ready = Max(ready, zdrl_next_allowed(account->export_window, now));
	return ready;
}

/*
 * zdapi_note_sent
 *		Count a request against the windows it uses.
 */
void
zdapi_note_sent(ZdAccount *account, ZdEndpointClass cls, TimestampTz now)
{
	zdrl_record(account->account_window, now);
	if (cls == ZD_ENDPOINT_EXPORT)
		zdrl_record(account->export_window, now);
}

/*
 * backoff_ms
 *		Exponential backoff with "equal jitter": half of base * 2^(attempt-1)
 *		(capped) plus a random share of the other half.
 */
static long
backoff_ms(int attempt, long base_ms, long cap_ms)
{
	double		delay = (double) base_ms;
	int			i;

	for (i = 1; i < attempt && delay < cap_ms; i++)
		delay *= 2;
	delay = Min(delay, (double) cap_ms);
	return (long) (delay / 2 + pg_prng_double(&pg_global_prng_state) * delay / 2);
}

/*
 * zdapi_retry_delay_ms
 *		How long to wait before the next attempt of a failed request: the
 *		backoff from one second up to corsa_zendesk.retry_max_delay.
 */
long
zdapi_retry_delay_ms(int attempt)
{
	return backoff_ms(attempt, 1000, zd_retry_max_delay);
}

/*
 * zdapi_note_result
 *		Learn from a finished request (rate-limit headers, 429 pauses) and
 *		classify it.  For ZD_OUTCOME_RETRY, *retry_in_ms is how long to wait
 *		before the next attempt (Retry-After when given, else backoff).
 */
ZdOutcome
zdapi_note_result(ZdAccount *account, ZdHttpRequest *req, int attempt,
				  long *retry_in_ms)
{
	TimestampTz now = GetCurrentTimestamp();

	*retry_in_ms = 0;

	if (req->rate_limit > 0 && req->rate_limit != account->learned_limit)
	{
		account->learned_limit = req->rate_limit;
		zdrl_set_limit(account->account_window, req->rate_limit);
	}
	/* the agents' UI and apps share the budget: stop when it runs out */
	if (req->rate_limit_remaining == 0)
	{
		long		reset_ms = (req->rate_limit_reset_s > 0 ? req->rate_limit_reset_s : 1) * 1000L;

		account->paused_until = Max(account->paused_until,
									TimestampTzPlusMilliseconds(now, reset_ms));
	}

	if (zdh_transport_failed(req))
	{
		*retry_in_ms = zdapi_retry_delay_ms(attempt);
		return ZD_OUTCOME_RETRY;
	}
	if (req->status >= 200 && req->status < 300)
		return ZD_OUTCOME_OK;
	if (req->status == 429)
	{
		long		wait_ms = (req->retry_after_s >= 0 ? req->retry_after_s
							   : ZD_DEFAULT_RETRY_AFTER_S) * 1000L;

		/* Retry-After counts from when the response was sent; be exact */
		account->paused_until = Max(account->paused_until,
									TimestampTzPlusMilliseconds(now, wait_ms));
		*retry_in_ms = wait_ms;
		return ZD_OUTCOME_RETRY;
	}
	if (req->status == 409 || req->status >= 500)
	{
		if (req->retry_after_s >= 0)
		{
			*retry_in_ms = req->retry_after_s * 1000L;
			account->paused_until = Max(account->paused_until,
										TimestampTzPlusMilliseconds(now, *retry_in_ms));
		}
		else
			*retry_in_ms = zdapi_retry_delay_ms(attempt);
		return ZD_OUTCOME_RETRY;
	}
	return ZD_OUTCOME_FAIL;
}

/*
 * zdapi_sleep_ms
 *		Sleep on the process latch, processing interrupts.
 */
void
zdapi_sleep_ms(long ms)
{
	TimestampTz until = TimestampTzPlusMilliseconds(GetCurrentTimestamp(), ms);

	for (;;)
	{
		long		left;

		CHECK_FOR_INTERRUPTS();
		left = TimestampDifferenceMilliseconds(GetCurrentTimestamp(), until);
		if (left <= 0)
			return;
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 left, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
	}
}

/*
 * zdapi_call
 *		One call performed in the calling process, with pacing and retries:
 *		up to max_attempts, giving up early when the next wait would go past
 *		max_wait_ms in total.  Returns the last attempt's request; the caller
 *		looks at its status (and zdh_transport_failed).
 */
ZdHttpRequest *
zdapi_call(ZdAccount *account, ZdEndpointClass cls, const char *method,
		   const char *path, const char *body, int max_attempts,
		   long max_wait_ms)
{
	long		waited_ms = 0;
	int			attempt;
	ZdHttpRequest *req = NULL;

	for (attempt = 1;; attempt++)
	{
		TimestampTz now = GetCurrentTimestamp();
		TimestampTz ready = zdapi_ready_at(account, cls, now);
		long		retry_in_ms;

		if (ready > now)
		{
			long		ms = TimestampDifferenceMilliseconds(now, ready) + 1;

			zdapi_sleep_ms(ms);
			waited_ms += ms;
		}

		req = zdapi_request(account, method, path, body);
		zdapi_note_sent(account, cls, GetCurrentTimestamp());
		zdh_perform(req);

		if (zdapi_note_result(account, req, attempt, &retry_in_ms) != ZD_OUTCOME_RETRY ||
			attempt >= max_attempts)
			return req;
		/* a request that timed out already used the caller's patience */
		if (zdh_timed_out(req) || waited_ms + retry_in_ms > max_wait_ms)
			return req;
		zdapi_sleep_ms(retry_in_ms);
		waited_ms += retry_in_ms;
	}
}

/*
 * zdapi_describe_failure
 *		"HTTP 401: Couldn't authenticate you" or the transport error; for
 *		errdetail and the sync log.  Contains no request header.
 */
char *
zdapi_describe_failure(const ZdHttpRequest *req)
{
	char		summary[512];

	if (zdh_transport_failed(req))
		return psprintf("no complete response: %s", req->error);
	zdjson_error_summary(req->response, req->response_len, summary, sizeof(summary));
	if (summary[0] == '\0')
		return psprintf("HTTP %ld", req->status);
	return psprintf("HTTP %ld: %s", req->status, summary);
}
