# The cluster's operations (docs/cluster.md, docs/monitoring.md): with
# omni_cluster ack=on an admin revocation is answered once JetStream
# accepted it (the other node gets it even when the answering node's
# omni-sync is killed at once), and with NATS stopped it is answered
# 503 cluster_ack_timeout while the change stays made; with ack off the
# answer does not wait.  omni_health and omni_metrics show the node's
# unpublished changes, lag and reachability (promtool checks the
# exposition and the cluster-lag alert rule); nginx -t names every bad
# omni_cluster parameter.

use strict;
use warnings;

use lib 't/lib';
use Test::More;
use Time::HiRes qw(time sleep);
use Omni::Test;
use Omni::Cluster;

my $skip = Omni::Cluster::missing();
plan skip_all => $skip if $skip;

my $promtool = '/usr/bin/promtool';
my $repo = Omni::Test::repo_root();
my $slow = Omni::Test::slowdown();
my $ack_ms = 1500 * $slow;
# longer than node1's ack_timeout: node2 still serves when it revokes
my $lag = 2 * $slow;

# node 1 acknowledges, node 2 does not but fails closed after $lag s of lag
my $c = Omni::Cluster->new(nodes => 2, conf => sub {
    ($_[0] == 1 ? "omni_cluster ack=on ack_timeout=${ack_ms}ms;"
                : "omni_cluster fail_closed_lag=${lag}s;")
    . "\nomni_metrics_zone 1m;" },
    server => "location = /metrics { omni_metrics; }\n"
              . "    location = /health { omni_health; }\n");
my ($n1, $n2) = $c->nodes;
$c->sync_start($_) for $n1, $n2;

