package Omni::Test;

# Integration test harness for the omni gateway nginx module.
# Core Perl modules only; see the POD at the end of this file and t/README.md.

use strict;
use warnings;

use Carp qw(croak);
use Cwd qw(abs_path);
use Exporter qw(import);
use File::Basename qw(dirname);
use File::Path qw(make_path);
use File::Spec;
use File::Temp ();
use IO::Socket::INET;
use POSIX ();
use Scalar::Util qw(blessed weaken);
use Time::HiRes ();
use Test::More ();
use Test2::API ();

our $VERSION = '0.01';

our @EXPORT    = qw(run_blocks);
our @EXPORT_OK = qw(repo_root bin parse_blocks parse_response);

# ---------------------------------------------------------------------------
# Paths and environment
# ---------------------------------------------------------------------------

# t/lib/Omni/Test.pm -> ../../.. is the repository root.
my $REPO_ROOT = abs_path(
    File::Spec->catdir(dirname(abs_path(__FILE__)), File::Spec->updir,
        File::Spec->updir, File::Spec->updir));

# Allow both Omni::Test::repo_root() and $t->repo_root.
sub _drop_invocant {
    shift @_ if @_ && (blessed($_[0]) || (defined $_[0] && $_[0] eq __PACKAGE__));
    return @_;
}

sub repo_root { return $REPO_ROOT }

sub bin {
    my ($name) = _drop_invocant(@_);
    croak 'bin($name) needs a name' unless defined $name && length $name;
    return File::Spec->catfile($ENV{OMNI_BIN}, $name) if $ENV{OMNI_BIN};
    return File::Spec->catfile($REPO_ROOT, 'build', 'bin', $name);
}

sub nginx_binary { return $ENV{OMNI_NGINX} || '/usr/sbin/nginx' }

# OMNI_TEST_SLOWDOWN=N: nginx runs N times slower than usual (make
# test-asan), so the harness waits N times longer for it, and the tests
# ask it for time budgets N times larger, through slowdown()
sub slowdown {
    my $n = $ENV{OMNI_TEST_SLOWDOWN};
    return 1 unless defined $n && length $n;
    croak "OMNI_TEST_SLOWDOWN must be a number >= 1, not '$n'"
        unless $n =~ /^\d+(?:\.\d+)?$/ && $n >= 1;
    return $n;
}

sub module_path {
    return $ENV{OMNI_MODULE}
        || File::Spec->catfile($REPO_ROOT, 'build', 'nginx', 'objs', 'ngx_http_omni_module.so');
}

# ---------------------------------------------------------------------------
# Object registry: every live object is stopped and has its error.log checked
# once when testing is done (done_testing() or end of a script without plan).
# ---------------------------------------------------------------------------

my %LIVE;              # serial => weak ref to object
my $SERIAL = 0;
my $TESTING_DONE = 0;

Test2::API::test2_add_callback_testing_done(sub {
    my (undef, $hub) = @_;
    my $quiet = $hub && ($hub->bailed_out
        || (defined $hub->plan && $hub->plan eq 'SKIP'));
    for my $serial (sort { $a <=> $b } keys %LIVE) {
        my $t = $LIVE{$serial} or next;
        next if $t->{owner} != $$ || $t->{finished};
        $t->stop;
        $t->check_error_log(name => "error.log of $t->{prefix} is clean")
            unless $quiet || $t->{no_log_check};
        $t->{finished} = 1;
    }
    $TESTING_DONE = 1;
});

# Runs before Test::Builder's own END block (END blocks run in reverse order
# of compilation and Test::More was loaded above), so nginx is already
# stopped when the final log check runs.
END {
    local $?;
    for my $t (grep { defined } values %LIVE) {
        $t->stop if $t->{owner} == $$;
    }
}

# ---------------------------------------------------------------------------
# nginx binary introspection
# ---------------------------------------------------------------------------

my %INFO;

sub _nginx_info {
    return \%INFO if %INFO;
    my $bin = nginx_binary();
    croak "nginx binary not executable: $bin (set OMNI_NGINX)" unless -x $bin;
    my (undef, $out) = _run($bin, '-V');
    $INFO{version} = $out =~ m{nginx version: [^/\s]+/(\d+)\.(\d+)\.(\d+)}
        ? $1 * 1_000_000 + $2 * 1_000 + $3 : 0;
    $INFO{configure} = $out =~ /configure arguments:(.*)/ ? $1 : '';
    return \%INFO;
}

sub _nginx_without {
    my ($module) = @_;
    return _nginx_info()->{configure} =~ /--without-\Q$module\E\b/;
}

# "-e file" (early error log) exists since nginx 1.19.5.
sub _has_e_option {
    my $v = _nginx_info()->{version};
    return !$v || $v >= 1_019_005;
}

# A report of ASan, LeakSanitizer or UBSan (make test-asan): in error.log
# once nginx runs, in its output while it starts or tests a configuration.
my $SANITIZER_LINE = qr/sanitizer|: runtime error: /i;

sub _no_sanitizer_report {
    my ($what, $out) = @_;
    croak "sanitizer report in the output of $what:\n$out"
        if $out =~ $SANITIZER_LINE;
}

# Run a command, wait for it, return (exit code, stdout+stderr).  Output goes
# through a file, not a pipe: a daemonizing nginx keeps the inherited stderr
# open for a while.
sub _run {
    my (@cmd) = @_;
    my $tmp = File::Temp->new(TMPDIR => 1);
    my $pid = fork;
    croak "fork: $!" unless defined $pid;
    if (!$pid) {
        open(STDIN, '<', '/dev/null');
        open(STDOUT, '>&', $tmp);
        open(STDERR, '>&', \*STDOUT);
        exec { $cmd[0] } @cmd or print STDERR "exec $cmd[0]: $!\n";
        POSIX::_exit(127);
    }
    waitpid($pid, 0);
    my $status = $?;
    my $rc = $status & 127 ? 128 + ($status & 127) : $status >> 8;
    my $out = _slurp($tmp->filename);
    return ($rc, $out);
}

sub _slurp {
    my ($file, $offset) = @_;
    open(my $fh, '<:raw', $file) or return '';
    seek($fh, $offset, 0) if $offset;
    local $/;
    my $data = <$fh>;
    return defined $data ? $data : '';
}

# ---------------------------------------------------------------------------
# Process helpers (Linux /proc based)
# ---------------------------------------------------------------------------

