# The agent console (docs/console.md) in a real browser: Debian's headless
# Chromium, driven over the DevTools protocol (t/lib/Omni/Browser.pm), on
# the console nginx serves from console/ with the admin API beside it.  A
# customer seen on web, app and mini-program is found by an identity and
# shown whole; an identity is linked and one unlinked after a preview, a
# session revoked; the page keeps its Content-Security-Policy without a
# violation, shows a hostile identity value as text, and the token goes in
# the Authorization header only: never in a URL, never in a log.

use strict;
use warnings;

use lib 't/lib';
use File::Path qw(make_path);
use JSON::PP;
use Time::HiRes qw(sleep);
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
my $shots = "$repo/build/t/220-console";
my $json = JSON::PP->new->canonical;

mkdir $store or die "$store: $!";
chmod 0777, $store;
make_path($shots);

# ana's channels: each finds or makes the customer, resumes the session and
# adds to the journey; the web's requests go to the desk the dispatch picks
my $channels = join "\n", map {
    my $to = $_ eq 'web' ? "omni_dispatch on;\n        proxy_pass http://\$omni_pool;"
                         : 'proxy_pass http://127.0.0.1:%%PORT1%%;';
    <<"END" } qw(web app miniprogram);
    location /$_/ {
        omni_channel $_;
        omni_customers create;
        omni_session on;
        omni_journey on;
        $to
    }
END
my $workflow = $t->write_file('workflow.json', $json->encode({ version => 1,
    pools => { desk => { upstream => 'desk', capacity => 100 } },
    rules => [ { id => 'chat', channels => [ 'web' ], targets => [ 'desk' ] } ],
    default => { targets => [ 'desk' ] } }));

my $http = <<"END";
omni_plugins $repo/plugins;
omni_lua_library $repo/lua;
omni_jwt_secret $k->{hs32};
omni_store $store sync=none;
omni_journey_limits flush=20ms;
omni_dispatch_file $workflow;
omni_dispatch_zone 1m;

upstream desk {
    server 127.0.0.1:%%PORT1%%;
}

server {
    listen 127.0.0.1:%%PORT1%%;
    access_log off;

    location / {
        default_type application/json;
        return 200 '{"ok":true,"data":{"order":"O-1"}}';
    }
}

server {
    listen 127.0.0.1:%%PORT%%;
    server_name localhost;

    proxy_method POST;
    proxy_set_header Content-Type application/json;
    proxy_set_header Authorization "";
    proxy_set_body \$omni_contract;

$channels
    location /console/ {
        alias $repo/console/;
        include $repo/conf/console.conf;

        location /console/api/ {
            omni_gateway on;
            omni_admin;
        }
    }
}
END

$t->start($http, workers => 2);

sub token { mint(alg => 'HS256', key => $k->{hs32}, @_) }

# the agent's, in the browser; the test's own, for seeding and checking
my $admin = token(sub => 'agent-smith', roles => 'admin', jti => 'agent-1');
my $seeder = token(sub => 'seeder', roles => 'admin');
my $no_role = token(sub => 'bob', roles => 'agent');
my $expired = token(sub => 'agent-smith', roles => 'admin', exp => '-100');
my $ana = token(sub => 'ana');


# --- seeding: ana on web, app, mini-program and web again; bo on web

# The journey orders events by their millisecond, and events of the same
# millisecond from two workers by when each worker wrote its batch: the
# seeding requests are a few milliseconds apart, so that their order is
# the order they were sent in.
sub channel {
    my ($method, $path, $who, %opt) = @_;
    sleep 0.005;
    my $r = $t->request(method => $method, path => $path, no_subst => 1,
                        headers => [ [ Authorization => "Bearer $who" ],
                                     [ 'Content-Type' => 'application/json' ],
                                     @{ $opt{headers} || [] } ],
                        (defined $opt{body} ? (body => $opt{body}) : ()));
    is($r->{status}, 200, "$method $path") or diag($r->{body});
    return $r;
}

