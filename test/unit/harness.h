/*-------------------------------------------------------------------------
 *
 * harness.h
 *		A minimal test harness for the standalone unit tests (no external
 *		framework).  Test cases are registered with zt_add(); zt_main() runs
 *		each one in a forked child process, so that a sanitizer report, a
 *		crash or a leak (LeakSanitizer runs when the child exits) fails that
 *		case only, and prints one TAP line per case:
 *
 *			ok N - description
 *			not ok N - description
 *
 *		Diagnostics are "# ..." lines.  Environment:
 *			ZT_FIRST=N		number of the first case (default 1), so that
 *							several binaries can share one TAP stream
 *			ZT_NOFORK=1		run the cases in-process (for gdb)
 *			ZT_FILTER=text	run only the cases whose description contains text
 *			ZD_FIXTURES=dir	where the fixture JSON files are
 *
 * test/unit/harness.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef ZT_HARNESS_H
#define ZT_HARNESS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef void (*zt_fn) (const void *arg);

/* register a case; desc is copied (printf-style) */
extern void zt_add(zt_fn fn, const void *arg, const char *fmt,...)
			__attribute__((format(printf, 3, 4)));
extern int	zt_main(int argc, char **argv);

/* failure bookkeeping for the running case */
extern int	zt_failures;
extern void zt_fail(const char *file, int line, const char *fmt,...)
			__attribute__((format(printf, 3, 4)));
extern void zt_note(const char *fmt,...) __attribute__((format(printf, 1, 2)));

extern bool zt_check_str(const char *file, int line, const char *expr,
						 const char *got, const char *want);
extern bool zt_check_i64(const char *file, int line, const char *expr,
						 int64_t got, int64_t want);
extern bool zt_check_mem(const char *file, int line, const char *expr,
						 const void *got, const void *want, size_t len);

#define CHECK(cond) \
	do { if (!(cond)) zt_fail(__FILE__, __LINE__, "check failed: %s", #cond); } while (0)
/* strings; NULL is a value of its own (CHECK_STR(x, NULL) wants NULL) */
#define CHECK_STR(got, want) zt_check_str(__FILE__, __LINE__, #got, (got), (want))
#define CHECK_I64(got, want) zt_check_i64(__FILE__, __LINE__, #got, (int64_t) (got), (int64_t) (want))
#define CHECK_MEM(got, want, len) zt_check_mem(__FILE__, __LINE__, #got, (got), (want), (len))
/* stop the case when a precondition fails */
#define REQUIRE(cond) \
	do { if (!(cond)) { zt_fail(__FILE__, __LINE__, "required: %s", #cond); return; } } while (0)

/*
 * Buffers of exactly the given size on the heap, so that AddressSanitizer
 * sees any read or write past their end.
 */
extern char *zt_exact(const void *data, size_t len);	/* no NUL added */
extern char *zt_exact_str(const char *s);	/* strlen(s) + 1 bytes */

/* a fixture file, read into an exact-size buffer (no NUL); NULL on error */
extern char *zt_fixture(const char *name, size_t *len);

/* hex string -> bytes; returns the length */
extern size_t zt_unhex(const char *hex, unsigned char *out, size_t outlen);

#endif							/* ZT_HARNESS_H */
