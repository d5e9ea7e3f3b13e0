# The cases panel of the agent console (docs/console.md) in a real browser,
# as t/220-console.t drives it: a case found by its id (the format checked
# in the page, the check digit by the server), the customer's cases with a
# countdown to each due time of an open one and "overdue" past it, a case's
# events with internal notes marked, a note and a status change after a
# preview, and a move the API refuses (409) shown as such; no Content-
# Security-Policy violation, no console error, the token never in a URL or
# a log, the changes audited.

use strict;
use warnings;

use lib 't/lib';
use File::Path qw(make_path);
use JSON::PP;
use Time::HiRes ();
use Time::Local qw(timegm);
use Test::More;
use Omni::Test;
use Omni::Jwt qw(keygen mint);
use Omni::Browser;

my $unavailable = Omni::Browser::unavailable();
plan skip_all => $unavailable if $unavailable;

my $t = Omni::Test->new;
my $repo = Omni::Test::repo_root();
my $k = keygen($t->prefix . '/keys');
my $store = $t->prefix . '/store';
my $shots = "$repo/build/t/222-console-cases";
my $json = JSON::PP->new->canonical->utf8;

mkdir $store or die "$store: $!";
chmod 0777, $store;
make_path($shots);

# complaints: 30 minutes to answer; billing: due a second after opening,
# overdue by the time the page shows it; anything else: 4 hours, 3 days
$t->write_file('sla.json', <<'END');
{"default": {"first_response": "4h", "resolution": "3d"},
 "rules": [{"category": "complaint", "priority": "urgent",
            "first_response": "30m", "resolution": "8h"},
           {"category": "billing", "first_response": "1s", "resolution": "1s"}]}
END
my $sla = $t->prefix . '/sla.json';

# under the policy (the /pconsole/ location): an agent reads customers
# and cases with identity values masked, a supervisor may do anything
$t->write_file('policy.json', <<'END');
{"version": 1,
 "roles": {
   "agent": {"rules": [{"id": "agent-reads", "effect": "allow",
                        "actions": ["admin.stats.read",
                                    "admin.customers.read",
                                    "admin.identities.read",
                                    "admin.cases.read"]}],
             "scopes": [{"path": "identities.*.value",
                         "mask": {"keep_last": 4}}]},
   "supervisor": {"rules": [{"id": "sup-all", "effect": "allow",
                             "actions": ["admin.*"]}]}}}
END

$t->start(<<"END", workers => 2);
omni_jwt_secret $k->{hs32};
omni_store $store sync=none;
omni_case_sla $sla;
omni_policy_file %%PREFIX%%/policy.json;

server {
    listen 127.0.0.1:%%PORT%%;
    server_name localhost;

    location /console/ {
        alias $repo/console/;
        include $repo/conf/console.conf;

        location /console/api/ {
            omni_gateway on;
            omni_admin;
        }
    }

    location /pconsole/ {
        alias $repo/console/;
        include $repo/conf/console.conf;

        location /pconsole/api/ {
            omni_gateway on;
            omni_admin;
            omni_policy on;
        }
    }
}
END

sub token { mint(alg => 'HS256', key => $k->{hs32}, @_) }
my $admin = token(sub => 'agent-smith', roles => 'admin');
my $seeder = token(sub => 'seeder', roles => 'admin');

sub admin_api {
    my ($method, $path, $body) = @_;
    my $r = $t->request(method => $method, path => "/console/api/$path",
                        no_subst => 1,
                        headers => [ [ Authorization => "Bearer $seeder" ] ],
                        (defined $body ? (body => $json->encode($body)) : ()));
    return ($r, eval { $json->decode($r->{body}) });
}

# --- seeding: ana (a phone), three cases: a complaint, an overdue bill,
# and a question that was answered and closed
my ($r) = admin_api(PUT => 'identities/phone/%2B8613800000001',
                    { customer => 'c-ana' });
is($r->{status}, 200, 'a customer c-ana');

my ($open, $complaint) = admin_api(POST => 'cases',
    { customer => 'c-ana', subject => 'Parcel never came <b>x</b>',
      category => 'complaint', priority => 'urgent', channel => 'web' });
