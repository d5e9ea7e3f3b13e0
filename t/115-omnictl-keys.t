# omnictl and the store's keyring: keys init, status and rotate, the fit
# check of every command that opens the store (--keyring, OMNI_KEYRING),
# export and import across keyrings, and no key ever on stdout, stderr or
# in the audit log.  No nginx needed.

use strict;
use warnings;

use lib 't/lib';
use Test::More;
use File::Temp qw(tempdir);
use JSON::PP ();
use POSIX ();
use Omni::Test;

my $omnictl = Omni::Test::bin('omnictl');
plan skip_all => "$omnictl is not built (make tools)" unless -x $omnictl;

my $tmp = tempdir('omnictl-keys-XXXXXX', TMPDIR => 1, CLEANUP => 1);
my $json = JSON::PP->new;
my $audit = "$tmp/audit.log";
my @said;    # every output, searched for keys at the end
my $n = 0;

sub fresh {
    my $dir = "$tmp/store" . $n++;
    mkdir $dir or die "$dir: $!";
    return $dir;
}

sub slurp {
    my ($file) = @_;
    open(my $fh, '<:raw', $file) or return '';
    local $/;
    return scalar <$fh>;
}

# runs omnictl with OMNI_KEYRING as given (undef: unset); returns (exit
# code, stdout, stderr)
sub run {
    my ($opt, @args) = ref $_[0] eq 'HASH' ? @_ : ({}, @_);
    my ($out, $err) = ("$tmp/stdout", "$tmp/stderr");
    my $pid = fork;
    die "fork: $!" unless defined $pid;
    if (!$pid) {
        open(STDIN, '<', '/dev/null') or POSIX::_exit(126);
        open(STDOUT, '>', $out) or POSIX::_exit(126);
        open(STDERR, '>', $err) or POSIX::_exit(126);
        delete @ENV{qw(OMNI_STORE OMNI_KEYRING)};
        $ENV{OMNI_KEYRING} = $opt->{keyring} if defined $opt->{keyring};
        $ENV{OMNI_AUDIT_LOG} = $audit;
        exec { $omnictl } $omnictl, @args or POSIX::_exit(127);
    }
    waitpid($pid, 0);
    my @r = ($? >> 8, slurp($out), slurp($err));
    push @said, @r[1, 2];
    return @r;
}

sub answer {
    my ($name, @args) = @_;
    my ($rc, $out, $err) = run(@args);
    is($rc, 0, "$name: exit 0") or diag($err);
    return eval { $json->decode($out) } || {};
}

sub mode { return (stat $_[0])[2] & 07777 }

# --- keys init ---

