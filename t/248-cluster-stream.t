# A stream made again under the same name (docs/cluster.md): the stream
# of three nodes is deleted and made again on the NATS protocol, its
# messages numbered from 1 again, below the nodes' applied cursors.  Each
# omni-sync sees a stream it did not apply, says so once, applies it from
# its first message with a consumer made again, and a revocation made
# after reaches every node; omnictl cluster status names the new stream.

use strict;
use warnings;

use lib 't/lib';
use Test::More;
use Omni::Test;
use Omni::Cluster;

my $skip = Omni::Cluster::missing();
plan skip_all => $skip if $skip;

my $c = Omni::Cluster->new(nodes => 3);
my @nodes = $c->nodes;
$c->sync_start($_) for @nodes;

# a few messages, so that the cursors stand above the new stream's first
is($c->revoke($nodes[$_ % 3], "s-$_"), 201, "node " . ($_ % 3 + 1)
   . " revokes s-$_") for 1 .. 6;
# up to 20 s: a consumer found delivering elsewhere, as one made on a
# saturated machine sometimes is, is made again after 6 s (docs/cluster.md)
ok($c->converged('s-6', 20), 'every node refuses s-6')
    or diag($c->spread_diag);

my %before;
for my $n (@nodes) {
    my $st;
    # the status is written at most once a second
    ok(defined Omni::Cluster::wait_for(10 * Omni::Test::slowdown(), sub {
           $st = $c->omnictl_json($n, 'cluster status');
           ($st->{applied} // 0) >= 6 }),
       "$n->{name}: status shows the six applied")
        or diag(explain($st));
    is($st->{stream}{name}, 'OMNI', "$n->{name}: status names the stream");
    ok($st->{stream}{created_ns}, 'and when it was made');
    $before{ $n->{name} } = $st;
}

# deleted and made again (the first omni-sync that sets up makes it)
my $del = $c->nats_request('$JS.API.STREAM.DELETE.OMNI');
ok($del->{success}, 'the stream is deleted') or diag(explain($del));

my $t0 = Time::HiRes::time();
is($c->revoke($nodes[1], 'after-1'), 201, 'node2 revokes after-1');
ok($c->converged('after-1', 20), 'every node refuses after-1')
    or diag($c->spread_diag);
diag(sprintf('from the deletion to every node refusing: %.2f s',
             Time::HiRes::time() - $t0));
is($c->revoke($nodes[2], 'after-2'), 201, 'node3 revokes after-2');
ok($c->converged('after-2', 5), 'every node refuses after-2');

for my $n (@nodes) {
    my $st = $c->omnictl_json($n, 'cluster status');
    my $was = $before{ $n->{name} };
    is($st->{stream}{name}, 'OMNI', "$n->{name}: the stream's name");
    ok($st->{stream}{created_ns} > $was->{stream}{created_ns},
       "$n->{name}: status names the new stream");
    ok($st->{applied} < $was->{applied},
       "$n->{name}: its cursor counts in the new stream ($st->{applied})");
    ok($st->{sync}{fetched_this_run} >= $st->{sync}{applied_this_run},
       "$n->{name}: status counts the messages its fetches returned");
    is($st->{sync}{fetch_queue}{dropped}, 0,
       "$n->{name}: and its client dropped none");
    my $log = $c->sync_log($n);
    my @said = $log =~ /(stream OMNI made at \S+ is not the one this node)/g;
    is(scalar @said, 1, "$n->{name}: omni-sync says so once");
    my $again = "applying it from its first message, consumer omni-$n->{name}"
                . ' made again';
    like($log, qr/applied up to message \d+ \(OMNI, made at [^)]+\): \Q$again/,
         "$n->{name}: with the old stream and the consumer made again");
    unlike($log, qr/passed over|not applied/,
           "$n->{name}: omni-sync refused nothing");
}

# a step of the sync's loop that waits long is said, with the step:
# nats-server frozen while node 1 has a change to publish, until a step
# of its loop has waited out its own time-out (a publish's 2 s, an API
# call's 5 s: wall clock, however busy the machine)
ok($c->signal('nats', 'STOP'), 'nats-server frozen');
is($c->revoke($nodes[0], 'frozen'), 201, 'node1 revokes while it is');
my $slow = qr/omni-sync node1: (?:setting up|publishing|applying|the resync round) took \d{4,} ms/;
my $said = Omni::Cluster::wait_for(20 * Omni::Test::slowdown(), sub {
    $c->sync_log($nodes[0]) =~ $slow });
ok($c->signal('nats', 'CONT'), 'nats-server thawed');
ok(defined $said, "node1's omni-sync says which step of its loop waited")
    or diag($c->sync_log($nodes[0]));
ok($c->converged('frozen', 15), 'every node refuses it after')
    or diag($c->spread_diag);

$c->stop;

done_testing;
