/*-------------------------------------------------------------------------
 *
 * worker.h
 *		Interfaces of the per-database worker used by its task modules.
 *
 * src/worker.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef ZD_WORKER_H
#define ZD_WORKER_H

extern void zd_xact_begin(const char *activity);
extern void zd_xact_commit(void);
extern bool zd_worker_guarded(const char *task, void (*fn) (void *), void *arg);
extern void zd_worker_log_failure(const char *task, const char *message);
extern void zd_worker_recover(void *arg);

#endif							/* ZD_WORKER_H */