my $a_file = "$tmp/a.json";
my $a = answer('keys init', 'keys', 'init', $a_file);
like($a->{id} // '', qr/^[0-9a-f]{32}$/, '...answers the id');
is_deeply([ @$a{qw(keyring kek index)} ], [ $a_file, 1, 1 ],
          '...the file and version 1 of each kind');
is(mode($a_file), 0600, '...mode 0600');

my $before = slurp($a_file);
my ($rc, $out, $err) = run('keys', 'init', $a_file);
is($rc, 1, 'keys init on an existing file: exit 1');
like($err, qr/"\Q$a_file\E": File exists; keys init never replaces a keyring/,
     '...says so');
is(slurp($a_file), $before, '...and leaves it as it was');

($rc, undef, $err) = run('keys', 'init', "$tmp/missing/k.json");
is($rc, 1, 'keys init in a missing directory: exit 1');
ok(!-e "$tmp/missing", '...creates nothing');

my $b_file = "$tmp/b.json";
my $b = answer('another keys init', 'keys', 'init', $b_file);
isnt($b->{id}, $a->{id}, 'two keyrings have two ids');

# --- keys status ---

($rc, undef, $err) = run('keys', 'status');
is($rc, 2, 'keys status without a keyring: exit 2');
like($err, qr/keys status needs a keyring: give --keyring FILE or set OMNI_KEYRING/,
     '...says what to give');

my $s = answer('keys status', '--keyring', $a_file, 'keys', 'status');
is($s->{id}, $a->{id}, '...the id');
is_deeply([ $s->{kek}, $s->{index} ],
          [ { versions => [1], newest => 1 }, { versions => [1], newest => 1 } ],
          '...the versions of each kind and the newest');
ok(!exists $s->{store}, '...and no store without -d');

my $dir = fresh();
$s = answer('keys status on a new store', { keyring => $a_file }, '-d', $dir,
            'keys', 'status');
is_deeply($s->{store}, { dir => $dir, fits => JSON::PP::true,
                         recorded => JSON::PP::false },
          '...fits, not recorded yet (OMNI_KEYRING stands for --keyring)');
ok(!-e "$dir/data.mdb" && !-e "$dir/lock.mdb", '...and creates no file');

($rc, $out, $err) = run('-d', "$tmp/nowhere", '--keyring', $a_file, 'keys',
                        'status');
is($rc, 1, 'keys status on a directory that is not there: exit 1');
like($err, qr/store directory "\Q$tmp\E\/nowhere": No such file or directory/,
     '...says so');

# --- the fit check of the commands that open the store ---

answer('stat with a keyring', '-d', $dir, '--keyring', $a_file, 'stat');
$s = answer('keys status after it', '-d', $dir, "--keyring=$a_file", 'keys',
            'status');
ok($s->{store}{fits} && $s->{store}{recorded},
   '...the store records the keyring since the first open with it');

($rc, $out, $err) = run('-d', $dir, 'stat');
is($rc, 1, 'stat without the keyring: exit 1');
is($err, "omnictl: the store at $dir was made with keyring $a->{id}; give it "
         . "with --keyring FILE or OMNI_KEYRING\n", '...says which is missing');
is($out, '', '...nothing on stdout');

($rc, $out, $err) = run({ keyring => $b_file }, '-d', $dir, 'resolve', 'phone',
                        '+15550001234');
is($rc, 1, 'another keyring: exit 1');
is($err, "omnictl: keyring $b->{id} does not fit the store at $dir (made with "
         . "keyring $a->{id})\n", '...names both');

($rc, $out, $err) = run('-d', $dir, '--keyring', $b_file, 'keys', 'status');
is($rc, 1, 'keys status with another keyring: exit 1');
my $st = eval { $json->decode($out) } || {};
ok(!$st->{store}{fits}, '...says it does not fit');
like($st->{store}{problem} // '', qr/does not fit the store at \Q$dir\E/,
     '...and why');

# a store that never had a keyring goes on without one
my $plain = fresh();
answer('stat without a keyring', '-d', $plain, 'stat');
answer('...and again', '-d', $plain, 'stat');

# a keyring file nginx would refuse, omnictl refuses too
my $open = "$tmp/open.json";
system('cp', $a_file, $open) == 0 or die "cp: $?";
chmod 0644, $open;
($rc, undef, $err) = run('-d', fresh(), '--keyring', $open, 'stat');
is($rc, 1, 'a keyring others may read: exit 1');
like($err, qr/keyring "\Q$open\E" has mode 0644: others may use it/,
     '...names the file and the problem');

# --- export and import carry the keyring's id ---

answer('link with the keyring', '-d', $dir, '--keyring', $a_file, 'link',
       'phone', '+15550001234', 'c1');
answer('export with the keyring', '-d', $dir, '--keyring', $a_file, 'export',
       "$tmp/a.export");

my $to = fresh();
($rc, undef, $err) = run('-d', $to, 'import', "$tmp/a.export");
is($rc, 1, 'import without the keyring: exit 1');
like($err, qr/the export was made with keyring $a->{id} and the store at \Q$to\E has none/,
     '...says which keyring the export needs');
($rc, undef, $err) = run('-d', $to, 'resolve', 'phone', '+15550001234');
is($rc, 1, '...and writes nothing');

my $other = fresh();
answer('a store made with another keyring', '-d', $other, '--keyring',
       $b_file, 'stat');
($rc, undef, $err) = run('-d', $other, '--keyring', $b_file, 'import',
                         "$tmp/a.export");
is($rc, 1, 'import into a store of another keyring: exit 1');
like($err, qr/the export was made with keyring $a->{id}, the store at \Q$other\E with keyring $b->{id}/,
     '...names both');

$to = fresh();
answer('import with the keyring', '-d', $to, '--keyring', $a_file, 'import',
       "$tmp/a.export");
my $who = answer('...then resolve', '-d', $to, '--keyring', $a_file,
                 'resolve', 'phone', '+15550001234');
is($who->{customer}, 'c1', '...finds the customer');

# --- keys rotate ---

($rc, undef, $err) = run('--keyring', $a_file, 'keys', 'rotate');
is($rc, 2, 'keys rotate without --kek or --index: exit 2');
($rc, undef, $err) = run('--keyring', $a_file, 'keys', 'rotate', '--kek',
                         '--index');
is($rc, 2, '...with both: exit 2');
($rc, undef, $err) = run('keys', 'rotate', '--kek');
is($rc, 2, '...without a keyring: exit 2');

my $r = answer('keys rotate --kek', '--keyring', $a_file, 'keys', 'rotate',
               '--kek');
is_deeply([ @$r{qw(id rotated version)} ], [ $a->{id}, 'kek', 2 ],
          '...the same id, KEK version 2');
like($r->{note}, qr/then run omnictl keys rewrap to re-wrap the existing ones/,
     '...and says how to re-wrap the data keys');
is(mode($a_file), 0600, '...the file stays 0600');

chmod 0640, $a_file;
$r = answer('keys rotate --index', { keyring => $a_file }, 'keys', 'rotate',
            '--index');
is_deeply([ @$r{qw(rotated version)} ], [ 'index', 2 ], '...index version 2');
like($r->{note}, qr/reload nginx, then run omnictl keys reindex/,
     '...and says how to rebuild the identity map');
is(mode($a_file), 0640, '...a file its group may read stays so');

$s = answer('keys status after rotations', '-d', $dir, '--keyring', $a_file,
            'keys', 'status');
is_deeply([ $s->{kek}, $s->{index} ],
          [ { versions => [1, 2], newest => 2 },
            { versions => [1, 2], newest => 2 } ], '...both versions of each');
ok($s->{store}{fits}, '...and the rotated keyring still fits the store');

my $log = slurp($audit);
like($log, qr/"change":"keyring $a->{id} created"/, 'keys init is audited');
like($log, qr/"change":"keyring $a->{id}: kek version 2 added"/,
     'keys rotate is audited');

# --- never a key ---

my @keys = map { $_->{key} }
           map { my $k = $json->decode(slurp($_)); (@{ $k->{kek} }, @{ $k->{index} }) }
           $a_file, $b_file;
is(scalar @keys, 6, 'the keyrings hold six keys');
my @seen = grep { my $key = $_; grep { index($_, $key) >= 0 } @said, $log } @keys;
is(scalar @seen, 0, 'no key on stdout, stderr or in the audit log');

done_testing();
