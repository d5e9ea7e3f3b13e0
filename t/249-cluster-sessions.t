# Sessions and cases shared between gateway nodes (docs/cluster.md):
# three nodes, each with its omni-sync, one nats-server.  A session
# started on node 1 (with a context a service wrote) resumes on node 2
# with the same id and context, a context written on node 2 reaches
# nodes 1 and 3, and a session ended on node 2 is ended on node 1; a
# full resync publishes the sessions.  A case opened on node 1 is updated
# on node 2 and seen so on node 3.  The propagation of a session change
# is measured and printed.  The customer the first request creates on
# node 1 reaches the other nodes as customers do (t/241).

use strict;
use warnings;

use lib 't/lib';
use Test::More;
use Omni::Test;
use Omni::Cluster;
use Time::HiRes qw(sleep);
use Omni::Jwt qw(mint);

my $skip = Omni::Cluster::missing();
plan skip_all => $skip if $skip;

my $samples = $ENV{OMNI_CLUSTER_SAMPLES} || 20;
my $repo = Omni::Test::repo_root();

# the web channel; /reply plays the service, sending back
# the client's X-Test-Patch as its X-Omni-Context
my $locations = <<'END';
    location /web/ {
        omni_channel web;
        omni_customers create;
        omni_session on;
        omni_journey on;
        add_header X-Customer $omni_customer always;
        add_header X-Session $omni_session always;
        proxy_pass http://127.0.0.1:%%PORT%%/reply;
    }
END

my $c = Omni::Cluster->new(nodes => 3,
    conf => sub { "omni_plugins $repo/plugins;\n"
                  . "omni_lua_library $repo/lua;\n"
                  . "omni_session_timeout idle=30m touch=1s;\n"
                  . "omni_journey_limits max=100 flush=20ms;" },
    server => $locations . <<'END');
    location /reply {
        default_type application/json;
        add_header X-Omni-Context $http_x_test_patch;
        return 200 '{"ok":true,"data":{}}';
    }
END
my @nodes = $c->nodes;
my $json = $c->json;
# each node's case ids begin with its own digit
$c->sync_start($nodes[$_ - 1], '--case-digit', $_) for 1 .. 3;
pass('nats-server and three nodes run');

# a request of erin (or $sub) on channel $ch of node $n, with a context
# patch
sub visit {
    my ($n, $ch, $patch, $sub) = @_;
    my $token = $sub ? mint(alg => 'HS256', key => $c->key, sub => $sub)
                     : $c->token('erin-1');
    return $n->{t}->request(path => "/$ch/orders/ORD-1", headers => [
        [ Authorization => "Bearer $token" ],
        defined $patch ? [ 'X-Test-Patch' => $patch ] : () ]);
}

sub session_on {
    my ($n, $id) = @_;
    my $r = $c->admin_request($n, 'GET', "/admin/sessions/$id");
    return $r->{status} == 200 ? (eval { $json->decode($r->{body}) } || {})
                               : undef;
}

# seconds until $check->(session on node) holds on every node of @$on
sub seen_within {
    my ($on, $id, $check, $limit) = @_;
    my %left = map { $_->{name} => $_ } @$on;
    return Omni::Cluster::wait_for($limit, sub {
        for my $name (keys %left) {
            my $s = session_on($left{$name}, $id);
            delete $left{$name} if $check->($s);
        }
        return !%left;
    }, 0.005);
}

# --- started on node 1, with a context
my $r = visit($nodes[0], 'web', '{"cart":3}');
is($r->{status}, 200, 'node1: erin starts a session on web');
my $customer = $r->{headers}{'x-customer'} // '';
my $sid = $r->{headers}{'x-session'} // '';
like($sid, qr/^[A-Za-z0-9_-]{1,64}$/, 'with a session id');
is_deeply(session_on($nodes[0], $sid)->{context}, { cart => 3 },
          'the service\'s context is on node1');

