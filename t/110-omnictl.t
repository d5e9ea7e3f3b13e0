# omnictl, the admin API on the command line: every command against a
# store directory, its answers, refusals and exit codes, and export and
# import.  No nginx needed.

use strict;
use warnings;

use lib 't/lib';
use Test::More;
use File::Temp qw(tempdir);
use JSON::PP ();
use MIME::Base64 ();
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

my @commands = (qw(stat session session-revoke customer sessions identities
                   journey resolve link unlink merge revoke unrevoke
                   revocations export import help),
                (map { "policy $_" } qw(validate load show revisions rollback
                                        diff check)),
                map { "keys $_" } qw(init status rotate));

for my $help ('--help', '-h', 'help') {
    my ($rc, $out, $err) = run($help);
    is($rc, 0, "$help: exit 0");
    like($out, qr/^Usage: omnictl \[-d DIR\] \[--keyring FILE\] COMMAND/,
         "$help: usage on stdout");
    is($err, '', "$help: nothing on stderr");
}

{
    my (undef, $out) = run('--help');
    my @missing = grep { $out !~ /^  \Q$_\E\b/m } @commands;
    is("@missing", '', '--help lists every command');
    like($out, qr/OMNI_STORE/, '--help names OMNI_STORE');
    like($out, qr/OMNI_KEYRING/, '--help names OMNI_KEYRING');
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

# a merge names two customers the store knows, or changes nothing
refused('merge into a customer that does not exist', 1,
        qr/^omnictl: customer doesnotexist is unknown \(not_found\)$/,
        'merge', 'cust-a', 'doesnotexist');
refused('merge a customer that does not exist', 1,
        qr/^omnictl: customer nobody is unknown \(not_found\)$/,
        'merge', 'nobody', 'cust-a');
$r = ok_json('resolve after the refused merges', 'resolve', 'phone',
             '+8613800000000');
is($r->{customer}, 'cust-a', '...the identities stayed where they were');
refused('...and the made-up id is still unknown', 1,
        qr/^omnictl: customer doesnotexist is unknown \(not_found\)$/,
        'customer', 'doesnotexist');

# a survivor chain that ends in a customer without records (a store
# damaged, or restored in part): the merge has nowhere to go
{
    my $damaged = fresh();
    my $record = sub {
        my ($db, $key, $value) = @_;
        return '{"db":"' . $db . '","key":"'
               . MIME::Base64::encode_base64($key, '') . '","value":"'
               . MIME::Base64::encode_base64($value, '') . "\"}\n";
    };
    spew("$tmp/chain.jsonl",
         '{"omni_store_export":1,"format":1,'
         . '"exported_at":"2026-01-01T00:00:00Z"}' . "\n"
         . $record->('customers', "merged\0M",
                     "\x01" . ("\0" x 8) . 'vanished'));
    my ($rc, undef, $err) = run('-d', $damaged, 'import', "$tmp/chain.jsonl");
    is($rc, 0, 'a merge record whose survivor has no record imports')
        or diag($err);
    ($rc, undef, $err) = run('-d', $damaged, 'link', 'phone', '+1', 'cust-x');
    is($rc, 0, '...beside a customer with an identity') or diag($err);

    my $out;
    ($rc, $out, $err) = run('-d', $damaged, 'merge', 'cust-x', 'merged');
    is($rc, 1, 'merge into it: exit 1');
    like($err, qr/^omnictl: customer vanished, which merged was merged into, is unknown \(not_found\)$/,
         '...not_found, naming the end of the chain');
    ($rc, $out) = run('-d', $damaged, 'resolve', 'phone', '+1');
    is($json->decode($out)->{customer}, 'cust-x', '...and nothing moved');
}

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


# policies

my $user = (getpwuid($<))[0];
my $actor = defined $user ? "omnictl:$user" : "omnictl:$<";

my $policy = {
    version => 1,
    anonymous_role => 'anonymous',
    roles => {
        anonymous => {
            rules => [ { id => 'anon-coupons', effect => 'allow',
                         actions => ['coupon.*'] } ],
        },
        customer => {
            rules => [ { id => 'cust-self', effect => 'allow',
                         actions => ['order.query', 'order.list'] } ],
        },
        agent => {
            inherits => ['customer'],
            rules => [ { id => 'agent-orders', effect => 'allow',
                         actions => ['order.*'], channels => ['web'] },
                       { id => 'agent-no-create', effect => 'deny',
                         actions => ['order.create'] } ],
        },
        vip_desk => {
            inherits => ['agent'],
            rules => [ { id => 'vip-express', effect => 'allow',
                         actions => ['refund.express'],
                         when => { tier => ['gold'],
                                   session_age_max => 600 } } ],
        },
    },
};

my $valid = "$tmp/policy.json";
spew($valid, JSON::PP->new->pretty->canonical->encode($policy));

# three mistakes: an effect, an unknown parent, a rule id used twice
my $invalid = "$tmp/invalid.json";
spew($invalid, '{"version":1,"roles":{'
               . '"a":{"rules":[{"id":"x","effect":"maybe","actions":["*"]}]},'
               . '"b":{"inherits":["nobody"],'
               . '"rules":[{"id":"x","effect":"allow","actions":["a.b"]}]}}}');

my $cyclic = "$tmp/cyclic.json";
spew($cyclic, '{"version":1,"roles":{"a":{"inherits":["b"]},'
              . '"b":{"inherits":["c"]},"c":{"inherits":["a"]}}}');

{
    my ($rc, $out, $err) = run({ env => undef }, 'policy', 'validate', $valid);
    is($rc, 0, 'policy validate: exit 0, without a store') or diag($err);
    is($out, "$valid: ok (4 roles, 5 rules)\n", '...counts roles and rules');
    is($err, '', '...nothing on stderr');

    ($rc, $out, $err) = run({ env => undef }, 'policy', 'validate', $invalid);
    is($rc, 1, 'an invalid policy: exit 1');
    is($out, '', '...nothing on stdout');
    like($err, qr/\Aomnictl: \Q$invalid\E: 3 errors\n(  \S[^\n]*\n){3}\z/,
         '...every error, one a line');
    like($err, qr/effect/, '...the effect');
    like($err, qr/nobody/, '...the unknown role');
    like($err, qr/\bx\b.*(also|twice|duplicate)|(also|twice|duplicate).*\bx\b/,
         '...the rule id used twice');

    ($rc, $out, $err) = run({ env => undef }, 'policy', 'validate', $cyclic);
    is($rc, 1, 'a cyclic policy: exit 1');
    like($err, qr/\Aomnictl: \Q$cyclic\E: 1 error\n  .*cycle/,
         '...names the cycle');

    ($rc, $out, $err) = run({ stdin => $valid, env => undef },
                            'policy', 'validate', '-');
    is($rc, 0, 'policy validate - reads stdin');
    is($out, "-: ok (4 roles, 5 rules)\n", '...and says so');

    ($rc, undef, $err) = run('policy', 'validate', "$tmp/none.json");
    is($rc, 1, 'a missing file: exit 1');
    like($err, qr/none\.json": No such file or directory/, '...says so');

    spew("$tmp/huge.json", ' ' x (4 * 1024 * 1024 + 1));
    ($rc, undef, $err) = run('policy', 'validate', "$tmp/huge.json");
    is($rc, 1, 'a file over 4 MiB: exit 1');
    like($err, qr/is larger than 4194304 bytes/, '...says so');
}

refused('policy without a command', 2,
        qr/^omnictl: policy needs a command: validate, load/m, 'policy');
refused('an unknown policy command', 2,
        qr/^omnictl: unknown command "policy frob"$/m, 'policy', 'frob');
refused('policy show of a bad revision', 2,
        qr/^omnictl: revision "x" is not a number$/m, 'policy', 'show', 'x');
refused('policy load without a file', 2,
        qr/^omnictl: too few arguments for policy load$/m, 'policy', 'load');
refused('policy show with --note', 2,
        qr/^omnictl: policy show takes no option "--note"$/m,
        'policy', 'show', '--note', 'x');

refused('policy show of an empty store', 1,
        qr/^omnictl: the store has no policy \(not_found\)$/, 'policy', 'show');
refused('policy check of an empty store', 1,
        qr/^omnictl: the store has no policy$/,
        'policy', 'check', '--action', 'a', '--channel', 'web');

$r = ok_json('policy load', 'policy', 'load', $valid, '--note', 'first one');
is_deeply($r, { revision => 1 }, 'the first revision is 1');

{
    my ($rc, $out, $err) = run('-d', $dir, 'policy', 'load', $invalid);
    is($rc, 1, 'policy load of an invalid policy: exit 1');
    is($out, '', '...nothing on stdout');
    like($err, qr/\Aomnictl: 3 errors \(policy_invalid\)\n(  \S[^\n]*\n){3}\z/,
         '...the admin API lists every error');

    ($rc, $out, $err) = run('-d', $dir, 'policy', 'load', $cyclic);
    is($rc, 1, 'policy load of a cyclic policy: exit 1');
    like($err, qr/cycle/, '...names the cycle');
}

$r = ok_json('policy show', 'policy', 'show');
is($r->{revision}, 1, 'policy show: the current revision');
is($r->{author}, $actor, '...written by omnictl and the user');
is($r->{note}, 'first one', '...with the note');
like($r->{time}, qr/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/, '...and the time');
is_deeply($r->{policy}, $policy, '...and the policy');

{
    my ($rc, $out, $err) = run('-d', $dir, 'export');
    my ($line) = grep { /"key":"cG9saWN5OnJldjoAAAAB"/ } split /\n/, $out;
    ok($line, 'the revision is a meta record of the export');
    my $value = MIME::Base64::decode_base64(
        $json->decode($line)->{value});
    is(substr($value, -length slurp($valid)), slurp($valid),
       '...holding the file byte for byte');
}

my %edited = %$policy;
$edited{roles} = { %{ $policy->{roles} } };
$edited{roles}{supervisor} = { inherits => ['vip_desk'] };
delete $edited{roles}{anonymous};
$edited{anonymous_role} = 'customer';
spew("$tmp/edited.json", $json->encode(\%edited));

$r = ok_json('policy load a second', 'policy', 'load', "$tmp/edited.json");
is_deeply($r, { revision => 2 }, 'the next revision is 2');

$r = ok_json('policy show 1', 'policy', 'show', '1');
is($r->{revision}, 1, 'policy show N: that revision');
is_deeply($r->{policy}, $policy, '...with its policy');
refused('policy show of a missing revision', 1,
        qr/^omnictl: no policy revision 7 \(not_found\)$/, 'policy', 'show', '7');

$r = ok_json('policy revisions', 'policy', 'revisions');
is_deeply([ map { $_->{revision} } @{ $r->{revisions} } ], [2, 1],
          'policy revisions: newest first');
is($r->{revisions}[1]{note}, 'first one', '...with the notes');
is($r->{revisions}[0]{note}, '', '...empty without --note');
is($r->{revisions}[1]{size}, -s $valid, '...and the sizes');
is($r->{next}, undef, '...on one page');

$r = ok_json('policy revisions, a page of one', 'policy', 'revisions',
             '--limit', '1');
is($r->{next}, 2, 'a page of one names the next');
$r = ok_json('policy revisions, the next page', 'policy', 'revisions',
             '--limit', '1', '--before', $r->{next});
is($r->{revisions}[0]{revision}, 1, '...which goes on below it');

$r = ok_json('policy diff', 'policy', 'diff', '1');
is($r->{from}, 1, 'policy diff: from 1');
is($r->{to}, 2, '...to the current revision');
is_deeply($r->{roles}{added}, ['supervisor'], '...a role added');
is_deeply($r->{roles}{removed}, ['anonymous'], '...a role removed');
is_deeply($r->{anonymous_role}, { from => 'anonymous', to => 'customer' },
          '...the anonymous role changed');
$r = ok_json('policy diff A B', 'policy', 'diff', '2', '1');
is_deeply($r->{roles}{added}, ['anonymous'], 'policy diff 2 1: the other way');
refused('policy diff of a missing revision', 1,
        qr/^omnictl: no policy revision 9 \(not_found\)$/, 'policy', 'diff', '9');

$r = ok_json('policy rollback', 'policy', 'rollback', '1');
is_deeply($r, { revision => 3 }, 'policy rollback: a new revision');
$r = ok_json('policy show after the rollback', 'policy', 'show');
is($r->{note}, 'rollback to 1', '...noted as a rollback');
is_deeply($r->{policy}, $policy, "...with revision 1's policy");
refused('policy rollback to a missing revision', 1,
        qr/^omnictl: no policy revision 9 \(not_found\)$/,
        'policy', 'rollback', '9');
refused('policy rollback to 0', 1, qr/"revision" must be an integer from 1 to 4294967295 \(invalid_argument\)$/,
        'policy', 'rollback', '0');

# decisions, against the file and against the store (now revision 1's)

my @checks = (
    [ 'an allow', 0, "allow  rule cust-self  via customer\n",
      '--roles', 'customer', '--action', 'order.query', '--channel', 'app' ],
    [ 'an inherited allow', 0,
      "allow  rule agent-orders  via vip_desk > agent\n",
      '--roles', 'vip_desk', '--action', 'order.refund', '--channel', 'web' ],
    [ 'an explicit deny wins', 3,
      "deny  rule agent-no-create  via vip_desk > agent\n",
      '--roles', 'vip_desk', '--action', 'order.create', '--channel', 'web' ],
    [ 'the default deny', 3, "deny  rule default (no rule matched)\n",
      '--roles', 'customer', '--action', 'order.refund', '--channel', 'web' ],
    [ 'a channel mismatch', 3, "deny  rule default (no rule matched)\n",
      '--roles', 'agent', '--action', 'order.refund', '--channel', 'app' ],
    [ 'an unknown role', 3, "deny  rule default (no rule matched)\n",
      '--roles', 'nobody', '--action', 'order.query', '--channel', 'web' ],
    [ 'two roles', 0, "allow  rule cust-self  via customer\n",
      '--roles', 'nobody,customer', '--action', 'order.list',
      '--channel', 'web' ],
    [ 'the anonymous role', 0, "allow  rule anon-coupons  via anonymous\n",
      '--anonymous', '--action', 'coupon.claim', '--channel', 'miniprogram' ],
    [ 'the anonymous role, nothing else', 3,
      "deny  rule default (no rule matched)\n",
      '--anonymous', '--action', 'order.query', '--channel', 'web' ],
    [ 'a tier condition met', 0, "allow  rule vip-express  via vip_desk\n",
      '--roles', 'vip_desk', '--action', 'refund.express', '--channel', 'web',
      '--tier', 'gold', '--session-age', '60' ],
    [ 'another tier', 3, "deny  rule default (no rule matched)\n",
      '--roles', 'vip_desk', '--action', 'refund.express', '--channel', 'web',
      '--tier', 'silver', '--session-age', '60' ],
    [ 'a session too old', 3, "deny  rule default (no rule matched)\n",
      '--roles', 'vip_desk', '--action', 'refund.express', '--channel', 'web',
      '--tier', 'gold', '--session-age', '601' ],
);

for my $c (@checks) {
    my ($name, $code, $want, @args) = @$c;
    for my $from ([ 'the file', '--file', $valid ], [ 'the store' ]) {
        my ($what, @src) = @$from;
        my ($rc, $out, $err) = run({ env => undef }, ($what eq 'the store'
                                                      ? ('-d', $dir) : ()),
                                   'policy', 'check', @args, @src);
        is($rc, $code, "policy check, $name, against $what: exit $code")
            or diag($err);
        is($out, $want, "...$want");
        is($err, '', '...nothing on stderr');
    }
}

{
    my ($rc, $out, $err) = run({ env => undef }, 'policy', 'check',
                               '--action', 'a', '--channel', 'web');
    is($rc, 2, 'policy check without --file or a store: exit 2');
    like($err, qr/no store directory/, '...says so');

    ($rc, $out, $err) = run('policy', 'check', '--action', 'a',
                            '--channel', 'web', '--file', $invalid);
    is($rc, 1, 'policy check of an invalid file: exit 1');
    like($err, qr/\Aomnictl: \Q$invalid\E: 3 errors\n/, '...its errors');
    is($out, '', '...and no decision');
}

refused('policy check without --action', 2,
        qr/^omnictl: policy check needs --action and --channel$/m,
        'policy', 'check', '--channel', 'web');
refused('policy check with --anonymous=yes', 2,
        qr/^omnictl: --anonymous takes no value$/m,
        'policy', 'check', '--anonymous=yes', '--action', 'a', '--channel', 'b');
refused('policy check with a bad --session-age', 2,
        qr/^omnictl: --session-age "soon" is not a number$/m,
        'policy', 'check', '--action', 'a', '--channel', 'b',
        '--session-age', 'soon');
refused('policy check with a positional argument', 2,
        qr/^omnictl: too many arguments for policy check/m,
        'policy', 'check', 'x');


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
    is_deeply($json->decode($out), { imported => $count, skipped => 0 },
              'import counts the records');

    ($rc, $out) = run('-d', $copy, 'export');
    is(records($out), $records, 'export, import, export: the same records');

    ($rc, $out) = run('-d', $copy, 'resolve', 'email', 'bob@example.com');
    is($json->decode($out)->{customer}, 'cust-a',
       'the imported store resolves through the survivor');

    ($rc, $out) = run('-d', $copy, 'policy', 'show');
    is($json->decode($out)->{revision}, 3,
       'the imported store has the policy revisions');
    ($rc, $out) = run('-d', $copy, 'policy', 'revisions');
    is(scalar @{ $json->decode($out)->{revisions} }, 3, '...all of them');

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
        [ 'a wrong format number', sub { $_[0] =~ s/"format":1/"format":9/ }, 1,
          qr/line 1: store format 9, this build writes 1 \(plain\) or 2 \(sealed\)/ ],
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
          sub { $_[1] = '{"db":"meta","key":"Zm9ybWF0","value":"OQ=="}' }, 2,
          qr/line 2: the store's format record is neither 1 \(plain\) nor 2 \(sealed\)/ ],
        [ 'an empty line', sub { $_[300] = '' }, 301, qr/line 301: empty/ ],
        [ 'a line over 8 MiB', sub { $_[10] = 'x' x (8 * 1024 * 1024 + 1) },
          11, qr/line 11: longer than 8388608 bytes/ ],
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

# audit: every change as a JSON line in $OMNI_AUDIT_LOG, reads not at all

{
    my $adir = fresh();
    my $log = "$tmp/audit.log";
    local $ENV{OMNI_AUDIT_LOG} = $log;

    my ($rc, $out, $err) = run('-d', $adir, 'link', 'phone', '+100', 'c-audit');
    is($rc, 0, 'audit: a change with OMNI_AUDIT_LOG set') or diag($err);
    ($rc) = run('-d', $adir, 'resolve', 'phone', '+100');
    is($rc, 0, 'audit: a read');
    ($rc) = run('-d', $adir, 'revoke', 'jti', 'j-audit');
    is($rc, 0, 'audit: another change');

    my @lines = map { $json->decode($_) } grep { length } split /\n/, slurp($log);
    is(scalar @lines, 2, 'audit: one line per change, none for the read');
    is($lines[0]{change}, 'link a phone identity to c-audit', 'audit: what changed');
    like($lines[0]{actor}, qr/^omnictl:\S+$/, 'audit: who changed it');
    like($lines[0]{time}, qr/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/, 'audit: when');
    is($lines[0]{store}, $adir, 'audit: in which store');
    like($lines[1]{change}, qr/^revoke jti j-audit/, 'audit: the revocation');

    $ENV{OMNI_AUDIT_LOG} = "$tmp/no/such/dir/audit.log";
    ($rc, $out, $err) = run('-d', $adir, 'link', 'phone', '+200', 'c-audit');
    is($rc, 1, 'audit: an audit log that cannot be opened fails the command');
    like($err, qr/cannot open the audit log/, '...saying so');
    ($rc) = run('-d', $adir, 'resolve', 'phone', '+200');
    is($rc, 1, '...before anything changed');
}

done_testing();