is($open->{status}, 201, 'a complaint opened');
my $id = $complaint->{id};
(undef, my $bill) = admin_api(POST => 'cases',
    { customer => 'c-ana', subject => 'Charged twice', category => 'billing',
      channel => 'ivr' });
(undef, my $past) = admin_api(POST => 'cases',
    { customer => 'c-ana', subject => 'Opening hours?', category => 'question',
      channel => 'miniprogram' });
admin_api(POST => "cases/$past->{id}/notes", { text => 'Nine to five.' });
admin_api(POST => "cases/$past->{id}/status", { status => 'resolved' });
(undef, my $closed) = admin_api(POST => "cases/$past->{id}/status",
                                { status => 'closed' });
is($closed->{status}, 'closed', 'a past case, closed');

# the same id with another check digit
my $wrong = substr($id, 0, 9) . ((substr($id, 9) + 1) % 10);

# --- the browser

my $browser = Omni::Browser->new(profile => $t->prefix . '/chromium');
my $base = 'http://127.0.0.1:' . $t->port(0) . '/console/';
my $n = 0;

sub shot {
    $browser->screenshot(sprintf('%s/%02d-%s.png', $shots, ++$n, $_[0]));
}

sub text_of { $browser->text(@_) }
sub visible { Omni::Browser::visible(@_) }

sub find_case {
    my ($value) = @_;
    $browser->js('document.querySelector("#search-case").value = ""');
    $browser->type('#search-case', $value);
    $browser->click('#search-form button[type=submit]');
}

sub confirm_ok {
    $browser->wait_for('document.querySelector("#confirm").open');
    my $body = text_of('#confirm-body');
    $browser->click('#confirm-ok');
    return $body;
}

$browser->navigate($base);
$browser->wait_for(visible('#token'));
$browser->type('#token', $admin);
$browser->click('#token-form button[type=submit]');
ok($browser->wait_for(visible('#search-form')), 'signed in');

$browser->click('input[name=by][value=case]');
ok($browser->js(visible('#search-case')), 'search by case id');

# a malformed id never leaves the page
my $before = scalar @{ $browser->events->{requests} };
find_case('12345');
$browser->wait_for(visible('#error'));
like(text_of('#error'), qr/^Not a case id: a case id is 10 digits/,
     'a malformed case id: refused in the page');
is(scalar @{ $browser->events->{requests} }, $before, '...without a request');

find_case($wrong);
$browser->wait_for('document.querySelector("#error").textContent.includes("400")');
like(text_of('#error'), qr/400 invalid_argument/,
     'a wrong check digit: the server says 400');

# the bill is overdue by now (its due times are a second after opening)
my ($y, $mo, $d, $h, $mi, $sec) = $bill->{resolution_due} =~ /(\d+)/g;
my $late = timegm($sec, $mi, $h, $d, $mo - 1, $y) + 0.1 - Time::HiRes::time();
Time::HiRes::sleep($late) if $late > 0;

find_case($id);
$browser->wait_for(visible('#case-detail') . ' && document.querySelectorAll('
                   . '"#case-list .case").length === 3');
is(text_of('#customer-id'), 'c-ana', "found by case id: the case's customer");
like(text_of('#customer-note'), qr/^Found by case $id\./, '...said so');
is(text_of('#case-id'), $id, '...and the case shown');
like(text_of('#case-summary'), qr/^Parcel never came <b>x<\/b>: new, complaint, priority urgent, opened on web/,
     'the case: subject as text, status, category, priority, channel');
is($browser->js('document.querySelectorAll("#cases b").length'), 0,
   '...the subject made no element');
shot('case');

# the list: open ones first, each with its countdowns; the past one without
# (the two open ones were opened in the same second: in either order)
my $classes = $browser->js('Object.fromEntries([...document.querySelectorAll('
                           . '"#case-list .case")].map((e) => [e.dataset.case, '
                           . 'e.className]))');
is_deeply($classes, { $id => 'case open selected', $bill->{id} => 'case open',
                      $past->{id} => 'case past' },
          'the cases: open and past, the shown one selected');
is($browser->js('document.querySelector("#case-list .case:last-child")'
                . '.dataset.case'), $past->{id}, '...the past one last');