sub admin_api {
    my ($method, $path, $body) = @_;
    my $r = $t->request(method => $method, path => "/console/api/$path",
                        no_subst => 1,
                        headers => [ [ Authorization => "Bearer $seeder" ] ],
                        (defined $body ? (body => $body) : ()));
    return ($r, eval { decode_json($r->{body}) });
}

channel(GET => '/web/orders/ORD-1', $ana);
channel(GET => '/web/orders/ORD-2', $ana);
channel(POST => '/app/rpc', $ana, headers => [ [ 'X-Device-Id' => 'dev-ana-1' ] ],
        body => '{"jsonrpc":"2.0","method":"order.query","params":{},"id":1}');
channel(POST => '/miniprogram/coupon/claim', $ana,
        headers => [ [ 'X-WX-Openid' => 'oAnaOpenId0001' ] ],
        body => '{"data":{"coupon_id":"C1"}}');
channel(GET => '/web/orders/ORD-3', $ana);
channel(GET => '/web/orders/ORD-9', token(sub => 'bo'));
channel(GET => '/web/orders/ORD-7', token(sub => 'dee'));

# cy: two events on the app, then more than a page of the journey (50) on
# the web, so that the switch is found across the pages
my $cy = token(sub => 'cy');
for my $i (1 .. 52) {
    sleep 0.005;
    my $r = $i <= 2
        ? $t->request(method => 'POST', path => '/app/rpc', no_subst => 1,
                      headers => [ [ Authorization => "Bearer $cy" ],
                                   [ 'Content-Type' => 'application/json' ] ],
                      body => '{"jsonrpc":"2.0","method":"order.query",'
                              . '"params":{},"id":1}')
        : $t->request(path => "/web/orders/ORD-$i", no_subst => 1,
                      headers => [ [ Authorization => "Bearer $cy" ] ]);
    $r->{status} == 200 or BAIL_OUT("cy's request $i: $r->{status}");
}

my (undef, $found) = admin_api(GET => 'identities/jwt_sub/ana');
my $ana_id = $found->{customer};
(undef, $found) = admin_api(GET => 'identities/jwt_sub/bo');
my $bo_id = $found->{customer};
(undef, $found) = admin_api(GET => 'identities/jwt_sub/dee');
my $dee_id = $found->{customer};
like($ana_id, qr/^[0-9a-f]{32}$/, "ana's customer id");

# hostile values, stored as any identity value may be
my $img = '<img/src=x/onerror=window.__pwned=1>';
my $script = '<script>window.__pwned=2</script>';
(my $img_path = $img) =~ s/([^A-Za-z0-9_.~-])/sprintf('%%%02X', ord $1)/ge;
(my $script_path = $script) =~ s/([^A-Za-z0-9_.~-])/sprintf('%%%02X', ord $1)/ge;
is((admin_api(PUT => "identities/email/$img_path",
              qq({"customer":"$ana_id"})))[0]{status}, 200,
   'an e-mail identity made of markup');
is((admin_api(PUT => "identities/nickname/$script_path",
              qq({"customer":"$ana_id"})))[0]{status}, 200,
   'a nickname made of a script element');
is((admin_api(PUT => 'identities/phone/%2B8613800000000',
              qq({"customer":"$bo_id"})))[0]{status}, 200,
   "bo's phone");

(undef, $found) = admin_api(GET => 'identities/jwt_sub/cy');
my $cy_id = $found->{customer};

# the journeys are written in batches (flush=20ms)
sub journey {
    my ($id, $count) = @_;
    my $events = [];
    for (1 .. 100) {
        (undef, my $page) = admin_api(GET => "customers/$id/journey");
        $events = $page->{events} || [];
        last if @$events == $count;
        sleep 0.05;
    }
    return $events;
}

