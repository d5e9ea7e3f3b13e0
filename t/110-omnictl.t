# omnictl, the admin API on the command line: every command against a
# store directory, its answers, refusals and exit codes, and export and
# import.  No nginx needed.

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

my $tmp = tempdir('omnictl-XXXXXX', TMPDIR => 1, CLEANUP => 1);
my $json = JSON::PP->new->canonical;
my $n = 0;

sub fresh {
    my $dir = "$tmp/store" . $n++;
    mkdir $dir or die "$dir: $!";
    return $dir;
}

sub slurp {
    my ($file) = @_;
    open(my $fh, '<:raw', $file) or die "$file: $!";
    local $/;
    return scalar <$fh>;
}

sub spew {
    my ($file, $data) = @_;
    open(my $fh, '>:raw', $file) or die "$file: $!";
    print $fh $data;
    close $fh or die "$file: $!";
}

# runs omnictl; returns (exit code, stdout, stderr)
sub run {
    my ($opt, @args) = ref $_[0] eq 'HASH' ? @_ : ({}, @_);
    my ($out, $err) = ("$tmp/stdout", "$tmp/stderr");
    my $pid = fork;
    die "fork: $!" unless defined $pid;
    if (!$pid) {
        open(STDIN, '<', defined $opt->{stdin} ? $opt->{stdin} : '/dev/null')
            or POSIX::_exit(126);
        open(STDOUT, '>', $out) or POSIX::_exit(126);
        open(STDERR, '>', $err) or POSIX::_exit(126);
        if (exists $opt->{env}) {
            delete $ENV{OMNI_STORE};
            $ENV{OMNI_STORE} = $opt->{env} if defined $opt->{env};
        }
        exec { $omnictl } $omnictl, @args or POSIX::_exit(127);
    }
    waitpid($pid, 0);
    return ($? >> 8, slurp($out), slurp($err));
}

my $dir = fresh();

