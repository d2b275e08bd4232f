/*-------------------------------------------------------------------------
 *
 * store.h
 *		Writing mapped Zendesk objects into zd_tickets, zd_replies and
 *		zd_users: set-based upserts keyed by Zendesk ids and guarded by the
 *		version of the state they carry.
 *
 * src/store.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef ZD_STORE_H
#define ZD_STORE_H

#include "postgres.h"

#include "datatype/timestamp.h"

#include "zd_json.h"

/* How a change reached us (zd_tickets.deletion_seen_by uses the names). */
typedef enum ZdSeenBy
{
	ZD_SEEN_BY_POLL,
	ZD_SEEN_BY_WEBHOOK,
	ZD_SEEN_BY_PUSH
} ZdSeenBy;

/* One ticket state to write. */
typedef struct ZdTicketWrite
{
	ZdJsonTicket ticket;
	TimestampTz version;		/* Zendesk change time of this state */
	bool		deleted;		/* deleted in Zendesk */
	const char *deletion_kind;	/* "soft", "permanent" or "spam" when deleted */
	TimestampTz deleted_at;		/* 0: use version */
	bool		has_deleted_by;
	int64		deleted_by;
	bool		has_merged_into;
	int64		merged_into;
} ZdTicketWrite;

/* What a write did, for run counters and the missed-webhook figure. */
typedef struct ZdStoreCounts
{
	int64		tickets;		/* ticket rows written */
	int64		tickets_new;	/* of which new */
	int64		deletions;		/* tickets newly marked deleted */
	int64		replies;		/* reply rows added */
	int64		changes;		/* new objects or newer Zendesk states */
	int64		missing_emails; /* webhooks: rows written whose requester/author
								 * e-mail is unknown */
} ZdStoreCounts;

extern void zd_store_sync_writes(bool on);
extern bool zd_store_is_sync_writing(void);

extern TimestampTz zd_version_from_generated(int64 generated_timestamp);
extern const char *zd_seen_by_name(ZdSeenBy seen_by);

extern void zd_store_users(int32 connection_id, struct json_object *users);
extern void zd_store_tickets(int32 connection_id, ZdTicketWrite *tickets,
							 int n, ZdSeenBy seen_by, ZdStoreCounts *counts);
extern void zd_store_comments(int32 connection_id, ZdJsonComment *comments,
							  int n, bool for_webhook, ZdStoreCounts *counts);
extern void zd_store_deletion_details(int32 connection_id,
									  ZdJsonDeletedTicket *entries, int n);
extern int64 zd_store_fill_from_users(int32 connection_id);
extern void zd_store_match_clients(int32 connection_id, const int64 *zendesk_ids,
								   int n);

#endif							/* ZD_STORE_H */
