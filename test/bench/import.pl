# import.pl: the historical import benchmark (issue 3).
#
# Import of 100,000 tickets x 3 comments from the simulator: tickets/s,
# replies/s, requests per 1,000 tickets, pages, and the worker's peak
# private memory; and, in the same run and against the same simulator
# data, the floor: the time to fetch the same pages with the curl command
# plus the time to COPY the same rows into two plain tables.  The ratio
# import / floor is printed against its goal (<= 1.5).
#
# Phases (only the ones marked "timed" give figures):
#   1. simulator: Zendesk's limits raised out of the way, seeded (the seed
#      time is noted in the log, not a figure);
#   2. node: the library preloaded, polls off, the extension created;
#   3. timed: zd_configure (which queues the import) until the run is
#      'succeeded', polling zd_sync_runs and sampling the worker every
#      ~100 ms (memory from /proc, state from pg_stat_activity);
#   4. timed: curl fetches the pages the import needs, one after another;
#   5. the saved pages become CSV files (floor_csv.py), not timed;
#   6. timed: COPY of those rows into a fresh database of the same server;
#   7. for information, timed: one curl process fetching the same URLs over
#      one keep-alive connection.
#
# Settings from the environment (for trying things; the figures that count
# use the defaults): BENCH_IMPORT_TICKETS (100000), BENCH_IMPORT_TIMEOUT
# (seconds allowed for the import, 420).
use strict;
use warnings;

use FindBin;
use lib "$FindBin::RealBin/../perl", $FindBin::RealBin;
use BenchLib;
use CorsaTest;
use File::Path qw(make_path);
use List::Util qw(max min sum0);
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time usleep);

bench_name('import');

my $TICKETS = $ENV{BENCH_IMPORT_TICKETS} // 100_000;
my $COMMENTS = 3;
my $REQUESTERS = min(10_000, max(1, int($TICKETS / 10)));
my $TIMEOUT = $ENV{BENCH_IMPORT_TIMEOUT} // 420;
# far above what the import can use, so that Zendesk's limits (10 or 30
# export requests a minute) are not what is measured
my $LIMIT = 100_000;
my $EMAIL = 'admin@acme.example';
my $TOKEN = 'sim-admin-token';
my $POLL_S = 0.1;

my ($sim, $node, $psql);

# leave nothing running, whatever happened
sub stop_all
{
	eval { $psql->quit if $psql; };
	eval { $node->stop('fast') if $node && defined $node->{_pid}; };
	eval { $sim->stop if $sim; };
	undef $psql;
	undef $node;
	undef $sim;
	return;
}

END
{
	# stopping runs pg_ctl and reaps the simulator: keep the exit status
	my $rc = $?;
	stop_all();
	$? = $rc;
}

# --- 1. simulator ----------------------------------------------------------------
$sim = start_simulator(name => 'import_simulator');
my $sim_pid = eval { $sim->{handle}{KIDS}[0]{PID} };
$sim->post('/_sim/config', { export_lag_seconds => 1,
	incremental_limit_per_min => $LIMIT, rate_limit_per_min => $LIMIT });
