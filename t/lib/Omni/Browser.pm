package Omni::Browser;

# A headless Chromium for the tests, driven through t/console/cdp_driver.py
# (Python 3 with python3-websocket, over the DevTools protocol): one JSON
# command a line to it, one JSON answer a line back, each awaited with a
# timeout.  The browser and the driver end with the object, or at exit.

use strict;
use warnings;

use Carp qw(croak);
use IO::Handle;
use IO::Select;
use JSON::PP ();
use POSIX ();
use Time::HiRes ();
use Omni::Test ();

my $PYTHON = '/usr/bin/python3';
my $CHROMIUM = $ENV{OMNI_CHROMIUM} || '/usr/bin/chromium';

my %LIVE;

# why the browser cannot run here, or undef when it can
sub unavailable {
    return "$CHROMIUM is not installed (make deps installs chromium)"
        unless -x $CHROMIUM;
    return 'python3-websocket is not installed (make deps installs it)'
        unless system("$PYTHON -c 'import websocket' 2>/dev/null") == 0;
    return undef;
}

sub new {
    my ($class, %opt) = @_;
    my $profile = $opt{profile} or croak 'Omni::Browser needs a profile dir';
    my $driver = Omni::Test::repo_root() . '/t/console/cdp_driver.py';

    mkdir $profile or croak "$profile: $!" unless -d $profile;
    pipe(my $from_driver, my $to_perl) or croak "pipe: $!";
    pipe(my $from_perl, my $to_driver) or croak "pipe: $!";

    my $pid = fork;
    croak "fork: $!" unless defined $pid;
    if (!$pid) {
        close $from_driver;
        close $to_driver;
        open(STDIN, '<&', $from_perl) or POSIX::_exit(127);
        open(STDOUT, '>&', $to_perl) or POSIX::_exit(127);
        { exec { $PYTHON } $PYTHON, $driver, $profile }
        POSIX::_exit(127);
    }
    close $from_perl;
    close $to_perl;
    $to_driver->autoflush(1);

    my $self = bless { pid => $pid, in => $to_driver, out => $from_driver,
                       buffer => '', timeout => $opt{timeout} || 20,
                       json => JSON::PP->new->utf8->canonical },
                     $class;
    $LIVE{$pid} = $self;

    my $hello = $self->_answer(30);
    croak "the browser did not start: $hello->{error}" unless $hello->{ok};
    $self->{chromium_pid} = $hello->{chromium_pid};
    return $self;
}

sub _answer {
    my ($self, $timeout) = @_;
    my $deadline = Time::HiRes::time() + $timeout;
    my $select = IO::Select->new($self->{out});

    my $end;
    until (($end = index($self->{buffer}, "\n")) >= 0) {
        my $left = $deadline - Time::HiRes::time();
        croak "the browser driver did not answer within ${timeout}s"
            if $left <= 0 || !$select->can_read($left);
        my $n = sysread($self->{out}, $self->{buffer}, 65536,
                        length $self->{buffer});
        croak 'the browser driver ended' unless $n;
    }
    my $line = substr($self->{buffer}, 0, $end + 1, '');
    return $self->{json}->decode($line);
}

# a command's value; dies with the driver's error
sub command {
    my ($self, %command) = @_;
    print { $self->{in} } $self->{json}->encode(\%command), "\n";
    my $timeout = $self->{timeout} + ($command{timeout} || 0);
    my $answer = $self->_answer($timeout);
    croak "$command{op}: $answer->{error}" unless $answer->{ok};
    return $answer->{value};
}

sub navigate   { $_[0]->command(op => 'navigate', url => $_[1]) }
sub js         { $_[0]->command(op => 'eval', expr => $_[1]) }
sub click      { $_[0]->command(op => 'click', selector => $_[1]) }
sub type       { $_[0]->command(op => 'type', selector => $_[1], text => $_[2]) }
sub screenshot { $_[0]->command(op => 'screenshot', path => $_[1]) }
sub events     { $_[0]->command(op => 'events') }

# the text of the first element a selector finds, undef without one
sub text {
    my ($self, $selector) = @_;
    return $self->js('(() => { const e = document.querySelector('
                     . JSON::PP->new->encode($selector) . '); '
                     . 'return e ? e.textContent : null; })()');
}

# an expression, for js or wait_for: the element is shown
sub visible {
    my ($selector) = @_;
    return 'document.querySelector(' . JSON::PP->new->encode($selector)
           . ')?.checkVisibility()';
}

# until the page's expression is truthy: 10 s by default, longer when the
# tests run slowed down (Omni::Test::slowdown).  When it never is, the
# error says what went wrong in the page: its exceptions and logged errors.
sub wait_for {
    my ($self, $expr, $timeout) = @_;
    my $value = eval {
        $self->command(op => 'wait', expr => $expr,
                       timeout => ($timeout || 10) * Omni::Test::slowdown());
    };
    return $value unless $@;

    my $error = $@;
    my $events = eval { $self->events } || {};
    croak join "\n  ", $error =~ s/ at \S+ line \d+\.?\n\z//r,
        (map { "exception: $_" } @{ $events->{exceptions} || [] }),
        (map { "logged: $_->{text}" }
         grep { $_->{level} eq 'error' } @{ $events->{log} || [] });
}

# the driver ends Chromium as it quits; a driver that does not answer is
# killed, and its browser's process group with it
sub quit {
    my ($self) = @_;
    my $pid = delete $self->{pid} or return;
    delete $LIVE{$pid};
    eval { $self->command(op => 'quit'); 1 };
    close $self->{in};

    my $deadline = Time::HiRes::time() + 10;
    while (waitpid($pid, POSIX::WNOHANG()) == 0) {
        if (Time::HiRes::time() > $deadline) {
            kill 'KILL', $pid;
            kill 'KILL', -$self->{chromium_pid} if $self->{chromium_pid};
            waitpid($pid, 0);
            last;
        }
        Time::HiRes::sleep(0.05);
    }
}

sub DESTROY { $_[0]->quit }

END {
    local $?;
    $_->quit for values %LIVE;
}

1;
