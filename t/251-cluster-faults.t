# The cluster under faults (docs/cluster.md, issue 17's heavy tests):
# three nodes keep serving and revoking on every node while nats-server
# is stopped for 10 s, and converge with nothing lost once it is back;
# then one node's omni-sync is killed with SIGKILL 8 times at random
# intervals while a second process revokes on all nodes without pause.
# At the end every node holds exactly the same revocations (each record
# the same on every node: nothing applied twice in a harmful way), every
# log is published, and each node's log holds its own changes only.

use strict;
use warnings;

use lib 't/lib';
use Test::More;
use Time::HiRes qw(time sleep);
use POSIX ();
use Omni::Test;
use Omni::Cluster;

my $skip = Omni::Cluster::missing();
plan skip_all => $skip if $skip;

my $t_start = time;
my $c = Omni::Cluster->new(nodes => 3);
my @nodes = $c->nodes;
$c->sync_start($_) for @nodes;

ok(defined Omni::Cluster::wait_for(10, sub {
       $c->revoke($nodes[0], 'warm-up') == 201 && $c->converged('warm-up', 5)
   }), 'three nodes and their syncs are ready');

sub held { return $c->jtis_held($_[0]) }

sub jtis { return scalar(() = $_[0] =~ /^jti /mg) }

# --- NATS stopped 10 s: every node serves and revokes
my %own = map { $_->{name} => 1 } @nodes;      # warm-up is node1's
$own{node2} = $own{node3} = 0;
my @away;
$c->nats_stop;
my $t0 = time;
my ($served, $refused, $round) = (0, 0, 0);
while (time - $t0 < 10) {
    my $n = $nodes[$round % 3];
    my $jti = "away-" . $round++;
    if ($c->revoke($n, $jti) == 201) {
        push @away, $jti;
        $own{ $n->{name} }++;
    }
    $refused++ if $c->status_of($n, $jti) == 401;
    $served++ if $c->status_of($nodes[$round % 3], 'never-revoked') == 200;
    sleep 0.1;
}
diag(sprintf('NATS away %.1f s: %d revocations made, %d requests served',
             time - $t0, scalar @away, $served));
is(scalar @away, $round, 'every revocation made while NATS was away');
is($refused, $round, 'each refused at once where it was made');
is($served, $round, 'every node kept serving');
ok($c->nats_start, 'nats-server back');
$t0 = time;
ok($c->converged($away[-1], 10), 'the last one reaches every node');
my $all = held($nodes[0]);
ok(defined Omni::Cluster::wait_for(10, sub {
       $all = held($nodes[0]);
       jtis($all) == @away + 1 && held($nodes[1]) eq $all
           && held($nodes[2]) eq $all }),
   'every node holds every revocation made while NATS was away');
diag(sprintf('converged %.2f s after NATS came back', time - $t0));

# --- node2's omni-sync killed 8 times while another process revokes
my $stop = $c->first->prefix . '/writer.stop';
my $made = $c->first->prefix . '/writer.made';
my $writer = fork // die "fork: $!";
if ($writer == 0) {
    open(my $fh, '>', $made) or POSIX::_exit(1);
    $fh->autoflush(1);
    my $i = 0;
    until (-e $stop) {
        my $n = $nodes[$i % 3];
        my $jti = 'load-' . $i++;
        print $fh "$n->{name} $jti\n" if $c->revoke($n, $jti) == 201;
        sleep 0.01;
    }
    close $fh;
    POSIX::_exit(0);
}

for my $kill (1 .. 8) {
    sleep 0.3 + rand(0.9);
    $c->sync_stop($nodes[1], 'KILL');
    sleep rand(0.3);
    $c->sync_start($nodes[1]);
}
sleep 0.5;
open(my $fh, '>', $stop) or die "$stop: $!";
close $fh;
waitpid($writer, 0);
is($? >> 8, 0, 'the writer ran through');

open($fh, '<', $made) or die "$made: $!";
my @load = map { [ split ' ' ] } <$fh>;
close $fh;
$own{ $_->[0] }++ for @load;
ok(@load > 100, scalar(@load) . ' revocations made on all nodes meanwhile');
is(scalar(() = $c->sync_log($nodes[1]) =~ /omni-sync node2: started/g), 9,
   'node2\'s omni-sync started 9 times');

my $want = @away + @load + 1;
$t0 = time;
ok(defined Omni::Cluster::wait_for(15, sub {
       $all = held($nodes[0]);
       jtis($all) == $want && held($nodes[1]) eq $all
           && held($nodes[2]) eq $all }),
   "every node holds the same $want revocations, record for record")
    or diag(join ' ', map { jtis(held($_)) } @nodes);
diag(sprintf('converged %.2f s after the last kill', time - $t0));

my %in = map { my @f = split ' '; ($f[1], 1) } split /\n/, $all;
is(scalar(grep { !$in{ $_->[1] } } @load), 0, 'none of them lost');

for my $n (@nodes) {
    my $st = $c->omnictl_json($n, 'cluster status');
    is($st->{lag_local}, 0, "$n->{name}: every local change published");
    is($st->{last_change}, $own{ $n->{name} },
       "$n->{name}: its log holds its own $own{ $n->{name} } changes only");
}

my $took = time - $t_start;
diag(sprintf('t/251 ran %.1f s', $took));
$c->stop;

done_testing;
