# Time claims with and without leeway, issuer, audience and roles.

use strict;
use warnings;

use lib 't/lib';
use Test::More;
use Omni::Test;
use Omni::Jwt qw(keygen mint);

my $t = Omni::Test->new;
my $k = keygen($t->prefix . '/keys');

sub hs { mint(alg => 'HS256', key => $k->{hs32}, sub => 'carol', @_) }

$t->set_var(KEYS => "omni_jwt_secret $k->{hs32};");
$t->set_var(UPSTREAM => <<'END');
server {
    listen 127.0.0.1:%%PORT1%%;
    location / { return 200 "sub=$http_x_sub roles=$http_x_roles\n"; }
}
END
$t->set_var(FORWARD => 'proxy_set_header X-Sub $omni_jwt_sub; '
    . 'proxy_set_header X-Roles $omni_jwt_roles; '
    . 'proxy_pass http://127.0.0.1:%%PORT1%%;');

$t->set_var(EXPIRED_30S => hs(exp => '-30'));
$t->set_var(NBF_30S => hs(nbf => '+30'));
$t->set_var(IAT_FUTURE => hs(iat => '+300'));
$t->set_var(NO_EXP => hs('no-exp' => undef));
$t->set_var(EXP_STRING => hs('claim-json' => 'exp="tomorrow"'));
$t->set_var(EXP_REAL => hs('claim-json' => 'exp=' . (time + 600) . '.5'));
$t->set_var(ISS_A => hs(iss => 'https://a.example'));
$t->set_var(ISS_C => hs(iss => 'https://c.example'));
$t->set_var(AUD_ONE => hs(aud => 'orders'));
$t->set_var(AUD_MANY => hs(aud => [ 'billing', 'orders' ]));
$t->set_var(AUD_OTHER => hs(aud => 'billing'));
$t->set_var(PLAIN => hs());
$t->set_var(ROLES_ARRAY => hs(roles => 'agent,supervisor'));
$t->set_var(ROLES_NESTED => hs('claim-json' =>
    'realm_access={"roles":["auditor","admin"]}'));
$t->set_var(ROLES_SCOPE => hs(claim => 'scope=orders:read  orders:write'));
$t->set_var(ROLES_NUMBER => hs('claim-json' => 'roles=7'));
$t->set_var(ROLES_COMMA => hs('claim-json' => 'roles=["a,b"]'));
$t->set_var(ROLES_MANY => hs('claim-json' => 'roles=['
    . join(',', map { "\"r$_\"" } 1 .. 65) . ']'));
$t->set_var(SUB_NUMBER => mint(alg => 'HS256', key => $k->{hs32},
                               'claim-json' => 'sub=42'));
$t->set_var(SUB_CRLF => mint(alg => 'HS256', key => $k->{hs32},
                             'claim-json' => 'sub="x\r\nInjected: 1"'));

$t->block_defaults(http_config => <<'END');
%%KEYS%%
%%UPSTREAM%%
END

$t->block_defaults(config => <<'END');
location /api { omni_gateway on; %%FORWARD%% }
END

run_blocks($t);

done_testing();

__DATA__

=== TEST 1: expired 30 s ago, no leeway
--- request
GET /api
--- more_headers
Authorization: Bearer %%EXPIRED_30S%%
--- error_code: 401
--- response_headers
WWW-Authenticate: Bearer error="invalid_token", error_description="token expired"
--- response_body
{"error":"token_expired","message":"token expired"}
--- error_log
token rejected: token_expired (token expired), kid: -, sub: "carol"

=== TEST 2: expired 30 s ago, 60 s leeway
--- config
omni_jwt_leeway 60s;
location /api { omni_gateway on; %%FORWARD%% }
--- request
GET /api
--- more_headers
Authorization: Bearer %%EXPIRED_30S%%
--- error_code: 200
--- response_body
sub=carol roles=

=== TEST 3: expired 30 s ago, 10 s leeway
--- config
omni_jwt_leeway 10s;
location /api { omni_gateway on; %%FORWARD%% }
--- request
GET /api
--- more_headers
Authorization: Bearer %%EXPIRED_30S%%
--- error_code: 401
--- response_body_like: "token_expired"

=== TEST 4: not valid for another 30 s
--- request
GET /api
--- more_headers
Authorization: Bearer %%NBF_30S%%
--- error_code: 401
--- response_body
{"error":"token_not_yet_valid","message":"token is not valid yet"}

=== TEST 5: not valid for another 30 s, 1 min leeway
--- http_config
%%KEYS%%
omni_jwt_leeway 1m;
%%UPSTREAM%%
--- request
GET /api
--- more_headers
Authorization: Bearer %%NBF_30S%%
--- error_code: 200
--- response_body
sub=carol roles=

=== TEST 6: issued in the future
--- request
GET /api
--- more_headers
Authorization: Bearer %%IAT_FUTURE%%
--- error_code: 401
--- response_body_like: "token_issued_in_future"

=== TEST 7: no exp is refused by default
--- request
GET /api
--- more_headers
Authorization: Bearer %%NO_EXP%%
--- error_code: 401
--- response_body
{"error":"claim_missing","message":"token has no exp"}

