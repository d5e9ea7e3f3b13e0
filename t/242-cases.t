# Cases through the admin location (docs/cases.md): opened with due times
# from the SLA table, read, listed by customer (open ones first) and by
# status, moved through their lifecycle (refused moves are 409), noted,
# assigned, replied to after closing (a follow-up); mistyped ids refused
# before any lookup; audit lines name the case, never its text; nginx -t
# names a bad SLA table.

use strict;
use warnings;

use lib 't/lib';
use JSON::PP;
use Test::More;
use Omni::Test;
use Omni::Jwt qw(keygen mint);
use Omni::Gateway;

my $t = Omni::Test->new;
my $k = keygen($t->prefix . '/keys');
my $store = $t->prefix . '/store';
my $sla = $t->prefix . '/sla.json';

mkdir $store or die "$store: $!";
chmod 0777, $store;

$t->write_file('sla.json', <<'END');
{"default": {"first_response": "4h", "resolution": "3d"},
 "rules": [{"category": "complaint", "priority": "urgent",
            "first_response": "30m", "resolution": "8h"}]}
END

my $key = $k->{hs32};

sub http_conf {
    my ($sla_file) = @_;
    return <<"END";
omni_store $store sync=none;
omni_case_sla $sla_file;

server {
    listen 127.0.0.1:%%PORT%%;
    server_name localhost;

    location /admin/ {
        omni_gateway on;
        omni_jwt_secret $key;
        omni_admin;
    }
}
END
}

# --- nginx -t and the SLA table

$t->write_file('bad-sla.json', '{"rules": [{"priority": "asap", '
                               . '"resolution": "1d"}]}');
my ($ok, $out) = $t->test_config(http_conf($t->prefix . '/bad-sla.json'));
ok(!$ok, 'nginx -t refuses a bad SLA table');
like($out, qr/omni_case_sla "[^"]*bad-sla\.json": rule 1: "priority" is not one of/,
     '...naming the file, the rule and the problem') or diag($out);

($ok, $out) = $t->test_config(http_conf($t->prefix . '/none.json'));
ok(!$ok, 'nginx -t refuses a missing SLA table');
like($out, qr/omni_case_sla "[^"]*none\.json": cannot open/,
     '...saying so') or diag($out);

$t->start(http_conf($sla), workers => 2);

my $admin = mint(alg => 'HS256', key => $key, sub => 'agent-7',
                 roles => 'admin');
my $agent = mint(alg => 'HS256', key => $key, sub => 'bob', roles => 'agent');

my $json = JSON::PP->new->canonical->utf8;

sub call {
    my ($method, $path, $body, %opt) = @_;
    my $token = exists $opt{token} ? $opt{token} : $admin;
    my @headers = ([ Authorization => "Bearer $token" ]);

    my $r = $t->request(method => $method, path => $path, no_subst => 1,
                        headers => \@headers,
                        (defined $body ? (body => ref $body
                                                  ? $json->encode($body)
                                                  : $body) : ()));
    $r->{json} = eval { $json->decode($r->{body}) };
    return $r;
}

sub fails {
    my ($r, $status, $code, $name) = @_;
    is($r->{status}, $status, "$name: $status");
    is($r->{json} && $r->{json}{error}, $code, "$name: $code");
}

# customers exist through their records
my $r = call(PUT => '/admin/identities/phone/%2B8613800000000',
             { customer => 'c1' });
is($r->{status}, 200, 'a customer c1');
$r = call(PUT => '/admin/identities/openid/o-2', { customer => 'c2' });
is($r->{status}, 200, 'a customer c2');

# --- open

$t->mark_log;

my $subject = "Colis MARKER-SUBJ-3131 jamais arrivé";
my $t0 = time;

$r = call(POST => '/admin/cases', { customer => 'c1', subject => $subject,
                                    category => 'complaint',
                                    priority => 'urgent', channel => 'web' });
is($r->{status}, 201, 'open a case: 201');
my $c = $r->{json};
my $id = $c->{id};
like($id, qr/^[0-9]{10}$/, 'open a case: a 10-digit id');
is($c->{status}, 'new', 'open a case: new');
is($c->{subject}, $subject, 'open a case: the subject, UTF-8 and all');
is($c->{channel}, 'web', 'open a case: its channel');
is($c->{priority}, 'urgent', 'open a case: its priority');
is($c->{events}[0]{kind}, 'created', 'open a case: the created event');
is($c->{events}[0]{author}, 'agent-7', 'open a case: the actor is the author');

