/*-------------------------------------------------------------------------
 *
 * corsa_zendesk.h
 *		Declarations shared by the backend-side files of corsa_zendesk:
 *		settings, shared memory, wake-ups, catalog helpers, the sync log
 *		and secrets.
 *
 * Backend-independent code (crypto.c, zd_json.c) has its own headers and
 * does not include this one.
 *
 * src/corsa_zendesk.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef CORSA_ZENDESK_H
#define CORSA_ZENDESK_H

#include "postgres.h"

#include "datatype/timestamp.h"
#include "fmgr.h"
#include "lib/stringinfo.h"
#include "storage/lwlock.h"
#include "port/atomics.h"

#define ZD_EXTENSION_NAME	"corsa_zendesk"
#define ZD_VERSION_STRING	"1.0"
#define ZD_USER_AGENT		"corsa_zendesk/" ZD_VERSION_STRING

/* backend_type / bgw_type of our background processes */
#define ZD_LAUNCHER_TYPE	"corsa_zendesk launcher"
#define ZD_WORKER_TYPE		"corsa_zendesk worker"

/* ---- settings (module.c) ---- */
extern bool zd_enabled;
extern int	zd_poll_interval;			/* seconds */
extern char *zd_webhook_base_url;
extern char *zd_api_base_url;
extern char *zd_secret_key_file;
extern int	zd_webhook_max_age;			/* seconds */
extern int	zd_http_timeout;			/* milliseconds */
extern int	zd_connect_timeout;			/* milliseconds */
extern int	zd_max_concurrency;
extern int	zd_max_attempts;
extern int	zd_retry_max_delay;		/* milliseconds */
extern int	zd_log_retention;			/* minutes */
extern int	zd_incremental_rate_limit;	/* requests per minute */
extern int	zd_launcher_naptime;		/* seconds */
extern int	zd_max_databases;

/* true once _PG_init ran from shared_preload_libraries */
extern bool zd_preloaded;

/* ---- shared memory (shmem.c) ---- */

/* What the launcher knows about one database. */
typedef enum ZdSlotState
{
	ZD_SLOT_FREE = 0,			/* unused entry */
	ZD_SLOT_UNKNOWN,			/* not probed yet: start a worker to look */
	ZD_SLOT_RUNNING,			/* a worker was started and has not exited */
	ZD_SLOT_NOT_INSTALLED,		/* the worker found no extension there */
	ZD_SLOT_RESTART_WAIT,		/* the worker died; restart at restart_at */
	ZD_SLOT_PAUSED				/* released for DROP/ALTER DATABASE */
} ZdSlotState;

typedef struct ZdDatabaseSlot
{
	Oid			dboid;
	ZdSlotState state;
	int			worker_pid;		/* 0 when no worker process is attached */
	int			worker_procno;	/* its PGPROC number, -1 when none */
	uint32		generation;		/* bumped by the launcher at each start */
	int			failures;		/* consecutive abnormal exits (backoff) */
	TimestampTz restart_at;		/* RESTART_WAIT: when to start again */
	TimestampTz paused_until;	/* PAUSED: when to resume */
	pg_atomic_uint32 wake_requested;	/* ZD_WAKE_* bits, set at commit by wake.c */
	pg_atomic_uint64 reply_push_at; /* worker: last reply push sent (TimestampTz) */
} ZdDatabaseSlot;

typedef struct ZdSharedState
{
	LWLock	   *lock;			/* protects everything but the atomics */
	int			launcher_pid;
	int			launcher_procno;
	pg_atomic_uint32 rescan_requested;	/* launcher: look at all slots now */
	int			nslots;
	ZdDatabaseSlot slots[FLEXIBLE_ARRAY_MEMBER];
} ZdSharedState;

extern ZdSharedState *zd_shared;

extern void zd_shmem_init_hooks(void);
extern ZdDatabaseSlot *zd_find_slot(Oid dboid);
extern void zd_set_latch_by_procno(int procno);
extern int	zd_worker_pid_for(Oid dboid);
extern bool zd_reply_push_recent(void);

/* how long after a reply push a webhook's comment may still be its echo */
#define ZD_REPLY_LINK_HORIZON_MS	(15 * 60 * 1000)

/* ---- wake-ups at commit (wake.c) ---- */

/* why the worker is woken: it does only the work a reason calls for */
#define ZD_WAKE_CONFIG		0x01	/* connections, sync runs or the extension changed */
#define ZD_WAKE_PUSH		0x02	/* items were queued in zd_outbox */
#define ZD_WAKE_FILL		0x04	/* rows lack e-mails only the API can tell */
#define ZD_WAKE_ALL			(ZD_WAKE_CONFIG | ZD_WAKE_PUSH | ZD_WAKE_FILL)

