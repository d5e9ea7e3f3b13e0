# Several workers each build their own plugin VM after fork, and a reload
# replaces them with VMs that load the plugins again; under a constant
# load through a channel location that writes to the store, ten reloads
# in a row cost no request a non-2xx answer.

use strict;
use warnings;

use lib 't/lib';
use Test::More;
use Time::HiRes ();
use Omni::Test;
use Omni::Jwt qw(keygen mint);

my $t = Omni::Test->new;
my $k = keygen($t->prefix . '/keys');

# The service runs in an nginx of its own, as services do: the gateway's
# reloads are not the service's.  It answers with the generation of the
# gateway's configuration the request went through.
my $service = Omni::Test->new;
$service->start(<<'END');
server {
    listen 127.0.0.1:%%PORT%%;
    access_log off;
    location / {
        default_type application/json;
        add_header X-Omni-Context $http_x_test_patch;
        return 200 '{"ok":true,"data":{"action":"$http_x_omni_action","generation":"$http_x_generation"}}';
    }
}
END
$t->set_var(SERVICE => $service->port);
my $store = $t->prefix . '/store';

mkdir $store or die "$store: $!";
chmod 0777, $store;

# omni_plugin_timeout is wall-clock time: on a machine shared with other
# work (the suite's own clients, a fuzzer), a worker may wait longer than
# the default 50 ms for a core, and the call fails with plugin_timeout
# whether or not nginx reloads.  What this test measures is the reloads.
my $http = <<"END";
omni_plugins %%REPO%%/plugins;
omni_lua_library %%REPO%%/lua;
omni_plugin_timeout 1s;
omni_jwt_secret $k->{hs32};
omni_store $store sync=none;
omni_journey_limits flush=50ms;

server {
    listen 127.0.0.1:%%PORT%%;
    server_name localhost;
    access_log off;

    location /web/ {
        omni_channel web;
        omni_customers create;
        omni_session on;
        omni_journey on;
        proxy_set_header X-Omni-Action \$omni_action;
        proxy_set_header X-Generation %%GENERATION%%;
        proxy_set_body \$omni_contract;
        proxy_pass http://127.0.0.1:%%SERVICE%%;
    }
}
END

my %token = map { $_ => mint(alg => 'HS256', key => $k->{hs32},
                             sub => "reload-$_") } 0 .. 3;

sub ask {
    my ($n, $generation, $what) = @_;
    my %seen;

    for my $i (1 .. $n) {
        my $r = $t->request(path => "/web/orders/ORD-$i",
                            headers => [ [ Authorization =>
                                           "Bearer $token{0}" ] ]);
        $seen{ $r->{status} }++;
        $seen{body}++ if $r->{body} =~ /"action":"order.query"/
                         && $r->{body} =~ /"generation":"$generation"/;
    }

    is($seen{200}, $n, "$what: every request answered 200");
    is($seen{body}, $n, "$what: every reply rendered by the plugin");
}

$t->set_var(GENERATION => 'g0');
$t->start($http, workers => 2);

my @workers;
for (1 .. 200) {
    @workers = $t->worker_pids;
    last if @workers == 2;
    select undef, undef, undef, 0.01;
}
is(scalar @workers, 2, 'two workers, each with its own VM');
ask(40, 'g0', 'two workers');

$t->set_var(GENERATION => 'g1');
$t->reload($http, workers => 2);
ask(40, 'g1', 'after a reload');

$t->check_error_log;


# --- ten reloads under a constant load ---

# Three clients, each a process sending a request every few milliseconds
# (a new connection each, as a reload closes idle keep-alive connections),
# every one writing the session's context, until told to stop: a steady
# load that leaves the two cores room for the reloads themselves, not one
# that saturates them (then any budget measured by the clock, such as
# omni_plugin_timeout, would be spent waiting for a core).  Each line is
# the status and the generation that answered, or the error.
$t->clients(3, sub {
    my ($c, $i) = @_;
    my $r = $t->request(path => "/web/orders/ORD-$i", quiet => 1,
                        headers => [ [ Authorization => "Bearer $token{$c}" ],
                                     [ 'X-Test-Patch' => qq({"n":$i}) ] ]);
    my $status = $r->{status}
                 || 'none:' . ($r->{error} || ($r->{timed_out} && 'timeout')
                               || 'no answer');
    my $body = $r->{body} // '';
    my ($g) = $body =~ /"generation":"(g\d+)"/;
    $body =~ s/\s+/ /g;
    Time::HiRes::sleep(0.002);
    return "$status " . ($g // '-')
           . ($status =~ /^2/ ? '' : ' ' . substr($body, 0, 200));
});

# each reload once some answers came since the last
sub more_answers {
    my $want = $t->client_lines + 20;
    for (1 .. 500 * Omni::Test::slowdown()) {
        last if $t->client_lines >= $want;
        Time::HiRes::sleep(0.01);
    }
}

# the master makes and frees a plugin VM at every reload (its check of
# the plugins): what it frees must leave it, about 0.85 MB a reload when
# LuaJIT's arena was kept
sub master_rss_kb {
    open my $fh, '<', '/proc/' . $t->pid . '/status' or die "status: $!";
    my ($kb) = map { /^VmRSS:\s+(\d+)/ ? $1 : () } <$fh>;
    return $kb;
}
my $rss_before = master_rss_kb();

my $started = Time::HiRes::time();
for my $g (2 .. 11) {
    more_answers();
    $t->set_var(GENERATION => "g$g");
    $t->reload($http, workers => 2);
}
more_answers();

ok($t->stop_clients, 'the clients ran to the end');

my (%status, %generation, @odd, %answers);
for ($t->client_lines) {
    my ($c, $line) = @$_;
    my ($s, $g) = split ' ', $line;
    $status{$s}++;
    $generation{$g}++;
    $answers{$c}++;
    push @odd, $line if $s !~ /^2\d\d$/;
}

my $total = 0;
$total += $_ for values %status;
cmp_ok($total, '>', 200, sprintf('%d requests during ten reloads in %.1f s',
                                 $total, Time::HiRes::time() - $started));
is_deeply(\@odd, [], 'every request got a 2xx answer')
    or diag(explain(\%status),
            grep { /\[(warn|error|crit|alert|emerg)\]/ } split /^/, $t->error_log);
is(scalar(grep { $generation{"g$_"} } 2 .. 11), 10,
   'every generation of workers answered some of them')
    or diag(explain(\%generation));
ok($generation{g11}, 'the last configuration serves');

SKIP: {
    # the sanitizers' allocator keeps what is freed in quarantine
    skip 'the master keeps freed memory under the sanitizers', 1
        if Omni::Test::slowdown() > 1;
    cmp_ok(master_rss_kb() - $rss_before, '<', 3 * 1024,
           "the master's memory after ten reloads (KB over the first's)");
}

unlike($t->error_log, qr/not applied|lookup failed|journey events lost/,
       'no write to the store failed');

# each client's last request wrote the context of its session: every
# request was answered in order, so its n is the number of answers
my $omnictl = Omni::Test::bin('omnictl');
for my $c (1 .. 3) {
    my $out = `$omnictl -d $store resolve jwt_sub reload-$c`;
    my ($customer) = $out =~ /"customer": "(\w+)"/;
    $out = `$omnictl -d $store sessions $customer`;
    my ($n) = $out =~ /"context": \{\s*"n": (\d+)/;
    is($n, $answers{$c},
       "client $c: the context holds its last write ($answers{$c})");
}

$t->check_error_log(name => 'no alert, crit or emerg through the reloads');

done_testing();
