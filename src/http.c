/*-------------------------------------------------------------------------
 *
 * http.c
 *		The HTTP transfer engine: libcurl's multi interface driven from a
 *		PostgreSQL wait loop.
 *
 * Every wait puts curl's sockets and the process latch into one
 * WaitEventSet.  A query cancel or SIGTERM sets the latch, so the loop
 * reaches CHECK_FOR_INTERRUPTS() at once, even in the middle of a slow
 * transfer; a commit-time wake-up reaches the worker the same way.  No
 * libcurl callback ever raises an error (that would longjmp through
 * libcurl): the callbacks only copy bytes and header values.
 *
 * Response bodies grow in malloc'd buffers while the transfer runs and are
 * copied into the request's memory context when it ends, so finished
 * requests are ordinary palloc'd data.  Secrets reach libcurl only as the
 * Basic-auth user and password; verbose output is never enabled, and
 * redirects are never followed.
 *
 * src/http.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <curl/curl.h>
#include <sys/select.h>

#include "miscadmin.h"
#include "pgstat.h"
#include "storage/latch.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

#include "corsa_zendesk.h"
#include "http.h"

#if LIBCURL_VERSION_NUM < 0x075500
#error "corsa_zendesk needs libcurl 7.85 or later (CURLOPT_PROTOCOLS_STR)"
#endif

/* How long to sleep while curl has transfers but no socket to watch yet
 * (the threaded resolver is still working). */
#define ZD_HTTP_IDLE_POLL_MS	20

struct ZdHttpEngine
{
	CURLM	   *multi;
	MemoryContext context;
	ZdHttpRequest **running;	/* transfers in progress */
	int			nrunning;
	int			running_cap;
	ZdHttpRequest **finished;	/* ended, not yet returned by zdh_wait */
	int			nfinished;
	int			finished_cap;
	WaitEventSet *idle_set;		/* latch and postmaster only, kept for reuse */
};

static bool curl_initialized = false;

static size_t zdh_write_callback(char *data, size_t size, size_t nmemb, void *arg);
static size_t zdh_header_callback(char *data, size_t size, size_t nmemb, void *arg);
static void zdh_collect(ZdHttpEngine *engine);
static void zdh_finish(ZdHttpEngine *engine, ZdHttpRequest *req, CURLcode code);
static void zdh_release_transfer(ZdHttpEngine *engine, ZdHttpRequest *req);
static void zdh_push(ZdHttpRequest ***array, int *n, int *cap, ZdHttpRequest *req,
					 MemoryContext context);
static int	zdh_wait_event_set(WaitEventSet *set, long timeout_ms,
							   WaitEvent *events, int nevents);
static void zdh_wait_sockets(ZdHttpEngine *engine, long timeout_ms, bool *latch_set);

/*
 * zdh_engine_create
 *		A new engine whose bookkeeping lives in the given memory context.
 */
ZdHttpEngine *
zdh_engine_create(MemoryContext context)
{
	ZdHttpEngine *engine;

	if (!curl_initialized)
	{
		if (curl_global_init(CURL_GLOBAL_ALL) != CURLE_OK)
			ereport(ERROR,
					(errcode(ERRCODE_INTERNAL_ERROR),
					 errmsg("could not initialize libcurl")));
		curl_initialized = true;
	}

	engine = MemoryContextAllocZero(context, sizeof(ZdHttpEngine));
	engine->context = context;
	engine->multi = curl_multi_init();
	if (engine->multi == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OUT_OF_MEMORY),
				 errmsg("could not create a libcurl multi handle")));
	return engine;
}

/*
 * zdh_engine_destroy
 *		Abandon every transfer and free the engine's libcurl resources.
 */
void
zdh_engine_destroy(ZdHttpEngine *engine)
{
	if (engine == NULL)
		return;
	zdh_abandon_all(engine);
	curl_multi_cleanup(engine->multi);
	if (engine->idle_set != NULL)
		FreeWaitEventSet(engine->idle_set);
	pfree(engine);
}

