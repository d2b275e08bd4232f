/*-------------------------------------------------------------------------
 *
 * ratelimit.h
 *		Sliding-window request limiter ("at most N requests in any window").
 *
 * src/ratelimit.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef ZD_RATELIMIT_H
#define ZD_RATELIMIT_H

#include "postgres.h"

#include "datatype/timestamp.h"

typedef struct ZdRateWindow
{
	int			limit;			/* requests allowed per window */
	int64		window_us;		/* window length */
	int			count;			/* stamps held (<= limit) */
	int			head;			/* index of the oldest stamp */
	TimestampTz *stamps;		/* ring of the last `limit` send times */
} ZdRateWindow;

extern ZdRateWindow *zdrl_create(MemoryContext context, int limit, int64 window_us);
extern void zdrl_set_limit(ZdRateWindow *w, int limit);
extern void zdrl_copy_stamps(ZdRateWindow *to, const ZdRateWindow *from);
extern TimestampTz zdrl_next_allowed(const ZdRateWindow *w, TimestampTz now);
extern void zdrl_record(ZdRateWindow *w, TimestampTz when);
extern int	zdrl_used(const ZdRateWindow *w, TimestampTz now);

#endif							/* ZD_RATELIMIT_H */
