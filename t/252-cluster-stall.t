# A consumer that delivers elsewhere (docs/cluster.md): a pull request
# of a connection that never reads nor acks takes node2's deliveries,
# as the stall seen on a saturated machine did (the server delivering
# and redelivering, node2's fetches returning nothing).  node2's
# omni-sync finds its consumer holding messages none of which reach it,
# makes it again from the cursor and applies them; the status counts
# it.  A node whose consumer holds nothing is left alone.

use strict;
use warnings;

use lib 't/lib';
use Test::More;
use Time::HiRes qw(sleep);
use Omni::Test;
use Omni::Cluster;

my $skip = Omni::Cluster::missing();
plan skip_all => $skip if $skip;

my $c = Omni::Cluster->new(nodes => 2);
my @nodes = $c->nodes;
$c->sync_start($_) for @nodes;

ok(defined Omni::Cluster::wait_for(10, sub {
       $c->revoke($nodes[0], 'warm-up') == 201 && $c->converged('warm-up', 5)
   }), 'two nodes and their syncs are ready');

sub cluster { return $c->omnictl_json($_[0], 'cluster status') }

# --- idle, nothing held: no consumer made again
sleep 8;
is(cluster($nodes[1])->{sync}{stalled_this_run}, 0,
   'idle for longer than the check waits: node2\'s consumer left alone');

# --- node2's deliveries taken by a pull request that is not its own
$c->sync_stop($nodes[1]);
my $thief = $c->pull_elsewhere($nodes[1], 1000, 60);
is($c->revoke($nodes[0], 'taken'), 201, 'node1 revokes a token');
ok(defined Omni::Cluster::wait_for(5, sub {
       my $ci = $c->nats_request('$JS.API.CONSUMER.INFO.OMNI.omni-node2');
       ($ci->{num_ack_pending} // 0) == 1
   }), 'node2\'s consumer delivered it elsewhere');

$c->sync_start($nodes[1]);
ok(defined Omni::Cluster::wait_for(30, sub {
       $c->status_of($nodes[1], 'taken') == 401
   }), 'node2 refuses it in the end')
    or diag($c->spread_diag);
like($c->sync_log($nodes[1]),
     qr/consumer omni-node2 holds 1 messages for this node and its fetches returned none in \d+ ms: made again from the cursor\n/,
     'node2\'s omni-sync says its consumer delivered elsewhere');
is(cluster($nodes[1])->{sync}{stalled_this_run}, 1, 'its status counts it');
my $ci = $c->nats_request('$JS.API.CONSUMER.INFO.OMNI.omni-node2');
is($ci->{num_ack_pending}, 0, 'the consumer made again holds nothing');
is($c->revoke($nodes[0], 'after'), 201, 'node1 revokes another');
ok($c->converged('after', 5), 'which reaches node2 as before');
close $thief;

is(cluster($nodes[0])->{sync}{stalled_this_run}, 0,
   'node1\'s consumer was never made again');

$c->stop;
done_testing();
