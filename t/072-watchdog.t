# omni_plugin_watchdog (docs/plugins.md): a plugin's single call into C
# that the time budget cannot stop (a pattern that backtracks for hours)
# ends its worker after the watchdog's time, said in the error log, and
# the master's new worker serves the next request; an idle worker and a
# busy one are left alone; the watchdog is one thread of each worker, none
# with "off"; nginx -t refuses a time out of bounds.

use strict;
use warnings;

use lib 't/lib';
use Test::More;
use Time::HiRes ();
use Omni::Test;
use Omni::Gateway qw(plugins_dir);

my $t = Omni::Test->new;
my $repo = Omni::Test::repo_root();
my $plugins = plugins_dir($t, 't/plugins/misbehaving/stuck.lua',
                          't/plugins/identities/claims.lua');

my $http = <<"END";
omni_plugins $plugins;
omni_lua_library $repo/lua;
omni_plugin_timeout 50ms;
omni_plugin_watchdog %%WATCHDOG%%;

server {
    listen 127.0.0.1:%%PORT1%%;
    location / {
        default_type application/json;
        return 200 '{"ok":true,"data":{}}';
    }
}

server {
    listen 127.0.0.1:%%PORT%%;
    add_header X-Worker \$pid always;
    proxy_set_body \$omni_contract;

    location /stuck { omni_channel stuck; omni_auth off;
                      proxy_pass http://127.0.0.1:%%PORT1%%; }
    location /claims { omni_channel claims; omni_auth off;
                       proxy_pass http://127.0.0.1:%%PORT1%%; }
}
END

# the threads of the worker, once it has served a request (past its start)
sub threads {
    my ($pid) = @_;
    $t->request(path => '/claims/x');
    my ($n) = $t->read_file("/proc/$pid/status") =~ /^Threads:\s+(\d+)/m;
    return $n // -1;
}

# the error log once it matches $re (the master logs a worker's end when
# it reaps it), or after 5 s
sub log_with {
    my ($re) = @_;
    my $log = '';
    for (1 .. 100 * Omni::Test::slowdown()) {
        $log = $t->read_file('error.log');
        last if $log =~ $re;
        Time::HiRes::sleep(0.05);
    }
    return $log;
}

# --- off: no thread of its own ---

$t->set_var(WATCHDOG => 'off');
$t->start($http, workers => 1);
my ($worker) = $t->worker_pids;
my $without = threads($worker);
$t->stop;

# --- 2s: one thread more; idle and busy workers are left alone ---

$t->set_var(WATCHDOG => '2s');
$t->start($http, workers => 1);
($worker) = $t->worker_pids;
is(threads($worker), $without + 1, 'the watchdog is one thread of the worker');

Time::HiRes::sleep(3.5 * Omni::Test::slowdown());
my $busy_until = Time::HiRes::time() + 3 * Omni::Test::slowdown();
my $served = 0;
while (Time::HiRes::time() < $busy_until) {
    $served++ if $t->request(path => '/claims/x')->{status} == 200;
}
cmp_ok($served, '>', 10, 'a busy worker serves');
is(($t->worker_pids)[0], $worker, 'an idle, then busy worker is left alone');
unlike($t->read_file('error.log'), qr/omni_plugin_watchdog/,
       '...and nothing said of it');

# --- a call into C that never ends ---

my $started = Time::HiRes::time();
my $r = $t->request(path => '/stuck/x', timeout => 30);
my $took = Time::HiRes::time() - $started;
ok(!$r->{status} || $r->{status} >= 500,
   'the stuck request gets no answer') or diag("status $r->{status}");
cmp_ok($took, '>=', 1.5, '...after the watchdog\'s time');
cmp_ok($took, '<', 20 * Omni::Test::slowdown(), '...not hours');

my $log = log_with(qr/worker process $worker exited on signal 6/);
like($log, qr/\[alert\] \d+#\d+: omni: worker $worker has run \d+ ms without returning to its event loop \(a plugin's call into C, or LuaJIT itself\), past omni_plugin_watchdog 2000 ms: aborting it, its master starts another/,
     'the watchdog says why it ends the worker');
like($log, qr/worker process $worker exited on signal 6/,
     '...which exits on SIGABRT');

my $next;
for (1 .. 100) {
    $next = $t->request(path => '/claims/x');
    last if $next->{status} == 200;
    Time::HiRes::sleep(0.05);
}
is($next->{status}, 200, 'the next request is served');
isnt($next->{headers}{'x-worker'}, $worker, '...by the new worker');

$t->stop;

# --- what nginx -t refuses ---

for my $case ([ '500ms', qr/"omni_plugin_watchdog" must be "off" or a time from 1s to 1h, not "500ms"/ ],
              [ '2h', qr/not "2h"/ ],
              [ 'sometimes', qr/not "sometimes"/ ]) {
    my ($ok, $out) = $t->test_config(
        "omni_plugins $plugins; omni_lua_library $repo/lua;\n"
        . "omni_plugin_watchdog $case->[0];");
    ok(!$ok, "nginx -t fails: omni_plugin_watchdog $case->[0]");
    like($out, $case->[1], '...naming the problem');
}

my ($ok, $out) = $t->test_config(
    "omni_plugins $plugins; omni_lua_library $repo/lua;\n"
    . "omni_plugin_watchdog 5s; omni_plugin_watchdog 6s;");
ok(!$ok, 'nginx -t fails: omni_plugin_watchdog twice');
like($out, qr/"omni_plugin_watchdog" directive is duplicate/, '...naming it');

$t->check_error_log(allow => [ qr/omni_plugin_watchdog 2000 ms: aborting it/,
                               qr/exited on signal 6/ ]);

done_testing();
