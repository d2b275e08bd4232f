/*-------------------------------------------------------------------------
 *
 * ratelimit.c
 *		Sliding-window request limiter.
 *
 * Zendesk counts requests per minute; whether its window is fixed or
 * sliding is not documented.  Keeping the send times of the last N
 * requests and never sending the (N+1)th before the oldest is a full window
 * old satisfies both kinds, while still using the whole allowance when
 * there is a backlog.
 *
 * src/ratelimit.c
 *
 *-------------------------------------------------------------------------
 */
#include "ratelimit.h"

#include "utils/memutils.h"

/*
 * zdrl_create
 *		A limiter of `limit` requests per window, allocated in context.
 */
ZdRateWindow *
zdrl_create(MemoryContext context, int limit, int64 window_us)
{
	ZdRateWindow *w = MemoryContextAllocZero(context, sizeof(ZdRateWindow));

	Assert(limit > 0);
	w->limit = limit;
	w->window_us = window_us;
	w->stamps = MemoryContextAllocZero(context, sizeof(TimestampTz) * limit);
	return w;
}

/*
 * zdrl_copy_stamps
 *		Count the requests another window has seen in this one too, oldest
 *		first (a rebuilt account keeps the allowance it had used).
 */
void
zdrl_copy_stamps(ZdRateWindow *to, const ZdRateWindow *from)
{
	int			i;

	for (i = 0; i < from->count; i++)
		zdrl_record(to, from->stamps[(from->head + i) % from->limit]);
}

/*
 * zdrl_set_limit
 *		Change the allowance, keeping the most recent send times.
 */
void
zdrl_set_limit(ZdRateWindow *w, int limit)
{
	TimestampTz *stamps;
	int			keep;
	int			i;

	if (limit <= 0 || limit == w->limit)
		return;
	stamps = MemoryContextAllocZero(GetMemoryChunkContext(w->stamps),
									sizeof(TimestampTz) * limit);
	keep = Min(w->count, limit);
	for (i = 0; i < keep; i++)
		stamps[i] = w->stamps[(w->head + w->count - keep + i) % w->limit];
	pfree(w->stamps);
	w->stamps = stamps;
	w->limit = limit;
	w->count = keep;
	w->head = 0;
}

/*
 * zdrl_next_allowed
 *		Earliest time the next request may be sent (now when it may go now).
 */
TimestampTz
zdrl_next_allowed(const ZdRateWindow *w, TimestampTz now)
{
	TimestampTz free_at;

	if (w->count < w->limit)
		return now;
	free_at = w->stamps[w->head] + w->window_us;
	return Max(now, free_at);
}

/*
 * zdrl_record
 *		Note that a request was sent at `when`.
 */
void
zdrl_record(ZdRateWindow *w, TimestampTz when)
{
	if (w->count < w->limit)
	{
		w->stamps[(w->head + w->count) % w->limit] = when;
		w->count++;
	}
	else
	{
		w->stamps[w->head] = when;
		w->head = (w->head + 1) % w->limit;
	}
}

/*
 * zdrl_used
 *		Requests sent within the window ending now.
 */
int
zdrl_used(const ZdRateWindow *w, TimestampTz now)
{
	int			used = 0;
	int			i;

	for (i = 0; i < w->count; i++)
	{
		if (w->stamps[(w->head + i) % w->limit] > now - w->window_us)
			used++;
	}
	return used;
}
