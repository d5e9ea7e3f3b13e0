# Rules a token must meet besides its signature: no duplicate member names,
# NumericDates within 1970..9999, and omni_jwt_max_lifetime.

use strict;
use warnings;

use lib 't/lib';
use Test::More;
use Omni::Test;
use Omni::Jwt qw(keygen mint forge slurp);

my $t = Omni::Test->new;
my $k = keygen($t->prefix . '/keys');
my $secret = slurp($k->{hs32});
my $now = time;
my $exp = $now + 600;

sub signed { forge('{"alg":"HS256","typ":"JWT"}', $_[0], $secret) }
sub hs { mint(alg => 'HS256', key => $k->{hs32}, sub => 'kim', @_) }

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

$t->set_var(DUP_SUB => signed(qq({"sub":"alice","sub":"admin","exp":$exp})));
$t->set_var(DUP_REALM => signed(qq({"sub":"kim","exp":$exp,)
    . '"realm_access":{"roles":["agent"]},'
    . '"realm_access":{"roles":["admin"]}}'));
$t->set_var(DUP_NESTED => signed(qq({"sub":"kim","exp":$exp,)
    . '"realm_access":{"roles":["agent"],"roles":["admin"]}}'));
$t->set_var(DUP_HEADER => forge('{"alg":"HS256","kid":"a","kid":"b"}',
                                qq({"sub":"kim","exp":$exp}), $secret));
$t->set_var(NESTED_OK => signed(qq({"sub":"kim","exp":$exp,)
    . '"realm_access":{"roles":["agent"]}}'));
$t->set_var(EXP_HUGE => signed('{"sub":"kim","exp":1e300}'));
$t->set_var(NBF_NEGATIVE => signed(qq({"sub":"kim","exp":$exp,"nbf":-1e300})));
$t->set_var(EXP_2_63 => signed('{"sub":"kim","exp":9223372036854775808}'));
$t->set_var(IAT_NEGATIVE => signed(qq({"sub":"kim","exp":$exp,"iat":-1})));
$t->set_var(EXP_9999 => signed('{"sub":"kim","exp":253402300799}'));
$t->set_var(NBF_FRACTION => signed(qq({"sub":"kim","exp":$exp,)
    . '"nbf":' . ($now + 30) . '.5}'));
$t->set_var(TTL_30M => hs(ttl => 1800));
$t->set_var(TTL_2H => hs(ttl => 7200));
$t->set_var(LONG_ISSUED => hs(exp => $now + 600, iat => $now - 7200));
$t->set_var(LONG_NO_IAT => hs(exp => $now + 7200, 'no-iat' => undef));
$t->set_var(NO_EXP => hs('no-exp' => undef));

$t->block_defaults(http_config => <<'END');
%%KEYS%%
%%UPSTREAM%%
END

$t->block_defaults(config => <<'END');
location /api { omni_gateway on; omni_jwt_roles_claim realm_access.roles; %%FORWARD%% }
END

run_blocks($t);

# the configurations nginx -t refuses, refused as reloads too
$t->must_die_reloads;

done_testing();

__DATA__

=== TEST 1: two subs: the issuer and the gateway could read different ones
--- request
GET /api
--- more_headers
Authorization: Bearer %%DUP_SUB%%
--- error_code: 401
--- response_body
{"error":"token_malformed","message":"token claim set has duplicate member names"}
--- no_error_log
"admin"

=== TEST 2: two realm_access objects
--- request
GET /api
--- more_headers
Authorization: Bearer %%DUP_REALM%%
--- error_code: 401
--- response_body_like: "token_malformed".*duplicate

=== TEST 3: a duplicate inside a nested object
--- request
GET /api
--- more_headers
Authorization: Bearer %%DUP_NESTED%%
--- error_code: 401
--- response_body_like: "token_malformed".*duplicate

=== TEST 4: a duplicate in the header
--- request
GET /api
--- more_headers
Authorization: Bearer %%DUP_HEADER%%
--- error_code: 401
--- response_body
{"error":"token_malformed","message":"token header has duplicate member names"}

=== TEST 5: the same claims without duplicates pass (control)
--- request
GET /api
--- more_headers
Authorization: Bearer %%NESTED_OK%%
--- error_code: 200
--- response_body
sub=kim roles=agent

=== TEST 6: exp 1e300 is out of range, not a token for ever
--- request
GET /api
--- more_headers
Authorization: Bearer %%EXP_HUGE%%
--- error_code: 401
--- response_headers
WWW-Authenticate: Bearer error="invalid_token", error_description="exp is out of range"
--- response_body
{"error":"claim_invalid","message":"exp is out of range"}

=== TEST 7: nbf -1e300 is out of range
--- request
GET /api
--- more_headers
Authorization: Bearer %%NBF_NEGATIVE%%
--- error_code: 401
--- response_body
{"error":"claim_invalid","message":"nbf is out of range"}

=== TEST 8: exp 2^63 is out of range, like any other
--- request
GET /api
--- more_headers
Authorization: Bearer %%EXP_2_63%%
--- error_code: 401
--- response_body
{"error":"claim_invalid","message":"exp is out of range"}

=== TEST 9: a negative iat is out of range
--- request
GET /api
--- more_headers
Authorization: Bearer %%IAT_NEGATIVE%%
--- error_code: 401
--- response_body
{"error":"claim_invalid","message":"iat is out of range"}

=== TEST 10: the last second of 9999 is in range
--- request
GET /api
--- more_headers
Authorization: Bearer %%EXP_9999%%
--- error_code: 200
--- response_body
sub=kim roles=

=== TEST 11: a fractional nbf 30.5 s ahead is not valid yet
--- request
GET /api
--- more_headers
Authorization: Bearer %%NBF_FRACTION%%
--- error_code: 401
--- response_body_like: "token_not_yet_valid"

=== TEST 12: omni_jwt_max_lifetime passes a token that lives 30 minutes
--- config
omni_jwt_max_lifetime 1h;
location /api { omni_gateway on; %%FORWARD%% }
--- request
GET /api
--- more_headers
Authorization: Bearer %%TTL_30M%%
--- error_code: 200
--- response_body
sub=kim roles=

=== TEST 13: ...and refuses one that lives two hours
--- config
omni_jwt_max_lifetime 1h;
location /api { omni_gateway on; %%FORWARD%% }
--- request
GET /api
--- more_headers
Authorization: Bearer %%TTL_2H%%
--- error_code: 401
--- response_headers
WWW-Authenticate: Bearer error="invalid_token", error_description="token lives longer than 3600 s"
--- response_body
{"error":"token_lifetime_exceeded","message":"token lives longer than 3600 s"}
--- error_log
token rejected: token_lifetime_exceeded (token lives longer than 3600 s), kid: -, sub: "kim"

=== TEST 14: ...and one issued two hours before it ends, though 10 min are left
--- config
omni_jwt_max_lifetime 1h;
location /api { omni_gateway on; %%FORWARD%% }
--- request
GET /api
--- more_headers
Authorization: Bearer %%LONG_ISSUED%%
--- error_code: 401
--- response_body_like: "token_lifetime_exceeded"

=== TEST 15: ...and one without iat that ends in two hours
--- config
omni_jwt_max_lifetime 1h;
location /api { omni_gateway on; %%FORWARD%% }
--- request
GET /api
--- more_headers
Authorization: Bearer %%LONG_NO_IAT%%
--- error_code: 401
--- response_body_like: "token_lifetime_exceeded"

=== TEST 16: ...and one without exp, even with omni_jwt_require_exp off
--- config
omni_jwt_max_lifetime 1h;
omni_jwt_require_exp off;
location /api { omni_gateway on; %%FORWARD%% }
--- request
GET /api
--- more_headers
Authorization: Bearer %%NO_EXP%%
--- error_code: 401
--- response_body
{"error":"claim_missing","message":"token has no exp"}

=== TEST 17: a location turns it off again
--- config
omni_jwt_max_lifetime 1h;
location /api { omni_gateway on; omni_jwt_max_lifetime off; %%FORWARD%% }
--- request
GET /api
--- more_headers
Authorization: Bearer %%TTL_2H%%
--- error_code: 200
--- response_body
sub=kim roles=

=== TEST 18: omni_jwt_max_lifetime 0 fails nginx -t
--- config
omni_jwt_max_lifetime 0;
location /api { omni_gateway on; %%FORWARD%% }
--- must_die
--- error_log
invalid value "0" in "omni_jwt_max_lifetime"

=== TEST 19: omni_jwt_max_lifetime soon fails nginx -t
--- config
location /api { omni_gateway on; omni_jwt_max_lifetime soon; %%FORWARD%% }
--- must_die
--- error_log
invalid value "soon" in "omni_jwt_max_lifetime"

=== TEST 20: omni_jwt_max_lifetime twice fails nginx -t
--- config
omni_jwt_max_lifetime 1h;
omni_jwt_max_lifetime 2h;
location /api { omni_gateway on; %%FORWARD%% }
--- must_die
--- error_log
"omni_jwt_max_lifetime" directive is duplicate
