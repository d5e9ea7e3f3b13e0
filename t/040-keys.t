# Key rotation, JWKS with RSA, EC and oct keys, and key inheritance.

use strict;
use warnings;

use lib 't/lib';
use Test::More;
use Omni::Test;
use Omni::Jwt qw(keygen mint);

my $t = Omni::Test->new;
my $k = keygen($t->prefix . '/keys');
my $jwks = $t->prefix . '/keys/idp.jwks.json';

my @jwks_cmd = (Omni::Test::bin('omni-jwt'), 'jwks',
    '--kid', 'rsa-2026', $k->{rsa}{pub},
    '--kid', 'ec-2026', '--alg', 'ES256', $k->{ec256}{pub},
    '--kid', 'hs-2026', '--secret-file', $k->{hs32},
    '--kid', 'enc-key', '--use', 'enc', $k->{rsa2}{pub});
open my $in, '-|', @jwks_cmd or BAIL_OUT("omni-jwt jwks: $!");
my $doc = do { local $/; <$in> };
close $in or BAIL_OUT('omni-jwt jwks failed');
open my $out, '>', $jwks or BAIL_OUT("$jwks: $!");
print $out $doc;
close $out;

$t->set_var(JWKS => $jwks);
$t->set_var(UPSTREAM => <<'END');
server {
    listen 127.0.0.1:%%PORT1%%;
    location / { return 200 "sub=$http_x_sub kid=$http_x_kid\n"; }
}
END
$t->set_var(FORWARD => 'proxy_set_header X-Sub $omni_jwt_sub; '
    . 'proxy_set_header X-Kid $omni_jwt_kid; '
    . 'proxy_pass http://127.0.0.1:%%PORT1%%;');
$t->set_var(ROTATION => "omni_jwt_key $k->{rsa}{pub} kid=old;\n"
    . "omni_jwt_key $k->{rsa2}{pub} kid=new;");
$t->set_var(ROTATION_NOKID => "omni_jwt_key $k->{rsa}{pub};\n"
    . "omni_jwt_key $k->{rsa2}{pub};");

$t->set_var(OLD => mint(alg => 'RS256', key => $k->{rsa}{key}, kid => 'old',
                        sub => 'signed-by-old'));
$t->set_var(NEW => mint(alg => 'RS256', key => $k->{rsa2}{key},
                        kid => 'new', sub => 'signed-by-new'));
$t->set_var(OLD_NOKID => mint(alg => 'RS256', key => $k->{rsa}{key},
                              sub => 'old-nokid'));
$t->set_var(NEW_NOKID => mint(alg => 'RS256', key => $k->{rsa2}{key},
                              sub => 'new-nokid'));
$t->set_var(J_RSA => mint(alg => 'RS512', key => $k->{rsa}{key},
                          kid => 'rsa-2026', sub => 'jwks-rsa'));
$t->set_var(J_EC => mint(alg => 'ES256', key => $k->{ec256}{key},
                         kid => 'ec-2026', sub => 'jwks-ec'));
$t->set_var(J_HS => mint(alg => 'HS256', key => $k->{hs32},
                         kid => 'hs-2026', sub => 'jwks-hs'));
$t->set_var(J_ENC => mint(alg => 'RS256', key => $k->{rsa2}{key},
                          kid => 'enc-key', sub => 'jwks-enc'));
$t->set_var(HS_TOKEN => mint(alg => 'HS256', key => $k->{hs32},
                             sub => 'hs-user'));
$t->set_var(HS_KEY => $k->{hs32});
$t->set_var(EC_PUB => $k->{ec256}{pub});
$t->set_var(EC_TOKEN => mint(alg => 'ES256', key => $k->{ec256}{key},
                             sub => 'ec-user'));

$t->block_defaults(http_config => <<'END');
omni_jwt_jwks %%JWKS%%;
%%UPSTREAM%%
END

$t->block_defaults(config => <<'END');
location /api { omni_gateway on; %%FORWARD%% }
END

