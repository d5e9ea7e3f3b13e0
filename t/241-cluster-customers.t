# Customers, identity links and merges shared by three gateway nodes
# through NATS JetStream (docs/cluster.md): a customer a channel request
# creates on node 1 resolves on nodes 2 and 3 to the same id, a link made
# on node 2 resolves on nodes 1 and 3, a merge on node 3 applies
# everywhere, one identity linked to two customers at once on two nodes
# ends with one answer on every node, an unlink a node's log trimmed
# before it was published reaches the others by its full resync, and an
# erasure on node 2 holds on every node.  The delay from a link on one
# node to both others resolving it is measured and printed, and an
# erasure applied from the cluster is audited.  Then two nodes with
# sealed stores sharing one keyring: a link travels with its value
# sealed and resolves on the other node.

use strict;
use warnings;

use lib 't/lib';
use Test::More;
use Omni::Test;
use Omni::Cluster;
use Time::HiRes qw(sleep);

my $skip = Omni::Cluster::missing();
plan skip_all => $skip if $skip;

my $samples = $ENV{OMNI_CLUSTER_SAMPLES} || 20;

# a channel (t/plugins/identities) that names the identity of its query
# string, and a service that answers every request
my $http = <<'END';
omni_plugins %%REPO%%/t/plugins/identities;
omni_lua_library %%REPO%%/lua;

server {
    listen 127.0.0.1:%%PORT2%%;
    default_type application/json;
    location / { return 200 '{"ok":true,"data":{}}'; }
}
END

my $locations = <<'END';
    location /create/ {
        omni_channel claims;
        omni_auth off;
        omni_customers create;
        add_header X-Customer $omni_customer always;
        proxy_pass http://127.0.0.1:%%PORT2%%;
    }

    location /resolve/ {
        omni_channel claims;
        omni_auth off;
        omni_customers resolve;
        add_header X-Customer $omni_customer always;
        proxy_pass http://127.0.0.1:%%PORT2%%;
    }
END

my $c = Omni::Cluster->new(nodes => 3, conf => sub { $http },
                           server => $locations);
my @nodes = $c->nodes;
pass('nats-server and three nodes run');

$c->sync_start($_) for @nodes;

