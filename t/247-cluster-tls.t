# omni-sync against a nats-server that requires TLS and authentication
# (docs/cluster.md, "TLS and credentials"): certificates made here with
# openssl in the test's directory (nothing committed); with the right CA
# and password a revocation crosses; a wrong CA and a wrong password are
# refused with a clear log line and the node keeps serving; a token
# works as well; secrets are read from files only their owner may read
# and never appear in a log; bad combinations of options are refused.

use strict;
use warnings;

use lib 't/lib';
use Test::More;
use Time::HiRes qw(sleep);
use Omni::Test;
use Omni::Cluster;

my $skip = Omni::Cluster::missing();
$skip //= 'openssl is missing' if system('openssl version >/dev/null 2>&1');
plan skip_all => $skip if $skip;

my $password = 'pw-' . join('', map { ('a' .. 'z')[rand 26] } 1 .. 24);
my $token = 'tk-' . join('', map { ('a' .. 'z')[rand 26] } 1 .. 24);
my $conf;

sub openssl {
    my ($dir, $args) = @_;
    system("cd $dir && openssl $args >/dev/null 2>&1") == 0
        or die "openssl $args failed";
}

sub nats_conf {
    my ($dir, $auth) = @_;
    open(my $fh, '>', $conf) or die "$conf: $!";
    print $fh <<"END";
tls {
  cert_file: "$dir/server.pem"
  key_file: "$dir/server.key"
  timeout: 2
}
authorization {
  $auth
}
END
    close $fh;
}

# a CA, the server's certificate for 127.0.0.1 signed by it, another CA
my $c = Omni::Cluster->new(nodes => 2, scheme => 'tls', nats_setup => sub {
    my ($dir) = @_;
    my $ec = '-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes';
    openssl($dir, "req -x509 $ec -keyout ca.key -out ca.pem -days 2 "
                  . '-subj /CN=omni-test-ca');
    openssl($dir, "req -x509 $ec -keyout other.key -out other-ca.pem "
                  . '-days 2 -subj /CN=omni-other-ca');
    openssl($dir, "req $ec -keyout server.key -out server.csr "
                  . '-subj /CN=127.0.0.1');
    open(my $fh, '>', "$dir/san.ext") or die "san.ext: $!";
    print $fh "subjectAltName=IP:127.0.0.1\n";
    close $fh;
    openssl($dir, 'x509 -req -in server.csr -CA ca.pem -CAkey ca.key '
                  . '-CAcreateserial -out server.pem -days 2 -extfile san.ext');
    $conf = "$dir/nats.conf";
    nats_conf($dir, qq{users = [ { user: "omni", password: "$password" } ]});
    return ('-c', $conf);
});
my ($n1, $n2) = $c->nodes;
my $dir = $c->first->prefix . '/nats';
my $secrets = $c->first->prefix . '/secrets';
mkdir $secrets or die "$secrets: $!";

sub secret_file {
    my ($name, $text, $mode) = @_;
    my $f = "$secrets/$name";
    open(my $fh, '>', $f) or die "$f: $!";
    print $fh $text;
    close $fh;
    chmod $mode // 0600, $f;
    return $f;
}

my $pw = secret_file('password', "$password\n");
my $bad_pw = secret_file('bad-password', "not-$password\n");
my $tk = secret_file('token', "$token\n");
my @ca = ('--tls-ca', "$dir/ca.pem");
my @user = ('--user', 'omni', '--password-file', $pw);

# --- refused before any connection
my $sync = Omni::Test::bin('omni-sync');
for my $bad (
    [ [ '--user', 'omni' ], 2, qr/--user and --password-file go together/ ],
    [ [ @user, '--token-file', $tk ], 2,
      qr/--user, --token-file and --creds exclude each other/ ],
    [ [ '--password-file', secret_file('open', "x\n", 0644), '--user', 'omni' ],
      1, qr/must be a file only its owner may read \(chmod 600\)/ ],
    [ [ '--token-file', secret_file('empty', '') ], 1,
      qr/must hold one line of 1 to 1024 bytes/ ],
    [ [ '--token-file', secret_file('two', "a\nb\n") ], 1,
      qr/must hold one line of 1 to 1024 bytes/ ],
    [ [ '--token-file', secret_file('ctl', "a\x01b\n") ], 1,
      qr/holds a control character/ ],
    [ [ '--token-file', "$secrets/none" ], 1, qr/cannot open .*none/ ],
) {
    my ($args, $want, $why) = @$bad;
    my $out = `$sync --store $n1->{store} --node node1 --nats ${\ $c->url } @$args 2>&1`;
    is($? >> 8, $want, "omni-sync @$args: exit $want");
    like($out, $why, '...saying why') or diag($out);
}

# --- the right CA and password; node 2 with another CA
$c->sync_start($n1, @ca, @user);
$c->sync_start($n2, '--tls-ca', "$dir/other-ca.pem", @user);
is($c->revoke($n1, 't-1'), 201, 'node1 revokes t-1');
ok(defined Omni::Cluster::wait_for(10, sub {
       $c->omnictl_json($n1, 'cluster status')->{lag_local} == 0 }),
   'node1 publishes over TLS with its password');
ok(defined Omni::Cluster::wait_for(10, sub {
       $c->sync_log($n2) =~ /cannot connect \(SSL handshake error: .*certificate/i }),
   'node2, trusting another CA, says the certificate is refused')
    or diag($c->sync_log($n2));
is($c->status_of($n2, 't-1'), 200, 'node2 has not heard of t-1');
is($c->status_of($n2, 't-2'), 200, 'and keeps serving');
my $st = $c->omnictl_json($n2, 'cluster status');
ok(!$st->{sync}{engine_reachable}, 'its cluster status: engine unreachable');

# --- the right CA, a wrong password
$c->sync_stop($n2);
$c->sync_start($n2, @ca, '--user', 'omni', '--password-file', $bad_pw);
ok(defined Omni::Cluster::wait_for(10, sub {
       $c->sync_log($n2) =~ /cannot connect \(.*authorization violation/i }),
   'node2 with a wrong password: authorization violation')
    or diag($c->sync_log($n2));
is($c->status_of($n2, 't-1'), 200, 'still not heard of t-1');

# --- both right
$c->sync_stop($n2);
$c->sync_start($n2, @ca, @user);
ok($c->converged('t-1', 10), 'node2 with the right CA and password: t-1 '
   . 'refused everywhere');
is($c->revoke($n2, 't-2'), 201, 'node2 revokes t-2');
ok($c->converged('t-2', 10), 'node1 refuses it');

# --- a token instead
$c->sync_stop($_) for $n1, $n2;
$c->nats_stop;
nats_conf($dir, qq{token: "$token"});
ok($c->nats_start, 'nats-server again, with a token');
$c->sync_start($_, @ca, '--token-file', $tk) for $n1, $n2;
is($c->revoke($n1, 't-3'), 201, 'node1 revokes t-3');
ok($c->converged('t-3', 10), 'the token opens the server to both syncs');

# --- no secret in any log
$c->sync_stop($_) for $n1, $n2;
my $logs = join '', map { $c->sync_log($_) } $n1, $n2;
unlike($logs, qr/\Q$password\E|\Q$token\E/, 'no secret in the sync logs');
like($logs, qr/ready/, '...which say what they did');

$c->stop;

done_testing;