sub _proc_stat {
    my ($pid) = @_;
    open(my $fh, '<', "/proc/$pid/stat") or return;
    my $line = <$fh>;
    return unless defined $line && $line =~ /\)\s+(\S)\s+(\d+)/;
    return ($1, $2);    # (state, ppid)
}

sub _alive {
    my ($pid) = @_;
    return 0 unless $pid && kill(0, $pid);
    my ($state) = _proc_stat($pid);
    return !(defined $state && $state eq 'Z');
}

sub _children {
    my ($ppid) = @_;
    opendir(my $dh, '/proc') or return ();
    my @kids;
    for my $entry (readdir $dh) {
        next unless $entry =~ /^\d+$/;
        my ($state, $parent) = _proc_stat($entry);
        push @kids, $entry + 0 if defined $parent && $parent == $ppid && $state ne 'Z';
    }
    return sort { $a <=> $b } @kids;
}

# True if something listens on 127.0.0.1:$port (or the wildcard address).
# Reads /proc/net/tcp so that probing does not leave lines in error.log;
# falls back to a TCP connect where /proc is unavailable.
sub _listening {
    my ($port) = @_;
    if (open(my $fh, '<', '/proc/net/tcp')) {
        my $hex = sprintf('%04X', $port);
        while (my $line = <$fh>) {
            return 1 if $line =~ /^\s*\d+:\s+(?:0100007F|00000000):$hex\s+\S+\s+0A\b/;
        }
        return 0;
    }
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port,
        Proto => 'tcp', Timeout => 1);
    return $s ? 1 : 0;
}

# ---------------------------------------------------------------------------
# Constructor, ports, files, variables
# ---------------------------------------------------------------------------

sub new {
    my ($class, %opt) = @_;

    my $module;
    unless ($ENV{OMNI_NO_MODULE}) {
        $module = module_path();
        Test::More::BAIL_OUT("module not built: $module (run make)") unless -f $module;
    }
    _nginx_info();    # fail early on a missing binary

    my $keep = $ENV{OMNI_TEST_KEEP} ? 1 : 0;
    my $dir = File::Temp->newdir('omni-test-XXXXXXXX', TMPDIR => 1, CLEANUP => !$keep);
    my $prefix = abs_path("$dir");
    chmod(0755, $prefix) or croak "chmod $prefix: $!";
    make_path("$prefix/conf", "$prefix/html", { mode => 0755 });
    Test::More::diag("OMNI_TEST_KEEP: test prefix is $prefix") if $keep;

    my $self = bless {
        tmpdir       => $dir,
        prefix       => $prefix,
        module       => $module,
        owner        => $$,
        serial       => ++$SERIAL,
        ports        => {},
        port_hold    => {},
        vars         => {},
        mark         => 0,
        checked      => 0,
        no_log_check => $opt{no_log_check} ? 1 : 0,
        log_allow    => $opt{log_allow} || [],
    }, $class;

    $LIVE{$self->{serial}} = $self;
    weaken($LIVE{$self->{serial}});

    # Make Ctrl-C / kill run END blocks, so nginx does not outlive the test.
    for my $sig (qw(INT TERM)) {
        $SIG{$sig} = sub { exit 128 + ($sig eq 'INT' ? 2 : 15) }
            if !defined $SIG{$sig} || $SIG{$sig} eq '' || $SIG{$sig} eq 'DEFAULT';
    }
    return $self;
}

sub prefix { return $_[0]{prefix} }

sub pid {
    my ($self) = @_;
    return $self->{pid} && _alive($self->{pid}) ? $self->{pid} : undef;
}

sub is_running { return defined $_[0]->pid }

sub worker_pids {
    my ($self) = @_;
    my $pid = $self->pid or return ();
    return _children($pid);
}

# Free loopback ports, allocated lazily and stable per object.  A socket stays
# bound (and listening) on each port until nginx is started, so concurrently
# running test files cannot pick the same port.
sub port {
    my ($self, $n) = @_;
    $n = 0 unless defined $n;
    croak "port index must be a non-negative integer, got '$n'" unless $n =~ /^\d+$/;
    $n += 0;
    return $self->{ports}{$n} if exists $self->{ports}{$n};

    my %used = map { $_ => 1 } values %{ $self->{ports} };
    for (1 .. 500) {
        # Below the usual ephemeral range (32768+) used for outgoing connections.
        my $p = 20000 + int(rand(12000));
        next if $used{$p};
        my $sock = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => $p,
            Proto => 'tcp', Listen => 1, ReuseAddr => 1) or next;
        $self->{port_hold}{$n} = $sock;
        return $self->{ports}{$n} = $p;
    }
    croak 'could not find a free port on 127.0.0.1';
}

sub _release_ports {
    my ($self) = @_;
    close($_) for values %{ $self->{port_hold} };
    $self->{port_hold} = {};
}

sub write_file {
    my ($self, $rel, $content) = @_;
    croak 'write_file needs a relative path' unless defined $rel && length $rel;
    croak "write_file path must be relative to the prefix: $rel"
        if File::Spec->file_name_is_absolute($rel);
    my $path = File::Spec->catfile($self->{prefix}, $rel);
    make_path(dirname($path), { mode => 0755 });
    open(my $fh, '>:raw', $path) or croak "open $path: $!";
    print {$fh} (defined $content ? $content : '') or croak "write $path: $!";
    close($fh) or croak "close $path: $!";
    chmod(0644, $path);
    return $path;
}

sub read_file {
    my ($self, $rel) = @_;
    my $path = File::Spec->file_name_is_absolute($rel)
        ? $rel : File::Spec->catfile($self->{prefix}, $rel);
    return _slurp($path);
}

my %BUILTIN_VAR = map { $_ => 1 } qw(PORT PREFIX REPO);

sub set_var {
    my ($self, %vars) = @_;
    for my $name (sort keys %vars) {
        croak "bad variable name '$name'" unless $name =~ /^[A-Za-z_][A-Za-z0-9_]*$/;
        croak "'$name' is a built-in variable" if $BUILTIN_VAR{$name} || $name =~ /^PORT\d+$/;
        $self->{vars}{$name} = $vars{$name};
    }
    return $self;
}

sub subst {
    my ($self, $text) = @_;
    return $text unless defined $text;
    $text =~ s/%%([A-Za-z_][A-Za-z0-9_]*)%%/$self->_var($1)/ge;
    return $text;
}