/*
 * append_header
 *		curl_slist_append that keeps the list on failure (libcurl returns
 *		NULL then, and the list would be lost) and remembers the failure.
 */
static struct curl_slist *
append_header(struct curl_slist *list, const char *header, bool *failed)
{
	struct curl_slist *grown;

	if (*failed)
		return list;
	grown = curl_slist_append(list, header);
	if (grown == NULL)
	{
		*failed = true;
		return list;
	}
	return grown;
}

/*
 * zdh_start
 *		Set up the transfer of one request and hand it to the engine.  The
 *		request must stay allocated until zdh_wait returns it.
 */
void
zdh_start(ZdHttpEngine *engine, ZdHttpRequest *req)
{
	CURL	   *easy;
	struct curl_slist *headers = NULL;
	char		idem[300];
	bool		failed = false;
	const char *protocols = req->allow_plain_http ? "http,https" : "https";

	req->done = false;
	req->curl_code = CURLE_OK;
	req->status = 0;
	req->error[0] = '\0';
	req->response = NULL;
	req->response_len = 0;
	req->retry_after_s = -1;
	req->rate_limit = -1;
	req->rate_limit_remaining = -1;
	req->rate_limit_reset_s = -1;
	req->idempotency_hit = false;
	req->elapsed_ms = 0;
	req->buffer = NULL;
	req->buffer_len = 0;
	req->buffer_cap = 0;
	req->result_context = CurrentMemoryContext;

	/* first what can fail with an ERROR, while nothing of libcurl is held */
	zdh_push(&engine->running, &engine->nrunning, &engine->running_cap, req,
			 engine->context);

	headers = append_header(headers, "Accept: application/json", &failed);
	headers = append_header(headers, "Expect:", &failed);
	if (req->body != NULL)
		headers = append_header(headers, "Content-Type: application/json", &failed);
	if (req->idempotency_key != NULL)
	{
		snprintf(idem, sizeof(idem), "Idempotency-Key: %s", req->idempotency_key);
		headers = append_header(headers, idem, &failed);
	}
	easy = failed ? NULL : curl_easy_init();
	if (easy == NULL)
	{
		engine->nrunning--;
		curl_slist_free_all(headers);
		ereport(ERROR,
				(errcode(ERRCODE_OUT_OF_MEMORY),
				 errmsg("could not create a libcurl handle and its headers")));
	}

	curl_easy_setopt(easy, CURLOPT_URL, req->url);
	curl_easy_setopt(easy, CURLOPT_PROTOCOLS_STR, protocols);
	curl_easy_setopt(easy, CURLOPT_REDIR_PROTOCOLS_STR, protocols);
	curl_easy_setopt(easy, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(easy, CURLOPT_SSL_VERIFYPEER, 1L);
	curl_easy_setopt(easy, CURLOPT_SSL_VERIFYHOST, 2L);
	curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(easy, CURLOPT_TCP_KEEPALIVE, 1L);
	curl_easy_setopt(easy, CURLOPT_ACCEPT_ENCODING, "");
	curl_easy_setopt(easy, CURLOPT_TIMEOUT_MS, req->timeout_ms);
	curl_easy_setopt(easy, CURLOPT_CONNECTTIMEOUT_MS, req->connect_timeout_ms);
	curl_easy_setopt(easy, CURLOPT_USERAGENT, ZD_USER_AGENT);
	curl_easy_setopt(easy, CURLOPT_HTTPHEADER, headers);
	curl_easy_setopt(easy, CURLOPT_ERRORBUFFER, req->error);
	curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, zdh_write_callback);
	curl_easy_setopt(easy, CURLOPT_WRITEDATA, req);
	curl_easy_setopt(easy, CURLOPT_HEADERFUNCTION, zdh_header_callback);
	curl_easy_setopt(easy, CURLOPT_HEADERDATA, req);
	curl_easy_setopt(easy, CURLOPT_PRIVATE, req);

	/*
	 * When a reused connection dies before any answer, libcurl sends the
	 * request again on a new one by itself.  The server may have applied
	 * it: a request that must not be applied twice goes on a connection of
	 * its own, which libcurl never retries.
	 */
	if (req->fresh_connection)
		curl_easy_setopt(easy, CURLOPT_FRESH_CONNECT, 1L);

	if (req->username != NULL)
	{
		curl_easy_setopt(easy, CURLOPT_HTTPAUTH, (long) CURLAUTH_BASIC);
		curl_easy_setopt(easy, CURLOPT_USERNAME, req->username);
		curl_easy_setopt(easy, CURLOPT_PASSWORD, req->password ? req->password : "");
	}

	if (strcmp(req->method, "GET") == 0)
		curl_easy_setopt(easy, CURLOPT_HTTPGET, 1L);
	else
	{
		curl_easy_setopt(easy, CURLOPT_CUSTOMREQUEST, req->method);
		if (req->body != NULL)
		{
			curl_easy_setopt(easy, CURLOPT_POSTFIELDS, req->body);
			curl_easy_setopt(easy, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t) req->body_len);
		}
	}

	req->easy = easy;
	req->header_list = headers;

	if (curl_multi_add_handle(engine->multi, easy) != CURLM_OK)
	{
		engine->nrunning--;
		zdh_release_transfer(engine, req);
		ereport(ERROR,
				(errcode(ERRCODE_INTERNAL_ERROR),
				 errmsg("could not start an HTTP transfer")));
	}

	/*
	 * Get the request on its way now (connect, send), so that Zendesk works
	 * on it while we do something else until the next zdh_wait.
	 */
	{
		int			still_running;

		curl_multi_perform(engine->multi, &still_running);
	}
}

