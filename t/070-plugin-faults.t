# Plugins that loop, hoard memory, crash, return no contract or try to
# leave the sandbox: each failure ends that request only, with its own
# code, and the worker goes on serving.

use strict;
use warnings;

use lib 't/lib';
use Test::More;
use Omni::Test;
use File::Temp qw(tempdir);

my $t = Omni::Test->new;

# The loops run out of any budget; the bomb must reach its memory cap
# first, which takes 20 ms here and up to 100 ms under make test-asan
$t->set_var(BUDGET => int(100 * Omni::Test::slowdown()) . 'ms');

$t->set_var(PLUGINS => <<'END');
omni_plugins %%REPO%%/t/plugins/misbehaving;
omni_lua_library %%REPO%%/lua;
omni_plugin_timeout %%BUDGET%%;
omni_plugin_memory 16m;

server {
    listen 127.0.0.1:%%PORT1%%;
    location / {
        default_type application/json;
        return 200 '{"ok":true,"data":{"action":"$http_x_omni_action"}}';
    }
}
END

$t->set_var(LOCATIONS => <<'END');
proxy_set_header X-Omni-Action $omni_action;
proxy_set_body $omni_contract;
location /loop { omni_channel loop; omni_auth off; proxy_pass http://127.0.0.1:%%PORT1%%; }
location /bomb { omni_channel bomb; omni_auth off; proxy_pass http://127.0.0.1:%%PORT1%%; }
location /crash { omni_channel crash; omni_auth off; proxy_pass http://127.0.0.1:%%PORT1%%; }
location /badcontract { omni_channel badcontract; omni_auth off; proxy_pass http://127.0.0.1:%%PORT1%%; }
location /escape { omni_channel escape; omni_auth off; proxy_pass http://127.0.0.1:%%PORT1%%; }
END

$t->block_defaults(config => <<'END');
%%LOCATIONS%%
END

# a support library of another build: omni.host without render_reply()
my $old_lib = tempdir('omni-lib-XXXXXX', TMPDIR => 1, CLEANUP => 1);
system('cp', '-r', Omni::Test::repo_root() . '/lua/.', $old_lib) == 0
    or die "cp: $?";
{
    my $host = "$old_lib/omni/host.lua";
    open(my $in, '<', $host) or die "$host: $!";
    my $src = do { local $/; <$in> };
    close $in;
    $src =~ s/function _M\.render_reply\(/function _M.render_reply_of_old(/
        or die 'host.lua has no render_reply';
    open(my $out, '>', $host) or die "$host: $!";
    print $out $src;
    close $out;
}
$t->set_var(OLD_LIB => $old_lib);

run_blocks($t);

# the configurations nginx -t refuses, refused as reloads too
$t->must_die_reloads;

done_testing();

__DATA__

=== TEST 1: an endless loop is stopped by the time budget, compiled as it is
--- http_config
%%PLUGINS%%
--- request
GET /loop
--- error_code: 500
--- response_body
loop: plugin_timeout
--- error_log
omni: plugin "loop" normalize failed: plugin_timeout
loop.lua:
(in JIT-compiled code)

=== TEST 1a: a numeric for loop, compiled
--- http_config
%%PLUGINS%%
--- request
GET /loop?kind=for
--- error_code: 500
--- response_body
loop: plugin_timeout
--- error_log
(in JIT-compiled code)

=== TEST 1b: a loop that allocates and drops what it allocates
--- http_config
%%PLUGINS%%
--- request
GET /loop?kind=garbage
--- error_code: 500
--- response_body
loop: plugin_timeout
--- error_log
omni: plugin "loop" normalize failed: plugin_timeout

=== TEST 1c: a loop that calls C functions every turn
--- http_config
%%PLUGINS%%
--- request
GET /loop?kind=strings
--- error_code: 500
--- response_body
loop: plugin_timeout
--- error_log
omni: plugin "loop" normalize failed: plugin_timeout

=== TEST 1d: endless tail calls
--- http_config
%%PLUGINS%%
--- request
GET /loop?kind=tail
--- error_code: 500
--- response_body
loop: plugin_timeout
--- error_log
omni: plugin "loop" normalize failed: plugin_timeout

=== TEST 1e: a pairs() loop inside an endless loop
--- http_config
%%PLUGINS%%
--- request
GET /loop?kind=pairs
--- error_code: 500
--- response_body
loop: plugin_timeout
--- error_log
omni: plugin "loop" normalize failed: plugin_timeout

=== TEST 2: ...and the same worker answers the next request
--- http_config
%%PLUGINS%%
--- request
GET /escape
--- error_code: 200
--- response_body
escape: ok

=== TEST 3: a loop that swallows the timeout with pcall is stopped too
--- http_config
%%PLUGINS%%
--- request
GET /loop?pcall=1
--- error_code: 500
--- response_body
loop: plugin_timeout (pcall)
--- error_log
plugin_timeout

=== TEST 4: unbounded allocation hits the memory cap
--- http_config
%%PLUGINS%%
--- request
GET /bomb
--- error_code: 500
--- response_body
bomb: plugin_memory
--- error_log
omni: plugin "bomb" normalize failed: plugin_memory

=== TEST 5: ...and the VM has its memory back for the next request
--- http_config
%%PLUGINS%%
--- request
GET /escape
--- error_code: 200
--- response_body
escape: ok

=== TEST 6: a runtime error names the plugin, the function and the line
--- http_config
%%PLUGINS%%
--- request
GET /crash
--- error_code: 500
--- response_body
crash: plugin_error
--- error_log
omni: plugin "crash" normalize failed: plugin_error
crash.lua:8:

=== TEST 7: no action
--- http_config
%%PLUGINS%%
--- request
GET /badcontract?kind=noaction
--- error_code: 500
--- response_body
badcontract: plugin_contract_invalid

=== TEST 8: an action that is no dotted verb
--- http_config
%%PLUGINS%%
--- request
GET /badcontract?kind=verb
--- error_code: 500
--- response_body
badcontract: plugin_contract_invalid

=== TEST 9: a function in params cannot be serialised
--- http_config
%%PLUGINS%%
--- request
GET /badcontract?kind=function
--- error_code: 500
--- response_body
badcontract: plugin_contract_invalid

=== TEST 10: a string instead of a table
--- http_config
%%PLUGINS%%
--- request
GET /badcontract?kind=string
--- error_code: 500
--- response_body
badcontract: plugin_contract_invalid

=== TEST 11: no io in the sandbox
--- http_config
%%PLUGINS%%
--- request
GET /escape?try=io
--- error_code: 500
--- response_body
escape: plugin_error

=== TEST 12: no os.execute in the sandbox
--- http_config
%%PLUGINS%%
--- request
GET /escape?try=os
--- error_code: 500
--- response_body
escape: plugin_error

=== TEST 13: no global writes
--- http_config
%%PLUGINS%%
--- request
GET /escape?try=global
--- error_code: 500
--- response_body
escape: plugin_error
--- error_log
leaked

=== TEST 14: require outside the support library
--- http_config
%%PLUGINS%%
--- request
GET /escape?try=require
--- error_code: 500
--- response_body
escape: plugin_error

=== TEST 15: a syntax error fails nginx -t, naming file and line
--- http_config
omni_plugins %%REPO%%/t/plugins/broken;
omni_lua_library %%REPO%%/lua;
--- config
location / { omni_channel syntax; omni_auth off; }
--- must_die
--- error_log
syntax.lua:6:

=== TEST 16: a plugin without render fails nginx -t
--- http_config
omni_plugins %%REPO%%/t/plugins/noninterface;
omni_lua_library %%REPO%%/lua;
--- config
location / { omni_channel norender; omni_auth off; }
--- must_die
--- error_log
norender.lua
render

=== TEST 17: a channel without a plugin fails nginx -t
--- http_config
%%PLUGINS%%
--- config
location / { omni_channel kiosk; omni_auth off; }
--- must_die
--- error_log
no plugin "kiosk.lua"

=== TEST 18: omni_channel without omni_plugins
--- config
location / { omni_channel web; omni_auth off; }
--- must_die
--- error_log
"omni_channel" is used but "omni_plugins" names no plugin directory

=== TEST 19: omni_plugins without the support library
--- http_config
omni_plugins %%REPO%%/plugins;
--- config
location / { omni_channel web; omni_auth off; }
--- must_die
--- error_log
"omni_plugins" needs "omni_lua_library"

=== TEST 19b: a support library without a function the gateway calls
--- http_config
omni_plugins %%REPO%%/plugins;
omni_lua_library %%OLD_LIB%%;
--- config
location / { omni_channel web; omni_auth off; }
--- must_die
--- error_log
omni.host has no render_reply()

=== TEST 20: an unknown omni_auth value
--- http_config
%%PLUGINS%%
--- config
location / { omni_channel loop; omni_auth token; }
--- must_die
--- error_log
invalid value "token", expected "jwt", "plugin", "jwt plugin" or "off"

=== TEST 21: JWT auth on a channel needs keys
--- http_config
%%PLUGINS%%
--- config
location / { omni_channel loop; }
--- must_die
--- error_log
JWT authentication is on but no key is configured

=== TEST 22: a missing plugin directory
--- http_config
omni_plugins %%PREFIX%%/nowhere;
omni_lua_library %%REPO%%/lua;
--- config
location / { omni_channel web; omni_auth off; }
--- must_die
--- error_log
nowhere" failed
