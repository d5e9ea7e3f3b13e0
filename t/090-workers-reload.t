# Several workers each build their own plugin VM after fork, and a reload
# replaces them with VMs that load the plugins again.

use strict;
use warnings;

use lib 't/lib';
use Test::More;
use Omni::Test;

my $t = Omni::Test->new;

my $http = <<'END';
omni_plugins %%REPO%%/plugins;
omni_lua_library %%REPO%%/lua;

server {
    listen 127.0.0.1:%%PORT1%%;
    location / {
        default_type application/json;
        return 200 '{"ok":true,"data":{"action":"$http_x_omni_action","generation":"%%GENERATION%%"}}';
    }
}

server {
    listen 127.0.0.1:%%PORT%%;
    server_name localhost;

    location /web/ {
        omni_channel web;
        omni_auth off;
        proxy_set_header X-Omni-Action $omni_action;
        proxy_set_body $omni_contract;
        proxy_pass http://127.0.0.1:%%PORT1%%;
    }
}
END

sub ask {
    my ($n, $generation, $what) = @_;
    my %seen;

    for my $i (1 .. $n) {
        my $r = $t->request(path => "/web/orders/ORD-$i");
        $seen{ $r->{status} }++;
        $seen{body}++ if $r->{body} =~ /"action":"order.query"/
                         && $r->{body} =~ /"generation":"$generation"/;
    }

    is($seen{200}, $n, "$what: every request answered 200");
    is($seen{body}, $n, "$what: every reply rendered by the plugin");
}

$t->set_var(GENERATION => 'one');
$t->start($http, workers => 2);

my @workers;
for (1 .. 200) {
    @workers = $t->worker_pids;
    last if @workers == 2;
    select undef, undef, undef, 0.01;
}
is(scalar @workers, 2, 'two workers, each with its own VM');
ask(40, 'one', 'two workers');

$t->set_var(GENERATION => 'two');
$t->reload($http, workers => 2);
ask(40, 'two', 'after a reload');

$t->check_error_log;

done_testing();