/*
 * zdh_in_flight
 *		Number of transfers not yet returned by zdh_wait.
 */
int
zdh_in_flight(ZdHttpEngine *engine)
{
	return engine->nrunning + engine->nfinished;
}

/*
 * zdh_wait
 *		Drive the transfers until one ends (returned), the timeout elapses
 *		(NULL; -1 waits without limit) or, when latch_set is given, the
 *		process latch is set (NULL with *latch_set = true).  Interrupts are
 *		processed at every turn, so a cancel or SIGTERM ends the wait with
 *		the usual error; the caller releases transfers on that path.
 */
ZdHttpRequest *
zdh_wait(ZdHttpEngine *engine, long timeout_ms, bool *latch_set)
{
	TimestampTz start = GetCurrentTimestamp();

	if (latch_set)
		*latch_set = false;

	for (;;)
	{
		long		remaining = -1;
		int			still_running;

		CHECK_FOR_INTERRUPTS();

		curl_multi_perform(engine->multi, &still_running);
		zdh_collect(engine);
		if (engine->nfinished > 0)
		{
			ZdHttpRequest *req = engine->finished[0];

			engine->nfinished--;
			memmove(engine->finished, engine->finished + 1,
					sizeof(ZdHttpRequest *) * engine->nfinished);
			return req;
		}

		if (timeout_ms >= 0)
		{
			long		elapsed = (long) ((GetCurrentTimestamp() - start) / 1000);

			remaining = timeout_ms - elapsed;
			if (remaining <= 0)
				return NULL;
		}

		zdh_wait_sockets(engine, remaining, latch_set);
		if (latch_set && *latch_set)
			return NULL;
	}
}

/*
 * zdh_wait_event_set
 *		WaitEventSetWait that frees the set (its epoll descriptor) if the
 *		wait raises an error.
 */
static int
zdh_wait_event_set(WaitEventSet *set, long timeout_ms, WaitEvent *events,
				   int nevents)
{
	volatile int result = 0;

	PG_TRY();
	{
		result = WaitEventSetWait(set, timeout_ms, events, nevents, PG_WAIT_EXTENSION);
	}
	PG_CATCH();
	{
		FreeWaitEventSet(set);
		PG_RE_THROW();
	}
	PG_END_TRY();
	return result;
}

/* the worker's latch and the postmaster's death, which every wait watches */
static void
add_latch_events(WaitEventSet *set)
{
	AddWaitEventToSet(set, WL_LATCH_SET, PGINVALID_SOCKET, MyLatch, NULL);
	AddWaitEventToSet(set, WL_EXIT_ON_PM_DEATH, PGINVALID_SOCKET, NULL, NULL);
}

