/*-------------------------------------------------------------------------
 *
 * module.c
 *		Module entry point of corsa_zendesk: the settings (GUCs), and, when
 *		loaded through shared_preload_libraries, the shared memory request,
 *		the utility hooks and the launcher registration.
 *
 * Without preloading, every SQL function still works; the functions that
 * rely on the background worker say that it is not running.
 *
 * src/module.c
 *
 *-------------------------------------------------------------------------
 */
#include "corsa_zendesk.h"

#include <limits.h>

#include "miscadmin.h"
#include "utils/guc.h"

PG_MODULE_MAGIC;

bool		zd_enabled = true;
int			zd_poll_interval = 1800;
char	   *zd_webhook_base_url = NULL;
char	   *zd_api_base_url = NULL;
char	   *zd_secret_key_file = NULL;
int			zd_webhook_max_age = 3600;
int			zd_http_timeout = 30000;
int			zd_connect_timeout = 10000;
int			zd_max_concurrency = 4;
int			zd_max_attempts = 10;
int			zd_retry_max_delay = 300000;
int			zd_log_retention = 30 * 24 * 60;
int			zd_incremental_rate_limit = 10;
int			zd_launcher_naptime = 10;
int			zd_max_databases = 64;

bool		zd_preloaded = false;

void		_PG_init(void);

static void define_settings(void);

/*
 * _PG_init
 *		Define the settings in every process; the rest only while the
 *		postmaster preloads the library.
 */
void
_PG_init(void)
{
	define_settings();

	if (process_shared_preload_libraries_in_progress)
		DefineCustomIntVariable("corsa_zendesk.max_databases",
								"Maximum number of databases the launcher keeps track of.",
								"Each database that accepts connections takes one entry.",
								&zd_max_databases,
								64, 1, 4096,
								PGC_POSTMASTER,
								0,
								NULL, NULL, NULL);

	MarkGUCPrefixReserved("corsa_zendesk");

	if (!process_shared_preload_libraries_in_progress)
		return;

	zd_preloaded = true;

	/* pg_upgrade starts the server with our library but needs no worker */
	if (IsBinaryUpgrade)
		return;

	zd_shmem_init_hooks();
	zd_install_utility_hooks();
	zd_register_launcher();
}

/*
 * define_settings
 *		The corsa_zendesk.* settings other than those fixed at server start.
 */
static void
define_settings(void)
{
	DefineCustomBoolVariable("corsa_zendesk.enabled",
							 "Runs the background workers that poll and push.",
							 "When off, the launcher stops every worker; SQL functions, "
							 "webhook ingestion among them, keep working.",
							 &zd_enabled,
							 true,
							 PGC_SIGHUP,
							 0,
							 NULL, NULL, NULL);

	DefineCustomIntVariable("corsa_zendesk.poll_interval",
							"Time between two incremental polls of a Zendesk account.",
							"0 disables the scheduled polls; zd_poll_now() still works.",
							&zd_poll_interval,
							1800, 0, INT_MAX / 1000,
							PGC_SIGHUP,
							GUC_UNIT_S,
							NULL, NULL, NULL);

	DefineCustomStringVariable("corsa_zendesk.webhook_base_url",
							   "Base of the URL Zendesk's webhook must call.",
							   "zd_configure returns this URL followed by \"/\" and the subdomain.",
							   &zd_webhook_base_url,
							   "",
							   PGC_SUSET,
							   0,
							   NULL, NULL, NULL);

	DefineCustomStringVariable("corsa_zendesk.api_base_url",
							   "Overrides https://SUBDOMAIN.zendesk.com as the Zendesk API address.",
							   "For tests and the bundled simulator; plain http is only possible here.",
							   &zd_api_base_url,
							   "",
							   PGC_SIGHUP,
							   GUC_SUPERUSER_ONLY,
							   NULL, NULL, NULL);

	DefineCustomStringVariable("corsa_zendesk.secret_key_file",
							   "File holding the key that encrypts stored credentials.",
							   "32 random bytes as 64 hexadecimal characters. When empty, "
							   "corsa_zendesk.key in the data directory is used and created if missing.",
							   &zd_secret_key_file,
							   "",
							   PGC_SIGHUP,
							   GUC_SUPERUSER_ONLY,
							   NULL, NULL, NULL);

	DefineCustomIntVariable("corsa_zendesk.webhook_max_age",
							"Oldest signature timestamp zd_ingest_webhook accepts.",
							"Applies only when a signing secret is set.",
							&zd_webhook_max_age,
							3600, 1, INT_MAX,
							PGC_SUSET,
							GUC_UNIT_S,
							NULL, NULL, NULL);

	DefineCustomIntVariable("corsa_zendesk.http_timeout",
							"Total time allowed for one request to Zendesk.",
							NULL,
							&zd_http_timeout,
							30000, 100, INT_MAX,
							PGC_SUSET,
							GUC_UNIT_MS,
							NULL, NULL, NULL);

	DefineCustomIntVariable("corsa_zendesk.connect_timeout",
							"Time allowed to open a connection to Zendesk.",
							NULL,
							&zd_connect_timeout,
							10000, 100, INT_MAX,
							PGC_SUSET,
							GUC_UNIT_MS,
							NULL, NULL, NULL);

	DefineCustomIntVariable("corsa_zendesk.max_concurrency",
							"Requests in flight at once per Zendesk account.",
							NULL,
							&zd_max_concurrency,
							4, 1, 64,
							PGC_SIGHUP,
							0,
							NULL, NULL, NULL);

	DefineCustomIntVariable("corsa_zendesk.max_attempts",
							"Attempts before a push is dead-lettered.",
							"Errors that cannot succeed on retry are dead-lettered at once.",
							&zd_max_attempts,
							10, 1, 1000,
							PGC_SIGHUP,
							0,
							NULL, NULL, NULL);

	DefineCustomIntVariable("corsa_zendesk.retry_max_delay",
							"Longest wait before retrying a failed request to Zendesk.",
							"The wait doubles with each attempt, from one second up to this.",
							&zd_retry_max_delay,
							300000, 1000, INT_MAX,
							PGC_SIGHUP,
							GUC_UNIT_MS,
							NULL, NULL, NULL);

	DefineCustomIntVariable("corsa_zendesk.log_retention",
							"How long zd_sync_log entries, finished runs and webhook event ids are kept.",
							"0 keeps them forever.",
							&zd_log_retention,
							30 * 24 * 60, 0, INT_MAX,
							PGC_SIGHUP,
							GUC_UNIT_MIN,
							NULL, NULL, NULL);

	DefineCustomIntVariable("corsa_zendesk.incremental_rate_limit",
							"Requests per minute allowed on Zendesk's incremental export endpoints.",
							"10 on standard plans, 30 with the High Volume API add-on.",
							&zd_incremental_rate_limit,
							10, 1, 100000,
							PGC_SIGHUP,
							0,
							NULL, NULL, NULL);

	DefineCustomIntVariable("corsa_zendesk.launcher_naptime",
							"Time between two scans of pg_database by the launcher.",
							NULL,
							&zd_launcher_naptime,
							10, 1, 3600,
							PGC_SIGHUP,
							GUC_UNIT_S,
							NULL, NULL, NULL);
}
