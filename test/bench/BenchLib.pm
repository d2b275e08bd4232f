# BenchLib.pm: helpers shared by the benchmarks of corsa_zendesk
# (test/bench/*.pl, run by test/bench/run.sh).
#
#   bench_result($figure, $value, $unit, $goal)
#                         print one result line: BENCH|<bench>|<figure>|<value>|<unit>|<goal>
#   bench_note(@text)     a progress line ("# [  12.3 s] text") on the terminal and in the log
#   bench_time($code)     run $code, return (seconds, its results...)
#   proc_status($pid)     /proc/<pid>/status as { field => kB or text }
#   proc_cpu_seconds($pid) user + system CPU time of a process so far
#   BenchLib::MemPeak     peaks of RssAnon, VmHWM, VmRSS of one process, sampled
#   BenchLib::Psql        one long-lived psql session (cheap queries in a loop)
#   wait_for_quiet($node) wait (bounded) until no autovacuum worker runs
#
# Output: PostgreSQL::Test::Utils sends a script's STDOUT to its log file
# only; what goes through Test::More's output handle reaches both the
# terminal and the log.  Every line printed here goes that way, so run.sh
# can collect the BENCH lines from the script's output.
#
# The rules every benchmark follows: figures are measured in the run that
# prints them (never hard-coded), speed is compared with a floor measured
# in the same run (the machines are shared and noisy), and a slow result is
# printed against its goal, never turned into a failure.  Test::More
# assertions are only for correctness (the run succeeded, the row counts
# are right), so that a figure from a broken run is not mistaken for a
# real one.

package BenchLib;

use strict;
use warnings;

use Carp;
use Exporter qw(import);
use File::Basename qw(basename);
use POSIX ();
use Test::More ();
use Time::HiRes qw(time usleep);

our @EXPORT = qw(bench_name bench_result bench_note bench_time proc_status
  proc_cpu_seconds server_cpu_seconds wait_for_quiet fmt median);

my $T0 = time();

# PostgreSQL::Test::Utils sends STDERR to the log file only: show why a
# benchmark died on the terminal too (not for dies caught by an eval)
$SIG{__DIE__} = sub {
	return if !defined $^S || $^S;
	Test::More::diag("the benchmark died: $_[0]");
};
my $NAME = basename($0);
$NAME =~ s/\.[^.]+$//;

# the benchmark's name in BENCH lines (default: the script's base name)
sub bench_name
{
	$NAME = $_[0] if @_;
	return $NAME;
}

sub _out
{
	my $fh = Test::More->builder->output;
	print $fh @_;
	return;
}

# number formatting: 3 significant digits or more for large values
sub fmt
{
	my ($v, $decimals) = @_;
	return '-' unless defined $v;
	return sprintf("%.${decimals}f", $v) if defined $decimals;
	my $a = abs($v);
	return sprintf('%.0f', $v) if $a >= 1000;
	return sprintf('%.1f', $v) if $a >= 100;
	return sprintf('%.2f', $v) if $a >= 10;
	return sprintf('%.3f', $v);
}

