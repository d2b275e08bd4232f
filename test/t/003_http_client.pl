# The Zendesk HTTP client, seen through zd_configure (one request to
# /api/v2/users/me): a hanging Zendesk is abandoned at the timeout; a
# cancelled call returns within a second, and pg_stat_activity shows no
# credential meanwhile; 5xx, resets and truncated bodies are retried with
# backoff; a 429's Retry-After is waited out, never cut short.
use strict;
use warnings;

use FindBin;
use lib "$FindBin::RealBin/../perl";
use CorsaTest;
use IPC::Run;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time usleep);

my $sim = start_simulator();
my $node = corsa_node('main', sim => $sim, conf => "corsa_zendesk.poll_interval = 0\n");
$node->start;
$node->safe_psql('postgres', 'CREATE EXTENSION corsa_zendesk');
# create the key file now, so that its WARNING does not mix with the tests
$node->safe_psql('postgres',
	"SELECT 1 FROM zd_configure('setup', 'admin\@acme.example', 'sim-admin-token', false)");

my $token = 'sim-admin-token';
my $configure = "SELECT connection_id FROM zd_configure('acme', 'admin\@acme.example', '$token')";
my $me = '/api/v2/users/me';

sub timed_psql
{
	my ($sql) = @_;
	my $t0 = time();
	my ($rc, $out, $err) = $node->psql('postgres', $sql,
		extra_params => ['-v', 'VERBOSITY=verbose']);
	return ($rc, $out, $err, time() - $t0);
}

# --- a Zendesk that hangs is abandoned at the timeout --------------------------------
$sim->add_fault(kind => 'hang', path => $me, nth => 1);
my ($rc, $out, $err, $secs) = timed_psql("SET corsa_zendesk.http_timeout = '2s'; $configure");
like($err, qr/ERROR:  08006: could not reach Zendesk for subdomain "acme"/,
	'a hanging request ends with SQLSTATE 08006');
like($err, qr/HINT:  Zendesk did not answer within corsa_zendesk\.http_timeout \(2000 ms\)/,
	'naming the timeout');
cmp_ok($secs, '>=', 1.9, 'after the timeout') ;
cmp_ok($secs, '<', 4, 'and not much later (no retry after a timeout in zd_configure)');
$sim->clear_faults;

# --- a cancelled call returns within a second ----------------------------------------
$sim->add_fault(kind => 'hang', path => $me, nth => 1);
my ($stdout, $stderr) = ('', '');
my $h = IPC::Run::start(
	[ 'psql', '-X', '-v', 'VERBOSITY=verbose', '-d', $node->connstr('postgres'), '-c', $configure ],
	'>', \$stdout, '2>', \$stderr);
my $pid;
ok( wait_until(sub {
		$pid = $node->safe_psql('postgres',
			"SELECT pid FROM pg_stat_activity WHERE query LIKE '%arguments hidden by corsa_zendesk%' AND pid <> pg_backend_pid()"
			  . " AND state = 'active'");
		$pid ne '';
	}, 10),
	'while zd_configure waits on Zendesk, pg_stat_activity shows it without its arguments');
unlike($node->safe_psql('postgres', "SELECT query FROM pg_stat_activity WHERE pid = $pid"),
	qr/\Q$token\E/, 'the token is not in pg_stat_activity');
usleep(300_000);
my $t0 = time();
$node->safe_psql('postgres', "SELECT pg_cancel_backend($pid)");
$h->finish;
my $cancel_secs = time() - $t0;
like($stderr, qr/ERROR:  57014: canceling statement due to user request/, 'the call was cancelled');
cmp_ok($cancel_secs, '<', 1, sprintf('and returned within a second (%.3f s)', $cancel_secs));
is($node->safe_psql('postgres', "SELECT count(*) FROM zd_connections WHERE subdomain = 'acme'"),
	'0', 'nothing was saved');
$sim->clear_faults;

# --- retried failures -------------------------------------------------------------
for my $kind ('5xx', 'reset', 'truncate')
{
	my $seq = $sim->last_request_seq;
	$sim->add_fault(kind => $kind, path => $me, nth => 1);
	($rc, $out, $err, $secs) = timed_psql($configure);
	is($rc, 0, "after a $kind answer zd_configure retries and succeeds") or diag $err;
	my @reqs = grep { $_->{path} =~ m{^\Q$me\E} } @{ $sim->requests($seq) };
	is(scalar(@reqs), 2, "two requests for the $kind case");
	my $gap = $reqs[1]{time} - $reqs[0]{time};
	cmp_ok($gap, '>=', 0.45, sprintf('the retry waited for backoff (%.2f s)', $gap));
	$sim->clear_faults;
}

# --- Retry-After is honoured -------------------------------------------------------
my $seq = $sim->last_request_seq;
$sim->add_fault(kind => '429', path => $me, nth => 1, retry_after => 2);
($rc, $out, $err, $secs) = timed_psql($configure);
is($rc, 0, 'after a 429 zd_configure waits and succeeds') or diag $err;
my @reqs = grep { $_->{path} =~ m{^\Q$me\E} } @{ $sim->requests($seq) };
is(scalar(@reqs), 2, 'two requests');
cmp_ok($reqs[1]{time} - $reqs[0]{time}, '>=', 2, 'the second came after Retry-After');
is(scalar(grep { $_->{violated_retry_after} } @{ $sim->requests(0) }), 0,
	'the simulator saw no request before a Retry-After it issued had elapsed');
$sim->clear_faults;

# --- a 429 whose Retry-After is longer than zd_configure is willing to wait ------------
$sim->add_fault(kind => '429', path => $me, nth => 1, retry_after => 60);
($rc, $out, $err, $secs) = timed_psql($configure);
like($err, qr/ERROR:  08006: Zendesk could not verify the credentials.*\n.*DETAIL:  HTTP 429/,
	'a long Retry-After makes zd_configure give up with the 429 as detail');
cmp_ok($secs, '<', 5, 'at once rather than after a minute');
$sim->clear_faults;

$node->stop;
done_testing();
