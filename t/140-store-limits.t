# The store at its limits: a directory the workers cannot write, a map
# that is full, workers killed in the middle of writing, and sessions that
# expire and are purged.

use strict;
use warnings;

use lib 't/lib';
use JSON::PP;
use POSIX ();
use Test::More;
use Time::HiRes ();
use Omni::Test;
use Omni::Jwt qw(keygen mint);

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
    my ($store, $store_args, $timeouts) = @_;
    return <<"END";
omni_plugins $repo/plugins;
omni_lua_library $repo/lua;
omni_jwt_secret $k->{hs32};
omni_store $store $store_args;
$timeouts

server {
    listen 127.0.0.1:%%PORT1%%;
    access_log off;
    location / { return 200 '{"ok":true,"data":{}}'; }
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
        proxy_pass http://127.0.0.1:%%PORT1%%;
    }
}
END
}

sub web {
    my ($sub) = @_;
    return $t->request(path => '/web/orders/1',
                       headers => [ [ Authorization => 'Bearer '
                                      . mint(alg => 'HS256', key => $k->{hs32},
                                             sub => $sub) ] ]);
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

my $crash = store_dir('crash');
$t->start(conf($crash, 'sync=full', ''), workers => 2);

my $acks = $t->prefix . '/acks';
my $pid = fork() // die "fork: $!";

if ($pid == 0) {
    open my $fh, '>', $acks or POSIX::_exit(1);
    $fh->autoflush(1);
    my $deadline = Time::HiRes::time() + 2.5;
    my $i = 0;
    while (Time::HiRes::time() < $deadline) {
        $i++;
        my $r = eval { web("crash-$i") };
        print $fh "$r->{headers}{'x-session'}\n"
            if $r && $r->{status} && $r->{status} == 200
               && $r->{headers}{'x-session'};
    }
    close $fh;
    POSIX::_exit(0);
}

my $killed = 0;
for my $round (1 .. 4) {
    Time::HiRes::sleep(0.4);
    for my $w ($t->worker_pids) {
        $killed += kill 'KILL', $w;
    }
}
waitpid($pid, 0);
is($? >> 8, 0, 'the client ran through the kills');
cmp_ok($killed, '>=', 4, "workers were killed mid-loop ($killed kills)");

open my $fh, '<', $acks or die "$acks: $!";
chomp(my @sessions = <$fh>);
close $fh;
cmp_ok(scalar @sessions, '>', 20, scalar(@sessions) . ' sessions acknowledged');

my $after = web('after-the-kills');
is($after->{status}, 200, 'the next write after the kills succeeds');
ok($after->{headers}{'x-session'}, '...with a new session');

$t->stop;

my @missing;
for my $s (@sessions) {
    my ($rc) = ctl_ok($crash, 'session', $s);
    push @missing, $s if $rc != 0;
}
is(scalar @missing, 0, 'every acknowledged session is in the store')
    or diag("missing: @missing");

my ($rc, $out) = ctl_ok($crash, 'stat');
is($rc, 0, 'the environment opens after the kills') or diag($out);

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