sub scrape {
    my ($n) = @_;
    my $r = $n->{t}->request(path => '/metrics');
    my %m = map { /^(\S+) (\S+)$/ ? ($1, $2) : () }
            grep { !/^#/ } split /\n/, $r->{body};
    return (\%m, $r->{body});
}

sub health {
    my ($n) = @_;
    my $r = $n->{t}->request(path => '/health');
    return ($r->{status}, eval { $c->json->decode($r->{body}) } || {});
}

sub revoke_timed {
    my ($n, $jti) = @_;
    my $t0 = time;
    my $r = $c->admin_request($n, 'POST', '/admin/revocations',
                              { kind => 'jti', value => $jti });
    return ($r, time - $t0);
}

# both syncs ready: a first revocation reaches the other node
ok(defined Omni::Cluster::wait_for(10, sub {
       $c->revoke($n2, 'warm-up') == 201 && $c->converged('warm-up', 5) }),
   'the two nodes and their syncs are ready');

# --- ack on: the answer comes once JetStream holds the change
my @took;
for my $i (1 .. 10) {
    my ($r, $d) = revoke_timed($n1, "a-$i");
    is($r->{status}, 201, "node1 (ack=on) revokes a-$i: 201") if $i == 1;
    push @took, $d if $r->{status} == 201;
}
is(scalar @took, 10, 'ten acknowledged revocations');
@took = sort { $a <=> $b } @took;
diag(sprintf('ack=on answers: median %.1f ms, max %.1f ms',
             1000 * $took[5], 1000 * $took[-1]));
my $st = $c->omnictl_json($n1, 'cluster status');
is($st->{lag_local}, 0, 'every answered change is published');

# killed at once after the answer, node1's sync cannot publish: node2
# refuses the token all the same, from the stream
my ($r, $d) = revoke_timed($n1, 'a-kill');
is($r->{status}, 201, 'node1 revokes a-kill');
$c->sync_stop($n1, 'KILL');
ok($c->converged('a-kill', 5), 'node2 refuses it though node1\'s sync '
   . 'was killed right after the answer');
$c->sync_start($n1);

# --- the metrics and health of a node in a cluster
# its state file says running from its start, reachable once it is set up
ok(defined Omni::Cluster::wait_for(5, sub {
       my ($mm) = scrape($n1);
       $mm->{omni_cluster_sync_running}
       && $mm->{omni_cluster_engine_reachable} }),
   'node1 sees its sync running again, and reaching the engine');
my ($m, $body) = scrape($n1);
is($m->{omni_cluster_unpublished_changes}, 0, 'metrics: nothing unpublished');
is($m->{omni_cluster_engine_reachable}, 1, 'metrics: the engine is reachable');
ok($m->{omni_cluster_lag_seconds} <= 2, 'metrics: lag of a second or so')
    or diag("lag $m->{omni_cluster_lag_seconds}");
ok($m->{omni_cluster_caught_up_time_seconds} > time - 5,
   'metrics: caught up a moment ago');
$n1->{t}->write_file('scrape.txt', $body);
my $check = `$promtool check metrics < ${\ $n1->{t}->prefix}/scrape.txt 2>&1`;
is($?, 0, 'promtool check metrics passes') or diag($check);

my ($hs, $h) = health($n2);
is($hs, 200, 'node2 is healthy');
is_deeply([ @{ $h->{cluster} }{qw(status unpublished sync_running
                                 engine_reachable)} ],
          [ 'ok', 0, JSON::PP::true, JSON::PP::true ],
          'health: the cluster part');

# --- NATS stopped: ack on times out, ack off answers at once
$c->nats_stop;
$n1->{t}->mark_log;
($r, $d) = revoke_timed($n1, 'a-away');
is($r->{status}, 503, 'NATS stopped: node1 (ack=on) answers 503');
like($r->{body}, qr/"error":"cluster_ack_timeout"/, 'cluster_ack_timeout');
like($r->{body}, qr/recorded on this node, and will be published/,
     'saying the change is made and will be published');
ok($d >= $ack_ms / 1000 - 0.05 && $d < $ack_ms / 1000 + 1,
   sprintf('after ack_timeout (%.2f s)', $d));
is($c->status_of($n1, 'a-away'), 401, 'node1 refuses a-away at once');
like($n1->{t}->log_since_mark, qr/\[warn\].*change \d+ not accepted by the cluster within omni_cluster ack_timeout=${ack_ms}ms/,
     'a warn line says so');
($r, $d) = revoke_timed($n2, 'b-away');
is($r->{status}, 201, 'node2 (ack off) answers 201');
ok($d < 0.5, 'at once');

ok(defined Omni::Cluster::wait_for(5, sub {
       my ($mm) = scrape($n1);
       defined $mm->{omni_cluster_engine_reachable}
           && $mm->{omni_cluster_engine_reachable} == 0 }),
   'metrics: the engine is unreachable');
($m) = scrape($n1);
is($m->{omni_cluster_unpublished_changes}, 1, 'metrics: one change unpublished');
is($m->{omni_cluster_sync_running}, 1, 'metrics: the sync runs');

ok(defined Omni::Cluster::wait_for(3 * $lag, sub { (health($n2))[0] == 503 }),
   "node2 (fail_closed_lag=${lag}s) turns unhealthy");
($hs, $h) = health($n2);
is($h->{cluster}{status}, 'lagging', 'health: cluster lagging');
ok($h->{cluster}{lag} > $lag, 'health: its lag');
# the lag counts from the last caught-up record, the reachability from
# the sync's state file: each written once a second, in either order
ok(defined Omni::Cluster::wait_for(3, sub {
       !(health($n2))[1]{cluster}{engine_reachable} }),
   'health: the engine unreachable');
($hs, $h) = health($n1);
is($hs, 200, 'node1 (no fail_closed_lag) stays healthy');
is($h->{cluster}{unpublished}, 1, 'health: one change unpublished');

# --- NATS back: everything published and applied
ok($c->nats_start, 'nats-server back');
ok($c->converged('a-away', 10) && $c->converged('b-away', 10),
   'both changes made while away reach the other node');
ok(defined Omni::Cluster::wait_for(3 * $lag, sub { (health($n2))[0] == 200 }),
   'node2 healthy again');
ok(defined Omni::Cluster::wait_for(5, sub {
       my ($mm) = scrape($n1);
       $mm->{omni_cluster_engine_reachable}
       && $mm->{omni_cluster_unpublished_changes} == 0 }),
   'metrics: reachable, nothing unpublished');
($r) = revoke_timed($n1, 'a-back');
is($r->{status}, 201, 'node1 acknowledges again');

# --- the sync's state file is read as untrusted: what is not a fresh,
# well-formed object of at most 4 KiB says the sync is not running
$c->sync_stop($n1);
my $status = "$n1->{store}/omni-sync.status";
my $now = int(time);
for my $case (
    [ '{"updated_at":', 0, 'a cut object' ],
    [ ' ' x 5000 . qq({"updated_at":$now,"engine_reachable":true}), 0,
      'one over 4 KiB' ],
    [ '{"updated_at":1,"engine_reachable":true}', 0, 'a stale one' ],
    [ qq({"updated_at":$now,"updated_at":$now,"engine_reachable":true}), 0,
      'one with a duplicate key' ],
    [ qq(["updated_at",$now]), 0, 'not an object' ],
    [ qq({"updated_at":"$now","engine_reachable":true}), 0,
      'a time that is a string' ],
    [ qq({"updated_at":$now,"engine_reachable":true}), 1, 'a fresh one' ],
) {
    open(my $fh, '>', $status) or die "$status: $!";
    print $fh $case->[0];
    close $fh;
    my ($mm) = scrape($n1);
    is($mm->{omni_cluster_sync_running}, $case->[1],
       "state file, $case->[2]: sync running $case->[1]");
    is($mm->{omni_cluster_engine_reachable}, $case->[1],
       "...engine reachable $case->[1]");
}
unlink $status;
($m) = scrape($n1);
is($m->{omni_cluster_sync_running}, 0, 'no state file: the sync is not running');
$c->sync_start($n1);

# --- the cluster-lag alert rule, against series it must fire on
$n1->{t}->write_file('rules-test.yml', <<"END");
rule_files:
  - $repo/conf/omni-alerts.yml
evaluation_interval: 30s
tests:
  - interval: 30s
    input_series:
      - series: 'omni_cluster_lag_seconds{instance="gw1"}'
        values: '1 1 1 90 120 150 180 210 240 270'
      - series: 'omni_cluster_lag_seconds{instance="gw2"}'
        values: '1 1 1 1 1 1 1 1 1 1'
      - series: 'omni_cluster_engine_reachable{instance="gw1"}'
        values: '1 1 0 0 0 0 0 0 0 0'
      - series: 'omni_cluster_sync_running{instance="gw1"}'
        values: '1 1 1 1 1 1 1 1 1 1'
    alert_rule_test:
      - eval_time: 4m
        alertname: OmniClusterLagging
        exp_alerts:
          - exp_labels:
              severity: page
              instance: gw1
            exp_annotations:
              summary: "gw1 has not caught up with the cluster for over a minute: revocations made elsewhere may not hold there"
      - eval_time: 1m
        alertname: OmniClusterLagging
        exp_alerts: []
      - eval_time: 4m
        alertname: OmniClusterEngineUnreachable
        exp_alerts:
          - exp_labels:
              severity: warn
              instance: gw1
            exp_annotations:
              summary: "omni-sync of gw1 is not running or does not reach NATS: its changes wait unpublished"
END
$check = `$promtool test rules ${\ $n1->{t}->prefix}/rules-test.yml 2>&1`;
is($?, 0, 'promtool test rules: the cluster alerts fire when they should')
    or diag($check);

# --- nginx -t
for my $bad (
    [ 'omni_cluster ack=yes;', qr/invalid value "ack=yes", expected "ack=on" or "ack=off"/ ],
    [ 'omni_cluster ack_timeout=2s;', qr/"ack_timeout=" needs "ack=on"/ ],
    [ 'omni_cluster ack=on ack_timeout=5ms;', qr/invalid timeout "ack_timeout=5ms", 10ms to 60s/ ],
    [ 'omni_cluster ack=on ack_timeout=2m;', qr/invalid timeout "ack_timeout=2m", 10ms to 60s/ ],
    [ 'omni_cluster ack=on ack=off;', qr/parameter "ack=off" given twice/ ],
    [ 'omni_cluster off ack=on;', qr/"off" takes no other parameter, "ack=on" given/ ],
    [ 'omni_cluster ack=on fail_closed_lag=2s fail_closed_lag=3s;',
      qr/parameter "fail_closed_lag=3s" given twice/ ],
    [ 'omni_cluster ack=on wait=1;', qr/invalid parameter "wait=1"/ ],
) {
    my ($ok, $out) = $n1->{t}->test_config("$bad->[0]\n");
    ok(!$ok, "nginx -t refuses $bad->[0]");
    like($out, $bad->[1], 'and says why') or diag($out);
}

my $bare = Omni::Test->new;
mkdir $bare->prefix . '/s' or die "store: $!";
my ($ok, $out) = $bare->test_config("omni_cluster ack=on;\n");
ok(!$ok, 'nginx -t refuses omni_cluster without omni_store');
like($out, qr/"omni_cluster" needs "omni_store" at the http level/,
     'and says so') or diag($out);
($ok, $out) = $bare->test_config("omni_cluster ack=on ack_timeout=250ms fail_closed_lag=5s;\n"
                                 . "omni_store %%PREFIX%%/s;\n");
ok($ok, 'nginx -t takes every parameter together') or diag($out);

$c->stop;

done_testing;