sub epoch {
    my ($s) = @_;
    my ($y, $mo, $d, $h, $mi, $se) =
        $s =~ /^(\d+)-(\d+)-(\d+)T(\d+):(\d+):(\d+)Z$/ or return -1;
    require Time::Local;
    return Time::Local::timegm($se, $mi, $h, $d, $mo - 1, $y);
}

my $fr = epoch($c->{first_response_due}) - epoch($c->{created_at});
my $res = epoch($c->{resolution_due}) - epoch($c->{created_at});
is($fr, 1800, 'due times: the rule of urgent complaints, first response');
is($res, 8 * 3600, 'due times: ... resolution');

my $log = $t->log_since_mark;
like($log, qr/\[notice\].*omni admin: open case $id \(complaint, urgent\) for c1 by "agent-7"/,
     'open a case: audited') or diag($log);
unlike($log, qr/MARKER-SUBJ/, 'open a case: the subject is in no log line');

$r = call(POST => '/admin/cases', { customer => 'c2', subject => 'Bill',
                                    category => 'billing' });
is($r->{status}, 201, 'another case');
my $other = $r->{json}{id};
is(epoch($r->{json}{first_response_due}) - epoch($r->{json}{created_at}),
   4 * 3600, 'due times: the default');
is($r->{json}{priority}, 'normal', 'priority: normal by default');
is($r->{json}{channel}, 'admin', 'channel: admin by default');

# --- refusals of a create

fails(call(POST => '/admin/cases', { customer => 'nobody', subject => 'x',
                                     category => 'complaint' }),
      404, 'not_found', 'a case of an unknown customer');
fails(call(POST => '/admin/cases', { customer => 'c1', subject => "a\x{1}b",
                                     category => 'complaint' }),
      400, 'invalid_argument', 'a subject with a control character');
fails(call(POST => '/admin/cases', '{"customer":"c1","subject":"a\u0000b",'
                                   . '"category":"complaint"}'),
      400, 'bad_json', 'a subject with a NUL');
fails(call(POST => '/admin/cases', { customer => 'c1', subject => 'x' x 201,
                                     category => 'complaint' }),
      400, 'invalid_argument', 'a subject too long');
fails(call(POST => '/admin/cases', { customer => 'c1', subject => 'x',
                                     category => 'complaint',
                                     priority => 'asap' }),
      400, 'invalid_argument', 'an unknown priority');
fails(call(POST => '/admin/cases', { customer => 'c1', subject => 'x',
                                     category => 'a b' }),
      400, 'invalid_argument', 'a category with a space');
fails(call(POST => '/admin/cases', { customer => 'c1', subject => 'x',
                                     category => 'c', extra => 1 }),
      400, 'invalid_argument', 'an unknown key');
fails(call(POST => '/admin/cases', { customer => 'c1', category => 'c' }),
      400, 'invalid_argument', 'no subject');
fails(call(POST => '/admin/cases', '{"customer":"c1",'),
      400, 'bad_json', 'not JSON');
fails(call(GET => '/admin/cases', undef, token => $agent),
      403, 'permission_denied', 'a token without the admin role');

# --- ids: a mistyped one is refused, never another case

my $typo = $id;
substr($typo, 3, 1) = (substr($id, 3, 1) + 1) % 10;
fails(call(GET => "/admin/cases/$typo"), 400, 'invalid_argument',
      'a mistyped case id');
fails(call(GET => '/admin/cases/12345'), 400, 'invalid_argument',
      'a short case id');
fails(call(GET => '/admin/cases/123456789' . 'x'), 400, 'invalid_argument',
      'a case id with a letter');
my $unknown = '000000000';
{
    my ($sum, $dbl) = (0, 1);
    for my $d (reverse split //, $unknown) {
        my $v = $d * ($dbl ? 2 : 1);
        $v -= 9 if $v > 9;
        $sum += $v;
        $dbl = !$dbl;
    }
    $unknown .= (10 - $sum % 10) % 10;
}
fails(call(GET => "/admin/cases/$unknown"), 404, 'not_found',
      'a well-formed id nobody has');

# --- lifecycle

$r = call(POST => "/admin/cases/$id/status", { status => 'open' });
is($r->{status}, 200, 'new to open');
is($r->{json}{status}, 'open', 'new to open: open');

fails(call(POST => "/admin/cases/$id/status", { status => 'closed' }),
      409, 'conflict', 'open to closed');
fails(call(POST => "/admin/cases/$id/status", { status => 'new' }),
      409, 'conflict', 'open to new');
fails(call(POST => "/admin/cases/$id/status", { status => 'open' }),
      409, 'conflict', 'open to open');
fails(call(POST => "/admin/cases/$id/status", { status => 'done' }),
      400, 'invalid_argument', 'an unknown status');
