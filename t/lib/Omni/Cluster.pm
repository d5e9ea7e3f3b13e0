package Omni::Cluster;

# Several gateway nodes and one nats-server with JetStream on loopback,
# for the cluster tests (docs/cluster.md): each node is an Omni::Test
# (its own nginx prefix and store, two workers by default) with its own
# omni-sync.  Processes this object starts are killed by pid, never by
# name, when the test ends.  Core Perl modules only.

use strict;
use warnings;

use Carp qw(croak);
use IO::Socket::INET;
use JSON::PP ();
use POSIX ();
use Time::HiRes qw(time sleep);
use Omni::Test;
use Omni::Jwt qw(keygen mint);

my %PIDS;

END {
    kill 'KILL', $_ for grep { $_ } values %PIDS;
}

# the binaries, or a reason to skip the test file
sub missing {
    return 'omni-sync is not built (make tools)'
        unless -x Omni::Test::bin('omni-sync');
    return 'nats-server is missing (make deps installs it)'
        unless nats_binary();
    return undef;
}

sub nats_binary {
    my ($bin) = grep { -x } map { "$_/nats-server" }
                split(/:/, $ENV{PATH} || ''), '/usr/sbin', '/usr/bin';
    return $bin;
}

sub free_port {
    for (1 .. 200) {
        my $p = 20000 + int(rand(12000));
        my $s = IO::Socket::INET->new(LocalAddr => '127.0.0.1',
                                      LocalPort => $p, Proto => 'tcp',
                                      Listen => 1) or next;
        close $s;
        return $p;
    }
    die 'no free port';
}

# runs @cmd with its output appended to $log, remembered as $name
sub spawn {
    my ($self, $name, $log, @cmd) = @_;
    my $pid = fork // die "fork: $!";
    if ($pid == 0) {
        open(STDOUT, '>>', $log) or POSIX::_exit(1);
        open(STDERR, '>&', \*STDOUT) or POSIX::_exit(1);
        exec(@cmd) or POSIX::_exit(1);
    }
    $PIDS{$name} = $pid;
    return $pid;
}

sub reap {
    my ($self, $name, $sig) = @_;
    my $pid = delete $PIDS{$name} or return;
    kill $sig, $pid;
    waitpid($pid, 0);
}

sub running { return exists $PIDS{ $_[1] } }

# sends $sig to a process spawn() started, e.g. nats STOP and CONT
sub signal {
    my ($self, $name, $sig) = @_;
    my $pid = $PIDS{$name} or croak "no process $name";
    return kill $sig, $pid;
}

# Omni::Cluster->new(nodes => 3, conf => sub { my ($i) = @_; ... },
#                    server => '...', workers => 2, nats_args => [...],
#                    nats_setup => sub { my ($dir) = @_; ...; @args })
# conf: http-level lines per node; server: more of the gateway server's
# block; nats_args: more nats-server arguments (TLS, a config file);
# nats_setup: called with the server's directory before it starts (to
# write certificates and a config file there), returns more arguments
sub new {
    my ($class, %opt) = @_;
    my $first = Omni::Test->new;
    my $self = bless {
        first     => $first,
        json      => JSON::PP->new->canonical,
        nats_port => free_port(),
        nats_http => free_port(),
        nats_dir  => $first->prefix . '/nats',
        nats_args => $opt{nats_args} || [],
        scheme    => $opt{scheme} || 'nats',
        nodes     => [],
        tokens    => {},
    }, $class;
    $self->{key} = keygen($first->prefix . '/keys')->{hs32};
    $self->{admin} = mint(alg => 'HS256', key => $self->{key},
                          sub => 'secops', roles => 'admin');
    mkdir $self->{nats_dir} or die "$self->{nats_dir}: $!";
    push @{ $self->{nats_args} }, $opt{nats_setup}->($self->{nats_dir})
        if $opt{nats_setup};
    $self->nats_start or croak 'nats-server did not start';

    for my $i (1 .. ($opt{nodes} || 3)) {
        $self->add_node($i == 1 ? $first : Omni::Test->new, $i, %opt);
    }
    return $self;
}