extern void zd_wake_at_commit(uint32 reasons);
extern void zd_wake_database_now(Oid dboid, uint32 reasons);
extern void zd_warn_if_worker_unavailable(const char *what);

/* ---- background processes (launcher.c, worker.c) ---- */
extern void zd_register_launcher(void);
extern PGDLLEXPORT void zd_launcher_main(Datum main_arg);
extern PGDLLEXPORT void zd_worker_main(Datum main_arg);

/* ---- utility hooks (utility_hook.c) ---- */
extern void zd_install_utility_hooks(void);

/* ---- catalog helpers (catalog.c) ---- */
extern Oid	zd_extension_oid(bool missing_ok);
extern const char *zd_schema_name(void);
extern Oid	zd_relation_oid(const char *relname);
extern char *zd_qualified(const char *relname);
extern void zd_spi_exec_params(const char *sql, int nargs, Oid *argtypes,
							   Datum *values, int expected);
extern void zd_spi_exec_params_nulls(const char *sql, int nargs, Oid *argtypes,
									 Datum *values, const char *nulls, int expected);

/* statements kept as prepared plans (catalog.c) */
typedef enum ZdPlanId
{
	ZD_PLAN_UPSERT_USERS,
	ZD_PLAN_UPSERT_TICKETS,
	ZD_PLAN_TICKET_PLACEHOLDERS,
	ZD_PLAN_INSERT_COMMENTS,
	ZD_PLAN_DELETION_DETAILS,
	ZD_PLAN_WEBHOOK_EVENT,
	ZD_PLAN_WEBHOOK_OUTCOME,
	ZD_PLAN_LOG_ENTRY,
	/* one webhook event's writes, with generic plans */
	ZD_PLAN_WEBHOOK_TICKET,
	ZD_PLAN_WEBHOOK_COMMENT,
	ZD_PLAN_WEBHOOK_LINK_REPLY,
	ZD_PLAN_LINK_PUSHED_TICKETS,
	/* the worker's claim of push items, and its look at the next one due */
	ZD_PLAN_PUSH_CLAIM,
	ZD_PLAN_PUSH_NEXT_DUE,
	ZD_PLAN_LINK_PUSHED_REPLIES,
	ZD_PLAN_COUNT
} ZdPlanId;

struct _SPI_plan;
extern struct _SPI_plan *zd_saved_plan(ZdPlanId id, char *(*build_sql) (void),
									   int nargs, Oid *argtypes);
extern void zd_spi_run_plan(struct _SPI_plan *plan, Datum *values,
							const char *nulls, int expected);

/* A connection row as the C code needs it; strings palloc'd. */
typedef struct ZdConnection
{
	int32		id;
	char	   *subdomain;
	char	   *agent_email;
	bool		enabled;
	bytea	   *api_token_enc;	/* NULL after zd_disconnect */
} ZdConnection;

extern ZdConnection *zd_lookup_connection(const char *subdomain, bool missing_ok);

/* ---- the sync log (synclog.c) ---- */
typedef enum ZdLogLevel
{
	ZD_LOG_INFO,
	ZD_LOG_WARNING,
	ZD_LOG_ERROR
} ZdLogLevel;

extern void zd_log(ZdLogLevel level, int32 connection_id, int64 run_id,
				   const char *detail_json, const char *fmt,...)
			pg_attribute_printf(5, 6);

/* ---- secrets (secrets.c) ---- */
typedef enum ZdSecretPurpose
{
	ZD_SECRET_API_TOKEN,
	ZD_SECRET_WEBHOOK_TOKEN,
	ZD_SECRET_SIGNING_SECRET
} ZdSecretPurpose;

extern bytea *zd_encrypt_secret(ZdSecretPurpose purpose, const char *plain);
extern char *zd_decrypt_secret(ZdSecretPurpose purpose, const bytea *sealed);
extern char *zd_random_token(int nbytes);
extern bytea *zd_sha256_bytea(const char *data, size_t len);
extern void zd_hide_statement_text(const char *label);

/* ---- client matching (clients.c) ---- */
extern int64 zd_match_clients(const char *ticket_filter, int nargs, Oid *argtypes,
							  Datum *values, bool log_ambiguous);
extern void zd_match_clients_by_zendesk_ids(int32 connection_id, Datum zendesk_ids);

/* ---- input validation shared by SQL functions (connection.c) ---- */
extern char *zd_normalize_subdomain(const char *input);

#endif							/* CORSA_ZENDESK_H */
