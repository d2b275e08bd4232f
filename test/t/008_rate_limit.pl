# Pacing: with Zendesk's 10 requests per minute on the incremental exports
# (and the same setting here), an import that needs more requests than that
# spreads them out instead of running into 429s.
use strict;
use warnings;

use FindBin;
use lib "$FindBin::RealBin/../perl";
use CorsaTest;
use PostgreSQL::Test::Utils;
use Test::More;

my $sim = start_simulator();
$sim->post('/_sim/config', { export_lag_seconds => 1, incremental_limit_per_min => 10 });
# 2 ticket pages and 10 event pages
$sim->post('/_sim/seed', { tickets => 1500, comments_per_ticket => 6, requesters => 50 });

my $node = corsa_node('main', sim => $sim,
	conf => "corsa_zendesk.poll_interval = 0\ncorsa_zendesk.incremental_rate_limit = 10\n");
$node->start;
$node->safe_psql('postgres', 'CREATE EXTENSION corsa_zendesk');
my $seq = $sim->last_request_seq;
my $run = $node->safe_psql('postgres',
	"SELECT import_run_id FROM zd_configure('acme', 'admin\@acme.example', 'sim-admin-token')");
# a minute and a bit, whatever the default timeout of the test run
is(wait_for_run($node, $run, 300), 'succeeded',
	'the import succeeds');

my @inc = grep { $_->{path} =~ m{^/api/v2/incremental/} } @{ $sim->requests($seq) };
cmp_ok(scalar(@inc), '>', 10, sprintf('it needed more than 10 export requests (%d)', scalar(@inc)));
is(scalar(grep { $_->{status} == 429 } @inc), 0, 'none was answered 429');
my $max = 0;
for my $i (0 .. $#inc)
{
	my $n = grep { $_->{time} >= $inc[$i]{time} && $_->{time} < $inc[$i]{time} + 60 } @inc;
	$max = $n if $n > $max;
}
cmp_ok($max, '<=', 10, "at most 10 in any minute ($max)");
is($node->safe_psql('postgres', 'SELECT count(*) FROM zd_tickets'), '1500', 'and all arrived');

$node->stop;
done_testing();
