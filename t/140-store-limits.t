# The store at its limits: a directory the workers cannot write, a map
# that is full, workers killed in the middle of writing, and sessions that
# expire and are purged.

use strict;
use warnings;

use lib 't/lib';
use JSON::PP;
use Test::More;
use Time::HiRes ();
use Omni::Test;
use MIME::Base64 ();
use Omni::Jwt qw(forge keygen mint slurp);

# the crash test kills workers: the master's alerts about it are expected
my $t = Omni::Test->new(log_allow => [ qr/worker process \d+ exited on signal 9/ ]);
my $k = keygen($t->prefix . '/keys');
my $repo = Omni::Test::repo_root();
my $omnictl = Omni::Test::bin('omnictl');

sub store_dir {
    my $dir = $t->prefix . '/' . shift;
    mkdir $dir or die "$dir: $!";
    chmod 0777, $dir;
    return $dir;
}

sub conf {
    my ($store, $store_args, $timeouts, $location) = @_;
    $location //= '';
    return <<"END";
omni_plugins $repo/plugins;
omni_lua_library $repo/lua;
omni_jwt_secret $k->{hs32};
omni_store $store $store_args;
$timeouts
# the store's limits are under test, not the plugin budget: on a busy
# machine a descheduled worker must not fail a request before the store
omni_plugin_timeout 5s;

server {
    listen 127.0.0.1:%%PORT1%%;
    access_log off;
    location / {
        add_header X-Omni-Context \$http_x_test_patch;
        return 200 '{"ok":true,"data":{}}';
    }
}

server {
    listen 127.0.0.1:%%PORT%%;
    server_name localhost;
    access_log off;
    add_header X-Session \$omni_session always;
    add_header X-Customer \$omni_customer always;

    location /web/ {
        omni_channel web;
        omni_customers create;
        omni_session on;
        $location
        proxy_pass http://127.0.0.1:%%PORT1%%;
    }
}
END
}

sub web {
    my ($sub, @headers) = @_;
    return $t->request(path => '/web/orders/1',
                       headers => [ [ Authorization => 'Bearer '
                                      . mint(alg => 'HS256', key => $k->{hs32},
                                             sub => $sub) ],
                                    @headers ]);
}

# the same token mint() makes, without a process per token
my $secret = slurp($k->{hs32});