my $countdowns = $browser->js(<<"END");
["$id", "$bill->{id}", "$past->{id}"].map((id) =>
    [...document.querySelectorAll(`.case[data-case="\${id}"] .countdown`)].map((e) =>
        e.closest('.due').classList[1] + ': ' + e.textContent
        + (e.classList.contains('overdue') ? ' (overdue)' : '')))
END
like($countdowns->[0][0], qr/^first-response: (29|30)m left$/,
     'the complaint: 30 minutes to the first response');
like($countdowns->[0][1], qr/^resolution: (7h 59m|8h 00m) left$/,
     '...8 hours to its resolution');
is_deeply($countdowns->[1], [ 'first-response: overdue by under a minute (overdue)',
                              'resolution: overdue by under a minute (overdue)' ],
          'the bill: overdue, marked as such');
is_deeply($countdowns->[2], [], 'the closed case: no countdown');
like(text_of(".case[data-case=\"$past->{id}\"] .first-response"),
     qr/answered/, '...its first response, answered');
isnt($browser->js('getComputedStyle(document.querySelector(".countdown.overdue"))'
                  . '.color'),
     $browser->js('getComputedStyle(document.querySelector(".countdown:not(.overdue)"))'
                  . '.color'),
     'overdue in its own style');

# the countdowns count down with the clock, without a request: the page's
# clock an hour on, then the tab shown again (as the minute's tick does)
$before = scalar @{ $browser->events->{requests} };
$browser->js('(() => { const now = Date.now; window.__realNow = now; '
             . 'Date.now = () => now() + 3600e3; '
             . 'document.dispatchEvent(new Event("visibilitychange")); })()');
my $first = ".case[data-case=\"$id\"] .countdown";
like(text_of($first), qr/^overdue by (29|30)m$/,
     'an hour on: the complaint overdue');
ok($browser->js("document.querySelector('$first').classList"
                . '.contains("overdue")'), '...in the overdue style');
is(scalar @{ $browser->events->{requests} }, $before, '...without a request');
$browser->js('(() => { Date.now = window.__realNow; '
             . 'document.dispatchEvent(new Event("visibilitychange")); })()');
like(text_of($first), qr/^(29|30)m left$/, 'back to now');

# an internal note, after its preview
$browser->type('#note-text', 'Courier says <i>lost</i>; refund pending');
$browser->js('document.querySelector("#note-kind").value = "internal"');
$browser->click('#note-form button[type=submit]');
like(confirm_ok(), qr/To case $id of customer c-ana:.*Internal: agents see it/,
     'the note: previewed as internal');
$browser->wait_for('document.querySelector("#notice").textContent'
                   . '.startsWith("Added an internal note")');
$browser->wait_for('document.querySelectorAll("#case-events .internal").length === 1');
like(text_of('#case-events .internal'),
     qr/^Internal note .* by agent-smith on admin.*Courier says <i>lost<\/i>; refund pending$/,
     'the note in the events, marked internal, as text');
(undef, my $now) = admin_api(GET => "cases/$id");
is_deeply([ map { $_->{kind} } @{ $now->{events} } ], [ qw(created internal) ],
          '...in the store as an internal note');
shot('internal-note');

# new -> open, from the moves the API allows
is_deeply($browser->js('[...document.querySelectorAll("#case-status option")]'
                       . '.map((e) => e.value)'),
          [ qw(open pending on_hold resolved) ], 'the moves from new');
$browser->js('document.querySelector("#case-status").value = "open"');
$browser->click('#status-form button[type=submit]');
like(confirm_ok(), qr/Case $id goes from new to open/, 'the move: previewed');
$browser->wait_for('document.querySelector("#notice").textContent'
                   . ' === "Case ' . $id . ' is now open."');
$browser->wait_for('document.querySelector("#case-summary .status")'
                   . '.textContent === "open"');
(undef, $now) = admin_api(GET => "cases/$id");
is($now->{status}, 'open', 'open in the store');
is_deeply($browser->js('[...document.querySelectorAll("#case-status option")]'
                       . '.map((e) => e.value)'),
          [ qw(pending on_hold resolved) ], 'the moves from open');

