# Every channel end to end: each fixture of t/fixtures/<channel>/ is sent
# through nginx in its native wire format; the contract the upstream
# receives is checked against the fixture and against the JSON Schema, and
# the native reply against what the channel expects.

use strict;
use warnings;

use lib 't/lib';
use JSON::PP;
use Test::More;
use Omni::Test;
use Omni::Jwt qw(keygen mint slurp);

my $t = Omni::Test->new;
my $k = keygen($t->prefix . '/keys');
my $repo = Omni::Test::repo_root();
my $json = JSON::PP->new->canonical;

my $sms = decode_json(slurp("$repo/t/fixtures/sms/inbound_text.json"))->{request}{settings};

# The service: echoes the action it was asked for and the contract it got.
# The first hop logs the raw contract for the schema check.
my $http = <<"END";
omni_plugins $repo/plugins;
omni_lua_library $repo/lua;
omni_jwt_secret $k->{hs32};

log_format contract escape=none '\$request_body';

server {
    listen 127.0.0.1:%%PORT1%%;
    access_log %%PREFIX%%/contracts.log contract;
    client_body_buffer_size 64k;

    location / {
        if (\$http_x_test_reply = "fail") {
            return 200 '{"ok":false,"error":{"code":"order_not_found","message":"no such order"}}';
        }
        if (\$http_x_test_reply = "junk") {
            return 200 'this is not json';
        }
        proxy_set_header X-Contract \$request_body;
        proxy_pass http://127.0.0.1:%%PORT2%%/reply;
    }
}

server {
    listen 127.0.0.1:%%PORT2%%;
    large_client_header_buffers 4 64k;
    access_log off;

    location /reply {
        default_type application/json;
        return 200 '{"ok":true,"data":{"say":"action \$http_x_omni_action","text":"action \$http_x_omni_action","contract":\$http_x_contract}}';
    }
}

server {
    listen 127.0.0.1:%%PORT%%;
    server_name localhost;
    large_client_header_buffers 4 16k;
    add_header X-Request-Id \$request_id always;

    proxy_method POST;
    proxy_set_header Content-Type application/json;
    proxy_set_header Accept-Encoding "";
    proxy_set_header Authorization "";
    proxy_set_header X-Omni-Action \$omni_action;
    proxy_set_body \$omni_contract;

    location /web/ {
        omni_channel web;
        proxy_pass http://127.0.0.1:%%PORT1%%;
    }

    location /miniprogram/ {
        omni_channel miniprogram;
        omni_auth off;
        proxy_pass http://127.0.0.1:%%PORT1%%;
    }

    location /app/ {
        omni_channel app;
        proxy_pass http://127.0.0.1:%%PORT1%%;
    }

    location /ivr/ {
        omni_channel ivr;
        omni_auth plugin;
        omni_plugin_set auth_token 9f2c4e1a7b3d5f6081a2c3d4e5f60718;
        omni_plugin_set base_url https://gw.example.com;
        omni_plugin_set language en-US;
        proxy_pass http://127.0.0.1:%%PORT1%%;
    }

    location /sms/ {
        omni_channel sms;
        omni_auth plugin;
        omni_plugin_set auth_token $sms->{auth_token};
        omni_plugin_set base_url $sms->{base_url};
        proxy_pass http://127.0.0.1:%%PORT1%%;
    }

    location /wechat_oa {
        omni_channel wechat_oa;
        omni_auth plugin;
        omni_plugin_set token omniWxToken2026;
        proxy_pass http://127.0.0.1:%%PORT1%%;
    }
}
END

$t->start($http);

my %jwt_channel = (web => 1, app => 1);

sub send_fixture {
    my ($channel, $fx, %extra) = @_;
    my $req = $fx->{request};
    my %headers = %{ $req->{headers} || {} };
    my $principal = $fx->{known} && $fx->{known}{principal};

    delete $headers{'content-length'};
    delete $headers{'accept-encoding'};
    delete $headers{host};

    if ($jwt_channel{$channel}) {
        my @claims = (sub => ($principal && $principal->{subject})
                                 || 'anonymous-caller');
        push @claims, roles => join ',', @{ $principal->{roles} || [] }
            if $principal && @{ $principal->{roles} || [] };
        push @claims, iss => $principal->{issuer}
            if $principal && $principal->{issuer};
        $headers{authorization} = 'Bearer '
            . mint(alg => 'HS256', key => $k->{hs32}, @claims);
    }

    %headers = (%headers, %{ $extra{headers} || {} });
    utf8::encode($_) for values %headers;

    my $body = $req->{body};
    utf8::encode($body) if defined $body;

    my $path = $req->{path};
    $path .= "?$req->{query}" if defined $req->{query} && length $req->{query};

    return $t->request(
        method => $req->{method},
        path => $path,
        headers => [ map { [ $_, $headers{$_} ] } sort keys %headers ],
        (defined $body && length $body ? (body => $body) : ()),
        no_subst => 1,
    );
}

my $contracts = 0;

