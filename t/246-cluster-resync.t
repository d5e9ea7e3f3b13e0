# The consuming side's full resync (docs/cluster.md): the stream keeps
# 40 messages (--stream-max); node3's omni-sync is stopped while nodes 1
# and 2 make more revocations and identity links than that.  Started
# again alone it finds the stream no longer holds what it missed (among
# it the erasure of a customer node3 held), records
# a resync in its store and asks; nobody answers, so it is killed in the
# middle, which leaves the record.  Started again with the other syncs
# running it asks again, and ends with every revocation and link the
# others hold, the erasure audited as one from the stream; its status
# shows the resync and its progress, and the record is cleared once both
# answered.  Then a node that does not
# answer is named after --resync-wait.  OMNI_RESYNC_BULK=N adds N
# revocations to node1's store for a measurement of the resync's time.

use strict;
use warnings;

use lib 't/lib';
use Test::More;
use Time::HiRes qw(time sleep);
use MIME::Base64 qw(encode_base64);
use Omni::Test;
use Omni::Cluster;

my $skip = Omni::Cluster::missing();
plan skip_all => $skip if $skip;

my $bulk = $ENV{OMNI_RESYNC_BULK} || 0;
my @max = ('--stream-max', 40);

my $c = Omni::Cluster->new(nodes => 3);
my @nodes = $c->nodes;
$c->sync_start($_, @max) for @nodes;
my $omnictl = Omni::Test::bin('omnictl');

ok(defined Omni::Cluster::wait_for(10, sub {
       $c->revoke($nodes[0], 'warm-up') == 201 && $c->converged('warm-up', 5)
   }), 'three nodes and their syncs are ready');

sub held { return $c->jtis_held($_[0]) }

sub cluster { return $c->omnictl_json($_[0], 'cluster status') }

sub identities {
    my ($n, $id) = @_;
    my $r = $c->admin_request($n, 'GET',
                              '/admin/customers/' . ($id || 'cust-r'));
    return $r->{status} == 200 ? scalar(() = $r->{body} =~ /"openid"/g) : 0;
}

# --- node3 holds cust-e; its sync stopped, cust-e is erased, then more
# changes than the stream keeps
is($c->admin_request($nodes[0], 'PUT', '/admin/identities/openid/e-1',
                     { customer => 'cust-e' })->{status}, 200,
   'node1 links an identity to cust-e');
ok(defined Omni::Cluster::wait_for(5, sub { identities($nodes[2], 'cust-e') }),
   'node3 resolves it');
$c->sync_stop($nodes[2]);
is($c->admin_request($nodes[0], 'DELETE', '/admin/customers/cust-e?erase=true')
   ->{status}, 200, 'node1 erases cust-e with node3\'s sync stopped');
my $linked = 0;
for my $i (1 .. 10) {
    $linked++ if $c->admin_request($nodes[0], 'PUT',
                                   "/admin/identities/openid/r-$i",
                                   { customer => 'cust-r' })->{status} == 200;
}
is($linked, 10, 'node1 links 10 identities to cust-r');
# node3 learns the nodes from the origins the stream keeps: node1's
# changes published before the revocations leave node2's among the last 40
ok(defined Omni::Cluster::wait_for(10, sub {
       my $s = cluster($nodes[0]);
       $s->{published} == $s->{last_change}
   }), 'node1 published them');
my $made = 0;
for my $i (1 .. 60) {
    $made++ if $c->revoke($nodes[$i % 2], "r-$i") == 201;
}
is($made, 60, 'nodes 1 and 2 revoke 60 tokens with node3\'s sync stopped');

if ($bulk) {
    my $file = $nodes[0]{t}->prefix . '/bulk.jsonl';
    open(my $fh, '>', $file) or die "$file: $!";
    print $fh qq({"omni_store_export":1,"format":1,"exported_at":"2026-01-01T00:00:00Z"}\n);
    for my $i (1 .. $bulk) {
        printf $fh qq({"db":"revocations","key":"%s","value":"AQAAAAAAAAAA"}\n),
               encode_base64("j:bulk-$i", '');
    }
    close $fh;
    is(system("$omnictl -d $nodes[0]{store} import $file >/dev/null"), 0,
       "node1 imports $bulk more revocations");
}

ok(defined Omni::Cluster::wait_for(10, sub {
       !grep { my $s = cluster($_); !$s->{last_change}
               || $s->{published} != $s->{last_change} } @nodes[0, 1]
   }), 'nodes 1 and 2 published them all');

# --- node3 alone: it asks, nobody answers, killed in the middle
$c->sync_stop($_) for @nodes[0, 1];
$c->sync_start($nodes[2], @max);
ok(defined Omni::Cluster::wait_for(10, sub {
       my $r = cluster($nodes[2])->{sync}{resync} || {};
       $r->{under_way} && $r->{nodes} == 2
   }), 'node3 finds messages missed and asks for a full resync, '
       . 'nodes 1 and 2 known')
    or diag($c->spread_diag);
