# pg_dump and pg_restore keep the push queue: a database restored into a
# fresh one pushes nothing that was already pushed, and what was still
# waiting exactly once.  20 tickets are pushed; 10 more wait while
# Zendesk answers 503; the database is dumped and restored into a new one
# (whose worker takes over; the old connection is disconnected); Zendesk
# recovers.
use strict;
use warnings;

use FindBin;
use lib "$FindBin::RealBin/../perl";
use CorsaTest;
use PostgreSQL::Test::Utils;
use Test::More;

my $sim = start_simulator();
$sim->post('/_sim/config', { export_lag_seconds => 1 });
my $node = corsa_node('main', sim => $sim,
	conf => "corsa_zendesk.poll_interval = 0\nlog_statement = none\n");
$node->start;
$node->safe_psql('postgres', 'CREATE EXTENSION corsa_zendesk');
my $import = $node->safe_psql('postgres',
	"SELECT import_run_id FROM zd_configure('acme', 'admin\@acme.example', 'sim-admin-token')");
is(wait_for_run($node, $import, 60), 'succeeded', 'imported');

sub queue_of
{
	my ($db) = @_;
	return $node->safe_psql($db,
		"SELECT state, count(*) FROM zd_outbox GROUP BY 1 ORDER BY 1");
}

$node->safe_psql('postgres', q{INSERT INTO zd_tickets (subject, description, requester_email)
	SELECT 'early ' || g, 'question', 'p' || g || '@example.org' FROM generate_series(1, 20) g});
ok( wait_until(sub { queue_of('postgres') eq 'sent|20' }, 60), '20 tickets pushed');

# Zendesk fails; 10 more wait in the queue
$sim->add_fault(kind => '5xx', method => 'POST', path => '^/api/v2/tickets');
$node->safe_psql('postgres', q{INSERT INTO zd_tickets (subject, description, requester_email)
	SELECT 'late ' || g, 'question', 'q' || g || '@example.org' FROM generate_series(1, 10) g});
ok( wait_until(sub {
			$node->safe_psql('postgres', "SELECT count(*) FROM zd_outbox WHERE attempts >= 1 AND state <> 'sent'") eq '10';
		}, 60),
	'10 tickets are waiting to be retried');

my $dump = PostgreSQL::Test::Utils::tempdir() . '/source.dump';
$node->command_ok([ 'pg_dump', '-Fc', '-f', $dump, '-d', $node->connstr('postgres') ], 'pg_dump');
my $before = queue_of('postgres');
$node->safe_psql('postgres', "SELECT zd_disconnect('acme')");

$node->safe_psql('postgres', 'CREATE DATABASE restored');
my $sent_before = scalar(grep { $_->{method} eq 'POST' && ($_->{status} // 0) == 201 }
	  @{ $sim->requests(0) });
$node->command_ok([ 'pg_restore', '--exit-on-error', '-d', $node->connstr('restored'), $dump ],
	'pg_restore into a fresh database');
is(queue_of('restored') =~ s/in_flight/pending/r, $before =~ s/in_flight/pending/r,
	'the queue came back as it was, with nothing queued again by the restore');
is($node->safe_psql('restored', "SELECT count(*) FROM zd_tickets WHERE sync_state = 'synced'"), '20',
	'the pushed tickets came back synced');

$sim->clear_faults;
ok( wait_until(sub {
			$node->safe_psql('restored',
				"SELECT count(*) FROM zd_outbox WHERE state IN ('pending', 'in_flight')") eq '0';
		}, 120),
	"the restored database's worker drained the queue");
my $state = $sim->get('/_sim/state');
my %by_ext;
$by_ext{ $_->{external_id} }++ for grep { ($_->{external_id} // '') =~ /^corsa:/ } @{ $state->{tickets} };
is(scalar(keys %by_ext), 30, 'Zendesk holds the 30 tickets');
is(scalar(grep { $_ > 1 } values %by_ext), 0, 'each once');
my $created_after = scalar(grep { $_->{method} eq 'POST' && ($_->{status} // 0) == 201 }
	  @{ $sim->requests(0) }) - $sent_before;
is($created_after, 10, 'after the restore, only the 10 waiting tickets were created');
is($node->safe_psql('restored', "SELECT count(*) FROM zd_tickets WHERE sync_state = 'synced' AND zendesk_id IS NOT NULL"),
	'30', 'and every row is synced, with its Zendesk id');

$node->stop;
done_testing();
