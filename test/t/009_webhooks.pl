# Webhooks end to end: agents work on a few hundred tickets in the
# simulator, which emits about 10,000 webhook events (signed, with the
# bearer token); they are delivered to zd_ingest_webhook byte for byte, 30 %
# of them twice, in shuffled order.  The tables must end equal to the
# simulator's state, field by field, once the worker has fetched the
# requesters' e-mails the events do not carry.  Then the missed-webhook
# count: zero after a poll that finds nothing new, more once a change
# reaches us only through the poll.
use strict;
use warnings;

use FindBin;
use lib "$FindBin::RealBin/../perl";
use CorsaTest;
use JSON::PP;
use PostgreSQL::Test::Utils;
use Test::More;

my $EVENTS = 10_000;
my $TICKETS = 300;
my $PEOPLE = 120;
my $TEST_SECRET = 'dGhpc19zZWNyZXRfaXNfZm9yX3Rlc3Rpbmdfb25seQ==';

srand(20261124);
my $sim = start_simulator();
# the High Volume add-on's 30 export requests a minute: a poll reads the
# burst of events in about 15 pages
$sim->post('/_sim/config', { export_lag_seconds => 1, incremental_limit_per_min => 30 });
my $node = corsa_node('main', sim => $sim,
	conf => "corsa_zendesk.poll_interval = 0\ncorsa_zendesk.incremental_rate_limit = 30\n"
	  . "log_statement = none\n");
$node->start;
$node->safe_psql('postgres', 'CREATE EXTENSION corsa_zendesk');
$node->safe_psql('postgres',
	"CREATE TABLE app_clients (id serial PRIMARY KEY, email text);"
	  . "INSERT INTO app_clients (email) SELECT 'person' || n || '\@example.org' FROM generate_series(1, 60) n;"
	  . "SELECT zd_set_client_source('app_clients');");
my ($token, $import) = split /\|/, $node->safe_psql('postgres',
	"SELECT webhook_token, import_run_id FROM zd_configure('acme', 'admin\@acme.example', 'sim-admin-token')");
$node->safe_psql('postgres', "SELECT zd_set_signing_secret('$TEST_SECRET')");
$sim->post('/_sim/config', { webhook_bearer_token => $token, webhook_signing_secret => $TEST_SECRET });
is(wait_for_run($node, $import), 'succeeded', 'the (empty) account is imported');

# --- agents at work -------------------------------------------------------------
my $agents = $sim->simulate_agents(tickets => $TICKETS, people => $PEOPLE, events => $EVENTS);
my ($live, $deleted, $closed) = @{$agents}{qw(live deleted closed)};
my $events = $sim->get('/_sim/webhooks?since=0')->{events};
cmp_ok(scalar(@$events), '>=', $EVENTS, scalar(@$events) . " webhook events were emitted");

