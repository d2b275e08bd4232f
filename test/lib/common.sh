# test/lib/common.sh: set-up shared by test/run_all.sh, test/demo.sh and
# test/bench/run.sh.  Sourced, not run.
#
# Everything runs from a fresh clone, as root, on a machine that may be
# brand new: the Debian packages are installed when missing, the tree is
# copied to a scratch folder the postgres user owns (PostgreSQL refuses to
# run as root, and the clone's parent folders may be closed to postgres),
# built there as postgres and installed as root.

PG_BIN=/usr/lib/postgresql/15/bin
PG_CONFIG=$PG_BIN/pg_config
PYTHON=/usr/bin/python3
ZD_PACKAGES="postgresql-15 postgresql-client-15 postgresql-server-dev-15 \
libcurl4-openssl-dev libjson-c-dev libssl-dev libipc-run-perl make gcc python3 procps"

zd_say() { printf '\n=== %s\n' "$*"; }

zd_require_root() {
	if [ "$(id -u)" -ne 0 ]; then
		echo "run this as root: it installs packages and then runs PostgreSQL as the postgres user" >&2
		exit 2
	fi
}

# Install the Debian packages that are missing (extra ones as arguments).
zd_install_packages() {
	local pkgs="$ZD_PACKAGES $*"
	# shellcheck disable=SC2086
	if ! dpkg -s $pkgs >/dev/null 2>&1; then
		zd_say "installing Debian packages"
		export DEBIAN_FRONTEND=noninteractive
		apt-get update -qq
		# shellcheck disable=SC2086
		apt-get install -y -qq --no-install-recommends $pkgs >/dev/null
	fi
}

# Copy the source tree to a new scratch folder owned by postgres; prints it.
zd_stage_copy() {
	local src=$1 dest
	dest=$(mktemp -d /tmp/corsa_zendesk.XXXXXX)
	chmod 755 "$dest"
	(cd "$src" && tar --exclude=.git --exclude='*.o' --exclude='*.so' \
		--exclude=tmp_check --exclude=tmp_check_regress --exclude=tmp_check_iso \
		--exclude=results --exclude=output_iso --exclude=log --exclude=./test/fuzz/build -cf - .) | (cd "$dest" && tar -xf -)
	chown -R postgres:postgres "$dest"
	echo "$dest"
}

# Run a command as postgres with a clean, predictable environment.
as_pg() {
	runuser -u postgres -- env PATH=$PG_BIN:/usr/local/bin:/usr/bin:/bin \
		HOME=/var/lib/postgresql LANG=C.UTF-8 PG_TEST_TIMEOUT_DEFAULT=60 "$@"
}

# Build as postgres (warnings are errors for our files), install as root.
zd_build_and_install() {
	local dir=$1
	zd_say "building corsa_zendesk"
	(cd "$dir" && as_pg make -s PG_CONFIG=$PG_CONFIG) || return 1
	(cd "$dir" && make -s PG_CONFIG=$PG_CONFIG install >/dev/null) || return 1
}

# Stop PostgreSQL servers a killed test run may have left in a folder.
zd_stop_leftover_servers() {
	local dir=$1 pidfile
	for pidfile in "$dir"/tmp_check*/data/postmaster.pid "$dir"/tmp_check/t_*_data/pgdata/postmaster.pid; do
		[ -f "$pidfile" ] || continue
		as_pg $PG_BIN/pg_ctl -D "$(dirname "$pidfile")" stop -m immediate >/dev/null 2>&1 || true
	done
}
