# push.pl: the push path benchmark (issue 4), three figures in one run.
#
# 1. Commit -> request latency.  One session inserts tickets one by one
#    (autocommit), 20 ms apart; each INSERT returns clock_timestamp(), taken
#    just before its commit.  The simulator logs when each ticket's
#    POST /tickets arrived (matched by its Idempotency-Key, which names the
#    ticket).  Latency = arrival - that timestamp: an upper bound, since the
#    commit comes a little after.  Goals: p50 <= 10 ms, p99 <= 100 ms.
# 2. INSERT cost of the triggers.  pgbench (1 client, prepared) inserts
#    20,000 single tickets into zd_tickets with the queue trigger, then with it
#    disabled (ALTER TABLE ... DISABLE TRIGGER), alternating, 3 rounds each,
#    medians; the connection is disconnected there so that the worker
#    pushes nothing meanwhile.  Goal: <= 1.2x.  A bulk INSERT of 20,000
#    rows in one statement, both ways, is given for information.
# 3. Push throughput.  The simulator answers every request after 100 ms
#    and allows 6,000 requests a minute (sliding).  14,000 tickets are
#    inserted in one transaction, once the previous parts' requests have
#    left the window, and the worker pushes them as fast as it is allowed.
#    The rate is the number of requests that arrived in the two minutes
#    after the first one, divided by 120 s, as a share of the limit's bound
#    (6,000/min = 100 requests/s).  Goal: >= 90 %.  Two whole windows are
#    counted because a sliding window lets a minute's allowance go at once:
#    any shorter run can beat 100/s.  The worker's own window counts 61 s
#    (a second of margin), so the best it can reach is about 98 %.
#    corsa_zendesk.max_concurrency is 16 here: 16 requests in flight could
#    carry 160/s, so the limit is what binds; with the default 4 in flight,
#    100 ms per request cannot exceed 40/s.
#
# BENCH_PUSH_LATENCY_N (300), BENCH_PUSH_BULK (14000) are for trying things
# out; the figures that count use the defaults.
use strict;
use warnings;

use FindBin;
use lib "$FindBin::RealBin/../perl", $FindBin::RealBin;
use BenchLib;
use CorsaTest;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time usleep);

bench_name('push');

my $LATENCY_N = $ENV{BENCH_PUSH_LATENCY_N} // 300;
my $BULK = $ENV{BENCH_PUSH_BULK} // 14000;
my $ROUNDS = 3;
my $PGBENCH_TX = 20000;

my ($sim, $node, $psql);
END
{
	my $rc = $?;
	eval { $psql->quit if $psql; };
	eval { $node->stop('fast') if $node && defined $node->{_pid}; };
	eval { $sim->stop if $sim; };
	$? = $rc;
}

