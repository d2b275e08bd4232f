# webhook.pl: the webhook ingestion benchmark (issue 5).
#
# Events/s through zd_ingest_webhook with two concurrent clients (pgbench,
# custom scripts), against a bare INSERT of the same bodies into a jsonb
# table, in the same run, on the same server.  Goals: at least 5,000
# events/s, and at most 2x the cost of the bare INSERT.
#
# The events are the simulator's own: agents create a few hundred tickets
# and work on them (replies, status and field changes, deletions, merges,
# spam) until about 12,000 webhook events were emitted, each with its
# bearer token and its signature, which zd_ingest_webhook checks.  They are
# loaded into a table; each pgbench client takes every other event, in the
# order Zendesk emitted them, so the two clients race on the same tickets
# as two of Zendesk's deliveries do.
#
# A third side, for information, is the floor: one plain statement that
# writes the least an applied event must -- its id (so that a redelivery
# writes nothing) and its ticket's newest raw JSON -- with no token, no
# signature, no mapping, no reply.  It shows how much of the cost is the
# storage itself and how much is zd_ingest_webhook's own work.
#
# Each side runs three times, alternating (INSERT, floor, ingest, INSERT,
# ...), on emptied tables; the figures are the medians.  The worker stays on: what
# the events lack (requesters' e-mails) it fetches meanwhile, as in
# production, on the same two cores.
#
# BENCH_WEBHOOK_EVENTS (12000) and BENCH_WEBHOOK_ROUNDS (3) are for trying
# things out; the figures that count use the defaults.  BENCH_WEBHOOK_SAVE=
# file copies the events (n, body, auth, sig, stamp) there, for profiling.
use strict;
use warnings;

use FindBin;
use lib "$FindBin::RealBin/../perl", $FindBin::RealBin;
use BenchLib;
use CorsaTest;
use JSON::PP;
use List::Util qw(sum0);
use PostgreSQL::Test::Utils;
use Test::More;

bench_name('webhook');

my $EVENTS = $ENV{BENCH_WEBHOOK_EVENTS} // 12_000;
my $ROUNDS = $ENV{BENCH_WEBHOOK_ROUNDS} // 3;
my $CLIENTS = 2;
my $SECRET = 'YmVuY2htYXJrX3NpZ25pbmdfc2VjcmV0X25vdF9hX3JlYWxfb25l';

my ($sim, $node);
END
{
	my $rc = $?;
	eval { $node->stop('fast') if $node && defined $node->{_pid}; };
	eval { $sim->stop if $sim; };
	$? = $rc;
}

# --- set-up -------------------------------------------------------------------------
srand(5000);
$sim = start_simulator(name => 'webhook_simulator');
$node = corsa_node('webhook', sim => $sim,
	conf => "corsa_zendesk.poll_interval = 0\nlog_statement = none\n"
	  . "max_connections = 20\nshared_buffers = 128MB\n");
$node->start;
$node->safe_psql('postgres', 'CREATE EXTENSION corsa_zendesk');
my ($token, $import) = split /\|/, $node->safe_psql('postgres',
	"SELECT webhook_token, import_run_id FROM zd_configure('acme', 'admin\@acme.example', 'sim-admin-token')");
$node->safe_psql('postgres', "SELECT zd_set_signing_secret('$SECRET')");
$sim->post('/_sim/config', { webhook_bearer_token => $token, webhook_signing_secret => $SECRET });
is(wait_for_run($node, $import), 'succeeded', 'the (empty) account is imported');

bench_note("the simulator's agents at work until $EVENTS events were emitted");
my ($gen_s) = bench_time(sub {
	$sim->simulate_agents(tickets => 400, people => 150, events => $EVENTS);
});
my $events = $sim->get('/_sim/webhooks?since=0')->{events};
my $n = scalar(@$events);
$n -= $n % $CLIENTS;
bench_note(sprintf('%d events in %.1f s (setup, not a figure)', $n, $gen_s));

my $dir = PostgreSQL::Test::Utils::tempdir();
open(my $fh, '>', "$dir/events.json") or die;
print $fh JSON::PP->new->utf8->encode([ @{$events}[ 0 .. $n - 1 ] ]);
close $fh;
$node->safe_psql('postgres', qq{
	CREATE TABLE bench_events (n int PRIMARY KEY, body text, auth text, sig text, stamp text);
	INSERT INTO bench_events
	SELECT i, e->>'body', e->'headers'->>'authorization',
		e->'headers'->>'x-zendesk-webhook-signature',
		e->'headers'->>'x-zendesk-webhook-signature-timestamp'
	FROM jsonb_array_elements(pg_read_file('$dir/events.json')::jsonb) WITH ORDINALITY AS x(e, i);
	CREATE TABLE bench_raw (id bigserial PRIMARY KEY, body jsonb NOT NULL);
	CREATE TABLE floor_events (event_id text COLLATE "C" PRIMARY KEY);
	CREATE TABLE floor_tickets (id bigint PRIMARY KEY, event_time timestamptz, raw jsonb);
	VACUUM ANALYZE bench_events;
});
$node->safe_psql('postgres', "COPY bench_events TO '$ENV{BENCH_WEBHOOK_SAVE}'")
  if $ENV{BENCH_WEBHOOK_SAVE};
my $bytes = $node->safe_psql('postgres', 'SELECT avg(octet_length(body))::int FROM bench_events');
bench_note("average body: $bytes bytes");

