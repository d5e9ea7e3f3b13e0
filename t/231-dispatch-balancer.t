# omni_dispatch_balancer (docs/dispatch.md) through nginx with two
# workers: "proxy_pass http://pools;" with a fixed name sends each
# dispatched request to its pool's upstream{} block, whose own balancing
# and keepalive serve it; a live workflow revision that points a pool at
# another block is followed by both workers; a request that was not
# dispatched gets 500 and an error naming why; nginx -t refuses the
# directive with a server, a zone or another method in its block, twice,
# and a pool naming the balancer's own block.

use strict;
use warnings;

use lib 't/lib';
use JSON::PP;
use Test::More;
use Omni::Test;
use Omni::Jwt qw(keygen mint);
use Omni::Gateway qw(plugins_dir);

my $t = Omni::Test->new;
my $repo = Omni::Test::repo_root();
my $k = keygen($t->prefix . '/keys');
my $store = $t->prefix . '/store';
my $json = JSON::PP->new->canonical;

mkdir $store or die "$store: $!";
chmod 0777, $store;

# vip callers to the vip desk, everyone else to the agents
my %wf = (
    version => 1, affinity_seconds => 0,
    pools => { vip_desk => { capacity => 10, upstream => 'desk' },
               agents => { capacity => 10, upstream => 'agents_a' } },
    rules => [ { id => 'vip', tiers => ['vip'], targets => ['vip_desk'] } ],
    default => { targets => ['agents'] },
);
$t->write_file('workflow.json', $json->encode(\%wf));

my $plugins = plugins_dir($t, 't/plugins/identities/claims.lua');

# each backend logs its port and how many requests its connection has
# carried (more than one only through a pool's keepalive), and answers
my $http = <<"END";
omni_plugins $plugins;
omni_lua_library $repo/lua;
omni_jwt_secret $k->{hs32};
omni_store $store sync=none;
omni_dispatch_file %%PREFIX%%/workflow.json;
omni_dispatch_zone 256k;

upstream desk {
    server 127.0.0.1:%%PORT1%%;
    keepalive 4;
}
upstream agents_a { server 127.0.0.1:%%PORT2%%; }
upstream agents_b { server 127.0.0.1:%%PORT3%%; }

upstream pools {
    omni_dispatch_balancer;
}

log_format backend '\$server_port \$connection_requests';

server {
    listen 127.0.0.1:%%PORT1%%;
    listen 127.0.0.1:%%PORT2%%;
    listen 127.0.0.1:%%PORT3%%;
    access_log %%PREFIX%%/backends.log backend;
    keepalive_requests 1000;

    location / {
        default_type application/json;
        return 200 '{"ok":true,"data":{}}';
    }
}

server {
    listen 127.0.0.1:%%PORT%% reuseport;
    server_name localhost;
    add_header X-Worker \$pid always;
    add_header X-Dispatch \$omni_dispatch always;
    add_header X-Upstream \$upstream_addr always;

    location /claims/ {
        omni_channel claims;
        omni_auth off;
        omni_dispatch on;
        proxy_http_version 1.1;
        proxy_set_header Connection "";
        proxy_pass http://pools;
    }

    # not dispatched: the balancer has no pool to hand the request to
    location /undispatched/ {
        proxy_pass http://pools;
    }

    location /admin/ {
        omni_gateway on;
        omni_admin role=ops;
    }
}
END

$t->start($http, workers => 2);

my ($desk, $agents_a, $agents_b) = map { $t->port($_) } 1 .. 3;

my $ops = mint(alg => 'HS256', key => $k->{hs32}, sub => 'ops-Olga',
               roles => 'ops');

sub claims {
    my ($tier, $phone) = @_;
    return $t->request(path => "/claims/x?type=phone&value=%2B$phone"
                               . "&tier=$tier");
}

