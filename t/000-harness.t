#!/usr/bin/perl

# Self-test of t/lib/Omni/Test.pm against stock nginx (no omni module).

use strict;
use warnings;

BEGIN { $ENV{OMNI_NO_MODULE} = 1 }

use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use Test2::API qw(intercept);
use Omni::Test qw(run_blocks parse_blocks parse_response repo_root bin);

# --- pure helpers ----------------------------------------------------------

is(repo_root(), Cwd::abs_path("$FindBin::Bin/.."), 'repo_root is the checkout');
{
    local $ENV{OMNI_BIN};
    is(bin('omni-keygen'), repo_root() . '/build/bin/omni-keygen', 'bin() path');
    $ENV{OMNI_BIN} = '/opt/omni/bin';
    is(bin('omni-keygen'), '/opt/omni/bin/omni-keygen', 'bin() path: OMNI_BIN');
}
{
    local $ENV{OMNI_TEST_SLOWDOWN};
    is(Omni::Test::slowdown(), 1, 'slowdown: 1 by default');
    $ENV{OMNI_TEST_SLOWDOWN} = '2.5';
    is(Omni::Test::slowdown(), 2.5, 'slowdown: OMNI_TEST_SLOWDOWN');
    $ENV{OMNI_TEST_SLOWDOWN} = '0.5';
    ok(!eval { Omni::Test::slowdown(); 1 }, 'slowdown: never below 1');
}

{
    my $raw = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nX-A: 1\r\nx-a: 2\r\n\r\n"
        . "5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\nX-Trailer: t\r\n\r\n";
    my $res = parse_response($raw);
    is($res->{status}, 200, 'parse_response: status');
    is($res->{body}, 'hello world', 'parse_response: chunked body decoded');
    ok($res->{chunked} && $res->{chunked_complete}, 'parse_response: chunked flags');
    is($res->{headers}{'x-a'}, '1, 2', 'parse_response: repeated headers joined');
    is(scalar @{ $res->{header_list} }, 3, 'parse_response: header_list keeps all');
    is($res->{trailers}{'x-trailer'}, 't', 'parse_response: trailers');
    ok(!defined parse_response('garbage')->{status}, 'parse_response: garbage has no status');
}

{
    my @b = parse_blocks(<<'EOF');
=== TEST A: parse
--- config
return 200;
--- request
GET /
--- error_code: 200
--- response_body
line1
line2


=== TEST B
--- must_die
--- error_log
x
EOF
    is(scalar @b, 2, 'parse_blocks: two blocks');
    is($b[0]{name}, 'TEST A: parse', 'parse_blocks: name');
    is($b[0]{sec}{error_code}, '200', 'parse_blocks: inline value');
    is($b[0]{sec}{response_body}, "line1\nline2", 'parse_blocks: trailing blank lines + newline dropped');
    is($b[1]{sec}{must_die}, '', 'parse_blocks: empty section');

    eval { parse_blocks("=== T\n--- config\nreturn 200;\n--- request\nGET /\n") };
    like($@, qr/block 'T' asserts nothing/, 'block without expectations dies');
    eval { parse_blocks("=== T\n--- respons_body\nx\n") };
    like($@, qr/unknown section 'respons_body'/, 'unknown section dies');
    eval { parse_blocks("=== T\n--- error_code: 200\n") };
    like($@, qr/sends no request/, 'response expectation without request dies');
}

# --- object API ------------------------------------------------------------

my $t = Omni::Test->new;
ok(-d $t->prefix, 'prefix exists');
is((stat $t->prefix)[2] & 07777, 0755, 'prefix mode 0755');
is($t->port(0), $t->port(0), 'port(0) stable');
isnt($t->port(0), $t->port(1), 'port(0) != port(1)');

my $file = $t->write_file('keys/a.key', "secret\n");
is($file, $t->prefix . '/keys/a.key', 'write_file returns absolute path');
is($t->read_file('keys/a.key'), "secret\n", 'write_file content');