sub first { return $_[0]{first} }
sub key   { return $_[0]{key} }
sub admin { return $_[0]{admin} }
sub json  { return $_[0]{json} }
sub nodes { return @{ $_[0]{nodes} } }
sub node  { return $_[0]{nodes}[ $_[1] - 1 ] }
sub url   { return "$_[0]{scheme}://127.0.0.1:$_[0]{nats_port}" }

sub nats_start {
    my ($self) = @_;
    $self->spawn('nats', "$self->{nats_dir}/server.log", nats_binary(), '-js',
                 '-sd', $self->{nats_dir}, '-a', '127.0.0.1',
                 '-p', $self->{nats_port}, '-m', $self->{nats_http},
                 @{ $self->{nats_args} });
    for (1 .. 500) {
        my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
                                      PeerPort => $self->{nats_port},
                                      Proto => 'tcp');
        if ($s) { close $s; return 1 }
        sleep 0.01;
    }
    return 0;
}

sub nats_stop { $_[0]->reap('nats', 'TERM') }

# a connection of its own (plain only) subscribed to $inbox as sid 1,
# that published $payload on $subject with $inbox as the reply: the socket
sub nats_publish {
    my ($self, $inbox, $subject, $payload) = @_;
    $payload //= '';
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
                                  PeerPort => $self->{nats_port},
                                  Proto => 'tcp', Timeout => 5)
        or croak "nats: $!";
    $s->autoflush(1);
    <$s> // croak 'nats: no INFO';
    print $s qq(CONNECT {"verbose":false,"pedantic":false}\r\n),
             "SUB $inbox 1\r\n",
             "PUB $subject $inbox ", length($payload), "\r\n$payload\r\n";
    return $s;
}

# one request on the NATS protocol (plain connections only), e.g. to the
# JetStream API ('$JS.API.STREAM.DELETE.OMNI'): the decoded JSON answer
sub nats_request {
    my ($self, $subject, $payload) = @_;
    my $s = $self->nats_publish('_INBOX.omni-test', $subject, $payload);
    my $deadline = time + 5;
    while (time < $deadline) {
        my $line = <$s> // last;
        if ($line =~ /^PING/) { print $s "PONG\r\n"; next }
        next unless $line =~ /^MSG \S+ 1 (\d+)\r\n$/;
        read($s, my $body, $1 + 2) == $1 + 2 or last;
        close $s;
        return $self->{json}->decode(substr($body, 0, $1));
    }
    close $s;
    croak "nats: no answer to $subject";
}

sub add_node {
    my ($self, $t, $i, %opt) = @_;
    my $extra = $opt{conf} ? $opt{conf}->($i) : '';
    my $server = $opt{server} || '';
    my $store = $t->prefix . '/store';
    mkdir $store or die "$store: $!";
    chmod 0777, $store;

    $t->start(<<"END", workers => $opt{workers} || 2);
omni_store $store sync=none;
omni_jwt_secret $self->{key};
$extra

server {
    listen 127.0.0.1:%%PORT1%%;
    location / { return 200 "ok\\n"; }
}

server {
    listen 127.0.0.1:%%PORT%%;
    server_name localhost;

    location /api {
        omni_gateway on;
        proxy_pass http://127.0.0.1:%%PORT1%%;
    }

    location /admin/ {
        omni_gateway on;
        omni_admin;
    }
$server
}
END

    # the workers made the store's files; omni-sync opens it after them
    $t->request(path => '/api') for 1 .. 2;
    my $n = { t => $t, store => $store, name => "node$i" };
    push @{ $self->{nodes} }, $n;
    return $n;
}