is(scalar @{ journey($cy_id, 52) }, 52, "cy's journey: 52 events");
my $events = journey($ana_id, 5);
is_deeply([ map { $_->{channel} } @$events ],
          [ qw(web miniprogram app web web) ], "ana's journey, newest first");
(undef, my $sessions) = admin_api(GET => "customers/$ana_id/sessions");
my $ana_session = $sessions->{sessions}[0]{id};
is_deeply($sessions->{sessions}[0]{channels}, [ qw(web app miniprogram) ],
          "ana's session crossed three channels");


# --- what nginx sends with the page and with the API

my $csp = "default-src 'none'; script-src 'self'; style-src 'self'; "
          . "connect-src 'self'; img-src 'self'; base-uri 'none'; "
          . "form-action 'none'; frame-ancestors 'none'; "
          . "require-trusted-types-for 'script'; trusted-types 'none'";

for my $path ('/console/', '/console/js/main.js', '/console/console.css',
              '/console/api/stats') {
    my $r = $t->request(path => $path, no_subst => 1,
                        headers => [ [ Authorization => "Bearer $admin" ] ]);
    is($r->{status}, 200, "$path: 200");
    is($r->{headers}{'content-security-policy'}, $csp, "$path: the CSP");
    is($r->{headers}{'x-content-type-options'}, 'nosniff', "$path: nosniff");
    is($r->{headers}{'referrer-policy'}, 'no-referrer',
       "$path: Referrer-Policy");
    like($r->{headers}{'cache-control'}, qr/^no-store\b/,
         "$path: Cache-Control no-store");
}
is($t->request(path => '/console/js/main.js')->{headers}{'content-type'},
   'text/javascript; charset=utf-8', 'the scripts are JavaScript');
my $r = $t->request(path => '/console/api/stats');
is($r->{status}, 401, 'the API without a token: 401');
is($r->{headers}{'content-security-policy'}, $csp, '...with the CSP too');

