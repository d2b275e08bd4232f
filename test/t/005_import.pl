# The pull path end to end: the historical import of 5,000 tickets x 4
# comments (50 soft-deleted, 500 requesters, 300 of them the application's
# clients) equals the simulator's data field by field, with every client
# matched, in a bounded number of requests; a poll with no changes makes at
# most two requests; and one zd_poll_now reflects every kind of agent
# action in Zendesk.
use strict;
use warnings;

use FindBin;
use lib "$FindBin::RealBin/../perl";
use CorsaTest;
use JSON::PP;
use POSIX qw(ceil);
use PostgreSQL::Test::Utils;
use Test::More;

my $TICKETS = 5000;
my $COMMENTS = 4;
my $DELETED = 50;
my $REQUESTERS = 500;
my $CLIENTS = 300;

my $sim = start_simulator();
# the export leaves out the last second only, and the incremental limit is
# raised on both sides: this test is about data, t/008 about pacing
$sim->post('/_sim/config', { export_lag_seconds => 1, incremental_limit_per_min => 600 });
my $seed = $sim->post('/_sim/seed', {
	tickets => $TICKETS, comments_per_ticket => $COMMENTS, soft_deleted => $DELETED,
	requesters => $REQUESTERS, email_case_mix => JSON::PP::true });

my $node = corsa_node('main', sim => $sim,
	conf => "corsa_zendesk.poll_interval = 0\ncorsa_zendesk.incremental_rate_limit = 600\n");
$node->start;
$node->safe_psql('postgres', 'CREATE EXTENSION corsa_zendesk');

# the application's clients: 300 of the requesters, e-mails in lower case
my $state = $sim->get('/_sim/state');
my @requesters = sort { $a->{id} <=> $b->{id} } grep { $_->{role} eq 'end-user' } @{ $state->{users} };
is(scalar(@requesters), $REQUESTERS, "the simulator has $REQUESTERS requesters");
my $values = join(',', map { sprintf("('%s')", lc $requesters[$_]{email}) } 0 .. $CLIENTS - 1);
$node->safe_psql('postgres',
	"CREATE TABLE app_clients (id serial PRIMARY KEY, email text NOT NULL);"
	  . "INSERT INTO app_clients (email) VALUES $values;"
	  . "SELECT zd_set_client_source('app_clients');");

# --- the import ---------------------------------------------------------------
my $seq = $sim->last_request_seq;
my $run = $node->safe_psql('postgres',
	"SELECT import_run_id FROM zd_configure('acme', 'admin\@acme.example', 'sim-admin-token')");
is(wait_for_run($node, $run), 'succeeded',
	'the historical import succeeds');

# field by field, in SQL, against the simulator's own state
my $dir = PostgreSQL::Test::Utils::tempdir();
sub load_state
{
	my $file = "$dir/state.json";
	open(my $fh, '>', $file) or die "cannot write $file: $!";
	print $fh JSON::PP->new->utf8->encode($sim->get('/_sim/state'));
	close $fh;
	$node->safe_psql('postgres', qq{
		DROP TABLE IF EXISTS sim_state, exp_tickets, exp_replies;
		CREATE TABLE sim_state AS SELECT pg_read_file('$file')::jsonb AS doc;
		CREATE TABLE exp_tickets AS
		SELECT t.id AS zendesk_id, t.subject, t.description, t.status, t.priority,
			t.type AS ticket_type, t.tags, t.external_id,
			t.created_at::timestamptz AS zendesk_created_at,
			t.updated_at::timestamptz AS zendesk_updated_at,
			u.email AS requester_email, u.name AS requester_name,
			CASE WHEN t.deleted OR t.scrubbed THEN t.deleted_at::timestamptz END AS deleted_at,
			CASE WHEN t.deleted OR t.scrubbed THEN (t.deleted_by->>'id')::bigint END AS deleted_by_zendesk_id,
			CASE WHEN t.deleted OR t.scrubbed THEN t.deleted_by->>'name' END AS deleted_by_name,
			CASE WHEN t.deleted OR t.scrubbed THEN t.previous_state END AS deleted_previous_status,
			CASE WHEN t.scrubbed THEN 'permanent' WHEN t.deleted THEN 'soft' END AS deletion_kind,
			(SELECT c.id::text FROM app_clients c WHERE c.email = lower(u.email)) AS client_id
		FROM sim_state, jsonb_to_recordset(doc->'tickets') AS t(id bigint, subject text,
			description text, status text, priority text, type text, tags text[],
			external_id text, created_at text, updated_at text, requester_id bigint,
			deleted boolean, scrubbed boolean, deleted_at text, deleted_by jsonb,
			previous_state text)
		LEFT JOIN jsonb_to_recordset((SELECT doc->'users' FROM sim_state))
			AS u(id bigint, email text, name text) ON u.id = t.requester_id;
		CREATE TABLE exp_replies AS
		SELECT c.id AS zendesk_comment_id, t.id AS ticket_zendesk_id, u.email AS author_email,
			u.name AS author_name, c.body, c.html_body, c.public,
			c.created_at::timestamptz AS zendesk_created_at
		FROM sim_state, jsonb_to_recordset(doc->'tickets') AS t(id bigint, comments jsonb),
			jsonb_to_recordset(t.comments) AS c(id bigint, author_id bigint, body text,
			html_body text, public boolean, created_at text)
		LEFT JOIN jsonb_to_recordset((SELECT doc->'users' FROM sim_state))
			AS u(id bigint, email text, name text) ON u.id = c.author_id;
	});
	return;
}