# the service logs a contract once its answer is sent: wait for the line
sub logged_contracts {
    my ($want) = @_;
    my @lines;

    for (1 .. 100) {
        @lines = grep { length } split /\n/,
                 ($t->read_file('contracts.log') // '');
        last if @lines >= $want;
        select undef, undef, undef, 0.01;
    }

    return @lines;
}

for my $file (sort glob "$repo/t/fixtures/{web,miniprogram,app,ivr,wechat_oa,sms}/*.json") {
    my ($channel, $name) = $file =~ m{/(\w+)/(\w+)\.json$};
    my $fx = decode_json(slurp($file));
    my $expect = $fx->{expect} || {};
    my $what = "$channel/$name";

    # the plugin's refusal of a signature is the gateway's 401
    next if ref $expect->{authenticate} && !$expect->{action};
    # signed for a fixed time: t/066-wechat-crypto.t signs them again
    next if defined $fx->{request}{time};

    my $r = send_fixture($channel, $fx);

    if (my $action = $expect->{action}) {
        $contracts++;
        my @seen = logged_contracts($contracts);
        like($seen[-1] // '', qr/"action":"\Q$action\E"/,
             "$what: the service was asked for $action");
        is(scalar @seen, $contracts, "$what: one contract sent");

        if ($channel =~ /^(web|app)$/) {
            like($seen[-1] // '', qr/"principal":\{[^}]*"subject":"/,
                 "$what: the principal came along");
        }

        if ($action !~ /^app\.batch$/ && $name ne 'notification') {
            like($r->{body}, qr/action \Q$action\E|"action":"\Q$action\E"/,
                 "$what: the reply was rendered natively");
        }

        if ($channel =~ /^(ivr|wechat_oa|miniprogram|sms)$/) {
            is($r->{status}, 200, "$what: native success status");
        }

    } elsif (my $error = $expect->{error} || $expect->{prepare_error}) {
        my $code = $error->{code};
        unlike($t->read_file('contracts.log') // '', qr/\Q$name\E/,
               "$what: no contract for a refused request");

        if ($channel eq 'web') {
            is($r->{status}, $error->{status}, "$what: status $error->{status}");
            like($r->{body}, qr/"code":"\Q$code\E"/, "$what: code $code");
        } elsif ($channel eq 'miniprogram') {
            is($r->{status}, 200, "$what: mini-programs always get 200");
            like($r->{body}, qr/"errmsg":"\Q$code\E/, "$what: errmsg $code");
        } elsif ($channel eq 'app') {
            is($r->{status}, 200, "$what: JSON-RPC errors come with 200");
            like($r->{body}, qr/"error":\{"code":-32/, "$what: a JSON-RPC error");
        } else {
            ok($r->{status} >= 200, "$what: answered ($r->{status})");
        }

    } elsif (my $respond = $expect->{respond}) {
        is($r->{status}, $respond->{status}, "$what: direct answer status");
        is($r->{body}, $respond->{body}, "$what: direct answer body")
            if defined $respond->{body};
    }
}

ok($contracts >= 20, "$contracts fixtures produced a contract");

# every contract the service received validates against the schema
my @lines = logged_contracts($contracts);
is(scalar @lines, $contracts, 'one contract per normalized request');

my $dir = $t->prefix . '/contracts';
mkdir $dir;
for my $i (0 .. $#lines) {
    $t->write_file("contracts/$i.json", $lines[$i]);
}
my $out = `$repo/tools/validate-json $repo/schema/contract.schema.json $dir/*.json 2>&1`;
is($? >> 8, 0, 'every contract validates against schema/contract.schema.json')
    or diag($out);

my ($web) = grep { /"action":"order.query"/ && /"name":"web"/ } @lines;
my $c = decode_json($web // '{}');
is($c->{version}, '1.3', 'contract version');
is($c->{channel}{name}, 'web', 'contract channel');
like($c->{request_id}, qr/^[0-9a-f]{32}$/, 'request id from nginx');
is($c->{principal}{subject}, 'customer-42', 'principal from the JWT');
is_deeply($c->{principal}{roles}, ['customer'], 'roles from the JWT');
is($c->{client}{ip}, '127.0.0.1', 'client ip');
is($c->{params}{order_id}, 'ORD-20261124-0042', 'params from the path');

# the contract's request id is the request's $request_id, as NGINX logs it
my $r = $t->get('/web/orders/ORD-1', headers => {
    authorization => 'Bearer ' . mint(alg => 'HS256', key => $k->{hs32},
                                      sub => 'customer-42'),
});
my $echo = eval { decode_json($r->{body}) } || {};
like($r->{headers}{'x-request-id'} // '', qr/^[0-9a-f]{32}$/,
     '$request_id is 32 hex digits');
is($echo->{data}{contract}{request_id}, $r->{headers}{'x-request-id'},
   'the contract carries $request_id');

# a chunked body is its chunks put together (nginx holds them in several
# buffers, the last one empty)
my $create = decode_json(slurp("$repo/t/fixtures/web/order_create.json"));
my $body = $create->{request}{body};
utf8::encode($body);
my $half = int(length($body) / 2);
$r = $t->request(
    method => 'POST',
    path => '/web/orders',
    headers => [
        [ authorization => 'Bearer ' . mint(alg => 'HS256', key => $k->{hs32},
                                            sub => 'customer-42') ],
        [ 'content-type' => 'application/json' ],
        [ 'transfer-encoding' => 'chunked' ],
    ],
    body => sprintf("%x\r\n%s\r\n%x\r\n%s\r\n0\r\n\r\n",
                    $half, substr($body, 0, $half),
                    length($body) - $half, substr($body, $half)),
    no_subst => 1,
);
$echo = eval { decode_json($r->{body}) } || {};
is($echo->{data}{contract}{action}, 'order.create', 'a chunked body: normalized');
is_deeply($echo->{data}{contract}{params}, $create->{expect}{params},
          '...its chunks put together');

done_testing();