fails(call(POST => "/admin/cases/$id/status", {}),
      400, 'invalid_argument', 'no status');

$r = call(POST => "/admin/cases/$id/notes",
          { text => "Checked with the courier: MARKER-NOTE-5151", kind => 'internal' });
is($r->{status}, 200, 'an internal note');
is($r->{json}{first_response_at}, undef, 'an internal note: no first response');

$r = call(POST => "/admin/cases/$id/notes",
          { text => "We are on it.\nBack within a day." });
is($r->{status}, 200, 'a public note');
ok(defined $r->{json}{first_response_at}, 'a public note: the first response');
is($r->{json}{events}[-1]{kind}, 'note', 'a public note: its event');
is($r->{json}{events}[-1]{text}, "We are on it.\nBack within a day.",
   'a public note: its text');

fails(call(POST => "/admin/cases/$id/notes", { text => '' }),
      400, 'invalid_argument', 'an empty note');
fails(call(POST => "/admin/cases/$id/notes", { text => "a\rb" }),
      400, 'invalid_argument', 'a note with a carriage return');
fails(call(POST => "/admin/cases/$id/notes", { text => 'x', kind => 'shout' }),
      400, 'invalid_argument', 'an unknown kind of note');

$r = call(POST => "/admin/cases/$id/assign", { assignee => 'agent-9',
                                                pool => 'returns' });
is($r->{status}, 200, 'assign');
is($r->{json}{assignee}, 'agent-9', 'assign: the assignee');
is($r->{json}{pool}, 'returns', 'assign: the pool');
fails(call(POST => "/admin/cases/$id/assign", {}),
      400, 'invalid_argument', 'assign nothing');
fails(call(POST => "/admin/cases/$id/assign", { assignee => 'two words' }),
      400, 'invalid_argument', 'assign to a name with a space');

# --- lists

$r = call(GET => '/admin/cases?status=open');
is_deeply([ map { $_->{id} } @{ $r->{json}{cases} } ], [ $id ],
          'by status: open');
$r = call(GET => '/admin/cases?status=new');
is_deeply([ map { $_->{id} } @{ $r->{json}{cases} } ], [ $other ],
          'by status: new');
fails(call(GET => '/admin/cases'), 400, 'invalid_argument',
      'by status: a status is needed');
fails(call(GET => '/admin/cases?status=open&after=123'), 400,
      'invalid_argument', 'by status: a cursor that is no case id');

$r = call(POST => '/admin/cases', { customer => 'c1', subject => 'Second',
                                    category => 'question' });
my $second = $r->{json}{id};
call(POST => "/admin/cases/$second/status", { status => 'resolved' });

$r = call(GET => '/admin/customers/c1/cases');
is_deeply([ map { $_->{id} } @{ $r->{json}{cases} } ], [ $id, $second ],
          'by customer: open ones first');
is($r->{json}{next}, undef, 'by customer: the last page');
$r = call(GET => '/admin/customers/c1/cases?limit=1');
is_deeply([ map { $_->{id} } @{ $r->{json}{cases} } ], [ $id ],
          'by customer: a page');
is($r->{json}{next}, $id, 'by customer: the next cursor');
$r = call(GET => "/admin/customers/c1/cases?after=$id");
is_deeply([ map { $_->{id} } @{ $r->{json}{cases} } ], [ $second ],
          'by customer: the next page');
$r = call(GET => '/admin/customers/c1/cases?status=open');
is_deeply([ map { $_->{id} } @{ $r->{json}{cases} } ], [ $id ],
          'by customer: open only');
fails(call(GET => "/admin/customers/c1/cases?after=$other"), 404, 'not_found',
      "by customer: a cursor of another customer's case");

# --- closed: immutable; a reply opens a follow-up

call(POST => "/admin/cases/$id/status", { status => 'resolved' });
$r = call(POST => "/admin/cases/$id/status", { status => 'closed' });
is($r->{json}{status}, 'closed', 'resolved to closed');
ok(defined $r->{json}{closed_at}, 'closed: closed_at');

fails(call(POST => "/admin/cases/$id/notes", { text => 'late' }),
      409, 'conflict', 'a note to a closed case');
fails(call(POST => "/admin/cases/$id/assign", { assignee => 'x' }),
      409, 'conflict', 'an assignment of a closed case');
fails(call(POST => "/admin/cases/$id/status", { status => 'open' }),
      409, 'conflict', 'a closed case opened again');

$r = call(POST => "/admin/cases/$id/notes", { text => 'Still nothing!',
                                              kind => 'reply' });