# One result line.  $goal is free text such as "<= 1.5" or ">= 1000"
# (run.sh checks goals of that form); undef or '' when there is none.
sub bench_result
{
	my ($figure, $value, $unit, $goal) = @_;
	croak "a figure name may not contain '|'" if $figure =~ /\|/;
	$value = fmt($value) if defined $value && $value =~ /^-?[\d.]+(?:e[-+]?\d+)?$/i
	  && $value =~ /\./;
	$goal = '-' if !defined $goal || $goal eq '';
	_out(join('|', 'BENCH', $NAME, $figure, $value // '-', $unit // '-', $goal) . "\n");
	return;
}

sub bench_note
{
	my $text = join('', @_);
	my $stamp = sprintf('[%7.1f s] ', time() - $T0);
	_out(map { "# $stamp$_\n" } split /\n/, $text);
	return;
}

sub bench_time
{
	my ($code) = @_;
	my $t = time();
	my @r = $code->();
	return (time() - $t, @r);
}

# /proc/<pid>/status: sizes in kB (the "kB" dropped), other fields as text;
# undef when the process is gone
sub proc_status
{
	my ($pid) = @_;
	open(my $fh, '<', "/proc/$pid/status") or return undef;
	my %s;
	while (my $line = <$fh>)
	{
		my ($k, $v) = $line =~ /^([^:]+):\s*(.*?)\s*$/ or next;
		$v =~ s/\s*kB$//;
		$s{$k} = $v;
	}
	close $fh;
	return \%s;
}

# the fields of /proc/<pid>/stat after pid and comm (0 = state, 1 = ppid,
# 11/12 = utime/stime, 13/14 = cutime/cstime, in clock ticks); undef when
# the process is gone
sub _proc_stat_fields
{
	my ($pid) = @_;
	open(my $fh, '<', "/proc/$pid/stat") or return undef;
	my $line = <$fh>;
	close $fh;
	return undef unless defined $line;
	# the command name (field 2) is in parentheses and may hold spaces
	$line =~ s/^.*\)\s+//s;
	return [ split /\s+/, $line ];
}

sub _ticks { return POSIX::sysconf(POSIX::_SC_CLK_TCK()) || 100; }

# user + system CPU seconds of a process so far; undef when it is gone
sub proc_cpu_seconds
{
	my ($pid) = @_;
	my $f = _proc_stat_fields($pid) or return undef;
	return ($f->[11] + $f->[12]) / _ticks();
}

# CPU seconds (user + system) the whole server has used so far: the
# postmaster, its live processes, and those that ended (the postmaster
# reaped them, so they count in its cutime/cstime).  A difference of two
# readings is what a run cost the server, every process included: backends,
# the background workers they woke, the WAL writer.
sub server_cpu_seconds
{
	my ($node) = @_;
	open(my $pf, '<', $node->data_dir . '/postmaster.pid') or croak "no postmaster.pid";
	my $pm = <$pf>;
	close $pf;
	chomp $pm;
	my $total = 0;
	opendir(my $dh, '/proc') or croak "cannot read /proc";
	for my $pid (grep { /^\d+$/ } readdir $dh)
	{
		my $f = _proc_stat_fields($pid) or next;
		if ($pid == $pm)
		{
			$total += $f->[11] + $f->[12] + $f->[13] + $f->[14];
		}
		elsif ($f->[1] == $pm)
		{
			$total += $f->[11] + $f->[12];
		}
	}
	closedir $dh;
	return $total / _ticks();
}

# the median of a list of numbers
sub median
{
	my @v = sort { $a <=> $b } @_;
	return @v % 2 ? $v[ $#v / 2 ] : ($v[ @v / 2 - 1 ] + $v[ @v / 2 ]) / 2;
}

# Wait until no autovacuum worker runs on the node (at most $timeout
# seconds), so that the vacuum of what one phase wrote does not land in
# the timing of the next.  Returns the seconds waited.
sub wait_for_quiet
{
	my ($node, $timeout) = @_;
	$timeout //= 60;
	my $t = time();
	while (time() - $t < $timeout)
	{
		last if $node->safe_psql('postgres',
			"SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'autovacuum worker'") == 0;
		usleep(200_000);
	}
	return time() - $t;
}


# Peaks of a process's memory, from /proc/<pid>/status.  RssAnon is the
# process's private memory (heap, palloc'd contexts, libcurl and json-c
# buffers); VmRSS also counts the shared buffers the process has touched,
# so for a PostgreSQL backend it grows with shared_buffers, not with what
# the process holds.  VmHWM is the kernel's own peak of VmRSS.
package BenchLib::MemPeak;

use strict;
use warnings;

sub new
{
	my ($class) = @_;
	return bless { samples => 0, pids => {} }, $class;
}

# one sample of $pid; returns the status hash (undef when gone)
sub sample
{
	my ($self, $pid) = @_;
	return undef unless $pid;
	my $s = BenchLib::proc_status($pid) or return undef;
	$self->{samples}++;
	$self->{pids}{$pid} = 1;
	for my $k (qw(RssAnon VmHWM VmRSS RssShmem))
	{
		next unless defined $s->{$k} && $s->{$k} =~ /^\d+$/;
		$self->{peak}{$k} = $s->{$k}
		  if !defined $self->{peak}{$k} || $s->{$k} > $self->{peak}{$k};
		$self->{last}{$k} = $s->{$k};
		$self->{first}{$k} //= $s->{$k};
	}
	return $s;
}

# peak of a field, in MB (undef when never sampled)
sub peak_mb
{
	my ($self, $field) = @_;
	my $kb = $self->{peak}{$field};
	return defined $kb ? $kb / 1024 : undef;
}

sub first_mb
{
	my ($self, $field) = @_;
	my $kb = $self->{first}{$field};
	return defined $kb ? $kb / 1024 : undef;
}

sub samples { return $_[0]{samples}; }
sub pids { return sort keys %{ $_[0]{pids} }; }


# One psql process kept open for the whole benchmark, so that polling does
# not start a psql per query (and the poller costs the machine little).
#   my $s = BenchLib::Psql->new($node, 'postgres');
#   my $out = $s->query('SELECT 1');     # unaligned, tuples only; dies on error
#   $s->quit;
package BenchLib::Psql;

use strict;
use warnings;

use Carp;
use IPC::Run;

sub new
{
	my ($class, $node, $dbname, %opts) = @_;
	my $self = bless { in => '', out => '', err => '', n => 0,
		timeout => $opts{timeout} // 600 }, $class;
	my $psql = $node->installed_command('psql');
	$self->{timer} = IPC::Run::timeout($self->{timeout});
	local %ENV = %ENV;
	delete @ENV{qw(PGOPTIONS PGSERVICE)};
	$self->{run} = IPC::Run::start(
		[ $psql, '-XAtq', '-v', 'ON_ERROR_STOP=0', '-d', $node->connstr($dbname), '-f', '-' ],
		'<', \$self->{in}, '>', \$self->{out}, '2>', \$self->{err}, $self->{timer});
	return $self;
}

# run SQL (one or more statements); returns psql's output without the
# trailing newline; dies on an error (notices and warnings are let through)
sub query
{
	my ($self, $sql) = @_;
	my $mark = "__bench_psql_done_" . ++$self->{n} . "__";
	$self->{out} = '';
	$self->{err} = '';
	$self->{timer}->start($self->{timeout});
	$self->{in} .= "$sql\n;\n\\echo $mark\n";
	$self->{run}->pump until $self->{out} =~ /(?:^|\n)\Q$mark\E\n/;
	my $out = $self->{out};
	$out =~ s/\n?\Q$mark\E\n//;
	croak "query failed: $self->{err}\nquery: $sql"
	  if $self->{err} =~ /\b(?:ERROR|FATAL|PANIC):/;
	return $out;
}

sub quit
{
	my ($self) = @_;
	return unless $self->{run};
	$self->{in} .= "\\q\n";
	eval { $self->{run}->finish; };
	delete $self->{run};
	return;
}

sub DESTROY
{
	my ($self) = @_;
	if ($self->{run})
	{
		eval { $self->{run}->kill_kill; };
		delete $self->{run};
	}
	return;
}

1;
