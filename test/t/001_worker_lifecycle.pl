# The background worker's lifecycle: a launcher, one worker per database
# where the extension is created (no database-name setting), visible in
# pg_stat_activity; CREATE EXTENSION starts one at commit, DROP EXTENSION
# stops it; killed workers come back, also after a crash restart; DROP
# DATABASE, ALTER DATABASE ... RENAME and CREATE DATABASE ... TEMPLATE are
# not blocked by a worker; the corsa_zendesk.enabled switch; and, without
# shared_preload_libraries, the SQL functions still work and say that no
# worker runs.
use strict;
use warnings;

use FindBin;
use lib "$FindBin::RealBin/../perl";
use CorsaTest;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time);

# a long launcher naptime: new databases must be found through the wake-up
# that CREATE EXTENSION sends at commit, not through the periodic scan
my $node = corsa_node('main',
	conf => "corsa_zendesk.launcher_naptime = 300\nrestart_after_crash = on\n");
$node->start;

ok( $node->poll_query_until('postgres',
		"SELECT count(*) = 1 FROM pg_stat_activity WHERE backend_type = 'corsa_zendesk launcher'"),
	'the launcher shows in pg_stat_activity');

$node->safe_psql('postgres', 'CREATE DATABASE db1');
$node->safe_psql('postgres', 'CREATE DATABASE db2');
$node->safe_psql('postgres', 'CREATE DATABASE plain');
$node->safe_psql('db1', 'CREATE EXTENSION corsa_zendesk');
$node->safe_psql('db2', 'CREATE EXTENSION corsa_zendesk');

my $t0 = time();
ok(wait_until(sub { join(',', sort keys %{ worker_pids($node) }) eq 'db1,db2' }, 10),
	'a worker runs in each database with the extension, none elsewhere');
cmp_ok(time() - $t0, '<', 5, 'workers start at CREATE EXTENSION commit, not at the next scan');

is( $node->safe_psql('db1',
		"SELECT application_name || ' / ' || state FROM pg_stat_activity "
		  . "WHERE backend_type = 'corsa_zendesk worker' AND datname = current_database()"),
	'corsa_zendesk worker / idle',
	'the worker reports its name and state');
is($node->safe_psql('db1', 'SELECT zd_worker_pid()'),
	worker_pids($node)->{db1}, 'zd_worker_pid() names the worker of the current database');
is($node->safe_psql('plain', "SELECT count(*) FROM pg_stat_activity WHERE datname = 'plain' "
	  . "AND backend_type = 'corsa_zendesk worker'"),
	'0', 'the probe worker of a database without the extension is gone');

# a rolled-back CREATE EXTENSION starts nothing
$node->safe_psql('plain', 'BEGIN; CREATE EXTENSION corsa_zendesk; ROLLBACK;');
sleep 1;
ok(!exists worker_pids($node)->{plain}, 'a rolled-back CREATE EXTENSION starts no worker');

# DROP EXTENSION stops that database's worker only
my $db1_pid = worker_pids($node)->{db1};
$node->safe_psql('db2', 'DROP EXTENSION corsa_zendesk');
ok(wait_until(sub { !exists worker_pids($node)->{db2} }, 10),
	'DROP EXTENSION stops the worker of that database');
is(worker_pids($node)->{db1}, $db1_pid, 'the other database keeps its worker');
$node->safe_psql('db2', 'CREATE EXTENSION corsa_zendesk');
ok(wait_until(sub { exists worker_pids($node)->{db2} }, 10),
	'CREATE EXTENSION again brings it back');

# a terminated worker comes back
$node->safe_psql('postgres', "SELECT pg_terminate_backend($db1_pid)");
ok( wait_until(
		sub { my $p = worker_pids($node)->{db1}; defined $p && $p != $db1_pid },
		15),
	'a terminated worker is restarted');

# SIGKILL: the postmaster restarts every process; the workers come back
my $victim = worker_pids($node)->{db2};
my $log_offset = -s $node->logfile;
kill 'KILL', $victim;
ok(wait_until(sub {
		my $p = eval { worker_pids($node) } // {};
		defined $p->{db2} && $p->{db2} != $victim && defined $p->{db1}
	}, 60),
	'after a crash restart both workers run again');
