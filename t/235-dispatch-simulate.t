# omnictl dispatch validate and simulate (docs/dispatch.md): a workflow
# file checked without nginx, and the decision for one request explained
# from the pools' requests in flight (on a channel with a capacity of
# its own too), an intent, an open case and an affinity, nothing
# sent; bad files and bad arguments refused with their exit codes.

use strict;
use warnings;

use lib 't/lib';
use JSON::PP qw(decode_json);
use Test::More;
use Omni::Test;

my $t = Omni::Test->new;
my $omnictl = Omni::Test::bin('omnictl');
my $dir = $t->prefix;

$t->write_file('workflow.json', <<'END');
{"version": 1, "bot_confidence_min": 0.7,
 "rate_limits": [{"id": "vip", "tiers": ["vip"], "rate": 5, "per": "minute"}],
 "pools": {
   "vip_desk": {"capacity": 2, "upstream": "vip_backend"},
   "bot": {"kind": "bot", "capacity": 100},
   "agents": {"capacity": 10},
   "desk": {"capacity": 12, "channels": {"ivr": 4, "web": 12}}
 },
 "rules": [
   {"id": "vip", "tiers": ["vip"],
    "targets": ["vip_desk", {"pool": "agents", "in_flight_below": 8}]},
   {"id": "faq", "intents": ["faq.*"], "targets": ["bot", "agents"]},
   {"id": "follow-up", "open_case": true, "targets": ["vip_desk"]},
   {"id": "calls", "channels": ["ivr"], "targets": ["desk", "agents"]}
 ],
 "default": {"targets": ["agents"]}}
END

$t->write_file('bad.json', <<'END');
{"version": 1, "pools": {"a": {"capacity": 0}},
 "rules": [{"id": "r", "targets": ["b"]}], "default": {"targets": ["a"]}}
END

sub run {
    my (@args) = @_;
    my $cmd = join ' ', map { "'$_'" } $omnictl, @args;
    my $out = `$cmd 2>$dir/stderr`;
    return ($? >> 8, $out, $t->read_file('stderr'));
}

sub simulate {
    my ($rc, $out, $err) = run('dispatch', 'simulate', "$dir/workflow.json", @_);
    is($rc, 0, "simulate @_: exit 0") or diag($err);
    return decode_json($out);
}

my ($rc, $out, $err) = run('dispatch', 'validate', "$dir/workflow.json");
is($rc, 0, 'validate: exit 0');
is($out, "$dir/workflow.json: ok (1 rate limits, 4 pools, 4 rules)\n",
   '...and says what the file holds');

($rc, $out, $err) = run('dispatch', 'validate', "$dir/bad.json");
is($rc, 1, 'validate of a bad file: exit 1');
like($err, qr/pools\.a\.capacity must be an integer from 1 to 1000000, not 0\nrules\[0\]\.targets\[0\]: unknown pool "b"/,
     '...with every error and its path');

my $d = simulate('--channel', 'web', '--tier', 'vip');
is_deeply($d, { rate_limit => 'vip', rule => 'vip', pool => 'vip_desk',
                upstream => 'vip_backend', step => 0, reason => 'first',
                passed_over => [] },
          'a vip request: the vip desk, and its rate limit');

# a customer with an open case: the follow-up rule
$d = simulate('--channel', 'web', '--open-case');
is_deeply([ $d->{rule}, $d->{pool} ], [ 'follow-up', 'vip_desk' ],
          '--open-case: the rule for customers with an open case');
$d = simulate('--channel', 'web');
is($d->{rule}, 'default', '...and without it, not');

$d = simulate('--channel', 'web', '--tier', 'vip', 'vip_desk=2');
is_deeply([ $d->{pool}, $d->{reason}, $d->{passed_over} ],
          [ 'agents', 'overflow',
            [ { pool => 'vip_desk', in_flight => 2, why => 'full' } ] ],
          'the desk full: the agents, and why the desk was passed over');

