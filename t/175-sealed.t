# A store sealed with its keyring (issue 13), through a real nginx:
# requests on the web, miniprogram and IVR channels carry a JWT subject,
# an openid, a phone number and a session context; then neither the raw
# data.mdb nor an export holds any of them in clear, while lookups,
# resume, merge and admin reads still work.  Tampered records are
# refused, never served; an erased customer is gone for lookups, admin
# reads and the import of an older export; a KEK rotation with its
# rewrap runs while a request loop goes on without a failure.

use strict;
use warnings;

use lib 't/lib';
use Digest::SHA qw(hmac_sha1_base64);
use JSON::PP;
use MIME::Base64 qw(decode_base64 encode_base64);
use Test::More;
use Omni::Test;
use Omni::Jwt qw(keygen mint);

my $t = Omni::Test->new;
my $k = keygen($t->prefix . '/keys');
my $repo = Omni::Test::repo_root();
my $store = $t->prefix . '/store';
my $omnictl = Omni::Test::bin('omnictl');
my $json = JSON::PP->new->canonical;
my $keyring = $t->prefix . '/keyring.json';
my $twilio = '9f2c4e1a7b3d5f6081a2c3d4e5f60718';

mkdir $store or die "$store: $!";
chmod 0777, $store;

my $out = `$omnictl keys init $keyring 2>&1`;
die "keys init: $out" if $?;

# the values that must never be found in clear
my $phone = '+8613800001111';
my $openid = 'oSECRET-openid-5521';
my $sub = 'alice-subject-3308';
my $marker = 'CTX-MARKER-7731';

my $http = <<"END";
omni_plugins $repo/plugins;
omni_lua_library $repo/lua;
omni_jwt_secret $k->{hs32};
omni_store $store sync=none;
omni_store_keyring $keyring;
omni_session_timeout idle=30m absolute=24h touch=1s;

server {
    listen 127.0.0.1:%%PORT1%%;
    access_log off;

    location / {
        proxy_set_header X-Contract \$request_body;
        proxy_pass http://127.0.0.1:%%PORT2%%/reply;
    }
}

server {
    listen 127.0.0.1:%%PORT2%%;
    large_client_header_buffers 4 64k;
    access_log off;

    location /reply {
        default_type application/json;
        add_header X-Omni-Context \$http_x_test_patch;
        return 200 '{"ok":true,"data":{"contract":\$http_x_contract}}';
    }
}

server {
    listen 127.0.0.1:%%PORT%%;
    server_name localhost;

    proxy_method POST;
    proxy_set_header Content-Type application/json;
    proxy_set_header Authorization "";
    proxy_set_body \$omni_contract;
    add_header X-Customer \$omni_customer always;
    add_header X-Session \$omni_session always;

    location /web/ {
        omni_channel web;
        omni_customers create;
        omni_session on;
        omni_journey on;
        proxy_pass http://127.0.0.1:%%PORT1%%;
    }

    location /miniprogram/ {
        omni_channel miniprogram;
        omni_auth off;
        omni_customers resolve;
        omni_session on;
        proxy_pass http://127.0.0.1:%%PORT1%%;
    }

    location /ivr/ {
        omni_channel ivr;
        omni_auth plugin;
        omni_plugin_set auth_token $twilio;
        omni_plugin_set base_url https://gw.example.com;
        omni_customers resolve;
        omni_session on;
        proxy_pass http://127.0.0.1:%%PORT1%%;
    }
}
END

$t->start($http, workers => 2);

sub token { mint(alg => 'HS256', key => $k->{hs32}, sub => $_[0]) }

sub contract {
    my ($r) = @_;
    my $d = eval { decode_json($r->{body}) } or return undef;
    return $d->{data}{contract};
}

sub web {
    my (%h) = @_;
    my $r = $t->request(path => '/web/orders/ORD-1',
                        headers => [ [ Authorization => 'Bearer ' . token($sub) ],
                                     map { [ $_ => $h{$_} ] } sort keys %h ]);
    return ($r, contract($r));
}

sub miniprogram {
    my $r = $t->request(method => 'POST', path => '/miniprogram/coupon/claim',
                        headers => [ [ 'Content-Type' => 'application/json' ] ],
                        body => qq({"data":{"coupon_id":"C1"},"openid":"$openid"}));
    return ($r, contract($r));
}

# a Twilio call from the phone: the signature over the URL and the sorted form
sub ivr {
    my %form = (CallSid => 'CA' . ('1' x 32), AccountSid => 'AC' . ('2' x 32),
                From => $phone, To => '+18005550199', CallStatus => 'ringing',
                ApiVersion => '2010-04-01');
    my $sign = 'https://gw.example.com/ivr/voice'
               . join('', map { $_ . $form{$_} } sort keys %form);
    my $sig = hmac_sha1_base64($sign, $twilio);
    $sig .= '=' while length($sig) % 4;
    my $body = join('&', map { my $v = $form{$_}; $v =~ s/\+/%2B/g; "$_=$v" }
                         sort keys %form);
    return $t->request(method => 'POST', path => '/ivr/voice',
                       headers => [ [ 'Content-Type' => 'application/x-www-form-urlencoded' ],
                                    [ 'X-Twilio-Signature' => $sig ] ],
                       body => $body);
}