$t->set_var(TOKEN_OK => 'tok-123');
is($t->subst('%%TOKEN_OK%%@%%PORT1%%'), 'tok-123@' . $t->port(1), 'subst vars and ports');
eval { $t->subst('%%NOPE%%') };
like($@, qr/unknown substitution variable %%NOPE%%/, 'unknown variable dies');

my $conf = $t->main_conf('# snippet', workers => 2, error_log_level => 'debug', main => '# main-level');
like($conf, qr/^worker_processes 2;$/m, 'main_conf: workers');
like($conf, qr/error\.log" debug;$/m, 'main_conf: error_log level');
like($conf, qr/^# main-level$/m, 'main_conf: main option');
like($conf, qr/proxy_temp_path/, 'main_conf: temp paths under prefix');
unlike($conf, qr/load_module/, 'main_conf: no load_module with OMNI_NO_MODULE');

# slowed down, plugins get a larger budget, unless the test sets one
{
    local $ENV{OMNI_TEST_SLOWDOWN} = 3;
    unlike($t->main_conf(''), qr/omni_plugin_timeout/,
           'main_conf: no plugin budget without the module');
    local $t->{module} = '/nonexistent/ngx_http_omni_module.so';
    like($t->main_conf(''), qr/^    omni_plugin_timeout 150ms;$/m,
         'main_conf: slowed down, 3 times the default plugin budget');
    my $own = $t->main_conf('omni_plugin_timeout 10ms;');
    is(() = $own =~ /omni_plugin_timeout/g, 1,
       'main_conf: a budget of its own is left alone');
}

# a sanitizer report that nginx prints before error.log takes over stderr
{
    my $s = Omni::Test->new(no_log_check => 1);
    my $fake = $s->write_file('fake-nginx', "#!/bin/sh\n"
        . "echo 'src/core/x.c:1:2: runtime error: injected' >&2\n");
    chmod 0755, $fake;
    local $ENV{OMNI_NGINX} = $fake;
    ok(!eval { $s->test_config('# nothing'); 1 }, 'test_config: a sanitizer report dies');
    like($@, qr/sanitizer report in the output of nginx -t/, '...and says so');
    ok(!eval { $s->start('# nothing'); 1 }, 'start: a sanitizer report dies');
    like($@, qr/sanitizer report in the output of nginx:/, '...and says so');
}

my ($ok, $out) = $t->test_config('foo_bar on;');
ok(!$ok, 'test_config: bad config fails');
like($out, qr/unknown directive "foo_bar"/, 'test_config: output has the error');
($ok, $out) = $t->test_config('server { listen 127.0.0.1:%%PORT%%; }');
ok($ok, 'test_config: good config passes') or diag($out);

my $versioned = <<'EOF';
server {
    listen 127.0.0.1:%%PORT%%;
    location / { return 200 "%%VERSION%% $request_method"; }
    location /chunked {
        ssi on;
        ssi_types *;
        return 200 'a<!--# set var="v" value="B" --><!--# echo var="v" -->c';
    }
    location /echo {
        proxy_pass http://127.0.0.1:%%PORT1%%;
        proxy_set_header X-Body $request_body;
    }
}
server {
    listen 127.0.0.1:%%PORT1%%;
    location / {
        return 200 "body=$http_x_body len=$http_content_length auth=$http_authorization";
    }
}
EOF
$t->set_var(VERSION => 'v1');
$t->start($versioned);
ok($t->is_running, 'start: running');
my $master = $t->pid;
my $res = $t->request(path => '/');
is($res->{status}, 200, 'request: status');
is($res->{body}, 'v1 GET', 'request: body');
is($res->{headers}{'content-type'}, 'text/plain', 'request: headers hash');

$res = $t->request(method => 'POST', path => '/echo', body => 'payload=1',
    headers => [ [ Authorization => 'Bearer %%TOKEN_OK%%' ] ]);
is($res->{body}, 'body=payload=1 len=9 auth=Bearer tok-123',
    'request: body sent, header value substituted');
$res = $t->request(method => 'POST', path => '/echo', body => '%%TOKEN_OK%%',
    headers => { Authorization => 'x' });
is($res->{body}, 'body=%%TOKEN_OK%% len=12 auth=x', 'request: hashref headers, body as is');

$res = $t->get('/chunked');
is($res->{body}, 'aBc', 'chunked response decoded');
ok($res->{chunked}, 'chunked response flagged');

$res = $t->request(raw => "GET / HTTP/1.0\r\nHost: x\r\n\r\n");
is($res->{status}, 200, 'raw request');

$t->set_var(VERSION => 'v2');
$t->reload($versioned, workers => 2);
is($t->pid, $master, 'reload: same master');
is(scalar(my @w = $t->worker_pids), 2, 'reload: two workers');
is($t->get('/')->{body}, 'v2 GET', 'reload: new config active');

$t->mark_log;
$t->get('/echo');    # proxied; upstream logs nothing at error level
is($t->log_since_mark =~ /\[error\]/ ? 1 : 0, 0, 'log_since_mark: no errors');
like($t->error_log, qr/\[notice\].*start worker process/, 'error_log: content');

# check_error_log fails on an [alert] line, honours allow, and only checks
# new lines (so the injected line does not fail the final check).
{
    open(my $fh, '>>', $t->prefix . '/error.log') or die $!;
    print {$fh} "2024/01/01 00:00:00 [alert] 1#1: injected for the self-test\n";
    close $fh;
    my $mark = $t->{checked};
    my $events = intercept { $t->check_error_log };
    ok(!$events->[0]->pass, 'check_error_log: [alert] fails');
    $t->{checked} = $mark;
    $events = intercept { $t->check_error_log(allow => [qr/injected for the self-test/]) };
    ok($events->[0]->pass, 'check_error_log: allow pattern');
}

$t->stop;
ok(!$t->is_running, 'stop: not running');
$res = $t->get('/', quiet => 1);
ok(!defined $res->{status} && $res->{error}, 'request after stop: connection error');

# Failing expectations must produce failing tests.
{
    my $events = intercept {
        run_blocks($t, <<'EOF');
=== TEST neg: wrong status and body
--- config
location / { return 200 "x"; }
--- request
GET /
--- error_code: 404
--- response_body
y
--- no_error_log
[notice]
EOF
    };
    my @oks = grep { $_->isa('Test2::Event::Ok') } @$events;
    my @failed = map { $_->name } grep { !$_->pass } @oks;
    is_deeply(\@failed, [
        'TEST neg: wrong status and body - status code',
        'TEST neg: wrong status and body - response body',
        'TEST neg: wrong status and body - error_log lacks: [notice]',
    ], 'failing expectations fail');
}
$t->stop;

# --- data-driven blocks ----------------------------------------------------

my $b = Omni::Test->new;
$b->set_var(TOKEN_OK => 'good-token');
$b->write_file('html/index.html', "index page\n");
run_blocks($b);

# the must_die blocks again, each a reload the running nginx refuses
$b->start('server { listen 127.0.0.1:%%PORT%%; location / { return 204; } }');
$b->must_die_reloads;
is($b->get('/')->{status}, 204, 'must_die_reloads: the running configuration goes on');

# block_defaults: sections a block does not have come from the defaults
my $d = Omni::Test->new;
$d->block_defaults(config => 'location / { return 200 "default config"; }');
$d->block_defaults(http_config => 'add_header X-Default yes;');
run_blocks($d, <<'EOF');
=== TEST defaults 1: both sections come from the defaults
--- request
GET /
--- response_headers
X-Default: yes
--- response_body
default config

=== TEST defaults 2: a block's own section wins
--- config
location / { return 200 "own config"; }
--- request
GET /
--- response_body
own config
EOF

done_testing();

__DATA__

=== TEST 1: return 200 with exact body
--- config
location / { return 200 "hello"; }
--- request
GET /
--- error_code: 200
--- response_headers
Content-Type: text/plain
Content-Length: 5
!X-Absent
--- response_headers_like
Server: ^nginx
--- response_body
hello

=== TEST 2: add_header and repeated headers
--- config
location / {
    add_header X-Test "v1";
    add_header X-Multi a;
    add_header X-Multi b;
    return 200 "ok\n";
}
--- request
GET / HTTP/1.1
--- error_code: 200
--- response_headers
X-Test: v1
X-Multi: a, b
--- response_body: ok

=== TEST 3: 404
--- config
location / { return 404; }
--- request
GET /nothing
--- error_code: 404
--- response_body_like
^<html>\r
<head><title>404 Not Found</title></head>\r
.*nginx/

=== TEST 4: 401 through error_page with JSON body
--- config
location / {
    if ($http_authorization = "Bearer %%TOKEN_OK%%") {
        return 200 "authorized";
    }
    error_page 401 = @unauthorized;
    return 401;
}
location @unauthorized {
    default_type application/json;
    add_header WWW-Authenticate 'Bearer error="invalid_token"' always;
    return 401 '{"error":"unauthorized"}';
}
--- request
GET /api
--- more_headers
Authorization: Bearer bad-token
--- error_code: 401
--- response_headers
Content-Type: application/json
--- response_headers_like
WWW-Authenticate: ^Bearer error="invalid_token"
--- response_body: {"error":"unauthorized"}

=== TEST 5: same config, good token (no restart)
--- config
location / {
    if ($http_authorization = "Bearer %%TOKEN_OK%%") {
        return 200 "authorized";
    }
    error_page 401 = @unauthorized;
    return 401;
}
location @unauthorized {
    default_type application/json;
    add_header WWW-Authenticate 'Bearer error="invalid_token"' always;
    return 401 '{"error":"unauthorized"}';
}
--- request
GET /api
--- more_headers
Authorization: Bearer %%TOKEN_OK%%
--- error_code: 200
--- response_body: authorized

=== TEST 6: request body through proxy_pass
--- http_config
server {
    listen 127.0.0.1:%%PORT1%%;
    location / { return 200 "method=$request_method body=$http_x_body"; }
}
--- config
location / {
    proxy_pass http://127.0.0.1:%%PORT1%%;
    proxy_set_header X-Body $request_body;
}
--- request
POST /echo
--- request_body
payload=1
--- error_code: 200
--- response_body
method=POST body=payload=1

=== TEST 7: must_die on unknown directive
--- config
foo_bar on;
--- must_die
--- error_log
unknown directive "foo_bar"
/\[emerg\] unknown directive/
--- no_error_log
[alert]

=== TEST 8: missing static file logs an error
--- config
location / { root %%PREFIX%%/html; }
--- request
GET /missing.txt
--- error_code: 404
--- error_log
/missing.txt" failed
/\[error\] .*open\(\) ".*No such file or directory/
--- no_error_log
[crit]

=== TEST 9: existing static file, errors of TEST 8 not counted
--- config
location / { root %%PREFIX%%/html; }
--- request
GET /index.html
--- error_code: 200
--- response_body
index page
--- no_error_log
[error]

=== TEST 10: raw request, two workers
--- workers: 2
--- config
location / { return 200 "raw:$server_protocol"; }
--- raw_request
GET / HTTP/1.0
Host: localhost
--- error_code: 200
--- response_body: raw:HTTP/1.0

=== TEST 11: log_level debug
--- log_level: debug
--- config
location / { return 204; }
--- request
DELETE /x
--- error_code: 204
--- error_log
http request line: "DELETE /x HTTP/1.1"

=== TEST 12: skipped block
--- skip: demonstrates skip
--- config
location / { return 200; }
--- request
GET /
--- error_code: 500
