# The store's keyring (omni_store_keyring, issue 13's first slice): nginx -t
# refuses a keyring file that is missing, too open, a link or not a
# keyring, and one without omni_store; a good keyring is recorded by the
# store on the first start, and from then on the store is refused with
# another keyring or none, by nginx -t and by a reload, while requests go
# on being served.

use strict;
use warnings;

use lib 't/lib';
use JSON::PP ();
use MIME::Base64 ();
use Test::More;
use Omni::Test;
use Omni::Jwt qw(keygen mint);

# refused reloads leave their [emerg] in the log
my $t = Omni::Test->new(log_allow => [ qr/\[emerg\].*omni_store/ ]);
my $k = keygen($t->prefix . '/keys');
my $repo = Omni::Test::repo_root();
my $omnictl = Omni::Test::bin('omnictl');
my $json = JSON::PP->new;

my $keys = $t->prefix . '/keyrings';
mkdir $keys, 0700 or die "$keys: $!";

# a new keyring from omnictl: (file, id)
sub keyring {
    my ($name) = @_;
    my $file = "$keys/$name.json";
    my $out = `$omnictl keys init $file 2>&1`;
    die "keys init $file: $out" if $?;
    return ($file, $json->decode($out)->{id});
}

sub store_dir {
    my $dir = $t->prefix . '/' . shift;
    mkdir $dir or die "$dir: $!";
    return $dir;
}

sub conf {
    my ($store, $keyring) = @_;
    my $line = defined $keyring ? "omni_store_keyring $keyring;" : '';
    return <<"END";
omni_plugins $repo/plugins;
omni_lua_library $repo/lua;
omni_jwt_secret $k->{hs32};
omni_store $store sync=none;
$line

server {
    listen 127.0.0.1:%%PORT1%%;
    access_log off;
    location / {
        return 200 '{"ok":true,"data":{}}';
    }
}

server {
    listen 127.0.0.1:%%PORT%%;
    server_name localhost;
    access_log off;
    add_header X-Customer \$omni_customer always;

    location /web/ {
        omni_channel web;
        omni_customers create;
        omni_session on;
        proxy_pass http://127.0.0.1:%%PORT1%%;
    }
}
END
}

sub web {
    my ($sub) = @_;
    return $t->request(path => '/web/orders/1',
                       headers => [ [ Authorization => 'Bearer '
                                      . mint(alg => 'HS256', key => $k->{hs32},
                                             sub => $sub) ] ]);
}

sub refused {
    my ($conf, $want, $name) = @_;
    my ($ok, $out) = $t->test_config($conf);
    ok(!$ok, $name);
    like($out, $want, '...saying why') or diag($out);
}

my ($a_file, $a_id) = keyring('a');
my ($b_file, $b_id) = keyring('b');
my $store = store_dir('store');

is((stat $a_file)[2] & 07777, 0600, 'keys init writes the keyring 0600');

# --- nginx -t refuses a keyring it must not use ---

refused(conf($store, "$keys/missing.json"),
        qr/cannot open keyring "\Q$keys\E\/missing\.json": No such file or directory/,
        'a missing keyring fails nginx -t');

for my $case ([ 0644, qr/has mode 0644: others may use it/, 'readable by others' ],
              [ 0604, qr/has mode 0604: others may use it/, 'readable by others alone' ],
              [ 0620, qr/has mode 0620: others may write it/, 'writable by its group' ])
{
    my ($mode, $want, $what) = @$case;
    my $file = "$keys/open.json";
    system('cp', $a_file, $file) == 0 or die "cp: $?";
    chmod $mode, $file;
    refused(conf($store, $file), qr/keyring "\Q$file\E" $want/,
            "a keyring $what fails nginx -t");
    unlink $file;
}

symlink($a_file, "$keys/link.json") or die "symlink: $!";
refused(conf($store, "$keys/link.json"),
        qr/cannot open keyring "\Q$keys\E\/link\.json": a symbolic link/,
        'a keyring behind a symbolic link fails nginx -t');

for my $case ([ 'garbage.json', "not json\n", qr/is not JSON/ ],
              [ 'format.json', '{"format":"omni-keyring/9"}',
                qr/is not in the format "omni-keyring\/1"/ ],
              [ 'nokek.json', '{"format":"omni-keyring/1","id":"' . $a_id
                . '","kek":[],"index":[]}', qr/"kek" must list 1 to 64 keys/ ])
{
    my ($name, $text, $want) = @$case;
    my $file = "$keys/$name";
    open(my $fh, '>', $file) or die "$file: $!";
    print $fh $text;
    close $fh;
    chmod 0600, $file;
    refused(conf($store, $file), qr/keyring "\Q$file\E":? .*$want/,
            "a keyring file that is $name fails nginx -t");
}

