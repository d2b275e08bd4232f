# Connecting to Zendesk: zd_configure against the simulator (verification,
# wrong token, non-admin agent, subdomains refused before any request), the
# key file, and where the API token must never appear: pg_dump output, the
# server log, pg_stat_activity, any table.  Privileges of a non-owner.
use strict;
use warnings;

use FindBin;
use lib "$FindBin::RealBin/../perl";
use CorsaTest;
use PostgreSQL::Test::Utils;
use Test::More;

my $sim = start_simulator();
# log_statement is back at its default: with "all", PostgreSQL logs every
# statement's text before any extension could hide it (see README)
my $node = corsa_node('main', sim => $sim,
	conf => "corsa_zendesk.webhook_base_url = 'https://corsa.example/zendesk'\n"
	  . "corsa_zendesk.poll_interval = 0\nlog_statement = none\n");
$node->start;
$node->safe_psql('postgres', 'CREATE EXTENSION corsa_zendesk');

# psql with SQLSTATEs in error messages
sub try_sql
{
	my ($sql, %opts) = @_;
	my ($rc, $out, $err) = $node->psql($opts{db} // 'postgres', $sql,
		extra_params => ['-v', 'VERBOSITY=verbose', @{ $opts{params} // [] }]);
	return ($rc, $out, $err);
}

my $admin_token = 'sim-admin-token';
my $wrong_token = 'not-the-token-0123456789';
my $agent_token = 'sim-agent-token';

# --- a successful configuration --------------------------------------------
my $seq = $sim->last_request_seq;
my ($rc, $out, $err) = try_sql(
	"SELECT connection_id, webhook_url, length(webhook_token), import_run_id IS NOT NULL "
	  . "FROM zd_configure('acme', 'admin\@acme.example', '$admin_token')");
is($rc, 0, 'zd_configure succeeds against the simulator') or diag $err;
is($out, '1|https://corsa.example/zendesk/acme|64|t',
	'it returns the connection, the webhook URL and token, and the import run');

my $keyfile = $node->data_dir . '/corsa_zendesk.key';
like($err, qr/WARNING:  01000: corsa_zendesk\.secret_key_file is not set: created the key file "\Q$keyfile\E"/,
	'a WARNING names the key file it created');
ok(-f $keyfile, 'the key file exists');
is(sprintf('%04o', (stat $keyfile)[2] & 07777), '0600', 'with mode 0600');
like(slurp_file($keyfile), qr/^[0-9a-f]{64}\n$/, 'holding 64 hexadecimal characters');

# (the worker's import may follow at once: look at the verification only)
my $reqs = [ grep { $_->{path} =~ m{^/api/v2/users/me} } @{ $sim->requests($seq) } ];
is(scalar(@$reqs), 1, 'one request to /api/v2/users/me verified the credentials');
ok(defined $reqs->[0]{user_id}, 'authenticated as the agent (Basic email/token)');

is($node->safe_psql('postgres',
		"SELECT agent_zendesk_id IS NOT NULL AND verified_at IS NOT NULL FROM zd_connections"),
	't', 'the agent was verified');
is($node->safe_psql('postgres', "SELECT zd_webhook_settings('acme')"),
	$node->safe_psql('postgres',
		"SELECT ('acme', 'https://corsa.example/zendesk/acme', webhook_token)::text FROM zd_webhook_settings('acme')"),
	'zd_webhook_settings shows the URL and token again');

# --- a wrong token: 28000 and nothing saved -----------------------------------
($rc, $out, $err) = try_sql(
	"SELECT * FROM zd_configure('beta', 'admin\@acme.example', '$wrong_token')");
like($err, qr/ERROR:  28000: Zendesk rejected the credentials for subdomain "beta"/,
	'a token Zendesk refuses gives SQLSTATE 28000');
like($err, qr/DETAIL:  HTTP 401: Couldn't authenticate you/, 'with Zendesk\'s answer as detail');
is($node->safe_psql('postgres', "SELECT count(*) FROM zd_connections WHERE subdomain = 'beta'"),
	'0', 'and nothing is saved');

# ... also when updating an existing connection: the old token stays
my $sealed_before = $node->safe_psql('postgres', "SELECT api_token_enc FROM zd_connections WHERE subdomain = 'acme'");
($rc, $out, $err) = try_sql(
	"SELECT * FROM zd_configure('acme', 'admin\@acme.example', '$wrong_token')");
like($err, qr/28000/, 'reconfiguring with a wrong token fails');
is($node->safe_psql('postgres', "SELECT api_token_enc FROM zd_connections WHERE subdomain = 'acme'"),
	$sealed_before, 'and keeps the stored token');

# --- an agent who is not an admin: 42501 with a hint ----------------------------
($rc, $out, $err) = try_sql(
	"SELECT * FROM zd_configure('beta', 'agent\@acme.example', '$agent_token')");
like($err, qr/ERROR:  42501: the Zendesk user "agent\@acme\.example" is not an admin/,
	'a non-admin agent gives SQLSTATE 42501');
like($err, qr/HINT:  .*incremental exports, which only admins may call/, 'with a hint saying why');
is($node->safe_psql('postgres', "SELECT count(*) FROM zd_connections WHERE subdomain = 'beta'"),
	'0', 'nothing is saved');

# --- subdomains refused before any request ------------------------------------
$seq = $sim->last_request_seq;
for my $sub ('a/b', 'x.evil.com', '')
{
	($rc, $out, $err) = try_sql(
		"SELECT * FROM zd_configure('$sub', 'admin\@acme.example', '$admin_token')");
	like($err, qr/ERROR:  22023: /, "subdomain '$sub' gives SQLSTATE 22023");
}
is(scalar(@{ $sim->requests($seq) }), 0, 'and no request reached the simulator');

# --- the token is nowhere in plain text ----------------------------------------
my ($dump, $dump_err) = run_command(['pg_dump', '--no-owner', '-d', $node->connstr('postgres')]);
like($dump, qr/COPY public\.zd_connections/, 'pg_dump dumps the connection row');
unlike($dump, qr/\Q$admin_token\E|\Q$wrong_token\E|\Q$agent_token\E/,
	'pg_dump output holds no API token in plain text');

# every column of every table, as text
my $tables = $node->safe_psql('postgres',
	"SELECT string_agg(format('SELECT %L, count(*) FROM %s x WHERE x::text LIKE %L OR x::text LIKE %L',"
	  . " c.oid::regclass, c.oid::regclass, '%$admin_token%', '%$wrong_token%'), ' UNION ALL ')"
	  . " FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
	  . " WHERE c.relkind = 'r' AND n.nspname NOT IN ('pg_catalog', 'information_schema')");
my $found = $node->safe_psql('postgres', "SELECT sum(count) FROM ($tables) s(t, count)");
is($found, '0', 'no table holds the token in plain text');
# the sealed value does not contain it either, in any encoding we might slip into
is($node->safe_psql('postgres',
		"SELECT position(convert_to('$admin_token', 'UTF8') in api_token_enc) FROM zd_connections"),
	'0', 'the stored ciphertext does not contain the token');

# pg_stat_activity: while the call runs and after it
my $bg = $node->background_psql('postgres');
$bg->query_safe("SELECT * FROM zd_configure('acme', 'admin\@acme.example', '$admin_token')");
my $bg_pid = $bg->query_safe('SELECT pg_backend_pid()');
like($node->safe_psql('postgres', "SELECT query FROM pg_stat_activity WHERE pid = $bg_pid"),
	qr/^SELECT pg_backend_pid\(\)/, '(pg_stat_activity shows the session\'s last statement)');
$bg->query_safe("SELECT 1 FROM zd_configure('acme', 'admin\@acme.example', '$admin_token')");
unlike($node->safe_psql('postgres', "SELECT query FROM pg_stat_activity WHERE pid = $bg_pid"),
	qr/\Q$admin_token\E/, 'pg_stat_activity does not show the token after zd_configure');
$bg->quit;

my $log = slurp_file($node->logfile);
unlike($log, qr/\Q$admin_token\E|\Q$wrong_token\E|\Q$agent_token\E/,
	'the server log holds no token, not even from the failed attempts');
like($log, qr/arguments hidden by corsa_zendesk/, '(the failed statements are logged without their text)');

# --- a role that is not the owner ------------------------------------------------
$node->safe_psql('postgres', 'CREATE ROLE app LOGIN');
($rc, $out, $err) = try_sql('SELECT * FROM zd_connections', params => ['-U', 'app']);
like($err, qr/42501: permission denied for table zd_connections/, 'a non-owner is denied zd_connections');
($rc, $out, $err) = try_sql('SELECT * FROM zd_webhook_settings()', params => ['-U', 'app']);
like($err, qr/42501: permission denied for function zd_webhook_settings/,
	'and the webhook settings');

# --- an explicit key file ------------------------------------------------------
my $other_key = $node->data_dir . '/../other.key';
open(my $fh, '>', $other_key) or die;
print $fh ('ab' x 32) . "\n";
close $fh;
chmod 0644, $other_key;
$node->append_conf('postgresql.conf', "corsa_zendesk.secret_key_file = '$other_key'\n");
$node->reload;
($rc, $out, $err) = try_sql("SELECT * FROM zd_webhook_settings('acme')");
like($err, qr/is readable by other users/, 'a key file readable by others is refused');
chmod 0600, $other_key;
($rc, $out, $err) = try_sql("SELECT * FROM zd_webhook_settings('acme')");
like($err, qr/ERROR:  F0000: the stored webhook token was encrypted with a different key/,
	'secrets stored under another key are reported as such');
($rc, $out, $err) = try_sql(
	"SELECT connection_id FROM zd_configure('gamma', 'admin\@acme.example', '$admin_token')");
is($rc, 0, 'configuring works with the configured key file') or diag $err;
unlike($err, qr/created the key file/, 'and creates no key file');

$node->stop;
done_testing();