sub ctl {
    my $o = `$omnictl -d $store --keyring $keyring @_ 2>&1`;
    return ($? >> 8, (eval { decode_json($o) } || $o));
}

sub ok_ctl {
    my ($rc, $res) = ctl(@_);
    is($rc, 0, "omnictl @_") or diag(ref $res ? $json->encode($res) : $res);
    return $res;
}

sub slurp {
    open my $fh, '<:raw', $_[0] or die "$_[0]: $!";
    local $/;
    return <$fh>;
}

# every plaintext value, and the ways an index could spell them
sub clear_values {
    my ($data) = @_;
    return grep { index($data, $_) >= 0 }
           ($phone, substr($phone, 1), $openid, $sub, $marker);
}

# --- requests on three channels ---

my ($r, $c) = web('X-Test-Patch' => qq({"cart":"$marker"}));
is($r->{status}, 200, 'web: a sealed store serves');
my $alice = $c->{customer}{id};
my $sid = $c->{session}{id};
like($alice, qr/^[0-9a-f]{32}$/, 'web: a new customer');

($r, $c) = web();
is($c->{session}{id}, $sid, 'web: the session is resumed');
is($c->{session}{context}{cart}, $marker, 'web: its context opens');

ok_ctl('link', 'phone', '0086-138-0000-1111', $alice);
$r = ivr();
is($r->{status}, 200, 'ivr: the call is answered');
is($r->{headers}{'x-customer'}, $alice,
   'ivr: the caller\'s E.164 number finds the customer linked by another spelling');
is($r->{headers}{'x-session'}, $sid, 'ivr: ...and resumes the session');

# the openid belongs to a second customer, merged into alice
ok_ctl('link', 'wechat_openid', $openid, 'second-account');
($r, $c) = miniprogram();
is($c->{customer}{id}, 'second-account', 'miniprogram: the openid resolves');
ok_ctl('merge', 'second-account', $alice);
($r, $c) = miniprogram();
is($c->{customer}{id}, $alice, 'miniprogram: after the merge, the survivor');
is($c->{session}{id}, $sid, 'miniprogram: ...and its session');
is($c->{session}{context}{cart}, $marker, 'miniprogram: ...with its context');

# --- admin reads open what the requests sealed ---

my $res = ok_ctl('resolve', 'phone', $phone);
is($res->{customer}, $alice, 'omnictl resolve finds the phone');
$res = ok_ctl('identities', $alice);
my %ids = map { ($_->{type} => $_->{value}) } @{ $res->{identities} };
is($ids{phone}, $phone, 'identities: the phone, normalised');
is($ids{wechat_openid}, $openid, 'identities: the openid, moved by the merge');
is($ids{jwt_sub}, $sub, 'identities: the JWT subject');
$res = ok_ctl('session', $sid);
is($res->{context}{cart}, $marker, 'session: the context');

my ($rc, $err) = ctl('link', 'phone', '13800001111', $alice);
is($rc, 1, 'a phone number without its country code: refused');
like($err, qr/must be a phone number in E\.164/, '...saying what it must be');

# --- nothing in clear: the raw store and an export ---

my @found = clear_values(slurp("$store/data.mdb"));
is_deeply(\@found, [], 'data.mdb holds none of the values in clear');

ok_ctl('export', $t->prefix . '/before.export');
my $export = slurp($t->prefix . '/before.export');
my $decoded = join "\n", map { decode_base64($_) } $export =~ /"(?:key|value)":"([^"]*)"/g;
@found = clear_values($export . $decoded);
is_deeply(\@found, [], 'the export holds none of them either');

# --- without the keyring: refused ---

my $o = `$omnictl -d $store resolve phone '$phone' 2>&1`;
is($? >> 8, 1, 'omnictl without the keyring: refused');
like($o, qr/was made with keyring/, '...it says which keyring it needs');

# --- tampering: refused, never served ---

my @lines = split /\n/, $export;

# a line of the export, decoded: (index, db, key, value)
sub record_of {
    my ($db, $key) = @_;
    for my $i (1 .. $#lines) {
        my $l = decode_json($lines[$i]);
        next unless $l->{db} eq $db;
        my $k = decode_base64($l->{key});
        return ($i, $k, decode_base64($l->{value})) if $k eq $key;
    }
    return;
}

