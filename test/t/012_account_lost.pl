# A connection's API token becomes unreadable while requests are on their
# way (here: the sealed token is overwritten, as a wrong key file would do).
# The answers that arrive meanwhile cannot be used, since the account they
# belong to is gone; once the token is readable again, the import and the
# pushes must go on from where they were, with nothing lost or sent twice.
# Then a users lookup between runs fails for good: its warning names the
# connection.
use strict;
use warnings;

use FindBin;
use lib "$FindBin::RealBin/../perl";
use CorsaTest;
use PostgreSQL::Test::Utils;
use Test::More;

my $TICKETS = 60;

my $sim = start_simulator();
$sim->post('/_sim/config', { export_lag_seconds => 1, incremental_limit_per_min => 600 });
$sim->post('/_sim/seed', { tickets => $TICKETS, comments_per_ticket => 2, requesters => 20 });

my $node = corsa_node('main', sim => $sim,
	conf => "corsa_zendesk.poll_interval = 0\ncorsa_zendesk.incremental_rate_limit = 600\n"
	  . "corsa_zendesk.max_attempts = 2\ncorsa_zendesk.retry_max_delay = '1s'\n"
	  . "log_statement = none\n");
$node->start;
$node->safe_psql('postgres', 'CREATE EXTENSION corsa_zendesk');

# the first export page takes 8 s: time to spoil the token meanwhile
my $since = $sim->last_request_seq;
$sim->add_fault(kind => 'delay', delay_ms => 8000, nth => 1, method => 'GET',
	path => '^/api/v2/incremental/tickets/cursor');
my ($conn_id, $token, $run) = split /\|/, $node->safe_psql('postgres',
	"SELECT connection_id, webhook_token, import_run_id "
	  . "FROM zd_configure('acme', 'admin\@acme.example', 'sim-admin-token')");
ok( wait_until(sub {
			$sim->faulted_requests($since, 'delay');
		}),
	'the import asked for its first page');

# the worker re-reads the connection (zd_poll_now wakes it) and cannot
# decrypt the token
my $sealed = $node->safe_psql('postgres', 'SELECT api_token_enc FROM zd_connections');
$node->safe_psql('postgres', q{
	UPDATE zd_connections SET api_token_enc = '\x00112233', updated_at = clock_timestamp();
	SELECT zd_poll_now('acme');
});
ok( wait_until(sub {
			$node->safe_psql('postgres',
				"SELECT count(*) FROM zd_sync_log WHERE level = 'error' AND message LIKE '%decrypting%'") ne '0';
		}),
	'the worker says it cannot decrypt the token');
ok(!$sim->faulted_requests($since, 'delay', 1),
	'before the first page was answered');

# a reply queued meanwhile waits for the account
my $ticket = $node->safe_psql('postgres',
	"INSERT INTO zd_tickets (subject, description, requester_email) "
	  . "VALUES ('While locked out', 'A question', 'person1\@example.org') RETURNING id");

# the slow page's answer arrives while there is no account
ok( wait_until(sub {
			$sim->faulted_requests($since, 'delay', 1);
		}),
	'the first page was answered');
sleep 1;
is($node->safe_psql('postgres', "SELECT state FROM zd_sync_runs WHERE id = $run"), 'running',
	'the import waits');
is($node->safe_psql('postgres', "SELECT sync_state FROM zd_tickets WHERE id = $ticket"), 'pending',
	'and so does the push');

# the token is readable again
$node->safe_psql('postgres', qq{
	UPDATE zd_connections SET api_token_enc = '$sealed', updated_at = clock_timestamp();
	SELECT zd_poll_now('acme');
});
is(wait_for_run($node, $run, 60), 'succeeded', 'the import goes on to the end');
is($node->safe_psql('postgres', "SELECT count(*) FROM zd_tickets WHERE origin = 'zendesk'"),
	$TICKETS, 'with every ticket, once');
ok( wait_until(sub {
			$node->safe_psql('postgres', "SELECT sync_state FROM zd_tickets WHERE id = $ticket") eq 'synced';
		}, 60),
	'the waiting ticket is pushed');
is(scalar(grep { ($_->{external_id} // '') eq "corsa:$ticket" } @{ $sim->get('/_sim/state')->{tickets} }),
	1, 'once');

# --- a users lookup between runs that fails for good -----------------------------------------
# a webhook brings a ticket whose requester the account's users do not
# tell yet: the worker asks Zendesk, which fails every time
$sim->post('/_sim/config', { webhook_bearer_token => $token });
$sim->add_fault(kind => '5xx', path => '^/api/v2/users/show_many');
my $wh_since = $sim->last_webhook_seq;
$sim->post('/_sim/actions/create_ticket', { requester_email => 'stranger@example.net', body => 'Hello?' });
my ($created) = grep { $_->{type} =~ /created/ } @{ $sim->get("/_sim/webhooks?since=$wh_since")->{events} };
ok($created, 'Zendesk sent the webhook of a new ticket');
is((deliver_webhooks($node, [$created]))[0],
	'applied', 'which is ingested without its requester\'s e-mail');
ok( wait_until(sub {
			$node->safe_psql('postgres',
				"SELECT count(*) FROM zd_sync_log WHERE level = 'warning' AND message ~ 'failed [0-9]+ times'") ne '0';
		}, 60),
	'the failed lookup is logged');
is($node->safe_psql('postgres',
		"SELECT string_agg(coalesce(connection_id::text, 'none'), ',') FROM zd_sync_log "
		  . "WHERE level = 'warning' AND message ~ 'failed [0-9]+ times'"),
	$conn_id, 'on its connection');

$node->stop;
done_testing();
