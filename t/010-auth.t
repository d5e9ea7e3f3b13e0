# Accepted tokens of every algorithm, token sources, variables, and the
# shape of a rejection.

use strict;
use warnings;

use lib 't/lib';
use Test::More;
use Omni::Test;
use Omni::Jwt qw(keygen mint);

my $t = Omni::Test->new;
my $k = keygen($t->prefix . '/keys');

$t->set_var(KEYS => join "\n",
    "omni_jwt_secret $k->{hs64};",
    "omni_jwt_key $k->{rsa}{pub};",
    "omni_jwt_key $k->{ec256}{pub};",
    "omni_jwt_key $k->{ec384}{pub};",
    "omni_jwt_key $k->{ec521}{pub};");

$t->set_var(UPSTREAM => <<'END');
server {
    listen 127.0.0.1:%%PORT1%%;
    location / {
        return 200 "sub=$http_x_sub roles=$http_x_roles claims=$http_x_claims name=$http_x_name tier=$http_x_tier kid=$http_x_kid alg=$http_x_alg iss=$http_x_iss\n";
    }
}
END

$t->set_var(FORWARD => <<'END');
proxy_set_header X-Sub $omni_jwt_sub;
proxy_set_header X-Roles $omni_jwt_roles;
proxy_set_header X-Claims $omni_jwt_claims;
proxy_set_header X-Name $omni_jwt_claim_name;
proxy_set_header X-Tier $omni_jwt_claim_tier;
proxy_set_header X-Kid $omni_jwt_kid;
proxy_set_header X-Alg $omni_jwt_alg;
proxy_set_header X-Iss $omni_jwt_iss;
proxy_pass http://127.0.0.1:%%PORT1%%;
END

my %key = (
    HS256 => $k->{hs64}, HS384 => $k->{hs64}, HS512 => $k->{hs64},
    RS256 => $k->{rsa}{key}, RS384 => $k->{rsa}{key},
    RS512 => $k->{rsa}{key}, ES256 => $k->{ec256}{key},
    ES384 => $k->{ec384}{key}, ES512 => $k->{ec521}{key},
);

for my $alg (sort keys %key) {
    $t->set_var("TOKEN_$alg" => mint(alg => $alg, key => $key{$alg},
                                     sub => "user-$alg"));
}

$t->set_var(TOKEN_CLAIMS => mint(alg => 'RS256', key => $k->{rsa}{key},
    sub => 'alice', iss => 'https://idp.example', roles => 'agent,vip',
    claim => 'name=Alice Liddell', 'claim-json' => 'tier=3'));

$t->set_var(TOKEN_CTRL => mint(alg => 'HS256', key => $k->{hs64},
    sub => 'bob', 'claim-json' => 'name="evil\r\nX-Injected: 1"'));

$t->block_defaults(http_config => <<'END');
%%KEYS%%
%%UPSTREAM%%
END

$t->block_defaults(config => <<'END');
location /api { omni_gateway on; %%FORWARD%% }
END

run_blocks($t);

like(Omni::Jwt::slurp($t->prefix . '/omni_access.log'),
     qr/^omni_error=token_malformed sub=-$/m, '$omni_error logged');

done_testing();

__DATA__

=== TEST 1: HS256 accepted
--- request
GET /api
--- more_headers
Authorization: Bearer %%TOKEN_HS256%%
--- error_code: 200
--- response_body_like: ^sub=user-HS256 .* alg=HS256

=== TEST 2: HS384 accepted
--- request
GET /api
--- more_headers
Authorization: Bearer %%TOKEN_HS384%%
--- error_code: 200
--- response_body_like: ^sub=user-HS384 .* alg=HS384

=== TEST 3: HS512 accepted
--- request
GET /api
--- more_headers
Authorization: Bearer %%TOKEN_HS512%%
--- error_code: 200
--- response_body_like: ^sub=user-HS512 .* alg=HS512

=== TEST 4: RS256 accepted
--- request
GET /api
--- more_headers
Authorization: Bearer %%TOKEN_RS256%%
--- error_code: 200
--- response_body_like: ^sub=user-RS256 .* alg=RS256

=== TEST 5: RS384 accepted
--- request
GET /api
--- more_headers
Authorization: Bearer %%TOKEN_RS384%%
--- error_code: 200
--- response_body_like: ^sub=user-RS384 .* alg=RS384

=== TEST 6: RS512 accepted
--- request
GET /api
--- more_headers
Authorization: Bearer %%TOKEN_RS512%%
--- error_code: 200
--- response_body_like: ^sub=user-RS512 .* alg=RS512

=== TEST 7: ES256 accepted
--- request
GET /api
--- more_headers
Authorization: Bearer %%TOKEN_ES256%%
--- error_code: 200
--- response_body_like: ^sub=user-ES256 .* alg=ES256

=== TEST 8: ES384 accepted
--- request
GET /api
--- more_headers
Authorization: Bearer %%TOKEN_ES384%%
--- error_code: 200
--- response_body_like: ^sub=user-ES384 .* alg=ES384