/*
 * zdh_wait_sockets
 *		One wait on curl's sockets, curl's own timer and the latch.  With
 *		no socket to watch (the worker idle, woken for each commit that
 *		queued a push), the same set is used every time: building one costs
 *		an epoll descriptor and its system calls.
 */
static void
zdh_wait_sockets(ZdHttpEngine *engine, long timeout_ms, bool *latch_set)
{
	fd_set		readfds,
				writefds,
				excfds;
	int			maxfd = -1;
	long		curl_timeout = -1;
	WaitEventSet *set;
	WaitEvent	idle_events[2];
	WaitEvent  *events;
	int			nevents;
	int			i;

	FD_ZERO(&readfds);
	FD_ZERO(&writefds);
	FD_ZERO(&excfds);
	curl_multi_fdset(engine->multi, &readfds, &writefds, &excfds, &maxfd);
	curl_multi_timeout(engine->multi, &curl_timeout);

	if (curl_timeout >= 0 && (timeout_ms < 0 || curl_timeout < timeout_ms))
		timeout_ms = curl_timeout;
	if (engine->nrunning > 0 && maxfd < 0 &&
		(timeout_ms < 0 || timeout_ms > ZD_HTTP_IDLE_POLL_MS))
		timeout_ms = ZD_HTTP_IDLE_POLL_MS;

	if (maxfd < 0)
	{
		events = idle_events;
		if (engine->idle_set == NULL)
		{
			/* complete before it is kept, should adding an event fail */
			set = CreateWaitEventSet(engine->context, 2);
			add_latch_events(set);
			engine->idle_set = set;
		}
		nevents = WaitEventSetWait(engine->idle_set, timeout_ms, events, 2,
								   PG_WAIT_EXTENSION);
	}
	else
	{
		events = palloc(sizeof(WaitEvent) * (maxfd + 3));
		set = CreateWaitEventSet(CurrentMemoryContext, maxfd + 3);
		add_latch_events(set);
		for (i = 0; i <= maxfd; i++)
		{
			uint32		ev = 0;

			if (FD_ISSET(i, &readfds) || FD_ISSET(i, &excfds))
				ev |= WL_SOCKET_READABLE;
			if (FD_ISSET(i, &writefds))
				ev |= WL_SOCKET_WRITEABLE;
			if (ev != 0)
				AddWaitEventToSet(set, ev, i, NULL, NULL);
		}
		nevents = zdh_wait_event_set(set, timeout_ms, events, maxfd + 3);
		FreeWaitEventSet(set);
	}

	for (i = 0; i < nevents; i++)
	{
		if (events[i].events & WL_LATCH_SET)
		{
			ResetLatch(MyLatch);
			CHECK_FOR_INTERRUPTS();
			if (latch_set)
				*latch_set = true;
		}
	}
	if (events != idle_events)
		pfree(events);
}

/*
 * zdh_abandon_all
 *		Stop every transfer and drop finished results that were not
 *		collected.  Their requests are marked done with no status.
 */
void
zdh_abandon_all(ZdHttpEngine *engine)
{
	while (engine->nrunning > 0)
	{
		ZdHttpRequest *req = engine->running[--engine->nrunning];

		zdh_release_transfer(engine, req);
		req->done = true;
		req->curl_code = CURLE_ABORTED_BY_CALLBACK;
		req->status = 0;
	}
	engine->nfinished = 0;
}

/*
 * zdh_perform
 *		Run one request to completion in the calling backend: interruptible
 *		by query cancel, bounded by the request's timeouts, and leaving no
 *		libcurl resource behind on any path.
 */
void
zdh_perform(ZdHttpRequest *req)
{
	ZdHttpEngine *volatile engine = zdh_engine_create(CurrentMemoryContext);

	PG_TRY();
	{
		zdh_start(engine, req);
		while (zdh_wait(engine, -1, NULL) == NULL)
			;
	}
	PG_FINALLY();
	{
		zdh_engine_destroy(engine);
	}
	PG_END_TRY();
}

