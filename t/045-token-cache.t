# The verified-token cache: two workers, each with its own cache; what the
# cache holds never outlives a revocation, the token's exp, a key that
# left the JWKS (after a reload), nor crosses to a location with other
# rules; $omni_jwt_cache tells miss, hit or off.

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
my $jwks = $t->prefix . '/keys/idp.jwks.json';

mkdir $store or die "$store: $!";
chmod 0777, $store;

sub write_jwks {
    my (@keys) = @_;
    my @cmd = (Omni::Test::bin('omni-jwt'), 'jwks',
               map { ('--kid', $_->[0], '--secret-file', $_->[1]) } @keys);
    open my $in, '-|', @cmd or BAIL_OUT("omni-jwt jwks: $!");
    my $doc = do { local $/; <$in> };
    close $in or BAIL_OUT('omni-jwt jwks failed');
    open my $out, '>', $jwks or BAIL_OUT("$jwks: $!");
    print $out $doc;
    close $out;
}

write_jwks([ 'k1', $k->{hs32} ], [ 'k2', $k->{hs64} ]);

# reuseport spreads connections over both workers
my $http = <<"END";
omni_store $store sync=none;
omni_jwt_secret $k->{hs32};
log_format cache '\$pid \$omni_jwt_cache \$status';

server {
    listen 127.0.0.1:%%PORT1%%;
    access_log off;
    location / { return 200 "sub=\$http_x_sub\\n"; }
}

server {
    listen 127.0.0.1:%%PORT%% reuseport;
    server_name localhost;
    access_log %%PREFIX%%/cache.log cache;
    add_header X-Pid \$pid always;
    add_header X-Cache \$omni_jwt_cache always;
    proxy_set_header X-Sub \$omni_jwt_sub;

    location /api {
        omni_gateway on;
        proxy_pass http://127.0.0.1:%%PORT1%%;
    }

    location /a {
        omni_gateway on;
        omni_jwt_audience A;
        proxy_pass http://127.0.0.1:%%PORT1%%;
    }

    location /b {
        omni_gateway on;
        omni_jwt_audience B;
        proxy_pass http://127.0.0.1:%%PORT1%%;
    }

    location /other-key {
        omni_gateway on;
        omni_jwt_secret $k->{hs64};
        proxy_pass http://127.0.0.1:%%PORT1%%;
    }

    location /jwks {
        omni_gateway on;
        omni_jwt_jwks $jwks;
        proxy_pass http://127.0.0.1:%%PORT1%%;
    }
}
END

sub get {
    my ($path, $token) = @_;
    return $t->request(path => $path,
                       headers => [ [ Authorization => "Bearer $token" ] ]);
}

