# The workflow's live revisions (docs/dispatch.md, "Live revisions")
# through nginx with two workers and a store: omni_dispatch_file seeds
# revision 1; a revision put through the admin API, or loaded by
# omnictl on the same store, takes effect in both workers without a
# reload; a rollback returns to the earlier decisions; a workflow that
# does not compile is refused with every error's JSON path and never
# becomes current; a revision naming an upstream the configuration lacks
# is kept out of the workers; a reload keeps the store's revision, not
# the file's.  The capacities set live are a store record too: set by
# omnictl, the admin API or omni_dispatch_pools, adopted by both workers,
# kept across a restart; two writers at once lose neither's change.

use strict;
use warnings;

use lib 't/lib';
use JSON::PP;
use POSIX ();
use Test::More;
use Omni::Test;
use Omni::Jwt qw(keygen mint);
use Omni::Gateway qw(plugins_dir);

my $omnictl = Omni::Test::bin('omnictl');
plan skip_all => "$omnictl is not built (make tools)" unless -x $omnictl;

my $t = Omni::Test->new;
my $repo = Omni::Test::repo_root();
my $k = keygen($t->prefix . '/keys');
my $store = $t->prefix . '/store';
my $json = JSON::PP->new->canonical;

mkdir $store or die "$store: $!";
chmod 0777, $store;

# revision 1, the file: vip callers to the vip desk
my %wf = (
    version => 1, affinity_seconds => 0,
    pools => { vip_desk => { capacity => 10 }, agents => { capacity => 10 } },
    rules => [ { id => 'vip', tiers => ['vip'], targets => ['vip_desk'] } ],
    default => { targets => ['agents'] },
);
$t->write_file('workflow.json', $json->encode(\%wf));

# revision 2: vip callers to the agents
my %agents = (%wf, rules => [ { id => 'vip-agents', tiers => ['vip'],
                                targets => ['agents'] } ]);

my $plugins = plugins_dir($t, 't/plugins/identities/claims.lua');

my $http = <<"END";
omni_plugins $plugins;
omni_lua_library $repo/lua;
omni_jwt_secret $k->{hs32};
omni_store $store sync=none;
omni_dispatch_file %%PREFIX%%/workflow.json;
omni_dispatch_zone 256k;

upstream vip_desk { server 127.0.0.1:%%PORT1%%; }
upstream agents { server 127.0.0.1:%%PORT1%%; }

server {
    listen 127.0.0.1:%%PORT1%%;
    access_log off;

    location / {
        default_type application/json;
        return 200 '{"ok":true}';
    }
}

server {
    listen 127.0.0.1:%%PORT%% reuseport;
    server_name localhost;
    add_header X-Worker \$pid always;
    add_header X-Dispatch \$omni_dispatch always;

    location /claims/ {
        omni_channel claims;
        omni_auth off;
        omni_dispatch on;
        proxy_set_body \$omni_contract;
        proxy_pass http://\$omni_pool;
    }

    location /admin/ {
        omni_gateway on;
        omni_admin role=ops;
    }

    location = /pools {
        omni_gateway on;
        omni_dispatch_pools role=ops;
    }
}
END

$t->start($http, workers => 2);

my $ops = mint(alg => 'HS256', key => $k->{hs32}, sub => 'ops-Olga',
               roles => 'ops');

sub admin {
    my ($method, $path, $body) = @_;
    my $r = $t->request(method => $method, path => "/admin$path",
                        no_subst => 1,
                        headers => [ [ Authorization => "Bearer $ops" ] ],
                        (defined $body ? (body => $body) : ()));
    $r->{json} = eval { $json->decode($r->{body}) } || {};
    return $r;
}

# the decisions for a vip caller seen from each worker: pid => decision,
# once both workers answered (new connections land on either)
sub vip_by_worker {
    my %seen;
    for my $i (1 .. 200) {
        my $r = $t->request(path => "/claims/x?type=phone"
                                    . "&value=%2B1555000400&tier=vip");
        $seen{ $r->{headers}{'x-worker'} }{ $r->{headers}{'x-dispatch'} } = 1;
        last if keys %seen == 2 && $i >= 8;
    }
    return \%seen;
}