# someone else resolves it meanwhile: the page's move to pending is refused
is((admin_api(POST => "cases/$id/status", { status => 'resolved' }))[0]{status},
   200, 'resolved behind the page');
$browser->js('document.querySelector("#case-status").value = "pending"');
$browser->click('#status-form button[type=submit]');
confirm_ok();
$browser->wait_for(visible('#error'));
like(text_of('#error'), qr/^409 conflict: .*refused: the case is unchanged; shown again as it is now/,
     'a refused move: the 409 shown');
(undef, $now) = admin_api(GET => "cases/$id");
is($now->{status}, 'resolved', '...and nothing changed');
$browser->wait_for('document.querySelector("#case-summary .status")'
                   . '.textContent === "resolved"');
is_deeply($browser->js('[...document.querySelectorAll("#case-status option")]'
                       . '.map((e) => e.value)'),
          [ qw(open closed) ], '...the case shown again, as resolved, '
          . 'with the moves from there');
like(text_of('#error'), qr/^409 conflict/, '...the 409 still shown');
shot('refused-move');

$browser->click('#sign-out');
$browser->wait_for(visible('#token'));
is($browser->js('document.querySelector("#customer").textContent'
                . '.includes("Parcel")'), JSON::PP::false,
   'signed out: the case gone from the page');

# --- what the page did

my $seen = $browser->events;
is_deeply($browser->js('window.__cspViolations'), [],
          'no Content-Security-Policy violation');
is_deeply($seen->{exceptions}, [], 'no exception');
is_deeply([ grep { $_->{type} eq 'error' || $_->{type} eq 'warning' }
            @{ $seen->{console} } ], [], 'no console error or warning');
# the refused calls (400, 409) are the only errors the browser logs
is_deeply([ grep { $_->{level} eq 'error'
                   && !(($_->{source} || '') eq 'network'
                        && ($_->{url} || '') =~ m{/console/api/}) }
            @{ $seen->{log} } ], [], 'no other error logged');
my @requests = @{ $seen->{requests} };
my ($sig) = $admin =~ /\.([^.]+)\z/;
is_deeply([ grep { index($_->{url}, $sig) >= 0 || index($_->{url}, 'eyJ') >= 0 }
            @requests ], [], 'no URL requested carries a token');
ok((grep { $_->{url} =~ m{/console/api/cases/$id/notes$} } @requests),
   'the note went to the API');

# --- masked by role: the same customer, under the policy

sub identities_as {
    my ($who) = @_;
    $browser->navigate('http://127.0.0.1:' . $t->port(0) . '/pconsole/');
    $browser->wait_for(visible('#token'));
    $browser->type('#token', $who);
    $browser->click('#token-form button[type=submit]');
    $browser->wait_for(visible('#search-form'));
    $browser->click('input[name=by][value=case]');
    find_case($id);
    $browser->wait_for('document.querySelector("#identity-groups")'
                       . '.textContent.includes("0001")');
    my $text = text_of('#identity-groups');
    $browser->click('#sign-out');
    $browser->wait_for(visible('#token'));
    return $text;
}

my $agent_text = identities_as(token(sub => 'agent-ann', roles => 'agent'));
like($agent_text, qr/\*{10}0001/, 'an agent sees the phone masked but the last 4');
unlike($agent_text, qr/8613800000001/, '...never whole');
shot('masked-for-an-agent');
my $sup_text = identities_as(token(sub => 'sup-sam', roles => 'supervisor'));
like($sup_text, qr/\+8613800000001/, 'a supervisor sees it whole');
$browser->quit;

my $error_log = $t->error_log;
my @audit = $error_log =~ /omni admin: (.*)$/mg;
ok((grep { /^.*case $id.* by "agent-smith" \(request [0-9a-f]{32}\)$/ } @audit),
   "the agent's changes audited") or diag(join "\n", @audit);
is_deeply([ grep { /Courier|Parcel/ } @audit ], [], '...without the texts');
my $logs = $t->read_file('access.log') . $error_log;
for my $token ($admin, $seeder) {
    my ($s) = $token =~ /\.([^.]+)\z/;
    ok(index($logs, $s) < 0, 'no token in the access or error log');
}

done_testing();