sub import_lines {
    my ($name, @l) = @_;
    my $file = $t->prefix . "/$name.export";
    open my $fh, '>', $file or die "$file: $!";
    print $fh join("\n", @l), "\n";
    close $fh;
    return ctl('import', $file);
}

sub line_of {
    my ($db, $key, $value) = @_;
    return $json->encode({ db => $db, key => encode_base64($key, ''),
                           value => encode_base64($value, '') });
}

my (undef, undef, $session) = record_of('sessions', $sid);
ok(defined $session, 'the export has the session');
my $flipped = $session;
substr($flipped, -3, 1) ^= "\x01";
($rc) = import_lines('flip', $lines[0], line_of('sessions', $sid, $flipped));
is($rc, 0, 'a flipped byte imports (the store does not look inside)');
($rc, $err) = ctl('session', $sid);
is($rc, 1, 'a flipped byte: the admin read fails');
like($err, qr/does not open/, '...saying it does not open');
unlike($err, qr/\Q$marker\E/, '...and nothing of the context');
($r, $c) = web();
unlike($r->{body}, qr/\Q$marker\E/, 'a request never carries the tampered context');

($rc) = import_lines('cut', $lines[0],
                     line_of('sessions', $sid, substr($session, 0, -7)));
($rc, $err) = ctl('session', $sid);
is($rc, 1, 'a cut record: refused');

# another customer's session, its context sealed under its data key, put
# in alice's place
$r = $t->request(path => '/web/orders/ORD-2',
                 headers => [ [ Authorization => 'Bearer ' . token('bob-3') ],
                              [ 'X-Test-Patch' => '{"bob":"context"}' ] ]);