# every worker decided so, and only so
sub both_workers {
    my ($want, $name) = @_;
    my $seen = vip_by_worker();
    is(scalar keys %$seen, 2, "$name: both workers answered");
    is_deeply([ sort map { keys %$_ } values %$seen ], [ ($want) x 2 ],
              "$name: both decide \"$want\"")
        or diag(explain($seen));
}

# runs omnictl on the gateway's store; returns (exit code, stdout, stderr)
sub omnictl {
    my (@args) = @_;
    my ($out, $err) = ($t->prefix . '/ctl.out', $t->prefix . '/ctl.err');
    my $pid = fork;
    die "fork: $!" unless defined $pid;
    if (!$pid) {
        open(STDIN, '<', '/dev/null') or POSIX::_exit(126);
        open(STDOUT, '>', $out) or POSIX::_exit(126);
        open(STDERR, '>', $err) or POSIX::_exit(126);
        exec { $omnictl } $omnictl, '-d', $store, @args
            or POSIX::_exit(127);
    }
    waitpid($pid, 0);
    return ($? >> 8, $t->read_file('ctl.out'), $t->read_file('ctl.err'));
}

# --- the file seeds the store ---

both_workers('vip_desk vip 0 first', 'the seeded revision');

my $r = admin(GET => '/workflow');
is($r->{status}, 200, 'GET /workflow') or diag($r->{body});
is($r->{json}{revision}, 1, '...revision 1');
is($r->{json}{note}, 'seed', '...the seed');
like($r->{json}{author}, qr{^file:/.*workflow\.json$}, '...by the file');
is_deeply($r->{json}{workflow}, \%wf, '...holding the file');

# --- a new revision, both workers, no reload ---

my @workers = sort $t->worker_pids;
$t->mark_log;

$r = admin(PUT => '/workflow?note=vip%20to%20agents', $json->encode(\%agents));
is($r->{status}, 201, 'PUT /workflow') or diag($r->{body});
is_deeply($r->{json}, { revision => 2 }, '...revision 2');

both_workers('agents vip-agents 0 first', 'revision 2');
is_deeply([ sort $t->worker_pids ], \@workers, '...in the same workers');

my $log = $t->log_since_mark;
my @switched = $log =~ /workflow revision 2 in use \(was 1\)/g;
is(scalar @switched, 2, '...each worker says so once');

# --- refused whole, every error with its path ---

my %bad = (%wf, pools => { vip_desk => { capacity => 0 } },
           rules => [ { id => 'vip', tiers => ['vip'],
                        targets => ['nowhere'] } ]);
$r = admin(PUT => '/workflow', $json->encode(\%bad));
is($r->{status}, 422, 'a workflow that does not compile: 422');
is($r->{json}{error}, 'workflow_invalid', '...workflow_invalid');
my @errors = @{ $r->{json}{errors} || [] };
ok(@errors >= 2, '...every error listed') or diag($r->{body});
ok((grep { /^pools\.vip_desk\.capacity / } @errors), '...with its path: the pool');
ok((grep { /^rules\[0\]\.targets\[0\]: unknown pool "nowhere"/ } @errors), '...with its path: the target');
ok((grep { /^default\.targets\[0\]: unknown pool "agents"/ } @errors), '...and the default');

$r = admin(GET => '/workflow');
is($r->{json}{revision}, 2, '...and revision 2 stays current');
both_workers('agents vip-agents 0 first', 'after the refusal');

# --- rollback ---

$r = admin(POST => '/workflow/rollback', '{"revision":1}');
is($r->{status}, 201, 'POST /workflow/rollback') or diag($r->{body});
is_deeply($r->{json}, { revision => 3 }, '...a new revision 3');
both_workers('vip_desk vip 0 first', 'rolled back to 1');

$r = admin(GET => '/workflow/revisions');
is_deeply([ map { $_->{revision} } @{ $r->{json}{revisions} } ], [3, 2, 1],
          'GET /workflow/revisions: newest first');
is($r->{json}{revisions}[0]{note}, 'rollback to 1', '...the rollback noted');
is($r->{json}{revisions}[0]{author}, 'ops-Olga', '...by the token\'s subject');
is($r->{json}{revisions}[1]{note}, 'vip to agents', '...and the put\'s note');