# a node's omni-sync; @extra: more arguments (--log-max, TLS files)
# a pull request for a durable consumer of a stream ('OMNI', 'omni-node2')
# from a connection of its own that never reads nor acks: the consumer
# delivers to it and not to the node, until it expires or the consumer is
# made again.  The connection lives as long as the returned socket.
sub pull_elsewhere {
    my ($self, $stream, $consumer, $batch, $expires_s) = @_;
    my $s = $self->nats_publish('_INBOX.elsewhere',
        "\$JS.API.CONSUMER.MSG.NEXT.$stream.$consumer",
        sprintf('{"batch":%d,"expires":%d}', $batch, $expires_s * 1e9));
    # the server took the request once it answers the PING after it
    print $s "PING\r\n";
    while (my $line = <$s>) { last if $line =~ /^PONG/ }
    return $s;
}

# one message of a durable consumer fetched and acked from a connection
# of its own, as a run whose store was then lost would have: the
# consumer's ack floor passes the node's cursor.  The acked message's
# subject, or undef when none came within 5 s.
sub pull_and_ack {
    my ($self, $stream, $consumer) = @_;
    my $s = $self->nats_publish('_INBOX.acker',
        "\$JS.API.CONSUMER.MSG.NEXT.$stream.$consumer",
        '{"batch":1,"expires":5000000000}');
    my $deadline = time + 5;
    while (time < $deadline) {
        my $line = <$s> // last;
        if ($line =~ /^PING/) { print $s "PONG\r\n"; next }
        next unless $line =~ /^MSG (\S+) 1 (\S+) (\d+)\r\n$/;
        my ($subject, $reply, $len) = ($1, $2, $3);
        read($s, my $body, $len + 2) == $len + 2 or last;
        print $s "PUB $reply 0\r\n\r\nPING\r\n";
        while (my $l = <$s>) { last if $l =~ /^PONG/ }
        close $s;
        return $subject;
    }
    close $s;
    return undef;
}

sub sync_start {
    my ($self, $n, @extra) = @_;
    $self->spawn("sync-$n->{name}", "$n->{store}/../sync.log",
                 Omni::Test::bin('omni-sync'), '--store', $n->{store},
                 '--node', $n->{name}, '--nats', $self->url, @extra);
}

sub sync_stop {
    my ($self, $n, $sig) = @_;
    $self->reap("sync-$n->{name}", $sig || 'TERM');
}

sub sync_log { return Omni::Test::_slurp("$_[1]{store}/../sync.log") }

# the last lines of nats-server's log
sub nats_log {
    my @lines = split /^/, Omni::Test::_slurp("$_[0]{nats_dir}/server.log");
    return join '', @lines > 30 ? @lines[-30 .. -1] : @lines;
}

# what to print when a change does not spread: every sync's log and
# status, the stream's and every consumer's state, nats-server's log
sub spread_diag {
    my ($self, $stream) = @_;
    $stream //= 'OMNI';
    my $json = JSON::PP->new->canonical;
    my $text = '';
    for my $n ($self->nodes) {
        $text .= "$n->{name}'s omni-sync:\n" . $self->sync_log($n)
                 . "$n->{name}'s status: "
                 . $json->encode($self->omnictl_json($n, 'cluster status'))
                 . "\n";
        my $ci = eval { $self->nats_request(
                            "\$JS.API.CONSUMER.INFO.$stream.omni-$n->{name}")
                      } // {};
        $text .= "consumer omni-$n->{name}: "
                 . $json->encode({ map { $_ => $ci->{$_} }
                     grep { exists $ci->{$_} }
                     qw(delivered ack_floor num_pending num_ack_pending
                        num_waiting error created) }) . "\n";
    }
    # the server's view of each client's subscriptions: where it
    # delivers, and how much went to each
    my $connz = eval { $self->nats_monitor('/connz?subs=detail') } // {};
    for my $conn (@{ $connz->{connections} || [] }) {
        $text .= 'connection ' . ($conn->{name} // $conn->{cid}) . ': '
                 . $json->encode({ map { $_ => $conn->{$_} }
                     qw(in_msgs out_msgs pending_bytes subscriptions_list_detail) })
                 . "\n";
    }
    # with the subjects: the origins a full resync learns the nodes from
    my $si = eval { $self->nats_request("\$JS.API.STREAM.INFO.$stream",
                                        '{"subjects_filter":">"}') } // {};
    $text .= "stream $stream: " . $json->encode({ state => $si->{state},
                                                  created => $si->{created},
                                                  error => $si->{error} })
             . "\nnats-server:\n" . $self->nats_log;
    return $text;
}

# a GET of nats-server's monitoring endpoint: the decoded JSON answer
sub nats_monitor {
    my ($self, $path) = @_;
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
                                  PeerPort => $self->{nats_http},
                                  Proto => 'tcp', Timeout => 5)
        or croak "nats monitor: $!";
    print $s "GET $path HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n";
    local $/;
    my $answer = <$s> // '';
    $answer =~ s/^.*?\r\n\r\n//s;
    return $self->{json}->decode($answer);
}