sub _var {
    my ($self, $name) = @_;
    return $self->port(0)       if $name eq 'PORT';
    return $self->port($1)      if $name =~ /^PORT(\d+)$/;
    return $self->{prefix}      if $name eq 'PREFIX';
    return $REPO_ROOT           if $name eq 'REPO';
    return $self->{vars}{$name} if exists $self->{vars}{$name};
    croak "unknown substitution variable %%$name%% (use set_var)";
}

# ---------------------------------------------------------------------------
# Configuration
# ---------------------------------------------------------------------------

sub main_conf {
    my ($self, $http, %opt) = @_;
    my $p = $self->{prefix};
    my $workers = defined $opt{workers} ? $opt{workers} : 1;
    my $level = $opt{error_log_level} || 'info';
    my $error_log = $opt{_error_log} || "$p/error.log";
    my $pid = $opt{_pid} || "$p/nginx.pid";

    my $conf = '';
    $conf .= qq{load_module "$self->{module}";\n} if defined $self->{module};
    $conf .= <<"EOF";
daemon on;
master_process on;
worker_processes $workers;
pid "$pid";
lock_file "$p/nginx.lock";
error_log "$error_log" $level;
EOF
    # Run as root, workers would be "nobody", who cannot read the plugins
    # and the support library when the checkout sits in a 0700 directory
    # (mktemp -d, a CI workspace): keep them root, the tests' own user.
    # (opt user: the workers' user, for tests of what they may access)
    if (defined $opt{user}) {
        $conf .= "user $opt{user};\n";
    } elsif ($> == 0) {
        $conf .= "user root;\n";
    }
    $conf .= "\n$opt{main}\n" if defined $opt{main};
    $conf .= <<"EOF";

events {
    worker_connections 64;
}

http {
    access_log "$p/access.log";
    client_body_temp_path "$p/client_body_temp";
EOF
    for my $m (qw(proxy fastcgi uwsgi scgi)) {
        $conf .= qq{    ${m}_temp_path "$p/${m}_temp";\n}
            unless _nginx_without("http_${m}_module");
    }
    # Slowed down, plugins get N times the default budget (50 ms,
    # docs/channels.md) to load and run, unless the test sets its own
    $conf .= '    omni_plugin_timeout ' . int(50 * slowdown()) . "ms;\n"
        if defined $self->{module} && slowdown() > 1
           && !(defined $http && $http =~ /\bomni_plugin_timeout\b/);
    $conf .= "\n" . (defined $http ? $http : '') . "\n}\n";
    return $self->subst($conf);
}

sub _nginx_cmd {
    my ($self, $conf, $early_log, @extra) = @_;
    return (nginx_binary(), @extra, '-p', "$self->{prefix}/", '-c', $conf,
        (_has_e_option() ? ('-e', $early_log) : ()));
}

sub start {
    my ($self, $http, %opt) = @_;
    $self->stop;

    my $p = $self->{prefix};
    my $conf = $self->main_conf($http, %opt);
    $self->write_file('conf/nginx.conf', $conf);
    $self->{conf_opt} = { %opt };
    $self->_release_ports;

    my $mark = $self->_log_size;
    my ($rc, $out) = _run($self->_nginx_cmd('conf/nginx.conf', "$p/error.log"));
    _no_sanitizer_report('nginx', $out);
    if ($rc != 0) {
        my $log = $self->_log_from($mark);
        # The [emerg] lines are reported by this error; do not report them
        # again from check_error_log (unless older lines are still unchecked).
        $self->{checked} = $self->_log_size if $self->{checked} >= $mark;
        croak "nginx failed to start (exit $rc):\n$out\n--- error.log:\n$log";
    }

    my $limit = 5 * slowdown();
    my $deadline = Time::HiRes::time() + $limit;
    my $pid;
    while (Time::HiRes::time() < $deadline) {
        my $text = _slurp("$p/nginx.pid");
        if ($text =~ /^(\d+)/ && _alive($1)) {
            $pid = $1;
            last;
        }
        Time::HiRes::sleep(0.01);
    }
    croak "nginx did not write a pid file within ${limit}s\n--- error.log:\n" . $self->_log_from($mark)
        unless $pid;
    $self->{pid} = $pid;

    # Wait for the workers too: reload() tells the new ones from the old by
    # pid, and a worker forked late would pass for a new one.
    my $want = defined $opt{workers} ? $opt{workers} : 1;
    while ((my @kids = _children($pid)) < $want) {
        croak "nginx did not start $want workers within ${limit}s\n--- error.log:\n"
            . $self->_log_from($mark)
            if Time::HiRes::time() > $deadline;
        Time::HiRes::sleep(0.01);
    }

    # Wait for port(0) if the configuration uses it (or for opt wait_port).
    my $wait = $opt{wait_port};
    if (!defined $wait && exists $self->{ports}{0}) {
        my $p0 = $self->{ports}{0};
        $wait = $p0 if $conf =~ /:$p0\b/;
    }
    if (defined $wait) {
        until (_listening($wait)) {
            croak "nginx does not listen on 127.0.0.1:$wait after ${limit}s\n--- error.log:\n"
                . $self->_log_from($mark)
                if Time::HiRes::time() > $deadline;
            Time::HiRes::sleep(0.01);
        }
    }
    return $self;
}

sub stop {
    my ($self) = @_;
    $self->stop_clients;
    my $pid = delete $self->{pid};
    return $self unless $pid && _alive($pid);

    my @kids = _children($pid);
    kill 'QUIT', $pid;
    my $limit = 5 * slowdown();
    my $deadline = Time::HiRes::time() + $limit;
    Time::HiRes::sleep(0.01) while _alive($pid) && Time::HiRes::time() < $deadline;

    if (_alive($pid)) {
        Test::More::diag("nginx master $pid did not exit within ${limit}s after QUIT, killing it\n"
                         . join('', map { _where($_) } _children($pid)));
        kill 'KILL', $pid, _children($pid), @kids;
        $deadline = Time::HiRes::time() + 2;
        Time::HiRes::sleep(0.01) while _alive($pid) && Time::HiRes::time() < $deadline;
        unlink("$self->{prefix}/nginx.pid");
    }
    return $self;
}

sub reload {
    my ($self, $http, %opt) = @_;
    my $pid = $self->pid or croak 'reload: nginx is not running';
    %opt = (%{ $self->{conf_opt} || {} }, %opt);

    my %old = map { $_ => 1 } _children($pid);
    my $conf = $self->main_conf($http, %opt);
    $self->write_file('conf/nginx.conf', $conf);
    $self->{conf_opt} = { %opt };
    $self->_release_ports;

    my $mark = $self->_log_size;
    kill 'HUP', $pid or croak "reload: kill HUP $pid: $!";

    # Done when new workers exist and all old ones have exited.
    my $limit = 5 * slowdown();
    my $deadline = Time::HiRes::time() + $limit;
    while (1) {
        my $log = $self->_log_from($mark);
        croak "reload failed:\n$log" if $log =~ /\[emerg\]/;
        my @now = _children($pid);
        my $new = grep { !$old{$_} } @now;
        my @stale = grep { $old{$_} } @now;
        last if $new && !@stale;
        croak "reload: workers were not replaced within ${limit}s\n--- error.log:\n$log"
              . _where($pid, 'master') . join('', map { _where($_) } @stale)
            if Time::HiRes::time() > $deadline;
        Time::HiRes::sleep(0.01);
    }
    return $self;
}

# where a process that should have moved on is (a worker that should have
# exited, a master that should have reloaded): what it waits in, and its
# threads' stacks when gdb is there to read them
sub _where {
    my ($pid, $what) = @_;
    my $out = '--- ' . ($what // 'worker') . " $pid still there:";
    for my $f ("/proc/$pid/wchan", "/proc/$pid/stack") {
        my $text = _slurp($f);
        $out .= "\n$f: " . (length $text ? $text : '(unreadable)');
    }
    # where LuaJIT is mapped: its frames' offsets, for its debug symbols
    my @maps = grep { /libluajit/ } split /\n/, _slurp("/proc/$pid/maps");
    $out .= "\n" . join("\n", @maps) if @maps;
    if (-x '/usr/bin/gdb') {
        my $bt = `/usr/bin/gdb -p $pid -batch -ex 'thread apply all bt' 2>/dev/null`;
        $out .= "\n" . join("\n", grep { /^(#|Thread)/ } split /\n/, $bt // '');
    }
    return "$out\n";
}

sub test_config {
    my ($self, $http, %opt) = @_;
    my $p = $self->{prefix};
    my $conf = $self->main_conf($http, %opt,
        _error_log => "$p/test-error.log", _pid => "$p/test.pid");
    $self->write_file('conf/test.conf', $conf);

    # nginx -t returns from main() without destroying the cycle it built
    # (nginx.c): to LeakSanitizer the whole configuration is a leak
    local $ENV{ASAN_OPTIONS} = join ':', grep { defined }
        $ENV{ASAN_OPTIONS}, 'detect_leaks=0';
    my ($rc, $out) = _run($self->_nginx_cmd('conf/test.conf', "$p/test-error.log", '-t'));
    _no_sanitizer_report('nginx -t', $out);
    return wantarray ? ($rc == 0, $out) : $rc == 0;
}

# ---------------------------------------------------------------------------
# HTTP client
# ---------------------------------------------------------------------------

sub _header_pairs {
    my ($h) = @_;
    return () unless $h;
    if (ref $h eq 'HASH') {
        return map { [ $_, $h->{$_} ] } sort keys %$h;
    }
    croak 'headers must be an arrayref or hashref' unless ref $h eq 'ARRAY';
    return @$h if !@$h || ref $h->[0];
    croak 'flat header list needs an even number of elements' if @$h % 2;
    return map { [ $h->[2 * $_], $h->[2 * $_ + 1] ] } 0 .. @$h / 2 - 1;
}

sub request {
    my ($self, %args) = @_;
    my $port = defined $args{port} ? $args{port} : $self->port(0);
    my $timeout = (defined $args{timeout} ? $args{timeout} : 5) * slowdown();

    my $req;
    if (defined $args{raw}) {
        $req = $args{raw};
    } else {
        # %%VAR%% substitution in the request line and headers (not the body).
        my $sub = $args{no_subst} ? sub { $_[0] } : sub { $self->subst($_[0]) };
        my $method = defined $args{method} ? $args{method} : 'GET';
        my $path = $sub->(defined $args{path} ? $args{path} : '/');
        my $version = defined $args{http_version} ? $args{http_version} : '1.1';
        my $host = $sub->(exists $args{host} ? $args{host} : 'localhost');
        my @headers = map { [ $sub->($_->[0]), $sub->($_->[1]) ] } _header_pairs($args{headers});
        my %has = map { lc($_->[0]) => 1 } @headers;

        $req = "$method $path HTTP/$version\r\n";
        $req .= "Host: $host\r\n" if defined $host && !$has{host};
        $req .= "Connection: close\r\n" unless $has{connection};
        $req .= "$_->[0]: $_->[1]\r\n" for @headers;
        if (defined $args{body}) {
            $req .= 'Content-Length: ' . length($args{body}) . "\r\n"
                unless $has{'content-length'} || $has{'transfer-encoding'};
        }
        $req .= "\r\n";
        $req .= $args{body} if defined $args{body};
    }
    croak 'request contains wide characters; encode it to bytes first'
        if $req =~ /[^\x00-\xff]/;

    my $raw = '';
    my ($error, $timed_out);
    {
        local $@;
        my $ok = eval {
            local $SIG{ALRM} = sub { die "timeout\n" };
            local $SIG{PIPE} = 'IGNORE';
            Time::HiRes::alarm($timeout);
            my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port,
                Proto => 'tcp')
                or die "connect to 127.0.0.1:$port failed: $!\n";
            binmode $s;
            my $off = 0;
            while ($off < length $req) {
                my $n = syswrite($s, $req, length($req) - $off, $off);
                die "write failed: $!\n" unless defined $n;
                $off += $n;
            }
            while (1) {
                my $n = sysread($s, my $buf, 65536);
                die "read failed: $!\n" unless defined $n;
                last if $n == 0;
                $raw .= $buf;
            }
            Time::HiRes::alarm(0);
            1;
        };
        Time::HiRes::alarm(0);
        unless ($ok) {
            if ($@ eq "timeout\n") {
                $timed_out = 1;
                Test::More::diag("request to port $port timed out after ${timeout}s")
                    unless $args{quiet};
            } else {
                ($error = $@) =~ s/\s+\z//;
                Test::More::diag("request to port $port: $error") unless $args{quiet};
            }
        }
    }

    my $res = parse_response($raw);
    $res->{request} = $req;
    $res->{timed_out} = 1 if $timed_out;
    $res->{error} = $error if defined $error;
    return $res;
}

sub get {
    my ($self, $path, %args) = @_;
    return $self->request(%args, method => 'GET', path => $path);
}

sub parse_response {
    my ($raw) = _drop_invocant(@_);
    $raw = '' unless defined $raw;
    my %res = (raw => $raw, status => undef, headers => {}, header_list => [], body => '');

    my ($head, $body);
    if ($raw =~ /\A(.*?)\r?\n\r?\n(.*)\z/s) {
        ($head, $body) = ($1, $2);
    } else {
        ($head, $body) = ($raw, '');
    }
    my @lines = split /\r?\n/, $head;
    my $status_line = shift @lines;
    return \%res unless defined $status_line
        && $status_line =~ m{^HTTP/(\d+\.\d+)\s+(\d{3})(?:\s+(.*))?$};
    @res{qw(version status reason status_line)} = ($1, $2 + 0, defined $3 ? $3 : '', $status_line);

    for my $line (@lines) {
        next unless $line =~ /^([^:\s]+)\s*:\s*(.*?)\s*$/;
        my ($name, $value) = ($1, $2);
        push @{ $res{header_list} }, [ $name, $value ];
        my $key = lc $name;
        $res{headers}{$key} = exists $res{headers}{$key}
            ? "$res{headers}{$key}, $value" : $value;
    }

    my $te = $res{headers}{'transfer-encoding'};
    if (defined $te && $te =~ /\bchunked\b/i) {
        my ($decoded, $complete, $trailers) = _dechunk($body);
        @res{qw(body chunked chunked_complete trailers)} = ($decoded, 1, $complete, $trailers);
    } else {
        $res{body} = $body;
    }
    return \%res;
}

# Decode a chunked body; returns (data, complete flag, trailers hashref).
# Stops at the first framing error and returns what was decoded so far.
sub _dechunk {
    my ($data) = @_;
    my ($out, $pos, %trailers) = ('', 0);
    while (1) {
        pos($data) = $pos;
        return ($out, 0, \%trailers) unless $data =~ /\G([0-9a-fA-F]+)[^\r\n]*\r\n/gc;
        my $size = hex $1;
        $pos = pos($data);
        if ($size == 0) {
            while ($data =~ /\G([^\r\n]*)\r\n/gc) {
                my $line = $1;
                return ($out, 1, \%trailers) if $line eq '';
                $trailers{ lc $1 } = $2 if $line =~ /^([^:\s]+)\s*:\s*(.*?)\s*$/;
            }
            return ($out, 0, \%trailers);
        }
        return ($out, 0, \%trailers) if $pos + $size + 2 > length $data;
        $out .= substr($data, $pos, $size);
        $pos += $size;
        return ($out, 0, \%trailers) unless substr($data, $pos, 2) eq "\r\n";
        $pos += 2;
    }
}

# ---------------------------------------------------------------------------
# error.log
# ---------------------------------------------------------------------------

sub _log_file { return "$_[0]{prefix}/error.log" }

sub _log_size {
    my $size = -s $_[0]->_log_file;
    return defined $size ? $size : 0;
}

# Text from $offset to the end; from the start if the file shrank.
sub _log_from {
    my ($self, $offset) = @_;
    $offset = 0 if !$offset || $offset > $self->_log_size;
    return _slurp($self->_log_file, $offset);
}

sub error_log { return _slurp($_[0]->_log_file) }

sub mark_log {
    my ($self) = @_;
    return $self->{mark} = $self->_log_size;
}

sub log_since_mark {
    my ($self) = @_;
    return $self->_log_from($self->{mark});
}

my $BAD_LOG_LINE = qr/\[(?:alert|crit|emerg)\]|$SANITIZER_LINE/;

sub check_error_log {
    my ($self, %opt) = @_;
    local $Test::Builder::Level = $Test::Builder::Level + 1;
    my @allow = (@{ $self->{log_allow} }, @{ $opt{allow} || [] });
    my $name = defined $opt{name} ? $opt{name} : 'no alert/crit/emerg/sanitizer lines in error.log';

    my $size = $self->_log_size;
    my $from = $self->{checked} > $size ? 0 : $self->{checked};
    my $text = _slurp($self->_log_file, $from);
    $self->{checked} = $from + length $text;

    my @bad;
    for my $line (split /\n/, $text) {
        next unless $line =~ $BAD_LOG_LINE;
        next if grep { $line =~ $_ } @allow;
        push @bad, $line;
    }
    my $ok = Test::More::ok(!@bad, $name);
    Test::More::diag(join "\n", 'unexpected error.log lines:', @bad) unless $ok;
    return $ok;
}

sub _may_emit_tests {
    return 0 if $TESTING_DONE || ${^GLOBAL_PHASE} eq 'DESTRUCT'
        || Test2::API::test2_is_testing_done();
    my ($root) = Test2::API::test2_stack()->all;
    return 1 unless $root;
    my $plan = $root->plan;
    return !($root->bailed_out || (defined $plan && $plan eq 'SKIP'));
}

sub DESTROY {
    my ($self) = @_;
    return unless $self->{owner} && $self->{owner} == $$;
    local ($@, $!, $?);
    $self->stop;
    # Objects can also die early (out of scope, or exit() unwinding the main
    # program before END blocks): check their log now if tests may still run.
    if (!$self->{finished} && !$self->{no_log_check} && _may_emit_tests()) {
        $self->check_error_log(name => "error.log of $self->{prefix} is clean");
    }
    $self->{finished} = 1;
    delete $LIVE{ $self->{serial} } if $self->{serial};
}

# ---------------------------------------------------------------------------
# Load: client processes that send requests until told to stop
# ---------------------------------------------------------------------------

# Forks $n clients; client $c calls $each->($c, $i) for $i = 1, 2, ... until
# stop_clients, and appends each line it returns (undef: none) to its file.
sub clients {
    my ($self, $n, $each) = @_;
    croak 'clients: a number of clients and a sub are needed'
        unless $n && ref $each eq 'CODE';
    croak 'clients: clients are running already' if $self->{clients};

    my $stop = "$self->{prefix}/clients.stop";
    unlink $stop;
    $self->{clients} = [];

    for my $c (1 .. $n) {
        my $file = "$self->{prefix}/client-$c.out";
        my $pid = fork() // croak "clients: fork: $!";

        if ($pid == 0) {
            # no END block, no destructor: the parent owns nginx and the tests
            open my $fh, '>', $file or POSIX::_exit(1);
            $fh->autoflush(1);
            for (my $i = 1; !-e $stop; $i++) {
                my $line = eval { $each->($c, $i) };
                print $fh "$line\n" if defined $line;
            }
            close $fh or POSIX::_exit(1);
            POSIX::_exit(0);
        }

        push @{ $self->{clients} }, { client => $c, pid => $pid, file => $file };
    }
    return $self;
}

# The lines the clients wrote so far (a line being written is left out), as
# [client, line] pairs in client order.
sub client_lines {
    my ($self) = @_;
    my @lines;
    for my $cl (@{ $self->{clients} || $self->{clients_done} || [] }) {
        open my $in, '<', $cl->{file} or next;
        while (defined(my $line = <$in>)) {
            push @lines, [ $cl->{client}, $1 ] if $line =~ /\A(.*)\n\z/s;
        }
    }
    return @lines;
}

# Ends the clients (each finishes its request), killing one that takes more
# than 10 s (times slowdown()); true when every one exited 0.  stop() calls
# it too, so no client outlives its nginx.
sub stop_clients {
    my ($self) = @_;
    my $clients = delete $self->{clients} or return 1;
    my $stop = "$self->{prefix}/clients.stop";
    open my $fh, '>', $stop or croak "stop_clients: $stop: $!";
    close $fh;

    my $ok = 1;
    for my $cl (@$clients) {
        my $deadline = Time::HiRes::time() + 10 * slowdown();
        while (waitpid($cl->{pid}, POSIX::WNOHANG()) == 0) {
            if (Time::HiRes::time() > $deadline) {
                kill 'KILL', $cl->{pid};
                waitpid($cl->{pid}, 0);
                last;
            }
            Time::HiRes::sleep(0.01);
        }
        $ok = 0 if $?;
    }
    $self->{clients_done} = $clients;
    return $ok;
}

# ---------------------------------------------------------------------------
# Data-driven blocks
# ---------------------------------------------------------------------------

my @SECTIONS = qw(
    http_config config main_config request raw_request more_headers request_body
    error_code response_headers response_headers_like response_body response_body_like
    error_log no_error_log must_die workers log_level timeout skip
);
my %SECTION = map { $_ => 1 } @SECTIONS;
my @EXPECTATIONS = qw(error_code response_headers response_headers_like
    response_body response_body_like error_log no_error_log must_die);
my @RESPONSE_EXPECTATIONS = qw(error_code response_headers response_headers_like
    response_body response_body_like);

# Section content rule: trailing whitespace-only lines are dropped, and so is
# the final newline ("hello\n\n" -> "hello").
sub _section_value {
    my ($text) = @_;
    my @lines = split /\n/, $text, -1;
    pop @lines while @lines && $lines[-1] =~ /^\s*$/;
    return join "\n", @lines;
}

sub parse_blocks {
    my ($text, $origin) = _drop_invocant(@_);
    $origin = 'blocks' unless defined $origin;
    my (@blocks, $block, $section);
    my $n = 0;

    for my $line (split /^/m, $text) {
        $n++;
        my $where = "$origin line $n";
        if ($line =~ /^===(?:\s+(.*?))?\s*$/) {
            push @blocks, $block if $block;
            $block = { name => (defined $1 && length $1 ? $1 : "block at $where"),
                       where => $where, raw => {} };
            $section = undef;
            next;
        }
        if ($line =~ /^---\s/) {
            croak "malformed section header at $where: $line"
                unless $line =~ /^---\s+(\w+)\s*(?::(.*))?$/;
            my ($name, $inline) = ($1, $2);
            croak "section '$name' outside of a block at $where" unless $block;
            croak "unknown section '$name' in block '$block->{name}' at $where"
                unless $SECTION{$name};
            croak "duplicate section '$name' in block '$block->{name}' at $where"
                if exists $block->{raw}{$name};
            $section = $block->{raw}{$name} = { inline => $inline, text => '', where => $where };
            next;
        }
        if ($section) {
            $section->{text} .= $line;
        } elsif ($line =~ /\S/) {
            croak "unexpected text at $where (expected '=== name' or '--- section')";
        }
    }
    push @blocks, $block if $block;

    for my $blk (@blocks) {
        my %sec;
        for my $name (keys %{ $blk->{raw} }) {
            my $s = $blk->{raw}{$name};
            if (defined $s->{inline}) {
                croak "section '$name' at $s->{where} has both an inline value and a body"
                    if $s->{text} =~ /\S/;
                ($sec{$name} = $s->{inline}) =~ s/^\s+|\s+$//g;
            } else {
                $sec{$name} = _section_value($s->{text});
            }
        }
        $blk = _normalize_block({ %sec, name => $blk->{name} }, $blk->{where});
    }
    return @blocks;
}

sub _normalize_block {
    my ($in, $where) = @_;
    my %sec = %$in;
    my $name = delete $sec{name};
    $where = 'block' unless defined $where;
    $name = $where unless defined $name && length $name;
    for my $s (sort keys %sec) {
        croak "unknown section '$s' in block '$name'" unless $SECTION{$s};
    }
    croak "block '$name' asserts nothing" unless grep { exists $sec{$_} } @EXPECTATIONS;
    croak "block '$name': request and raw_request are mutually exclusive"
        if exists $sec{request} && exists $sec{raw_request};
    my $has_request = exists $sec{request} || exists $sec{raw_request};
    if (exists $sec{must_die}) {
        croak "block '$name': must_die cannot be combined with a request"
            if $has_request || grep { exists $sec{$_} } @RESPONSE_EXPECTATIONS;
    } elsif (!$has_request) {
        croak "block '$name' checks the response but sends no request"
            if grep { exists $sec{$_} } @RESPONSE_EXPECTATIONS;
    }
    croak "block '$name': more_headers/request_body need a request section"
        if !exists $sec{request} && grep { exists $sec{$_} } qw(more_headers request_body);
    return { name => $name, where => $where, sec => \%sec };
}

# Sections every following block gets unless it has its own, so a file
# states its common http_config or config once.
sub block_defaults {
    my ($self, %sections) = @_;
    $self->{block_defaults} = { %{ $self->{block_defaults} || {} },
                                %sections };
    return $self;
}

sub run_blocks {
    my $t = (@_ && blessed($_[0]) && $_[0]->isa(__PACKAGE__)) ? shift : undef;
    my @input = @_;
    my $caller = caller;
    $t = __PACKAGE__->new unless $t;

    my @blocks;
    if (!@input) {
        my $fh = do { no strict 'refs'; \*{"${caller}::DATA"} };
        croak "run_blocks: no blocks given and no __DATA__ section in package $caller"
            unless defined fileno($fh);
        my $text = do { local $/; <$fh> };
        @blocks = parse_blocks(defined $text ? $text : '', "$0 __DATA__");
    } else {
        for my $item (@input) {
            push @blocks, ref $item eq 'HASH' ? _normalize_block($item) : parse_blocks($item);
        }
    }
    croak 'run_blocks: no blocks found' unless @blocks;

    local $Test::Builder::Level = $Test::Builder::Level + 1;
    $t->_run_block($_) for @blocks;
    return $t;
}

# A log expectation line is a substring, or a regex when written as /.../.
sub _log_matcher {
    my ($line) = @_;
    return $line =~ m{^/(.*)/$}s ? qr/$1/ : $line;
}

sub _log_has {
    my ($text, $m) = @_;
    return ref $m ? scalar($text =~ $m) : index($text, $m) >= 0;
}

sub _lines { return grep { /\S/ } split /\n/, $_[0] }

# Every must_die block run so far, sent again as a reload of the running
# nginx: each must be refused with an [emerg], and the running configuration
# go on.  What a refused configuration had built must be freed with it, or
# each failed reload leaks: under make test-asan, LeakSanitizer checks the
# master when it exits.
sub must_die_reloads {
    my ($self) = @_;
    local $Test::Builder::Level = $Test::Builder::Level + 1;
    local $self->{conf_opt} = $self->{conf_opt};
    croak 'must_die_reloads: nginx is not running' unless $self->is_running;

    for my $b (@{ $self->{must_die} || [] }) {
        my ($http, %opt) = $self->_block_conf($b->{sec});
        my $ok = eval { $self->reload($http, %opt); 1 };
        Test::More::ok(!$ok && $@ =~ /^reload failed/,
                       "$b->{name} - a reload is refused")
            or Test::More::diag($ok ? 'the reload was accepted' : $@);
    }
    $self->check_error_log(allow => [ qr/\[emerg\]/ ],
        name => 'refused reloads log nothing but their [emerg]');
    return $self;
}

sub _run_block {
    my ($self, $block) = @_;
    local $Test::Builder::Level = $Test::Builder::Level + 1;
    my $name = $block->{name};
    my %s = (%{ $self->{block_defaults} || {} }, %{ $block->{sec} });

    if (exists $s{skip} || (defined $ENV{OMNI_TEST_ONLY} && $name !~ /$ENV{OMNI_TEST_ONLY}/)) {
        my $why = exists $s{skip} ? $s{skip} : 'OMNI_TEST_ONLY';
        SKIP: { Test::More::skip("$name: $why", 1) }
        return;
    }

    my $ok = eval {
        $self->_block_body($name, \%s);
        1;
    };
    unless ($ok) {
        my $err = $@;
        Test::More::ok(0, "$name - block ran without errors");
        Test::More::diag($err);
    }
}

# The http text and the start options of a block's substituted sections.
sub _block_conf {
    my ($self, $s) = @_;
    my $http = defined $s->{http_config} ? "$s->{http_config}\n" : '';
    if (defined $s->{config} || !defined $s->{http_config}) {
        my $config = defined $s->{config} ? $s->{config} : '';
        $http .= "server {\n    listen 127.0.0.1:" . $self->port(0) . ";\n"
            . "    server_name localhost;\n\n$config\n}\n";
    }
    my %opt;
    $opt{workers} = $s->{workers} if defined $s->{workers};
    $opt{main} = $s->{main_config} if defined $s->{main_config};
    $opt{error_log_level} = $s->{log_level} if defined $s->{log_level};
    return ($http, %opt);
}

sub _block_body {
    my ($self, $name, $s) = @_;
    local $Test::Builder::Level = $Test::Builder::Level + 2;
    my %s = map { $_ => $self->subst($s->{$_}) } keys %$s;
    my ($http, %opt) = $self->_block_conf(\%s);

    if (exists $s{must_die}) {
        push @{ $self->{must_die} }, { name => $name, sec => \%s };
        my ($ok, $out) = $self->test_config($http, %opt);
        Test::More::ok(!$ok, "$name - nginx -t fails") or Test::More::diag($out);
        for my $line (_lines(defined $s{error_log} ? $s{error_log} : '')) {
            Test::More::ok(_log_has($out, _log_matcher($line)), "$name - output has: $line")
                or Test::More::diag("nginx -t output:\n$out");
        }
        for my $line (_lines(defined $s{no_error_log} ? $s{no_error_log} : '')) {
            Test::More::ok(!_log_has($out, _log_matcher($line)), "$name - output lacks: $line")
                or Test::More::diag("nginx -t output:\n$out");
        }
        return;
    }

    my $key = join "\0", $http, map { defined $opt{$_} ? $opt{$_} : '' }
        qw(workers main error_log_level);
    if (!$self->is_running || !defined $self->{running_key} || $self->{running_key} ne $key) {
        $self->stop;
        delete $self->{running_key};
        $self->mark_log;
        my $started = eval { $self->start($http, %opt); 1 };
        unless ($started) {
            Test::More::ok(0, "$name - nginx started");
            Test::More::diag($@);
            return;
        }
        $self->{running_key} = $key;
    } else {
        $self->mark_log;
    }

    my $res;
    if (defined $s{raw_request} || defined $s{request}) {
        my %req = (timeout => defined $s{timeout} ? $s{timeout} : 5);
        if (defined $s{raw_request}) {
            (my $raw = $s{raw_request}) =~ s/\r?\n/\r\n/g;
            $raw .= "\r\n\r\n" unless $raw =~ /\r\n\r\n/;
            $req{raw} = $raw;
        } else {
            my ($first, @rest) = split /\n/, $s{request};
            croak "request section must be one line 'METHOD /path' (use request_body)"
                if !defined $first || grep { /\S/ } @rest;
            $first =~ m{^\s*([A-Za-z][A-Za-z0-9_-]*)\s+(\S+)(?:\s+HTTP/(\d\.\d))?\s*$}
                or croak "bad request line '$first' (expected 'METHOD /path')";
            @req{qw(method path)} = ($1, $2);
            $req{http_version} = $3 if defined $3;
            my @headers;
            for my $line (_lines(defined $s{more_headers} ? $s{more_headers} : '')) {
                $line =~ /^([^:\s]+):\s?(.*)$/ or croak "bad header line '$line'";
                push @headers, [ $1, $2 ];
            }
            $req{headers} = \@headers;
            $req{body} = $s{request_body} if defined $s{request_body};
        }
        $res = $self->request(%req, no_subst => 1);
        Test::More::ok(0, "$name - response received")
            if $res->{error} || $res->{timed_out};
    }

    if (defined $s{error_code}) {
        Test::More::is($res->{status}, $s{error_code}, "$name - status code");
    }
    for my $line (_lines(defined $s{response_headers} ? $s{response_headers} : '')) {
        if ($line =~ /^\s*!\s*([^:\s]+)\s*$/) {
            my $h = $1;
            Test::More::ok(!exists $res->{headers}{ lc $h }, "$name - no header $h")
                or Test::More::diag("$h: $res->{headers}{lc $h}");
            next;
        }
        $line =~ /^([^:\s]+):\s?(.*)$/ or croak "bad response_headers line '$line'";
        my ($h, $v) = ($1, $2);
        Test::More::is($res->{headers}{ lc $h }, $v, "$name - header $h");
    }
    for my $line (_lines(defined $s{response_headers_like} ? $s{response_headers_like} : '')) {
        $line =~ /^([^:\s]+):\s?(.*)$/ or croak "bad response_headers_like line '$line'";
        my ($h, $re) = ($1, $2);
        my $v = $res->{headers}{ lc $h };
        if (defined $v) {
            Test::More::like($v, qr/$re/, "$name - header $h like /$re/");
        } else {
            Test::More::ok(0, "$name - header $h like /$re/");
            Test::More::diag("header $h is missing");
        }
    }
    if (defined $s{response_body}) {
        (my $body = $res->{body}) =~ s/\n\z//;
        Test::More::is($body, $s{response_body}, "$name - response body");
    }
    if (defined $s{response_body_like}) {
        Test::More::like($res->{body}, qr/$s{response_body_like}/s, "$name - response body like");
    }

    my @want = map { [ $_, _log_matcher($_) ] } _lines(defined $s{error_log} ? $s{error_log} : '');
    my @unwanted = map { [ $_, _log_matcher($_) ] }
        _lines(defined $s{no_error_log} ? $s{no_error_log} : '');
    if (@want || @unwanted) {
        # Log lines can be written just after the response was sent.
        my $deadline = Time::HiRes::time() + (@want ? 1 : 0.05) * slowdown();
        my $log = $self->log_since_mark;
        while (Time::HiRes::time() < $deadline) {
            last if @want && !grep { !_log_has($log, $_->[1]) } @want;
            Time::HiRes::sleep(0.02);
            $log = $self->log_since_mark;
        }
        for my $w (@want) {
            Test::More::ok(_log_has($log, $w->[1]), "$name - error_log has: $w->[0]")
                or Test::More::diag("error.log since mark:\n$log");
        }
        for my $u (@unwanted) {
            Test::More::ok(!_log_has($log, $u->[1]), "$name - error_log lacks: $u->[0]")
                or Test::More::diag("error.log since mark:\n$log");
        }
    }

    $self->check_error_log(name => "$name - no alert/crit/emerg/sanitizer in error.log")
        unless $self->{no_log_check};
    return;
}

1;

__END__

=head1 NAME

Omni::Test - integration test harness for the omni gateway nginx module

=head1 SYNOPSIS

    use strict;
    use warnings;
    use lib 't/lib';
    use Test::More;
    use Omni::Test;

    my $t = Omni::Test->new;
    $t->set_var(TOKEN_OK => 'abc');
    $t->start(<<'EOF');
    server {
        listen 127.0.0.1:%%PORT%%;
        location / { return 200 "hello"; }
    }
    EOF
    my $res = $t->request(path => '/');
    is($res->{status}, 200);

    run_blocks($t);     # data-driven blocks from __DATA__
    done_testing();

    __DATA__
    === TEST 1: hello
    --- config
    location / { return 200 "hello"; }
    --- request
    GET /
    --- error_code: 200
    --- response_body
    hello

=head1 DESCRIPTION

Each object owns a temporary prefix directory (mode 0755), a set of free
loopback ports and at most one running nginx (C<nginx -p PREFIX/ -c conf>).
nginx is stopped, and the new part of F<error.log> is checked for
C<[alert]>, C<[crit]>, C<[emerg]> and sanitizer reports, when testing is
done (at C<done_testing()>, or at exit).  Scripts with a fixed plan must
count one extra test per live object.  See F<t/README.md> for the block
format.

=head1 ENVIRONMENT

C<OMNI_NGINX> (nginx binary, default F</usr/sbin/nginx>), C<OMNI_MODULE>
(module path, default F<build/nginx/objs/ngx_http_omni_module.so>; the
harness bails out when it is missing), C<OMNI_NO_MODULE=1> (no
C<load_module>), C<OMNI_TEST_KEEP=1> (keep and print the prefix),
C<OMNI_TEST_ONLY=regex> (skip blocks whose name does not match),
C<OMNI_BIN> (directory of the tools C<bin()> names), C<OMNI_TEST_SLOWDOWN=N>
(wait N times longer for nginx; C<slowdown()> returns N).

=head1 FUNCTIONS

C<repo_root()>, C<bin($name)>, C<nginx_binary()>, C<module_path()>,
C<slowdown()>,
C<run_blocks([$t], [@blocks])> (exported), C<parse_blocks($text)>,
C<parse_response($raw)>.

=head1 METHODS

C<new(%opt)> (C<no_log_check>, C<log_allow>), C<prefix>, C<port($n)>,
C<write_file($rel, $content)>, C<read_file($rel)>, C<set_var(%vars)>,
C<subst($text)>, C<main_conf($http, %opt)>, C<start($http, %opt)>, C<stop>,
C<reload($http, %opt)>, C<test_config($http, %opt)>, C<request(%args)>,
C<get($path, %args)>, C<must_die_reloads>, C<error_log>, C<mark_log>,
C<log_since_mark>, C<check_error_log(%opt)>, C<pid>, C<is_running>,
C<worker_pids>, C<clients($n, $each)>, C<client_lines>, C<stop_clients>.

=cut
