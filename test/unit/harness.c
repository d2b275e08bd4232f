/*-------------------------------------------------------------------------
 *
 * harness.c
 *		The unit-test harness (see harness.h).
 *
 * test/unit/harness.c
 *
 *-------------------------------------------------------------------------
 */
#include "harness.h"

#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#define ZT_MAX_CASES	2000
#define ZT_TIMEOUT_S	60

typedef struct ZtCase
{
	zt_fn		fn;
	const void *arg;
	char	   *desc;
} ZtCase;

static ZtCase cases[ZT_MAX_CASES];
static int	ncases = 0;

int			zt_failures = 0;

void
zt_add(zt_fn fn, const void *arg, const char *fmt,...)
{
	va_list		ap;
	char		buf[512];
	size_t		i;

	if (ncases >= ZT_MAX_CASES)
	{
		fprintf(stderr, "too many test cases\n");
		exit(2);
	}
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	/* one line per case: control characters would break the TAP stream */
	for (i = 0; buf[i] != '\0'; i++)
	{
		if ((unsigned char) buf[i] < 0x20 || buf[i] == 0x7f)
			buf[i] = '?';
	}
	cases[ncases].fn = fn;
	cases[ncases].arg = arg;
	cases[ncases].desc = strdup(buf);
	if (cases[ncases].desc == NULL)
		exit(2);
	ncases++;
}

void
zt_note(const char *fmt,...)
{
	va_list		ap;

	fputs("# ", stdout);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	fputc('\n', stdout);
	fflush(stdout);
}

void
zt_fail(const char *file, int line, const char *fmt,...)
{
	va_list		ap;

	zt_failures++;
	printf("#   %s:%d: ", file, line);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	fputc('\n', stdout);
	fflush(stdout);
}

/* print a string for a diagnostic, escaping what is not printable ASCII */
static void
print_quoted(const char *s)
{
	if (s == NULL)
	{
		fputs("NULL", stdout);
		return;
	}
	fputc('"', stdout);
	for (; *s; s++)
	{
		unsigned char c = (unsigned char) *s;

		if (c < 0x20 || c >= 0x7f || c == '"' || c == '\\')
			printf("\\x%02x", c);
		else
			fputc(c, stdout);
	}
	fputc('"', stdout);
}

bool
zt_check_str(const char *file, int line, const char *expr,
			 const char *got, const char *want)
{
	if ((got == NULL && want == NULL) ||
		(got != NULL && want != NULL && strcmp(got, want) == 0))
		return true;
	zt_failures++;
	printf("#   %s:%d: %s\n#     got:  ", file, line, expr);
	print_quoted(got);
	printf("\n#     want: ");
	print_quoted(want);
	printf("\n");
	fflush(stdout);
	return false;
}

bool
zt_check_i64(const char *file, int line, const char *expr, int64_t got, int64_t want)
{
	if (got == want)
		return true;
	zt_failures++;
	printf("#   %s:%d: %s\n#     got:  %" PRId64 "\n#     want: %" PRId64 "\n",
		   file, line, expr, got, want);
	fflush(stdout);
	return false;
}

bool
zt_check_mem(const char *file, int line, const char *expr,
			 const void *got, const void *want, size_t len)
{
	size_t		i;

	if (memcmp(got, want, len) == 0)
		return true;
	zt_failures++;
	printf("#   %s:%d: %s differs\n#     got:  ", file, line, expr);
	for (i = 0; i < len; i++)
		printf("%02x", ((const unsigned char *) got)[i]);
	printf("\n#     want: ");
	for (i = 0; i < len; i++)
		printf("%02x", ((const unsigned char *) want)[i]);
	printf("\n");
	fflush(stdout);
	return false;
}

char *
zt_exact(const void *data, size_t len)
{
	/* malloc(0) may return NULL; one byte is still "exact" for len 0 reads */
	char	   *p = malloc(len > 0 ? len : 1);

	if (p == NULL)
	{
		perror("malloc");
		exit(2);
	}
	if (len > 0)
		memcpy(p, data, len);
	return p;
}