# the backend port each worker's answers came from, for a tier
sub ports_by_worker {
    my ($tier) = @_;
    my %seen;
    for my $i (1 .. 200) {
        my $r = claims($tier, 1555000500 + $i % 7);
        my ($port) = ($r->{headers}{'x-upstream'} // '') =~ /:(\d+)$/;
        $seen{ $r->{headers}{'x-worker'} }{ $port // "status $r->{status}" }
            = 1;
        last if keys %seen == 2 && $i >= 8;
    }
    return \%seen;
}

# --- each pool's block serves its requests ---

my $r = claims('vip', 1555000501);
is($r->{status}, 200, 'a vip request through the balancer: 200')
    or diag($r->{body});
like($r->{headers}{'x-dispatch'}, qr/^vip_desk vip 0 first$/,
     '...dispatched to the vip desk');
is($r->{headers}{'x-upstream'}, "127.0.0.1:$desk",
   '...and answered by the desk\'s block');

$r = claims('gold', 1555000502);
is($r->{status}, 200, 'another request: 200');
like($r->{headers}{'x-dispatch'}, qr/^agents default 0 first$/,
     '...dispatched to the agents');
is($r->{headers}{'x-upstream'}, "127.0.0.1:$agents_a",
   '...and answered by agents_a');

# the desk's keepalive: its connections carry several requests each
claims('vip', 1555000503) for 1 .. 20;
my $most = 0;
for ($t->read_file('backends.log') =~ /^$desk (\d+)$/mg) {
    $most = $_ if $_ > $most;
}
cmp_ok($most, '>', 1, 'the desk\'s keepalive reuses its connections')
    or diag("at most $most requests a connection");
unlike($t->read_file('backends.log'), qr/^$agents_a (?!1$)/m,
       '...and agents_a, which keeps none, does not');

# --- a live revision points the agents at another block ---

my %moved = (%wf, pools => { %{ $wf{pools} },
                             agents => { capacity => 10,
                                         upstream => 'agents_b' } });
$r = $t->request(method => 'PUT', path => '/admin/workflow', no_subst => 1,
                 headers => [ [ Authorization => "Bearer $ops" ] ],
                 body => $json->encode(\%moved));
is($r->{status}, 201, 'PUT /admin/workflow: the agents on agents_b')
    or diag($r->{body});

my $seen = ports_by_worker('gold');
is(scalar keys %$seen, 2, 'both workers answered');
is_deeply([ sort map { keys %$_ } values %$seen ], [ ($agents_b) x 2 ],
          '...both send the agents\' requests to agents_b')
    or diag(explain($seen));

# --- a request without a pool ---

$r = $t->request(path => '/undispatched/x');
is($r->{status}, 500, 'a request that was not dispatched: 500');
like($t->read_file('error.log'),
     qr/omni: upstream "pools" takes dispatched requests only: this one has no pool/,
     '...logged, naming why');

# --- what nginx -t refuses ---

my $base = "omni_dispatch_file %%PREFIX%%/workflow.json;\n"
         . "upstream desk { server 127.0.0.1:1; }\n"
         . "upstream agents_a { server 127.0.0.1:1; }\n";

$t->write_file('self.json', $json->encode(
    { %wf, pools => { %{ $wf{pools} },
                      agents => { capacity => 10, upstream => 'pools' } } }));

for my $case (
    [ $base . "upstream pools { omni_dispatch_balancer; server 127.0.0.1:1; }",
      qr/upstream "pools" has "omni_dispatch_balancer": its servers are those of the pools' upstream\{\} blocks, it takes no "server" of its own/ ],
    [ $base . "upstream pools { server 127.0.0.1:1; omni_dispatch_balancer; }",
      qr/it takes no "server" of its own/ ],
    [ $base . "upstream pools { omni_dispatch_balancer; omni_dispatch_balancer; }",
      qr/"omni_dispatch_balancer" directive is duplicate/ ],
    [ $base . "upstream pools { least_conn; omni_dispatch_balancer; }",
      qr/"omni_dispatch_balancer" directive cannot follow another balancing method/ ],
    [ $base . "upstream pools { omni_dispatch_balancer; keepalive 2; }",
      qr/upstream "pools" has "omni_dispatch_balancer" and another method: "keepalive" and the like go in the pools' upstream\{\} blocks/ ],
    [ $base . "upstream pools { omni_dispatch_balancer; zone pools 64k; }",
      qr/upstream "pools" has "omni_dispatch_balancer", which keeps no peers for a "zone"/ ],
    [ "omni_dispatch_file %%PREFIX%%/self.json;\n"
      . "upstream desk { server 127.0.0.1:1; }\n"
      . "upstream pools { omni_dispatch_balancer; }",
      qr/pool "agents" names the upstream "pools", whose block balances by the pools \(omni_dispatch_balancer\)/ ],
    [ "server { listen 127.0.0.1:%%PORT%%; omni_dispatch_balancer; }",
      qr/"omni_dispatch_balancer" directive is not allowed here/ ],
) {
    my ($ok, $out) = $t->test_config($case->[0]);
    ok(!$ok, "nginx -t fails: $case->[0]");
    like($out, $case->[1], '...naming the problem');
}

$t->check_error_log(allow => [ qr/takes dispatched requests only/ ]);

done_testing();