# the customer a channel request on node $n resolves the identity to
sub customer_on {
    my ($n, $type, $value) = @_;
    my $r = $n->{t}->request(path => "/resolve/x?type=$type&value=$value");
    return $r->{status} == 200 ? ($r->{headers}{'x-customer'} // '') : '';
}

# how long until every node but $from resolves it to $want (or undef)
sub resolved_within {
    my ($from, $type, $value, $want, $limit) = @_;
    my %left = map { $_->{name} => $_ } grep { $_ != $from } @nodes;
    return Omni::Cluster::wait_for($limit, sub {
        for my $name (keys %left) {
            delete $left{$name}
                if customer_on($left{$name}, $type, $value) eq $want;
        }
        return !%left;
    }, 0.005);
}

sub link_on {
    my ($n, $type, $value, $who) = @_;
    return $c->admin_request($n, 'PUT', "/admin/identities/$type/$value",
                             { customer => $who })->{status};
}

# the consumers are ready: a first link reaches everyone
is(link_on($nodes[0], 'openid', 'warm-up', 'w1'), 200, 'node1 links warm-up');
ok(defined resolved_within($nodes[0], 'openid', 'warm-up', 'w1', 10),
   'every node resolves it');

# --- a customer created by a channel request on node 1
my $r = $nodes[0]{t}->request(
    path => '/create/x?type=phone&value=8613900000001');
is($r->{status}, 200, 'node1: a request with a new phone passes');
my $id = $r->{headers}{'x-customer'} // '';
like($id, qr/^[0-9a-f]{32}$/, 'node1 created a customer for it');
my $d = resolved_within($nodes[0], 'phone', '8613900000001', $id, 3);
ok(defined $d && $d < 1, 'nodes 2 and 3 resolve it to the same id within 1 s')
    or diag('delay: ' . ($d // 'over 3 s'));

# --- a link made on node 2
is(link_on($nodes[1], 'openid', 'o-2', $id), 200, 'node2 links openid o-2');
ok(defined resolved_within($nodes[1], 'openid', 'o-2', $id, 3),
   'nodes 1 and 3 resolve it to the customer');

# --- a merge on node 3
is(link_on($nodes[2], 'email', 'b@example.com', 'cust-b'), 200,
   'node3 links an e-mail address to cust-b');
ok(defined resolved_within($nodes[2], 'email', 'b@example.com', 'cust-b', 3),
   'nodes 1 and 2 resolve it');
is($c->admin_request($nodes[2], 'POST', '/admin/customers/cust-b/merge',
                     { into => $id })->{status}, 200,
   'node3 merges cust-b into the customer');
ok(defined resolved_within($nodes[2], 'email', 'b@example.com', $id, 3),
   'nodes 1 and 2 resolve the e-mail address to the survivor');
for my $n (@nodes) {
    my $g = $c->admin_request($n, 'GET', '/admin/customers/cust-b');
    like($g->{body}, qr/"survivor":\s*"$id"/,
         "$n->{name}: cust-b resolves to the customer");
}

# --- one identity linked to two customers at once on two nodes
$c->sync_stop($nodes[0]);
$c->sync_stop($nodes[1]);
is(link_on($nodes[0], 'phone', '8613900000009', 'left'), 200,
   'syncs away: node1 links a phone to "left"');
is(link_on($nodes[1], 'phone', '8613900000009', 'right'), 200,
   'node2 links it to "right"');
$c->sync_start($nodes[0]);
$c->sync_start($nodes[1]);
my $agreed = Omni::Cluster::wait_for(5, sub {
    my %seen = map { customer_on($_, 'phone', '8613900000009') => 1 } @nodes;
    return keys %seen == 1 && ($seen{left} || $seen{right});
}, 0.02);
ok(defined $agreed, 'every node ends with one answer');
my $one = customer_on($nodes[2], 'phone', '8613900000009');
diag("the concurrent link ended with \"$one\" on every node");
sleep 0.3;
is(customer_on($_, 'phone', '8613900000009'), $one,
   "$_->{name}: still \"$one\"") for @nodes;

# --- an unlink trimmed from node 3's log before it was published
is(link_on($nodes[2], 'openid', 'gone', 'g1'), 200, 'node3 links openid gone');
ok(defined resolved_within($nodes[2], 'openid', 'gone', 'g1', 3),
   'nodes 1 and 2 resolve it');
$c->sync_stop($nodes[2]);
is($c->admin_request($nodes[2], 'DELETE', '/admin/identities/openid/gone')
   ->{status}, 200, 'sync away: node3 unlinks it');
is(link_on($nodes[2], 'openid', "pad-$_", 'g1'), 200, "node3 links pad-$_")
    for 1 .. 4;
$c->sync_start($nodes[2], '--log-max', 3);
ok(defined resolved_within($nodes[2], 'openid', 'gone', '', 5),
   'started again with a log of 3, it resyncs: nodes 1 and 2 no longer '
   . 'resolve it');
is(customer_on($nodes[0], 'openid', 'pad-1'), 'g1',
   'node1 resolves what the resync linked');
like($c->sync_log($nodes[2]), qr/were trimmed from the log before/,
     'node3\'s omni-sync resynced fully');

# --- propagation of a link, from each node in turn
sub propagation {
    my ($what, $count) = @_;
    my @delays;
    for my $i (1 .. $count) {
        my $from = $nodes[$i % @nodes];
        link_on($from, 'openid', "p-$i", "cp-$i") == 200 or last;
        my $dd = resolved_within($from, 'openid', "p-$i", "cp-$i", 3);
        push @delays, defined $dd ? $dd : 99;
    }
    @delays = sort { $a <=> $b } @delays;
    is(scalar @delays, $count, "$count $what links from each node in turn");
    ok(@delays && $delays[-1] < 1,
       'every one resolved on the other nodes within 1 s');
    diag(sprintf("%s link propagation over %d links: median %.1f ms, "
                 . 'p99 %.1f ms, max %.1f ms', $what, scalar @delays,
                 1000 * $delays[int(@delays / 2)],
                 1000 * $delays[int(0.99 * (@delays - 1))],
                 1000 * $delays[-1])) if @delays;
}

propagation('plain', $samples);

# --- an erasure on node 2 holds on every node
is($c->admin_request($nodes[1], 'DELETE', "/admin/customers/$id?erase=true")
   ->{status}, 200, 'node2 erases the customer');
ok(defined resolved_within($nodes[1], 'phone', '8613900000001', '', 3),
   'nodes 1 and 3 no longer know its phone');
for my $n (@nodes) {
    is(customer_on($n, 'email', 'b@example.com'), '',
       "$n->{name}: the merged customer's e-mail address is gone too");
    is(link_on($n, 'openid', 'again', $id), 409,
       "$n->{name}: a link to the erased customer is refused");
}

# audited where it was applied, by id, with the node it came from
for my $n (@nodes[0, 2]) {
    my $log = $c->sync_log($n);
    my $from = $nodes[1]{name};
    my $line = qr/audit: erase customer \Q$id\E \(\d+ records\)/;
    like($log, qr/$line from the cluster, node \Q$from\E$/m,
         "$n->{name}: omni-sync audits the erasure from node2");
    unlike($log, qr/8613900000001|b\@example/,
           "$n->{name}: without an identity's value");
}
unlike($c->sync_log($nodes[1]), qr/audit: erase/,
       'node2: its own erasure is audited by the admin API, not again');

# every local change published, nothing refused
for my $n (@nodes) {
    my $s = $c->omnictl_json($n, 'cluster status');
    is($s->{lag_local}, 0, "$n->{name}: every local change published");
}
unlike($c->sync_log($_), qr/passed over|not applied/,
       "$_->{name}: omni-sync refused nothing") for @nodes;

# --- sealed stores sharing one keyring: values travel sealed
my $kt = Omni::Test->new;
my $keyring = $kt->prefix . '/nodes.keyring';
system(Omni::Test::bin('omnictl') . " keys init $keyring >/dev/null") == 0
    or BAIL_OUT('omnictl keys init failed');

my $sync = join(' ', Omni::Test::bin('omni-sync'), '--store',
                $nodes[0]{store}, '--node node1 --nats', $c->url);
my $out = `$sync --keyring $keyring 2>&1`;
like($out, qr/is not sealed: --keyring is for a sealed store/,
     'omni-sync --keyring leaves a plain store plain and says so');

$c->stop;

my $s = Omni::Cluster->new(
    nodes  => 2,
    conf   => sub { "omni_store_keyring $keyring;\n$http" },
    server => $locations);
@nodes = $s->nodes;
$c = $s;
$s->sync_start($_, '--keyring', $keyring) for @nodes;

is(link_on($nodes[0], 'phone', '008613900000077', 'sealed-1'), 200,
   'sealed node1 links a phone');
ok(defined resolved_within($nodes[0], 'phone', '008613900000077', 'sealed-1',
                           10),
   'sealed node2 resolves it');
propagation('sealed', int($samples / 2));

my @blocks = glob($s->first->prefix . '/nats/jetstream/*/streams/*/msgs/*');
ok(@blocks && !grep({ index(Omni::Test::_slurp($_), '13900000077') >= 0 }
                    @blocks),
   'the stream holds no identity value in clear');
unlike($s->sync_log($_), qr/passed over|not applied/,
       "sealed $_->{name}: omni-sync refused nothing") for @nodes;

$s->stop;
done_testing();