my $ticket_cols = 'zendesk_id, subject, description, status, priority, ticket_type, tags, '
  . 'external_id, zendesk_created_at, zendesk_updated_at, requester_email, requester_name, '
  . 'deleted_at, deleted_by_zendesk_id, deleted_by_name, deleted_previous_status, deletion_kind, client_id';
my $reply_cols = 'zendesk_comment_id, ticket_zendesk_id, author_email, author_name, body, '
  . 'html_body, public, zendesk_created_at';
my $our_replies = "(SELECT r.*, t.zendesk_id AS ticket_zendesk_id FROM zd_replies r "
  . "JOIN zd_tickets t ON t.id = r.ticket_id) ours";

# rows of one side missing from the other, both ways; shows a few on failure
sub compare
{
	my ($what, $cols, $expected, $ours) = @_;
	my $diff = $node->safe_psql('postgres', qq{
		SELECT 'missing: ' || d::text FROM (SELECT $cols FROM $expected EXCEPT SELECT $cols FROM $ours) d
		UNION ALL
		SELECT 'extra: ' || d::text FROM (SELECT $cols FROM $ours EXCEPT SELECT $cols FROM $expected) d
		LIMIT 6});
	is($diff, '', "$what equal the simulator's, field by field") or diag $diff;
	return;
}

load_state();
is($node->safe_psql('postgres', 'SELECT count(*) FROM zd_tickets'), $TICKETS, "$TICKETS tickets");
is($node->safe_psql('postgres', 'SELECT count(*) FROM zd_replies'), $TICKETS * $COMMENTS,
	($TICKETS * $COMMENTS) . ' replies, the first comments included');
compare('the tickets', $ticket_cols, 'exp_tickets', 'zd_tickets');
compare('the replies', $reply_cols, 'exp_replies', $our_replies);

is($node->safe_psql('postgres',
		"SELECT count(*) FILTER (WHERE label = 'Deleted'), count(*) FILTER (WHERE client_id IS NOT NULL) FROM zd_tickets"),
	$node->safe_psql('postgres',
		"SELECT count(*) FILTER (WHERE deleted_at IS NOT NULL), count(*) FILTER (WHERE client_id IS NOT NULL) FROM exp_tickets"),
	'the deleted tickets carry the Deleted label, and every client is matched');
is($node->safe_psql('postgres',
		"SELECT count(DISTINCT zendesk_id) = count(*) FROM zd_tickets"), 't', 'no ticket twice');
is($node->safe_psql('postgres',
		"SELECT count(*) FROM zd_tickets WHERE deleted_at IS NOT NULL AND deletion_seen_by = 'poll'"),
	$DELETED, 'the deletions were seen by the import');