$r = admin(GET => '/workflow/revisions/2');
is_deeply($r->{json}{workflow}, \%agents, 'GET /workflow/revisions/2');

# --- omnictl on the same store ---

$t->write_file('agents.json', $json->encode(\%agents));
my ($rc, $out, $err) = omnictl('dispatch', 'load',
                               $t->prefix . '/agents.json', '--note', 'ctl');
is($rc, 0, 'omnictl dispatch load') or diag($err);
is_deeply(eval { $json->decode($out) }, { revision => 4 }, '...revision 4');
both_workers('agents vip-agents 0 first', 'loaded by omnictl');

($rc, $out, $err) = omnictl('dispatch', 'show');
is($rc, 0, 'omnictl dispatch show');
my $shown = eval { $json->decode($out) } || {};
is($shown->{revision}, 4, '...the current revision');
like($shown->{author}, qr/^omnictl:/, '...by omnictl');
is($shown->{note}, 'ctl', '...with the note');

($rc, $out, $err) = omnictl('dispatch', 'show', '1');
is_deeply((eval { $json->decode($out) } || {})->{workflow}, \%wf,
          'omnictl dispatch show 1');

($rc, $out, $err) = omnictl('dispatch', 'revisions', '--limit', '2');
my $page = eval { $json->decode($out) } || {};
is_deeply([ map { $_->{revision} } @{ $page->{revisions} } ], [4, 3],
          'omnictl dispatch revisions --limit 2');
is($page->{next}, 3, '...and the next page');

$t->write_file('bad.json', $json->encode(\%bad));
($rc, $out, $err) = omnictl('dispatch', 'load', $t->prefix . '/bad.json');
is($rc, 1, 'omnictl dispatch load of a bad workflow: exit 1');
like($err, qr/\Aomnictl: \d+ errors \(workflow_invalid\)\n/,
     '...the errors counted');
like($err, qr/^  pools\.vip_desk\.capacity /m, '...each with its path');
is($out, '', '...nothing on stdout');

($rc, $out, $err) = omnictl('dispatch', 'rollback', '1');
is($rc, 0, 'omnictl dispatch rollback 1') or diag($err);
is_deeply(eval { $json->decode($out) }, { revision => 5 }, '...revision 5');
both_workers('vip_desk vip 0 first', 'rolled back by omnictl');

($rc, $out, $err) = omnictl('dispatch', 'diff', '1', '2');
is($rc, 0, 'omnictl dispatch diff 1 2') or diag($err);
my $diff = eval { $json->decode($out) } || {};
is_deeply($diff->{rules}, { added => ['vip-agents'], removed => ['vip'],
                            changed => [], reordered => JSON::PP::false },
          '...the vip rule replaced');
is_deeply($diff->{pools}{changed}, [], '...the pools as they were');

($rc, $out, $err) = omnictl('dispatch', 'rollback', '99');
is($rc, 1, 'omnictl dispatch rollback of a missing revision: exit 1');
like($err, qr/^omnictl: no workflow revision 99 \(not_found\)$/m, '...says so');

# --- a revision that compiles but does not fit this nginx ---

my %elsewhere = (%wf, pools => { %{ $wf{pools} },
                                 far => { capacity => 1,
                                          upstream => 'not_here' } });
$t->mark_log;
$r = admin(PUT => '/workflow', $json->encode(\%elsewhere));
is($r->{status}, 201, 'a workflow naming an unknown upstream is stored');
both_workers('vip_desk vip 0 first', '...but the workers keep revision 5');
$log = $t->log_since_mark;
like($log, qr/workflow pool "far" names the upstream "not_here", which no upstream\{\} block defines/,
     '...and log why');
like($log, qr/workflow revision 6 does not fit this configuration, keeping 5/,
     '...once per worker');

# --- a reload keeps the store's revision ---

$r = admin(PUT => '/workflow', $json->encode(\%agents));
is($r->{json}{revision}, 7, 'revision 7: vip to agents');
$t->reload($http);
both_workers('agents vip-agents 0 first',
             'after a reload, the store\'s revision, not the file\'s');
$r = admin(GET => '/workflow/revisions?limit=1');
is($r->{json}{revisions}[0]{revision}, 7, '...and no new seed');

# --- capacities set live, one record for omnictl, the API and the route ---

