# The admin location: the store's administration as JSON endpoints behind
# the JWT machinery with an admin role, answered by whichever of two
# workers, changes logged at notice level with the subject, never the
# token.

use strict;
use warnings;

use lib 't/lib';
use IO::Socket::INET;
use JSON::PP;
use MIME::Base64 ();
use Time::HiRes qw(sleep);
use Test::More;
use Omni::Test;
use Omni::Jwt qw(keygen mint);

my $t = Omni::Test->new;
my $k = keygen($t->prefix . '/keys');
my $store = $t->prefix . '/store';

mkdir $store or die "$store: $!";
chmod 0777, $store;   # whichever user the workers run as creates the files

my $key = $k->{hs32};

my $http = <<"END";
omni_store $store sync=none;

server {
    listen 127.0.0.1:%%PORT%%;
    server_name localhost;
    client_body_buffer_size 128k;

    location /admin/ {
        omni_gateway on;
        omni_jwt_secret $key;
        omni_admin;
    }

    location /small/ {
        client_body_buffer_size 4k;
        omni_gateway on;
        omni_jwt_secret $key;
        omni_admin;
    }

    location /ops/ {
        omni_gateway on;
        omni_jwt_secret $key;
        omni_admin role=ops;
    }

    location /any/ {
        satisfy any;
        allow 127.0.0.1;
        deny all;
        omni_gateway on;
        omni_jwt_secret $key;
        omni_admin;
    }
}
END

$t->start($http, workers => 2);

my $admin = mint(alg => 'HS256', key => $key, sub => 'root-admin',
                 roles => 'agent,admin');
my $agent = mint(alg => 'HS256', key => $key, sub => 'bob', roles => 'agent');
my $ops = mint(alg => 'HS256', key => $key, sub => 'olga', roles => 'ops');
my $doomed = mint(alg => 'HS256', key => $key, sub => 'root-admin',
                  roles => 'admin', jti => 'adm-2');
my $expired = mint(alg => 'HS256', key => $key, sub => 'root-admin',
                   roles => 'admin', exp => '-100');

my $json = JSON::PP->new->canonical;

sub call {
    my ($method, $path, %opt) = @_;
    my $token = exists $opt{token} ? $opt{token} : $admin;
    my @headers;

    push @headers, [ Authorization => "Bearer $token" ] if defined $token;
    push @headers, @{ $opt{headers} } if $opt{headers};

    my $r = $t->request(method => $method, path => $path, no_subst => 1,
                        headers => \@headers,
                        (defined $opt{body} ? (body => $opt{body}) : ()),
                        (defined $opt{raw} ? (raw => $opt{raw}) : ()));

    $r->{json} = eval { $json->decode($r->{body}) }
        if ($r->{headers}{'content-type'} || '') eq 'application/json';

    return $r;
}

sub answer_is {
    my ($r, $status, $code, $name) = @_;
    is($r->{status}, $status, "$name: $status");
    is($r->{headers}{'content-type'}, 'application/json',
       "$name: a JSON answer");
    is($r->{json} && $r->{json}{error}, $code, "$name: $code") if $code;
}


# --- who may

$t->mark_log;

my $r = call(GET => '/admin/stats', token => undef);
answer_is($r, 401, 'token_missing', 'no token');
is($r->{headers}{'www-authenticate'}, 'Bearer', 'no token: the challenge');

$r = call(GET => '/admin/stats', token => $agent);
answer_is($r, 403, 'permission_denied', 'a token without the role');
is($r->{json}{message}, 'the token lacks the role "admin"',
   'a token without the role: the message names the role');
my $denied = 'omni admin: permission_denied: the token of "bob" lacks the '
             . 'role "admin" (request ';
like($t->log_since_mark, qr/\[info\].*\Q$denied\E[0-9a-f]{32}\)/,
     'a token without the role: an info line');

$r = call(GET => '/admin/stats', token => $expired);
answer_is($r, 401, 'token_expired', 'an expired admin token');

