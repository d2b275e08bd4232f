# CorsaTest.pm: helpers shared by the TAP tests of corsa_zendesk.
#
#   corsa_node($name, %opts)   a PostgreSQL::Test::Cluster set up for us
#   start_simulator(%opts)     the Zendesk simulator on a free port
#   worker_pids($node)         { dbname => pid } of our workers
#   wait_until($what, $code)   poll a Perl condition with a deadline
#
# The simulator is test/sim/zendesk_sim.py, started with /usr/bin/python3
# (the postgres user cannot run root's pyenv python); its control API is
# documented in test/sim/README.md.

package CorsaTest;

use strict;
use warnings;

use Carp;
use Cwd qw(abs_path);
use Exporter qw(import);
use File::Basename qw(dirname);
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time usleep);

our @EXPORT = qw(corsa_node start_simulator worker_pids wait_until
  launcher_pid elapsed_since srcdir wait_for_run deliver_webhooks);

# the source tree: test/perl/.. /..
my $SRCDIR = abs_path(dirname(__FILE__) . '/../..');

sub srcdir { return $SRCDIR; }

# A node with the library preloaded and short launcher/poll timings.
#   sim     => simulator: its URL becomes corsa_zendesk.api_base_url
#   preload => 0 to leave shared_preload_libraries empty
#   conf    => extra postgresql.conf lines
#   init    => hash of options for PostgreSQL::Test::Cluster::init
sub corsa_node
{
	my ($name, %opts) = @_;
	my $node = PostgreSQL::Test::Cluster->new($name);
	$node->init(%{ $opts{init} // {} });

	my $conf = "";
	$conf .= "shared_preload_libraries = 'corsa_zendesk'\n"
	  unless defined $opts{preload} && !$opts{preload};
	$conf .= "corsa_zendesk.launcher_naptime = 1\n";
	$conf .= "corsa_zendesk.api_base_url = '$opts{sim}{url}'\n" if $opts{sim};
	$conf .= "log_line_prefix = '%m [%p] %q%a '\n";
	$conf .= $opts{conf} if defined $opts{conf};
	$node->append_conf('postgresql.conf', $conf);
	return $node;
}

sub start_simulator
{
	return CorsaTest::Simulator->start(@_);
}

# { dbname => pid } of the per-database workers
sub worker_pids
{
	my ($node) = @_;
	my $out = $node->safe_psql('postgres',
		"SELECT datname, pid FROM pg_stat_activity "
		  . "WHERE backend_type = 'corsa_zendesk worker' ORDER BY 1");
	my %pids = map { split /\|/ } grep { length } split /\n/, $out;
	return \%pids;
}

sub launcher_pid
{
	my ($node) = @_;
	return $node->safe_psql('postgres',
		"SELECT pid FROM pg_stat_activity WHERE backend_type = 'corsa_zendesk launcher'");
}

# Poll $code until it returns true or $timeout seconds pass; returns its
# last result.
sub wait_until
{
	my ($code, $timeout) = @_;
	$timeout //= $PostgreSQL::Test::Utils::timeout_default;
	my $deadline = time() + $timeout;
	while (1)
	{
		my $r = $code->();
		return $r if $r || time() > $deadline;
		usleep(50_000);
	}
}

# Wait until a zd_sync_runs row is finished; returns its state (succeeded,
# failed) and, on failure, shows its error.
sub wait_for_run
{
	my ($node, $run_id, $timeout) = @_;
	my $state = '';
	wait_until(sub {
			$state = $node->safe_psql('postgres',
				"SELECT state FROM zd_sync_runs WHERE id = $run_id");
			$state eq 'succeeded' || $state eq 'failed';
		},
		$timeout);
	diag $node->safe_psql('postgres', "SELECT error FROM zd_sync_runs WHERE id = $run_id")
	  if $state eq 'failed';
	return $state;
}

# Deliver webhook events (as the simulator lists them: body and headers)
# to zd_ingest_webhook, in order, each in its own transaction; returns
# psql's output (one outcome per line) and its error output.  The calls go
# through a file, so that an error names the file, not the bearer token.
sub deliver_webhooks
{
	my ($node, $events) = @_;
	my $dir = PostgreSQL::Test::Utils::tempdir();
	open(my $fh, '>', "$dir/deliver.sql") or die "cannot write $dir/deliver.sql: $!";
	binmode $fh, ':utf8';
	for my $e (@$events)
	{
		my $h = $e->{headers};
		my @args = map { defined $_ ? "\$zda\$$_\$zda\$" : 'NULL' }
		  ($h->{authorization}, $h->{'x-zendesk-webhook-signature'},
			$h->{'x-zendesk-webhook-signature-timestamp'});
		printf $fh "SELECT zd_ingest_webhook(\$zdb\$%s\$zdb\$, %s);\n", $e->{body},
		  join(', ', @args);
	}
	close $fh;
	my ($out, $err) = run_command(['psql', '-X', '-At', '-v', 'ON_ERROR_STOP=1',
		'-d', $node->connstr('postgres'), '-f', "$dir/deliver.sql"]);
	return ($out, $err);
}

sub elapsed_since
{
	my ($t0) = @_;
	return time() - $t0;
}


package CorsaTest::Simulator;

use strict;
use warnings;

use Carp;
use HTTP::Tiny;
use Scalar::Util ();
use IPC::Run;
use JSON::PP;
use PostgreSQL::Test::Utils;
use Time::HiRes qw(time usleep);

my $JSON = JSON::PP->new->utf8->canonical;

# Start the simulator; %opts: name (for the log file), seed.
sub start
{
	my ($class, %opts) = @_;
	my $name = $opts{name} // 'simulator';
	my $dir = PostgreSQL::Test::Utils::tempdir();
	my $portfile = "$dir/port";
	my $log = "$PostgreSQL::Test::Utils::log_path/${name}.log";
	my $python = $ENV{CORSA_TEST_PYTHON} // '/usr/bin/python3';
	my @cmd = ($python, CorsaTest::srcdir() . '/test/sim/zendesk_sim.py',
		'--port-file', $portfile);
	push @cmd, '--seed', $opts{seed} if defined $opts{seed};

	my $handle = IPC::Run::start(\@cmd, '<', \undef, '>>', $log, '2>>', $log);
	my $deadline = time() + 20;
	until (-s $portfile)
	{
		croak "the simulator did not start (see $log)" if time() > $deadline;
		usleep(20_000);
	}
	open(my $fh, '<', $portfile) or croak "cannot read $portfile: $!";
	my $port = <$fh>;
	close $fh;
	chomp $port;

	my $self = bless {
		handle => $handle,
		port => $port,
		url => "http://127.0.0.1:$port",
		# a new connection per call: HTTP::Tiny writes headers and body apart,
		# and on a kept-alive connection Nagle's algorithm plus delayed ACKs
		# would hold every POST about 40 ms
		http => HTTP::Tiny->new(timeout => 300, keep_alive => 0),
		log => $log,
	}, $class;
	push @CorsaTest::Simulator::STARTED, $self;
	Scalar::Util::weaken($CorsaTest::Simulator::STARTED[-1]);
	return $self;
}

# whatever a test did or failed to do, no simulator outlives it
END
{
	my $rc = $?;
	for my $sim (grep { defined } @CorsaTest::Simulator::STARTED)
	{
		eval { $sim->stop; };
	}
	$? = $rc;
}

sub url { return $_[0]{url}; }

# One control or API call; dies unless it succeeds.  Returns the decoded
# JSON answer (undef for an empty body).
sub call
{
	my ($self, $method, $path, $body, $headers) = @_;
	my %req = (headers => { 'Content-Type' => 'application/json', %{ $headers // {} } });
	$req{content} = ref $body ? $JSON->encode($body) : $body if defined $body;
	my $res = $self->{http}->request($method, $self->{url} . $path, \%req);
	croak "simulator $method $path: $res->{status} $res->{reason}: $res->{content}"
	  unless $res->{success};
	return length($res->{content} // '') ? $JSON->decode($res->{content}) : undef;
}

sub get { my ($self, @a) = @_; return $self->call('GET', @a); }
sub post { my ($self, @a) = @_; return $self->call('POST', @a); }
sub del { my ($self, @a) = @_; return $self->call('DELETE', @a); }

# /api requests the simulator received since sequence number $since
sub requests
{
	my ($self, $since) = @_;
	return $self->get('/_sim/requests?since=' . ($since // 0))->{requests};
}

# sequence number of the latest request (to count requests from now on)
sub last_request_seq
{
	my ($self) = @_;
	return $self->get('/_sim/requests?since=0')->{last_seq} // 0;
}

# sequence number of the latest webhook event the simulator sent
sub last_webhook_seq
{
	my ($self) = @_;
	return $self->get('/_sim/webhooks?since=0')->{last_seq} // 0;
}

# the requests since $since on which a fault of $kind fired; with
# $answered, only those the simulator has answered (their writes are done)
sub faulted_requests
{
	my ($self, $since, $kind, $answered) = @_;
	return grep { ($_->{fault} // '') eq $kind && (!$answered || defined $_->{status}) }
	  @{ $self->requests($since) };
}

# Agents at work: create `tickets` tickets for `people` requesters
# (person<N>@example.org), then reply, change statuses and fields, delete,
# restore, merge and mark spam at random until the actions have emitted at
# least `events` webhook events.  Uses Perl's rand (seed it with srand).
# Returns { live => [ids not gone], deleted => {id => 1}, closed => {id => 1},
# emitted => count }.
sub simulate_agents
{
	my ($self, %opts) = @_;
	my ($tickets, $people, $target) = @opts{qw(tickets people events)};
	my $emitted = 0;
	my (@live, %deleted, %closed);
	my $pick = sub { croak 'pick from an empty list' unless @_; return $_[ int(rand(scalar @_)) ]; };
	my $act = sub {
		my ($action, $body) = @_;
		my $res = eval { $self->post("/_sim/actions/$action", $body) };
		if (!$res)
		{
			# Zendesk refused (closed, deleted: no event); anything else is a bug
			croak "the simulator's $action failed: $@" unless $@ =~ /: 4(04|22) /;
			return undef;
		}
		$emitted += scalar @{ $res->{events} };
		return $res;
	};

	for my $n (1 .. $tickets)
	{
		my $who = 1 + int(rand($people));
		my $res = $act->('create_ticket', {
			requester_email => "person$who\@example.org", requester_name => "Person $who",
			subject => "Question $n", body => "Details of question $n from person $who",
			priority => $pick->(qw(low normal high urgent)), tags => [ $pick->(qw(billing bug gdpr)) ] });
		push @live, $res->{ticket}{id};
	}
	while ($emitted < $target)
	{
		my $id = $pick->(@live);
		my $r = rand();
		if ($r < 0.45)
		{
			$act->('reply', { ticket_id => $id, body => "Reply $emitted on $id",
				public => (rand() < 0.8 ? JSON::PP::true : JSON::PP::false),
				author => $pick->('agent', 'requester', 'admin') });
		}
		elsif ($r < 0.62)
		{
			my $status = rand() < 0.03 ? 'closed' : $pick->(qw(open pending hold solved));
			$closed{$id} = 1
			  if $act->('set_status', { ticket_id => $id, status => $status }) && $status eq 'closed';
		}
		elsif ($r < 0.85)
		{
			$act->('update', { ticket_id => $id, @{ $pick->(
				[ subject => "Question $id, again at $emitted" ],
				[ priority => $pick->(qw(low normal high urgent)) ],
				[ tags => [ $pick->(qw(billing bug gdpr)), $pick->(qw(vip refund)) ] ]) } });
		}
		elsif ($r < 0.93)
		{
			if ($deleted{$id}) { delete $deleted{$id} if $act->('restore', { ticket_id => $id }); }
			else { $deleted{$id} = 1 if $act->('soft_delete', { ticket_id => $id }); }
		}
		elsif ($r < 0.95 && @live > $tickets / 2)
		{
			@live = grep { $_ != $id } @live
			  if $act->('permanent_delete', { ticket_id => $id });
		}
		elsif ($r < 0.97 && @live > $tickets / 2)
		{
			my $target_id = $pick->(@live);
			@live = grep { $_ != $id } @live
			  if $target_id != $id && $act->('merge', { source_id => $id, target_id => $target_id });
		}
		elsif ($r >= 0.97)
		{
			$deleted{$id} = 1 if $act->('mark_spam', { ticket_id => $id });
		}
	}
	return { live => \@live, deleted => \%deleted, closed => \%closed, emitted => $emitted };
}

sub add_fault
{
	my ($self, %fault) = @_;
	return $self->post('/_sim/faults', \%fault);
}

sub clear_faults
{
	my ($self) = @_;
	return $self->del('/_sim/faults');
}

sub stop
{
	my ($self) = @_;
	return unless $self->{handle};
	$self->{handle}->signal('TERM');
	eval { $self->{handle}->finish; };
	delete $self->{handle};
	return;
}

sub DESTROY
{
	my ($self) = @_;
	$self->stop if $self->{handle};
	return;
}

1;