($rc, $out, $err) = omnictl('dispatch', 'capacity', 'agents', '0');
is($rc, 0, 'omnictl dispatch capacity agents 0') or diag($err);
is_deeply(eval { $json->decode($out) },
          { revision => 1, capacity => { agents => 0 } },
          '...the first revision of the capacities');
both_workers('- vip-agents - no_capacity', 'the agents closed by omnictl');

$r = admin(POST => '/capacity', '{"pool":"agents","capacity":"workflow"}');
is($r->{status}, 201, 'POST /capacity: the workflow\'s again') or diag($r->{body});
is_deeply($r->{json}{capacity}, {}, '...an empty record');
both_workers('agents vip-agents 0 first', '...in both workers');

$r = $t->request(method => 'POST', path => '/pools?pool=agents&capacity=0',
                 headers => [ [ Authorization => "Bearer $ops" ] ]);
is($r->{status}, 200, 'omni_dispatch_pools sets a capacity') or diag($r->{body});
$r = admin(GET => '/capacity');
is($r->{json}{revision}, 3, '...written as the next record');
is_deeply($r->{json}{capacity}, { agents => 0 }, '...holding it');
is($r->{json}{author}, 'ops-Olga', '...by the token\'s subject');
($rc, $out) = omnictl('dispatch', 'capacity');
is_deeply((eval { $json->decode($out) } || {})->{capacity}, { agents => 0 },
          '...which omnictl dispatch capacity shows');

$t->stop;
$t->start($http, workers => 2);
both_workers('- vip-agents - no_capacity', 'a restart keeps the capacity set live');

($rc, $out, $err) = omnictl('dispatch', 'capacity', 'agents', 'workflow');
is($rc, 0, 'omnictl dispatch capacity agents workflow');
both_workers('agents vip-agents 0 first', '...opens them again');

($rc, $out, $err) = omnictl('dispatch', 'capacity', 'ghost', '1');
is($rc, 1, 'a pool the workflow lacks: exit 1');
like($err, qr/"pool" must name a pool of the store's workflow \(invalid_argument\)/,
     '...says so');
($rc, $out, $err) = omnictl('dispatch', 'capacity', 'agents', '1', '--channel', 'ivr');
is($rc, 1, 'a channel without a capacity of its own: exit 1');
like($err, qr/"channel" must name a channel of the pool's "channels"/, '...says so');
($rc, $out, $err) = omnictl('dispatch', 'capacity', 'agents', '-1');
is($rc, 2, 'a capacity that is not a number: a usage error');
$r = admin(POST => '/capacity', '{"pool":"agents","capacity":1000001}');
is($r->{status}, 400, 'POST /capacity past 1000000: 400');
for my $body ('{"pool":"agents","capacity":"x"}', '{"pool":"agents"}',
              '{"capacity":1}', '{"pool":"agents","capacity":1,"why":"x"}') {
    $r = admin(POST => '/capacity', $body);
    is($r->{status}, 400, "POST /capacity $body: 400");
}
$r = admin(GET => '/capacity/revisions');
is(scalar @{ $r->{json}{revisions} }, 4, 'GET /capacity/revisions: each change kept');

# two writers at once, each changing its own pool: each reads the record,
# changes it and puts it back; neither may write over the other's change
my $lost = 0;
for my $round (1 .. 10) {
    my @pids;
    for my $set ([ 'vip_desk', $round ], [ 'agents', 100 + $round ]) {
        my $pid = fork;
        die "fork: $!" unless defined $pid;
        if (!$pid) {
            open(STDOUT, '>', '/dev/null');
            open(STDERR, '>', '/dev/null');
            exec { $omnictl } $omnictl, '-d', $store, 'dispatch', 'capacity',
                @$set or POSIX::_exit(127);
        }
        push @pids, $pid;
    }
    waitpid($_, 0) == $_ && $? == 0 or $lost++ for @pids;
    ($rc, $out) = omnictl('dispatch', 'capacity');
    my $now = (eval { $json->decode($out) } || {})->{capacity} || {};
    $lost++ unless ($now->{vip_desk} // -1) == $round
                   && ($now->{agents} // -1) == 100 + $round;
}
is($lost, 0, 'concurrent capacity changes: every one kept, in 10 rounds');

$t->check_error_log;

done_testing();