my $bob_sid = contract($r)->{session}{id};
web();
ctl('export', $t->prefix . '/now.export');
@lines = split /\n/, slurp($t->prefix . '/now.export');
my ($other_line) = grep { my $l = decode_json($_);
                          $l->{db} eq 'sessions' && decode_base64($l->{key}) eq $bob_sid }
                   @lines[1 .. $#lines];
SKIP: {
    skip 'no second session', 4 unless defined $other_line;
    my $other_session = decode_base64(decode_json($other_line)->{value});
    import_lines('swap', $lines[0], line_of('sessions', $sid, $other_session));
    ($rc, $err) = ctl('session', $sid);
    is($rc, 1, 'a session of another customer in its place: refused');
    like($err, qr/does not open/, '...it does not open');
    ($r, $c) = web();
    unlike($r->{body}, qr/\Q$marker\E/, '...and no request is served its context');
    ok($t->is_running, '...nor does nginx fall');
}

# a data key imported over the store's is not taken: the store keeps its own
my (undef, undef, $alice_dk) = record_of('customers', "$alice\0K");
my $bad_dk = $alice_dk;
substr($bad_dk, 10, 1) ^= "\x01";
($rc, $res) = import_lines('dk', $lines[0], line_of('customers', "$alice\0K", $bad_dk));
is($rc, 0, 'an import carrying a data key the store has passes');
$res = ok_ctl('identities', $alice);
ok(@{ $res->{identities} } >= 3, '...and the store kept its own: the identities open');

# the session record put back as exported: it opens again
import_lines('restore', $lines[0], line_of('sessions', $sid, $session));
$res = ok_ctl('session', $sid);
is($res->{context}{cart}, $marker, 'restored, the session opens again');
ok($t->is_running, 'nginx is still up');

# --- rotation while requests go on ---

my $before = ok_ctl('keys', 'status');
is_deeply($before->{store}{kek_in_use}[0]{version}, 1, 'every data key is on KEK 1');

$t->clients(2, sub {
    my ($cl, $i) = @_;
    my ($rr) = web();
    return ($rr->{status} // 0) == 200 ? 'ok' : "status " . ($rr->{status} // 'none');
});

ok_ctl('keys', 'rotate', '--kek');
$t->reload($http, workers => 2);
my $rw = ok_ctl('keys', 'rewrap');
ok($rw->{rewrapped} >= 2, 'keys rewrap re-wraps every data key');
is_deeply([ map { $_->{version} } @{ $rw->{kek_in_use} } ], [ 2 ],
          '...and KEK 2 alone wraps them now');

ok($t->stop_clients, 'the clients stop');
my @lines_done = $t->client_lines;
my @failed = grep { $_->[1] ne 'ok' } @lines_done;
ok(@lines_done >= 10, 'requests ran during the rotation (' . scalar(@lines_done) . ')');
is(scalar @failed, 0, 'no request failed during the rotation')
    or diag(join "\n", map { $_->[1] } @failed[0 .. 4]);

($r, $c) = web();
is($c->{session}{context}{cart}, $marker, 'after the rotation the context opens');
$res = ok_ctl('resolve', 'wechat_openid', $openid);
is($res->{customer}, $alice, '...and the openid resolves');

# --- index-key rotation while requests go on: both indexes readable ---

$t->clients(2, sub {
    my ($cl, $i) = @_;
    my ($rr, $cc) = $cl == 1 ? web() : miniprogram();
    return ($rr->{status} // 0) == 200 && ($cc->{customer}{id} // '') eq $alice
           ? 'ok' : "status " . ($rr->{status} // 'none');
});

ok_ctl('keys', 'rotate', '--index');
$t->reload($http, workers => 2);
my $ri = ok_ctl('keys', 'reindex');
ok($ri->{reindexed} >= 3, 'keys reindex moves every identity');
is_deeply([ @$ri{qw(from index)} ], [ 1, 2 ], '...from index version 1 to 2');

ok($t->stop_clients, 'the clients stop');
@lines_done = $t->client_lines;
@failed = grep { $_->[1] ne 'ok' } @lines_done;
ok(@lines_done >= 10, 'requests ran during the rebuild (' . scalar(@lines_done) . ')');
is(scalar @failed, 0, 'every request found its customer during the rebuild')
    or diag(join "\n", map { $_->[1] } @failed[0 .. 4]);

my $st = ok_ctl('keys', 'status');
is($st->{store}{index}, 2, 'keys status: the map is keyed by index version 2');
ok(!exists $st->{store}{reindexing_to}, '...and no rebuild is left');
$res = ok_ctl('resolve', 'phone', '0086-13800001111');
is($res->{customer}, $alice, 'the phone resolves under the new index');

# --- the old versions retired, nginx reloaded with the smaller keyring ---

my ($rrc, $rerr) = ctl('keys', 'retire', 'kek', 2);
is($rrc, 1, 'keys retire: the KEK in use is refused');
like($rerr, qr/KEK version 2 still wraps \d+ data keys/, '...saying how many it wraps');
($rrc, $rerr) = ctl('keys', 'retire', 'index', 2);
is($rrc, 1, '...and so is the index key the map is keyed by');
ok_ctl('keys', 'retire', 'kek', 1);
ok_ctl('keys', 'retire', 'index', 1);
my $kr = $json->decode(slurp($keyring));
is_deeply([ map { $_->{version} } @{ $kr->{kek} }, @{ $kr->{index} } ], [ 2, 2 ],
          'the keyring keeps version 2 of each');
$t->reload($http, workers => 2);
($r, $c) = web();
is($c->{session}{context}{cart}, $marker, 'with the old versions gone the context opens');
$r = ivr();
is($r->{headers}{'x-customer'}, $alice, '...and the phone call finds the customer');

# --- crypto-erasure ---

# a second customer, so that the store keeps identities after the erasure
ok_ctl('link', 'openid', 'other-openid-77', 'bystander');
ok_ctl('export', $t->prefix . '/pre-erase.export');

$res = ok_ctl('customers', 'erase', $alice);
is($res->{erased}, JSON::PP::true, 'customers erase: done');
ok($res->{records} > 5, '...every record of the customer');

($rc, $err) = ctl('resolve', 'phone', $phone);
is($rc, 1, 'after erasure the phone resolves to nobody');
($rc, $err) = ctl('session', $sid);
is($rc, 1, '...the session is gone');
($rc, $err) = ctl('customer', $alice);
is($rc, 1, '...the customer is unknown to admin reads');
($rc, $err) = ctl('resolve', 'wechat_openid', $openid);
is($rc, 1, '...the merged customer\'s openid is gone too');

$r = ivr();
isnt($r->{headers}{'x-customer'} // '', $alice, 'the phone call finds nobody');

$o = `$omnictl -d $store --keyring $keyring import @{[ $t->prefix ]}/pre-erase.export 2>/dev/null`;
is($? >> 8, 0, 'the export from just before the erasure imports');
$res = eval { decode_json($o) } || {};
ok(($res->{skipped} // 0) > 5, '...skipping every record of the erased customer');
($rc, $err) = ctl('resolve', 'phone', $phone);
is($rc, 1, '...and the phone still resolves to nobody');
($rc, $err) = ctl('session', $sid);
is($rc, 1, '...nor does the session come back');
$res = ok_ctl('resolve', 'openid', 'other-openid-77');
is($res->{customer}, 'bystander', '...while the other customer is there');

# the first export, keyed by index version 1, into a store keyed by 2
($rc, $err) = ctl('import', $t->prefix . '/before.export');
is($rc, 1, 'an export of another index version is refused');
like($err, qr/record \d+: the identity map of the export is keyed by other index versions/,
     '...saying why');
($rc, $err) = ctl('resolve', 'phone', $phone);
is($rc, 1, '...and nothing of it is written');

my $audit = `$omnictl -d $store --keyring $keyring customers erase $alice 2>&1`;
like($audit, qr/was erased already/, 'a second erasure says so');

ok($t->is_running, 'nginx is still up at the end');

done_testing();
