# Crash safety of the import: the worker is killed with SIGKILL (a crash
# restart of the whole server) and the server is stopped in immediate mode,
# each at several points of an import; after every restart the import
# resumes from its last committed page, and in the end the data is
# complete with nothing duplicated.
use strict;
use warnings;

use FindBin;
use lib "$FindBin::RealBin/../perl";
use CorsaTest;
use PostgreSQL::Test::Utils;
use Test::More;

my $TICKETS = 4000;
my $COMMENTS = 3;

my $sim = start_simulator();
# slow pages, so that there is time to interrupt the import between them
$sim->post('/_sim/config', { export_lag_seconds => 1, incremental_limit_per_min => 600,
	latency_ms => 400 });
$sim->post('/_sim/seed', { tickets => $TICKETS, comments_per_ticket => $COMMENTS,
	soft_deleted => 20, requesters => 200 });

my $node = corsa_node('main', sim => $sim,
	conf => "corsa_zendesk.poll_interval = 0\ncorsa_zendesk.incremental_rate_limit = 600\n"
	  . "restart_after_crash = on\n");
$node->start;
$node->safe_psql('postgres', 'CREATE EXTENSION corsa_zendesk');
my $run = $node->safe_psql('postgres',
	"SELECT import_run_id FROM zd_configure('acme', 'admin\@acme.example', 'sim-admin-token')");

sub pages_done
{
	my $p = eval { $node->safe_psql('postgres', "SELECT pages FROM zd_sync_runs WHERE id = $run") };
	return defined $p && $p ne '' ? $p : -1;
}

# interrupt at several points of the import
my @points = (1, 5, 9, 13);
for my $i (0 .. $#points)
{
	my $at = $points[$i];
	ok(wait_until(sub { pages_done() >= $at }, 120), "the import reached page $at");
	if ($i % 2 == 0)
	{
		my $pid = worker_pids($node)->{postgres};
		kill 'KILL', $pid;
		note "SIGKILL to worker $pid after page " . pages_done();
		ok(wait_until(sub { my $p = eval { worker_pids($node)->{postgres} }; defined $p && $p != $pid }, 60),
			'after the crash restart the worker runs again');
	}
	else
	{
		note 'immediate stop after page ' . pages_done();
		$node->stop('immediate');
		$node->start;
		ok(wait_until(sub { defined eval { worker_pids($node)->{postgres} } }, 60),
			'after an immediate stop and start the worker runs again');
	}
}

is(wait_for_run($node, $run), 'succeeded',
	'the import finishes');

my $state = $sim->get('/_sim/state');
my $comments = 0;
$comments += scalar(@{ $_->{comments} }) for @{ $state->{tickets} };
is($node->safe_psql('postgres', 'SELECT count(*), count(DISTINCT zendesk_id) FROM zd_tickets'),
	"$TICKETS|$TICKETS", 'every ticket, once');
is($node->safe_psql('postgres', 'SELECT count(*), count(DISTINCT zendesk_comment_id) FROM zd_replies'),
	"$comments|$comments", 'every reply, once');
my $ids = join(',', sort { $a <=> $b } map { $_->{id} } @{ $state->{tickets} });
is($node->safe_psql('postgres', "SELECT string_agg(zendesk_id::text, ',' ORDER BY zendesk_id) FROM zd_tickets"),
	$ids, 'exactly the simulator\'s tickets');
my $cids = join(',', sort { $a <=> $b } map { map { $_->{id} } @{ $_->{comments} } } @{ $state->{tickets} });
is($node->safe_psql('postgres', "SELECT string_agg(zendesk_comment_id::text, ',' ORDER BY zendesk_comment_id) FROM zd_replies"),
	$cids, 'exactly the simulator\'s comments');
is($node->safe_psql('postgres', "SELECT count(*) FROM zd_tickets WHERE source_version IS NULL"),
	'0', 'no ticket left half known');
is($node->safe_psql('postgres', "SELECT count(*) FROM zd_tickets WHERE label = 'Deleted'"),
	'20', 'the deletions are there');
like($node->safe_psql('postgres', "SELECT string_agg(message, ' | ') FROM zd_sync_log"),
	qr/import of acme was interrupted by a restart; it resumes from its last saved page/,
	'the log says the import resumed');
is($node->safe_psql('postgres', "SELECT count(*) FROM zd_sync_runs WHERE kind = 'import'"),
	'1', 'still one import run');

$node->stop;
done_testing();