for my $file (glob("$repo/console/*.html"), glob("$repo/console/js/*.js")) {
    # the code, without its comments
    my $text = join '', grep { !m{^\s*//} }
                        do { local @ARGV = ($file); <> };
    ok($text !~ /<script(?![^>]*\bsrc=)[^>]*>|\sstyle=|\son[a-z]+=/i,
       "$file: no inline script, style or handler");
    ok($text !~ /innerHTML|outerHTML|insertAdjacentHTML|document\.write/,
       "$file: no HTML from strings");
}


# --- the browser

my $browser = Omni::Browser->new(profile => $t->prefix . '/chromium');
my $base = 'http://127.0.0.1:' . $t->port(0) . '/console/';
my $n = 0;

sub shot {
    my ($name) = @_;
    $browser->screenshot(sprintf('%s/%02d-%s.png', $shots, ++$n, $name));
}

sub text_of { $browser->text(@_) }
sub visible { Omni::Browser::visible(@_) }

# the timeline's items: an event's channel, or "switch FROM>TO"
sub timeline {
    return $browser->js('[...document.querySelectorAll("#timeline > li")]'
                        . '.map((e) => e.classList.contains("switch") ? '
                        . '"switch " + e.dataset.from + ">" + e.dataset.to : '
                        . 'e.dataset.channel)');
}

sub sign_in {
    my ($token) = @_;
    $browser->type('#token', $token);
    $browser->click('#token-form button[type=submit]');
}

$browser->navigate($base);
ok($browser->wait_for(visible('#token')), 'the sign-in form');
shot('sign-in');

sign_in($expired);
$browser->wait_for(visible('#sign-in-error'));
like(text_of('#sign-in-error'), qr/401 token_expired/,
     'an expired token: 401 shown');

sign_in($no_role);
$browser->wait_for('document.querySelector("#sign-in-error")'
                   . '.textContent.includes("403")');
like(text_of('#sign-in-error'),
     qr/403 permission_denied: the token lacks the role "admin"/,
     'a token without the role: 403 shown');
shot('refused');

sign_in($admin);
ok($browser->wait_for(visible('#search-form')), 'signed in');
like(text_of('#who'), qr/Signed in as agent-smith/, 'the subject is shown');

# find ana by her device id, on the app
$browser->js('document.querySelector("#search-type").value = ""');
$browser->type('#search-type', 'device_id');
$browser->type('#search-value', 'dev-ana-1');
$browser->click('#search-form button[type=submit]');
$browser->wait_for(visible('#customer') . ' && document.querySelectorAll('
                   . '"#timeline .event").length === 5');
is(text_of('#customer-id'), $ana_id, 'found by device_id: the customer');
shot('customer');

my $identities = $browser->js(<<'END');
[...document.querySelectorAll('.identity')].map((e) =>
    e.closest('.identity-group').dataset.channel + ' | '
    + e.querySelector('.type').textContent + ' | '
    + e.querySelector('.value').textContent)
END
is_deeply([ sort @$identities ], [ sort
    'App | device_id | dev-ana-1',
    'E-mail | email | ' . $img,
    'Other: nickname | nickname | ' . $script,
    'Signed-in account (web, app, mini-program) | jwt_sub | ana',
    'WeChat (mini-program, official account) | wechat_openid | oAnaOpenId0001',
], 'identities, grouped by channel, values as text');
is($browser->js('document.querySelectorAll("#customer img, #customer script")'
                . '.length'), 0, 'the hostile values made no element');
is($browser->js('window.__pwned === undefined'), JSON::PP::true,
   '...and ran nothing');

is_deeply($browser->js('[...document.querySelectorAll(".session .chip")]'
                       . '.map((e) => e.textContent)'),
          [ qw(web app miniprogram) ], 'the session and its channels');
is(text_of('.session .id'), $ana_session, '...its id');

is_deeply(timeline(), [ 'web', 'switch miniprogram>web', 'miniprogram',
            'switch app>miniprogram', 'app', 'switch web>app', 'web', 'web' ],
          'one timeline, a marker at each change of channel');
is_deeply($browser->js('[...document.querySelectorAll("#timeline .event")]'
                       . '.map((e) => e.querySelector(".desk") ? '
                       . 'e.querySelector(".desk").textContent : "-")'),
          [ ' to desk (rule chat)', '-', '-', ' to desk (rule chat)',
            ' to desk (rule chat)' ],
          'a dispatched event names its desk and rule, the others none');
like(text_of('#timeline .switch'), qr/^Switched from miniprogram to web$/,
     'a marker says what changed');

# unlink the device: previewed, cancelled, then done
$browser->click('.identity[data-type=device_id] .unlink');
$browser->wait_for('document.querySelector("#confirm").open');
like(text_of('#confirm-body'),
     qr/device_id dev-ana-1 will be unlinked from customer $ana_id/,
     'unlink: the preview');
shot('unlink-preview');
$browser->click('#confirm-cancel');
$browser->wait_for('!document.querySelector("#confirm").open');
(undef, $found) = admin_api(GET => 'identities/device_id/dev-ana-1');
is($found->{customer}, $ana_id, 'cancelled: nothing changed');

$browser->click('.identity[data-type=device_id] .unlink');
$browser->wait_for('document.querySelector("#confirm").open');
$browser->click('#confirm-ok');
$browser->wait_for('document.querySelector("#notice").textContent'
                   . '.startsWith("Unlinked")');
is($browser->js('document.querySelectorAll(".identity[data-type=device_id]")'
                . '.length'), 0, 'unlinked: gone from the list');
($r) = admin_api(GET => 'identities/device_id/dev-ana-1');
is($r->{status}, 404, 'unlinked in the store');

# link bo's phone to ana: the preview says it moves
$browser->type('#link-type', 'phone');
$browser->type('#link-value', '+8613800000000');
$browser->click('#link-form button[type=submit]');
$browser->wait_for('document.querySelector("#confirm").open');
like(text_of('#confirm-body'),
     qr/phone \+8613800000000 belongs to customer $bo_id today\.It will move to customer $ana_id/,
     'link: the preview names the customer who loses it');
shot('link-preview');
$browser->click('#confirm-ok');
$browser->wait_for('document.querySelectorAll(".identity[data-type=phone]")'
                   . '.length === 1');
like(text_of('.identity-group[data-channel="Phone (IVR, SMS)"]'),
     qr/\+8613800000000/, 'linked: under the phone channels');
(undef, $found) = admin_api(GET => 'identities/phone/%2B8613800000000');
is($found->{customer}, $ana_id, 'linked in the store');

# revoke the session
$browser->click(".session[data-session=\"$ana_session\"] .revoke");
$browser->wait_for('document.querySelector("#confirm").open');
like(text_of('#confirm-body'), qr/Session $ana_session .* ends everywhere/,
     'revoke: the preview');
$browser->click('#confirm-ok');
$browser->wait_for('document.querySelector("#notice").textContent'
                   . '.startsWith("Revoked")');
is($browser->js('document.querySelectorAll(".session").length'), 0,
   'revoked: the session is gone');
like(text_of('#session-list'), qr/No active session/, '...and said so');
($r) = admin_api(GET => "sessions/$ana_session");
is($r->{status}, 404, 'revoked in the store');
shot('revoked');

# cy by her id: a page of the journey, then the older events
$browser->click('input[name=by][value=customer]');
$browser->type('#search-customer', $cy_id);
$browser->click('#search-form button[type=submit]');
$browser->wait_for("document.querySelector('#customer-id').textContent === '$cy_id'"
                   . ' && document.querySelectorAll("#timeline .event").length === 50');
ok($browser->js(visible('#journey-more')), 'a first page of 50 events, and more');
is($browser->js('document.querySelectorAll("#timeline .switch").length'), 0,
   '...all on the web');
$browser->click('#journey-more');
$browser->wait_for('document.querySelectorAll("#timeline .event").length === 52');
is_deeply([ @{ timeline() }[49 .. 52] ], [ 'web', 'switch app>web', 'app', 'app' ],
          'the older page: the switch from the app marked at the boundary');
ok(!$browser->js(visible('#journey-more')), '...and no more pages');
shot('older-events');

# a customer nobody has
$browser->click('input[name=by][value=identity]');
$browser->js('document.querySelector("#search-value").value = ""');
$browser->type('#search-value', 'nobody-at-all');
$browser->click('#search-form button[type=submit]');
$browser->wait_for(visible('#error'));
like(text_of('#error'), qr/^No customer found: identity device_id:nobody-at-all is not linked/,
     'an unknown identity: said so');


# a customer merged into ana is shown as ana
is((admin_api(POST => "customers/$dee_id/merge",
              qq({"into":"$ana_id"})))[0]{status}, 200, 'dee merged into ana');
$browser->click('input[name=by][value=customer]');
$browser->js('document.querySelector("#search-customer").value = ""');
$browser->type('#search-customer', $dee_id);
$browser->click('#search-form button[type=submit]');
$browser->wait_for("document.querySelector('#customer-id').textContent === '$ana_id'");
is(text_of('#customer-note'),
   "Customer $dee_id was merged into $ana_id; this is $ana_id.",
   'a merged customer: the survivor, and a note');

$browser->click('#sign-out');
$browser->wait_for(visible('#token'));
ok(!$browser->js(visible('#customer')), 'signed out: the customer is hidden');
is($browser->js('document.querySelector("#customer").textContent'
                . '.includes("' . $ana_id . '")'), JSON::PP::false,
   '...and gone from the page');
is_deeply($browser->js('window.__cspViolations'), [],
          'no Content-Security-Policy violation');
is($browser->js('localStorage.length + sessionStorage.length'), 0,
   'nothing stored in the browser');

# kept for the tab: a reload signs in again, until the token is refused
$browser->click('#keep-token');
sign_in($admin);
$browser->wait_for(visible('#search-form'));
is($browser->js('sessionStorage.length + "," + localStorage.length'), '1,0',
   'kept: in sessionStorage only');
$browser->navigate($base);
$browser->wait_for(visible('#who'));
like(text_of('#who'), qr/agent-smith/, 'kept: signed in after a reload');

is((admin_api(POST => 'revocations', '{"kind":"jti","value":"agent-1"}'))[0]
   {status}, 201, "the agent's token revoked");
$browser->type('#search-value', 'ana');
$browser->click('#search-form button[type=submit]');
$browser->wait_for(visible('#sign-in-error'));
like(text_of('#sign-in-error'),
     qr/^The gateway refused the token: 401 token_revoked/,
     'a revoked token: back to signing in, with the reason');
is($browser->js('localStorage.length + sessionStorage.length'), 0,
   '...and the token forgotten');
shot('revoked-token');


# --- what the page did

my $seen = $browser->events;
is_deeply($browser->js('window.__cspViolations'), [],
          'no Content-Security-Policy violation after the reload either');
is_deeply($seen->{exceptions}, [], 'no exception');
is_deeply([ grep { $_->{type} eq 'error' || $_->{type} eq 'warning' }
            @{ $seen->{console} } ], [], 'no console error or warning');
# refused API calls are the only errors the browser logs (the failed
# sign-ins, the previews, the search for nobody, the revoked token)
is_deeply([ grep { $_->{level} eq 'error'
                   && !(($_->{source} || '') eq 'network'
                        && ($_->{url} || '') =~ m{/console/api/}) }
            @{ $seen->{log} } ], [], 'no other error logged');

my @documents = grep { $_->{url} eq $base } @{ $seen->{responses} };
is(scalar @documents, 2, 'the page was loaded twice');
is_deeply([ map { $_->{headers}{'Content-Security-Policy'} } @documents ],
          [ $csp, $csp ], '...with the CSP each time');

my @requests = @{ $seen->{requests} };
my @api = grep { $_->{url} =~ m{/console/api/} } @requests;
ok(@api >= 10, 'the page called the API') or diag(scalar @api);
my ($sig) = $admin =~ /\.([^.]+)\z/;
is_deeply([ grep { index($_->{url}, $sig) >= 0 || index($_->{url}, 'eyJ') >= 0 }
            @requests ], [], 'no URL requested carries a token');
is_deeply([ grep { ($_->{headers}{Authorization} || '') !~ /^Bearer eyJ/ }
            @api ], [], 'every API request carries it as a bearer token');

# Trusted Types hold: a string assigned to innerHTML is refused
is($browser->js('(() => { try { document.createElement("p").innerHTML = '
                . '"<b>x</b>"; return "assigned"; } catch (e) { return e.name; } })()'),
   'TypeError', 'the browser refuses HTML from a string');

$browser->quit;

# the agent's changes, audited as the admin API's are: by subject, with
# the request id, and no identity value in the line (nginx's request
# context, whose request line would have it, is left out)
my $error_log = $t->error_log;
my @audit = $error_log =~ /omni admin: (.*)$/mg;
for my $change ('unlink a device_id identity', "link a phone identity to $ana_id",
                "revoke session $ana_session") {
    ok((grep { /^\Q$change\E by "agent-smith" \(request [0-9a-f]{32}\)$/ } @audit),
       "audited: $change");
}
is_deeply([ grep { /8613800000000|dev-ana-1/ } @audit ], [],
          '...the lines without the values');

my $logs = $t->read_file('access.log') . $error_log;
for my $token ($admin, $seeder, $no_role, $expired) {
    my ($s) = $token =~ /\.([^.]+)\z/;
    ok(index($logs, $s) < 0, 'no token in the access or error log');
}
like($t->read_file('access.log'), qr{"GET /console/api/customers/},
     '...which has the API requests');

done_testing();