=== TEST 8: no exp is accepted with omni_jwt_require_exp off
--- config
location /api { omni_gateway on; omni_jwt_require_exp off; %%FORWARD%% }
--- request
GET /api
--- more_headers
Authorization: Bearer %%NO_EXP%%
--- error_code: 200
--- response_body
sub=carol roles=

=== TEST 9: exp that is not a number
--- request
GET /api
--- more_headers
Authorization: Bearer %%EXP_STRING%%
--- error_code: 401
--- response_body
{"error":"claim_invalid","message":"exp is not a number"}

=== TEST 10: a fractional exp is a valid NumericDate
--- request
GET /api
--- more_headers
Authorization: Bearer %%EXP_REAL%%
--- error_code: 200
--- response_body
sub=carol roles=

=== TEST 11: an accepted issuer
--- http_config
%%KEYS%%
omni_jwt_issuer https://a.example;
omni_jwt_issuer https://b.example;
%%UPSTREAM%%
--- request
GET /api
--- more_headers
Authorization: Bearer %%ISS_A%%
--- error_code: 200
--- response_body
sub=carol roles=

=== TEST 12: another issuer
--- http_config
%%KEYS%%
omni_jwt_issuer https://a.example;
omni_jwt_issuer https://b.example;
%%UPSTREAM%%
--- request
GET /api
--- more_headers
Authorization: Bearer %%ISS_C%%
--- error_code: 401
--- response_body
{"error":"issuer_mismatch","message":"issuer is not accepted"}

=== TEST 13: no issuer when one is required
--- http_config
%%KEYS%%
omni_jwt_issuer https://a.example;
%%UPSTREAM%%
--- request
GET /api
--- more_headers
Authorization: Bearer %%PLAIN%%
--- error_code: 401
--- response_body_like: "issuer_mismatch"

=== TEST 14: audience as a string
--- http_config
%%KEYS%%
omni_jwt_audience orders;
%%UPSTREAM%%
--- request
GET /api
--- more_headers
Authorization: Bearer %%AUD_ONE%%
--- error_code: 200
--- response_body
sub=carol roles=

=== TEST 15: audience in an array
--- http_config
%%KEYS%%
omni_jwt_audience orders;
%%UPSTREAM%%
--- request
GET /api
--- more_headers
Authorization: Bearer %%AUD_MANY%%
--- error_code: 200
--- response_body
sub=carol roles=

=== TEST 16: another audience
--- http_config
%%KEYS%%
omni_jwt_audience orders;
%%UPSTREAM%%
--- request
GET /api
--- more_headers
Authorization: Bearer %%AUD_OTHER%%
--- error_code: 401
--- response_body
{"error":"audience_mismatch","message":"audience is not accepted"}

=== TEST 17: no audience when one is required
--- http_config
%%KEYS%%
omni_jwt_audience orders;
%%UPSTREAM%%
--- request
GET /api
--- more_headers
Authorization: Bearer %%PLAIN%%
--- error_code: 401
--- response_body_like: "audience_mismatch"

=== TEST 18: roles as a JSON array
--- request
GET /api
--- more_headers
Authorization: Bearer %%ROLES_ARRAY%%
--- error_code: 200
--- response_body
sub=carol roles=agent,supervisor

=== TEST 19: roles from a nested claim
--- http_config
%%KEYS%%
omni_jwt_roles_claim realm_access.roles;
%%UPSTREAM%%
--- request
GET /api
--- more_headers
Authorization: Bearer %%ROLES_NESTED%%
--- error_code: 200
--- response_body
sub=carol roles=auditor,admin

=== TEST 20: roles from a space-separated string
--- http_config
%%KEYS%%
omni_jwt_roles_claim scope;
%%UPSTREAM%%
--- request
GET /api
--- more_headers
Authorization: Bearer %%ROLES_SCOPE%%
--- error_code: 200
--- response_body
sub=carol roles=orders:read,orders:write

=== TEST 21: no roles claim, no roles
--- http_config
%%KEYS%%
omni_jwt_roles_claim realm_access.roles;
%%UPSTREAM%%
--- request
GET /api
--- more_headers
Authorization: Bearer %%ROLES_ARRAY%%
--- error_code: 200
--- response_body
sub=carol roles=

=== TEST 22: roles that are a number
--- request
GET /api
--- more_headers
Authorization: Bearer %%ROLES_NUMBER%%
--- error_code: 401
--- response_body
{"error":"claim_invalid","message":"roles claim is neither an array nor a string"}

=== TEST 23: a role with a comma
--- request
GET /api
--- more_headers
Authorization: Bearer %%ROLES_COMMA%%
--- error_code: 401
--- response_body_like: "claim_invalid"

=== TEST 24: more than 64 roles
--- request
GET /api
--- more_headers
Authorization: Bearer %%ROLES_MANY%%
--- error_code: 401
--- response_body
{"error":"claim_invalid","message":"more than 64 roles"}

=== TEST 25: sub that is not a string
--- request
GET /api
--- more_headers
Authorization: Bearer %%SUB_NUMBER%%
--- error_code: 401
--- response_body
{"error":"claim_invalid","message":"sub is not a string"}

=== TEST 26: sub with CR/LF
--- request
GET /api
--- more_headers
Authorization: Bearer %%SUB_CRLF%%
--- error_code: 401
--- response_body
{"error":"claim_invalid","message":"sub has control characters"}
--- no_error_log
Injected