$r = call(GET => '/admin/stats');
answer_is($r, 200, undef, 'stats');
is(ref $r->{json}{entries}, 'HASH', 'stats: entries');
ok(exists $r->{json}{entries}{identities}, 'stats: entries.identities');
is($r->{headers}{'cache-control'}, 'no-store', 'stats: Cache-Control');


# --- identities and customers

$r = call(PUT => '/admin/identities/phone/%2B8613800000000',
          body => '{"customer":"c1"}');
answer_is($r, 200, undef, 'link a phone');
is_deeply($r->{json},
          { type => 'phone', value => '+8613800000000', customer => 'c1' },
          'link a phone: the identity');

for my $i (1 .. 4) {
    $r = call(GET => '/admin/identities/phone/%2B8613800000000');
    is($r->{status} . ' ' . ($r->{json}{customer} // ''), '200 c1',
       "resolve the phone, request $i");
}

$r = call(PUT => '/admin/identities/email/a%40example.com',
          body => '{"customer":"c2"}');
is($r->{status} . ' ' . ($r->{json}{customer} // ''), '200 c2',
   'link an email to another customer');

$r = call(POST => '/admin/customers/c2/merge', body => '{"into":"c1"}');
answer_is($r, 200, undef, 'merge c2 into c1');
is_deeply($r->{json}, { merged => 'c2', into => 'c1' },
          'merge: the answer');

$r = call(GET => '/admin/identities/email/a%40example.com');
is($r->{json}{customer}, 'c1', 'the email resolves to the survivor');

$r = call(GET => '/admin/customers/c1/identities');
answer_is($r, 200, undef, 'identities of c1');
is_deeply([ sort map { "$_->{type}:$_->{value}" }
            @{ $r->{json}{identities} || [] } ],
          [ 'email:a@example.com', 'phone:+8613800000000' ],
          'identities of c1: both');

$r = call(GET => '/admin/customers/c1/identities?limit=1');
is(scalar @{ $r->{json}{identities} || [] }, 1, 'a page of one identity');
ok(defined $r->{json}{next}, '...with a cursor for the next');

$r = call(DELETE => '/admin/identities/email/a%40example.com');
answer_is($r, 200, undef, 'unlink the email');
is($r->{json}{unlinked}, JSON::PP::true, 'unlink: unlinked');

$r = call(GET => '/admin/identities/email/a%40example.com');
answer_is($r, 404, 'not_found', 'the unlinked email');


# --- revocations

$r = call(POST => '/admin/revocations', body => '{"kind":"jti","value":"j1"}');
answer_is($r, 201, undef, 'revoke a jti');
is($r->{json}{kind} . ':' . $r->{json}{value}, 'jti:j1',
   'revoke a jti: the revocation');

$r = call(GET => '/admin/revocations?kind=jti');
answer_is($r, 200, undef, 'list jti revocations');
is_deeply([ map { $_->{value} } @{ $r->{json}{revocations} || [] } ],
          [ 'j1' ], 'list jti revocations: j1');

$r = call(DELETE => '/admin/revocations/jti/j1');
answer_is($r, 200, undef, 'remove the revocation');
is($r->{json}{removed}, JSON::PP::true, 'remove: removed');

$r = call(GET => '/admin/revocations?kind=jti');
is_deeply($r->{json}{revocations}, [], 'no jti revocation left');

is(call(GET => '/admin/stats', token => $doomed)->{status}, 200,
   'a token with a jti passes before its revocation');
$r = call(POST => '/admin/revocations',
          body => '{"kind":"jti","value":"adm-2"}');
is($r->{status}, 201, 'revoke the admin token itself');
for my $i (1 .. 4) {
    $r = call(GET => '/admin/stats', token => $doomed);
    answer_is($r, 401, 'token_revoked', "the revoked admin token, request $i");
}


# --- what the core refuses

$r = call(GET => '/admin/sessions/nope');
answer_is($r, 404, 'not_found', 'an unknown session');

$r = call(POST => '/admin/customers/c1/merge', body => '{"into":"c1"}');
answer_is($r, 409, 'conflict', 'a merge into itself');

# a merge names two customers the store knows, or changes nothing
$r = call(POST => '/admin/customers/c1/merge',
          body => '{"into":"doesnotexist"}');
answer_is($r, 404, 'not_found', 'a merge into a customer that does not exist');
is($r->{json}{message}, 'customer doesnotexist is unknown',
   '...the message names it');
$r = call(POST => '/admin/customers/nobody/merge', body => '{"into":"c1"}');
answer_is($r, 404, 'not_found', 'a merge of a customer that does not exist');
$r = call(GET => '/admin/identities/phone/%2B8613800000000');
is($r->{json}{customer}, 'c1', '...the identity stayed with c1');
$r = call(GET => '/admin/customers/doesnotexist');
answer_is($r, 404, 'not_found', '...and the made-up id is still unknown');

# a survivor chain that ends in a customer without records: a store
# restored in part, with omnictl while nginx runs
{
    my $omnictl = Omni::Test::bin('omnictl');
    my $file = $t->write_file('chain.jsonl',
        '{"omni_store_export":1,"format":1,'
        . '"exported_at":"2026-01-01T00:00:00Z"}' . "\n"
        . '{"db":"customers","key":"'
        . MIME::Base64::encode_base64("merged\0M", '') . '","value":"'
        . MIME::Base64::encode_base64("\x01" . ("\0" x 8) . 'vanished', '')
        . "\"}\n");
    is(system("$omnictl -d $store import $file >/dev/null 2>&1"), 0,
       'a merge record whose survivor has no record is imported');

    $r = call(POST => '/admin/customers/c1/merge', body => '{"into":"merged"}');
    answer_is($r, 404, 'not_found', 'a merge into a chain that ends nowhere');
    is($r->{json}{message},
       'customer vanished, which merged was merged into, is unknown',
       '...the message names the end of the chain');
    $r = call(GET => '/admin/customers/c1');
    is($r->{json}{survivor}, 'c1', '...and c1 was not merged');
}

$r = call(POST => '/admin/revocations', token => $agent,
          body => '{"kind":"jti","value":"adm-3"}');
answer_is($r, 403, 'permission_denied', 'a change without the role');

$r = call(GET => '/admin/nothing/here');
answer_is($r, 404, 'unknown_route', 'an unknown route');

$r = call(GET => '/admin/');
answer_is($r, 404, 'unknown_route', 'the admin root');

$r = call(GET => '/%61dmin/stats');
answer_is($r, 404, 'unknown_route', 'a percent-encoded location prefix');

$r = call(DELETE => '/admin/stats');
answer_is($r, 405, 'method_not_allowed', 'DELETE on stats');
is($r->{headers}{allow}, 'GET', 'DELETE on stats: Allow');

$r = call(PATCH => '/admin/identities/phone/x');
is($r->{headers}{allow}, 'GET, PUT, DELETE', 'PATCH on an identity: Allow');

$r = call(HEAD => '/admin/stats');
is($r->{status}, 405, 'HEAD is not GET');
is($r->{headers}{allow}, 'GET', 'HEAD: Allow');

$r = call(POST => '/admin/revocations', body => '{"kind":');
answer_is($r, 400, 'bad_json', 'a broken body');

$r = call(POST => '/admin/revocations', body => '');
answer_is($r, 400, 'bad_json', 'an empty body');

$r = call(POST => '/admin/revocations', body => 'x' x 70000);
answer_is($r, 413, 'body_too_large', 'a body over the limit');

my $chunk = 'x' x 70000;
$r = call(POST => '/admin/revocations', raw =>
          "POST /admin/revocations HTTP/1.1\r\nHost: localhost\r\n"
          . "Connection: close\r\nAuthorization: Bearer $admin\r\n"
          . "Transfer-Encoding: chunked\r\n\r\n"
          . sprintf("%x\r\n%s\r\n0\r\n\r\n", length $chunk, $chunk));
answer_is($r, 413, 'body_too_large', 'a chunked body over the limit');

$r = call(POST => '/small/revocations',
          body => '{"kind":"jti","value":"' . ('v' x 9000) . '"}');
answer_is($r, 413, 'body_too_large',
          'a body larger than client_body_buffer_size');

$r = call(GET => '/admin/stats',
          headers => [ [ 'Content-Length' => 5 ] ], body => 'hello');
answer_is($r, 400, 'invalid_argument', 'a body on a GET');



# --- the connection goes on after a refusal; a body may come late

sub pipelined {
    my (@requests) = @_;
    my $last = pop @requests;
    my $raw = join '', map {
        "$_->[0] HTTP/1.1\r\nHost: localhost\r\n"
        . "Authorization: Bearer $_->[1]\r\n"
        . 'Content-Length: ' . length($_->[2]) . "\r\n\r\n$_->[2]"
    } @requests;
    $raw .= "$last->[0] HTTP/1.1\r\nHost: localhost\r\n"
            . "Authorization: Bearer $last->[1]\r\nConnection: close\r\n\r\n";
    my $r = $t->request(raw => $raw);
    return [ $r->{raw} =~ m{HTTP/1\.1 (\d{3}) }g ];
}

is_deeply(pipelined([ 'POST /admin/revocations', $agent, '{"a":1}' ],
                    [ 'GET /admin/stats', $admin ]),
          [ 403, 200 ], 'a refused body is discarded, keep-alive goes on');
is_deeply(pipelined([ 'POST /admin/revocations', $admin, 'y' x 70000 ],
                    [ 'GET /admin/stats', $admin ]),
          [ 413, 200 ], 'a body over the limit is discarded');
is_deeply(pipelined([ 'POST /admin/revocations', $admin, '{"kind":1' ],
                    [ 'GET /admin/stats', $admin ]),
          [ 400, 200 ], 'a read body, then the next request');

{
    my $body = '{"kind":"jti","value":"late"}';
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
                                  PeerPort => $t->port(0), Proto => 'tcp')
        or die "connect: $!";
    binmode $s;
    print $s "POST /admin/revocations HTTP/1.1\r\nHost: localhost\r\n"
             . "Connection: close\r\nAuthorization: Bearer $admin\r\n"
             . 'Content-Length: ' . length($body) . "\r\n\r\n"
             . substr($body, 0, 10);
    $s->flush;
    sleep 0.3;
    print $s substr($body, 10);
    $s->flush;
    local $/;
    my $raw = <$s>;
    close $s;
    my $res = Omni::Test::parse_response($raw);
    is($res->{status}, 201, 'a body that comes late is waited for');
    like($res->{body}, qr/"value":"late"/, '...and read whole');
}

# --- the role and "satisfy any"

$r = call(GET => '/ops/stats', token => $admin);
answer_is($r, 403, 'permission_denied', 'role=ops: an admin token');
is($r->{json}{message}, 'the token lacks the role "ops"',
   'role=ops: the message names ops');

$r = call(GET => '/ops/stats', token => $ops);
answer_is($r, 200, undef, 'role=ops: an ops token');

$r = call(GET => '/any/stats', token => undef);
answer_is($r, 401, 'token_missing', 'satisfy any, no token');
is($r->{headers}{'www-authenticate'}, 'Bearer',
   'satisfy any, no token: one challenge');

$r = call(GET => '/any/stats', token => $expired);
answer_is($r, 401, 'token_expired', 'satisfy any, an expired token');

$r = call(GET => '/any/stats');
answer_is($r, 200, undef, 'satisfy any, an admin token');


# --- the audit

my $log = $t->error_log;
my @audit = grep { /omni admin: .* by / } split /\n/, $log;

ok(scalar @audit >= 6, 'audit lines for the changes') or diag $log;
ok(!(grep { !/\[notice\]/ } @audit), 'audit lines are at notice level');
ok(!(grep { !/ \*\d+ omni admin: .* by "root-admin" \(request [0-9a-f]{32}\)$/ } @audit),
   'audit lines name the connection, the subject and the request, and end there');
ok(!(grep { /8613800000000|a%40example|a\@example/ } @audit),
   '...never an identity value, not even in nginx\'s request line');
like($log, qr/\[notice\].*omni admin: .*c2.*c1.* by "root-admin"/,
     'the merge is audited');
like($log, qr/\[notice\].*omni admin: .*jti.*j1.* by "root-admin"/,
     'the revocation is audited');
ok(!(grep { /omni admin: [^,]*(?:stats|nope|adm-3|c1 into c1|doesnotexist|nobody|merged)/ } @audit),
   'reads and refusals are not audited');

for my $token ($admin, $agent, $ops, $doomed, $expired) {
    my ($sig) = $token =~ /\.([^.]+)\z/;
    ok(index($log, $sig) < 0, 'the log never has a token');
}


# --- nginx -t

my $loc = <<"END";
omni_store $store;
server {
    listen 127.0.0.1:%%PORT%%;
    %%LOC%%
}
END

sub location_conf {
    my ($location) = @_;
    (my $conf = $loc) =~ s/%%LOC%%/$location/;
    return $conf;
}

sub config_fails {
    my ($location, $re, $name) = @_;
    my ($ok, $out) = $t->test_config(location_conf($location));
    ok(!$ok, "nginx -t fails: $name");
    like($out, $re, "nginx -t fails: $name: the message");
}

my $body = "omni_gateway on; omni_jwt_secret $key;";
my $long = 'r' x 128;

for my $args ('', 'role=ops', "role=$long", 'role=a:b/c.d-e_f') {
    my ($ok, $out) = $t->test_config(
        location_conf("location /a/ { $body omni_admin $args; }"));
    ok($ok, "nginx -t passes with \"omni_admin $args\"") or diag $out;
}

config_fails("location /a/ { $body omni_admin; omni_admin; }",
             qr/"omni_admin" directive is duplicate/, 'omni_admin twice');
config_fails("location /a/ { $body omni_admin x; }",
             qr/invalid omni_admin parameter "x", expected "role=name"/,
             'a bad parameter');
config_fails("location /a/ { $body omni_admin role=; }",
             qr/invalid omni_admin parameter "role="/, 'an empty role');
config_fails("location /a/ { $body omni_admin role=a,b; }",
             qr/invalid omni_admin parameter "role=a,b"/,
             'a role with a comma');
config_fails("location /a/ { $body omni_admin role=r$long; }",
             qr/invalid omni_admin parameter "role=r+"/, 'a role too long');
config_fails("location /a/ { $body omni_admin \"role=a b\"; }",
             qr/invalid omni_admin parameter "role=a b"/,
             'a role with a space');
config_fails("location /a/ { $body omni_admin role=ops role=x; }",
             qr/invalid number of arguments in "omni_admin"/,
             'two parameters');

my $where = '"omni_admin" needs a prefix location ending with "/", '
            . 'such as "location /admin/"';
$where = qr/\Q$where\E/;
config_fails("location ~ ^/a/ { $body omni_admin; }", $where,
             'a regex location');
config_fails("location = /a/ { $body omni_admin; }", $where,
             'an exact location');
config_fails("location /a { $body omni_admin; }", $where,
             'a location without the final slash');
config_fails("location \@a { $body omni_admin; }", $where,
             'a named location');

config_fails("location /a/ { omni_jwt_secret $key; omni_admin; }",
             qr/"omni_admin" needs "omni_gateway on"/, 'omni_gateway off');
config_fails("location /a/ { omni_gateway on; omni_admin; }",
             qr/no key is configured/, 'no key');
config_fails("location /a/ { $body omni_auth off; omni_admin; }",
             qr/"omni_admin" needs "omni_gateway on" with JWT/,
             'omni_auth off');

my ($ok, $out) = $t->test_config(<<"END");
server {
    listen 127.0.0.1:%%PORT%%;
    location /a/ { $body omni_admin; }
}
END
ok(!$ok, 'nginx -t fails: no omni_store');
like($out, qr/"omni_admin" needs "omni_store" at the http level/,
     'nginx -t fails: no omni_store: the message');

done_testing();
