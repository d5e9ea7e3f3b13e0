# A consumer that delivers elsewhere (docs/cluster.md): a pull request
# of a connection that never reads nor acks takes node2's deliveries,
# as the stall seen on a saturated machine did (the server delivering
# and redelivering, node2's fetches returning nothing).  node2's
# omni-sync finds its consumer holding messages none of which reach it,
# makes it again from the cursor and applies them; the status counts
# it.  The same for the journeys' consumer.  A node whose consumer holds
# nothing is left alone; one whose consumer acked past the store's cursor
# (another process acked under its name) has it made again at set-up.

use strict;
use warnings;

use lib 't/lib';
use Test::More;
use Time::HiRes qw(sleep);
use Omni::Test;
use Omni::Cluster;

my $skip = Omni::Cluster::missing();
plan skip_all => $skip if $skip;

my $repo = Omni::Test::repo_root();

# the web channel with customers and journeys, for journey events
my $c = Omni::Cluster->new(nodes => 2,
    conf => sub { "omni_plugins $repo/plugins;\n"
                  . "omni_lua_library $repo/lua;\n"
                  . "omni_journey_limits max=100 flush=20ms;" },
    server => <<'END');
    location /web/ {
        omni_channel web;
        omni_customers create;
        omni_journey on;
        add_header X-Customer $omni_customer always;
        proxy_pass http://127.0.0.1:%%PORT%%/reply;
    }
    location /reply {
        default_type application/json;
        return 200 '{"ok":true,"data":{}}';
    }
END
my @nodes = $c->nodes;
my $json = $c->json;
$c->sync_start($_) for @nodes;

ok(defined Omni::Cluster::wait_for(10, sub {
       $c->revoke($nodes[0], 'warm-up') == 201 && $c->converged('warm-up', 5)
   }), 'two nodes and their syncs are ready');

sub cluster { return $c->omnictl_json($_[0], 'cluster status') }

sub held_for {
    my ($stream, $consumer) = @_;
    my $ci = $c->nats_request("\$JS.API.CONSUMER.INFO.$stream.$consumer");
    return $ci->{num_ack_pending} // 0;
}

# --- idle, nothing held: no consumer made again
sleep 8;
is(cluster($nodes[1])->{sync}{stalled_this_run}, 0,
   'idle for longer than the check waits: node2\'s consumer left alone');
is(cluster($nodes[1])->{sync}{journeys_stalled_this_run}, 0,
   'and its journeys\' consumer');

# --- node2's deliveries taken by a pull request that is not its own
$c->sync_stop($nodes[1]);
my $thief = $c->pull_elsewhere('OMNI', 'omni-node2', 1000, 60);
is($c->revoke($nodes[0], 'taken'), 201, 'node1 revokes a token');
ok(defined Omni::Cluster::wait_for(5, sub {
       held_for('OMNI', 'omni-node2') == 1
   }), 'node2\'s consumer delivered it elsewhere');

$c->sync_start($nodes[1]);
ok(defined Omni::Cluster::wait_for(30, sub {
       $c->status_of($nodes[1], 'taken') == 401
   }), 'node2 refuses it in the end')
    or diag($c->spread_diag);
like($c->sync_log($nodes[1]),
     qr/consumer omni-node2 holds 1 messages for this node and its fetches returned none in \d+ ms: made again from the cursor\n/,
     'node2\'s omni-sync says its consumer delivered elsewhere');
# the state file is written every second
ok(defined Omni::Cluster::wait_for(3, sub {
       (cluster($nodes[1])->{sync}{stalled_this_run} // 0) == 1
   }), 'its status counts it');
is(held_for('OMNI', 'omni-node2'), 0, 'the consumer made again holds nothing');
is($c->revoke($nodes[0], 'after'), 201, 'node1 revokes another');
ok($c->converged('after', 5), 'which reaches node2 as before');
close $thief;

# --- a consumer ahead of the store's cursor (a store restored from a
# backup): made again from the cursor at set-up
$c->sync_stop($nodes[1]);
is($c->revoke($nodes[0], 'lost'), 201, 'node1 revokes while node2\'s sync is away');
is($c->pull_and_ack('OMNI', 'omni-node2'), 'omni.changes.node1',
   'another process fetches and acks it under node2\'s consumer');
$c->sync_start($nodes[1]);
ok(defined Omni::Cluster::wait_for(10, sub {
       $c->status_of($nodes[1], 'lost') == 401
   }), 'node2 applies it all the same')
    or diag($c->sync_log($nodes[1]));
like($c->sync_log($nodes[1]),
     qr/consumer omni-node2 acked up to (\d+), the store applied up to (\d+): made again\n/,
     'its omni-sync made the consumer again from the store\'s cursor');

# --- the same for a journey event of node1's
sub journey_on {
    my ($n, $customer) = @_;
    my $r = $c->admin_request($n, 'GET',
                              "/admin/customers/$customer/journey?limit=10");
    my $j = eval { $json->decode($r->{body}) } || {};
    return scalar @{ $j->{events} || [] };
}

my $r = $nodes[0]{t}->request(path => '/web/orders/ORD-1', headers => [
    [ Authorization => 'Bearer ' . $c->token('jo-1') ] ]);
my $customer = $r->{headers}{'x-customer'} // '';
is($r->{status}, 200, 'node1 serves a first request of a customer');
ok(defined Omni::Cluster::wait_for(10, sub {
       journey_on($nodes[1], $customer) == 1
   }), 'its journey event reaches node2');

$c->sync_stop($nodes[1]);
$thief = $c->pull_elsewhere('OMNI_J', 'omni-node2-j', 1000, 60);
$r = $nodes[0]{t}->request(path => '/web/orders/ORD-2', headers => [
    [ Authorization => 'Bearer ' . $c->token('jo-1') ] ]);
is($r->{status}, 200, 'node1 serves a second request of the customer');
ok(defined Omni::Cluster::wait_for(5, sub {
       held_for('OMNI_J', 'omni-node2-j') >= 1
   }), 'node2\'s journey consumer delivered its event elsewhere');

$c->sync_start($nodes[1]);
ok(defined Omni::Cluster::wait_for(30, sub {
       journey_on($nodes[1], $customer) == 2
   }), 'node2 holds both events in the end')
    or diag($c->sync_log($nodes[1]));
like($c->sync_log($nodes[1]),
     qr/consumer omni-node2-j holds \d+ messages for this node and its fetches returned none in \d+ ms: made again from the cursor\n/,
     'node2\'s omni-sync says its journey consumer delivered elsewhere');
ok(defined Omni::Cluster::wait_for(3, sub {
       (cluster($nodes[1])->{sync}{journeys_stalled_this_run} // 0) == 1
   }), 'its status counts it');
close $thief;

is(cluster($nodes[0])->{sync}{stalled_this_run}, 0,
   'node1\'s consumers were never made again');
is(cluster($nodes[0])->{sync}{journeys_stalled_this_run}, 0, 'neither one');

$c->stop;
done_testing();
