# Configuration errors: nginx -t fails with a message that names the file
# and the problem.

use strict;
use warnings;

use lib 't/lib';
use Test::More;
use Omni::Test;
use Omni::Jwt qw(keygen);

my $t = Omni::Test->new;
my $k = keygen($t->prefix . '/keys');

$t->write_file('keys/garbage.pem', "this is not a key\n");
$t->write_file('keys/short.key', 'only-ten-b');
$t->write_file('keys/empty.key', '');
$t->write_file('keys/bad.jwks', qq({"keys": [ {"kty": "RSA", }\n));
$t->write_file('keys/nokeys.jwks', '{"issuer": "x"}');
$t->write_file('keys/okp.jwks',
    '{"keys":[{"kty":"OKP","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}]}');
$t->write_file('keys/offcurve.jwks',
    '{"keys":[{"kty":"EC","crv":"P-256","x":"' . ('A' x 42) . 'E",'
    . '"y":"' . ('A' x 42) . 'E"}]}');
$t->write_file('keys/dupkid.jwks', '{"keys":[{"kty":"oct","kid":"a","k":"'
    . ('Q' x 43) . '"},{"kty":"oct","kid":"a","k":"' . ('g' x 43) . '"}]}');

$t->set_var(RSA_PUB => $k->{rsa}{pub});
$t->set_var(RSA_KEY => $k->{rsa}{key});
$t->set_var(EC_PUB => $k->{ec256}{pub});
$t->set_var(HS => $k->{hs32});

$t->block_defaults(config => <<'END');
location / { omni_gateway on; }
END

run_blocks($t);

# the same mistakes as reloads of the control's nginx, which goes on
$t->must_die_reloads;
is($t->get('/')->{status}, 204, 'the control configuration still serves');

done_testing();

__DATA__

=== TEST 1: a missing key file
--- http_config
omni_jwt_key %%PREFIX%%/keys/missing.pub;
--- must_die
--- error_log
/keys/missing.pub": No such file or directory

=== TEST 2: a file that is no PEM key
--- http_config
omni_jwt_key %%PREFIX%%/keys/garbage.pem;
--- must_die
--- error_log
/keys/garbage.pem" is not a PEM public key or certificate

=== TEST 3: a private key where the public one belongs
--- http_config
omni_jwt_key %%RSA_KEY%%;
--- must_die
--- error_log
holds a private key; give the public key

=== TEST 4: an unknown algorithm
--- http_config
omni_jwt_key %%RSA_PUB%% alg=RS256,RS257;
--- must_die
--- error_log
unknown algorithm "RS257" in "alg=RS256,RS257"

=== TEST 5: alg none cannot be pinned
--- http_config
omni_jwt_secret %%HS%% alg=none;
--- must_die
--- error_log
unknown algorithm "none"

=== TEST 6: an RSA key pinned to HMAC
--- http_config
omni_jwt_key %%RSA_PUB%% alg=HS256;
--- must_die
--- error_log
can only be pinned to RS256, RS384 or RS512

=== TEST 7: an EC key pinned to another curve's algorithm
--- http_config
omni_jwt_key %%EC_PUB%% alg=ES384;
--- must_die
--- error_log
can only be pinned to ES256, the algorithm of its curve

=== TEST 8: a public key given as an HMAC secret
--- http_config
omni_jwt_secret %%RSA_PUB%%;
--- must_die
--- error_log
holds a PEM document; use omni_jwt_key for public keys

=== TEST 9: a secret that is too short
--- http_config
omni_jwt_secret %%PREFIX%%/keys/short.key;
--- must_die
--- error_log
/keys/short.key is 10 bytes, HS256 needs at least 32

=== TEST 10: an empty secret
--- http_config
omni_jwt_secret %%PREFIX%%/keys/empty.key;
--- must_die
--- error_log
/keys/empty.key" is empty

=== TEST 11: a JWKS that is not JSON
--- http_config
omni_jwt_jwks %%PREFIX%%/keys/bad.jwks;
--- must_die
--- error_log
invalid JSON in JWKS
/keys/bad.jwks" at line 1

=== TEST 12: a JWKS without keys
--- http_config
omni_jwt_jwks %%PREFIX%%/keys/nokeys.jwks;
--- must_die
--- error_log
/keys/nokeys.jwks" has no "keys" array

=== TEST 13: a JWKS key of an unsupported type
--- http_config
omni_jwt_jwks %%PREFIX%%/keys/okp.jwks;
--- must_die
--- error_log
/keys/okp.jwks#0: unsupported "kty" "OKP"

=== TEST 14: a JWKS EC point off its curve
--- http_config
omni_jwt_jwks %%PREFIX%%/keys/offcurve.jwks;
--- must_die
--- error_log
/keys/offcurve.jwks#0

=== TEST 15: a kid used twice
--- http_config
omni_jwt_jwks %%PREFIX%%/keys/dupkid.jwks;
--- must_die
--- error_log
duplicate kid "a", also used by

=== TEST 16: omni_gateway on without any key
--- must_die
--- error_log
JWT authentication is on but no key is configured

=== TEST 17: a duplicate directive
--- http_config
omni_jwt_secret %%HS%%;
omni_jwt_leeway 10s;
omni_jwt_leeway 20s;
--- must_die
--- error_log
"omni_jwt_leeway" directive is duplicate

=== TEST 18: omni_gateway twice
--- http_config
omni_jwt_secret %%HS%%;
--- config
location / { omni_gateway on; omni_gateway off; }
--- must_die
--- error_log
"omni_gateway" directive is duplicate

=== TEST 19: an unknown key parameter
--- http_config
omni_jwt_key %%RSA_PUB%% use=sig;
--- must_die
--- error_log
invalid parameter "use=sig"

=== TEST 20: a roles path with an empty component
--- http_config
omni_jwt_secret %%HS%%;
omni_jwt_roles_claim realm_access..roles;
--- must_die
--- error_log
"omni_jwt_roles_claim" directive has an empty path component

=== TEST 21: a token cap out of bounds
--- http_config
omni_jwt_secret %%HS%%;
omni_jwt_max_length 10;
--- must_die
--- error_log
value must be between 64 and 1048576

=== TEST 22: a valid configuration starts (control)
--- http_config
omni_jwt_secret %%HS%% kid=a alg=HS256;
omni_jwt_key %%RSA_PUB%% kid=b;
omni_jwt_key %%EC_PUB%% kid=c alg=ES256;
--- config
location / { omni_gateway on; return 204; }
--- request
GET /
--- error_code: 204
