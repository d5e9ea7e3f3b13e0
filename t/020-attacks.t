# Tokens an attacker would send: every one is rejected with its own code.

use strict;
use warnings;

use lib 't/lib';
use Test::More;
use Omni::Test;
use Omni::Jwt qw(keygen mint forge slurp b64url);

my $t = Omni::Test->new;
my $k = keygen($t->prefix . '/keys');
my $now = time;
my $claims = qq({"sub":"mallory","exp":@{[ $now + 600 ]}});
my $rsa_pub = slurp($k->{rsa}{pub});

$t->set_var(KEYS => join "\n",
    "omni_jwt_key $k->{rsa}{pub} kid=rsa1;",
    "omni_jwt_key $k->{ec256}{pub} kid=ec1;",
    "omni_jwt_secret $k->{hs32} kid=hs1;");
$t->set_var(UPSTREAM => <<'END');
server {
    listen 127.0.0.1:%%PORT1%%;
    location / { return 200 "sub=$http_x_sub\n"; }
}
END
$t->set_var(LOCATION => 'location /api { omni_gateway on; '
    . 'proxy_set_header X-Sub $omni_jwt_sub; '
    . 'proxy_pass http://127.0.0.1:%%PORT1%%; }');

my $good = mint(alg => 'RS256', key => $k->{rsa}{key}, kid => 'rsa1',
                sub => 'alice');
$t->set_var(GOOD => $good);

my %none = (LOWER => 'none', TITLE => 'None', UPPER => 'NONE',
            MIXED => 'nOnE');

for my $case (keys %none) {
    $t->set_var("ALG_NONE_$case",
                forge(qq({"alg":"$none{$case}","typ":"JWT"}), $claims));
}

# the classic confusion: HS256 with the RSA public key as the secret
$t->set_var(CONFUSED_NOKID =>
    forge('{"alg":"HS256","typ":"JWT"}', $claims, $rsa_pub));
$t->set_var(CONFUSED_KID =>
    forge('{"alg":"HS256","typ":"JWT","kid":"rsa1"}', $claims, $rsa_pub));

# a real RS256 token presented under the EC key's kid
$t->set_var(WRONG_KEY_ALG => mint(alg => 'RS256', key => $k->{rsa}{key},
                                  kid => 'ec1', sub => 'alice'));
$t->set_var(UNKNOWN_KID => mint(alg => 'RS256', key => $k->{rsa}{key},
                                kid => 'rsa9', sub => 'alice'));
$t->set_var(OTHER_SIGNER => mint(alg => 'RS256', key => $k->{rsa2}{key},
                                 kid => 'rsa1', sub => 'alice'));

my ($h, $p, $s) = split /\./, $good;
$t->set_var(TAMPERED => join '.', $h,
    b64url(qq({"sub":"admin","exp":@{[ $now + 600 ]}})), $s);
$t->set_var(NO_SIGNATURE => "$h.$p.");

my $es = mint(alg => 'ES256', key => $k->{ec256}{key}, kid => 'ec1',
              sub => 'alice');
my ($eh, $ep, $esig) = split /\./, $es;
my $short = MIME::Base64::decode_base64(
    do { (my $x = $esig) =~ tr{-_}{+/}; $x . '=' x (-length($x) % 4) });
$t->set_var(ES_SHORT => "$eh.$ep." . b64url(substr($short, 0, 63)));

$t->set_var(CRIT => mint(alg => 'RS256', key => $k->{rsa}{key},
                         kid => 'rsa1', sub => 'alice',
                         'header-json' => 'crit=["exp"]'));
$t->set_var(HUGE => mint(alg => 'HS256', key => $k->{hs32}, kid => 'hs1',
                         claim => 'pad=' . ('x' x 9000)));
$t->set_var(BIGGISH => mint(alg => 'HS256', key => $k->{hs32},
                            kid => 'hs1', claim => 'pad=' . ('x' x 600)));
$t->set_var(PS256 => forge('{"alg":"PS256","typ":"JWT"}', $claims, 'x'));
$t->set_var(AT_JWT => forge('{"alg":"HS256","typ":"at+jwt"}', $claims,
                            slurp($k->{hs32})));
$t->set_var(KID_NUMBER => forge('{"alg":"HS256","typ":"JWT","kid":7}',
                                $claims, slurp($k->{hs32})));
$t->set_var(NOT_JSON => b64url('{"alg":') . '.' . b64url($claims) . '.AAAA');

$t->block_defaults(http_config => <<'END');
%%KEYS%%
%%UPSTREAM%%
END

$t->block_defaults(config => <<'END');
%%LOCATION%%
END

run_blocks($t);

done_testing();

__DATA__

=== TEST 1: a good token passes (control)
--- request
GET /api
--- more_headers
Authorization: Bearer %%GOOD%%
--- error_code: 200
--- response_body
sub=alice

=== TEST 2: alg none
--- request
GET /api
--- more_headers
Authorization: Bearer %%ALG_NONE_LOWER%%
--- error_code: 401
--- response_body_like: "alg_not_allowed"

