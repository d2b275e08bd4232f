# Makefile for corsa_zendesk (PGXS)
#
#   make                 build the module
#   make install         install into the PostgreSQL named by PG_CONFIG (as root)
#   make installcheck    pg_regress, isolation and TAP suites on temporary servers
#
# The whole test run (packages, build, simulator tests, every suite, summary
# line) is test/run_all.sh; see README.md.

EXTENSION  = corsa_zendesk
EXTVERSION = 1.0
MODULE_big = corsa_zendesk
PGFILEDESC = "corsa_zendesk - two-way sync of Zendesk Support tickets"

OBJS = \
	src/module.o \
	src/shmem.o \
	src/wake.o \
	src/launcher.o \
	src/worker.o \
	src/utility_hook.o \
	src/http.o \
	src/ratelimit.o \
	src/zendesk_client.o \
	src/crypto.o \
	src/secrets.o \
	src/catalog.o \
	src/synclog.o \
	src/zd_json.o \
	src/zd_request_json.o \
	src/connection.o \
	src/clients.o \
	src/store.o \
	src/direct.o \
	src/store_direct.o \
	src/pull.o \
	src/runs.o \
	src/webhook.o \
	src/queue.o \
	src/push.o \
	src/push_record.o

DATA = sql/$(EXTENSION)--$(EXTVERSION).sql

# Our own files build warning-free; -Werror goes to gcc only (PG_CFLAGS),
# never to the bitcode compile.
PG_CFLAGS  = -Wall -Wextra -Wno-unused-parameter -Wno-missing-field-initializers -Werror
SHLIB_LINK = -lcurl -ljson-c -lcrypto

# pg_regress: inputs are sql/<test>.sql (all but the install scripts),
# expected outputs in expected/.
REGRESS      = $(sort $(patsubst sql/%.sql,%,$(filter-out sql/$(EXTENSION)--%,$(wildcard sql/*.sql))))
REGRESS_OPTS = --temp-instance=$(CURDIR)/tmp_check_regress \
	--temp-config=$(srcdir)/test/regress.conf

# Isolation specs live in test/specs, their expected output in test/expected.
ISOLATION      = $(sort $(patsubst test/specs/%.spec,%,$(wildcard test/specs/*.spec)))
ISOLATION_OPTS = --inputdir=$(srcdir)/test --temp-instance=$(CURDIR)/tmp_check_iso \
	--temp-config=$(srcdir)/test/regress.conf

TAP_TESTS   = 1
PROVE_TESTS = $(sort $(wildcard test/t/*.pl))

EXTRA_CLEAN = tmp_check_regress tmp_check_iso output_iso test/fuzz/build

# No LLVM bitcode: nothing here benefits from JIT inlining.
override with_llvm = no

PG_CONFIG ?= /usr/lib/postgresql/15/bin/pg_config
PGXS := $(shell $(PG_CONFIG) --pgxs)
include $(PGXS)

# The TAP helper module (test/perl/CorsaTest.pm).
PG_PROVE_FLAGS += -I $(srcdir)/test/perl

# every object depends on every header (they are few and small)
$(OBJS): $(wildcard $(srcdir)/src/*.h)
