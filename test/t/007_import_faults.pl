# The import converges to the same result when Zendesk misbehaves: 429s
# with Retry-After, 5xx, requests that hang past the timeout, truncated
# bodies and connection resets, injected at random; and the simulator saw
# no request sent before a Retry-After it had issued was over.
use strict;
use warnings;

use FindBin;
use lib "$FindBin::RealBin/../perl";
use CorsaTest;
use PostgreSQL::Test::Utils;
use Test::More;

my $TICKETS = 1500;
my $COMMENTS = 3;

my $sim = start_simulator();
$sim->post('/_sim/config', { export_lag_seconds => 1, incremental_limit_per_min => 600 });
$sim->post('/_sim/seed', { tickets => $TICKETS, comments_per_ticket => $COMMENTS,
	soft_deleted => 15, requesters => 100 });

my $node = corsa_node('main', sim => $sim,
	conf => "corsa_zendesk.poll_interval = 0\ncorsa_zendesk.incremental_rate_limit = 600\n"
	  . "corsa_zendesk.http_timeout = '2s'\ncorsa_zendesk.max_attempts = 30\n"
	  # more than half the requests fail: bound the backoff of a page's
	  # later attempts, which would otherwise reach minutes now and then
	  . "corsa_zendesk.retry_max_delay = '4s'\n");
$node->start;
$node->safe_psql('postgres', 'CREATE EXTENSION corsa_zendesk');

my $path = '^/api/v2/(incremental|deleted_tickets)';
# each kind at random, and each once for certain (on the Nth request)
my %faults = ('429' => 0.15, '5xx' => 0.15, 'hang' => 0.08, 'truncate' => 0.1, 'reset' => 0.1);
my %nth = ('hang' => 2, '429' => 4, '5xx' => 6, 'truncate' => 8, 'reset' => 10);
for my $kind (sort keys %faults)
{
	$sim->add_fault(kind => $kind, path => $path, probability => $faults{$kind},
		retry_after => 1, status => 503, hang_seconds => 10, seed => 7);
	$sim->add_fault(kind => $kind, path => $path, nth => $nth{$kind},
		retry_after => 1, status => 502, hang_seconds => 10);
}

my $run = $node->safe_psql('postgres',
	"SELECT import_run_id FROM zd_configure('acme', 'admin\@acme.example', 'sim-admin-token')");
is(wait_for_run($node, $run), 'succeeded',
	'the import succeeds despite the faults')
  or diag $node->safe_psql('postgres', 'SELECT state, error FROM zd_sync_runs');

my $fired = $sim->get('/_sim/faults');
my %seen;
$seen{ $_->{fault} }++ for grep { $_->{fault} } @{ $sim->requests(0) };
for my $kind (sort keys %faults)
{
	ok($seen{$kind}, "the $kind fault was injected ($seen{$kind}x)");
}

my $state = $sim->get('/_sim/state');
my $ids = join(',', sort { $a <=> $b } map { $_->{id} } @{ $state->{tickets} });
is($node->safe_psql('postgres', "SELECT string_agg(zendesk_id::text, ',' ORDER BY zendesk_id) FROM zd_tickets"),
	$ids, 'every ticket arrived, once');
my $cids = join(',', sort { $a <=> $b } map { map { $_->{id} } @{ $_->{comments} } } @{ $state->{tickets} });
is($node->safe_psql('postgres', "SELECT string_agg(zendesk_comment_id::text, ',' ORDER BY zendesk_comment_id) FROM zd_replies"),
	$cids, 'every comment arrived, once');
my $subjects = join('|', map { $_->{subject} } sort { $a->{id} <=> $b->{id} } @{ $state->{tickets} });
is($node->safe_psql('postgres', "SELECT string_agg(subject, '|' ORDER BY zendesk_id) FROM zd_tickets"),
	$subjects, 'with their content');

my @log = @{ $sim->requests(0) };
my @early = grep { $log[$_]{violated_retry_after} } 0 .. $#log;
is(scalar(@early), 0, 'no request was sent before a Retry-After had elapsed')
  or diag join("\n", map {
	my $r = $log[$_];
	sprintf('%.3f %s %s -> %s (%s)', $r->{time}, $r->{method}, $r->{path}, $r->{status} // '-', $r->{fault} // '')
} map { ($_ > 3 ? $_ - 3 : 0) .. $_ } @early);
like($node->safe_psql('postgres', "SELECT string_agg(message, E'\\n') FROM zd_sync_log WHERE level = 'warning'"),
	qr/failed \(.*\); retrying in [\d.]+ s \(attempt \d+ of 30\)/, 'the log tells of the retries');

$node->stop;
done_testing();