bench_note("seeding the simulator: $TICKETS tickets x $COMMENTS comments, $REQUESTERS requesters");
my ($seed_s, $seed) = bench_time(sub {
	$sim->post('/_sim/seed', { tickets => $TICKETS, comments_per_ticket => $COMMENTS,
		requesters => $REQUESTERS });
});
my $COMMENTS_TOTAL = $seed->{comments} // $TICKETS * $COMMENTS;
bench_note(sprintf('seeded in %.1f s (setup, not part of the figures): %d tickets, %d comments, %d audits',
	$seed_s, $seed->{tickets}, $COMMENTS_TOTAL, $seed->{audits} // 0));

# --- 2. node ---------------------------------------------------------------------
$node = corsa_node('import', sim => $sim,
	conf => "corsa_zendesk.poll_interval = 0\n"
	  . "corsa_zendesk.incremental_rate_limit = $LIMIT\n"
	  . "log_statement = none\n");
$node->start;
$node->safe_psql('postgres', 'CREATE EXTENSION corsa_zendesk');
my $wpid = wait_until(sub { worker_pids($node)->{postgres} }, 60);
ok($wpid, 'the worker of database postgres runs') or BAIL_OUT('no worker');
$node->safe_psql('postgres', 'CHECKPOINT');
wait_for_quiet($node);

# --- 3. the import (timed) -------------------------------------------------------------
$psql = BenchLib::Psql->new($node, 'postgres');
my $mem = BenchLib::MemPeak->new;
$mem->sample($wpid);
my $worker_cpu0 = proc_cpu_seconds($wpid);
my $sim_cpu0 = $sim_pid ? proc_cpu_seconds($sim_pid) : undef;
my $seq0 = $sim->last_request_seq;

bench_note('import: zd_configure, then polling zd_sync_runs every 100 ms');
my $t0 = time();
my $run = $psql->query("SELECT import_run_id FROM zd_configure('acme', '$EMAIL', '$TOKEN')");
my $poll_sql = "SELECT r.state, r.requests, r.pages, r.tickets, r.replies, coalesce(r.progress, 0), "
  . "coalesce(w.pid::text, ''), coalesce(w.state, ''), "
  . "coalesce(w.wait_event_type || ':' || w.wait_event, ''), coalesce(w.query, '') "
  . "FROM zd_sync_runs r LEFT JOIN pg_stat_activity w "
  . "ON w.backend_type = 'corsa_zendesk worker' AND w.datname = current_database() "
  . "WHERE r.id = $run";
my ($state, $t_import, %where, $last_pid, @row) = ('');
my $next_note = $t0 + 10;
while (1)
{
	my $t = time();
	@row = split /\|/, $psql->query($poll_sql), 10;
	$state = $row[0] // '';
	if ($state eq 'succeeded' || $state eq 'failed')
	{
		$t_import = time() - $t0;
		last;
	}
	my ($pid, $wstate, $wait, $label) = @row[6 .. 9];
	if ($pid)
	{
		$mem->sample($pid);
		$last_pid = $pid;
		$label =~ s/^corsa_zendesk: //;
		my $what = $wstate eq 'active' ? "in a transaction: $label"
		  : $wait ? "idle, waiting ($wait)"
		  : "idle, on CPU (outside transactions: HTTP, JSON parsing, mapping)";
		$what .= " [waiting: $wait]" if $wstate eq 'active' && $wait;
		$where{$what}++;
	}
	if ($t >= $next_note)
	{
		bench_note(sprintf('  %5.1f s: %s, %d requests, %d pages, %d tickets, %d replies, %.1f %%',
			$t - $t0, @row[0 .. 5]));
		$next_note += 10;
	}
	if ($t - $t0 > $TIMEOUT)
	{
		$t_import = undef;
		last;
	}
	my $sleep = $POLL_S - (time() - $t);
	usleep($sleep * 1e6) if $sleep > 0;
}
my $worker_cpu = defined $worker_cpu0 && $last_pid && $last_pid == $wpid
  ? proc_cpu_seconds($wpid) - $worker_cpu0 : undef;
my $sim_cpu = defined $sim_cpu0 ? proc_cpu_seconds($sim_pid) - $sim_cpu0 : undef;

my $run_row = $psql->query("SELECT requests, pages, tickets, replies, deletions, "
	  . "round(extract(epoch FROM finished_at - started_at)::numeric, 2), "
	  . "round(extract(epoch FROM started_at - queued_at)::numeric, 2), coalesce(error, '') "
	  . "FROM zd_sync_runs WHERE id = $run");
my ($requests, $pages, $run_tickets, $run_replies, $deletions, $db_secs, $pickup, $error) =
  split /\|/, $run_row, 8;
bench_note(sprintf('import run %d: %s after %s s (worker: %s s from start to finish, '
	  . 'picked up %s s after queueing)', $run, $state || 'no state',
	defined $t_import ? sprintf('%.1f', $t_import) : "more than $TIMEOUT", $db_secs // '?',
	$pickup // '?'));
bench_note("run row: $requests requests, $pages pages, $run_tickets tickets, "
	  . "$run_replies replies, $deletions deletions");

unless (ok($state eq 'succeeded', 'the import succeeded'))
{
	diag("state '$state', error: $error");
	diag($node->safe_psql('postgres',
		"SELECT string_agg(level || ' ' || message, E'\\n' ORDER BY id) FROM "
		  . "(SELECT * FROM zd_sync_log ORDER BY id DESC LIMIT 20) l"));
	diag('server log: ' . $node->logfile);
	stop_all();
	done_testing();
	exit 1;
}
my $stored = $psql->query('SELECT (SELECT count(*) FROM zd_tickets) || \'|\' || (SELECT count(*) FROM zd_replies)');
is($stored, "$TICKETS|$COMMENTS_TOTAL", 'every ticket and every reply is stored');

# the import's requests, from the simulator's log
my @reqs = grep { $_->{path} !~ m{/users/me} } @{ $sim->requests($seq0) };
my %by_kind;
$by_kind{ $_->{path} =~ m{incremental/tickets} ? 'ticket export'
	  : $_->{path} =~ m{ticket_events} ? 'ticket-event export' : $_->{path} }++ for @reqs;
bench_note('requests seen by the simulator: ' . scalar(@reqs) . ' ('
	  . join(', ', map { "$by_kind{$_} $_" } sort keys %by_kind) . ')');
my $sim_busy = sum0(map { $_->{duration_ms} // 0 } @reqs) / 1000;
bench_note(sprintf('the simulator spent %.2f s serving them (sum of duration_ms)', $sim_busy));
my @non_200 = grep { ($_->{status} // 0) != 200 } @reqs;
bench_note(scalar(@non_200) . ' of them did not answer 200 (' . join(', ', map { $_->{status} // 'none' } @non_200) . ')')
  if @non_200;

my $samples = sum0(values %where);
bench_note("where the worker was, over $samples samples of pg_stat_activity:");
for my $k (sort { $where{$b} <=> $where{$a} } keys %where)
{
	bench_note(sprintf('  %5.1f %%  %s', 100 * $where{$k} / $samples, $k));
}

# --- 4. floor: fetch the same pages with curl (timed) ------------------------------
# first the aftermath of the import (vacuum of what it wrote, dirty
# buffers), so that it does not land in the floor's timing
bench_note('vacuum and checkpoint after the import (not timed)');
$node->safe_psql('postgres', 'VACUUM (ANALYZE) zd_tickets, zd_replies, zd_users, zd_sync_runs, zd_sync_log');
$node->safe_psql('postgres', 'CHECKPOINT');
wait_for_quiet($node);
my $base = $sim->url;
my $dir = PostgreSQL::Test::Utils::tempdir('import_floor');
make_path("$dir/tickets", "$dir/events", "$dir/csv");
my @curl = ('curl', '-sS', '--fail', '--user', "$EMAIL/token:$TOKEN");
my @floor_urls;

sub escape_uri
{
	my ($s) = @_;
	$s =~ s/([^A-Za-z0-9\-._~])/sprintf('%%%02X', ord($1))/ge;
	return $s;
}

# the first bytes of a saved page: the export's position fields come first
sub page_head
{
	my ($file) = @_;
	open(my $fh, '<', $file) or die "cannot read $file: $!";
	sysread($fh, my $buf, 4096);
	close $fh;
	return $buf;
}

sub fetch
{
	my ($path, $file) = @_;
	push @floor_urls, $path;
	system(@curl, '-o', $file, "$base$path") == 0
	  or die "curl $path failed (exit " . ($? >> 8) . ")";
	return page_head($file);
}

bench_note('floor: fetching the pages with curl, one request after the other');
my $fetch_seq0 = $sim->last_request_seq;
$sim_cpu0 = $sim_pid ? proc_cpu_seconds($sim_pid) : undef;
my ($t_fetch) = bench_time(sub {
	my $n = 0;
	my $query = 'start_time=0&include=users&support_type_scope=all';
	while (1)
	{
		my $head = fetch("/api/v2/incremental/tickets/cursor.json?$query",
			sprintf('%s/tickets/%06d.json', $dir, $n++));
		last if $head =~ /"end_of_stream":\s*true/;
		my ($cursor) = $head =~ /"after_cursor":\s*"([^"]+)"/
		  or die "no after_cursor in ticket page $n";
		$query = 'cursor=' . escape_uri($cursor) . '&include=users&support_type_scope=all';
	}
	my $start = 0;
	$n = 0;
	while (1)
	{
		my $head = fetch("/api/v2/incremental/ticket_events.json?start_time=$start"
			  . '&include=comment_events&support_type_scope=all',
			sprintf('%s/events/%06d.json', $dir, $n++));
		last if $head =~ /"end_of_stream":\s*true/;
		my ($end) = $head =~ /"end_time":\s*(\d+)/ or die "no end_time in event page $n";
		$start = $end > $start ? $end : $start + 1;
	}
});
my $sim_cpu_fetch = defined $sim_cpu0 ? proc_cpu_seconds($sim_pid) - $sim_cpu0 : undef;
my $sim_busy_fetch = sum0(map { $_->{duration_ms} // 0 } @{ $sim->requests($fetch_seq0) }) / 1000;
bench_note(sprintf('floor fetch: %d pages in %.2f s; the simulator spent %.2f s serving them',
	scalar(@floor_urls), $t_fetch, $sim_busy_fetch));

# the same pages as the import? (compared with %XX decoded)
sub decoded { my ($s) = @_; $s =~ s/%([0-9A-Fa-f]{2})/chr(hex($1))/ge; return $s; }
my %import_urls = map { decoded($_->{path} . '?' . ($_->{query} // '')) => 1 }
  grep { ($_->{status} // 0) == 200 } @reqs;
my @missing = grep { !$import_urls{ decoded($_) } } @floor_urls;
if (@missing || keys(%import_urls) != @floor_urls)
{
	diag(sprintf('the floor fetched %d pages, the import %d distinct ones; %d of the floor\'s '
		  . 'are not among the import\'s, e.g. %s', scalar(@floor_urls), scalar(keys %import_urls),
		scalar(@missing), $missing[0] // '-'));
}
else
{
	bench_note('the floor fetched exactly the pages the import fetched');
}

# --- 5. CSV files of the same rows (not timed) --------------------------------------------
my ($t_csv, $csv_out) = bench_time(sub {
	my $out = `/usr/bin/python3 $FindBin::RealBin/floor_csv.py $dir/tickets $dir/events $dir/csv 2>&1`;
	die "floor_csv.py failed: $out" if $?;
	return $out;
});
chomp $csv_out;
my $csv_bytes = (-s "$dir/csv/tickets.csv") + (-s "$dir/csv/replies.csv");
my $page_bytes = sum0(map { -s $_ } glob("$dir/tickets/*.json $dir/events/*.json"));
bench_note(sprintf('CSV written in %.1f s (not timed): %s; %.0f MB of pages, %.0f MB of CSV',
	$t_csv, $csv_out, $page_bytes / 2**20, $csv_bytes / 2**20));

# --- 6. floor: COPY into plain tables of a fresh database (timed) -----------------------
$node->safe_psql('postgres', 'CREATE DATABASE bench_floor');
my $floor = BenchLib::Psql->new($node, 'bench_floor');
$floor->query(q{
	CREATE TABLE floor_tickets (zendesk_id bigint PRIMARY KEY, external_id text,
		requester_zendesk_id bigint, requester_email text, requester_name text, subject text,
		description text, status text, priority text, ticket_type text, tags text[],
		zendesk_created_at timestamptz, zendesk_updated_at timestamptz, raw jsonb);
	CREATE TABLE floor_replies (zendesk_comment_id bigint PRIMARY KEY, zendesk_audit_id bigint,
		ticket_zendesk_id bigint NOT NULL, author_zendesk_id bigint, author_email text,
		author_name text, body text, html_body text, public boolean,
		zendesk_created_at timestamptz, raw jsonb)});
$node->safe_psql('postgres', 'CHECKPOINT');
wait_for_quiet($node);
bench_note('floor: COPY of the rows into two plain tables with primary keys');
my ($t_copy) = bench_time(sub {
	$floor->query("COPY floor_tickets FROM '$dir/csv/tickets.csv' WITH (FORMAT csv, ENCODING 'UTF8');"
		  . "COPY floor_replies FROM '$dir/csv/replies.csv' WITH (FORMAT csv, ENCODING 'UTF8')");
});
is($floor->query('SELECT (SELECT count(*) FROM floor_tickets) || \'|\' || (SELECT count(*) FROM floor_replies)'),
	"$TICKETS|$COMMENTS_TOTAL", 'the floor copied the same number of rows');
$floor->quit;
bench_note(sprintf('floor COPY: %.2f s', $t_copy));

# --- 7. for information: the same URLs through one keep-alive curl -------------------------
open(my $cfg, '>', "$dir/urls.curlrc") or die;
print $cfg qq{url = "$base$_"\noutput = "/dev/null"\n} for @floor_urls;
close $cfg;
my ($t_keepalive) = bench_time(sub {
	system(@curl, '-K', "$dir/urls.curlrc") == 0 or die 'curl -K failed';
});
bench_note(sprintf('one curl process, one connection, same %d URLs: %.2f s',
	scalar(@floor_urls), $t_keepalive));

stop_all();

# --- figures ---------------------------------------------------------------------------------
my $floor_s = $t_fetch + $t_copy;
bench_result('tickets imported', $run_tickets, 'tickets');
bench_result('replies imported', $run_replies, 'replies');
bench_result('import time (zd_configure to succeeded)', $t_import, 's');
bench_result('import rate', $TICKETS / $t_import, 'tickets/s');
bench_result('reply rate', $COMMENTS_TOTAL / $t_import, 'replies/s');
bench_result('requests per 1,000 tickets', 1000 * $requests / $TICKETS, 'requests');
bench_result('requests (run row)', $requests, 'requests');
bench_result('pages (run row)', $pages, 'pages');
bench_result('worker peak RssAnon (private memory)', $mem->peak_mb('RssAnon'), 'MB');
bench_result('worker peak VmHWM (incl. shared buffers; info)', $mem->peak_mb('VmHWM'), 'MB');
bench_result('info: worker RssAnon before the import', $mem->first_mb('RssAnon'), 'MB');
bench_result('floor: curl fetch, one process per page', $t_fetch, 's');
bench_result('floor: COPY of the same rows', $t_copy, 's');
bench_result('floor: fetch + COPY', $floor_s, 's');
bench_result('import / floor', $t_import / $floor_s, 'x', '<= 1.5');
bench_result('info: one keep-alive curl for all pages', $t_keepalive, 's');
bench_result('info: import / (keep-alive fetch + COPY)', $t_import / ($t_keepalive + $t_copy), 'x');
bench_result('info: worker CPU during the import', $worker_cpu, 's') if defined $worker_cpu;
bench_result('info: simulator CPU during the import', $sim_cpu, 's') if defined $sim_cpu;
bench_result('info: simulator CPU during the curl fetch', $sim_cpu_fetch, 's') if defined $sim_cpu_fetch;
bench_result('info: simulator time serving the import (sum)', $sim_busy, 's');
bench_result('info: simulator time serving the curl fetch (sum)', $sim_busy_fetch, 's');
if ($samples)
{
	my ($tx, $wait, $cpu) = (0, 0, 0);
	for my $k (keys %where)
	{
		if ($k =~ /^in a transaction/) { $tx += $where{$k}; }
		elsif ($k =~ /^idle, waiting/) { $wait += $where{$k}; }
		else { $cpu += $where{$k}; }
	}
	bench_result('info: worker samples in a transaction (writing)', 100 * $tx / $samples, '%');
	bench_result('info: worker samples idle, waiting', 100 * $wait / $samples, '%');
	bench_result('info: worker samples idle, on CPU', 100 * $cpu / $samples, '%');
}

done_testing();