run_blocks($t);

done_testing();

__DATA__

=== TEST 1: rotation: the old key's tokens still pass
--- http_config
%%ROTATION%%
%%UPSTREAM%%
--- request
GET /api
--- more_headers
Authorization: Bearer %%OLD%%
--- error_code: 200
--- response_body
sub=signed-by-old kid=old

=== TEST 2: rotation: the new key's tokens pass
--- http_config
%%ROTATION%%
%%UPSTREAM%%
--- request
GET /api
--- more_headers
Authorization: Bearer %%NEW%%
--- error_code: 200
--- response_body
sub=signed-by-new kid=new

=== TEST 3: rotation without kids: every pinned key is tried
--- http_config
%%ROTATION_NOKID%%
%%UPSTREAM%%
--- request
GET /api
--- more_headers
Authorization: Bearer %%NEW_NOKID%%
--- error_code: 200
--- response_body
sub=new-nokid kid=

=== TEST 4: the old key retired: its tokens fail
--- http_config
omni_jwt_key %%PREFIX%%/keys/rsa2.pub;
%%UPSTREAM%%
--- request
GET /api
--- more_headers
Authorization: Bearer %%OLD_NOKID%%
--- error_code: 401
--- response_body_like: "signature_invalid"

=== TEST 5: JWKS RSA key
--- request
GET /api
--- more_headers
Authorization: Bearer %%J_RSA%%
--- error_code: 200
--- response_body
sub=jwks-rsa kid=rsa-2026

=== TEST 6: JWKS EC key
--- request
GET /api
--- more_headers
Authorization: Bearer %%J_EC%%
--- error_code: 200
--- response_body
sub=jwks-ec kid=ec-2026

=== TEST 7: JWKS oct key
--- request
GET /api
--- more_headers
Authorization: Bearer %%J_HS%%
--- error_code: 200
--- response_body
sub=jwks-hs kid=hs-2026

=== TEST 8: JWKS encryption keys never verify
--- request
GET /api
--- more_headers
Authorization: Bearer %%J_ENC%%
--- error_code: 401
--- response_body_like: "key_unknown"

=== TEST 9: JWKS mixed with a PEM key and a secret
--- http_config
omni_jwt_jwks %%JWKS%%;
omni_jwt_secret %%HS_KEY%% kid=local;
%%UPSTREAM%%
--- request
GET /api
--- more_headers
Authorization: Bearer %%HS_TOKEN%%
--- error_code: 200
--- response_body
sub=hs-user kid=

=== TEST 10: keys set in a location replace the inherited ones
--- http_config
omni_jwt_secret %%HS_KEY%%;
%%UPSTREAM%%
--- config
location /api { omni_gateway on; omni_jwt_key %%EC_PUB%%; %%FORWARD%% }
location /hs { omni_gateway on; %%FORWARD%% }
--- request
GET /api
--- more_headers
Authorization: Bearer %%HS_TOKEN%%
--- error_code: 401
--- response_body_like: "alg_not_allowed"

=== TEST 11: ...and the location's own key works there
--- http_config
omni_jwt_secret %%HS_KEY%%;
%%UPSTREAM%%
--- config
location /api { omni_gateway on; omni_jwt_key %%EC_PUB%%; %%FORWARD%% }
location /hs { omni_gateway on; %%FORWARD%% }
--- request
GET /api
--- more_headers
Authorization: Bearer %%EC_TOKEN%%
--- error_code: 200
--- response_body
sub=ec-user kid=

=== TEST 12: ...while a sibling location keeps the inherited key
--- http_config
omni_jwt_secret %%HS_KEY%%;
%%UPSTREAM%%
--- config
location /api { omni_gateway on; omni_jwt_key %%EC_PUB%%; %%FORWARD%% }
location /hs { omni_gateway on; %%FORWARD%% }
--- request
GET /hs
--- more_headers
Authorization: Bearer %%HS_TOKEN%%
--- error_code: 200
--- response_body
sub=hs-user kid=
