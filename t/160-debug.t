# Debug traces: with a debug build of nginx and the module (Debian's is
# one) and "error_log ... debug", one request can be followed through every
# step of the pipeline (docs/debugging.md).  The traces name steps,
# outcomes and ids, never a token, a secret or a customer's identity value.
# An nginx built without --with-debug writes no debug log: the test is
# skipped there.

use strict;
use warnings;

use lib 't/lib';
use Test::More;
use Time::HiRes ();
use Omni::Test;
use Omni::Jwt qw(keygen mint slurp);

my $nginx = Omni::Test::nginx_binary();
my $v = `$nginx -V 2>&1`;

plan skip_all => "$nginx is not built with --with-debug (nginx -V): it "
               . 'writes no debug log (docs/debugging.md)'
    unless $v =~ /--with-debug\b/;

my $t = Omni::Test->new;
my $k = keygen($t->prefix . '/keys');
my $repo = Omni::Test::repo_root();
my $store = $t->prefix . '/store';

mkdir $store or die "$store: $!";
chmod 0777, $store;

# a module built without NGX_DEBUG has no trace in it at all
like(slurp(Omni::Test::module_path()), qr/omni: access phase/,
     'the module is a debug build too (configure it --with-debug)');

$t->write_file('policy.json', <<'END');
{"version": 1,
 "roles": {"customer": {"rules": [{"id": "cust-self", "effect": "allow",
                                   "actions": ["order.*"]}]}}}
END

my $http = <<"END";
omni_plugins $repo/plugins;
omni_lua_library $repo/lua;
omni_jwt_secret $k->{hs32};
omni_store $store sync=none;
omni_journey_limits flush=20ms;
omni_policy_file %%PREFIX%%/policy.json;

server {
    listen 127.0.0.1:%%PORT1%%;
    access_log off;

    location / {
        default_type application/json;
        add_header X-Omni-Context '{"step":"paid"}';
        return 200 '{"ok":true,"data":{"order":"O-1"}}';
    }
}

server {
    listen 127.0.0.1:%%PORT%%;
    server_name localhost;

    proxy_method POST;
    proxy_set_header Content-Type application/json;
    proxy_set_header Authorization "";
    proxy_set_body \$omni_contract;

    location /web/ {
        omni_channel web;
        omni_customers create;
        omni_session on;
        omni_journey on;
        omni_policy on;
        proxy_pass http://127.0.0.1:%%PORT1%%;
    }

    location /admin/ {
        omni_gateway on;
        omni_admin;
    }
}
END

$t->start($http, workers => 1, error_log_level => 'debug');

# what must never be traced: the subject is the customer's jwt_sub identity
my $sub = 'sub-Zq7person';
my $token = mint(alg => 'HS256', key => $k->{hs32}, sub => $sub,
                 roles => 'customer');
my $admin = mint(alg => 'HS256', key => $k->{hs32}, sub => 'ops-Wk4admin',
                 roles => 'admin');
my $raw = slurp($k->{hs32});
my $secret = unpack('H*', $raw);

# the omni lines written since the mark, once the journey has been flushed
sub traces {
    my ($until) = @_;
    my $deadline = Time::HiRes::time() + 2 * Omni::Test::slowdown();
    my @lines;
    while (1) {
        @lines = grep { /\[debug\].* omni(?: admin)?: / }
                 split /\n/, $t->log_since_mark;
        last if grep({ /$until/ } @lines)
                || Time::HiRes::time() > $deadline;
        Time::HiRes::sleep(0.05);
    }
    return @lines;
}

# each pattern matches a line after the line the one before it matched
sub in_order {
    my ($name, $lines, @want) = @_;
    my $at = 0;
    for my $want (@want) {
        my ($i) = grep { $lines->[$_] =~ $want } $at .. $#$lines;
        if (!defined $i) {
            fail("$name: $want");
            diag(join "\n", 'omni traces:', @$lines);
            return;
        }
        $at = $i + 1;
    }
    pass("$name: " . @want . ' steps in order');
}

sub clean {
    my ($name, $lines) = @_;
    my ($payload, $signature) = (split /\./, $_[2])[1, 2];
    my @leaks = grep { index($_, $sub) >= 0 || index($_, $payload) >= 0
                       || index($_, $signature) >= 0
                       || index(lc, $secret) >= 0 || index($_, $raw) >= 0 }
                 @$lines;
    ok(!@leaks, "$name: no token, secret or identity value traced")
        or diag(join "\n", @leaks);
}

# --- a new customer's first request, through every step ---

$t->mark_log;
my $r = $t->request(path => '/web/orders/O-1',
                    headers => [ [ Authorization => "Bearer $token" ] ]);
