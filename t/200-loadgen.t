# omni-loadgen, the bench's open-loop client: a few hundred requests at a
# low rate against a stock nginx, through each way an answer can end
# (Content-Length, chunked, the close that keepalive_requests asks for),
# with tokens and a body; its summary line, its exit status on a status
# it was not told to expect and on a refused connection.

use strict;
use warnings;

# a tool's test: stock nginx is enough
BEGIN { $ENV{OMNI_NO_MODULE} = 1 }

use lib 't/lib';
use IO::Socket::INET;
use Test::More;
use Omni::Test;

my $loadgen = Omni::Test::bin('omni-loadgen');
plan skip_all => "$loadgen is not built (make tools)" unless -x $loadgen;

my $t = Omni::Test->new;
my $tokens = $t->write_file('tokens', "tok-a\r\n\ntok-b\ntok-c");
my $body = $t->write_file('body.json', '{"order_id":"ORD-42"}');

# SSI (built into every nginx, unlike sub_filter) drops the
# Content-Length, so nginx answers chunked
$t->start(<<'END');
log_format omni_loadgen '$request_method $http_authorization $content_length';

server {
    listen 127.0.0.1:%%PORT%%;
    keepalive_requests 7;

    location / {
        return 200 '{"ok":true}';
    }

    location /chunked {
        default_type text/html;
        ssi on;
        return 200 'a chunked answer<!--# echo var="ssi_none" default="" -->';
    }

    location /echo {
        access_log %%PREFIX%%/echo.log omni_loadgen;
        return 200 'echo';
    }

    location /missing {
        return 404;
    }
}
END

my $url = 'http://127.0.0.1:' . $t->port;

# runs omni-loadgen; returns its exit status, its output and the summary
sub loadgen {
    my @args = @_;
    my $out = `$loadgen @args 2>&1`;
    my $rc = $? >> 8;
    my %summary = $out =~ /^summary (.*)$/m ? map { split /=/, $_, 2 }
                                              split / /, $1
                                            : ();
    return ($rc, $out, \%summary);
}

{
    my $r = $t->request(path => '/chunked');
    is($r->{headers}{'transfer-encoding'}, 'chunked',
       'the chunked case is answered chunked');
    ok(!defined $r->{headers}{'content-length'}, '...without Content-Length');
}

for my $case ([ 'Content-Length', '/' ], [ 'chunked', '/chunked' ]) {
    my ($name, $path) = @$case;
    my ($rc, $out, $s) = loadgen('-r 2000 -n 200 -c 4', "$url$path");
    is($rc, 0, "$name: exit status 0") or diag($out);
    is($s->{requests}, 200, "$name: 200 answers measured");
    is($s->{errors} . '/' . $s->{unexpected}, '0/0',
       "$name: no error, no unexpected status");
    ok($s->{rate} > 0 && $s->{mean_us} > 0, "$name: a rate and a mean");
    my @p = map { $s->{$_} } qw(p50_us p90_us p99_us p999_us max_us);
    ok((!grep { $p[$_] > $p[$_ + 1] } 0 .. 3),
       "$name: percentiles in order (@p)");
}

{
    my ($rc, $out, $s) = loadgen('-r 2000 -n 60 -c 2 -w 0.01',
                                 "-t $tokens -b $body",
                                 "-H 'Authorization: Bearer not-this'",
                                 "$url/echo");
    is($rc, 0, 'tokens and body: exit status 0') or diag($out);
    is($s->{requests}, 60, 'tokens and body: 60 answers measured');
    ok($s->{warmup_requests} > 0, 'tokens and body: a warm-up');
    like($out, qr/reconnects [1-9]/,
         'keepalive_requests: the closed connections were opened again');

    my %seen;
    $seen{$_}++ for split /\n/, $t->read_file('echo.log');
    my $n = 60 + $s->{warmup_requests};
    my $third = int($n / 3);
    is_deeply([ sort keys %seen ],
              [ map { "POST Bearer tok-$_ 21" } qw(a b c) ],
              'each request carried the next token, and the body');
    ok((!grep { $_ < $third || $_ > $third + 1 } values %seen),
       "the tokens in turn ($n requests: " . join(' ', values %seen) . ')');
}

{
    my ($rc, $out, $s) = loadgen('-r 2000 -n 20 -c 2', "$url/missing");
    is($rc, 1, '404s: exit status 1');
    is($s->{unexpected}, 20, '404s: 20 unexpected statuses');

    ($rc, $out, $s) = loadgen('-r 2000 -n 20 -c 2 -e 404', "$url/missing");
    is($rc, 0, '404s expected: exit status 0') or diag($out);
    is($s->{unexpected}, 0, '404s expected: none unexpected');
}

{
    # a port bound, not listening: refused
    my $bound = IO::Socket::INET->new(LocalAddr => '127.0.0.1',
                                      LocalPort => 0, Proto => 'tcp')
        or die "bind: $!";
    my ($rc, $out) = loadgen('-r 100 -n 5',
                             'http://127.0.0.1:' . $bound->sockport . '/');
    is($rc, 1, 'nothing listens: exit status 1');
    like($out, qr/cannot connect: Connection refused/, 'nothing listens: said');

    ($rc, $out) = loadgen('-n 5', "$url/");
    is($rc, 2, 'no --rate: usage error');
}

done_testing();