# sends $n requests; returns { pid => [ [status, cache, error], ... ] }
sub burst {
    my ($n, $path, $token) = @_;
    my %by_pid;

    for (1 .. $n) {
        my $r = get($path, $token);
        my ($error) = $r->{body} =~ /"error":"(\w+)"/;
        push @{ $by_pid{ $r->{headers}{'x-pid'} // '?' } },
            [ $r->{status}, $r->{headers}{'x-cache'} // '', $error // '' ];
    }

    return \%by_pid;
}

sub all { my ($by_pid) = @_; return map { @$_ } values %$by_pid }

# how many answers were as expected: status, and error code or cache state
sub count {
    my ($by_pid, $status, $what) = @_;
    return scalar grep {
        $_->[0] == $status && (!defined $what || $_->[2] eq $what
                               || $_->[1] eq $what)
    } all($by_pid);
}

sub ctl {
    system("$omnictl -d $store @_ >/dev/null") == 0
        or BAIL_OUT("omnictl @_ failed");
}

$t->start($http, workers => 2);

for (1 .. 200) {
    my @workers = $t->worker_pids;
    last if @workers == 2;
    select undef, undef, undef, 0.01;
}

# until both workers have served $path with $token, at most 60 requests
sub both_workers {
    my ($path, $token) = @_;
    my %all;

    for (1 .. 6) {
        my $b = burst(10, $path, $token);
        push @{ $all{$_} }, @{ $b->{$_} } for keys %$b;
        last if keys %all >= 2;
    }

    return \%all;
}

# miss, then hit, in each worker
my $token = mint(alg => 'HS256', key => $k->{hs32}, sub => 'ivy',
                 jti => 'cache-1');
my $seen = both_workers('/api', $token);

is(scalar keys %$seen, 2, 'both workers served the token');
is(count($seen, 200), scalar all($seen), 'every request passed');

for my $pid (sort keys %$seen) {
    my @cache = map { $_->[1] } @{ $seen->{$pid} };
    is($cache[0], 'miss', "worker $pid: the first request verifies in full");
    is_deeply([ @cache[1 .. $#cache] ], [ ('hit') x $#cache ],
              "worker $pid: the next ones are hits");
}

like(Omni::Jwt::slurp($t->prefix . '/cache.log'),
     qr/^\d+ miss 200\n(?:.*\n)*\d+ hit 200$/m,
     '$omni_jwt_cache reaches the access log');

# a revocation holds at once, though the token sits in both caches
ctl('revoke', 'jti', 'cache-1');
$seen = both_workers('/api', $token);

is(scalar keys %$seen, 2, 'revoked: both workers asked');

for my $pid (sort keys %$seen) {
    my @r = @{ $seen->{$pid} };
    is(scalar(grep { $_->[0] == 401 && $_->[2] eq 'token_revoked' } @r),
       scalar @r, "worker $pid: every request refused as token_revoked");
    is($r[0][1], 'hit', "worker $pid: ...though the cache knew the token");
}

# a token that expires while cached is refused after its exp (leeway 0)
my $exp = time + 3;
my $short = mint(alg => 'HS256', key => $k->{hs32}, sub => 'ivy',
                 exp => $exp);
$seen = both_workers('/api', $short);
is(count($seen, 200), scalar all($seen),
   'a short-lived token passes while it lives');
ok(count($seen, 200, 'hit'), '...from the cache');

select undef, undef, undef, 0.1 while time < $exp;

$seen = both_workers('/api', $short);
is(scalar keys %$seen, 2, 'expired: both workers asked');
is(count($seen, 401, 'token_expired'), scalar all($seen),
   '...and both refuse it as token_expired');

# the same token under rules it does not meet: no crossing
my $aud_a = mint(alg => 'HS256', key => $k->{hs32}, sub => 'ivy', aud => 'A');
$seen = both_workers('/a', $aud_a);
is(count($seen, 200), scalar all($seen), 'audience A passes at /a');
ok(count($seen, 200, 'hit'), '...and is cached there');

$seen = both_workers('/b', $aud_a);
is(count($seen, 401, 'audience_mismatch'), scalar all($seen),
   '...never at /b');
is(count($seen, 401, 'miss'), scalar all($seen),
   '...whose cache entries are its own');

$seen = both_workers('/other-key', $aud_a);
is(count($seen, 401, 'alg_not_allowed') + count($seen, 401,
                                                 'signature_invalid'),
   scalar all($seen), '...nor where another key is configured');

is(get('/a', $aud_a)->{status}, 200, '...while /a still takes it');

# a key that leaves the JWKS: a reload starts new workers with new caches
my $by_k2 = mint(alg => 'HS256', key => $k->{hs64}, kid => 'k2', sub => 'ivy');
$seen = both_workers('/jwks', $by_k2);
is(count($seen, 200), scalar all($seen), 'a token of the JWKS key k2 passes');
ok(count($seen, 200, 'hit'), '...and is cached');

write_jwks([ 'k1', $k->{hs32} ]);
$t->reload($http, workers => 2);

$seen = both_workers('/jwks', $by_k2);
is(count($seen, 401, 'key_unknown'), scalar all($seen),
   'k2 gone after the reload: key_unknown');

# omni_jwt_cache off: every request verifies in full
(my $off = $http) =~ s/^(omni_store .*)$/$1\nomni_jwt_cache off;/m;
$t->reload($off, workers => 2);

my $plain = mint(alg => 'HS256', key => $k->{hs32}, sub => 'ivy');
$seen = burst(6, '/api', $plain);
is(count($seen, 200), 6, 'omni_jwt_cache off: tokens pass');
is(count($seen, 200, 'off'), 6, '...and $omni_jwt_cache says off');

my $r = $t->request(path => '/api');
is($r->{headers}{'x-cache'}, undef, 'no token: $omni_jwt_cache is empty');

# the directives are checked by nginx -t
my @bad = (
    [ 'omni_jwt_cache size=0;', qr/invalid value in "size=0" of "omni_jwt_cache"/ ],
    [ 'omni_jwt_cache size=10 bytes=1k;', qr/invalid value in "bytes=1k"/ ],
    [ 'omni_jwt_cache ttl=forever;', qr/invalid value in "ttl=forever"/ ],
    [ 'omni_jwt_cache ttl=2d;', qr/invalid value in "ttl=2d"/ ],
    [ 'omni_jwt_cache colour=blue;', qr/invalid parameter "colour=blue" in "omni_jwt_cache"/ ],
    [ 'omni_jwt_cache off size=10;', qr/invalid parameter "off" in "omni_jwt_cache"/ ],
    [ "omni_jwt_cache off;\nomni_jwt_cache size=10;", qr/"omni_jwt_cache" directive is duplicate/ ],
    [ "server { location / { omni_jwt_cache off; } }", qr/"omni_jwt_cache" directive is not allowed here/ ],
);

for my $case (@bad) {
    my ($ok, $out) = $t->test_config("omni_jwt_secret $k->{hs32};\n$case->[0]");
    ok(!$ok, "nginx -t refuses: $case->[0]");
    like($out, $case->[1], '...naming the problem');
}

ok(scalar $t->test_config("omni_jwt_secret $k->{hs32};\n"
                          . 'omni_jwt_cache size=100 bytes=1m ttl=30s;'),
   'a valid omni_jwt_cache passes nginx -t');

done_testing();