ok($node->log_contains('terminated by signal 9', $log_offset),
	'the postmaster saw the crash');

# the switch
$node->append_conf('postgresql.conf', "corsa_zendesk.enabled = off\n");
$node->reload;
ok(wait_until(sub { !%{ worker_pids($node) } }, 15),
	'corsa_zendesk.enabled = off stops the workers');
$node->append_conf('postgresql.conf', "corsa_zendesk.enabled = on\n");
$node->reload;
ok(wait_until(sub { join(',', sort keys %{ worker_pids($node) }) eq 'db1,db2' }, 15),
	'switching it on again restarts them');

# commands that need the database to themselves are not blocked
$node->safe_psql('postgres', 'CREATE DATABASE dropme');
$node->safe_psql('dropme', 'CREATE EXTENSION corsa_zendesk');
ok(wait_until(sub { exists worker_pids($node)->{dropme} }, 10), 'worker in dropme');
$t0 = time();
my ($rc, $out, $err) = $node->psql('postgres', 'DROP DATABASE dropme');
is($rc, 0, 'DROP DATABASE succeeds while a worker is attached')
  or diag $err;
cmp_ok(time() - $t0, '<', 5, 'and does not wait for long');

$node->safe_psql('postgres', 'CREATE DATABASE forceme');
$node->safe_psql('forceme', 'CREATE EXTENSION corsa_zendesk');
ok(wait_until(sub { exists worker_pids($node)->{forceme} }, 10), 'worker in forceme');
($rc, $out, $err) = $node->psql('postgres', 'DROP DATABASE forceme WITH (FORCE)');
is($rc, 0, 'DROP DATABASE ... WITH (FORCE) succeeds') or diag $err;

($rc, $out, $err) = $node->psql('postgres', 'ALTER DATABASE db2 RENAME TO db2b');
is($rc, 0, 'ALTER DATABASE ... RENAME succeeds while a worker is attached') or diag $err;
ok(wait_until(sub { exists worker_pids($node)->{db2b} }, 15),
	'the renamed database gets its worker back');

($rc, $out, $err) = $node->psql('postgres', 'CREATE DATABASE copy1 TEMPLATE db1');
is($rc, 0, 'CREATE DATABASE ... TEMPLATE succeeds while the template has a worker') or diag $err;
ok(wait_until(sub { exists worker_pids($node)->{db1} }, 15),
	'the template database gets its worker back');
# the copy has the extension: the periodic scan finds it
$node->append_conf('postgresql.conf', "corsa_zendesk.launcher_naptime = 1\n");
$node->reload;
ok(wait_until(sub { exists worker_pids($node)->{copy1} }, 15),
	'a database created from a template with the extension gets a worker');

# a terminated launcher comes back and takes the workers over
my $launcher = launcher_pid($node);
$node->safe_psql('postgres', "SELECT pg_terminate_backend($launcher)");
ok( wait_until(
		sub { my $p = launcher_pid($node); $p ne '' && $p != $launcher },
		30),
	'a terminated launcher is restarted');
ok(wait_until(sub { join(',', sort keys %{ worker_pids($node) }) eq 'copy1,db1,db2b' }, 30),
	'and the workers run under the new launcher');

$node->stop;

# without shared_preload_libraries the SQL functions work and say so
my $bare = corsa_node('bare', preload => 0);
$bare->start;
$bare->safe_psql('postgres', 'CREATE EXTENSION corsa_zendesk');
($rc, $out, $err) = $bare->psql('postgres',
	"SELECT import_run_id IS NOT NULL FROM zd_configure('acme', 'admin\@acme.example', 'tok', false)");
is($out, 't', 'zd_configure works without preloading');
like($err, qr/background worker is not running, so the historical import will not start/,
	'and warns that no worker will run the import');
like($err, qr/Add corsa_zendesk to shared_preload_libraries/, 'with a hint');
is($bare->safe_psql('postgres', 'SELECT worker_running FROM zd_sync_status'),
	'f', 'zd_sync_status shows no worker');
$bare->stop;

done_testing();