sub percentile
{
	my ($p, @v) = @_;
	@v = sort { $a <=> $b } @v;
	my $i = int($p / 100 * $#v + 0.5);
	return $v[$i];
}

$sim = start_simulator(name => 'push_simulator');
$sim->post('/_sim/config', { rate_limit_per_min => 100000 });
$node = corsa_node('push', sim => $sim,
	conf => "corsa_zendesk.poll_interval = 0\nlog_statement = none\n"
	  . "corsa_zendesk.max_concurrency = 16\n");
$node->start;
$node->safe_psql('postgres', 'CREATE EXTENSION corsa_zendesk');
my $import = $node->safe_psql('postgres',
	"SELECT import_run_id FROM zd_configure('acme', 'admin\@acme.example', 'sim-admin-token')");
is(wait_for_run($node, $import), 'succeeded', 'the (empty) account is imported');

sub wait_drained
{
	my ($timeout) = @_;
	return wait_until(sub {
			$node->safe_psql('postgres',
				"SELECT count(*) FROM zd_outbox WHERE state IN ('pending', 'in_flight')") eq '0';
		}, $timeout // 300);
}

# --- 1. commit -> request latency ----------------------------------------------------------
bench_note("latency: $LATENCY_N tickets, one per transaction, 20 ms apart");
$psql = BenchLib::Psql->new($node, 'postgres');
my $since = $sim->last_request_seq;
my %committed;
for my $i (1 .. $LATENCY_N)
{
	my ($id, $at) = split /\|/, $psql->query(
		"INSERT INTO zd_tickets (subject, description, requester_email) "
		  . "VALUES ('latency $i', 'How fast?', 'lat$i\@example.org') "
		  . "RETURNING id, extract(epoch FROM clock_timestamp())");
	$committed{$id} = $at;
	usleep(20_000);
}
ok(wait_drained(), 'latency: every ticket was pushed');
my $latency_end = time();
my @latency_ms;
for my $r (@{ $sim->requests($since) })
{
	next unless ($r->{idempotency_key} // '') =~ /-ticket-(\d+)$/ && exists $committed{$1};
	push @latency_ms, 1000 * ($r->{time} - delete $committed{$1});
}
is(scalar(keys %committed), 0, 'latency: each ticket\'s request was found in the simulator\'s log');

# --- 2. INSERT cost of the triggers ---------------------------------------------------------
bench_note('trigger cost: pgbench, single-row INSERTs, with and without the queue trigger');
$node->safe_psql('postgres', q{
	CREATE DATABASE trig;
});
$node->safe_psql('trig', q{
	CREATE EXTENSION corsa_zendesk;
	SET client_min_messages = warning;
	SELECT zd_configure('acme', 'admin@acme.example', 'sim-admin-token', false);
	SELECT zd_disconnect('acme');
});
my $dir = PostgreSQL::Test::Utils::tempdir();
open(my $s, '>', "$dir/insert.sql") or die;
print $s "INSERT INTO zd_tickets (connection_id, subject, description, requester_email) "
  . "VALUES (1, 'bench', 'A question', 'bench\@example.org');\n";
close $s;

# the connection string is pgbench's last argument (its -d is --debug)
# rows per second, and the server's CPU microseconds per row (every
# process: the backend, the worker it wakes, the WAL writer)
sub pgbench_tps
{
	my $worker = CorsaTest::worker_pids($node)->{trig} or die "no worker for database trig";
	my $worker_cpu0 = proc_cpu_seconds($worker);
	my $cpu0 = server_cpu_seconds($node);
	my ($out, $err) = run_command([ 'pgbench', '-n', '-M', 'prepared', '-c', 1, '-t', $PGBENCH_TX,
		'-f', "$dir/insert.sql", $node->connstr('trig') ]);
	my ($tps) = $out =~ /tps = ([\d.]+) \(without initial connection time\)/;
	die "pgbench failed:\n$out\n$err" unless $tps;
	usleep(300_000);	# the backend has ended and been reaped
	return ($tps, (server_cpu_seconds($node) - $cpu0) * 1e6 / $PGBENCH_TX,
		(proc_cpu_seconds($worker) - $worker_cpu0) * 1e6 / $PGBENCH_TX);
}

sub set_trigger
{
	my ($on) = @_;
	$node->safe_psql('trig', 'ALTER TABLE zd_tickets ' . ($on ? 'ENABLE' : 'DISABLE')
		  . ' TRIGGER zd_tickets_enqueue_create; TRUNCATE zd_outbox, zd_replies, zd_tickets; CHECKPOINT');
	wait_for_quiet($node);
	return;
}

my (@with, @without, @cpu_with, @cpu_without, @worker_with, @worker_without, @bulk_with,
	@bulk_without);
for my $round (1 .. $ROUNDS)
{
	for my $on (1, 0)
	{
		set_trigger($on);
		my ($tps, $cpu_us, $worker_us) = pgbench_tps();
		push @{ $on ? \@with : \@without }, $tps;
		push @{ $on ? \@cpu_with : \@cpu_without }, $cpu_us;
		push @{ $on ? \@worker_with : \@worker_without }, $worker_us;
		set_trigger($on);
		my ($secs) = bench_time(sub {
			$node->safe_psql('trig', "INSERT INTO zd_tickets (connection_id, subject, description, requester_email) "
				  . "SELECT 1, 'bulk ' || g, 'A question', 'bulk\@example.org' FROM generate_series(1, 20000) g");
		});
		push @{ $on ? \@bulk_with : \@bulk_without }, $secs;
	}
	bench_note(sprintf('round %d: %.0f INSERT/s with the trigger, %.0f without; '
		  . 'server CPU per row %.1f us with (worker %.1f), %.1f us without (worker %.1f)', $round,
		$with[-1], $without[-1], $cpu_with[-1], $worker_with[-1], $cpu_without[-1],
		$worker_without[-1]));
}
is($node->safe_psql('trig', 'SELECT count(*) FROM zd_outbox'), '0', 'the last round ran without the trigger');
set_trigger(1);
$node->safe_psql('trig', "INSERT INTO zd_tickets (connection_id, subject) VALUES (1, 'x')");
is($node->safe_psql('trig', 'SELECT count(*) FROM zd_outbox'), '1', 'and with it, an INSERT is queued');

# --- 3. throughput against 100 ms latency and 6,000 requests a minute ------------------------
bench_note("throughput: $BULK tickets in one transaction; 100 ms per request, 6,000 a minute");
$sim->post('/_sim/config', { latency_ms => 100, rate_limit_per_min => 6000 });
# let the worker learn the limit from a first answer
$node->safe_psql('postgres', "INSERT INTO zd_tickets (subject, description, requester_email) "
	  . "VALUES ('warm-up', 'x', 'warm\@example.org')");
ok(wait_drained(), 'throughput: the warm-up ticket was pushed');
# the latency part's requests out of the worker's 61-second window
my $wait = 62 - (time() - $latency_end);
sleep($wait) if $wait > 0;
$since = $sim->last_request_seq;
$psql->query(
	"INSERT INTO zd_tickets (subject, description, requester_email) "
	  . "SELECT 'bulk ' || g, 'Bulk question', 'bulk' || g || '\@example.org' "
	  . "FROM generate_series(1, $BULK) g; SELECT extract(epoch FROM clock_timestamp())");
ok(wait_drained(900), "throughput: $BULK tickets pushed");
my @log = grep { $_->{method} eq 'POST' } @{ $sim->requests($since) };
my @created = grep { ($_->{status} // 0) == 201 } @log;
is(scalar(@created), $BULK, "throughput: $BULK tickets created, once each");
my ($first) = sort { $a <=> $b } map { $_->{time} } @log;
my ($last) = sort { $b <=> $a } map { $_->{time} } @log;
ok($last - $first > 120, sprintf('throughput: the run lasted %.0f s, past the two windows counted',
	$last - $first));
my $in_windows = grep { $_->{time} < $first + 120 } @log;
my $rate = $in_windows / 120;
my $elapsed = $last - $first;
my $rejected = grep { ($_->{status} // 0) == 429 } @log;
my $busy_s = 0;
$busy_s += ($_->{duration_ms} // 0) / 1000 for @log;
my @per_second;
$per_second[ int($_->{time} - $first) ]++ for @log;
bench_note('requests per second from the first one: ' . join(' ', map { $_ // 0 } @per_second));

bench_result('commit -> request p50', percentile(50, @latency_ms), 'ms', '<= 10');
bench_result('commit -> request p99', percentile(99, @latency_ms), 'ms', '<= 100');
bench_result('info: commit -> request max', percentile(100, @latency_ms), 'ms');
bench_result('INSERT with trigger / without (single rows)', median(@without) / median(@with), 'x', '<= 1.2');
bench_result('server CPU per single-row INSERT, with trigger / without', median(@cpu_with) / median(@cpu_without),
	'x', '<= 1.2');
bench_result('info: server CPU per row with the trigger', median(@cpu_with), 'us');
bench_result('info: server CPU per row without it', median(@cpu_without), 'us');
bench_result('info: of which the woken worker, with the trigger', median(@worker_with), 'us');
bench_result('info: single-row INSERTs with the trigger', median(@with), 'rows/s');
bench_result('info: single-row INSERTs without it', median(@without), 'rows/s');
bench_result('info: bulk INSERT (20,000 rows) with / without', median(@bulk_with) / median(@bulk_without), 'x');
bench_result('push rate over two minutes (100 ms latency, 6,000/min)', $rate, 'requests/s');
bench_result('push rate / limit bound (100/s)', 100 * $rate / 100, '%', '>= 90');
bench_result('info: first and last request apart', $elapsed, 's');
bench_result('info: 429 answers during the throughput run', $rejected, 'requests');
bench_result('info: requests in flight, on average', $busy_s / $elapsed, 'requests');
bench_result('info: simulator time per request, mean', 1000 * $busy_s / scalar(@log), 'ms');

done_testing();