# client c takes events c+1, c+1+CLIENTS, ... in emission order
my $pick = "\\set k :k + 1\n\\set n $CLIENTS * ((:k - 1) % ($n / $CLIENTS)) + 1 + :client_id\n";
# the bare INSERT is so quick that one pass over the events lasts ~0.2 s:
# it makes INSERT_PASSES passes (it has nothing to deduplicate)
my $INSERT_PASSES = 5;
my %passes = (insert => $INSERT_PASSES, floor => 1, ingest => 1);
# floor: the least an applied event must write, in one plain statement --
# its id (a redelivery writes nothing) and its ticket's newest raw state
my %script = (
	insert => $pick . "INSERT INTO bench_raw (body) SELECT body::jsonb FROM bench_events WHERE n = :n;\n",
	floor => $pick . "WITH b AS (SELECT body::jsonb AS j FROM bench_events WHERE n = :n),"
	  . " e AS (INSERT INTO floor_events SELECT j->>'id' FROM b ON CONFLICT DO NOTHING RETURNING 1)"
	  . " INSERT INTO floor_tickets SELECT (j->'detail'->>'id')::bigint, (j->>'time')::timestamptz, j"
	  . " FROM b WHERE EXISTS (SELECT FROM e) ON CONFLICT (id) DO UPDATE"
	  . " SET event_time = EXCLUDED.event_time, raw = EXCLUDED.raw"
	  . " WHERE floor_tickets.event_time < EXCLUDED.event_time;\n",
	ingest => $pick . "SELECT zd_ingest_webhook(body, auth, sig, stamp) FROM bench_events WHERE n = :n;\n");
for my $side (keys %script)
{
	open(my $s, '>', "$dir/$side.sql") or die;
	print $s $script{$side};
	close $s;
}

# one pgbench run; returns events/s (one event per transaction).  The
# connection string is pgbench's last argument: its -d is --debug, which
# logs every message and would slow both sides alike.
sub pgbench_rate
{
	my ($side) = @_;
	my ($out, $err) = run_command([ 'pgbench', '-n', '-M', 'prepared', '-c', $CLIENTS,
		'-j', $CLIENTS, '-t', $passes{$side} * $n / $CLIENTS, '-D', 'k=0', '-f', "$dir/$side.sql",
		$node->connstr('postgres') ]);
	my ($done) = $out =~ /number of transactions actually processed: (\d+)/;
	my ($failed) = $out =~ /number of failed transactions: (\d+)/;
	my ($tps) = $out =~ /tps = ([\d.]+) \(without initial connection time\)/;
	die "pgbench ($side) did not finish:\n$out\n$err"
	  unless defined $tps && ($done // 0) == $passes{$side} * $n && !($failed // 0);
	return $tps;
}

sub reset_tables
{
	$node->safe_psql('postgres',
		'TRUNCATE bench_raw, floor_events, floor_tickets; TRUNCATE zd_outbox, zd_replies, zd_tickets, zd_webhook_events; CHECKPOINT');
	wait_for_quiet($node);
	return;
}

my (@insert, @floor, @ingest, %outcomes);
for my $round (1 .. $ROUNDS)
{
	reset_tables();
	push @insert, pgbench_rate('insert');
	is($node->safe_psql('postgres', 'SELECT count(*) FROM bench_raw'), $INSERT_PASSES * $n,
		"round $round: the bare INSERT stored every body, $INSERT_PASSES times");
	reset_tables();
	push @floor, pgbench_rate('floor');
	is($node->safe_psql('postgres', 'SELECT count(*) FROM floor_events'), $n,
		"round $round: the floor statement recorded every event");
	reset_tables();
	push @ingest, pgbench_rate('ingest');
	%outcomes = map { split /\|/ } split /\n/, $node->safe_psql('postgres',
		'SELECT outcome, count(*) FROM zd_webhook_events GROUP BY 1');
	is(sum0(values %outcomes), $n, "round $round: zd_ingest_webhook recorded every event");
	bench_note(sprintf('round %d: bare INSERT %.0f events/s, floor %.0f events/s, '
		  . 'zd_ingest_webhook %.0f events/s', $round, $insert[-1], $floor[-1], $ingest[-1]));
}

# the last round's tables against the simulator: nothing lost on the way
my $state = $sim->get('/_sim/state');
is($node->safe_psql('postgres', 'SELECT count(*) FROM zd_tickets'), scalar(@{ $state->{tickets} }),
	'the last round holds every ticket the simulator has (permanently deleted ones labelled)');

my $ingest_rate = median(@ingest);
my $insert_rate = median(@insert);
bench_result('ingest rate (2 clients)', $ingest_rate, 'events/s', '>= 5000');
bench_result('ingest / bare INSERT (cost per event)', $insert_rate / $ingest_rate, 'x', '<= 2');
bench_result('info: bare INSERT into a jsonb table (2 clients)', $insert_rate, 'events/s');
bench_result('info: floor statement / bare INSERT', $insert_rate / median(@floor), 'x');
bench_result('info: ingest / floor statement', median(@floor) / $ingest_rate, 'x');
bench_result("info: events per round", $n, 'events');
bench_result("info: outcome $_", $outcomes{$_}, 'events') for sort keys %outcomes;
bench_result('info: average body', $bytes, 'bytes');

done_testing();