=== TEST 9: ES512 accepted
--- request
GET /api
--- more_headers
Authorization: Bearer %%TOKEN_ES512%%
--- error_code: 200
--- response_body_like: ^sub=user-ES512 .* alg=ES512

=== TEST 10: the Bearer scheme is case-insensitive and spaces are trimmed
--- request
GET /api
--- more_headers
Authorization: bEaReR    %%TOKEN_RS256%%
--- error_code: 200
--- response_body_like: ^sub=user-RS256 

=== TEST 11: variables carry sub, roles, claims, named claims, kid, iss
--- request
GET /api
--- more_headers
Authorization: Bearer %%TOKEN_CLAIMS%%
--- error_code: 200
--- response_body_like: ^sub=alice roles=agent,vip claims=\{"exp":\d+,"iat":\d+,"iss":"https://idp.example","name":"Alice Liddell","roles":\["agent","vip"\],"sub":"alice","tier":3\} name=Alice Liddell tier=3 kid= alg=RS256 iss=https://idp.example

=== TEST 12: a claim with CR/LF never reaches a header
--- request
GET /api
--- more_headers
Authorization: Bearer %%TOKEN_CTRL%%
--- error_code: 200
--- response_body_like: ^sub=bob .*name= tier=
--- error_log
claim "name" has control characters, not exposed

=== TEST 13: no token
--- request
GET /api
--- error_code: 401
--- response_headers
WWW-Authenticate: Bearer
Content-Type: application/json
--- response_body
{"error":"token_missing","message":"no token"}
--- error_log
omni: token rejected: token_missing (no token), kid: -, sub: -

=== TEST 14: another scheme is no bearer token
--- request
GET /api
--- more_headers
Authorization: Basic dXNlcjpwYXNz
--- error_code: 401
--- response_body
{"error":"token_missing","message":"no token"}

=== TEST 15: a rejection is RFC 6750 and logged once at info, without the token
--- request
GET /api
--- more_headers
Authorization: Bearer %%TOKEN_RS256%%x
--- error_code: 401
--- response_headers
WWW-Authenticate: Bearer error="invalid_token", error_description="signature is invalid"
--- response_body
{"error":"signature_invalid","message":"signature is invalid"}
--- error_log
[info]
omni: token rejected: signature_invalid (signature is invalid), kid: -, sub: -
--- no_error_log
%%TOKEN_RS256%%
[error]

=== TEST 16: locations without omni_gateway are untouched
--- config
location /api { omni_gateway on; %%FORWARD%% }
location /open { omni_gateway off; %%FORWARD%% }
--- request
GET /open
--- error_code: 200
--- response_body
sub= roles= claims= name= tier= kid= alg= iss=

=== TEST 17: token from a cookie
--- config
location /api { omni_gateway on; omni_jwt_token $cookie_access_token; %%FORWARD%% }
--- request
GET /api
--- more_headers
Cookie: theme=dark; access_token=%%TOKEN_ES256%%
--- error_code: 200
--- response_body_like: ^sub=user-ES256 

=== TEST 18: with a custom source the Authorization header is ignored
--- config
location /api { omni_gateway on; omni_jwt_token $arg_access_token; %%FORWARD%% }
--- request
GET /api
--- more_headers
Authorization: Bearer %%TOKEN_ES256%%
--- error_code: 401
--- response_body_like: "token_missing"

=== TEST 19: token from a query argument
--- config
location /api { omni_gateway on; omni_jwt_token $arg_access_token; %%FORWARD%% }
--- request
GET /api?x=1&access_token=%%TOKEN_HS256%%
--- error_code: 200
--- response_body_like: ^sub=user-HS256 

=== TEST 20: a rejected POST discards its body and keeps the answer clean
--- request
POST /api
--- request_body
{"order":"12345","items":[1,2,3]}
--- error_code: 401
--- response_body
{"error":"token_missing","message":"no token"}

=== TEST 21: HEAD gets the status and headers only
--- request
HEAD /api
--- error_code: 401
--- response_headers
WWW-Authenticate: Bearer
--- response_body

=== TEST 22: $omni_error reaches log_format
--- http_config
%%KEYS%%
%%UPSTREAM%%
log_format omni "omni_error=$omni_error sub=$omni_jwt_sub";
--- config
access_log %%PREFIX%%/omni_access.log omni;
location /api { omni_gateway on; %%FORWARD%% }
--- request
GET /api
--- more_headers
Authorization: Bearer x.y.z
--- error_code: 401
--- response_body_like: "token_malformed"

=== TEST 23: satisfy any: another access module may let the request in
--- config
location /api { satisfy any; allow 127.0.0.1; deny all; omni_gateway on; %%FORWARD%% }
--- request
GET /api
--- error_code: 200
--- response_headers
!WWW-Authenticate
--- response_body
sub= roles= claims= name= tier= kid= alg= iss=

=== TEST 24: satisfy any: when nothing lets it in, the challenge stays
--- config
location /api { satisfy any; deny all; omni_gateway on; %%FORWARD%% }
--- request
GET /api
--- more_headers
Authorization: Bearer %%TOKEN_RS256%%x
--- error_code: 401
--- response_headers
WWW-Authenticate: Bearer error="invalid_token", error_description="signature is invalid"