# customers are their own family: erin's identity names the same one
for my $n (@nodes[1, 2]) {
    ok(defined Omni::Cluster::wait_for(5, sub {
           ($c->omnictl_json($n, 'resolve jwt_sub erin')->{customer} // '')
               eq $customer }),
       "$n->{name}: erin is customer $customer");
}

my $d = seen_within([ @nodes[1, 2] ], $sid,
                    sub { $_[0] && $_[0]{context}{cart} }, 5);
ok(defined $d && $d < 1, 'nodes 2 and 3 hold the session within 1 s')
    or diag('delay: ' . ($d // 'over 5 s'));

# --- resumed on node 2: the same session, its context
$r = visit($nodes[1], 'web');
is($r->{headers}{'x-customer'}, $customer, 'node2: erin is the same customer');
is($r->{headers}{'x-session'}, $sid, 'node2 resumes node1\'s session');
my $s2 = session_on($nodes[1], $sid);
is_deeply($s2->{context}, { cart => 3 }, 'with its context');

# a context written on node 2 reaches nodes 1 and 3
$r = visit($nodes[1], 'web', '{"cart":4,"step":"pay"}');
is($r->{headers}{'x-session'}, $sid, 'node2 writes the context');
$d = seen_within([ @nodes[0, 2] ], $sid,
                 sub { $_[0] && ($_[0]{context}{cart} // 0) == 4 }, 5);
ok(defined $d && $d < 1, 'nodes 1 and 3 see it within 1 s');
my $s1 = session_on($nodes[0], $sid);
is_deeply($s1->{context}, { cart => 4, step => 'pay' },
          'node1 holds node2\'s context');

# --- the propagation of a session change, from each node in turn
my @delays;
for my $i (1 .. $samples) {
    my $from = $nodes[$i % 3];
    visit($from, 'web', qq({"n":$i}))->{status} == 200 or last;
    my $dd = seen_within([ grep { $_ != $from } @nodes ], $sid,
                         sub { $_[0] && ($_[0]{context}{n} // 0) == $i }, 3);
    push @delays, defined $dd ? $dd : 99;
}
@delays = sort { $a <=> $b } @delays;
is(scalar @delays, $samples, "$samples context changes from each node in turn");
ok($delays[-1] < 1, 'every one reached both other nodes within 1 s');
diag(sprintf('session propagation over %d changes: median %.1f ms, p99 '
             . '%.1f ms, max %.1f ms', scalar @delays,
             1000 * $delays[int(@delays / 2)],
             1000 * $delays[int(0.99 * (@delays - 1))], 1000 * $delays[-1]));

# --- ended on node 2: ended on node 1, and not brought back
is($c->admin_request($nodes[1], 'DELETE', "/admin/sessions/$sid")->{status},
   200, 'node2 ends the session (admin API)');
$d = seen_within([ @nodes[0, 2] ], $sid, sub { !defined $_[0] }, 5);
ok(defined $d && $d < 1, 'nodes 1 and 3 end it within 1 s');
$r = visit($nodes[0], 'web');
isnt($r->{headers}{'x-session'}, $sid, 'node1 starts another session for erin');
sleep 0.3;
ok(!session_on($nodes[1], $sid), 'the ended session stays ended on node2');

# --- a case opened on node 1, updated on node 2, seen on node 3
sub case_on {
    my ($n, $id) = @_;
    my $r = $c->admin_request($n, 'GET', "/admin/cases/$id");
    return $r->{status} == 200 ? (eval { $json->decode($r->{body}) } || {})
                               : undef;
}

sub case_within {
    my ($n, $id, $check) = @_;
    return defined Omni::Cluster::wait_for(5, sub {
        my $k = case_on($n, $id);
        return $k && $check->($k);
    }, 0.01);
}

$r = $c->admin_request($nodes[0], 'POST', '/admin/cases',
                       { customer => $customer, subject => 'Parcel never came',
                         category => 'complaint' });
is($r->{status}, 201, 'node1 opens a case');
my $case = eval { $json->decode($r->{body})->{id} } // '';
like($case, qr/^1[0-9]{9}$/, 'its id begins with node1\'s digit');
ok(case_within($nodes[1], $case, sub { $_[0]{status} eq 'new' }),
   'node2 holds it');
is($c->admin_request($nodes[1], 'POST', "/admin/cases/$case/status",
                     { status => 'open' })->{status}, 200,
   'node2 opens it (status)');
is($c->admin_request($nodes[1], 'POST', "/admin/cases/$case/notes",
                     { text => 'On its way' })->{status}, 200,
   'and answers');
ok(case_within($nodes[2], $case, sub {
       $_[0]{status} eq 'open' && @{ $_[0]{events} } == 3 }),
   'node3 sees it open, with node2\'s note');
ok(case_within($nodes[0], $case, sub {
       $_[0]{status} eq 'open' && $_[0]{first_response_at} }),
   'and node1, with its first response');
my $k3 = case_on($nodes[2], $case);
is_deeply([ map { $_->{kind} } @{ $k3->{events} } ], [qw(created status note)],
          'node3: the events in order');
is($k3->{subject}, 'Parcel never came', 'node3: the subject');
$r = $c->admin_request($nodes[2], 'GET', "/admin/customers/$customer/cases");
like($r->{body}, qr/$case/, 'node3 lists it under the customer');

# --- journeys: every node ends with the same journey of erin, events of
# node 1 and node 2 (node 3 never served erin); case changes among them
sub journey_on {
    my ($n) = @_;
    my $r = $c->admin_request($n, 'GET',
                              "/admin/customers/$customer/journey?limit=100");
    my $j = eval { $json->decode($r->{body}) } || {};
    # events of the same millisecond are in their order of arrival
    return join ',', sort map { "$_->{time}/$_->{channel}/$_->{action}" }
                          @{ $j->{events} || [] };
}

my ($j1, $j3) = ('', '');
Omni::Cluster::wait_for(5, sub {
    ($j1, $j3) = (journey_on($nodes[0]), journey_on($nodes[2]));
    return $j1 ne '' && $j1 eq $j3 && $j1 eq journey_on($nodes[1]);
}, 0.05);
ok($j1 ne '' && $j1 eq $j3, 'node3 holds erin\'s journey as node1 does')
    or diag("node1: $j1\nnode3: $j3");
like($j3, qr{/admin/case\.status:$case}, 'node2\'s case change among it');
ok(defined Omni::Cluster::wait_for(3, sub {
       ($c->omnictl_json($nodes[2], 'cluster status')->{sync}
           {journeys_applied_this_run} // 0) > 0 }),
   'node3\'s omni-sync says it applied journey events');

# --- a full resync publishes the sessions: node3's omni-sync away while
# frank starts a session there and erin's changes push it out of a log
# of 2
$c->sync_stop($nodes[2], 'KILL');
$r = visit($nodes[2], 'web', '{"who":"frank"}', 'frank');
my $frank = $r->{headers}{'x-session'} // '';
like($frank, qr/^[A-Za-z0-9_-]+$/, 'omni-sync of node3 away: frank starts a session there');
visit($nodes[2], 'web', qq({"k":$_})) for 1 .. 2;
$c->sync_start($nodes[2], '--log-max', 2);
$d = seen_within([ @nodes[0, 1] ], $frank,
                 sub { $_[0] && ($_[0]{context}{who} // '') eq 'frank' }, 5);
ok(defined $d, 'its omni-sync started again with a log of 2: nodes 1 and 2 '
   . 'hold frank\'s session, trimmed before it was published');
ok(defined Omni::Cluster::wait_for(3, sub {
       $c->sync_log($nodes[2]) =~ /full resync: \d+ sessions published/ }),
   'node3\'s omni-sync says it published its sessions');

# every log published, nothing applied logged again
for my $n (@nodes) {
    ok(defined Omni::Cluster::wait_for(2, sub {
           ($c->omnictl_json($n, 'cluster status')->{lag_local} // 1) == 0 }),
       "$n->{name}: every local change published");
}

$c->stop;

done_testing;