is($r->{status}, 200, 'the request passes');

my @lines = traces(qr/journey batch of/);
in_order('first request', \@lines,
    qr/omni: access phase, channel "web", step 0$/,
    qr/omni: plugin "web" begin, 0 body bytes: declined$/,
    qr/omni: token cache miss$/,
    qr/omni: token verified, alg HS256, 1 roles$/,
    qr/omni: revocation lookup: not revoked$/,
    qr/omni: plugin "web" normalize: action "order\.query", 0 identities$/,
    qr/omni: identity 0 of type "jwt_sub"$/,
    qr/omni: customer [0-9a-f]{32} created$/,
    qr/omni: session [0-9a-f]{32} created$/,
    qr/omni: policy allows action "order\.query", rule "cust-self", revision \d+$/,
    qr/omni: contract built, \d+ bytes$/,
    qr/omni: access phase done, the request goes on$/,
    qr/omni: context patch applied to session [0-9a-f]{32}$/,
    qr/omni: reply filter holds the reply, status 200, length \d+$/,
    qr/omni: reply rendered by "web", status 200, \d+ bytes$/,
    qr/omni: journey event "ok" queued for customer [0-9a-f]{32}, 1 waiting$/,
    qr/omni: journey flush, 1 events to the thread pool$/,
    qr/omni: journey batch of 1 events written by the thread pool: 0$/);
clean('first request', \@lines, $token);

# --- the same caller again: cached token, known customer, live session ---

$t->mark_log;
$r = $t->request(path => '/web/orders/O-1',
                 headers => [ [ Authorization => "Bearer $token" ] ]);
is($r->{status}, 200, 'the second request passes');

@lines = traces(qr/journey batch of/);
in_order('second request', \@lines,
    qr/omni: token cache hit$/,
    qr/omni: customer [0-9a-f]{32} resolved$/,
    qr/omni: session [0-9a-f]{32} resumed$/,
    qr/omni: policy allows/,
    qr/omni: journey flush, 1 events to the thread pool$/,
    qr/omni: journey batch of 1 events written by the thread pool: 0$/);
clean('second request', \@lines, $token);

# --- no token: why it stopped ---

$t->mark_log;
$r = $t->request(path => '/web/orders/O-1');
is($r->{status}, 401, 'a request without a token is refused');

@lines = traces(qr/request refused/);
in_order('refused request', \@lines,
    qr/omni: access phase, channel "web", step 0$/,
    qr/omni: token not verified: token_missing$/,
    qr/omni: request refused: token_missing, status 401$/);

# --- the admin API: the route, not the identity value in its path ---

$t->mark_log;
$r = $t->request(path => "/admin/identities/jwt_sub/$sub",
                 headers => [ [ Authorization => "Bearer $admin" ] ]);
is($r->{status}, 200, 'the admin API finds the identity');

@lines = traces(qr/omni admin: route/);
in_order('admin request', \@lines,
    qr/omni: token verified, alg HS256, 1 roles$/,
    qr/omni admin: GET request, token verified$/,
    qr/omni admin: route GET \/identities, status 200$/);
clean('admin request', \@lines, $admin);

# --- thread_pool=off: the batch is written on the event loop ---

$t->stop;
(my $on_loop = $http) =~ s/flush=20ms;/flush=20ms thread_pool=off;/;
$t->start($on_loop, workers => 1, error_log_level => 'debug');

$t->mark_log;
$r = $t->request(path => '/web/orders/O-1',
                 headers => [ [ Authorization => "Bearer $token" ] ]);
is($r->{status}, 200, 'a request with journeys written on the loop passes');

@lines = traces(qr/journey flush/);
in_order('journey on the loop', \@lines,
    qr/omni: journey event "ok" queued for customer [0-9a-f]{32}, 1 waiting$/,
    qr/omni: journey flush, 1 events$/);
ok(!grep({ /thread pool/ } @lines), '...and not by the thread pool');

$r = $t->request(path => "/admin/identities/jwt_sub/$sub",
                 headers => [ [ Authorization => "Bearer $admin" ] ]);
my ($customer) = $r->{body} =~ /"customer":"([0-9a-f]{32})"/;
ok($customer, 'the customer is found') or diag($r->{body});
$r = $t->request(path => "/admin/customers/$customer/journey",
                 headers => [ [ Authorization => "Bearer $admin" ] ]);
my $events = () = $r->{body} =~ /"action":"order\.query"/g;
is($events, 3, 'the journey holds the three requests, from both flush paths')
    or diag($r->{body});

done_testing();