/*
 * zdh_url_escape
 *		Percent-encode a string for a query parameter (libcurl's encoder);
 *		palloc'd.
 */
char *
zdh_url_escape(const char *s)
{
	char	   *escaped = curl_easy_escape(NULL, s, 0);
	char	   *result;

	if (escaped == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OUT_OF_MEMORY),
				 errmsg("could not encode a URL parameter")));
	result = pstrdup(escaped);
	curl_free(escaped);
	return result;
}

/*
 * zdh_transport_failed
 *		True when no complete response arrived (connection failure, timeout,
 *		reset, truncated body).
 */
bool
zdh_transport_failed(const ZdHttpRequest *req)
{
	return req->curl_code != CURLE_OK;
}

/*
 * zdh_maybe_delivered
 *		True when a failed request may have reached the server all the same:
 *		every transport failure but a failure to resolve the host or to
 *		connect to it.
 */
bool
zdh_maybe_delivered(const ZdHttpRequest *req)
{
	return req->curl_code != CURLE_OK &&
		req->curl_code != CURLE_COULDNT_RESOLVE_HOST &&
		req->curl_code != CURLE_COULDNT_CONNECT;
}

bool
zdh_timed_out(const ZdHttpRequest *req)
{
	return req->curl_code == CURLE_OPERATION_TIMEDOUT;
}

/*
 * zdh_collect
 *		Move every transfer libcurl reports as ended to the finished list.
 */
static void
zdh_collect(ZdHttpEngine *engine)
{
	CURLMsg    *msg;
	int			left;

	while ((msg = curl_multi_info_read(engine->multi, &left)) != NULL)
	{
		ZdHttpRequest *req = NULL;
		int			i;

		if (msg->msg != CURLMSG_DONE)
			continue;
		curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **) &req);
		for (i = 0; i < engine->nrunning; i++)
		{
			if (engine->running[i] == req)
			{
				engine->running[i] = engine->running[--engine->nrunning];
				break;
			}
		}
		zdh_finish(engine, req, msg->data.result);
	}
}

/*
 * zdh_finish
 *		Record the outcome of an ended transfer, copy its body into palloc'd
 *		memory and release its libcurl resources.
 */
static void
zdh_finish(ZdHttpEngine *engine, ZdHttpRequest *req, CURLcode code)
{
	CURL	   *easy = (CURL *) req->easy;
	long		status = 0;
	double		total = 0;

	curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &status);
	curl_easy_getinfo(easy, CURLINFO_TOTAL_TIME, &total);

	req->curl_code = code;
	req->status = status;
	req->elapsed_ms = total * 1000.0;
	if (code != CURLE_OK && req->error[0] == '\0')
		strlcpy(req->error, curl_easy_strerror(code), sizeof(req->error));

	req->response = MemoryContextAlloc(req->result_context, req->buffer_len + 1);
	if (req->buffer_len > 0)
		memcpy(req->response, req->buffer, req->buffer_len);
	req->response[req->buffer_len] = '\0';
	req->response_len = req->buffer_len;

	zdh_release_transfer(engine, req);
	req->done = true;
	zdh_push(&engine->finished, &engine->nfinished, &engine->finished_cap, req,
			 engine->context);
}

/*
 * zdh_release_transfer
 *		Free a request's libcurl handle, header list and raw buffer.
 */
static void
zdh_release_transfer(ZdHttpEngine *engine, ZdHttpRequest *req)
{
	if (req->easy != NULL)
	{
		curl_multi_remove_handle(engine->multi, (CURL *) req->easy);
		curl_easy_cleanup((CURL *) req->easy);
		req->easy = NULL;
	}
	if (req->header_list != NULL)
	{
		curl_slist_free_all((struct curl_slist *) req->header_list);
		req->header_list = NULL;
	}
	free(req->buffer);
	req->buffer = NULL;
	req->buffer_len = 0;
	req->buffer_cap = 0;
}