=== TEST 3: alg None
--- request
GET /api
--- more_headers
Authorization: Bearer %%ALG_NONE_TITLE%%
--- error_code: 401
--- response_body_like: "alg_not_allowed"

=== TEST 4: alg NONE
--- request
GET /api
--- more_headers
Authorization: Bearer %%ALG_NONE_UPPER%%
--- error_code: 401
--- response_body_like: "alg_not_allowed"

=== TEST 5: alg nOnE
--- request
GET /api
--- more_headers
Authorization: Bearer %%ALG_NONE_MIXED%%
--- error_code: 401
--- response_body_like: "alg_not_allowed"

=== TEST 6: HS256 signed with the RSA public key, no kid
--- http_config
omni_jwt_key %%PREFIX%%/keys/rsa.pub;
%%UPSTREAM%%
--- request
GET /api
--- more_headers
Authorization: Bearer %%CONFUSED_NOKID%%
--- error_code: 401
--- response_body
{"error":"alg_not_allowed","message":"no key is pinned to HS256"}

=== TEST 7: HS256 signed with the RSA public key, kid of the RSA key
--- request
GET /api
--- more_headers
Authorization: Bearer %%CONFUSED_KID%%
--- error_code: 401
--- response_body
{"error":"alg_not_allowed","message":"key is not pinned to HS256"}
--- error_log
token rejected: alg_not_allowed (key is not pinned to HS256), kid: "rsa1"

=== TEST 8: an algorithm the key with that kid is not pinned to
--- request
GET /api
--- more_headers
Authorization: Bearer %%WRONG_KEY_ALG%%
--- error_code: 401
--- response_body_like: "alg_not_allowed"

=== TEST 9: a kid that names no key
--- request
GET /api
--- more_headers
Authorization: Bearer %%UNKNOWN_KID%%
--- error_code: 401
--- response_body
{"error":"key_unknown","message":"no key has this kid"}
--- error_log
kid: "rsa9"

=== TEST 10: signed by another key under a known kid
--- request
GET /api
--- more_headers
Authorization: Bearer %%OTHER_SIGNER%%
--- error_code: 401
--- response_body_like: "signature_invalid"

=== TEST 11: payload changed after signing
--- request
GET /api
--- more_headers
Authorization: Bearer %%TAMPERED%%
--- error_code: 401
--- response_body_like: "signature_invalid"
--- no_error_log
sub: "admin"

=== TEST 12: signature stripped
--- request
GET /api
--- more_headers
Authorization: Bearer %%NO_SIGNATURE%%
--- error_code: 401
--- response_body_like: "signature_invalid"

=== TEST 13: ES256 signature one byte short
--- request
GET /api
--- more_headers
Authorization: Bearer %%ES_SHORT%%
--- error_code: 401
--- response_body_like: "signature_invalid"

=== TEST 14: unknown crit header
--- request
GET /api
--- more_headers
Authorization: Bearer %%CRIT%%
--- error_code: 401
--- response_body_like: "crit_unsupported"

=== TEST 15: longer than the default 8k cap
--- http_config
%%KEYS%%
large_client_header_buffers 4 32k;
%%UPSTREAM%%
--- request
GET /api
--- more_headers
Authorization: Bearer %%HUGE%%
--- error_code: 401
--- response_body
{"error":"token_too_large","message":"token is longer than 8192 bytes"}

=== TEST 16: a lower cap set by omni_jwt_max_length
--- config
omni_jwt_max_length 512;
%%LOCATION%%
--- request
GET /api
--- more_headers
Authorization: Bearer %%BIGGISH%%
--- error_code: 401
--- response_body_like: "token_too_large"

=== TEST 17: an algorithm the gateway does not know
--- request
GET /api
--- more_headers
Authorization: Bearer %%PS256%%
--- error_code: 401
--- response_body_like: "token_malformed|alg_not_allowed"

=== TEST 18: two parts only
--- request
GET /api
--- more_headers
Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0
--- error_code: 401
--- response_body
{"error":"token_malformed","message":"token must have three parts"}

=== TEST 19: five parts (JWE) are not a JWS
--- request
GET /api
--- more_headers
Authorization: Bearer a.b.c.d.e
--- error_code: 401
--- response_body_like: "token_malformed"

=== TEST 20: characters outside base64url
--- request
GET /api
--- more_headers
Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0=.abc+/
--- error_code: 401
--- response_body
{"error":"token_malformed","message":"token has characters outside base64url"}

=== TEST 21: a header that is not JSON
--- request
GET /api
--- more_headers
Authorization: Bearer %%NOT_JSON%%
--- error_code: 401
--- response_body
{"error":"token_malformed","message":"token is not a valid JWS"}

=== TEST 22: typ other than JWT
--- request
GET /api
--- more_headers
Authorization: Bearer %%AT_JWT%%
--- error_code: 401
--- response_body_like: "token_malformed"

=== TEST 23: a kid that is not a string
--- request
GET /api
--- more_headers
Authorization: Bearer %%KID_NUMBER%%
--- error_code: 401
--- response_body
{"error":"token_malformed","message":"kid is not a string"}