like($c->sync_log($nodes[2]),
     qr/the stream no longer holds messages \d+ to \d+: asking the other nodes for a full resync \(request (\d+)\)/,
     'its log says so');
$c->sync_stop($nodes[2], 'KILL');
ok(cluster($nodes[2])->{resync_wanted_since_ms},
   'killed before any answer: the store keeps the resync wanted');
isnt(held($nodes[2]), held($nodes[0]), 'node3 misses revocations');

# --- all three running: node3 asks again and catches up
$c->sync_start($_, @max) for @nodes[0, 1];
ok(defined Omni::Cluster::wait_for(10, sub {
       !grep { !(cluster($_)->{sync} || {})->{ready} } @nodes[0, 1]
   }), 'the syncs of nodes 1 and 2 are back');
my $t0 = time;
$c->sync_start($nodes[2], @max);
my $done = Omni::Cluster::wait_for(20 + $bulk / 1000, sub {
    !cluster($nodes[2])->{resync_wanted_since_ms}
        && held($nodes[2]) eq held($nodes[0])
}, 0.1);
ok(defined $done, 'node3, started again, asks again and ends with every '
                  . 'revocation node1 holds');
diag(sprintf('full resync of %d revocations and %d links from 2 nodes: '
             . '%.2f s from the start of node3\'s sync', $made + $bulk + 1,
             $linked, time - $t0))
    if defined $done;
is(join('', grep { !/^jti bulk-/ } split /^/, held($nodes[2])),
   held($nodes[1]), 'and every one node2 holds');
is(identities($nodes[2]), 10, 'node3 resolves the 10 links of cust-r');
is(identities($nodes[2], 'cust-e'), 0, 'and no longer holds cust-e');

my $log = $c->sync_log($nodes[2]);
like($log, qr/a full resync wanted since \d+ ms was not finished: asking again/,
     'the restart asked again');
like($log, qr/audit: erase customer cust-e \(\d+ records\) from the cluster, node node[12]$/m,
     'the erasure from an answer is audited as one from the stream');
like($log, qr/full resync done: request \d+: 2 of 2 nodes answered in \d+ ms, \d+ changes received, \d+ applied\n/,
     'and says when both nodes answered, with its progress');
diag($1) if $log =~ /full resync done: (.*)/;
ok(defined Omni::Cluster::wait_for(3, sub {
       my $r = cluster($nodes[2])->{sync}{resync} || {};
       !$r->{under_way} && ($r->{last} // '') =~ /2 of 2 nodes answered/
   }), 'omnictl cluster status shows the last resync');
like($c->sync_log($nodes[0]),
     qr/full resync asked by node3 \(request \d+\): \d+ revocations, \d+ merges and identity links, \d+ sessions sent/,
     'node1 says what it sent');

# the others go on as before
is($c->revoke($nodes[2], 'after'), 201, 'node3 revokes after the resync');
ok($c->converged('after', 5), 'every node refuses it');

# --- a node that does not answer: named once --resync-wait is over
$c->sync_stop($nodes[2]);
$made = 0;
$made += $c->revoke($nodes[0], "s-$_") == 201 for 1 .. 45;
# node3 learns the nodes from the origins the stream holds: node2's three
# must come after node1's 45, or the 40 kept would be node1's alone
ok(defined Omni::Cluster::wait_for(10, sub {
       my $s = cluster($nodes[0]);
       $s->{published} == $s->{last_change}
   }), 'node1 published its 45 before node2 revokes');
$made += $c->revoke($nodes[1], "s-$_") == 201 for 46 .. 48;
is($made, 48, 'node3\'s sync stopped again: nodes 1 and 2 revoke 48 more');
ok(defined Omni::Cluster::wait_for(10, sub {
       my $s = cluster($nodes[1]);
       $s->{published} == $s->{last_change}
           && $c->status_of($nodes[0], 's-48') == 401
   }), 'node2 published them and node1 applied them');
$c->sync_stop($nodes[1]);
# node1's answer must come within the wait, slower under the sanitizers
my $wait = Omni::Test::slowdown();
$c->sync_start($nodes[2], @max, '--resync-wait', $wait);
ok(defined Omni::Cluster::wait_for(10 + 2 * $wait, sub {
       !cluster($nodes[2])->{resync_wanted_since_ms}
           && $c->sync_log($nodes[2]) =~ /full resync done: request \d+: 1 of 2 nodes answered in \d+ ms, \d+ changes received, \d+ applied; no answer from node2\n/
   }), 'node3 asks again; node1 answers, node2 is named as silent after '
       . "$wait s and the record is cleared")
    or diag($c->spread_diag);
is(held($nodes[2]), held($nodes[0]), 'node3 holds every revocation of node1');

my $bin = Omni::Test::bin('omni-sync');
my $out = `$bin --store $nodes[2]{store} --node node3 --nats ${\ $c->url } --resync-wait 3601 2>&1`;
is($? >> 8, 2, 'omni-sync --resync-wait 3601 is refused');
like($out, qr/--resync-wait is at most 3600 seconds/, 'saying the bound');

$c->stop;
done_testing();