# requests: pages, not tickets
my @reqs = @{ $sim->requests($seq) };
my @tickets_reqs = grep { $_->{path} =~ m{^/api/v2/incremental/tickets} } @reqs;
my @event_reqs = grep { $_->{path} =~ m{^/api/v2/incremental/ticket_events} } @reqs;
my $events = $seed->{audits} // $TICKETS * $COMMENTS;
my $bound = ceil($TICKETS / 1000) + ceil($events / 1000) + 3;
my $made = scalar(@reqs) - 1;	# the first is zd_configure's /users/me
cmp_ok($made, '<=', $bound,
	sprintf('the import made %d requests (%d ticket pages, %d event pages): at most %d',
		$made, scalar(@tickets_reqs), scalar(@event_reqs), $bound));
is($node->safe_psql('postgres', "SELECT requests FROM zd_sync_runs WHERE id = $run"),
	$made, 'zd_sync_runs counts them');
is($node->safe_psql('postgres', "SELECT progress, tickets, replies, deletions FROM zd_sync_runs WHERE id = $run"),
	"100.0|$TICKETS|" . ($TICKETS * $COMMENTS) . "|$DELETED", 'and reports progress and totals');
like($tickets_reqs[0]{query}, qr/start_time=0/, 'the first export request starts at 0');
like($tickets_reqs[0]{query}, qr/support_type_scope=all/, 'with support_type_scope=all');
ok(!grep({ $_->{query} =~ /start_time/ } @tickets_reqs[1 .. $#tickets_reqs]),
	'later pages use the cursor');

# --- a poll with no changes ----------------------------------------------------
sub poll
{
	my $before = $node->safe_psql('postgres', "SELECT coalesce(max(id), 0) FROM zd_sync_runs WHERE kind = 'poll'");
	my $s = $sim->last_request_seq;
	my $id = '';
	$node->safe_psql('postgres', 'SELECT zd_poll_now()');
	wait_until(sub {
		$id = $node->safe_psql('postgres',
			"SELECT id FROM zd_sync_runs WHERE kind = 'poll' AND id > $before ORDER BY id LIMIT 1");
		$id ne '';
	}, 60);
	is(wait_for_run($node, $id || 0), 'succeeded', 'zd_poll_now runs a poll');
	return $sim->requests($s);
}
sleep 2;	# past the export's lag
my $poll_reqs = poll();
cmp_ok(scalar(@$poll_reqs), '<=', 2, 'a poll with no changes makes at most 2 requests');
my ($ticket_req) = grep { $_->{path} =~ m{/incremental/tickets/cursor} } @$poll_reqs;
like($ticket_req->{query} // '', qr/cursor=/, 'it resumes from the stored cursor');

# --- agent actions in Zendesk, then one poll -------------------------------------
my @ids = map { $_->{id} } sort { $a->{id} <=> $b->{id} }
  grep { !$_->{deleted} && $_->{status} ne 'closed' } @{ $state->{tickets} };
my ($reply_to, $private_to, $status_of, $delete_me, $scrub_me) = @ids[10 .. 14];
my ($restore_me) = map { $_->{id} } grep { $_->{deleted} } @{ $state->{tickets} };
my $new1 = $sim->post('/_sim/actions/create_ticket', { requester_email => lc $requesters[0]{email},
	subject => 'New from a client', body => 'I need help', priority => 'high' })->{ticket}{id};
my $new2 = $sim->post('/_sim/actions/create_ticket', { requester_email => 'stranger@example.net',
	requester_name => 'Stranger', subject => 'New from a stranger', body => 'Hello?' })->{ticket}{id};
$sim->post('/_sim/actions/reply', { ticket_id => $reply_to, body => 'A public answer', public => JSON::PP::true, author => 'agent' });
$sim->post('/_sim/actions/reply', { ticket_id => $private_to, body => 'An internal note', public => JSON::PP::false, author => 'agent' });
$sim->post('/_sim/actions/reply', { ticket_id => $new1, body => 'More details', public => JSON::PP::true, author => 'requester' });
$sim->post('/_sim/actions/set_status', { ticket_id => $status_of, status => 'solved' });
$sim->post('/_sim/actions/soft_delete', { ticket_id => $delete_me });
$sim->post('/_sim/actions/permanent_delete', { ticket_id => $scrub_me });
$sim->post('/_sim/actions/restore', { ticket_id => $restore_me });
my $scrubbed_subject = $node->safe_psql('postgres', "SELECT subject FROM zd_tickets WHERE zendesk_id = $scrub_me");

sleep 2;
$poll_reqs = poll();
load_state();
# a scrubbed ticket keeps its content here: compare it apart
compare('after one poll, the tickets', $ticket_cols,
	"(SELECT * FROM exp_tickets WHERE zendesk_id <> $scrub_me) e",
	"(SELECT * FROM zd_tickets WHERE zendesk_id <> $scrub_me) z");
compare('and the replies', $reply_cols, 'exp_replies', $our_replies);
is($node->safe_psql('postgres',
		"SELECT subject = '$scrubbed_subject', label, deletion_kind, count(r.id) > 0 FROM zd_tickets t "
		  . "LEFT JOIN zd_replies r ON r.ticket_id = t.id WHERE t.zendesk_id = $scrub_me "
		  . "GROUP BY 1, 2, 3"),
	't|Deleted|permanent|t',
	'the permanently deleted ticket keeps its content and replies, labelled Deleted');
is($node->safe_psql('postgres', "SELECT label IS NULL, status FROM zd_tickets WHERE zendesk_id = $restore_me"),
	't|' . $node->safe_psql('postgres', "SELECT status FROM exp_tickets WHERE zendesk_id = $restore_me"),
	'the restored ticket lost its label');
is($node->safe_psql('postgres',
		"SELECT label, deleted_by_name, deleted_previous_status, deletion_seen_by FROM zd_tickets WHERE zendesk_id = $delete_me"),
	$node->safe_psql('postgres',
		"SELECT 'Deleted', deleted_by_name, deleted_previous_status, 'poll' FROM exp_tickets WHERE zendesk_id = $delete_me"),
	'the soft-deleted ticket says who deleted it, its previous status, and how we learnt it');
is($node->safe_psql('postgres', "SELECT client_id IS NOT NULL FROM zd_tickets WHERE zendesk_id = $new1"),
	't', 'the new ticket from a client is matched to the client');
is($node->safe_psql('postgres', "SELECT requester_email, client_id IS NULL FROM zd_tickets WHERE zendesk_id = $new2"),
	'stranger@example.net|t', 'the stranger\'s ticket has the e-mail and no client');

# the log a person reads
my $log = $node->safe_psql('postgres', "SELECT string_agg(message, E'\\n' ORDER BY id) FROM zd_sync_log");
like($log, qr/historical import of acme started/, 'the log shows the import starting');
like($log, qr/historical import of acme done in [\d.]+ s: $TICKETS tickets, @{[ $TICKETS * $COMMENTS ]} replies, $DELETED deletions/,
	'and its summary');
like($log, qr/poll of acme done/, 'and the polls');

# --- clients added after the import -----------------------------------------------
sub matched
{
	my ($email) = @_;
	return $node->safe_psql('postgres',
		"SELECT count(*) FILTER (WHERE t.client_id = c.id::text) || '/' || count(*) "
		  . "FROM zd_tickets t JOIN app_clients c ON c.email = lower(t.requester_email) "
		  . "WHERE c.email = '$email'");
}
my $late = lc $requesters[$CLIENTS]{email};
$node->safe_psql('postgres', "INSERT INTO app_clients (email) VALUES ('$late')");
my ($got, $all) = split m{/}, matched($late);
cmp_ok($all, '>', 0, 'the late client has tickets');
is($got, 0, 'which are not matched yet');
is($node->safe_psql('postgres', 'SELECT zd_rematch_clients()'), $all,
	'zd_rematch_clients() matches them (and says how many)');
is(matched($late), "$all/$all", 'every ticket of the late client is matched');

my $later = lc $requesters[$CLIENTS + 1]{email};
$node->safe_psql('postgres', "INSERT INTO app_clients (email) VALUES ('$later')");
my $full = $node->safe_psql('postgres', 'SELECT zd_full_sync()');
is(wait_for_run($node, $full), 'succeeded',
	'a full sync runs');
($got, $all) = split m{/}, matched($later);
ok($all > 0 && $got == $all, 'and matches the tickets of a client added before it');
is($node->safe_psql('postgres', 'SELECT count(*), count(DISTINCT zendesk_id) FROM zd_tickets'),
	($TICKETS + 2) . '|' . ($TICKETS + 2), 'the full sync duplicated nothing');

$node->stop;
done_testing();