static void
zdh_push(ZdHttpRequest ***array, int *n, int *cap, ZdHttpRequest *req,
		 MemoryContext context)
{
	if (*n >= *cap)
	{
		int			newcap = Max(8, *cap * 2);

		if (*array == NULL)
			*array = MemoryContextAlloc(context, sizeof(ZdHttpRequest *) * newcap);
		else
			*array = repalloc(*array, sizeof(ZdHttpRequest *) * newcap);
		*cap = newcap;
	}
	(*array)[(*n)++] = req;
}

/*
 * zdh_write_callback
 *		Append body bytes to the request's malloc'd buffer.  Returning less
 *		than given makes libcurl fail the transfer (too large, or out of
 *		memory); it never raises a PostgreSQL error.
 */
static size_t
zdh_write_callback(char *data, size_t size, size_t nmemb, void *arg)
{
	ZdHttpRequest *req = (ZdHttpRequest *) arg;
	size_t		n = size * nmemb;

	if (req->buffer_len + n > ZD_HTTP_MAX_RESPONSE)
		return 0;
	if (req->buffer_len + n > req->buffer_cap)
	{
		size_t		newcap = Max(req->buffer_cap * 2, req->buffer_len + n);
		char	   *grown;

		newcap = Max(newcap, 16384);
		grown = realloc(req->buffer, newcap);
		if (grown == NULL)
			return 0;
		req->buffer = grown;
		req->buffer_cap = newcap;
	}
	memcpy(req->buffer + req->buffer_len, data, n);
	req->buffer_len += n;
	return n;
}

/* copy a header's value, trimmed, into out */
static void
header_value(const char *line, size_t len, size_t namelen, char *out, size_t outlen)
{
	size_t		start = namelen;
	size_t		end = len;
	size_t		n;

	while (start < end && (line[start] == ' ' || line[start] == '\t'))
		start++;
	while (end > start && (line[end - 1] == '\r' || line[end - 1] == '\n' ||
						   line[end - 1] == ' ' || line[end - 1] == '\t'))
		end--;
	n = Min(end - start, outlen - 1);
	memcpy(out, line + start, n);
	out[n] = '\0';
}

static bool
header_is(const char *line, size_t len, const char *name)
{
	size_t		n = strlen(name);

	return len > n && pg_strncasecmp(line, name, n) == 0;
}

/*
 * zdh_header_callback
 *		Pick the rate-limit, Retry-After and idempotency headers out of the
 *		response.  Header names are matched case-insensitively.
 */
static size_t
zdh_header_callback(char *data, size_t size, size_t nmemb, void *arg)
{
	ZdHttpRequest *req = (ZdHttpRequest *) arg;
	size_t		len = size * nmemb;
	char		value[128];

	if (header_is(data, len, "retry-after:"))
	{
		char	   *end;
		long		secs;

		header_value(data, len, strlen("retry-after:"), value, sizeof(value));
		secs = strtol(value, &end, 10);
		if (end != value && *end == '\0')
			req->retry_after_s = (int) Max(0, Min(secs, 86400));
		else
		{
			/* an HTTP date */
			time_t		when = curl_getdate(value, NULL);

			if (when > 0)
				req->retry_after_s = (int) Max(0, Min(when - time(NULL), 86400));
		}
	}
	else if (header_is(data, len, "x-rate-limit:"))
	{
		header_value(data, len, strlen("x-rate-limit:"), value, sizeof(value));
		req->rate_limit = atoi(value);
	}
	else if (header_is(data, len, "x-rate-limit-remaining:"))
	{
		header_value(data, len, strlen("x-rate-limit-remaining:"), value, sizeof(value));
		req->rate_limit_remaining = atoi(value);
	}
	else if (header_is(data, len, "ratelimit-reset:"))
	{
		header_value(data, len, strlen("ratelimit-reset:"), value, sizeof(value));
		req->rate_limit_reset_s = atoi(value);
	}
	else if (header_is(data, len, "x-idempotency-lookup:"))
	{
		header_value(data, len, strlen("x-idempotency-lookup:"), value, sizeof(value));
		req->idempotency_hit = (pg_strcasecmp(value, "hit") == 0);
	}
	return len;
}