char *
zt_exact_str(const char *s)
{
	return zt_exact(s, strlen(s) + 1);
}

char *
zt_fixture(const char *name, size_t *len)
{
	const char *dir = getenv("ZD_FIXTURES");
	char		path[4096];
	FILE	   *f;
	long		size;
	char	   *buf;

	*len = 0;
	if (dir == NULL || dir[0] == '\0')
		dir = "../fuzz/corpus";
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "rb");
	if (f == NULL)
	{
		zt_fail(__FILE__, __LINE__, "cannot open fixture %s: %s", path, strerror(errno));
		return NULL;
	}
	if (fseek(f, 0, SEEK_END) != 0 || (size = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) != 0)
	{
		zt_fail(__FILE__, __LINE__, "cannot size fixture %s", path);
		fclose(f);
		return NULL;
	}
	buf = malloc(size > 0 ? (size_t) size : 1);
	if (buf == NULL || fread(buf, 1, (size_t) size, f) != (size_t) size)
	{
		zt_fail(__FILE__, __LINE__, "cannot read fixture %s", path);
		free(buf);
		fclose(f);
		return NULL;
	}
	fclose(f);
	*len = (size_t) size;
	return buf;
}

size_t
zt_unhex(const char *hex, unsigned char *out, size_t outlen)
{
	size_t		n = 0;

	while (hex[0] && hex[1] && n < outlen)
	{
		unsigned int v;

		if (sscanf(hex, "%2x", &v) != 1)
			break;
		out[n++] = (unsigned char) v;
		hex += 2;
	}
	return n;
}

static void
run_in_process(const ZtCase *c)
{
	zt_failures = 0;
	c->fn(c->arg);
}

int
zt_main(int argc, char **argv)
{
	const char *first_s = getenv("ZT_FIRST");
	const char *filter = getenv("ZT_FILTER");
	bool		nofork = getenv("ZT_NOFORK") != NULL && strcmp(getenv("ZT_NOFORK"), "0") != 0;
	int			number = first_s ? atoi(first_s) : 1;
	int			failed = 0;
	int			ran = 0;
	int			i;

	(void) argc;
	(void) argv;
	setvbuf(stdout, NULL, _IOLBF, 0);

	for (i = 0; i < ncases; i++)
	{
		const ZtCase *c = &cases[i];
		bool		ok;

		if (filter != NULL && filter[0] != '\0' && strstr(c->desc, filter) == NULL)
			continue;
		ran++;
		fflush(stdout);
		fflush(stderr);
		if (nofork)
		{
			run_in_process(c);
			ok = (zt_failures == 0);
		}
		else
		{
			pid_t		pid = fork();
			int			status;

			if (pid < 0)
			{
				perror("fork");
				return 2;
			}
			if (pid == 0)
			{
				alarm(ZT_TIMEOUT_S);
				run_in_process(c);
				fflush(stdout);
				/* exit(), not _exit(): LeakSanitizer checks at exit */
				exit(zt_failures == 0 ? 0 : 1);
			}
			while (waitpid(pid, &status, 0) < 0)
			{
				if (errno != EINTR)
				{
					perror("waitpid");
					return 2;
				}
			}
			ok = WIFEXITED(status) && WEXITSTATUS(status) == 0;
			if (WIFSIGNALED(status))
				printf("#   killed by signal %d%s\n", WTERMSIG(status),
					   WTERMSIG(status) == SIGALRM ? " (timeout)" : "");
			else if (WIFEXITED(status) && WEXITSTATUS(status) > 1)
				printf("#   exit status %d (a sanitizer report, see above)\n",
					   WEXITSTATUS(status));
		}
		printf("%sok %d - %s\n", ok ? "" : "not ", number, c->desc);
		fflush(stdout);
		if (!ok)
			failed++;
		number++;
	}
	printf("# %d cases, %d failed\n", ran, failed);

	for (i = 0; i < ncases; i++)
		free(cases[i].desc);
	return failed == 0 ? 0 : 1;
}