# --- delivered twice (30 %), in shuffled order ----------------------------------------
my @deliveries = (@$events, grep { rand() < 0.3 } @$events);
my $copies = scalar(@deliveries) - scalar(@$events);
for (my $i = $#deliveries; $i > 0; $i--)
{
	my $j = int(rand($i + 1));
	@deliveries[ $i, $j ] = @deliveries[ $j, $i ];
}
my ($out, $err) = deliver_webhooks($node, \@deliveries);
my $dir = PostgreSQL::Test::Utils::tempdir();
is($err, '', 'every delivery was accepted') or diag substr($err, 0, 2000);
my %outcomes;
$outcomes{$_}++ for split /\n/, $out;
is(scalar(split /\n/, $out), scalar(@deliveries), scalar(@deliveries) . ' deliveries answered');
is($outcomes{duplicate} // 0, $copies, "the $copies redeliveries were recognized as duplicates");
note explain \%outcomes;

# the events carry requester ids only: the worker asks Zendesk for the rest
ok( wait_until(sub {
		$node->safe_psql('postgres',
			"SELECT (SELECT count(*) FROM zd_tickets WHERE requester_email IS NULL)"
			  . " + (SELECT count(*) FROM zd_replies WHERE author_email IS NULL)") eq '0';
	}, 60),
	'the worker fetched the e-mails of requesters and authors');

# --- field by field ------------------------------------------------------------------
open(my $fh, '>', "$dir/state.json") or die;
print $fh JSON::PP->new->utf8->encode($sim->get('/_sim/state'));
close $fh;
$node->safe_psql('postgres', qq{
	CREATE TABLE sim_state AS SELECT pg_read_file('$dir/state.json')::jsonb AS doc;
	CREATE TABLE exp_tickets AS
	SELECT t.id AS zendesk_id, t.subject, t.description, t.status, t.priority,
		t.type AS ticket_type, ARRAY(SELECT unnest(t.tags) ORDER BY 1) AS tags, t.external_id,
		t.created_at::timestamptz AS zendesk_created_at, t.updated_at::timestamptz AS zendesk_updated_at,
		u.email AS requester_email, u.name AS requester_name,
		t.deleted OR t.scrubbed AS deleted, t.scrubbed AS permanent, t.merged_into,
		(SELECT c.id::text FROM app_clients c WHERE c.email = lower(u.email)) AS client_id
	FROM sim_state, jsonb_to_recordset(doc->'tickets') AS t(id bigint, subject text,
		description text, status text, priority text, type text, tags text[], external_id text,
		created_at text, updated_at text, requester_id bigint, deleted boolean, scrubbed boolean,
		merged_into bigint)
	LEFT JOIN jsonb_to_recordset((SELECT doc->'users' FROM sim_state))
		AS u(id bigint, email text, name text) ON u.id = t.requester_id;
	CREATE TABLE exp_replies AS
	SELECT c.id AS zendesk_comment_id, t.id AS ticket_zendesk_id, u.email AS author_email,
		u.name AS author_name, c.body, c.public,
		c.created_at::timestamptz AS created
	FROM sim_state, jsonb_to_recordset(doc->'tickets') AS t(id bigint, comments jsonb),
		jsonb_to_recordset(t.comments) AS c(id bigint, author_id bigint, body text,
		public boolean, created_at text)
	LEFT JOIN jsonb_to_recordset((SELECT doc->'users' FROM sim_state))
		AS u(id bigint, email text, name text) ON u.id = c.author_id;
});
sub compare
{
	my ($what, $cols, $expected, $ours) = @_;
	my $diff = $node->safe_psql('postgres', qq{
		SELECT line FROM (
			SELECT 'missing: ' || d::text AS line, d AS r FROM (SELECT $cols FROM $expected EXCEPT SELECT $cols FROM $ours) d
			UNION ALL
			SELECT 'extra:   ' || d::text, d FROM (SELECT $cols FROM $ours EXCEPT SELECT $cols FROM $expected) d
			ORDER BY r, line) x
		LIMIT 12});
	is($diff, '', "$what equal the simulator's, field by field") or diag $diff;
	return;
}
compare('the tickets',
	'zendesk_id, subject, description, status, priority, ticket_type, tags, external_id, '
	  . 'zendesk_created_at, zendesk_updated_at, requester_email, requester_name, deleted, '
	  . 'permanent, merged_into, client_id',
	'exp_tickets',
	"(SELECT zendesk_id, subject, description, status, priority, ticket_type, "
	  . "ARRAY(SELECT unnest(tags) ORDER BY 1) AS tags, external_id, zendesk_created_at, "
	  . "zendesk_updated_at, requester_email, requester_name, "
	  . "label IS NOT DISTINCT FROM 'Deleted' AS deleted, "
	  . "deletion_kind IS NOT DISTINCT FROM 'permanent' AS permanent, merged_into_zendesk_id AS merged_into, client_id "
	  . "FROM zd_tickets) z");
compare('the replies',
	'zendesk_comment_id, ticket_zendesk_id, author_email, author_name, body, public',
	'exp_replies',
	"(SELECT r.zendesk_comment_id, t.zendesk_id AS ticket_zendesk_id, r.author_email, "
	  . "r.author_name, r.body, r.public "
	  . "FROM zd_replies r JOIN zd_tickets t ON t.id = r.ticket_id) z");
# a comment event carries no creation time of its own: the time of the
# event that brought it (nanoseconds, read to the microsecond) stands for it;
# it follows the comment's created_at, which Zendesk gives in whole seconds
# (by up to a second, plus the moment between the comment and its event)
open($fh, '>', "$dir/events.json") or die;
print $fh JSON::PP->new->utf8->encode($events);
close $fh;
$node->safe_psql('postgres', qq{
	CREATE TABLE exp_comment_times AS
	SELECT (b->'event'->'comment'->>'id')::bigint AS zendesk_comment_id,
		(b->>'time')::timestamptz AS event_time
	FROM jsonb_array_elements(pg_read_file('$dir/events.json')::jsonb) AS e,
		LATERAL (SELECT (e->>'body')::jsonb AS b) x
	WHERE b->>'type' = 'zen:event-type:ticket.comment_added'});
is($node->safe_psql('postgres', qq{
		SELECT count(*) FROM zd_replies r JOIN exp_replies e USING (zendesk_comment_id)
		LEFT JOIN exp_comment_times c USING (zendesk_comment_id)
		WHERE r.zendesk_created_at IS DISTINCT FROM c.event_time
		OR c.event_time NOT BETWEEN e.created AND e.created + interval '5 seconds'}),
	'0', "each reply's time is its comment event's, just after Zendesk's created_at");
is($node->safe_psql('postgres',
		"SELECT count(*) FROM zd_tickets WHERE deletion_kind IS NOT NULL AND deletion_seen_by <> 'webhook'"),
	'0', 'every deletion was seen by webhook');
is($node->safe_psql('postgres', "SELECT count(*) FROM zd_webhook_events"),
	scalar(@$events), 'each event id is recorded once');

# --- the missed-webhook count ------------------------------------------------------
sub poll
{
	my $before = $node->safe_psql('postgres', "SELECT coalesce(max(id), 0) FROM zd_sync_runs");
	$node->safe_psql('postgres', 'SELECT zd_poll_now()');
	my $id = '';
	wait_until(sub {
		$id = $node->safe_psql('postgres', "SELECT id FROM zd_sync_runs WHERE kind = 'poll' AND id > $before");
		$id ne '';
	}, 60);
	return wait_for_run($node, $id || 0, 180);
}
sleep 2;	# past the export's lag
is(poll(), 'succeeded', 'a poll after the webhooks');
is($node->safe_psql('postgres', 'SELECT missed_webhook_changes FROM zd_sync_status'), '0',
	'it found nothing the webhooks had not reported');
# a reply whose webhook never arrives
my ($quiet) = grep { !$deleted->{$_} && !$closed->{$_} } @$live;
ok($sim->post('/_sim/actions/reply', { ticket_id => $quiet, body => 'Lost in transit', author => 'agent' }),
	"an agent replies on ticket $quiet; the webhook is lost");
sleep 2;
is(poll(), 'succeeded', 'the next poll');
is($node->safe_psql('postgres', "SELECT count(*) FROM zd_replies WHERE body = 'Lost in transit'"),
	'1', 'picks up the change');
cmp_ok($node->safe_psql('postgres', 'SELECT missed_webhook_changes FROM zd_sync_status'), '>', 0,
	'and counts it as missed by the webhooks');
ok($node->safe_psql('postgres', 'SELECT last_webhook_at IS NOT NULL FROM zd_sync_status') eq 't',
	'zd_sync_status shows when the last webhook arrived');

# zd_set_signing_secret changed the connection's row after the import: the
# worker rebuilt its account but not Zendesk's budget, which it kept counting
my @refused = grep { ($_->{status} // 0) == 429 } @{ $sim->get('/_sim/requests?since=0')->{requests} };
is(scalar(@refused), 0, 'no request was refused for exceeding the rate limits')
  or diag explain \@refused;

$node->stop;
done_testing();