is($r->{status}, 201, 'a reply to a closed case: 201');
my $fu = $r->{json};
isnt($fu->{id}, $id, 'a reply to a closed case: another case');
is($fu->{follow_up_of}, $id, 'the follow-up names the closed case');
is($fu->{subject}, $subject, 'the follow-up: the same subject');
is($fu->{events}[1]{text}, 'Still nothing!', 'the follow-up: the reply');
is(epoch($fu->{first_response_due}) - epoch($fu->{created_at}), 1800,
   'the follow-up: due times as of now');

$r = call(GET => "/admin/cases/$id");
is($r->{json}{status}, 'closed', 'the closed case is still closed');

# --- the journey

$r = call(GET => '/admin/customers/c1/journey?limit=50');
my @actions = map { $_->{action} } @{ $r->{json}{events} };
ok((grep { $_ eq "case.created:$id" } @actions), 'journey: the case opened');
ok((grep { $_ eq "case.status:$id" } @actions), 'journey: its status changes');
ok((grep { $_ eq "case.created:$fu->{id}" } @actions),
   'journey: the follow-up');

# --- omnictl cases: the same operations on the store, nginx running

sub ctl { Omni::Gateway::omnictl($store, @_) }

my ($rc, $o) = ctl('cases', 'open', 'c2', 'complaint', 'Phone line MARKER-SUBJ-8',
                   '--priority', 'urgent', '--channel', 'ivr', '--sla', $sla);
is($rc, 0, 'omnictl cases open: exit 0');
my $oc = eval { $json->decode($o) } || {};
like($oc->{id} || '', qr/^[0-9]{10}$/, 'omnictl cases open: the case');
is($oc->{channel}, 'ivr', 'omnictl cases open: its channel');
is(epoch($oc->{first_response_due}) - epoch($oc->{created_at}), 1800,
   'omnictl cases open: due times from --sla');

($rc, $o) = ctl('cases', 'status', $oc->{id}, 'pending');
is($rc, 0, 'omnictl cases status: exit 0');
($rc, $o) = ctl('cases', 'status', $oc->{id}, 'new');
is($rc, 1, 'omnictl cases status: a refused move fails');
($rc, $o) = ctl('cases', 'note', $oc->{id}, 'Call back at 5', '--kind',
                'internal');
is($rc, 0, 'omnictl cases note: exit 0');
($rc, $o) = ctl('cases', 'assign', $oc->{id}, 'agent-3', '--pool', 'voice');
is($rc, 0, 'omnictl cases assign: exit 0');
($rc, $o) = ctl('cases', 'show', $oc->{id});
my $shown = eval { $json->decode($o) } || {};
is_deeply([ map { $_->{kind} } @{ $shown->{events} || [] } ],
          [ qw(created status internal assign) ],
          'omnictl cases show: every event');
like($shown->{events}[0]{author} || '', qr/^omnictl:/,
     'omnictl cases: the author is omnictl and the user');

$r = call(GET => "/admin/cases/$oc->{id}");
is($r->{json}{status}, 'pending', 'the admin API sees what omnictl did');

($rc, $o) = ctl('cases', 'list', 'c2', '--status', 'open');
is_deeply([ sort map { $_->{id} } @{ (eval { $json->decode($o) } || {})->{cases} || [] } ],
          [ sort $other, $oc->{id} ],
          'omnictl cases list: open ones (opened in the same second: any order)');
($rc, $o) = ctl('cases', 'by-status', 'pending');
is_deeply([ map { $_->{id} } @{ (eval { $json->decode($o) } || {})->{cases} || [] } ],
          [ $oc->{id} ], 'omnictl cases by-status');
($rc, $o) = ctl('cases', 'open', 'c2', 'x', 'y', '--sla', $t->prefix . '/bad-sla.json');
is($rc, 1, 'omnictl cases open: a bad SLA table fails');
($rc, $o) = ctl('cases', 'show', $typo);
is($rc, 1, 'omnictl cases show: a mistyped id fails');

# --- erasure takes the cases

$r = call(DELETE => '/admin/customers/c1?erase=true');
is($r->{status}, 200, 'erase c1');
fails(call(GET => "/admin/cases/$id"), 404, 'not_found',
      'erased: the case is gone');
$r = call(GET => '/admin/customers/c1/cases');
is_deeply($r->{json}{cases}, [], 'erased: no case of c1');
$r = call(GET => "/admin/cases/$other");
is($r->{status}, 200, "erased: another customer's case is left");

$log = $t->log_since_mark;
unlike($log, qr/MARKER-(SUBJ|NOTE)/, 'no subject or note in any log line');

$t->stop;

done_testing;
