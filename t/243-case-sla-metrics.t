# Case SLA breaches in the metrics (docs/monitoring.md, docs/cases.md):
# cases opened with due times of 1 and 2 seconds, then answered and
# resolved late through the admin API, move omni_case_sla_breaches_total
# by exactly one each; an internal note, an answer on time and reads move
# nothing; omni_cases_past_due counts the open cases past a due time at
# each scrape; promtool check metrics passes.

use strict;
use warnings;

use lib 't/lib';
use JSON::PP;
use Test::More;
use Time::HiRes qw(sleep);
use Omni::Test;
use Omni::Jwt qw(keygen mint);

my $t = Omni::Test->new;
my $k = keygen($t->prefix . '/keys');
my $store = $t->prefix . '/store';
my $promtool = '/usr/bin/promtool';

mkdir $store or die "$store: $!";
chmod 0777, $store;

$t->write_file('sla.json', <<'END');
{"default": {"first_response": "1s", "resolution": "2s"},
 "rules": [{"category": "slow", "first_response": "1h", "resolution": "1h"}]}
END

$t->start(<<"END", workers => 2);
omni_store $store sync=none;
omni_case_sla %%PREFIX%%/sla.json;
omni_metrics_zone 1m;

server {
    listen 127.0.0.1:%%PORT%%;
    server_name localhost;

    location /admin/ {
        omni_gateway on;
        omni_jwt_secret $k->{hs32};
        omni_admin;
    }

    location = /metrics {
        omni_metrics;
    }
}
END

my $admin = mint(alg => 'HS256', key => $k->{hs32}, sub => 'agent-7',
                 roles => 'admin');
my $json = JSON::PP->new->canonical->utf8;

sub call {
    my ($method, $path, $body) = @_;
    my $r = $t->request(method => $method, path => $path, no_subst => 1,
                        headers => [ [ Authorization => "Bearer $admin" ] ],
                        defined $body ? (body => $json->encode($body)) : ());
    $r->{json} = eval { $json->decode($r->{body}) };
    return $r;
}

my $last_body;

sub scrape {
    my $r = $t->request(path => '/metrics');
    $last_body = $r->{body};
    my %m;
    for (split /\n/, $r->{body}) {
        next if /^#/ || !/\S/;
        my ($series, $value) = /^(\S+) (\S+)$/ or die "bad line: $_";
        $m{$series} = $value;
    }
    return \%m;
}

my $FR = 'omni_case_sla_breaches_total{due="first_response"}';
my $RES = 'omni_case_sla_breaches_total{due="resolution"}';
my $DUE_FR = 'omni_cases_past_due{due="first_response"}';
my $DUE_RES = 'omni_cases_past_due{due="resolution"}';

sub delta {
    my ($before, $after, $series) = @_;
    return ($after->{$series} // 0) - ($before->{$series} // 0);
}

is(call(PUT => '/admin/identities/openid/o-1', { customer => 'c1' })
   ->{status}, 200, 'a customer c1');

my %case;
for my $name (qw(a b slow)) {
    my $r = call(POST => '/admin/cases',
                 { customer => 'c1', subject => "case $name",
                   category => $name eq 'slow' ? 'slow' : 'billing' });
    is($r->{status}, 201, "case $name opened");
    $case{$name} = $r->{json}{id};
}

my $m0 = scrape();
is($m0->{$DUE_FR}, 0, 'no open case is past its first response yet');
is($m0->{$DUE_RES}, 0, '...nor its resolution');
is($m0->{'omni_cases_past_due_scanned{of="read"}'}, 3,
   'the scrape read the 3 open cases');
is($m0->{'omni_cases_past_due_scanned{of="truncated"}'}, 0,
   '...all of them');

# past both due times of cases a and b (1 s and 2 s)
sleep 3;

my $m1 = scrape();
is($m1->{$DUE_FR}, 2, 'cases a and b are past their first response');
is($m1->{$DUE_RES}, 2, '...and their resolution');
is(delta($m0, $m1, $FR) + delta($m0, $m1, $RES), 0,
   'time passing breaches nothing in the counter');

# an internal note is no answer; a public one is, late
is(call(POST => "/admin/cases/$case{b}/notes",
        { text => 'looking', kind => 'internal' })->{status}, 200,
   'an internal note on b');
is(call(POST => "/admin/cases/$case{a}/notes", { text => 'we are on it' })
   ->{status}, 200, 'a public note on a, 3 s after its 1 s due time');
is(call(POST => "/admin/cases/$case{a}/notes", { text => 'still on it' })
   ->{status}, 200, 'a second public note on a');
is(call(POST => "/admin/cases/$case{slow}/notes", { text => 'hello' })
   ->{status}, 200, 'a public note on the slow case, in time');
call(GET => "/admin/cases/$case{a}");

my $m2 = scrape();
is(delta($m1, $m2, $FR), 1, 'one late first response counted (a)');
is(delta($m1, $m2, $RES), 0, 'no resolution yet');
is($m2->{$DUE_FR}, 1, 'only b is still past its first response');

# resolutions: a late, the slow case in time, a again after reopening
for my $step ([ a => 'resolved' ], [ slow => 'resolved' ]) {
    is(call(POST => "/admin/cases/$case{$step->[0]}/status",
            { status => $step->[1] })->{status}, 200,
       "case $step->[0] $step->[1]");
}

my $m3 = scrape();
is(delta($m2, $m3, $RES), 1, 'one late resolution counted (a)');
is(delta($m2, $m3, $FR), 0, 'no more first responses');
is($m3->{$DUE_RES}, 1, 'only b is still past its resolution');
is($m3->{'omni_cases_past_due_scanned{of="read"}'}, 1,
   'the scrape read the one case still open');

is(call(POST => "/admin/cases/$case{a}/status", { status => 'open' })
   ->{status}, 200, 'a opened again');
is(call(POST => "/admin/cases/$case{a}/status", { status => 'resolved' })
   ->{status}, 200, 'and resolved again, still late');
is(call(POST => "/admin/cases/$case{a}/status", { status => 'closed' })
   ->{status}, 200, 'and closed');

my $m4 = scrape();
is(delta($m3, $m4, $RES), 1, 'each late resolution counts');
is($m4->{$DUE_RES}, 1, 'b still past due');

$t->write_file('scrape.txt', $last_body);
my $check = `$promtool check metrics < ${\ $t->prefix}/scrape.txt 2>&1`;
is($?, 0, 'promtool check metrics passes') or diag($check);

$t->stop;

done_testing;
