/*-------------------------------------------------------------------------
 *
 * store_direct.h
 *		A webhook's rows written straight into the tables' heaps and
 *		indexes (store_direct.c); each function returns false, having
 *		written nothing, when the row must take store.c's statements.
 *
 * src/store_direct.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef ZD_STORE_DIRECT_H
#define ZD_STORE_DIRECT_H

#include "postgres.h"

#include "datatype/timestamp.h"
#include "storage/itemptr.h"

#include "store.h"

/* zd_webhook_events row */
typedef struct ZdDirectEvent
{
	int32		connection_id;
	const char *event_id;
	const char *event_type;
	bool		has_ticket;
	int64		zendesk_ticket_id;
	TimestampTz event_time;		/* 0: null */
	const char *outcome;
} ZdDirectEvent;

/* a ticket state's values as zd_tickets takes them (store.c maps them) */
typedef struct ZdDirectTicket
{
	const ZdTicketWrite *write;
	const char *status;			/* table forms, or NULL */
	const char *priority;
	const char *ticket_type;
	const char *tags;			/* unit-separated, or NULL: no tags */
	const char *raw;			/* the ticket object as JSON text */
} ZdDirectTicket;

extern void zd_direct_begin_event(void);
extern void zd_direct_lock_connection(ItemPointer tid);
extern bool zd_direct_insert_event(const ZdDirectEvent *event, bool *recorded);
extern bool zd_direct_set_event_outcome(const char *outcome);
extern bool zd_direct_write_ticket(int32 connection_id, const ZdDirectTicket *ticket,
								   ZdStoreCounts *counts, bool *match);
extern bool zd_direct_insert_comment(int32 connection_id, const ZdJsonComment *comment,
									 const char *raw, ZdStoreCounts *counts);

#endif							/* ZD_STORE_DIRECT_H */