sub web_fast {
    my ($sub, @headers) = @_;
    my $token = forge('{"alg":"HS256","typ":"JWT"}',
                      qq({"sub":"$sub","exp":) . (time + 600) . '}', $secret);
    return $t->request(path => '/web/orders/1', quiet => 1,
                       headers => [ [ Authorization => "Bearer $token" ],
                                    @headers ]);
}

sub ctl_ok {
    my ($dir, @args) = @_;
    my $out = `$omnictl -d $dir @args 2>&1`;
    return ($? >> 8, $out);
}

# --- a directory the workers cannot write ---

SKIP: {
    skip 'needs root to start workers as another user', 3 if $> != 0;
    skip 'no user nobody or group nogroup', 3
        unless defined getpwnam('nobody') && defined getgrnam('nogroup');

    my $dir = $t->prefix . '/locked';
    mkdir $dir or die "$dir: $!";
    chmod 0755, $dir;    # root's, and nobody may not write it

    my ($ok, $out) = $t->test_config(conf($dir, '', ''), user => 'nobody nogroup');
    ok(!$ok, 'a store the worker user cannot write fails nginx -t');
    like($out, qr/omni_store: ".*\/locked" is not readable and writable by the worker user "nobody"; chown it to that user/,
         '...naming the directory and the user');

    chmod 0777, $dir;
    ($ok, $out) = $t->test_config(conf($dir, '', ''), user => 'nobody nogroup');
    ok($ok, 'once it is writable, nginx -t passes') or diag($out);
}

# --- a full map: writes get 503 store_full, reads go on, nothing is lost ---

my $full = store_dir('full');
$t->start(conf($full, 'max=1m sync=none', ''), workers => 2);

my (@created, $refused);
for my $i (1 .. 20000) {
    my $r = web("user-$i");
    if ($r->{status} == 200) {
        push @created, [ "user-$i", $r->{headers}{'x-customer'},
                         $r->{headers}{'x-session'} ];
        next;
    }
    $refused = $r;
    last;
}

ok($refused, 'a 1m store fills up') or BAIL_OUT('the store never filled');
cmp_ok(scalar @created, '>', 100, '...after many customers');
is($refused->{status}, 503, 'a request that needs a write gets 503');
like($refused->{body}, qr/"code":"store_full"/, '...with the error store_full');
like($t->error_log, qr/\[warn\].*omni: (customer|session) not stored: store .* is full/,
     '...and a warning in the log');

my $known = web($created[0][0]);
is($known->{status}, 200, 'a known customer is still served (reads go on)');
is($known->{headers}{'x-customer'}, $created[0][1], '...as the same customer');
is($known->{headers}{'x-session'}, $created[0][2], '...in the same session');

$t->stop;

my $lost = 0;
for my $c (@created[0, 1, $#created / 2, $#created - 1, $#created]) {
    my ($rc, $out) = ctl_ok($full, 'resolve', 'jwt_sub', $c->[0]);
    $lost++ unless $rc == 0 && $out =~ /\Q$c->[1]\E/;
}
is($lost, 0, 'customers stored before the map filled are all there');

# --- workers killed while writing: nothing acknowledged is lost ---

# Twenty rounds, each killing one worker with SIGKILL while three clients
# write: every request makes a customer (its identity linked), a session,
# and patches the session's context; journeys are flushed every 20 ms.  A
# write is acknowledged when its answer came: then all three are stored.
# Journeys are not acknowledged (a killed worker loses what it held), but
# their writes run among the others.

my $crash = store_dir('crash');
$t->start(conf($crash, 'sync=full', 'omni_journey_limits flush=20ms;',
               'omni_journey on;'),
          workers => 2);

# each line: an acknowledged write, "sub customer session n"
$t->clients(3, sub {
    my ($c, $i) = @_;
    my $sub = "crash-$c-$i";
    my $r = web_fast($sub, [ 'X-Test-Patch' => qq({"n":$i}) ]);
    return undef unless $r->{status} && $r->{status} == 200
                        && $r->{headers}{'x-session'}
                        && $r->{headers}{'x-customer'};
    return "$sub $r->{headers}{'x-customer'} $r->{headers}{'x-session'} $i";
});

sub acknowledged {
    return map { [ split ' ', $_->[1] ] } $t->client_lines;
}

sub wait_for {
    my ($what, $cond) = @_;
    my $deadline = Time::HiRes::time() + 10 * Omni::Test::slowdown();
    until ($cond->()) {
        die "timed out waiting for $what\n"
            if Time::HiRes::time() > $deadline;
        Time::HiRes::sleep(0.005);
    }
}

my $started = Time::HiRes::time();
my $killed = 0;

for my $round (1 .. 20) {
    # writes are under way: a few more answers since the last kill
    my $before = acknowledged();
    wait_for('writes', sub { acknowledged() >= $before + 5 });
    Time::HiRes::sleep(rand(0.03));

    my @workers = $t->worker_pids;
    my $victim = $workers[$round % @workers];
    $killed += kill 'KILL', $victim;

    # the master starts another in its place
    wait_for('a new worker', sub {
        my @now = $t->worker_pids;
        @now == 2 && !grep { $_ == $victim } @now;
    });
}

ok($t->stop_clients, 'the writers ran through the kills');

is($killed, 20, sprintf('20 workers killed mid-write, one a round, in %.1f s',
                        Time::HiRes::time() - $started));

my @acks = acknowledged();
cmp_ok(scalar @acks, '>', 100, scalar(@acks) . ' writes acknowledged');

my $after = web('after-the-kills');
is($after->{status}, 200, 'the next write after the kills succeeds');
ok($after->{headers}{'x-session'}, '...with a new session');

$t->stop;

# every record as the store holds it, from one export
my ($rc, $out) = ctl_ok($crash, 'export');
is($rc, 0, 'the environment opens after the kills, and exports');

my %db;
for my $line (split /\n/, $out) {
    my $rec = eval { decode_json($line) } or next;
    next unless $rec->{db};
    $db{ $rec->{db} }{ MIME::Base64::decode_base64($rec->{key}) }
        = MIME::Base64::decode_base64($rec->{value});
}

# a session record: version, nchannels, be16 context length, be64
# created, be64 last_seen, the customer (len-prefixed), the channels
# (each len-prefixed), the context
sub session_record {
    my ($v) = @_;
    return undef unless defined $v && length $v >= 21;
    my ($ver, $nch, $clen) = unpack('C C n', $v);
    my $pos = 20;
    my $customer = unpack('C/a', substr($v, $pos));
    $pos += 1 + length $customer;
    for (1 .. $nch) {
        $pos += 1 + unpack('C', substr($v, $pos, 1));
    }
    return { version => $ver, customer => $customer,
             context => substr($v, $pos, $clen) };
}

my (@lost_identity, @lost_session, @lost_context);
for my $a (@acks) {
    my ($sub, $customer, $session, $i) = @$a;
    my $linked = $db{identities}{"jwt_sub:$sub"};
    push @lost_identity, $sub
        unless defined $linked && $linked eq "\x01$customer";
    my $s = session_record($db{sessions}{$session});
    if (!$s || $s->{customer} ne $customer) {
        push @lost_session, $session;
    } elsif ($s->{context} ne qq({"n":$i})) {
        push @lost_context, "$session: $s->{context}";
    }
}
is(scalar @lost_identity, 0, 'every acknowledged customer is in the store')
    or diag("missing: @lost_identity[0 .. 9]");
is(scalar @lost_session, 0, 'every acknowledged session is, with its customer')
    or diag("missing: @lost_session[0 .. 9]");
is(scalar @lost_context, 0, 'every acknowledged context patch is')
    or diag("missing: @lost_context[0 .. 9]");

my $events = scalar keys %{ $db{journeys} || {} };
cmp_ok($events, '>', 0, "$events journey events were written among them");
($rc, $out) = ctl_ok($crash, 'journey', $acks[0][1]);
is($rc, 0, 'the journeys read back') or diag($out);

# --- expired sessions are purged by one worker ---

my $purge = store_dir('purge');
$t->start(conf($purge, 'sync=none',
               'omni_session_timeout idle=2s absolute=off touch=1s purge=1s;'),
          workers => 2);

my $first = web('purge-me');
my $sid = $first->{headers}{'x-session'};
ok($sid, 'a session to expire');
($rc) = ctl_ok($purge, 'session', $sid);
is($rc, 0, '...stored');

Time::HiRes::sleep(3.5);
($rc, $out) = ctl_ok($purge, 'session', $sid);
is($rc, 1, 'idle past the timeout, it was purged');
like($out, qr/not_found/, '...not_found');
like($t->error_log, qr/omni: 1 expired sessions purged/, 'the purge is logged');

my $again = web('purge-me');
isnt($again->{headers}{'x-session'}, $sid, 'the customer starts a new session');

my @alerts = grep { !/exited on signal 9/ } $t->error_log =~ /^.*\[(?:alert|crit|emerg)\].*$/mg;
is_deeply(\@alerts, [], 'no alerts in the error log but the kills');

done_testing();
