# NUL (U+0000) in every channel: a request whose query string or body
# holds one is body_malformed before any plugin code runs, and a service
# reply that holds one is upstream_reply_invalid, scoped or not; each is
# rendered in the channel's own format and never reaches the service.

use strict;
use warnings;

use lib 't/lib';
use JSON::PP;
use Test::More;
use Omni::Test;
use Omni::Jwt qw(forge slurp);

my $t = Omni::Test->new;
my $repo = Omni::Test::repo_root();
my $secret = 'a-secret-of-at-least-32-bytes-for-hs256';
$t->write_file('keys/hs.key', $secret);

$t->write_file('policy.json', <<'END');
{"version": 1, "anonymous_role": "anonymous", "roles": {"anonymous": {
  "rules": [{"id": "all", "effect": "allow", "actions": ["*"]}],
  "scopes": [{"path": "data.card", "mask": {"keep_last": 4}}]}}}
END

sub fixture {
    my ($name) = @_;
    return decode_json(slurp("$repo/t/fixtures/$name.json"))->{request};
}

# a location for each channel, the signed ones with their fixtures'
# settings, all proxying the contract to the service
my %location = (
    '/web/' => 'omni_auth off;',
    '/web/profile' => '',
    '/web/orders/scoped' => 'omni_auth off; omni_policy on;',
    '/miniprogram/' => 'omni_auth off;',
    '/app/' => 'omni_auth off;',
    '/ivr/' => 'omni_auth plugin;',
    '/wechat_oa' => 'omni_auth plugin; '
                    . 'omni_plugin_set apology "Sorry, try again later.";',
);
for my $signed ('ivr/incoming_call', 'wechat_oa/text_message') {
    my $settings = fixture($signed)->{settings};
    my ($path) = $signed =~ m{^(\w+)/};
    $path = $path eq 'ivr' ? '/ivr/' : '/wechat_oa';
    $location{$path} .= join '', map { " omni_plugin_set $_ $settings->{$_};" }
                                 sort keys %$settings;
}
my $locations = join '', map {
    my ($channel) = m{^/(\w+)};
    "    location $_ { omni_channel $channel; $location{$_}\n"
    . "        proxy_pass http://127.0.0.1:%%PORT1%%; }\n"
} sort keys %location;

# The service: a reply with \u0000 when asked (a service that echoes what
# it was sent would return one), a plain one otherwise.  Every request
# that reaches it is logged.
$t->start(<<"END");
omni_plugins $repo/plugins;
omni_lua_library $repo/lua;
omni_policy_file %%PREFIX%%/policy.json;
omni_jwt_secret %%PREFIX%%/keys/hs.key;
proxy_method POST;
proxy_set_header Content-Type application/json;
proxy_set_body \$omni_contract;

server {
    listen 127.0.0.1:%%PORT1%%;
    access_log %%PREFIX%%/service.log;
    default_type application/json;

    location / {
        if (\$http_x_test_reply = "nul") {
            return 200 '{"ok":true,"data":{"text":"a\\u0000b","say":"a\\u0000b","card":"6222020202020202"}}';
        }
        return 200 '{"ok":true,"data":{"text":"hello","say":"hello"}}';
    }
}

server {
    listen 127.0.0.1:%%PORT%%;
    server_name localhost;
$locations}
END

