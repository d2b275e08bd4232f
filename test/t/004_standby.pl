# On a streaming standby nothing of ours runs and nothing reaches Zendesk;
# after promotion the worker starts and carries on from the replicated
# cursor.
use strict;
use warnings;

use FindBin;
use lib "$FindBin::RealBin/../perl";
use CorsaTest;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $sim = start_simulator();
$sim->post('/_sim/config', { export_lag_seconds => 1 });
$sim->post('/_sim/seed', { tickets => 20, comments_per_ticket => 2, requesters => 5 });

my $primary = corsa_node('primary', sim => $sim, init => { allows_streaming => 1 },
	conf => "corsa_zendesk.poll_interval = '2s'\n");
$primary->start;
$primary->safe_psql('postgres', 'CREATE EXTENSION corsa_zendesk');
$primary->safe_psql('postgres',
	"SELECT 1 FROM zd_configure('acme', 'admin\@acme.example', 'sim-admin-token')");
ok($primary->poll_query_until('postgres',
		"SELECT count(*) = 20 FROM zd_tickets"), 'the primary imports');

$primary->backup('backup');
my $standby = PostgreSQL::Test::Cluster->new('standby');
$standby->init_from_backup($primary, 'backup', has_streaming => 1);
# the base backup carries the key file (the standby can decrypt once
# promoted); the test framework's copy loses its mode, pg_basebackup keeps it
chmod 0600, $standby->data_dir . '/corsa_zendesk.key';
$standby->start;
$primary->wait_for_catchup($standby);
is($standby->safe_psql('postgres', 'SELECT count(*) FROM zd_tickets'), '20',
	'the standby has the data');

# the primary goes away; the standby stays a standby for a while
$primary->stop;
my $seq = $sim->last_request_seq;
sleep 4;
is($standby->safe_psql('postgres',
		"SELECT count(*) FROM pg_stat_activity WHERE backend_type LIKE 'corsa_zendesk%'"),
	'0', 'no launcher and no worker run on the standby');
is(scalar(@{ $sim->requests($seq) }), 0, 'and no request reached Zendesk from it');

# promotion: the worker starts and polls from the replicated cursor
$sim->post('/_sim/actions/create_ticket',
	{ requester_email => 'late@example.com', subject => 'after the failover', body => 'hello' });
$standby->promote;
ok($standby->poll_query_until('postgres',
		"SELECT count(*) = 1 FROM pg_stat_activity WHERE backend_type = 'corsa_zendesk worker'"),
	'after promotion the worker runs');
ok($standby->poll_query_until('postgres',
		"SELECT count(*) = 1 FROM zd_tickets WHERE subject = 'after the failover'"),
	'and picks up what changed in Zendesk meanwhile');
my @exports = grep { $_->{path} =~ m{^/api/v2/incremental/tickets/cursor} } @{ $sim->requests($seq) };
ok(@exports && $exports[0]{query} =~ /cursor=/ && $exports[0]{query} !~ /start_time/,
	'resuming from the stored cursor, not from the beginning');

$standby->stop;
done_testing();
