# Revocations in the shared LMDB store: omnictl writes them while nginx
# runs and the very next request is refused, in whichever worker.

use strict;
use warnings;

use lib 't/lib';
use Test::More;
use Omni::Test;
use Omni::Jwt qw(keygen mint);

my $t = Omni::Test->new;
my $k = keygen($t->prefix . '/keys');
my $store = $t->prefix . '/store';
my $omnictl = Omni::Test::bin('omnictl');

mkdir $store or die "$store: $!";
chmod 0777, $store;   # whichever user the workers run as creates the files

my $http = <<"END";
omni_store $store sync=none;
omni_jwt_secret $k->{hs32};

server {
    listen 127.0.0.1:%%PORT1%%;
    location / { return 200 "sub=\$http_x_sub\\n"; }
}

server {
    listen 127.0.0.1:%%PORT%%;
    server_name localhost;

    location /api {
        omni_gateway on;
        proxy_set_header X-Sub \$omni_jwt_sub;
        proxy_pass http://127.0.0.1:%%PORT1%%;
    }
}
END

$t->start($http, workers => 2);

my $now = time;
my $tok1 = mint(alg => 'HS256', key => $k->{hs32}, sub => 'erin', jti => 'tok-1');
my $tok2 = mint(alg => 'HS256', key => $k->{hs32}, sub => 'erin', jti => 'tok-2');
my $old = mint(alg => 'HS256', key => $k->{hs32}, sub => 'frank',
               iat => $now - 100);
my $new = mint(alg => 'HS256', key => $k->{hs32}, sub => 'frank',
               iat => $now - 10);

sub get {
    my ($token) = @_;
    return $t->request(path => '/api',
                       headers => [ [ Authorization => "Bearer $token" ] ]);
}

sub ctl {
    system("$omnictl -d $store @_ >/dev/null") == 0
        or BAIL_OUT("omnictl @_ failed");
}

is(get($tok1)->{status}, 200, 'a token passes before any revocation');

ctl('revoke', 'jti', 'tok-1');

for my $i (1 .. 6) {
    my $r = get($tok1);
    is($r->{status}, 401, "revoked by jti, request $i");
    like($r->{body}, qr/"error":"token_revoked"/, "token_revoked, request $i")
        if $i == 1;
}

is(get($tok2)->{status}, 200, 'another token of the same subject passes');

ctl('revoke', 'subject', 'frank', $now - 50);
is(get($old)->{status}, 401, 'tokens issued before the subject revocation fail');
is(get($new)->{status}, 200, 'tokens issued after it pass');

ctl('unrevoke', 'jti', 'tok-1');
is(get($tok1)->{status}, 200, 'unrevoked: the token passes again');

# a token naming its session ("sid") dies with that session
my $in_session = mint(alg => 'HS256', key => $k->{hs32}, sub => 'gina',
                      claim => 'sid=s-gina-1');
is(get($in_session)->{status}, 200, 'a token with a sid passes');
ctl('revoke', 'session', 's-gina-1');
my $r = get($in_session);
is($r->{status}, 401, 'revoking its session revokes the token');
like($r->{headers}{'www-authenticate'} . $r->{body}, qr/the token's session is revoked/,
     '...saying why');

# a sid no revocation can name hides nothing else
my $odd = mint(alg => 'HS256', key => $k->{hs32}, sub => 'hank', jti => 'tok-odd',
               claim => 'sid=not/an id');
is(get($odd)->{status}, 200, 'a sid outside the id alphabet passes');
ctl('revoke', 'jti', 'tok-odd');
is(get($odd)->{status}, 401, '...and its jti revocation still holds');

my $list = `$omnictl -d $store revocations`;
like($list, qr/^subject frank @{[ $now - 50 ]}$/m,
     'omnictl lists the revocation');

like($t->error_log, qr/token rejected: token_revoked \(token is revoked\), sub: "erin"/,
     'one info line per refusal');

my ($ok, $out) = $t->test_config(<<"END");
omni_store $store/missing;
END
ok(!$ok, 'a missing store directory fails nginx -t');
like($out, qr/omni_store directory ".*\/missing" is not there/, '...naming it');

($ok, $out) = $t->test_config("omni_store $store sync=sometimes;");
ok(!$ok, 'an unknown sync mode fails nginx -t');
like($out, qr/invalid parameter "sync=sometimes"/, '...naming it');

($ok, $out) = $t->test_config("omni_store $store max=10k;");
ok(!$ok, 'a tiny map fails nginx -t');
like($out, qr/invalid omni_store size "max=10k"/, '...naming it');

done_testing();