sub served {
    return scalar grep { length } split /\n/,
                                        ($t->read_file('service.log') // '');
}

# one request; returns the response, and checks that the service saw it
# or not
sub send_request {
    my ($what, %req) = @_;
    my $reaches = delete $req{reaches};
    my $before = served();
    my $r = $t->request(no_subst => 1, %req);

    # the service logs once its answer is sent
    for (1 .. 50) {
        last if !$reaches || served() > $before;
        select undef, undef, undef, 0.01;
    }

    is(served() - $before, $reaches ? 1 : 0,
       $reaches ? "$what: the service was asked" : "$what: never reaches the service");

    return $r;
}

sub malformed_logged {
    my ($what, $channel, $re) = @_;
    like($t->log_since_mark,
         qr/\[info\].*omni: channel "\Q$channel\E" \w+ refused the request: body_malformed \($re/,
         "$what: the refusal is logged with its reason");
}

# a JSON body POSTed, the log marked first
sub json_post {
    my ($what, $path, $body, @headers) = @_;
    $t->mark_log;
    return send_request($what, method => 'POST', path => $path, body => $body,
                        headers => [ [ 'Content-Type' => 'application/json' ],
                                     @headers ]);
}

my ($r, $fx);

# --- requests with NUL: body_malformed, natively

$r = json_post('web, JSON body', '/web/orders', '{"note":"a\u0000b"}');
is($r->{status}, 400, 'web, JSON body: 400');
like($r->{body},
     qr/^\{"error":\{"code":"body_malformed","message":"json: \\\\u0000 \(NUL\) in string at byte 11"\},"request_id":"[0-9a-f]{32}"\}$/,
     'web, JSON body: body_malformed in the web format');
malformed_logged('web, JSON body', 'web', qr/json: \\u0000 \(NUL\) in string at byte 11\)/);

$t->mark_log;
$r = send_request('web, query', path => '/web/orders?status=open%00x');
is($r->{status}, 400, 'web, query: 400');
like($r->{body}, qr/"code":"body_malformed","message":"query string: form: NUL \(%00\) at byte 12"/,
     'web, query: body_malformed, naming the query string');
malformed_logged('web, query', 'web', qr/query string: form: NUL/);

# a token's JSON is read by jansson, which refuses \u0000 as well
sub token_with_sub {
    my ($sub) = @_;
    return [ [ Authorization => 'Bearer '
               . forge('{"alg":"HS256","typ":"JWT"}',
                       '{"sub":"' . $sub . '","exp":' . (time + 600) . '}',
                       $secret) ] ];
}

$r = send_request('web, a token', path => '/web/profile',
                  headers => token_with_sub('ab'), reaches => 1);
is($r->{status}, 200, 'web, a token: 200');
$r = send_request('web, a token whose subject holds NUL',
    path => '/web/profile', headers => token_with_sub('a\u0000b'));
is($r->{status}, 401, 'web, token: 401');
like($r->{body}, qr/^\{"error":\{"code":"token_malformed",/,
     'web, token: token_malformed in the web format');

$t->mark_log;
$fx = fixture('miniprogram/form_body');
$r = send_request('mini program, form body',
    method => 'POST', path => $fx->{path},
    headers => [ map { [ $_ => $fx->{headers}{$_} ] }
                 grep { /^(content-type|x-wx-)/ } sort keys %{ $fx->{headers} } ],
    body => 'order_id=ORD-1&reason=%00');
is($r->{status}, 200, 'mini program, form body: always 200');
like($r->{body}, qr/^\{"errcode":40000,"errmsg":"body_malformed: form: NUL \(%00\) at byte 23","request_id":"[0-9a-f]{32}"\}$/,
     'mini program, form body: errcode 40000');
malformed_logged('mini program, form body', 'miniprogram', qr/form: NUL \(%00\) at byte 23/);

$fx = fixture('miniprogram/order_query');
$r = json_post('mini program, JSON body', $fx->{path}, '{"order_id":"\u0000"}',
               [ 'X-WX-OPENID' => $fx->{headers}{'x-wx-openid'} ]);
is($r->{status}, 200, 'mini program, JSON body: always 200');
like($r->{body}, qr/"errcode":40000,"errmsg":"body_malformed: json: \\\\u0000 \(NUL\) in string/,
     'mini program, JSON body: errcode 40000');

$r = json_post('app, JSON-RPC call', '/app/rpc',
               '{"jsonrpc":"2.0","method":"order.query",'
               . '"params":{"order_id":"\u0000"},"id":7}');
is($r->{status}, 200, 'app: JSON-RPC errors come with 200');
like($r->{body}, qr/"error":\{"code":-32700,/, 'app: a JSON-RPC parse error');
like($r->{body}, qr/NUL/, 'app: ...that says why');
malformed_logged('app', 'app', qr/json: \\u0000 \(NUL\) in string/);

$t->mark_log;
$fx = fixture('ivr/incoming_call');
(my $ivr_nul = $fx->{body}) =~ s/From=%2B14155550123/From=%2B1415%00/;
$r = send_request('IVR, form body',
    method => 'POST', path => $fx->{path},
    headers => [ [ 'Content-Type' => $fx->{headers}{'content-type'} ],
                 [ 'X-Twilio-Signature' => $fx->{headers}{'x-twilio-signature'} ] ],
    body => $ivr_nul);
is($r->{status}, 200, 'IVR: always 200');
like($r->{headers}{'content-type'} // '', qr{^text/xml}, 'IVR: TwiML');
like($r->{body}, qr{<Response><Say[^>]*>[^<]+</Say><Hangup/></Response>}, 'IVR: an apology, then the call ends');
malformed_logged('IVR', 'ivr', qr/form: NUL \(%00\)/);
unlike($t->log_since_mark, qr/signature/, 'IVR: refused before the signature is checked');

$t->mark_log;
$fx = fixture('wechat_oa/text_message');
(my $oa_nul = $fx->{body}) =~ s/12345/12\x{0}345/;
utf8::encode($oa_nul);
$r = send_request('official account, XML body',
    method => 'POST', path => "$fx->{path}?$fx->{query}",
    headers => [ [ 'Content-Type' => 'text/xml' ] ],
    body => $oa_nul);
is($r->{status}, 200, 'official account: 200, so WeChat does not retry');
is($r->{body}, 'success', 'official account: the bare "success" (the sender is unknown)');
malformed_logged('official account', 'wechat_oa', qr/xml: NUL character \(U\+0000\) in the document/);


# --- replies with NUL: upstream_reply_invalid, natively, scoped or not

my @nul = ([ 'X-Test-Reply' => 'nul' ]);

$r = send_request('web reply', path => '/web/orders/ORD-1', headers => \@nul,
                  reaches => 1);
is($r->{status}, 502, 'web reply: 502');
like($r->{body}, qr/^\{"error":\{"code":"upstream_reply_invalid",/,
     'web reply: upstream_reply_invalid in the web format');

$r = send_request('web reply, scoped', path => '/web/orders/scoped',
                  headers => \@nul, reaches => 1);
is($r->{status}, 502, 'web reply, scoped: 502 as well');
like($r->{body}, qr/"code":"upstream_reply_invalid"/,
     'web reply, scoped: upstream_reply_invalid');

$r = send_request('web reply, scoped, without NUL',
                  path => '/web/orders/scoped', reaches => 1);
is($r->{status}, 200, 'web reply, scoped, without NUL: 200');

$fx = fixture('miniprogram/order_query');
$r = send_request('mini program reply',
    method => 'POST', path => $fx->{path},
    headers => [ @nul, [ 'Content-Type' => 'application/json' ],
                 [ 'X-WX-OPENID' => $fx->{headers}{'x-wx-openid'} ] ],
    body => $fx->{body}, reaches => 1);
is($r->{status}, 200, 'mini program reply: 200');
like($r->{body}, qr/^\{"errcode":50002,"errmsg":"upstream_reply_invalid: /,
     'mini program reply: errcode 50002');

$fx = fixture('app/single_call');
$r = send_request('app reply',
    method => 'POST', path => $fx->{path},
    headers => [ @nul, [ 'Content-Type' => 'application/json' ] ],
    body => $fx->{body}, reaches => 1);
is($r->{status}, 200, 'app reply: 200');
like($r->{body}, qr/"error":\{"code":-32052,/, 'app reply: -32052');

$fx = fixture('ivr/incoming_call');
$r = send_request('IVR reply',
    method => 'POST', path => $fx->{path},
    headers => [ @nul, map { [ $_ => $fx->{headers}{$_} ] }
                       qw(content-type x-twilio-signature) ],
    body => $fx->{body}, reaches => 1);
is($r->{status}, 200, 'IVR reply: 200');
like($r->{body}, qr{<Say[^>]*>[^<]+</Say><Hangup/>}, 'IVR reply: an apology');
unlike($r->{body}, qr/a.b/, 'IVR reply: nothing of the reply is spoken');

$fx = fixture('wechat_oa/text_message');
my $oa_body = $fx->{body};
utf8::encode($oa_body);
$r = send_request('official account reply',
    method => 'POST', path => "$fx->{path}?$fx->{query}",
    headers => [ @nul, [ 'Content-Type' => 'text/xml' ] ],
    body => $oa_body, reaches => 1);
is($r->{status}, 200, 'official account reply: 200');
like($r->{body}, qr{<Content><!\[CDATA\[Sorry, try again later\.\]\]></Content>},
     'official account reply: the apology');

done_testing();