# a token of subject erin with this jti
sub token {
    my ($self, $jti) = @_;
    return $self->{tokens}{$jti} //= mint(alg => 'HS256', key => $self->{key},
                                          sub => 'erin', jti => $jti);
}

sub status_of {
    my ($self, $n, $jti) = @_;
    return $n->{t}->request(path => '/api', headers =>
               [ [ Authorization => 'Bearer ' . $self->token($jti) ] ])
           ->{status};
}

# an admin API request on node $n with the admin token
sub admin_request {
    my ($self, $n, $method, $path, $body) = @_;
    return $n->{t}->request(method => $method, path => $path, no_subst => 1,
        defined $body ? (body => ref $body ? $self->{json}->encode($body)
                                           : $body) : (),
        headers => [ [ Authorization => "Bearer $self->{admin}" ] ]);
}

sub revoke {
    my ($self, $n, $jti) = @_;
    return $self->admin_request($n, 'POST', '/admin/revocations',
                                { kind => 'jti', value => $jti })->{status};
}

# polls $check->() every $every s until it is true or $limit s passed;
# the seconds it took, or undef
sub wait_for {
    my ($limit, $check, $every) = @_;
    my $t0 = time;
    while (1) {
        return time - $t0 if $check->();
        return undef if time - $t0 > $limit;
        sleep($every || 0.05);
    }
}

# how long until every node but $from refuses $jti (undef past $limit s)
sub refused_within {
    my ($self, $from, $jti, $limit) = @_;
    my %left = map { $_->{name} => $_ } grep { $_ != $from } $self->nodes;
    return wait_for($limit, sub {
        for my $name (keys %left) {
            delete $left{$name} if $self->status_of($left{$name}, $jti) == 401;
        }
        return !%left;
    }, 0.005);
}

sub converged {
    my ($self, $jti, $limit) = @_;
    return defined wait_for($limit, sub {
        !grep { $self->status_of($_, $jti) != 401 } $self->nodes });
}

# the jti revocations of node $n's store, sorted, one line each with its
# record
sub jtis_held {
    my ($self, $n) = @_;
    return join '', sort grep { /^jti / }
                    split /^/, $self->omnictl($n, 'revocations');
}

# omnictl on node $n's store: its output, or a decoded JSON answer
sub omnictl {
    my ($self, $n, $args) = @_;
    my $bin = Omni::Test::bin('omnictl');
    return scalar `$bin -d $n->{store} $args 2>/dev/null`;
}

sub omnictl_json {
    my ($self, $n, $args) = @_;
    return eval { $self->{json}->decode($self->omnictl($n, $args)) } || {};
}

sub stop {
    my ($self) = @_;
    # a consumer omni-sync found delivering elsewhere (docs/cluster.md):
    # the test passes, the cause is worth knowing
    for my $n ($self->nodes) {
        my $log = $self->sync_log($n);
        Test::More::diag("$n->{name}: $1")
            while $log =~ /(consumer \S+ holds .*)$/mg;
    }
    $self->sync_stop($_) for $self->nodes;
    $self->nats_stop;
    $_->{t}->stop for $self->nodes;
}

1;