# an answer on stdout, as JSON; nothing on stderr
sub ok_json {
    my ($name, @args) = @_;
    my ($rc, $out, $err) = run('-d', $dir, @args);
    is($rc, 0, "$name: exit 0") or diag($err);
    is($err, '', "$name: nothing on stderr");
    like($out, qr/\A\{\n  "/, "$name: pretty JSON, two-space indent");
    return eval { $json->decode($out) } || {};
}

# a refusal: exit code, one line on stderr, nothing on stdout
sub refused {
    my ($name, $code, $re, @args) = @_;
    my ($rc, $out, $err) = run('-d', $dir, @args);
    is($rc, $code, "$name: exit $code");
    like($err, $re, "$name: the message");
    is($out, '', "$name: nothing on stdout");
    return $err;
}


# usage

my @commands = qw(stat session session-revoke customer sessions identities
                  journey resolve link unlink merge revoke unrevoke
                  revocations export import help);

for my $help ('--help', '-h', 'help') {
    my ($rc, $out, $err) = run($help);
    is($rc, 0, "$help: exit 0");
    like($out, qr/^Usage: omnictl \[-d DIR\] COMMAND/, "$help: usage on stdout");
    is($err, '', "$help: nothing on stderr");
}

{
    my (undef, $out) = run('--help');
    my @missing = grep { $out !~ /^  \Q$_\E\b/m } @commands;
    is("@missing", '', '--help lists every command');
    like($out, qr/OMNI_STORE/, '--help names OMNI_STORE');
}

{
    my ($rc, $out, $err) = run('-d', $dir, 'frobnicate');
    is($rc, 2, 'an unknown command: exit 2');
    like($err, qr/\Aomnictl: unknown command "frobnicate"\n\nUsage:/,
         '...the problem first, then the usage, on stderr');
    is($out, '', '...nothing on stdout');

    ($rc, undef, $err) = run();
    is($rc, 2, 'no command: exit 2');
    like($err, qr/\Aomnictl: no command\n/, '...says so');

    ($rc, undef, $err) = run({ env => undef }, 'stat');
    is($rc, 2, 'no -d and no OMNI_STORE: exit 2');
    like($err, qr/no store directory: give -d DIR or set OMNI_STORE/,
         '...says what to give');

    ($rc, $out) = run({ env => $dir }, 'stat');
    is($rc, 0, 'OMNI_STORE stands for -d');
    like($out, qr/"entries"/, '...and the store answers');
}

refused('too few arguments', 2, qr/^omnictl: too few arguments for link$/m,
        'link', 'phone', '+1');
refused('too many arguments', 2, qr/^omnictl: too many arguments for resolve/m,
        'resolve', 'a', 'b', 'c');
refused('an option a command lacks', 2,
        qr/^omnictl: resolve takes no option "--limit"$/m,
        'resolve', 'a', 'b', '--limit', '3');
refused('an unknown option', 2, qr/^omnictl: unknown option "--color"$/m,
        'sessions', 'c', '--color');
refused('a --limit that is no number', 2,
        qr/^omnictl: --limit "ten" is not a number$/m,
        'sessions', 'c', '--limit', 'ten');
refused('a --limit out of range', 1,
        qr/^omnictl: query parameter "limit" must be an integer from 1 to 1000 \(invalid_argument\)$/,
        'sessions', 'c', '--limit=5000');
refused('a missing store directory', 1, qr/^omnictl: .*\Q$tmp\E\/nowhere/,
        '-d', "$tmp/nowhere", 'stat');


# identities and customers

my $r = ok_json('link', 'link', 'phone', '+8613800000000', 'cust-a');
is_deeply($r, { type => 'phone', value => '+8613800000000',
                customer => 'cust-a' }, 'link answers the identity');

ok_json('link a second identity', 'link', 'email', 'ann@example.com',
        'cust-a');

$r = ok_json('resolve', 'resolve', 'phone', '+8613800000000');
is($r->{customer}, 'cust-a', 'the phone resolves to its customer');
$r = ok_json('resolve', 'resolve', 'email', 'ann@example.com');
is($r->{customer}, 'cust-a', 'so does the email');

$r = ok_json('link a value with a slash', 'link', 'web', 'a/b%c?d', 'cust-a');
is($r->{value}, 'a/b%c?d', 'a value with / % ? travels percent-encoded');
$r = ok_json('resolve it', 'resolve', 'web', 'a/b%c?d');
is($r->{customer}, 'cust-a', '...and resolves');

$r = ok_json('customer', 'customer', 'cust-a');
is($r->{survivor}, 'cust-a', 'an unmerged customer is its own survivor');
is_deeply([ map { "$_->{type}:$_->{value}" } @{ $r->{identities} } ],
          [ 'email:ann@example.com', 'phone:+8613800000000', 'web:a/b%c?d' ],
          'the customer lists its identities');

$r = ok_json('customer, one identity a page', 'customer', 'cust-a',
             '--limit', '1');
is(scalar @{ $r->{identities} }, 1, 'customer --limit bounds the identities');
is($r->{identities_next}, 'email:ann@example.com', '...and names the next');

$r = ok_json('identities, one a page', 'identities', 'cust-a', '--limit', '1');
is(scalar @{ $r->{identities} }, 1, 'a page of one');
is($r->{next}, 'email:ann@example.com', '...with the cursor of the next');
$r = ok_json('identities, the next page', 'identities', 'cust-a',
             "--after=$r->{next}", '--limit', '1');
is($r->{identities}[0]{value}, '+8613800000000', 'the next page goes on');

$r = ok_json('unlink', 'unlink', 'web', 'a/b%c?d');
is($r->{unlinked}, JSON::PP::true, 'unlink says so');
refused('resolve an unlinked identity', 1,
        qr/^omnictl: identity web:a\/b%c\?d is not linked \(not_found\)$/,
        'resolve', 'web', 'a/b%c?d');
refused('unlink it again', 1, qr/\(not_found\)$/, 'unlink', 'web', 'a/b%c?d');

ok_json('link to a second customer', 'link', 'email', 'bob@example.com',
        'cust-b');
$r = ok_json('merge', 'merge', 'cust-b', 'cust-a');
is_deeply($r, { merged => 'cust-b', into => 'cust-a' }, 'merge answers');
$r = ok_json('resolve after the merge', 'resolve', 'email', 'bob@example.com');
is($r->{customer}, 'cust-a', "the merged customer's identity resolves to the survivor");
$r = ok_json('the merged customer', 'customer', 'cust-b');
is($r->{survivor}, 'cust-a', 'the merged customer names its survivor');
refused('merge again', 1, qr/^omnictl: .*merged into cust-a already \(conflict\)$/,
        'merge', 'cust-b', 'cust-a');

refused('link with a bad type', 1,
        qr/^omnictl: identity type is not \[A-Za-z0-9_-\]\{1,32\} \(invalid_argument\)$/,
        'link', 'bad type', 'x', 'cust-a');
refused('link to a bad customer id', 1,
        qr/^omnictl: "customer" is not \[A-Za-z0-9_-\]\{1,64\} \(invalid_argument\)$/,
        'link', 'phone', '+1', 'cust a');
refused('link a value with a space', 1, qr/\(invalid_argument\)$/,
        'link', 'phone', '+1 2', 'cust-a');
refused('link a value that is not UTF-8', 1, qr/\(invalid_path\)$/,
        'link', 'phone', "\xff", 'cust-a');
refused('a customer id that is not UTF-8', 2,
        qr/^omnictl: "customer" is not valid UTF-8$/m,
        'link', 'phone', '+1', "\xff");
refused('an unknown customer', 1, qr/^omnictl: customer nobody is unknown \(not_found\)$/,
        'customer', 'nobody');


# sessions and journeys

refused('a missing session', 1,
        qr/^omnictl: session nope not found \(not_found\)\n\z/,
        'session', 'nope');

$r = ok_json('sessions of a customer without any', 'sessions', 'cust-a');
is_deeply($r, { sessions => [], next => undef }, 'no sessions, no next page');

$r = ok_json('journey of an empty customer', 'journey', 'cust-a');
is_deeply($r, { events => [], next => undef }, 'no events, no next page');
refused('journey with a bad cursor', 1, qr/"before" must be .*\(invalid_argument\)$/,
        'journey', 'cust-a', '--before', 'yesterday');


# revocations

ok_json('revoke a jti', 'revoke', 'jti', 'tok-1');
$r = ok_json('revoke a jti until', 'revoke', 'jti', 'tok-2', '2000000000');
is_deeply($r, { kind => 'jti', value => 'tok-2',
                time => '2033-05-18T03:33:20Z' }, 'the answer has the expiry');
$r = ok_json('revoke a subject', 'revoke', 'subject', 'frank', '1700000000');
is($r->{time}, '2023-11-14T22:13:20Z', 'the answer has "before"');
$r = ok_json('session-revoke', 'session-revoke', 's-1');
is_deeply($r, { session => 's-1', revoked => JSON::PP::true },
          'session-revoke answers');

refused('revoke session with a time', 2,
        qr/^omnictl: revoke session takes no time$/m,
        'revoke', 'session', 's-2', '5');
refused('revoke an unknown kind', 2,
        qr/^omnictl: revoke jti, subject or session, not "token"$/m,
        'revoke', 'token', 'x');
refused('revoke with a bad time', 2,
        qr/^omnictl: "soon" is not a time in epoch seconds$/m,
        'revoke', 'jti', 'x', 'soon');

{
    my ($rc, $out, $err) = run('-d', $dir, 'revocations');
    is($rc, 0, 'revocations: exit 0');
    my ($t) = $out =~ /^session s-1 (\d+)$/m;
    ok(defined $t && abs($t - time) < 60, 'a session revocation has its time');
    is($out, "jti tok-1 0\njti tok-2 2000000000\nsession s-1 $t\n"
             . "subject frank 1700000000\n",
       'revocations: one line each, kind value time');

    ($rc, $out) = run('-d', $dir, 'revocations', '--kind', 'subject');
    is($out, "subject frank 1700000000\n", '--kind keeps one kind');
}

refused('revocations of a bad kind', 2,
        qr/^omnictl: --kind jti, subject or session, not "token"$/m,
        'revocations', '--kind', 'token');

$r = ok_json('unrevoke', 'unrevoke', 'jti', 'tok-1');
is_deeply($r, { kind => 'jti', value => 'tok-1', removed => JSON::PP::true },
          'unrevoke answers');
refused('unrevoke it again', 1,
        qr/^omnictl: no revocation of jti tok-1 \(not_found\)$/,
        'unrevoke', 'jti', 'tok-1');
{
    my (undef, $out) = run('-d', $dir, 'revocations', '--kind', 'jti');
    is($out, "jti tok-2 2000000000\n", 'the unrevoked jti is gone');
}

ok_json('a value that starts with a dash, after --', 'revoke', 'jti', '--',
        '-odd');
{
    my (undef, $out) = run('-d', $dir, 'revocations', '--kind=jti');
    like($out, qr/^jti -odd 0$/m, '...is revoked');
}

$r = ok_json('stat', 'stat');
is($r->{entries}{identities}, 3, 'stat counts the identities');
is($r->{map_max}, 1024 * 1024 * 1024, 'omnictl opens with a 1 GiB map');


# export and import

sub records {
    my ($text) = @_;
    my @lines = split /\n/, $text;
    shift @lines;
    return join "\n", @lines;
}

my $backup = "$tmp/backup.jsonl";
my $records;

{
    my ($rc, $out, $err) = run('-d', $dir, 'export', $backup);
    is($rc, 0, 'export to a file: exit 0') or diag($err);
    my $count = () = slurp($backup) =~ /\n/g;
    is_deeply($json->decode($out), { exported => $count - 1 },
              'export counts the records');
    is((stat $backup)[2] & 07777, 0600, 'the export is private');

    my $text = slurp($backup);
    like($text, qr/\A\{"omni_store_export":1,"format":1,"exported_at":"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ"\}\n/,
         'the header line');
    like($text, qr/^\{"db":"meta","key":"Zm9ybWF0","value":"MQ=="\}$/m,
         'the format record comes first, in base64');
    $records = records($text);
    my @bad = grep { !/^\{"db":"[a-z]+","key":"[A-Za-z0-9+\/]+=*","value":"[A-Za-z0-9+\/]*=*"\}$/ }
              split /\n/, $records;
    is("@bad", '', 'every record line is {"db", "key", "value"}');
    like($records, qr/^\{"db":"identities",/m, 'identities are exported');
    like($records, qr/^\{"db":"revocations",/m, 'revocations are exported');

    ($rc, $out) = run('-d', $dir, 'export');
    is($rc, 0, 'export to stdout: exit 0');
    is(records($out), $records, 'stdout has the same records');
}

{
    my $copy = fresh();
    my ($rc, $out, $err) = run('-d', $copy, 'import', $backup);
    is($rc, 0, 'import into a fresh store: exit 0') or diag($err);
    is($err, '', '...without a warning');
    my $count = () = $records =~ /^/mg;
    is_deeply($json->decode($out), { imported => $count },
              'import counts the records');

    ($rc, $out) = run('-d', $copy, 'export');
    is(records($out), $records, 'export, import, export: the same records');

    ($rc, $out) = run('-d', $copy, 'resolve', 'email', 'bob@example.com');
    is($json->decode($out)->{customer}, 'cust-a',
       'the imported store resolves through the survivor');

    my $piped = fresh();
    ($rc, $out, $err) = run({ stdin => $backup }, '-d', $piped, 'import', '-');
    is($rc, 0, 'import from stdin: exit 0') or diag($err);
    ($rc, $out) = run('-d', $piped, 'export');
    is(records($out), $records, '...the same records');

    ($rc, $out, $err) = run('-d', $copy, 'import', $backup);
    is($rc, 0, 'import into a store that has records: exit 0');
    like($err, qr/^omnictl: warning: the store in .* is not empty/,
         '...with a warning');
}

# a corrupt export: refused with the line number, nothing written
{
    my @lines = split /\n/, slurp($backup);
    my $header = shift @lines;
    my @body;
    push @body, @lines while @body < 600;    # same keys again: still valid

    my $big = join('', map { "$_\n" } $header, @body);
    my $ok = fresh();
    my ($rc, $out, $err);
    spew("$tmp/big.jsonl", $big);
    ($rc, $out, $err) = run('-d', $ok, 'import', "$tmp/big.jsonl");
    is($rc, 0, 'an export of more than one batch imports') or diag($err);

    my @cases = (
        [ 'a bad header', sub { $_[0] = '{"hello":1}' }, 1,
          qr/line 1: not the header of an omnictl export/ ],
        [ 'a wrong format number', sub { $_[0] =~ s/"format":1/"format":2/ }, 1,
          qr/line 1: store format 2, this build writes 1/ ],
        [ 'a wrong export version',
          sub { $_[0] =~ s/"omni_store_export":1/"omni_store_export":9/ }, 1,
          qr/line 1: export version 9, this omnictl reads 1/ ],
        [ 'bad base64 past the first batch',
          sub { $_[500] =~ s/"value":"/"value":"!/ }, 501,
          qr/line 501: the value is not base64 with padding/ ],
        [ 'base64 without padding', sub { $_[3] =~ s/=+"/"/ }, 4,
          qr/line 4: the (key|value) is not base64 with padding/ ],
        [ 'an unknown db', sub { $_[400] =~ s/"db":"[a-z]+"/"db":"secrets"/ },
          401, qr/line 401: no sub-database "secrets"/ ],
        [ 'an extra member', sub { $_[5] =~ s/\}$/,"x":1}/ }, 6,
          qr/line 6: not a record/ ],
        [ 'not JSON', sub { $_[7] = 'db=meta' }, 8, qr/line 8: not a record/ ],
        [ 'an empty key', sub { $_[2] =~ s/"key":"[^"]*"/"key":""/ }, 3,
          qr/line 3: a key of 0 bytes \(1 to 511\)/ ],
        [ 'a format record of another format',
          sub { $_[1] = '{"db":"meta","key":"Zm9ybWF0","value":"Mg=="}' }, 2,
          qr/line 2: the store's format record is not this build's \(1\)/ ],
        [ 'an empty line', sub { $_[300] = '' }, 301, qr/line 301: empty/ ],
        [ 'a line over 1 MiB', sub { $_[10] = 'x' x (1024 * 1024 + 1) }, 11,
          qr/line 11: longer than 1048576 bytes/ ],
    );

    for my $c (@cases) {
        my ($name, $edit, $line, $re) = @$c;
        my @l = ($header, @body);
        $edit->(@l);
        spew("$tmp/bad.jsonl", join('', map { "$_\n" } @l));
        my $to = fresh();
        ($rc, $out, $err) = run('-d', $to, 'import', "$tmp/bad.jsonl");
        is($rc, 1, "import of $name: exit 1");
        like($err, qr/^omnictl: \Q$tmp\E\/bad\.jsonl $re/, "...names line $line");
        is($out, '', '...nothing on stdout');
        (undef, $out) = run('-d', $to, 'export');
        is(records($out), '{"db":"meta","key":"Zm9ybWF0","value":"MQ=="}',
           '...and nothing is written');
    }

    spew("$tmp/cut.jsonl", substr($big, 0, -1));
    my $to = fresh();
    ($rc, $out, $err) = run('-d', $to, 'import', "$tmp/cut.jsonl");
    is($rc, 1, 'a file cut short: exit 1');
    my $last = @body + 1;
    like($err, qr/line $last: no newline at its end, the file is cut short/,
         '...names the last line');
    (undef, $out) = run('-d', $to, 'export');
    is(records($out), '{"db":"meta","key":"Zm9ybWF0","value":"MQ=="}',
       '...and nothing is written');

    spew("$tmp/empty.jsonl", '');
    ($rc, undef, $err) = run('-d', fresh(), 'import', "$tmp/empty.jsonl");
    is($rc, 1, 'an empty file: exit 1');
    like($err, qr/empty\.jsonl is empty, not an export/, '...says so');

    ($rc, undef, $err) = run('-d', fresh(), 'import', "$tmp/missing.jsonl");
    is($rc, 1, 'a missing file: exit 1');
    like($err, qr/missing\.jsonl": No such file or directory/, '...says so');
}

{
    my ($rc, undef, $err) = run('-d', $dir, 'export', "$tmp/no/such/dir.jsonl");
    is($rc, 1, 'export into a missing directory: exit 1');
    like($err, qr/^omnictl: creating ".*dir\.jsonl\.[^"]*": No such file/,
         '...says so');
    ok(!-e "$tmp/no", '...and leaves nothing');
}

done_testing();