refused("omni_store_keyring $a_file;",
        qr/"omni_store_keyring" needs "omni_store" at the http level/,
        'omni_store_keyring without omni_store fails nginx -t');

refused(conf($store, $a_file) . "omni_store_keyring $b_file;\n",
        qr/"omni_store_keyring" directive is duplicate/,
        'two omni_store_keyring fail nginx -t');

# a group that needs the keyring may read it: 0640
my $group = "$keys/group.json";
system('cp', '-p', $a_file, $group) == 0 or die "cp: $?";
chmod 0640, $group;
my ($ok, $out) = $t->test_config(conf($store, $group));
ok($ok, 'a keyring readable by its group passes nginx -t') or diag($out);

# nothing was created by the checks: the store is new
ok(!-e "$store/data.mdb" && !-e "$store/lock.mdb",
   'nginx -t creates no file in a new store');

# --- a good keyring: recorded on the first start, requests served ---

$t->start(conf($store, $a_file));

my $r = web('alice');
is($r->{status}, 200, 'a request is served with the keyring');
like($r->{headers}{'x-customer'} // '', qr/^[0-9a-f]{32}$/, '...and makes a customer');

my $status = `$omnictl -d $store --keyring $a_file keys status 2>&1`;
is($?, 0, 'omnictl keys status fits the store') or diag($status);
my $st = eval { $json->decode($status) } || {};
is($st->{id}, $a_id, '...with the keyring\'s id');
ok($st->{store}{fits} && $st->{store}{recorded},
   '...which the store records since the workers started') or diag($status);

my $export = `$omnictl -d $store --keyring $a_file export 2>&1`;
is($?, 0, 'omnictl opens the store with the keyring') or diag($export);
my ($meta) = grep { ($_->{db} // '') eq 'meta' && $_->{key} eq 'a2V5cmluZw==' }
             map { eval { $json->decode($_) } || () } split /\n/, $export;
ok($meta, 'the export holds the meta record "keyring"');
is(unpack('H*', MIME::Base64::decode_base64($meta ? $meta->{value} : '')),
   $a_id, '...with the keyring\'s id, 16 raw bytes');

# --- the same store with another keyring, or none ---

refused(conf($store, $b_file),
        qr/omni_store_keyring "\Q$b_file\E": keyring $b_id does not fit the store at \Q$store\E \(made with keyring $a_id\)/,
        'another keyring fails nginx -t');

refused(conf($store, undef),
        qr/omni_store: the store at \Q$store\E was made with keyring $a_id; "omni_store_keyring" is missing/,
        'no keyring fails nginx -t');

for my $case ([ $b_file, qr/does not fit the store/, 'another keyring' ],
              [ undef, qr/"omni_store_keyring" is missing/, 'no keyring' ])
{
    my ($file, $want, $what) = @$case;
    my $done = eval { $t->reload(conf($store, $file)); 1 };
    ok(!$done && $@ =~ $want, "a reload with $what is refused")
        or diag($done ? 'the reload was accepted' : $@);
    is(web('alice')->{status}, 200, '...and requests go on being served');
}

my $again = web('alice');
is($again->{headers}{'x-customer'}, $r->{headers}{'x-customer'},
   'the same customer after the refused reloads');

# a rotated keyring keeps its id: it still fits, after a reload
my $rot = `$omnictl --keyring $a_file keys rotate --kek 2>&1`;
is($?, 0, 'omnictl keys rotate --kek') or diag($rot);
ok(eval { $t->reload(conf($store, $a_file)); 1 },
   'the rotated keyring is reloaded') or diag($@);
is(web('alice')->{headers}{'x-customer'}, $r->{headers}{'x-customer'},
   '...and the customer is found as before');

$t->stop;

# no key is ever logged
my @secrets = map { $_->{key} }
              map { @{ $_->{kek} }, @{ $_->{index} } }
              $json->decode(do { local (@ARGV, $/) = $a_file; <> });
my $log = $t->error_log;
is(scalar(grep { index($log, $_) >= 0 } @secrets), 0,
   'no key of the keyring is in error.log');

done_testing();