$d = simulate('--channel', 'web', '--tier', 'vip', 'vip_desk=2,agents=8');
is_deeply([ $d->{pool}, $d->{reason}, $d->{step},
            [ map { $_->{why} } @{ $d->{passed_over} } ] ],
          [ undef, 'no_capacity', undef, [ 'full', 'busy' ] ],
          'the agents at in_flight_below too: no_capacity');

$d = simulate('--channel', 'web', '--tier', 'vip', 'affinity=agents');
is_deeply([ $d->{pool}, $d->{reason}, $d->{step} ], [ 'agents', 'affinity', 1 ],
          'affinity to the agents, one of the rule\'s targets');

$d = simulate('--channel', 'app', 'intent=faq.hours@0.9');
is_deeply([ $d->{rule}, $d->{pool} ], [ 'faq', 'bot' ], 'a confident faq: the bot');

$d = simulate('--channel', 'app', 'intent=faq.hours@0.5');
is_deeply([ $d->{rule}, $d->{pool}, $d->{passed_over}[0]{why} ],
          [ 'faq', 'agents', 'low_confidence' ],
          'an unsure one: people, not the bot');

# a pool's requests in flight on a channel with a capacity of its own
$d = simulate('--channel', 'ivr', 'desk/ivr=3,desk=11');
is_deeply([ $d->{rule}, $d->{pool}, $d->{reason} ], [ 'calls', 'desk', 'first' ],
          'a call while the desk has a voice line left: the desk');
$d = simulate('--channel', 'ivr', 'desk/ivr=4,desk=4');
is_deeply([ $d->{pool}, $d->{reason} ], [ 'agents', 'overflow' ],
          'its four lines taken: the next target');
is_deeply($d->{passed_over},
          [ { pool => 'desk', in_flight => 4, channel_in_flight => 4,
              why => 'full' } ],
          '...the desk passed over, its calls in flight shown');
$d = simulate('--channel', 'ivr', 'desk/web=12,desk=4');
is($d->{pool}, 'desk', 'chats in flight do not take voice lines');
$d = simulate('--channel', 'ivr', 'desk/ivr=3,desk=12');
is($d->{pool}, 'agents', 'the pool\'s own capacity still bounds it');

$d = simulate('--channel', 'app', '--anonymous');
is_deeply([ $d->{rule}, $d->{pool}, $d->{rate_limit} ], [ 'default', 'agents', undef ],
          'no rule matches: the default, no rate limit');

for my $case (
    [ [ '--channel', 'web', 'nobody=1' ], qr/no pool "nobody" in the workflow/ ],
    [ [ '--channel', 'web', 'agents=x' ], qr/agents=x: in flight must be a number/ ],
    [ [ '--channel', 'web', 'agents=-1' ], qr/agents=-1: in flight must be a number/ ],
    [ [ '--channel', 'web', 'intent=faq@2' ], qr/the confidence "2" is not a number from 0 to 1/ ],
    [ [ '--channel', 'web', 'affinity=ghost' ], qr/affinity: no pool "ghost"/ ],
    [ [ '--channel', 'web', 'agents' ], qr/"agents" in STATE is not NAME=VALUE/ ],
    [ [ '--channel', 'ivr', 'desk/app=1' ], qr{desk/app: pool "desk" has no capacity of its own on channel "app"} ],
    [ [ '--channel', 'ivr', 'ghost/ivr=1' ], qr/no pool "ghost" in the workflow/ ],
    [ [ '--channel', 'ivr', 'desk/ivr=x' ], qr{desk/ivr=x: in flight must be a number} ],
    [ [ '--tier', 'vip' ], qr/dispatch simulate needs --channel/ ],
    [ [ '--channel', 'Web' ], qr/--channel or --action is not a name/ ],
) {
    ($rc, $out, $err) = run('dispatch', 'simulate', "$dir/workflow.json",
                            @{ $case->[0] });
    is($rc, 2, "simulate @{ $case->[0] }: usage error");
    like($err, $case->[1], '...naming the problem');
}

($rc, $out, $err) = run('dispatch', 'simulate', "$dir/none.json", '--channel', 'web');
is($rc, 1, 'a file that is not there: exit 1');
like($err, qr/none\.json/, '...naming it');

done_testing();
